//! Pruning's two hottest steps done directly through the heap and its
//! indexes, as a plain SQL statement would do them, minus the executor:
//!
//! - `lock_past_not_after`: the sessions past `not_after`, oldest first,
//!   from an index on `not_after`, each locked `FOR UPDATE` unless someone
//!   else holds it (`SKIP LOCKED`);
//! - `delete_children`: the refresh tokens and amr claims of a batch's
//!   sessions, found through their `session_id` indexes and deleted in one
//!   visit each, never waiting: a child someone else holds, or that changed
//!   since it was found, stays, and its session is reported as blocked.
//!
//! Heap pages are read by TID, as a TID scan reads them, so they are not
//! pruned on the way: the rows that earlier batches deleted are left to
//! VACUUM, as one big `DELETE` leaves its rows. (Pruning them page by page,
//! once per batch that touched the page, was a fifth of a batch's time.)
//! Index entries found dead are marked so, as an index scan marks them.
//!
//! Each is only a shortcut for its SQL statement, so it is taken only when
//! nothing the statement adds applies, and returns `None`, having done
//! nothing, otherwise (the caller then runs the statement):
//!
//! - READ COMMITTED, in a read-write transaction;
//! - the tables and indexes as `lookup::catalog()` found them: plain heap
//!   tables, a btree index led by the column searched (whatever its name);
//! - locking sessions: the caller may `SELECT ... FOR UPDATE` them (SELECT
//!   and UPDATE) and no row-level security applies to it;
//! - deleting children: they are deleted as the foreign keys' cascades
//!   would delete them (with the table owner's rights, no row security), so
//!   only when nothing would fire on their deletes: no rule and no enabled
//!   trigger on the table (the prune code has checked that the cascades are
//!   exactly these deletes).
//!
//! The checks take the lock the statement would take, so that no trigger or
//! rule can be added between the check and the work. Only the tables' own
//! rows are read (an index never covers an inheritance child's). Publications
//! are checked as the executor checks them, and the WAL records carry the
//! replica identity as for any delete.

use crate::ffi::{tid_parts, triggers, Opened};
use crate::lookup::{self, Catalog, Index};
use crate::security;
use crate::validity::Micros;
use pgrx::pg_sys;
use std::collections::HashSet;

/// READ COMMITTED and read-write: where the statements replaced here take a
/// new snapshot each and may write.
fn plain_transaction() -> bool {
    // SAFETY: reads backend-local transaction state.
    unsafe { pg_sys::XactIsoLevel < pg_sys::XACT_REPEATABLE_READ as i32 && !pg_sys::XactReadOnly }
}

/// Whether the caller may lock sessions `FOR UPDATE` with nothing more than
/// the statement would check: SELECT and UPDATE, no row security. Locks
/// `auth.sessions` in RowShareLock, as the statement would.
fn may_lock_sessions(cat: &Catalog) -> bool {
    let table = cat.sessions.rel;
    // SAFETY: catalog lookups for the current user; the lock is kept to
    // transaction end, as the statement's would be.
    unsafe {
        pg_sys::LockRelationOid(table, pg_sys::RowShareLock as pg_sys::LOCKMODE);
        let user = pg_sys::GetUserId();
        [pg_sys::ACL_SELECT, pg_sys::ACL_UPDATE]
            .iter()
            .all(|p| pg_sys::pg_class_aclcheck(table, user, *p as pg_sys::AclMode) == pg_sys::AclResult::ACLCHECK_OK)
            && !security::row_security_applies(table)
    }
}

/// Whether nothing fires on deleting a row of `table`: no rule, no enabled
/// trigger on delete (internal ones included: another table's foreign key to
/// it). Locks it in RowExclusiveLock, as a DELETE would.
fn nothing_fires_on_delete(table: pg_sys::Oid) -> bool {
    let rel = Opened::table(table, pg_sys::RowExclusiveLock);
    // SAFETY: the relation is open; its relcache entry and trigger array are
    // valid while it is.
    unsafe {
        !(*(*rel.rel()).rd_rel).relhasrules
            && triggers(rel.rel()).iter().all(|t| {
                (t.tgtype as u32 & pg_sys::TRIGGER_TYPE_DELETE) == 0
                    || t.tgenabled == pg_sys::TRIGGER_DISABLED as std::ffi::c_char
            })
    }
}

