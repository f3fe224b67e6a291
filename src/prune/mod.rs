//! Pruning: deleting sessions that have been invalid for longer than a grace
//! period, and revoked refresh tokens, in batches whose cost is bounded by the
//! batch size (not the table size) and that never wait on a row lock.
//!
//! One batch of sessions:
//!
//! 1. sessions past `not_after` (by more than the grace) come straight from
//!    an index on `not_after`, oldest first, locked `FOR UPDATE SKIP LOCKED`;
//! 2. when a timebox or an inactivity timeout is configured, a resumable
//!    sweep reads the sessions in physical order, a window of consecutive
//!    heap blocks at a time (a TID range scan; sweep.rs) from a cursor kept
//!    in `auth.prune_state`, examining about ten rows per row the batch may
//!    delete, and picks the sessions `validity::prunable` says may go; they
//!    are then locked `SKIP LOCKED` and checked again on the locked (latest)
//!    version, with the refresh tokens as they are now, so a refresh that
//!    committed meanwhile saves its session;
//! 3. the sessions are deleted in physical order, and their refresh tokens
//!    and amr claims go exactly as the session's own `DELETE` would take them
//!    (the foreign keys' actions, run as the tables' owner). A child someone
//!    else holds (a refresh under way) keeps its session for a later batch,
//!    so the batch never waits for it.
//!
//! Step 3 has two forms. When the foreign keys from `refresh_tokens` and
//! `mfa_amr_claims` (on `session_id`, to `sessions.id`) are `ON DELETE
//! CASCADE` and nothing else can happen on deleting a session (no other
//! trigger, no rule, no row security, READ COMMITTED; see
//! `children::cascades_done_by_hand`), the children are deleted first, by hand,
//! and the sessions' delete skips the cascades (as a replica does) instead of
//! running two empty queries per session. Otherwise the children are only
//! locked, and the sessions' ordinary `DELETE` fires everything: a trigger
//! that keeps a session (a soft delete), row security, a foreign key that
//! sets NULL or restricts, each has its usual effect, and no child is
//! removed unless its session's delete removed it.
//!
//! Only the rows of the tables themselves are touched (`ONLY`): never those
//! of an inheritance child. Every statement is planned once per backend,
//! generically, with `search_path` pinned (security.rs); deletes that would
//! fire triggers as a superuser go through the superuser guard.
//!
//! Revoked refresh tokens older than their grace are found by a second sweep,
//! over `refresh_tokens.updated_at`, with the same bounds. A concurrent
//! pruner that finds the cursor row locked skips the sweeps (and still does
//! the `not_after` part), so two pruners never wait for each other.
//!
//! Between batches, the procedure and the worker yield to the application:
//! `pacing::pause_after` says how long.
//!
//! Where each part lives:
//!
//! - `mod.rs` (here): the SQL functions, their arguments, the cursors'
//!   table, and when a run of batches stops (`Run`);
//! - `batch.rs`: one batch of sessions, its three steps as functions;
//! - `sweep.rs`: step 2, the resumable sweep (where the next window is, a
//!   pure rule, and reading it);
//! - `children.rs`: step 3's refresh tokens and amr claims, and whether the
//!   cascades may be done by hand;
//! - `direct.rs`: the heap path, steps 1 and 3 without the executor;
//! - `tokens.rs`: the revoked refresh tokens' batch;
//! - `pacing.rs`: yielding to the application (the rule, and reading
//!   `pg_stat_activity` and sleeping);
//! - `worker/`: the background launcher and pruner.

mod batch;
mod children;
mod direct;
pub mod pacing;
mod sweep;
mod tokens;
pub mod worker;

use crate::lookup;
use crate::security;
use crate::statements::run;
use crate::trusted_code::{self, Event};
// Named in the extension_sql_file! `requires` below (SQL ordering only).
#[allow(unused_imports)]
use crate::sessions::session_row_validity;
use crate::validity::Micros;
use pgrx::datum::{Interval, TimestampWithTimeZone};
use pgrx::prelude::*;

pub use batch::sessions_batch;
pub use tokens::tokens_batch;

/// How many rows a sweep may examine for each row the batch may delete.
const SWEEP_ROWS_PER_ROW: i64 = 10;

