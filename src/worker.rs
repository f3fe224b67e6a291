//! The background pruning worker: only the loop. Each run calls the same
//! batches as `auth.prune_expired_sessions` (prune.rs), committing after each.
//!
//! Registered when `auth_sessions` is in `shared_preload_libraries`. It
//! connects to `auth_sessions.prune_database`, shows up in pg_stat_activity as
//! backend_type `auth_sessions pruner`, sleeps `auth_sessions.prune_interval`
//! between runs (re-reading settings on reload), sleeps through recovery (a
//! hot standby), skips a database where the extension is not installed, logs
//! what each run removed and records it in `auth.prune_state`. Between
//! batches it yields to the application as `auth_sessions.prune_busy_share`
//! says (pacing.rs). An error in a run is caught, logged and recorded, and
//! the next run goes on; should the process die anyway, the postmaster
//! restarts it.

use crate::prune;
use crate::settings;
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime, SignalWakeFlags};
use pgrx::pg_sys;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use std::time::{Duration, Instant};

const NAME: &str = "auth_sessions pruner";

/// Registers the worker; called from `_PG_init` during shared_preload_libraries.
pub fn register() {
    BackgroundWorkerBuilder::new(NAME)
        .set_type(NAME)
        .set_function("auth_sessions_prune_worker_main")
        .set_library("auth_sessions")
        .enable_spi_access()
        // Starts on a standby too, where it sleeps until promotion.
        .set_start_time(BgWorkerStartTime::ConsistentState)
        .set_restart_time(Some(Duration::from_secs(10)))
        .load();
}

/// Runs `f` in its own transaction; a PostgreSQL error aborts it and comes
/// back as the error's message.
fn in_transaction<R>(f: impl FnOnce() -> R + std::panic::UnwindSafe + std::panic::RefUnwindSafe) -> Result<R, String> {
    // SAFETY: the worker is connected and outside any transaction here.
    unsafe {
        pg_sys::SetCurrentStatementStartTimestamp();
        pg_sys::StartTransactionCommand();
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
    }
    PgTryBuilder::new(|| {
        let r = f();
        // SAFETY: pairs with the Start/Push above on the success path.
        unsafe {
            pg_sys::PopActiveSnapshot();
            pg_sys::CommitTransactionCommand();
        }
        Ok(r)
    })
    .catch_others(|e| {
        let message = match &e {
            CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => r.message().to_string(),
            CaughtError::RustPanic { ereport, .. } => ereport.message().to_string(),
        };
        // SAFETY: the error state was flushed when it was caught; this
        // releases the failed transaction's resources.
        unsafe { pg_sys::AbortCurrentTransaction() };
        Err(message)
    })
    .execute()
}

fn installed() -> Result<bool, String> {
    in_transaction(|| {
        Spi::get_one::<bool>("SELECT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'auth_sessions')")
            .ok()
            .flatten()
            .unwrap_or(false)
    })
}

fn record(sessions: i64, tokens: i64, took: Duration, error: Option<&str>) {
    let recorded = in_transaction(|| {
        Spi::run_with_args(
            "UPDATE auth.prune_state SET worker_runs = worker_runs + 1, worker_last_run_at = now(), \
                 worker_last_duration = make_interval(secs => $1), worker_last_sessions = $2, worker_last_tokens = $3, \
                 worker_total_sessions = worker_total_sessions + $2, worker_total_tokens = worker_total_tokens + $3, \
                 worker_last_error = coalesce($4, worker_last_error), \
                 worker_last_error_at = CASE WHEN $4 IS NULL THEN worker_last_error_at ELSE now() END",
            &[took.as_secs_f64().into(), sessions.into(), tokens.into(), error.into()],
        )
    });
    match recorded {
        Ok(Ok(())) => {}
        Ok(Err(e)) => log!("{NAME}: could not record the run: {e}"),
        Err(message) => log!("{NAME}: could not record the run: {message}"),
    }
}

/// One run: batches until one finds nothing, the time budget is spent, or
/// the server asks the worker to stop.
fn run(p: &settings::Pruning) {
    let started = Instant::now();
    let (mut sessions, mut tokens) = (0i64, 0i64);
    let mut paused = Duration::ZERO;
    let mut error = None;
    loop {
        let batch_started = prune::clock();
        match in_transaction(|| prune::step(p.batch_size, p.grace, p.token_grace)) {
            Ok(step) => {
                sessions += step.sessions;
                tokens += step.tokens;
                if step.sessions == 0 && step.tokens == 0 {
                    break;
                }
            }
            Err(message) => {
                log!("{NAME}: pruning failed: {message}");
                error = Some(message);
                break;
            }
        }
        // Yield to the application (pacing.rs), outside any transaction.
        let pause = in_transaction(|| prune::pause_after(batch_started)).unwrap_or(0).max(0);
        let left = p.time_budget.saturating_sub(started.elapsed());
        let pause = Duration::from_micros(pause as u64).min(left);
        if !pause.is_zero() {
            let asleep = Instant::now();
            let going_on = BackgroundWorker::wait_latch(Some(pause));
            paused += asleep.elapsed();
            if !going_on {
                break;
            }
        }
        if started.elapsed() >= p.time_budget || BackgroundWorker::sigterm_received() {
            break;
        }
    }
    let took = started.elapsed();
    if sessions > 0 || tokens > 0 {
        let yielded = if paused.is_zero() {
            String::new()
        } else {
            format!(" (paused {} ms of it while other sessions were busy)", paused.as_millis())
        };
        log!("{NAME}: removed {sessions} sessions and {tokens} revoked refresh tokens in {} ms{yielded}", took.as_millis());
    }
    record(sessions, tokens, took, error.as_deref());
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn auth_sessions_prune_worker_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let database = settings::prune_database();
    BackgroundWorker::connect_worker_to_spi(Some(&database), None);
    // SAFETY: a NUL-terminated static string; PostgreSQL copies it.
    unsafe { pg_sys::pgstat_report_appname(c"auth_sessions pruner".as_ptr()) };
    log!("{NAME} started for database \"{database}\"");
    let mut warned_missing = false;
    loop {
        let p = settings::pruning();
        let sleep = if p.interval > 0 { p.interval as u64 } else { 60 };
        if !BackgroundWorker::wait_latch(Some(Duration::from_secs(sleep))) {
            break;
        }
        if BackgroundWorker::sighup_received() {
            // SAFETY: the documented way for a worker to apply a reload.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
            if settings::prune_database() != database {
                log!("{NAME}: auth_sessions.prune_database changed; restarting");
                break;
            }
        }
        let p = settings::pruning();
        // SAFETY: reads shared recovery state.
        if p.interval == 0 || unsafe { pg_sys::RecoveryInProgress() } {
            continue;
        }
        match installed() {
            Ok(true) => {
                warned_missing = false;
                run(&p);
            }
            Ok(false) => {
                if !warned_missing {
                    log!("{NAME}: extension auth_sessions is not installed in database \"{database}\"; nothing to prune");
                    warned_missing = true;
                }
            }
            Err(message) => log!("{NAME}: {message}"),
        }
    }
    log!("{NAME} stopping");
    // Exit code 1: the postmaster restarts the worker after a termination
    // (pg_terminate_backend) but not during shutdown; 0 would unregister it.
    // SAFETY: ends this background-worker process, as PostgreSQL's own do.
    unsafe { pg_sys::proc_exit(1) };
}