/// An index scan that hands out, for each index entry, the TID of the heap
/// tuple visible to the snapshot (following HOT chains), reading the heap
/// page by TID (no pruning), and marks entries whose chain is dead to
/// everyone, as `index_fetch_heap` does.
struct Scan {
    rel: pg_sys::Relation,
    scan: pg_sys::IndexScanDesc,
    snapshot: pg_sys::Snapshot,
}

impl Scan {
    /// SAFETY: `rel` and `index` are open and locked; `snapshot` is
    /// registered and outlives the scan.
    unsafe fn begin(rel: pg_sys::Relation, index: pg_sys::Relation, snapshot: pg_sys::Snapshot) -> Scan {
        // SAFETY: as the function's contract says.
        unsafe {
            let scan = crate::versions::index_beginscan(rel, index, snapshot, 1);
            Scan { rel, scan, snapshot }
        }
    }

    /// Restarts the scan with one key on the index's first column.
    /// SAFETY: `argument` points at memory that outlives the scan's use of it
    /// (by-reference types), or is a by-value datum.
    unsafe fn rescan(&mut self, strategy: u32, procedure: u32, argument: pg_sys::Datum) {
        // SAFETY: the key is copied into the scan by index_rescan.
        unsafe {
            let mut key: pg_sys::ScanKeyData = std::mem::zeroed();
            pg_sys::ScanKeyInit(&mut key, 1, strategy as pg_sys::StrategyNumber, pg_sys::Oid::from(procedure), argument);
            pg_sys::index_rescan(self.scan, &mut key, 1, std::ptr::null_mut(), 0);
        }
    }

    /// The next visible tuple: calls `read` with it while its buffer is
    /// share-locked, and returns its TID with what `read` returned.
    fn next<T>(&mut self, direction: pg_sys::ScanDirection::Type, mut read: impl FnMut(&pg_sys::HeapTupleData) -> T) -> Option<(pg_sys::ItemPointerData, T)> {
        // SAFETY: the scan, relation and snapshot are valid (see `begin`);
        // the buffer is pinned and share-locked around the HOT-chain search
        // and `read`, which only reads the tuple; `kill_prior_tuple` is set
        // only from a chain found dead to every snapshot, on a primary.
        unsafe {
            loop {
                // A cancel or statement_timeout ends a long batch here.
                pgrx::check_for_interrupts!();
                let tid = pg_sys::index_getnext_tid(self.scan, direction);
                if tid.is_null() {
                    return None;
                }
                let mut t = *tid;
                let buffer = pg_sys::ReadBuffer(self.rel, tid_parts(t).0);
                pg_sys::LockBuffer(buffer, pg_sys::BUFFER_LOCK_SHARE as i32);
                let mut tuple: pg_sys::HeapTupleData = std::mem::zeroed();
                let mut all_dead = false;
                let recovery = (*self.scan).xactStartedInRecovery;
                let visible = pg_sys::heap_hot_search_buffer(
                    &mut t,
                    self.rel,
                    buffer,
                    self.snapshot,
                    &mut tuple,
                    if recovery { std::ptr::null_mut() } else { &mut all_dead },
                    true,
                );
                let value = visible.then(|| read(&tuple));
                pg_sys::UnlockReleaseBuffer(buffer);
                (*self.scan).kill_prior_tuple = all_dead;
                if let Some(value) = value {
                    return Some((t, value));
                }
            }
        }
    }

    fn end(self) {
        // SAFETY: ends the scan begun in `begin`.
        unsafe { pg_sys::index_endscan(self.scan) }
    }
}