/// Both sweeps' cursors, locked; no row when another pruner holds them (its
/// sweeps are then skipped, never waited for).
const LOCK_CURSORS: &str =
    "SELECT p.session_cursor, p.token_cursor FROM ONLY auth.prune_state p FOR UPDATE SKIP LOCKED";
const RESET_CURSORS: &str = "UPDATE ONLY auth.prune_state SET session_cursor = NULL, token_cursor = NULL";

/// What one batch did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Step {
    pub sessions: i64,
    pub tokens: i64,
    /// The sessions sweep reached the end of the table in this batch (or no
    /// rule needs a sweep): together with the earlier batches since the
    /// cursor was reset, every session has been looked at.
    pub sessions_swept: bool,
    pub tokens_swept: bool,
}

/// When a run of batches stops, for the background worker; the procedure
/// `auth.prune_expired_sessions` (sql/prune.sql) states the same rule in its
/// `EXIT WHEN`: a batch deleted nothing, and each sweep has reached the end
/// of its table at least once since the run began (so every row was looked
/// at). The time budget is the caller's.
#[derive(Debug, Default, Clone, Copy)]
pub struct Run {
    sessions_swept: bool,
    tokens_swept: bool,
}

impl Run {
    /// Takes a batch into account; true when the run is done.
    pub fn done_after(&mut self, step: &Step) -> bool {
        self.sessions_swept |= step.sessions_swept;
        self.tokens_swept |= step.tokens_swept;
        step.sessions == 0 && step.tokens == 0 && self.sessions_swept && self.tokens_swept
    }
}

fn bad(code: PgSqlErrorCode, message: &'static str) -> ! {
    crate::errors::error(code, message, "auth_sessions::prune").raise()
}

/// Validated arguments: a positive batch size and a non-negative grace.
pub fn batch_size(n: Option<i32>) -> i64 {
    match n {
        None => bad(PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED, "batch_size must not be NULL"),
        Some(n) if n <= 0 => bad(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, "batch_size must be positive"),
        Some(n) => n as i64,
    }
}

pub fn grace(g: Option<Interval>) -> Micros {
    match g {
        None => bad(PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED, "grace must not be NULL"),
        Some(g) if g.as_micros() < 0 => bad(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, "grace must not be negative"),
        Some(g) => g.as_micros().min(i64::MAX as i128) as Micros,
    }
}

/// Pruning writes: refuse it on a standby with the read-only error.
fn require_primary() {
    // SAFETY: reads shared recovery state.
    if unsafe { pg_sys::RecoveryInProgress() } {
        crate::errors::error(
            PgSqlErrorCode::ERRCODE_READ_ONLY_SQL_TRANSACTION,
            "cannot prune sessions during recovery",
            "auth_sessions::prune",
        )
        .hint("Prune on the primary; a standby receives the deletions by replication.")
        .raise();
    }
}

/// `now - grace` as a timestamptz argument (−infinity when out of range).
fn cutoff(now: Micros, grace: Micros) -> TimestampWithTimeZone {
    TimestampWithTimeZone::try_from(now.saturating_sub(grace))
        .unwrap_or_else(|_| TimestampWithTimeZone::negative_infinity())
}

/// `auth.prune_state`, the extension's own table of cursors.
pub fn prune_state() -> pg_sys::Oid {
    lookup::auth_relation(c"prune_state")
}

/// `auth.sessions` (its owner is whom the background worker acts as by default).
pub fn sessions_table() -> pg_sys::Oid {
    lookup::auth_relation(c"sessions")
}

/// `auth.prune_state` is the extension's own bookkeeping: its statements run
/// as that table's owner (whoever installed the extension), whoever prunes,
/// as the foreign keys' cascades run as their tables' owners. So a pruning
/// role needs no privilege on it, and in attach mode the owner of GoTrue's
/// tables, who prunes them, can record its sweeps in a table it does not own.
pub fn on_prune_state<T>(f: impl FnOnce() -> T) -> T {
    security::as_owner(prune_state(), f)
}

/// Before the cursors are saved: the superuser guard for `auth.prune_state`,
/// for the role that writes it (its owner).
pub fn guard_prune_state() {
    let state = prune_state();
    trusted_code::refuse_untrusted_code(state, Event::Update, security::owner_of(state));
}

