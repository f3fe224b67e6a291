//! The pruner: a dynamic worker connected to the database to prune, which
//! runs batches as the acting role until the run is done, and records the
//! run (see mod.rs).

use super::{attach_signal_handlers, in_transaction, report, sleep, Problem, PRUNER};
use crate::attach;
use crate::prune::{self, pacing};
use crate::security;
use crate::settings::{self, Pruning};
use pgrx::prelude::*;
use std::ffi::{CStr, CString};
use std::time::{Duration, Instant};

/// Whether a command is waiting to have this database to itself (DROP
/// DATABASE, RENAME, SET TABLESPACE hold, and CREATE DATABASE ... TEMPLATE
/// holds, a lock on the database that conflicts with the one every new
/// connection takes).
fn database_wanted() -> bool {
    in_transaction(None, || {
        let tag = pg_sys::LOCKTAG {
            locktag_field1: 0,
            locktag_field2: pg_sys::DatabaseRelationId.to_u32(),
            // SAFETY: reads this backend's database, set at connection.
            locktag_field3: unsafe { pg_sys::MyDatabaseId }.to_u32(),
            locktag_field4: 0,
            locktag_type: pg_sys::LockTagType::LOCKTAG_OBJECT as u8,
            locktag_lockmethodid: pg_sys::DEFAULT_LOCKMETHOD as u8,
        };
        let mode = pg_sys::RowExclusiveLock as pg_sys::LOCKMODE;
        // SAFETY: a conditional, transaction-scoped lock, released at once
        // when it was granted.
        unsafe {
            if pg_sys::LockAcquire(&tag, mode, false, true) == pg_sys::LockAcquireResult::LOCKACQUIRE_NOT_AVAIL {
                true
            } else {
                pg_sys::LockRelease(&tag, mode, false);
                false
            }
        }
    })
    .unwrap_or(false)
}

/// This backend's database's name (a catalog read, so in a transaction).
fn database_name() -> String {
    in_transaction(None, || {
        // SAFETY: a syscache lookup of this backend's database.
        unsafe {
            let name = pg_sys::get_database_name(pg_sys::MyDatabaseId);
            if name.is_null() { String::new() } else { CStr::from_ptr(name).to_string_lossy().into_owned() }
        }
    })
    .unwrap_or_default()
}

/// Pins, for the whole process and over anything `ALTER DATABASE` or
/// `ALTER ROLE ... SET` configured, what the pruner's statements run with.
fn pin_settings(p: &Pruning) {
    let lock_timeout = CString::new(p.lock_timeout_ms.to_string()).unwrap_or_default();
    for (name, value) in [
        (c"search_path", security::SEARCH_PATH),
        (c"lock_timeout", lock_timeout.as_c_str()),
        (c"statement_timeout", c"0"),
        (c"default_transaction_isolation", c"read committed"),
        (c"default_transaction_read_only", c"off"),
    ] {
        // SAFETY: NUL-terminated names and values; PGC_S_OVERRIDE outranks
        // every per-database and per-role value.
        unsafe {
            pg_sys::SetConfigOption(name.as_ptr(), value.as_ptr(), pg_sys::GucContext::PGC_SUSET, pg_sys::GucSource::PGC_S_OVERRIDE)
        };
    }
}

/// Whether the extension is installed here (either mode: standalone, or
/// attached to GoTrue's tables), and what GoTrue has yet to create (attach
/// mode, before its migrations: src/attach/).
enum Installed {
    No,
    Waiting(Vec<String>),
    Yes,
}

fn installed() -> Result<Installed, String> {
    in_transaction(None, || {
        let here = Spi::get_one::<bool>(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_extension
                             WHERE extname OPERATOR(pg_catalog.=) ANY (ARRAY['auth_sessions', 'auth_sessions_gotrue']::pg_catalog.name[]))",
        )
        .ok()
        .flatten()
        .unwrap_or(false);
        if !here {
            return Installed::No;
        }
        let missing = attach::missing_now();
        if missing.is_empty() { Installed::Yes } else { Installed::Waiting(missing) }
    })
}

/// The role a run acts as: `auth_sessions.prune_role`, else the owner of
/// `auth.sessions`.
fn acting_role(p: &Pruning) -> Result<pg_sys::Oid, String> {
    let role = p.role.clone();
    in_transaction(None, move || match role {
        Some(name) => {
            let c = CString::new(name.clone()).unwrap_or_default();
            // SAFETY: a catalog lookup with a NUL-terminated name.
            let oid = unsafe { pg_sys::get_role_oid(c.as_ptr(), true) };
            if oid == pg_sys::InvalidOid { Err(format!("role \"{name}\" (auth_sessions.prune_role) does not exist")) } else { Ok(oid) }
        }
        None => Ok(security::owner_of(prune::sessions_table())),
    })
    .and_then(|r| r)
}

const RECORD: &str = "UPDATE ONLY auth.prune_state SET \
     worker_runs = worker_runs OPERATOR(pg_catalog.+) 1, worker_last_run_at = pg_catalog.now(), \
     worker_last_duration = pg_catalog.make_interval(secs => $1), worker_last_sessions = $2, worker_last_tokens = $3, \
     worker_total_sessions = worker_total_sessions OPERATOR(pg_catalog.+) $2, \
     worker_total_tokens = worker_total_tokens OPERATOR(pg_catalog.+) $3, \
     worker_last_error = coalesce($4, worker_last_error), \
     worker_last_error_at = CASE WHEN $4 IS NULL THEN worker_last_error_at ELSE pg_catalog.now() END";

