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
//!    heap blocks at a time (a TID range scan, sweep.rs) from a cursor kept
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
//! [`cascades_done_by_hand`]), the children are deleted first, by hand,
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
//! `pause_after` says how long (the rules are in pacing.rs).

use crate::direct;
use crate::statements::run;
use crate::lookup::{self, Catalog, Seen};
use crate::pacing;
use crate::security;
use crate::trusted_code::{self, Event};
// Named in the extension_sql_file! `requires` below (SQL ordering only).
#[allow(unused_imports)]
use crate::sessions::session_row_validity;
use crate::settings;
use crate::sweep;
use crate::validity::{self, Micros, Policy, SessionTimes};
use pgrx::datum::{Interval, TimestampWithTimeZone, Uuid};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use std::collections::HashSet;

/// How many rows a sweep may examine for each row the batch may delete.
const SWEEP_ROWS_PER_ROW: i64 = 10;

const PAST_NOT_AFTER: &str = "SELECT s.id, s.ctid FROM ONLY auth.sessions s WHERE s.not_after OPERATOR(pg_catalog.<) $1 \
     ORDER BY s.not_after LIMIT $2 FOR UPDATE SKIP LOCKED";
const LOCK_CURSORS: &str =
    "SELECT p.session_cursor, p.token_cursor FROM ONLY auth.prune_state p FOR UPDATE SKIP LOCKED";
/// The sessions stored in a range of heap blocks, read in physical order by
/// a TID range scan: sequential reads, whatever the table's size.
const SWEEP_BLOCKS: &str = "SELECT s.id, s.created_at, s.not_after, s.refreshed_at, s.ctid \
     FROM ONLY auth.sessions s WHERE s.ctid OPERATOR(pg_catalog.>=) $1 AND s.ctid OPERATOR(pg_catalog.<) $2";
/// The sweep's picks, by the ctid the sweep read them at (a TID scan: no
/// index, whatever the table's size). A session updated since (a refresh)
/// has moved: its new version fails the ctid recheck and it is skipped.
const LOCK_SESSIONS: &str = "SELECT s.id, s.created_at, s.not_after, s.refreshed_at, s.ctid \
     FROM ONLY auth.sessions s WHERE s.ctid OPERATOR(pg_catalog.=) ANY($1) FOR UPDATE SKIP LOCKED";
const SAVE_SESSION_CURSOR: &str = "UPDATE ONLY auth.prune_state \
     SET session_cursor = $1, session_sweeps = session_sweeps OPERATOR(pg_catalog.+) $2::pg_catalog.int4";

/// The children of the batch's sessions in one table, found through its
/// `session_id` index and taken by ctid `FOR UPDATE SKIP LOCKED` (and, with
/// `$delete`, deleted); the statement returns the sessions with a child it
/// could not take (held by another transaction, or changed since it was
/// found): they stay for a later batch. Run as the table's owner, as the
/// foreign key's cascade would run.
///
/// Nothing can add a child to a session this batch holds `FOR UPDATE` (the
/// foreign-key check of an insert needs `FOR KEY SHARE` on it), so under READ
/// COMMITTED, where this statement's snapshot is newer than the sessions'
/// locks, it sees every child the sessions will ever have.
macro_rules! children {
    ($table:literal) => {
        concat!(
            "WITH found AS (SELECT c.ctid AS t, c.session_id FROM ONLY ", $table, " c \
                 WHERE c.session_id OPERATOR(pg_catalog.=) ANY($1)), \
             taken AS (SELECT c.ctid AS t FROM ONLY ", $table, " c \
                 WHERE c.ctid OPERATOR(pg_catalog.=) ANY(ARRAY(SELECT f.t FROM found f)) FOR UPDATE SKIP LOCKED) \
             SELECT f.session_id FROM found f WHERE NOT EXISTS (SELECT FROM taken k WHERE k.t OPERATOR(pg_catalog.=) f.t)"
        )
    };
    ($table:literal, delete) => {
        concat!(
            "WITH found AS (SELECT c.ctid AS t, c.session_id FROM ONLY ", $table, " c \
                 WHERE c.session_id OPERATOR(pg_catalog.=) ANY($1)), \
             taken AS (SELECT c.ctid AS t FROM ONLY ", $table, " c \
                 WHERE c.ctid OPERATOR(pg_catalog.=) ANY(ARRAY(SELECT f.t FROM found f)) FOR UPDATE SKIP LOCKED), \
             deleted AS (DELETE FROM ONLY ", $table, " c WHERE c.ctid OPERATOR(pg_catalog.=) ANY(ARRAY(SELECT k.t FROM taken k))) \
             SELECT f.session_id FROM found f WHERE NOT EXISTS (SELECT FROM taken k WHERE k.t OPERATOR(pg_catalog.=) f.t)"
        )
    };
}
const LOCK_TOKENS: &str = children!("auth.refresh_tokens");
const LOCK_CLAIMS: &str = children!("auth.mfa_amr_claims");
const DELETE_TOKENS_OF: &str = children!("auth.refresh_tokens", delete);
const DELETE_CLAIMS_OF: &str = children!("auth.mfa_amr_claims", delete);
/// By ctid: the rows are locked by this transaction, so their ctids are
/// stable, and a TID scan visits them in physical order.
const DELETE_SESSIONS: &str = "DELETE FROM ONLY auth.sessions s WHERE s.ctid OPERATOR(pg_catalog.=) ANY($1)";
const TOKENS_FROM_START: &str = "SELECT r.id, r.revoked, r.updated_at FROM ONLY auth.refresh_tokens r \
     WHERE r.updated_at OPERATOR(pg_catalog.<) $1 ORDER BY r.updated_at LIMIT $2";
