//! Pruning: deleting sessions that have been invalid for longer than a grace
//! period, and revoked refresh tokens, in batches whose cost is bounded by the
//! batch size (not the table size) and that never wait on a row lock.
//!
//! One batch of sessions:
//!
//! 1. sessions past `not_after` (by more than the grace) come straight from
//!    `sessions_not_after_idx`, oldest first, locked `FOR UPDATE SKIP LOCKED`;
//! 2. when a timebox or an inactivity timeout is configured, a resumable
//!    sweep walks `sessions_pkey` from a cursor kept in `auth.prune_state`,
//!    examining at most ten rows per row the batch may delete, and picks the
//!    sessions `validity::prunable` says may go; they are then locked
//!    `SKIP LOCKED` and checked again on the locked (latest) version, so a
//!    refresh that committed meanwhile saves its session;
//! 3. the sessions' refresh tokens and amr claims are deleted first, in one
//!    statement, taking only rows nobody else holds (`SKIP LOCKED`); a
//!    session with a child left (a refresh under way) stays for a later batch;
//! 4. the rest are deleted in one statement, in physical order. Their
//!    children are gone, so when the foreign-key cascades are the only
//!    triggers that would fire, the delete skips them (as a replica does)
//!    instead of running two empty queries per session.
//!
//! Every statement is planned once per backend, generically.
//!
//! Revoked refresh tokens older than their grace are found by a second sweep,
//! over `refresh_tokens_updated_at_idx`, with the same bounds. A concurrent
//! pruner that finds the cursor row locked skips the sweeps (and still does
//! the `not_after` part), so two pruners never wait for each other.
//!
//! Between batches, the procedure and the worker yield to the application:
//! `pause_after` says how long (the rules are in pacing.rs).

use crate::direct;
use crate::lookup;
use crate::pacing;
// Named in the extension_sql_file! `requires` below (SQL ordering only).
#[allow(unused_imports)]
use crate::sessions::session_row_validity;
use crate::settings;
use crate::validity::{self, Micros, Policy, SessionTimes};
use pgrx::datum::{Interval, TimestampWithTimeZone, Uuid};
use pgrx::prelude::*;
use pgrx::datum::DatumWithOid;
use pgrx::spi::{OwnedPreparedStatement, SpiClient, SpiTupleTable};
use std::cell::RefCell;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

thread_local! {
    /// Each statement is planned once per backend and kept (PostgreSQL
    /// re-plans it if the tables change): planning `= ANY($1)` with a
    /// thousand-element array every batch cost more than some of the work.
    static PREPARED: RefCell<HashMap<&'static str, OwnedPreparedStatement>> = RefCell::new(HashMap::new());
}

/// Runs `query` (one of the constants below) as a kept prepared statement,
/// its parameter types taken from `args`, with a generic plan.
fn run<'conn>(
    client: &mut SpiClient<'conn>,
    query: &'static str,
    args: &[DatumWithOid<'_>],
) -> Result<SpiTupleTable<'conn>, pgrx::spi::Error> {
    PREPARED.with(|p| {
        let mut prepared = p.borrow_mut();
        let statement = match prepared.entry(query) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let types: Vec<PgOid> = args.iter().map(|a| PgOid::from_untagged(a.oid())).collect();
                e.insert(client.prepare_mut(query, &types)?.keep())
            }
        };
        with_generic_plans(|| client.update(&*statement, None, args))
    })
}

/// How many rows a sweep may examine for each row the batch may delete.
const SWEEP_ROWS_PER_ROW: i64 = 10;

const PAST_NOT_AFTER: &str = "SELECT s.id, s.ctid FROM auth.sessions s WHERE s.not_after < $1 \
     ORDER BY s.not_after LIMIT $2 FOR UPDATE SKIP LOCKED";
const LOCK_CURSORS: &str =
    "SELECT p.session_cursor, p.token_cursor FROM auth.prune_state p FOR UPDATE SKIP LOCKED";
