//! The index scan of `auth.sessions` by id that a per-row function
//! (`auth.session_is_valid(id)`, `auth.session_validity(id)`) keeps open
//! across the calls of one statement and restarts for each id, as an index
//! scan node restarts its scan for each outer row of a nested loop.
//!
//! Beginning and ending a scan (opening the table and index, allocating the
//! btree scan state, a slot, and locking the relations again) cost as much as
//! the probe itself; kept open, a call is a rescan, a descent of the index and
//! a heap fetch.
//!
//! What is kept hangs off the call's `FmgrInfo` (`fn_extra`, allocated in its
//! `fn_mcxt`), so it lives no longer than the expression that makes the calls.
//! It owns relation references, a tuple-descriptor pin and buffer pins. An
//! expression can outlive the portal that first ran it (PL/pgSQL keeps its
//! simple expressions for a DO block, or for the whole transaction), so these
//! are remembered by the resource owner of the (sub)transaction, not the
//! portal's, and the scan is ended (under that owner) or forgotten at the
//! first of:
//!
//! - the end of the expression's memory (the executor's end, for a query):
//!   ended, by a memory-context callback;
//! - the start of any utility command in this backend (the executor's way in
//!   for DDL: TRUNCATE, REINDEX, CLUSTER, ALTER TABLE, DROP EXTENSION, ...,
//!   whether a client, a DO block, a function or an extension script runs it):
//!   ended, by a `ProcessUtility` hook, so that no command ever finds
//!   `auth.sessions` held open by a kept scan; a later call begins anew;
//! - a call made in another (sub)transaction (a PL/pgSQL expression kept
//!   across an exception block, say): ended, and begun anew in the current
//!   one;
//! - the commit (pre-commit) of the (sub)transaction it was begun in: ended,
//!   while its owner still exists;
//! - the abort of that (sub)transaction: forgotten, untouched, since the abort
//!   has already released everything it owned through its resource owner.
//!
//! Each call reads with the calling statement's snapshot (set on the scan
//! before the rescan), so a scan kept across statements of a PL/pgSQL loop
//! still sees what each statement should. The relations were checked by
//! `lookup::catalog::catalog()` when the scan was begun; they cannot change while it is
//! open (PostgreSQL refuses DDL on a relation this backend has open).
//!
//! So a scan may be kept between the statements of a PL/pgSQL block (its
//! simple expressions live as long as the block, or the transaction), and
//! DDL later in the block or the transaction still finds the table free.

// Built on lookup's catalog and heap reads; lookup's session reads build on
// this (no cycle).
use crate::lookup::catalog::{self, Sessions};
use crate::lookup::heap::statement_snapshot;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::RefCell;

/// What is kept, in the `FmgrInfo`'s memory; `callback` must stay first
/// (the memory-context callback's argument is the struct itself).
#[repr(C)]
struct Kept {
    callback: pg_sys::MemoryContextCallback,
    /// Whether the scan below exists and owns its resources.
    live: bool,
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    scan: pg_sys::IndexScanDesc,
    slot: *mut pg_sys::TupleTableSlot,
    owner: pg_sys::ResourceOwner,
    subxact: pg_sys::SubTransactionId,
    sessions: Sessions,
    /// The id searched for, where the scan key points during a call.
    key: [u8; 16],
}

thread_local! {
    /// The live scans, for the transaction callbacks.
    static LIVE: RefCell<Vec<*mut Kept>> = const { RefCell::new(Vec::new()) };
}

/// Ends the scan of `k` under the resource owner that owns its resources.
///
/// SAFETY: `k` is live, so its owner still exists (it is ended or forgotten
/// before its (sub)transaction ends), and its relations, scan and slot are
/// the ones begun in `begin`.
unsafe fn end(k: *mut Kept) {
    unsafe {
        let saved = pg_sys::CurrentResourceOwner;
        pg_sys::CurrentResourceOwner = (*k).owner;
        pg_sys::ExecDropSingleTupleTableSlot((*k).slot);
        pg_sys::index_endscan((*k).scan);
        pg_sys::index_close((*k).index, pg_sys::NoLock as pg_sys::LOCKMODE);
        pg_sys::table_close((*k).heap, pg_sys::NoLock as pg_sys::LOCKMODE);
        pg_sys::CurrentResourceOwner = saved;
    }
    forget(k);
}

/// Marks `k` as no longer owning anything, and drops it from the live list.
fn forget(k: *mut Kept) {
    // SAFETY: `k` points at a `Kept` in memory that is still allocated (the
    // memory callback forgets it before its memory goes).
    unsafe { (*k).live = false };
    LIVE.with(|l| l.borrow_mut().retain(|&p| p != k));
}