/// Deletes at most `batch_size` sessions that have been invalid (by the same
/// rules as `session_validity`) for longer than `grace`; returns how many.
#[pg_extern(volatile)]
fn prune_sessions(
    batch_size: default!(Option<i32>, 1000),
    grace: default!(Option<Interval>, "'0'"),
) -> i64 {
    sessions_batch(self::batch_size(batch_size), self::grace(grace)).0
}

/// Deletes at most `batch_size` revoked refresh tokens whose `updated_at` is
/// older than `grace`; returns how many.
#[pg_extern(volatile)]
fn prune_refresh_tokens(
    batch_size: default!(Option<i32>, 1000),
    grace: default!(Option<Interval>, "'24 hours'"),
) -> i64 {
    tokens_batch(self::batch_size(batch_size), self::grace(grace)).0
}

/// Starts both sweeps over, unless another pruner holds the cursors right
/// now (then false): for `auth.prune_expired_sessions`, so that going round
/// once means every row was looked at. The row stays locked to the end of
/// the transaction.
#[pg_extern(volatile)]
fn prune_restart() -> bool {
    require_primary();
    guard_prune_state();
    on_prune_state(|| {
        Spi::connect_mut(|client| {
            let cursor = run(client, LOCK_CURSORS, &[])?;
            if cursor.is_empty() {
                return Ok(false);
            }
            run(client, RESET_CURSORS, &[])?;
            Ok::<_, pgrx::spi::Error>(true)
        })
    })
    .unwrap_or_else(|e| lookup::spi_failed("restarting the sweeps", e))
}

/// One batch of each, for `auth.prune_expired_sessions` and the worker.
#[pg_extern(volatile)]
fn prune_step(
    batch_size: default!(Option<i32>, 1000),
    grace: default!(Option<Interval>, "'0'"),
    token_grace: default!(Option<Interval>, "'24 hours'"),
) -> TableIterator<
    'static,
    (
        name!(sessions_deleted, i64),
        name!(tokens_deleted, i64),
        name!(sessions_swept, bool),
        name!(tokens_swept, bool),
    ),
> {
    let step = step(self::batch_size(batch_size), self::grace(grace), self::grace(token_grace));
    TableIterator::once((step.sessions, step.tokens, step.sessions_swept, step.tokens_swept))
}

/// Called by `auth.prune_expired_sessions` after each committed batch: when
/// another session ran a query while the batch ran, pauses as
/// `auth_sessions.prune_busy_share` says (never past `deadline`); returns
/// how long it paused.
#[pg_extern(volatile)]
fn prune_pause(batch_started: TimestampWithTimeZone, deadline: TimestampWithTimeZone) -> Interval {
    let pause = pacing::pause_after(batch_started.into_inner())
        .min(deadline.into_inner().saturating_sub(pacing::clock()))
        .max(0);
    pacing::sleep(pause);
    Interval::from_micros(pause)
}

pgrx::extension_sql_file!(
    "../../sql/prune.sql",
    name = "prune",
    requires = [prune_sessions, prune_refresh_tokens, prune_step, prune_pause, prune_restart, session_row_validity]
);

pub fn step(batch: i64, grace: Micros, token_grace: Micros) -> Step {
    let (sessions, sessions_swept) = sessions_batch(batch, grace);
    let (tokens, tokens_swept) = tokens_batch(batch, token_grace);
    Step { sessions, tokens, sessions_swept, tokens_swept }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(sessions: i64, tokens: i64, sessions_swept: bool, tokens_swept: bool) -> Step {
        Step { sessions, tokens, sessions_swept, tokens_swept }
    }

    #[test]
    fn a_run_goes_on_while_batches_delete() {
        let mut run = Run::default();
        assert!(!run.done_after(&step(1000, 0, true, true)));
        assert!(!run.done_after(&step(0, 5, true, true)));
        assert!(run.done_after(&step(0, 0, false, false)));
    }

    #[test]
    fn a_run_goes_on_until_both_sweeps_went_round() {
        let mut run = Run::default();
        assert!(!run.done_after(&step(0, 0, false, false)));
        assert!(!run.done_after(&step(0, 0, true, false)));
        // The sessions sweep went round earlier in the run: that counts.
        assert!(run.done_after(&step(0, 0, false, true)));
    }
}