const TOKENS_AFTER: &str = "SELECT r.id, r.revoked, r.updated_at FROM ONLY auth.refresh_tokens r \
     WHERE r.updated_at OPERATOR(pg_catalog.<) $1 AND r.updated_at OPERATOR(pg_catalog.>) $3 \
     ORDER BY r.updated_at LIMIT $2";
const DELETE_TOKENS: &str = "DELETE FROM ONLY auth.refresh_tokens r WHERE r.id OPERATOR(pg_catalog.=) ANY(ARRAY( \
     SELECT l.id FROM ONLY auth.refresh_tokens l WHERE l.id OPERATOR(pg_catalog.=) ANY($1) AND l.revoked \
        AND l.updated_at OPERATOR(pg_catalog.<) $2 FOR UPDATE SKIP LOCKED))";
const RESET_CURSORS: &str = "UPDATE ONLY auth.prune_state SET session_cursor = NULL, token_cursor = NULL";
const SAVE_TOKEN_CURSOR: &str = "UPDATE ONLY auth.prune_state \
     SET token_cursor = $1, token_sweeps = token_sweeps OPERATOR(pg_catalog.+) $2::pg_catalog.int4";

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

fn prunable(id: &[u8; 16], t: &SessionTimes, policy: &Policy, now: Micros, grace: Micros, seen: Seen) -> bool {
    let t = lookup::complete(Some(id), t.created_at, t.not_after, t.refreshed_at, policy, seen);
    validity::prunable(&t, policy, now, grace)
}

fn tid_parts(t: pg_sys::ItemPointerData) -> (u32, u16) {
    pgrx::itemptr::item_pointer_get_both(t)
}

fn tid((block, offset): (u32, u16)) -> pg_sys::ItemPointerData {
    let mut t = pg_sys::ItemPointerData::default();
    pgrx::itemptr::item_pointer_set_all(&mut t, block, offset);
    t
}