/// The expression's memory is going: end its scan if it is still live.
#[pg_guard]
unsafe extern "C-unwind" fn memory_going(arg: *mut std::ffi::c_void) {
    let k = arg as *mut Kept;
    // SAFETY: `arg` is the `Kept` this callback was registered with, whose
    // memory is freed only after the callback returns.
    unsafe {
        if (*k).live {
            end(k);
        }
    }
}

/// Ends (`end_them`) or forgets every live scan begun in subtransaction
/// `from` or a later (inner) one; all of them when `from` is `None`.
fn settle(from: Option<pg_sys::SubTransactionId>, end_them: bool) {
    let affected: Vec<*mut Kept> = LIVE.with(|l| {
        // SAFETY: the list holds live `Kept`s only.
        l.borrow().iter().copied().filter(|&k| from.is_none_or(|s| unsafe { (*k).subxact } >= s)).collect()
    });
    for k in affected {
        if end_them {
            // SAFETY: live, and its (sub)transaction has not ended yet.
            unsafe { end(k) }
        } else {
            forget(k);
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_xact(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    use pg_sys::XactEvent::*;
    match event {
        XACT_EVENT_PRE_COMMIT | XACT_EVENT_PARALLEL_PRE_COMMIT | XACT_EVENT_PRE_PREPARE => settle(None, true),
        _ => settle(None, false),
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_subxact(
    event: pg_sys::SubXactEvent::Type,
    subxact: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    use pg_sys::SubXactEvent::*;
    match event {
        SUBXACT_EVENT_PRE_COMMIT_SUB => settle(Some(subxact), true),
        SUBXACT_EVENT_ABORT_SUB => settle(Some(subxact), false),
        _ => {}
    }
}

/// The `ProcessUtility` hook that was installed before ours.
static mut PREVIOUS_UTILITY: pg_sys::ProcessUtility_hook_type = None;

/// Before any utility command: ends every kept scan (see the module's
/// comment), then runs the command as it would have run.
#[cfg(pg_at_least = "14")]
#[pg_guard]
#[allow(clippy::too_many_arguments)]
unsafe extern "C-unwind" fn before_utility(
    pstmt: *mut pg_sys::PlannedStmt,
    query_string: *const std::ffi::c_char,
    read_only_tree: bool,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    query_env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) {
    settle(None, true);
    // SAFETY: the arguments are the command's, passed on unchanged to the
    // previous hook or to PostgreSQL's own; PREVIOUS_UTILITY is written once,
    // in _PG_init, before any command runs.
    unsafe {
        match PREVIOUS_UTILITY {
            Some(previous) => previous(pstmt, query_string, read_only_tree, context, params, query_env, dest, qc),
            None => pg_sys::standard_ProcessUtility(pstmt, query_string, read_only_tree, context, params, query_env, dest, qc),
        }
    }
}

/// PostgreSQL 13's hook has no `readOnlyTree`.
#[cfg(not(pg_at_least = "14"))]
#[pg_guard]
unsafe extern "C-unwind" fn before_utility(
    pstmt: *mut pg_sys::PlannedStmt,
    query_string: *const std::ffi::c_char,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    query_env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) {
    settle(None, true);
    // SAFETY: as above.
    unsafe {
        match PREVIOUS_UTILITY {
            Some(previous) => previous(pstmt, query_string, context, params, query_env, dest, qc),
            None => pg_sys::standard_ProcessUtility(pstmt, query_string, context, params, query_env, dest, qc),
        }
    }
}

/// Registers the transaction callbacks and the utility hook; called once
/// from `_PG_init`.
pub fn register() {
    // SAFETY: called once per backend from _PG_init, before any command of
    // ours runs; the callbacks are 'static functions that only touch this
    // module's thread-local list, and the hook chains to the previous one.
    unsafe {
        pg_sys::RegisterXactCallback(Some(on_xact), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact), std::ptr::null_mut());
        PREVIOUS_UTILITY = pg_sys::ProcessUtility_hook;
        pg_sys::ProcessUtility_hook = Some(before_utility);
    }
}

/// Begins the scan of `k` in the expression's memory, under the current
/// (sub)transaction's resource owner; `false` (nothing begun) when `auth.sessions` has no
/// usable index on `id`.
///
/// SAFETY: `k` is not live; `memory` is the `FmgrInfo`'s memory, which holds `k`.
unsafe fn begin(k: *mut Kept, memory: pg_sys::MemoryContext) -> bool {
    let cat = catalog::catalog();
    let Some(by_id) = cat.sessions.by_id else { return false };
    // SAFETY: the relations were checked and locked by `catalog()` (the
    // locks last to transaction end); they are opened here, in the
    // expression's memory so that the scan state outlives this call, and
    // stay open until `end`.
    unsafe {
        let owner = pg_sys::CurTransactionResourceOwner;
        let saved_owner = pg_sys::CurrentResourceOwner;
        pg_sys::CurrentResourceOwner = owner;
        let old = pg_sys::MemoryContextSwitchTo(memory);
        let heap = pg_sys::table_open(cat.sessions.rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let index = pg_sys::index_open(by_id.oid, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let snapshot = statement_snapshot();
        let scan = crate::versions::index_beginscan(heap, index, snapshot, 1);
        let slot = pg_sys::table_slot_create(heap, std::ptr::null_mut());
        pg_sys::MemoryContextSwitchTo(old);
        pg_sys::CurrentResourceOwner = saved_owner;
        (*k).heap = heap;
        (*k).index = index;
        (*k).scan = scan;
        (*k).slot = slot;
        (*k).owner = owner;
        (*k).subxact = pg_sys::GetCurrentSubTransactionId();
        (*k).sessions = cat.sessions;
        (*k).live = true;
    }
    LIVE.with(|l| l.borrow_mut().push(k));
    true
}

/// Calls `each` with the row of `auth.sessions` whose id is `id`, visible
/// to the calling statement, through the scan kept in `fcinfo`'s `FmgrInfo`
/// (beginning it on the first call). Returns `false`, having done nothing,
/// when there is no `FmgrInfo` or no usable index (the caller then probes).
pub fn session_row(fcinfo: pg_sys::FunctionCallInfo, id: &[u8; 16], each: impl FnOnce(&Sessions, *mut pg_sys::TupleTableSlot)) -> bool {
    // SAFETY: `fcinfo` is the call's own. Its `FmgrInfo`, `fn_extra` and
    // `fn_mcxt` are ours to use for the expression's lifetime; `fn_extra` is
    // either NULL or the `Kept` allocated here. A live `Kept` was begun in
    // the current (sub)transaction, under its owner (checked below), so its
    // scan is valid; the scan key points into the `Kept`, which outlives the
    // scan; the row is read while the slot holds it.
    unsafe {
        let flinfo = if fcinfo.is_null() { std::ptr::null_mut() } else { (*fcinfo).flinfo };
        if flinfo.is_null() {
            return false;
        }
        let memory = (*flinfo).fn_mcxt;
        if memory.is_null() {
            return false;
        }
        let mut k = (*flinfo).fn_extra as *mut Kept;
        if k.is_null() {
            k = pg_sys::MemoryContextAllocZero(memory, std::mem::size_of::<Kept>()) as *mut Kept;
            (*k).callback.func = Some(memory_going);
            (*k).callback.arg = k as *mut std::ffi::c_void;
            pg_sys::MemoryContextRegisterResetCallback(memory, &mut (*k).callback);
            (*flinfo).fn_extra = k as *mut std::ffi::c_void;
        }
        if (*k).live
            && ((*k).owner != pg_sys::CurTransactionResourceOwner
                || (*k).subxact != pg_sys::GetCurrentSubTransactionId())
        {
            end(k);
        }
        if !(*k).live && !begin(k, memory) {
            return false;
        }
        // The buffers the scan pins are remembered by the same owner.
        let saved_owner = pg_sys::CurrentResourceOwner;
        pg_sys::CurrentResourceOwner = (*k).owner;
        let scan = (*k).scan;
        (*k).key = *id;
        (*scan).xs_snapshot = statement_snapshot();
        let mut key: pg_sys::ScanKeyData = std::mem::zeroed();
        pg_sys::ScanKeyInit(
            &mut key,
            1,
            pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
            pg_sys::Oid::from(pg_sys::F_UUID_EQ),
            pg_sys::Datum::from((*k).key.as_ptr()),
        );
        // The scan's own state is allocated lazily in the current memory
        // context (btree's killed-items array): the expression's, as for
        // an index scan node in its query's memory.
        let old = pg_sys::MemoryContextSwitchTo(memory);
        pg_sys::index_rescan(scan, &mut key, 1, std::ptr::null_mut(), 0);
        if pg_sys::index_getnext_slot(scan, pg_sys::ScanDirection::ForwardScanDirection, (*k).slot) {
            each(&(*k).sessions, (*k).slot);
            pg_sys::ExecClearTuple((*k).slot);
        }
        pg_sys::MemoryContextSwitchTo(old);
        pg_sys::CurrentResourceOwner = saved_owner;
        true
    }
}