/// Up to `limit` sessions whose `not_after` is before `cutoff`, oldest
/// first, each locked `FOR UPDATE` unless someone else holds it or it
/// changed since the snapshot (then it is skipped): their ids and TIDs.
/// `None` (nothing done) when the direct path does not apply.
pub fn lock_past_not_after(cat: &Catalog, cutoff: Micros, limit: usize) -> Option<Vec<([u8; 16], pg_sys::ItemPointerData)>> {
    let s = cat.sessions;
    let Index { oid: index, descending } = s.by_not_after?;
    if !plain_transaction() || !may_lock_sessions(cat) {
        return None;
    }
    let (table, column, id_column) = (s.rel, s.not_after, s.id);
    // (The limit can be anything up to i32::MAX; the rows found are fewer.)
    let mut locked = Vec::with_capacity(limit.min(4096));
    // SAFETY:
    // - the relations are opened with RowShareLock, as SELECT ... FOR UPDATE
    //   opens them, and stay open (`Opened`) until the function returns; the
    //   locks last to transaction end;
    // - the id and not_after are read from the tuple while its buffer is
    //   locked, through the relation's own descriptor, at the columns
    //   `catalog()` checked (id is uuid, 16 bytes by reference; not_after a
    //   by-value timestamptz), and the index is a btree led by not_after
    //   with the default timestamptz operator class (so its key is one);
    // - heap_lock_tuple returns with the tuple's buffer pinned, released here;
    // - an ERROR raised inside releases relations, buffers, the scan and the
    //   snapshot through the resource owner, as for any C caller.
    unsafe {
        let opened = Opened::table(table, pg_sys::RowShareLock);
        let opened_index = Opened::index(index, pg_sys::RowShareLock);
        let (rel, idx) = (opened.rel(), opened_index.rel());
        let desc = (*rel).rd_att;
        lookup::with_latest_snapshot(|snapshot| {
            let mut scan = Scan::begin(rel, idx, snapshot);
            scan.rescan(pg_sys::BTLessStrategyNumber, pg_sys::F_TIMESTAMPTZ_LT, pg_sys::Datum::from(cutoff));
            let cid = pg_sys::GetCurrentCommandId(true);
            // Oldest first: backward on a descending index.
            let direction = if descending {
                pg_sys::ScanDirection::BackwardScanDirection
            } else {
                pg_sys::ScanDirection::ForwardScanDirection
            };
            while locked.len() < limit {
                let Some((tid, row)) = scan.next(direction, |tuple| {
                    let mut null = false;
                    let id = pg_sys::heap_getattr(tuple as *const _ as *mut _, id_column as i32, desc, &mut null);
                    let id = (!null).then(|| *(id.cast_mut_ptr::<[u8; 16]>()));
                    let not_after = pg_sys::heap_getattr(tuple as *const _ as *mut _, column as i32, desc, &mut null);
                    id.filter(|_| !null && (not_after.value() as i64) < cutoff)
                }) else {
                    break;
                };
                let Some(id) = row else { continue };
                let mut tuple: pg_sys::HeapTupleData = std::mem::zeroed();
                tuple.t_self = tid;
                let mut buffer: pg_sys::Buffer = 0;
                let mut failure: pg_sys::TM_FailureData = std::mem::zeroed();
                let result = pg_sys::heap_lock_tuple(
                    rel,
                    &mut tuple,
                    cid,
                    pg_sys::LockTupleMode::LockTupleExclusive,
                    pg_sys::LockWaitPolicy::LockWaitSkip,
                    false,
                    &mut buffer,
                    &mut failure,
                );
                if buffer != 0 {
                    pg_sys::ReleaseBuffer(buffer);
                }
                if result == pg_sys::TM_Result::TM_Ok {
                    locked.push((id, tid));
                }
            }
            scan.end();
        });
    }
    // SAFETY: makes the locks visible to the next statements of the
    // transaction, as the end of a statement does.
    unsafe { pg_sys::CommandCounterIncrement() };
    Some(locked)
}

