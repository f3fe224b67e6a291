//! Background pruning: a launcher, and a pruner for each run. Only the loops
//! and the processes' identity live here; each batch is the same code as
//! `auth.prune_expired_sessions` (prune.rs), committed one at a time.
//!
//! The launcher (`auth_sessions launcher`, registered when `auth_sessions` is
//! in `shared_preload_libraries`) is connected to no database. Every
//! `auth_sessions.prune_interval` it wakes up and, on a primary, when the
//! database `auth_sessions.prune_database` (and the role
//! `auth_sessions.prune_role`, when set) exist, starts a pruner and waits for
//! it to finish. When one of them does not exist it says so once and waits
//! for it, or for the setting to change. It sleeps through recovery (a hot
//! standby) and re-reads its settings on reload.
//!
//! The pruner (`auth_sessions pruner`, a dynamic worker) connects to the
//! database, checks that the extension is installed there, and prunes as
//! `auth_sessions.prune_role` or else the owner of `auth.sessions` (never
//! simply as the superuser it connects as: as VACUUM does, with
//! `SECURITY_RESTRICTED_OPERATION`), with `search_path`, `lock_timeout` and
//! the isolation level pinned over anything the database or role configured.
//! It runs batches until one finds nothing or `auth_sessions.prune_time_budget`
//! is spent, yielding to the application between them (pacing.rs), logs and
//! records what it removed in `auth.prune_state`, and exits.
//!
//! Good citizenship: nothing stays connected to the database between runs,
//! and during a run the pruner checks, between batches and while it pauses,
//! whether a command wants the database to itself (DROP DATABASE, ALTER
//! DATABASE ... RENAME or SET TABLESPACE, CREATE DATABASE ... TEMPLATE); then
//! it stops at once, as autovacuum gives way. Both processes use PostgreSQL's
//! own SIGTERM handler, so `pg_terminate_backend` (or shutdown) ends them in
//! any wait, a lock wait included. The postmaster restarts a terminated
//! launcher after 10 seconds.

use crate::attach;
use crate::prune;
use crate::security;
use crate::settings::{self, Pruning};
use pgrx::bgworkers::{BackgroundWorkerBuilder, BgWorkerStartTime};
use pgrx::pg_sys;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use pgrx::{pg_shmem_init, PgAtomic};
use std::ffi::{c_int, CStr, CString};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const LAUNCHER: &str = "auth_sessions launcher";
const PRUNER: &str = "auth_sessions pruner";

/// The last problem the launcher or a pruner reported (0: none), so that each
/// is logged once rather than on every run.
static LAST_PROBLEM: PgAtomic<AtomicU32> = unsafe { PgAtomic::new(c"auth_sessions_last_problem") };

#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
enum Problem {
    None = 0,
    NoDatabase = 1,
    NoRole = 2,
    NotInstalled = 3,
    NoWorkerSlot = 4,
    Waiting = 5,
}

/// Logs `message` unless `problem` was the last one reported.
fn report(problem: Problem, message: impl FnOnce() -> String) {
    if LAST_PROBLEM.get().swap(problem as u32, Ordering::Relaxed) != problem as u32 && problem != Problem::None {
        log!("{}", message());
    }
}

/// Registers the launcher and the shared memory it reports through; called
/// from `_PG_init` during shared_preload_libraries.
pub fn register() {
    pg_shmem_init!(LAST_PROBLEM);
    BackgroundWorkerBuilder::new(LAUNCHER)
        .set_type(LAUNCHER)
        .set_function("auth_sessions_launcher_main")
        .set_library("auth_sessions")
        .enable_spi_access()
        // Starts on a standby too, where it sleeps until promotion.
        .set_start_time(BgWorkerStartTime::ConsistentState)
        .set_restart_time(Some(Duration::from_secs(10)))
        .load();
}

// PostgreSQL's own signal handlers, by their C symbols: pgrx's bindings wrap
// functions in Rust code that must not run inside a signal handler.
unsafe extern "C-unwind" {
    fn die(signal: c_int);
    fn SignalHandlerForConfigReload(signal: c_int);
}