const SWEEP_FROM_START: &str = "SELECT s.id, s.created_at, s.not_after, s.refreshed_at \
     FROM auth.sessions s ORDER BY s.id LIMIT $1";
const SWEEP_AFTER: &str = "SELECT s.id, s.created_at, s.not_after, s.refreshed_at \
     FROM auth.sessions s WHERE s.id > $2 ORDER BY s.id LIMIT $1";
const LOCK_SESSIONS: &str = "SELECT s.id, s.created_at, s.not_after, s.refreshed_at, s.ctid \
     FROM auth.sessions s WHERE s.id = ANY($1) FOR UPDATE SKIP LOCKED";
const SAVE_SESSION_CURSOR: &str = "UPDATE auth.prune_state \
     SET session_cursor = $1, session_sweeps = session_sweeps + $2::int";
/// The children go first, in one statement: every refresh token and amr claim
/// of the batch's sessions is found through its `session_id` index, taken by
/// ctid `FOR UPDATE SKIP LOCKED` and deleted; the statement returns the
/// sessions with a child it could not take (held by another transaction, or
/// changed since it was found): they stay for a later batch.
///
/// Nothing can add a child to a session this batch holds `FOR UPDATE` (the
/// foreign-key check of an insert needs `FOR KEY SHARE` on it), so under READ
/// COMMITTED, where this statement's snapshot is newer than the sessions'
/// locks, it sees every child the sessions will ever have.
const DELETE_CHILDREN: &str = "WITH \
     tokens AS (SELECT r.ctid AS c, r.session_id FROM auth.refresh_tokens r WHERE r.session_id = ANY($1)), \
     tokens_taken AS (SELECT r.ctid AS c FROM auth.refresh_tokens r \
         WHERE r.ctid = ANY(ARRAY(SELECT t.c FROM tokens t)) FOR UPDATE SKIP LOCKED), \
     tokens_deleted AS (DELETE FROM auth.refresh_tokens r WHERE r.ctid = ANY(ARRAY(SELECT t.c FROM tokens_taken t))), \
     claims AS (SELECT m.ctid AS c, m.session_id FROM auth.mfa_amr_claims m WHERE m.session_id = ANY($1)), \
     claims_taken AS (SELECT m.ctid AS c FROM auth.mfa_amr_claims m \
         WHERE m.ctid = ANY(ARRAY(SELECT t.c FROM claims t)) FOR UPDATE SKIP LOCKED), \
     claims_deleted AS (DELETE FROM auth.mfa_amr_claims m WHERE m.ctid = ANY(ARRAY(SELECT t.c FROM claims_taken t))) \
     SELECT t.session_id FROM tokens t WHERE NOT EXISTS (SELECT FROM tokens_taken k WHERE k.c = t.c) \
     UNION SELECT t.session_id FROM claims t WHERE NOT EXISTS (SELECT FROM claims_taken k WHERE k.c = t.c)";
/// By ctid: the rows are locked by this transaction, so their ctids are
/// stable, and a TID scan visits them in physical order.
const DELETE_SESSIONS: &str = "DELETE FROM auth.sessions s WHERE s.ctid = ANY($1)";
const TOKENS_FROM_START: &str = "SELECT r.id, r.revoked, r.updated_at FROM auth.refresh_tokens r \
     WHERE r.updated_at < $1 ORDER BY r.updated_at LIMIT $2";
const TOKENS_AFTER: &str = "SELECT r.id, r.revoked, r.updated_at FROM auth.refresh_tokens r \
     WHERE r.updated_at < $1 AND r.updated_at > $3 ORDER BY r.updated_at LIMIT $2";
const DELETE_TOKENS: &str = "DELETE FROM auth.refresh_tokens r WHERE r.id IN \
     (SELECT l.id FROM auth.refresh_tokens l WHERE l.id = ANY($1) AND l.revoked AND l.updated_at < $2 \
      FOR UPDATE SKIP LOCKED)";
const SAVE_TOKEN_CURSOR: &str = "UPDATE auth.prune_state \
     SET token_cursor = $1, token_sweeps = token_sweeps + $2::int";

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