/// Deletes every child of the sessions `ids` that nobody else holds and
/// returns the sessions with a child it could not take (they must stay), or
/// returns `None` (having done nothing) when the direct path does not apply.
///
/// Must be called after the sessions are locked: the snapshot taken here is
/// newer than those locks, so (under READ COMMITTED) it sees every child the
/// sessions will ever have.
pub fn delete_children(cat: &Catalog, ids: &[[u8; 16]]) -> Option<HashSet<[u8; 16]>> {
    if !plain_transaction() {
        return None;
    }
    let mut targets = Vec::with_capacity(2);
    for child in [cat.tokens, cat.claims] {
        let index = child.by_session?;
        if !nothing_fires_on_delete(child.rel) {
            return None;
        }
        targets.push((child.rel, index.oid));
    }
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut blocked = HashSet::new();
    for (table, index) in targets {
        delete_from(table, index, &sorted, &mut blocked);
    }
    // SAFETY: makes this command's deletions visible to the next statements
    // of the transaction, as the end of a DELETE statement does.
    unsafe { pg_sys::CommandCounterIncrement() };
    Some(blocked)
}

/// Finds the children of the sessions `ids` (sorted) in `table` through
/// `index` under a new snapshot, then deletes them in physical order with
/// `heap_delete(wait = false)`.
fn delete_from(table: pg_sys::Oid, index: pg_sys::Oid, ids: &[[u8; 16]], blocked: &mut HashSet<[u8; 16]>) {
    // SAFETY:
    // - the relations are opened with RowExclusiveLock, as a DELETE opens
    //   them, and stay open (`Opened`) until the function returns; the locks
    //   last to transaction end;
    // - each key points into `ids`, which outlives the scan;
    // - the TIDs are used while the snapshot that found them visible is
    //   registered (see `lookup::with_latest_snapshot`), so each still has a normal
    //   line pointer when heap_delete reads it;
    // - an ERROR raised inside releases relations, buffers, the scan and the
    //   snapshot through the resource owner, as for any C caller.
    unsafe {
        let opened = Opened::table(table, pg_sys::RowExclusiveLock);
        let rel = opened.rel();
        pg_sys::CheckCmdReplicaIdentity(rel, pg_sys::CmdType::CMD_DELETE);
        let opened_index = Opened::index(index, pg_sys::RowExclusiveLock);
        let idx = opened_index.rel();
        lookup::with_latest_snapshot(|snapshot| {
            let mut scan = Scan::begin(rel, idx, snapshot);
            // (visible version's TID, its session)
            let mut found: Vec<(pg_sys::ItemPointerData, usize)> = Vec::with_capacity(ids.len());
            for (i, id) in ids.iter().enumerate() {
                scan.rescan(pg_sys::BTEqualStrategyNumber, pg_sys::F_UUID_EQ, pg_sys::Datum::from(id.as_ptr()));
                while let Some((t, ())) = scan.next(pg_sys::ScanDirection::ForwardScanDirection, |_| ()) {
                    found.push((t, i));
                }
            }
            scan.end();
            found.sort_unstable_by_key(|(t, _)| tid_parts(*t));
            found.dedup_by_key(|(t, _)| tid_parts(*t));
            let cid = pg_sys::GetCurrentCommandId(true);
            for (mut t, i) in found {
                pgrx::check_for_interrupts!();
                let mut failure: pg_sys::TM_FailureData = std::mem::zeroed();
                match pg_sys::heap_delete(rel, &mut t, cid, std::ptr::null_mut(), false, &mut failure, false) {
                    // Deleted now, or by a transaction that has committed
                    // since: gone.
                    pg_sys::TM_Result::TM_Ok | pg_sys::TM_Result::TM_Deleted => {}
                    // Locked, being changed, or changed since: it stays, and
                    // so does its session.
                    _ => {
                        blocked.insert(ids[i]);
                    }
                }
            }
        });
    }
}