/// PostgreSQL's own handlers: SIGTERM sets the interrupt that ends the
/// process at the next CHECK_FOR_INTERRUPTS (lock waits included), SIGHUP
/// asks for a reload.
fn attach_signal_handlers() {
    // SAFETY: installs PostgreSQL's handlers before signals are unblocked,
    // as its own background workers do.
    unsafe {
        #[cfg(not(feature = "pg18"))]
        {
            pg_sys::pqsignal(pg_sys::SIGTERM as c_int, Some(die));
            pg_sys::pqsignal(pg_sys::SIGHUP as c_int, Some(SignalHandlerForConfigReload));
        }
        #[cfg(feature = "pg18")]
        {
            pg_sys::pqsignal_be(pg_sys::SIGTERM as c_int, Some(die));
            pg_sys::pqsignal_be(pg_sys::SIGHUP as c_int, Some(SignalHandlerForConfigReload));
        }
        pg_sys::BackgroundWorkerUnblockSignals();
    }
}

/// Sleeps up to `timeout`, waking on the latch; a termination ends the
/// process here, a reload request is applied.
fn sleep(timeout: Duration) {
    // SAFETY: MyLatch is this process's own latch.
    unsafe {
        pg_sys::WaitLatch(
            pg_sys::MyLatch,
            (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as c_int,
            timeout.as_millis().min(i32::MAX as u128) as std::ffi::c_long,
            pg_sys::PG_WAIT_EXTENSION,
        );
        pg_sys::ResetLatch(pg_sys::MyLatch);
    }
    pgrx::check_for_interrupts!();
    // SAFETY: the flag is set by the SIGHUP handler; the documented way for
    // a background process to apply a reload.
    unsafe {
        if pg_sys::ConfigReloadPending != 0 {
            pg_sys::ConfigReloadPending = 0;
            pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP);
        }
    }
}

/// Runs `f` in its own transaction (as `role`, in a security-restricted
/// operation, when given); a PostgreSQL error aborts it and comes back as
/// the error's message.
fn in_transaction<R>(
    role: Option<pg_sys::Oid>,
    f: impl FnOnce() -> R + std::panic::UnwindSafe + std::panic::RefUnwindSafe,
) -> Result<R, String> {
    // SAFETY: the worker is connected and outside any transaction here.
    unsafe {
        pg_sys::SetCurrentStatementStartTimestamp();
        pg_sys::StartTransactionCommand();
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
    }
    PgTryBuilder::new(|| {
        let r = match role {
            Some(role) => security::as_role(role, f),
            None => f(),
        };
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
        // releases the failed transaction's resources (and puts back the
        // user the transaction started with).
        unsafe { pg_sys::AbortCurrentTransaction() };
        Err(message)
    })
    .execute()
}

// ---------------------------------------------------------------- launcher