fn uuids(ids: &[[u8; 16]]) -> Vec<Uuid> {
    ids.iter().map(|b| Uuid::from_bytes(*b)).collect()
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

/// Whether `constraint` is a foreign key of `child` from its `session_id`
/// (alone) to `sessions.id`.
fn is_session_key(cat: &Catalog, child: &lookup::Child, constraint: pg_sys::Oid) -> bool {
    // SAFETY: the relation is opened (AccessShareLock, kept to transaction
    // end) and closed here; RelationGetFKeyList returns the relcache's list
    // of ForeignKeyCacheInfo nodes, valid while the relation is open.
    unsafe {
        let rel = pg_sys::table_open(child.rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let list = pg_sys::RelationGetFKeyList(rel);
        let ok = crate::ffi::list_cells(list).iter().any(|cell| {
            let fk = &*cell.ptr_value.cast::<pg_sys::ForeignKeyCacheInfo>();
            fk.conoid == constraint
                && fk.confrelid == cat.sessions.rel
                && fk.nkeys == 1
                && fk.conkey[0] == child.session_id
                && fk.confkey[0] == cat.sessions.id
        });
        pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
        ok
    }
}

/// Whether deleting the children first, by hand, and then the sessions
/// without their triggers is exactly what the sessions' own `DELETE` would
/// do, so that the delete may skip its triggers:
///
/// - READ COMMITTED (see the children statements), and the caller may
///   delete sessions with no row security applying to it (a policy could
///   keep some sessions, whose children must then stay);
/// - no rule on `auth.sessions`, and the only triggers that fire on its
///   deletes are the cascades of the foreign keys `refresh_tokens(session_id)`
///   and `mfa_amr_claims(session_id)` to `sessions(id)`, `ON DELETE CASCADE`,
///   one each (checked by columns, not names).
///
/// Any other trigger (an audit trigger, a soft delete, another table's or
/// column's foreign key), a foreign key that sets NULL or restricts, or a
/// missing one keeps the ordinary path, where every trigger fires.
///
/// `auth.sessions` is locked here in RowExclusiveLock, as the delete that
/// follows would lock it, so that no trigger or foreign key can be added
/// between this check and the delete (both need a conflicting lock).
fn cascades_done_by_hand(cat: &Catalog) -> bool {
    // SAFETY: reads the backend's isolation level; catalog lookups for the
    // current user.
    unsafe {
        if pg_sys::XactIsoLevel >= pg_sys::XACT_REPEATABLE_READ as i32
            || pg_sys::pg_class_aclcheck(cat.sessions.rel, pg_sys::GetUserId(), pg_sys::ACL_DELETE as pg_sys::AclMode)
                != pg_sys::AclResult::ACLCHECK_OK
        {
            return false;
        }
    }
    if security::row_security_applies(cat.sessions.rel) {
        return false;
    }
    // SAFETY: the relation is opened and locked (RowExclusiveLock, to the end
    // of the transaction, as the DELETE that follows would) and closed here;
    // `trigdesc` is the relcache's array of `numtriggers` triggers, valid
    // while the relation is open.
    unsafe {
        let rel = pg_sys::table_open(cat.sessions.rel, pg_sys::RowExclusiveLock as pg_sys::LOCKMODE);
        let mut ok = !(*(*rel).rd_rel).relhasrules;
        let desc = (*rel).trigdesc;
        let mut cascades: Vec<pg_sys::Oid> = Vec::with_capacity(2);
        if ok && !desc.is_null() {
            for t in std::slice::from_raw_parts((*desc).triggers, (*desc).numtriggers as usize) {
                if (t.tgtype as u32 & pg_sys::TRIGGER_TYPE_DELETE) == 0
                    || t.tgenabled == pg_sys::TRIGGER_DISABLED as std::ffi::c_char
                {
                    continue;
                }
                let child = [cat.tokens, cat.claims].into_iter().find(|c| c.rel == t.tgconstrrelid);
                let cascade = t.tgisinternal
                    && t.tgfoid == pg_sys::Oid::from(pg_sys::F_RI_FKEY_CASCADE_DEL)
                    && child.is_some_and(|c| is_session_key(cat, &c, t.tgconstraint));
                if !cascade {
                    ok = false;
                    break;
                }
                cascades.push(t.tgconstrrelid);
            }
        }
        pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
        // Exactly one cascade from each child table.
        ok && cascades.len() == 2 && cascades.contains(&cat.tokens.rel) && cascades.contains(&cat.claims.rel)
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

/// Step 3 for the sessions `ids`: their children are taken (deleted when
/// `delete`, else only locked) as the foreign keys' cascades would take them,
/// as each table's owner; returns the sessions with a child someone else holds.
/// How a batch's children were taken (for the DEBUG1 report of a batch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChildrenTaken {
    /// Deleted by hand through their `session_id` indexes (direct.rs).
    Directly,
    /// Deleted by hand by SQL statements.
    BySql,
    /// Locked by SQL; the sessions' DELETE fires the foreign keys' actions.
    ByCascade,
}

fn take_children(
    client: &mut SpiClient<'_>,
    cat: &Catalog,
    ids: &[[u8; 16]],
    delete: bool,
) -> Result<(HashSet<[u8; 16]>, ChildrenTaken), pgrx::spi::Error> {
    if delete {
        if let Some(blocked) = direct::delete_children(cat, ids) {
            return Ok((blocked, ChildrenTaken::Directly));
        }
    }
    let mut blocked = HashSet::new();
    for (child, lock, delete_sql) in [(cat.tokens, LOCK_TOKENS, DELETE_TOKENS_OF), (cat.claims, LOCK_CLAIMS, DELETE_CLAIMS_OF)] {
        let query = if delete { delete_sql } else { lock };
        let rows = security::as_owner(child.rel, || run(client, query, &[uuids(ids).into()]))?;
        for row in rows {
            if let Some(id) = row.get::<Uuid>(1)? {
                blocked.insert(*id);
            }
        }
    }
    Ok((blocked, if delete { ChildrenTaken::BySql } else { ChildrenTaken::ByCascade }))
}

/// One batch of sessions, in the current transaction.
pub fn sessions_batch(batch: i64, grace: Micros) -> (i64, bool) {
    require_primary();
    let policy = settings::policy();
    let now = pgrx::datetime::now().into_inner();
    let sweep_needed = policy.timebox > 0 || policy.inactivity_timeout > 0;
    let cat = lookup::catalog();
    Spi::connect_mut(|client| {
        // 1. Past not_after, through an index on not_after.
        // (id, ctid) of each locked session to delete.
        let before = cutoff(now, grace);
        let direct_lock = direct::lock_past_not_after(&cat, before.into_inner(), batch as usize);
        let locked_directly = direct_lock.is_some();
        let mut doomed = match direct_lock {
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
            let cursor = on_prune_state(|| run(client, LOCK_CURSORS, &[]))?;
            if !cursor.is_empty() {
                let cursor: Option<pg_sys::ItemPointerData> = cursor.first().get(1)?;
                let from = cursor.map(tid_parts).unwrap_or((0, 0));
                let (blocks, rows_per_block) = lookup::sessions_extent(&cat);
                let window = sweep::window(batch * SWEEP_ROWS_PER_ROW, rows_per_block);
                let room = batch as usize - doomed.len();
                let already: HashSet<[u8; 16]> = doomed.iter().map(|(id, _)| *id).collect();
                let mut picked: Vec<pg_sys::ItemPointerData> = Vec::new();
                let mut stopped_at = None;
                let until = sweep::until(from, window, blocks);
                if let Some(until) = until {
                    let mut rows = Vec::new();
                    for row in run(client, SWEEP_BLOCKS, &[tid(from).into(), tid((until, 0)).into()])? {
                        if let (Some((id, t)), Some(ctid)) = (lookup::session_from_row(&row)?, row.get::<pg_sys::ItemPointerData>(5)?) {
                            rows.push((tid_parts(ctid), id, t));
                        }
                    }
                    // Physical order, whatever order the scan returned them in.
                    rows.sort_unstable_by_key(|(at, _, _)| *at);
                    for (at, id, t) in rows {
                        if !already.contains(&id) && prunable(&id, &t, &policy, now, grace, Seen::ByStatement) {
                            picked.push(tid(at));
                            if picked.len() == room {
                                stopped_at = Some(at);
                                break;
                            }
                        }
                    }
                }
                let next = sweep::next(stopped_at, until, blocks);
                // No next position: the sweep has reached the end of the table.
                swept = next.is_none();
                let next: Option<pg_sys::ItemPointerData> = next.map(tid);
                guard_prune_state();
                on_prune_state(|| run(client, SAVE_SESSION_CURSOR, &[next.into(), (swept as i32).into()]))?;
                if !picked.is_empty() {
                    let mut locked = Vec::with_capacity(picked.len());
                    for row in run(client, LOCK_SESSIONS, &[picked.into()])? {
                        if let (Some((id, t)), Some(ctid)) = (lookup::session_from_row(&row)?, row.get::<pg_sys::ItemPointerData>(5)?) {
                            locked.push((id, t, ctid));
                        }
                    }
                    // The locked rows are the latest versions; their tokens
                    // are read with one snapshot taken after the locks: a
                    // refresh committed meanwhile saves its session.
                    lookup::with_latest_snapshot(|after_locks| {
                        for (id, t, ctid) in locked {
                            if prunable(&id, &t, &policy, now, grace, Seen::In(after_locks)) {
                                doomed.push((id, ctid));
                            }
                        }
                    });
                }
            }
        }
        if doomed.is_empty() {
            return Ok((0, swept));
        }
        // 3. The children, then the sessions (see the module's comment).
        let by_hand = cascades_done_by_hand(&cat);
        trusted_code::guard_session_delete(security::current_user());
        let ids: Vec<[u8; 16]> = doomed.iter().map(|(id, _)| *id).collect();
        let (blocked, children) = take_children(client, &cat, &ids, by_hand)?;
        debug1!(
            "auth_sessions: a pruning batch: {} sessions doomed (past not_after locked {}), children taken {:?}",
            ids.len(),
            if locked_directly { "directly" } else { "by SQL" },
            children
        );
        let ctids: Vec<pg_sys::ItemPointerData> =
            doomed.into_iter().filter(|(id, _)| !blocked.contains(id)).map(|(_, ctid)| ctid).collect();
        if ctids.is_empty() {
            return Ok((0, swept));
        }
        let deleted = if by_hand {
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
        let cursor = on_prune_state(|| run(client, LOCK_CURSORS, &[]))?;
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
        guard_prune_state();
        on_prune_state(|| run(client, SAVE_TOKEN_CURSOR, &[next.into(), (wrapped as i32).into()]))?;
        let deleted = if revoked.is_empty() {
            0
        } else {
            let tokens = lookup::catalog().tokens.rel;
            trusted_code::refuse_untrusted_code(tokens, Event::Delete, security::current_user());
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
    // Saturating: a start of -infinity (or any extreme) is a long batch, not an overflow.
    let took = clock().saturating_sub(batch_started);
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
    requires = [prune_sessions, prune_refresh_tokens, prune_step, prune_pause, prune_restart, session_row_validity]
);

pub fn step(batch: i64, grace: Micros, token_grace: Micros) -> Step {
    let (sessions, sessions_swept) = sessions_batch(batch, grace);
    let (tokens, tokens_swept) = tokens_batch(batch, token_grace);
    Step { sessions, tokens, sessions_swept, tokens_swept }
}