fn bad(code: PgSqlErrorCode, message: &'static str) -> ! {
    ereport!(ERROR, code, message);
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
        pgrx::pg_sys::panic::ErrorReport::new(
            PgSqlErrorCode::ERRCODE_READ_ONLY_SQL_TRANSACTION,
            "cannot prune sessions during recovery",
            "auth_sessions::prune",
        )
        .set_hint("Prune on the primary; a standby receives the deletions by replication.")
        .report(PgLogLevel::ERROR);
    }
}

/// `now - grace` as a timestamptz argument (−infinity when out of range).
fn cutoff(now: Micros, grace: Micros) -> TimestampWithTimeZone {
    TimestampWithTimeZone::try_from(now.saturating_sub(grace))
        .unwrap_or_else(|_| TimestampWithTimeZone::negative_infinity())
}

fn prunable(id: &[u8; 16], t: &SessionTimes, policy: &Policy, now: Micros, grace: Micros) -> bool {
    let t = lookup::complete(Some(id), t.created_at, t.not_after, t.refreshed_at, policy);
    validity::prunable(&t, policy, now, grace)
}

fn uuids(ids: &[[u8; 16]]) -> Vec<Uuid> {
    ids.iter().map(|b| Uuid::from_bytes(*b)).collect()
}

/// Whether the children deleted in step 3 are all that deleting a session
/// would cascade to, so that the delete may skip its triggers: under READ
/// COMMITTED (see `DELETE_CHILDREN`), with no rule on `auth.sessions`, no
/// row security applying to the caller on the children's tables, and
/// with no trigger that fires on its deletes other than the `ON DELETE
/// CASCADE` foreign keys of `auth.refresh_tokens` and `auth.mfa_amr_claims`.
/// Any other trigger (an audit trigger, another table's foreign key) keeps
/// the ordinary path, where every trigger fires.
fn cascades_done_by_hand() -> bool {
    // SAFETY: reads the backend's isolation level.
    if unsafe { pg_sys::XactIsoLevel } >= pg_sys::XACT_REPEATABLE_READ as i32 {
        return false;
    }
    let [sessions, tokens, claims] = lookup::session_tables();
    // Row security on a child table would hide children from step 3, which
    // the cascades (run as the table's owner) would still delete.
    if [tokens, claims].into_iter().any(direct::row_security_applies) {
        return false;
    }
    // SAFETY: the relation is opened and locked (AccessShareLock, to the end
    // of the transaction, as the DELETE that follows would) and closed here;
    // `trigdesc` is the relcache's array of `numtriggers` triggers, valid
    // while the relation is open.
    unsafe {
        let rel = pg_sys::table_open(sessions, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let mut ok = !(*(*rel).rd_rel).relhasrules;
        let desc = (*rel).trigdesc;
        if ok && !desc.is_null() {
            let triggers = std::slice::from_raw_parts((*desc).triggers, (*desc).numtriggers as usize);
            ok = triggers.iter().all(|t| {
                (t.tgtype as u32 & pg_sys::TRIGGER_TYPE_DELETE) == 0
                    || t.tgenabled == pg_sys::TRIGGER_DISABLED as std::ffi::c_char
                    || (t.tgisinternal
                        && t.tgfoid == pg_sys::Oid::from(pg_sys::F_RI_FKEY_CASCADE_DEL)
                        && (t.tgconstrrelid == tokens || t.tgconstrrelid == claims))
            });
        }
        pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
        ok
    }
}

/// Runs `f` with `plan_cache_mode = force_generic_plan`, restored when `f`
/// returns, and through the (sub)transaction's abort when it fails (what a
/// function's `SET` clause does). The batch statements take arrays of up to
/// `batch_size` values: a plan made for the values at hand would estimate
/// each of them, every batch.
fn with_generic_plans<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: the GUC nest level opened here is closed here, or by the abort
    // of the enclosing (sub)transaction on error, which restores the setting;
    // the name and value are NUL-terminated.
    unsafe {
        let level = pg_sys::NewGUCNestLevel();
        pg_sys::set_config_option(
            c"plan_cache_mode".as_ptr(),
            c"force_generic_plan".as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            0,
            false,
        );
        let result = f();
        pg_sys::AtEOXact_GUC(true, level);
        result
    }
}