fn record(role: pg_sys::Oid, sessions: i64, tokens: i64, took: Duration, error: Option<&str>) {
    let error = error.map(str::to_owned);
    let recorded = in_transaction(Some(role), move || {
        // The extension's own table, written as its owner (prune::on_prune_state).
        prune::guard_prune_state();
        prune::on_prune_state(|| {
            security::pinned(&[], || {
                Spi::run_with_args(RECORD, &[took.as_secs_f64().into(), sessions.into(), tokens.into(), error.into()])
            })
        })
    });
    match recorded {
        Ok(Ok(())) => {}
        Ok(Err(e)) => log!("{PRUNER}: could not record the run: {e}"),
        Err(message) => log!("{PRUNER}: could not record the run: {message}"),
    }
}

/// Sleeps for `pause`, in short steps, giving way to a command that wants
/// the database; false when it did.
fn pause_unless_wanted(pause: Duration) -> bool {
    let start = Instant::now();
    loop {
        let left = pause.saturating_sub(start.elapsed());
        if left.is_zero() {
            return true;
        }
        sleep(left.min(Duration::from_millis(100)));
        if database_wanted() {
            return false;
        }
    }
}

/// One run: batches until the run is done (`prune::Run`, the procedure's
/// rule), the time budget is spent, or a command wants the database.
fn run(p: &Pruning, role: pg_sys::Oid) {
    let started = Instant::now();
    let (mut sessions, mut tokens) = (0i64, 0i64);
    let mut paused = Duration::ZERO;
    let mut error = None;
    let mut gave_way = false;
    let (batch, grace, token_grace) = (p.batch_size, p.grace, p.token_grace);
    let mut progress = prune::Run::default();
    loop {
        if database_wanted() {
            gave_way = true;
            break;
        }
        let batch_started = pacing::clock();
        match in_transaction(Some(role), move || prune::step(batch, grace, token_grace)) {
            Ok(step) => {
                sessions += step.sessions;
                tokens += step.tokens;
                if progress.done_after(&step) {
                    break;
                }
            }
            Err(message) => {
                log!("{PRUNER}: pruning failed: {message}");
                error = Some(message);
                break;
            }
        }
        // Yield to the application (pacing.rs), outside any transaction.
        let pause = in_transaction(None, move || pacing::pause_after(batch_started)).unwrap_or(0).max(0);
        let left = p.time_budget.saturating_sub(started.elapsed());
        let pause = Duration::from_micros(pause as u64).min(left);
        if !pause.is_zero() {
            let asleep = Instant::now();
            let going_on = pause_unless_wanted(pause);
            paused += asleep.elapsed();
            if !going_on {
                gave_way = true;
                break;
            }
        }
        if started.elapsed() >= p.time_budget {
            break;
        }
    }
    let took = started.elapsed();
    if gave_way {
        log!("{PRUNER}: stopped early: another session needs database \"{}\" to itself", database_name());
    }
    if sessions > 0 || tokens > 0 {
        let yielded = if paused.is_zero() {
            String::new()
        } else {
            format!(" (paused {} ms of it while other sessions were busy)", paused.as_millis())
        };
        log!("{PRUNER}: removed {sessions} sessions and {tokens} revoked refresh tokens in {} ms{yielded}", took.as_millis());
    }
    if !gave_way {
        record(role, sessions, tokens, took, error.as_deref());
    }
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn auth_sessions_pruner_main(arg: pg_sys::Datum) {
    attach_signal_handlers();
    let database = pg_sys::Oid::from(arg.value() as u32);
    // SAFETY: connects once, by OID, as the bootstrap superuser (the run
    // itself acts as `acting_role`); the name is static.
    unsafe {
        pg_sys::BackgroundWorkerInitializeConnectionByOid(database, pg_sys::InvalidOid, 0);
        pg_sys::pgstat_report_appname(c"auth_sessions pruner".as_ptr());
    }
    let p = settings::pruning();
    pin_settings(&p);
    match installed() {
        Ok(Installed::Yes) => match acting_role(&p) {
            Ok(role) => {
                report(Problem::None, String::new);
                run(&p, role);
            }
            Err(message) => log!("{PRUNER}: {message}"),
        },
        Ok(Installed::Waiting(missing)) => report(Problem::Waiting, || {
            format!("{PRUNER}: {} in database \"{}\"; nothing to prune yet", attach::waiting_message(&missing), database_name())
        }),
        Ok(Installed::No) => report(Problem::NotInstalled, || {
            format!("{PRUNER}: extension auth_sessions is not installed in database \"{}\"; nothing to prune", database_name())
        }),
        Err(message) => log!("{PRUNER}: {message}"),
    }
    // SAFETY: ends this background-worker process, as PostgreSQL's own do
    // (0: a dynamic worker that is done; it is never restarted).
    unsafe { pg_sys::proc_exit(0) };
}
