//! Background pruning: a launcher, and a pruner for each run. Only the loops
//! and the processes' identity live here; each batch is the same code as
//! `auth.prune_expired_sessions` (prune/), committed one at a time, and a
//! run stops by the same rule (`prune::Run`). The launcher is launcher.rs,
//! the pruner pruner.rs; this file holds what both processes share.
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
//! It runs batches until the run is done (a batch deleted nothing and both
//! sweeps went round once: `prune::Run`) or `auth_sessions.prune_time_budget`
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

mod launcher;
mod pruner;

use crate::security;
use pgrx::bgworkers::{BackgroundWorkerBuilder, BgWorkerStartTime};
use pgrx::pg_sys;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use pgrx::{pg_shmem_init, PgAtomic};
use std::ffi::c_int;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

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
        crate::versions::pqsignal(pg_sys::SIGTERM, Some(die));
        crate::versions::pqsignal(pg_sys::SIGHUP, Some(SignalHandlerForConfigReload));
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