/// Runs `f` as a replica would (`session_replication_role = replica`), so
/// that the ordinary (origin) triggers, the foreign-key cascades among them,
/// do not fire. Only for a statement on `auth.sessions` once
/// `cascades_done_by_hand` has said yes.
///
/// The role is switched directly rather than through the setting, whose
/// assign hook flushes the backend's whole plan cache (twice a batch): the
/// flush is there because a rule may fire only as origin or as replica, and
/// `auth.sessions` has no rules (checked), so no plan depends on the role.
fn as_replica<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(std::ffi::c_int);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: puts back the value read below, on return and on an
            // ERROR unwinding through here alike.
            unsafe { pg_sys::SessionReplicationRole = self.0 }
        }
    }
    // SAFETY: a backend-local variable, read by the trigger code of the
    // statement `f` runs; restored by `Restore` however `f` ends.
    let _restore = unsafe {
        let saved = Restore(pg_sys::SessionReplicationRole);
        pg_sys::SessionReplicationRole = pg_sys::SESSION_REPLICATION_ROLE_REPLICA as std::ffi::c_int;
        saved
    };
    f()
}

/// One batch of sessions, in the current transaction.
pub fn sessions_batch(batch: i64, grace: Micros) -> (i64, bool) {
    require_primary();
    let policy = settings::policy();
    let now = pgrx::datetime::now().into_inner();
    let sweep_needed = policy.timebox > 0 || policy.inactivity_timeout > 0;
    Spi::connect_mut(|client| {
        // 1. Past not_after, through sessions_not_after_idx.
        // (id, ctid) of each locked session to delete.
        let before = cutoff(now, grace);
        let mut doomed = match direct::lock_past_not_after(before.into_inner(), batch as usize) {
            Some(locked) => locked,
            None => {
                let mut locked: Vec<([u8; 16], pg_sys::ItemPointerData)> = Vec::new();
                for row in run(client, PAST_NOT_AFTER, &[before.into(), batch.into()])? {
                    if let (Some(id), Some(ctid)) = (row.get::<Uuid>(1)?, row.get::<pg_sys::ItemPointerData>(2)?) {
                        locked.push((*id, ctid));
                    }
                }
                locked
            }
        };
        // 2. The sweep, when a rule needs it and no other pruner holds the cursor.
        let mut swept = !sweep_needed;
        if sweep_needed && (doomed.len() as i64) < batch {
            let cursor = run(client, LOCK_CURSORS, &[])?;
            if !cursor.is_empty() {
                let cursor: Option<Uuid> = cursor.first().get(1)?;
                let scan = batch * SWEEP_ROWS_PER_ROW;
                let rows = match cursor {
                    None => run(client, SWEEP_FROM_START, &[scan.into()])?,
                    Some(c) => run(client, SWEEP_AFTER, &[scan.into(), c.into()])?,
                };
                let scanned = rows.len() as i64;
                let mut last: Option<[u8; 16]> = None;
                let mut picked: Vec<[u8; 16]> = Vec::new();
                let room = batch as usize - doomed.len();
                let already: HashSet<[u8; 16]> = doomed.iter().map(|(id, _)| *id).collect();
                for row in rows {
                    let Some((id, t)) = lookup::session_from_row(&row)? else { continue };
                    last = Some(id);
                    if !already.contains(&id) && prunable(&id, &t, &policy, now, grace) {
                        picked.push(id);
                        if picked.len() == room {
                            break;
                        }
                    }
                }
                // Stopped early with a full batch: resume after the last row
                // taken. Fewer rows than asked: the end of the table; wrap.
                let wrapped = picked.len() < room && scanned < scan;
                swept = wrapped;
                let next: Option<Uuid> = if wrapped { None } else { last.map(Uuid::from_bytes) };
                run(client, SAVE_SESSION_CURSOR, &[next.into(), (wrapped as i32).into()])?;
                if !picked.is_empty() {
                    for row in run(client, LOCK_SESSIONS, &[uuids(&picked).into()])? {
                        if let (Some((id, t)), Some(ctid)) = (lookup::session_from_row(&row)?, row.get::<pg_sys::ItemPointerData>(5)?) {
                            if prunable(&id, &t, &policy, now, grace) {
                                doomed.push((id, ctid));
                            }
                        }
                    }
                }
            }
        }
        if doomed.is_empty() {
            return Ok((0, swept));
        }
        // 3. Delete their children that nobody else holds; leave the sessions
        // whose children someone else has locked (a refresh under way).
        let ids: Vec<[u8; 16]> = doomed.iter().map(|(id, _)| *id).collect();
        let blocked = match direct::delete_children(&ids) {
            Some(blocked) => blocked,
            None => {
                let mut blocked = HashSet::new();
                for row in run(client, DELETE_CHILDREN, &[uuids(&ids).into()])? {
                    if let Some(id) = row.get::<Uuid>(1)? {
                        blocked.insert(*id);
                    }
                }
                blocked
            }
        };
        let ctids: Vec<pg_sys::ItemPointerData> =
            doomed.into_iter().filter(|(id, _)| !blocked.contains(id)).map(|(_, ctid)| ctid).collect();
        if ctids.is_empty() {
            return Ok((0, swept));
        }
        // 4. Delete the sessions. Their children are gone already, so when
        // the cascades are all there is to fire, they are skipped.
        let deleted = if cascades_done_by_hand() {
            as_replica(|| run(client, DELETE_SESSIONS, &[ctids.into()]))?
        } else {
            run(client, DELETE_SESSIONS, &[ctids.into()])?
        }
        .len() as i64;
        Ok::<_, pgrx::spi::Error>((deleted, swept))
    })
    .unwrap_or_else(|e| lookup::spi_failed("pruning", e))
}