/// The OID of database `name` (InvalidOid when there is none). Unlike
/// `get_database_oid`, it reads pg_database without its index until the
/// shared catalogs' relcache entries are built: a process connected to no
/// database cannot build an index's entry (that needs pg_class), and right
/// after a server start nothing may have built them yet.
fn database_oid(name: &CStr) -> pg_sys::Oid {
    // SAFETY: pg_database is a shared catalog, opened and closed here; the
    // key compares datname with a NUL-terminated string, as
    // get_database_oid's does; a found tuple is a pg_database row.
    unsafe {
        let rel = pg_sys::table_open(pg_sys::DatabaseRelationId, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let mut key: pg_sys::ScanKeyData = std::mem::zeroed();
        pg_sys::ScanKeyInit(
            &mut key,
            pg_sys::Anum_pg_database_datname as pg_sys::AttrNumber,
            pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
            pg_sys::Oid::from(pg_sys::F_NAMEEQ),
            pg_sys::Datum::from(name.as_ptr()),
        );
        let scan = pg_sys::systable_beginscan(
            rel,
            pg_sys::Oid::from(pg_sys::DatabaseNameIndexId),
            pg_sys::criticalSharedRelcachesBuilt,
            std::ptr::null_mut(),
            1,
            &mut key,
        );
        let tuple = pg_sys::systable_getnext(scan);
        let oid = if tuple.is_null() {
            pg_sys::InvalidOid
        } else {
            (*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_database>(tuple)).oid
        };
        pg_sys::systable_endscan(scan);
        pg_sys::table_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        oid
    }
}

/// The database to prune, when it (and the configured role) exist.
fn target(p: &Pruning) -> Result<pg_sys::Oid, (Problem, String)> {
    let database = settings::prune_database();
    let role = p.role.clone();
    in_transaction(None, move || {
        let oid = database_oid(&CString::new(database.clone()).unwrap_or_default());
        if oid == pg_sys::InvalidOid {
            return Err((
                Problem::NoDatabase,
                format!(
                    "{LAUNCHER}: database \"{database}\" does not exist; waiting for it, or for auth_sessions.prune_database to change"
                ),
            ));
        }
        if let Some(role) = role {
            let name = CString::new(role.clone()).unwrap_or_default();
            // SAFETY: a syscache lookup in a shared catalog (which reads
            // pg_authid without its index until that can be used).
            if unsafe { pg_sys::get_role_oid(name.as_ptr(), true) } == pg_sys::InvalidOid {
                return Err((
                    Problem::NoRole,
                    format!("{LAUNCHER}: role \"{role}\" (auth_sessions.prune_role) does not exist; not pruning until it does"),
                ));
            }
        }
        Ok(oid)
    })
    .unwrap_or_else(|message| Err((Problem::None, format!("{LAUNCHER}: {message}"))))
}

/// Starts a pruner for `database` and waits until it has finished.
fn prune_once(database: pg_sys::Oid) {
    let started = BackgroundWorkerBuilder::new(PRUNER)
        .set_type(PRUNER)
        .set_function("auth_sessions_pruner_main")
        .set_library("auth_sessions")
        .set_argument(Some(pg_sys::Datum::from(database)))
        .enable_spi_access()
        .set_start_time(BgWorkerStartTime::RecoveryFinished)
        .set_restart_time(None)
        // SAFETY: reads this process's PID.
        .set_notify_pid(unsafe { pg_sys::MyProcPid })
        .load_dynamic();
    match started {
        // Interruptible: a termination of the launcher ends it here; the
        // pruner then finishes its run on its own.
        Ok(pruner) => {
            let _ = pruner.wait_for_shutdown();
        }
        Err(_) => report(Problem::NoWorkerSlot, || {
            format!("{LAUNCHER}: could not start a pruner (no free background worker slot; see max_worker_processes)")
        }),
    }
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn auth_sessions_launcher_main(_arg: pg_sys::Datum) {
    attach_signal_handlers();
    // SAFETY: connects to no database (shared catalogs only), once, as
    // PostgreSQL's logical replication launcher does; the name is static.
    unsafe {
        pg_sys::BackgroundWorkerInitializeConnection(std::ptr::null(), std::ptr::null(), 0);
        pg_sys::pgstat_report_appname(c"auth_sessions launcher".as_ptr());
    }
    log!("{LAUNCHER} started");
    loop {
        let p = settings::pruning();
        sleep(Duration::from_secs(if p.interval > 0 { p.interval as u64 } else { 60 }));
        let p = settings::pruning();
        // SAFETY: reads shared recovery state.
        if p.interval == 0 || unsafe { pg_sys::RecoveryInProgress() } {
            continue;
        }
        match target(&p) {
            Ok(database) => prune_once(database),
            Err((Problem::None, message)) => log!("{message}"),
            Err((problem, message)) => report(problem, || message),
        }
    }
}

// ------------------------------------------------------------------ pruner

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

/// One run: batches until one finds nothing, the time budget is spent, or a
/// command wants the database.
fn run(p: &Pruning, role: pg_sys::Oid) {
    let started = Instant::now();
    let (mut sessions, mut tokens) = (0i64, 0i64);
    let mut paused = Duration::ZERO;
    let mut error = None;
    let mut gave_way = false;
    let (batch, grace, token_grace) = (p.batch_size, p.grace, p.token_grace);
    loop {
        if database_wanted() {
            gave_way = true;
            break;
        }
        let batch_started = prune::clock();
        match in_transaction(Some(role), move || prune::step(batch, grace, token_grace)) {
            Ok(step) => {
                sessions += step.sessions;
                tokens += step.tokens;
                if step.sessions == 0 && step.tokens == 0 {
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
        let pause = in_transaction(None, move || prune::pause_after(batch_started)).unwrap_or(0).max(0);
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
