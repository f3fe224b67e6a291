//! Pacing: how pruning yields to the application's queries.
//!
//! A pruning batch keeps one CPU busy while it runs. On a machine whose cores
//! the application's queries already keep busy, that alone raises their tail
//! latency (on a 2-core machine, about threefold), however short the batches.
//! So after each batch, when another session ran a query while the batch ran,
//! the pruner pauses long enough that pruning takes at most a given share of
//! the wall-clock time (`auth_sessions.prune_busy_share`); when nobody else
//! ran anything, it goes straight on at full speed.
//!
//! The decisions (`busy`, `pause`) are free of PostgreSQL and unit-tested;
//! below them, `pause_after` reads the other sessions' states (what
//! `pg_stat_activity` shows) and `sleep` pauses.

use crate::settings;
use crate::validity::Micros;
use crate::versions;
use pgrx::pg_sys;

/// The longest pause after one batch, however long the batch took: pruning
/// never stands still for long, and a procedure's snapshot is not held long.
pub const MAX_PAUSE: Micros = 5_000_000;

/// What pacing needs to know of another session (a client backend).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activity {
    /// Its state is `active` (or `fastpath function call`) right now.
    pub running: bool,
    /// When it entered its current state (`pg_stat_activity.state_change`).
    pub state_since: Micros,
}

/// Whether the application ran queries while a batch that started at
/// `batch_started` ran: some other session is running one now, or changed
/// state since (it started or finished a statement meanwhile).
pub fn busy(others: impl IntoIterator<Item = Activity>, batch_started: Micros) -> bool {
    others.into_iter().any(|a| a.running || a.state_since >= batch_started)
}

/// The pause after a batch that took `took` while the application was busy,
/// so that pruning takes at most `share` of the time: `took × (1/share − 1)`,
/// at most `MAX_PAUSE`. A share of 1 (or more) never pauses.
pub fn pause(took: Micros, share: f64) -> Micros {
    if took <= 0 || share >= 1.0 || share.is_nan() {
        return 0;
    }
    if share <= 0.0 {
        return MAX_PAUSE;
    }
    let pause = took as f64 * (1.0 / share - 1.0);
    if pause >= MAX_PAUSE as f64 { MAX_PAUSE } else { pause as Micros }
}

// -------------------------------------------------- reading and sleeping

/// The current time, on the clock of `pg_stat_activity` and `clock_timestamp()`.
pub fn clock() -> Micros {
    // SAFETY: reads the system clock; no shared state.
    unsafe { pg_sys::GetCurrentTimestamp() }
}

/// How long to pause after a batch that started at `batch_started`: nothing
/// unless another client backend ran a query meanwhile.
pub fn pause_after(batch_started: Micros) -> Micros {
    let share = settings::prune_busy_share();
    if share >= 1.0 {
        return 0;
    }
    // Saturating: a start of -infinity (or any extreme) is a long batch, not an overflow.
    let took = clock().saturating_sub(batch_started);
    if application_busy_since(batch_started) { pause(took, share) } else { 0 }
}

/// Whether another client backend is running a statement, or started or
/// ended one at or after `since`, as `pg_stat_activity` would show it (with
/// `track_activities` off, nobody ever looks busy).
fn application_busy_since(since: Micros) -> bool {
    // SAFETY: the backend-status functions copy the shared array into this
    // backend's memory (freed by the clear below, or at transaction end);
    // entries 1..=n of that copy stay valid until it is cleared again, and
    // are only read here.
    unsafe {
        // Drop the copy this transaction may already hold: it would be stale.
        versions::clear_activity_snapshot();
        let me = pg_sys::MyProcPid;
        let others = (1..=pg_sys::pgstat_fetch_stat_numbackends())
            .filter_map(|i| versions::local_backend(i).as_ref())
            .map(|local| &local.backendStatus)
            .filter(|b| b.st_procpid != me && b.st_procpid > 0 && b.st_backendType == pg_sys::BackendType::B_BACKEND)
            .map(|b| Activity {
                running: b.st_state == pg_sys::BackendState::STATE_RUNNING
                    || b.st_state == pg_sys::BackendState::STATE_FASTPATH,
                state_since: b.st_state_start_timestamp,
            });
        busy(others, since)
    }
}

/// Sleeps for `micros`, as `pg_sleep` does: a cancel, `statement_timeout` or
/// termination interrupts it with the usual error; shown in
/// `pg_stat_activity` as wait event `Extension`.
pub fn sleep(micros: Micros) {
    let end = clock().saturating_add(micros);
    loop {
        pgrx::check_for_interrupts!();
        let left = end.saturating_sub(clock());
        if left <= 0 {
            break;
        }
        let ms = left.saturating_add(999) / 1000;
        // SAFETY: MyLatch is this backend's own latch, set up at its start.
        unsafe {
            pg_sys::WaitLatch(
                pg_sys::MyLatch,
                (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as std::ffi::c_int,
                ms as std::ffi::c_long,
                pg_sys::PG_WAIT_EXTENSION,
            );
            pg_sys::ResetLatch(pg_sys::MyLatch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Micros = 1_000;

    fn idle_since(t: Micros) -> Activity {
        Activity { running: false, state_since: t }
    }

    #[test]
    fn nobody_else_is_not_busy() {
        assert!(!busy([], 100 * MS));
    }

    #[test]
    fn sessions_idle_since_before_the_batch_are_not_busy() {
        assert!(!busy([idle_since(10 * MS), idle_since(99 * MS)], 100 * MS));
    }

    #[test]
    fn a_running_query_is_busy_however_long_it_has_run() {
        let long_running = Activity { running: true, state_since: 0 };
        assert!(busy([idle_since(0), long_running], 100 * MS));
    }

    #[test]
    fn a_query_that_ended_during_the_batch_is_busy() {
        assert!(busy([idle_since(0), idle_since(100 * MS)], 100 * MS));
        assert!(busy([idle_since(130 * MS)], 100 * MS));
    }

    #[test]
    fn the_pause_keeps_pruning_to_its_share() {
        // 5%: a 30 ms batch, then 570 ms of pause; 30 / (30 + 570) = 0.05.
        assert_eq!(pause(30 * MS, 0.05), 570 * MS);
        assert_eq!(pause(10 * MS, 0.5), 10 * MS);
        assert_eq!(pause(10 * MS, 0.25), 30 * MS);
    }

    #[test]
    fn a_share_of_one_never_pauses() {
        assert_eq!(pause(30 * MS, 1.0), 0);
        assert_eq!(pause(30 * MS, 2.0), 0);
        assert_eq!(pause(30 * MS, f64::NAN), 0);
    }

    #[test]
    fn the_pause_is_bounded() {
        assert_eq!(pause(1_000 * MS, 0.05), MAX_PAUSE);
        assert_eq!(pause(Micros::MAX, 0.01), MAX_PAUSE);
        assert_eq!(pause(1, 0.0), MAX_PAUSE);
    }

    #[test]
    fn nothing_done_means_no_pause() {
        assert_eq!(pause(0, 0.05), 0);
        assert_eq!(pause(-5, 0.05), 0);
    }
}