/// One batch of revoked refresh tokens older than `grace`.
pub fn tokens_batch(batch: i64, grace: Micros) -> (i64, bool) {
    require_primary();
    let now = pgrx::datetime::now().into_inner();
    let before = cutoff(now, grace);
    Spi::connect_mut(|client| {
        let cursor = run(client, LOCK_CURSORS, &[])?;
        if cursor.is_empty() {
            return Ok((0, false));
        }
        let cursor: Option<TimestampWithTimeZone> = cursor.first().get(2)?;
        let scan = batch * SWEEP_ROWS_PER_ROW;
        let rows = match cursor {
            None => run(client, TOKENS_FROM_START, &[before.into(), scan.into()])?,
            Some(c) => run(client, TOKENS_AFTER, &[before.into(), scan.into(), c.into()])?,
        };
        let scanned = rows.len() as i64;
        let mut last: Option<TimestampWithTimeZone> = None;
        let mut revoked: Vec<i64> = Vec::new();
        for row in rows {
            last = row.get::<TimestampWithTimeZone>(3)?;
            if row.get::<bool>(2)? == Some(true) {
                if let Some(id) = row.get::<i64>(1)? {
                    revoked.push(id);
                    if revoked.len() as i64 == batch {
                        break;
                    }
                }
            }
        }
        // Resume after the last updated_at examined (tokens sharing that exact
        // microsecond beyond the batch wait for the next cycle).
        let wrapped = (revoked.len() as i64) < batch && scanned < scan;
        let next = if wrapped { None } else { last };
        run(client, SAVE_TOKEN_CURSOR, &[next.into(), (wrapped as i32).into()])?;
        let deleted = if revoked.is_empty() {
            0
        } else {
            run(client, DELETE_TOKENS, &[revoked.into(), before.into()])?.len() as i64
        };
        Ok::<_, pgrx::spi::Error>((deleted, wrapped))
    })
    .unwrap_or_else(|e| lookup::spi_failed("pruning", e))
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

/// The current time, on the clock of `pg_stat_activity` and `clock_timestamp()`.
pub fn clock() -> Micros {
    // SAFETY: reads the system clock; no shared state.
    unsafe { pg_sys::GetCurrentTimestamp() }
}

/// How long to pause after a batch that started at `batch_started` (see
/// pacing.rs): nothing unless another client backend ran a query meanwhile.
pub fn pause_after(batch_started: Micros) -> Micros {
    let share = settings::prune_busy_share();
    if share >= 1.0 {
        return 0;
    }
    let took = clock() - batch_started;
    if application_busy_since(batch_started) { pacing::pause(took, share) } else { 0 }
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
        clear_activity_snapshot();
        let me = pg_sys::MyProcPid;
        let others = (1..=pg_sys::pgstat_fetch_stat_numbackends())
            .filter_map(|i| local_backend(i).as_ref())
            .map(|local| &local.backendStatus)
            .filter(|b| b.st_procpid != me && b.st_procpid > 0 && b.st_backendType == pg_sys::BackendType::B_BACKEND)
            .map(|b| pacing::Activity {
                running: b.st_state == pg_sys::BackendState::STATE_RUNNING
                    || b.st_state == pg_sys::BackendState::STATE_FASTPATH,
                state_since: b.st_state_start_timestamp,
            });
        pacing::busy(others, since)
    }
}

#[cfg(any(feature = "pg13", feature = "pg14", feature = "pg15"))]
unsafe fn local_backend(i: std::ffi::c_int) -> *mut pg_sys::LocalPgBackendStatus {
    // SAFETY: 1-based index; NULL when out of range (checked by the caller).
    unsafe { pg_sys::pgstat_fetch_stat_local_beentry(i) }
}

#[cfg(not(any(feature = "pg13", feature = "pg14", feature = "pg15")))]
unsafe fn local_backend(i: std::ffi::c_int) -> *mut pg_sys::LocalPgBackendStatus {
    // SAFETY: as above (the function was renamed in PostgreSQL 16).
    unsafe { pg_sys::pgstat_get_local_beentry_by_index(i) }
}

#[cfg(feature = "pg13")]
unsafe fn clear_activity_snapshot() {
    // SAFETY: frees this backend's statistics snapshots, the activity copy among them.
    unsafe { pg_sys::pgstat_clear_snapshot() }
}

#[cfg(not(feature = "pg13"))]
unsafe fn clear_activity_snapshot() {
    // SAFETY: frees this backend's copy of the activity array, if any.
    unsafe { pg_sys::pgstat_clear_backend_activity_snapshot() }
}

/// Sleeps for `micros`, as `pg_sleep` does: a cancel, `statement_timeout` or
/// termination interrupts it with the usual error; shown in
/// `pg_stat_activity` as wait event `Extension`.
fn sleep(micros: Micros) {
    let end = clock().saturating_add(micros);
    loop {
        pgrx::check_for_interrupts!();
        let left = end - clock();
        if left <= 0 {
            break;
        }
        let ms = (left + 999) / 1000;
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

/// Called by `auth.prune_expired_sessions` after each committed batch: when
/// another session ran a query while the batch ran, pauses as
/// `auth_sessions.prune_busy_share` says (never past `deadline`); returns
/// how long it paused.
#[pg_extern(volatile)]
fn prune_pause(batch_started: TimestampWithTimeZone, deadline: TimestampWithTimeZone) -> Interval {
    let pause = pause_after(batch_started.into_inner()).min(deadline.into_inner().saturating_sub(clock())).max(0);
    sleep(pause);
    Interval::from_micros(pause)
}

pgrx::extension_sql_file!(
    "../sql/prune.sql",
    name = "prune",
    requires = [prune_sessions, prune_refresh_tokens, prune_step, prune_pause, session_row_validity]
);

pub fn step(batch: i64, grace: Micros, token_grace: Micros) -> Step {
    let (sessions, sessions_swept) = sessions_batch(batch, grace);
    let (tokens, tokens_swept) = tokens_batch(batch, token_grace);
    Step { sessions, tokens, sessions_swept, tokens_swept }
}
