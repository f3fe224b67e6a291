//! Reading tuples under a snapshot: the generic index probe (or table scan
//! when there is no usable index), the snapshots reads use, and the datum
//! decoders for the columns `catalog` checked.

use super::catalog::Index;
use crate::ffi::Opened;
use crate::validity::Micros;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::ffi::CStr;

/// The snapshot a SQL function should read with: the calling statement's.
pub fn statement_snapshot() -> pg_sys::Snapshot {
    // SAFETY: both return the backend's current snapshot; GetTransactionSnapshot
    // is only reached outside any statement (no active snapshot).
    unsafe {
        if pg_sys::ActiveSnapshotSet() {
            pg_sys::GetActiveSnapshot()
        } else {
            pg_sys::GetTransactionSnapshot()
        }
    }
}

/// Takes a new snapshot (one that sees everything committed so far, and this
/// transaction's own changes up to the current command), registered until
/// `f` returns. Registering keeps this backend's xmin at or below the
/// snapshot's, so a tuple it shows as visible cannot be pruned away before
/// `f` is done with its TID.
pub fn with_latest_snapshot<T>(f: impl FnOnce(pg_sys::Snapshot) -> T) -> T {
    // SAFETY: the snapshot is copied and registered with the current
    // resource owner, and unregistered here (or at abort, on an ERROR).
    unsafe {
        let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetLatestSnapshot());
        let result = f(snapshot);
        pg_sys::UnregisterSnapshot(snapshot);
        result
    }
}

/// Calls `each` for every tuple of `table` visible to `snapshot` whose uuid
/// column `column` equals `key`, until it returns false: through `index`
/// when there is one, else by scanning the table with the key.
///
/// SAFETY (of the unsafe block): the relations are opened and locked here
/// (AccessShareLock, kept to transaction end like any query's; `catalog()`
/// checked their shape under that lock) and stay open to the end, the slot and scan are created and
/// destroyed here, and `key` outlives the scan. An ERROR raised inside
/// releases them through the resource owner and memory context, as for any C
/// caller.
pub(super) fn probe(
    table: pg_sys::Oid,
    index: Option<Index>,
    column: i16,
    key: &[u8; 16],
    snapshot: pg_sys::Snapshot,
    mut each: impl FnMut(*mut pg_sys::TupleTableSlot) -> bool,
) {
    let opened = Opened::table(table, pg_sys::AccessShareLock);
    let heap = opened.rel();
    unsafe {
        let slot = pg_sys::table_slot_create(heap, std::ptr::null_mut());
        let mut scankey: pg_sys::ScanKeyData = std::mem::zeroed();
        let key_column = if index.is_some() { 1 } else { column };
        pg_sys::ScanKeyInit(
            &mut scankey,
            key_column,
            pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
            pg_sys::Oid::from(pg_sys::F_UUID_EQ),
            pg_sys::Datum::from(key.as_ptr()),
        );
        match index {
            Some(index) => {
                let opened_index = Opened::index(index.oid, pg_sys::AccessShareLock);
                let rel = opened_index.rel();
                let scan = crate::versions::index_beginscan(heap, rel, snapshot, 1);
                pg_sys::index_rescan(scan, &mut scankey, 1, std::ptr::null_mut(), 0);
                while pg_sys::index_getnext_slot(scan, pg_sys::ScanDirection::ForwardScanDirection, slot) {
                    if !each(slot) {
                        break;
                    }
                }
                pg_sys::index_endscan(scan);
            }
            None => {
                let scan = pg_sys::table_beginscan(heap, snapshot, 1, &mut scankey);
                while pg_sys::table_scan_getnextslot(scan, pg_sys::ScanDirection::ForwardScanDirection, slot) {
                    if !each(slot) {
                        break;
                    }
                }
                pg_sys::table_endscan(scan);
            }
        }
        pg_sys::ExecDropSingleTupleTableSlot(slot);
    }
}

/// Reads attribute `attnum` of the tuple in `slot` as a raw datum.
pub(super) fn attr(slot: *mut pg_sys::TupleTableSlot, attnum: i16) -> Option<pg_sys::Datum> {
    let mut isnull = false;
    // SAFETY: `slot` holds a tuple of the relation whose column `attnum` was
    // checked (name and type) in `catalog()`.
    let d = unsafe { pg_sys::slot_getattr(slot, attnum as i32, &mut isnull) };
    (!isnull).then_some(d)
}

/// `timestamptz` and `timestamp` are int64 microseconds, passed by value.
pub(super) fn micros(d: Option<pg_sys::Datum>) -> Option<Micros> {
    d.map(|d| d.value() as i64)
}

/// A uuid datum (16 bytes, by reference).
pub(super) fn uuid(d: Option<pg_sys::Datum>) -> Option<[u8; 16]> {
    // SAFETY: the column was checked to be of type uuid, whose datum points
    // at 16 bytes in the slot's tuple, valid while the slot holds it.
    d.map(|d| unsafe { *(d.cast_mut_ptr::<[u8; 16]>()) })
}

/// Which snapshot a read uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Seen {
    /// The calling statement's (MVCC as the caller's queries see it).
    ByStatement,
    /// A new one: what is committed now (for decisions that must not rest on
    /// a snapshot taken before a row lock was granted).
    Now,
    /// A registered snapshot the caller took (one for many reads).
    In(pg_sys::Snapshot),
}

pub(super) fn with_snapshot<T>(seen: Seen, f: impl FnOnce(pg_sys::Snapshot) -> T) -> T {
    match seen {
        Seen::ByStatement => f(statement_snapshot()),
        Seen::Now => with_latest_snapshot(f),
        Seen::In(snapshot) => f(snapshot),
    }
}

/// A text column of the tuple in `slot`, detoasted and copied; invalid
/// UTF-8 (a database in another encoding) is replaced, not trusted.
pub fn text_at(slot: *mut pg_sys::TupleTableSlot, attnum: i16) -> Option<String> {
    // SAFETY: the column was checked to be of type text; text_to_cstring
    // detoasts it into a palloc'd, NUL-terminated copy.
    attr(slot, attnum).map(|d| unsafe {
        CStr::from_ptr(pg_sys::text_to_cstring(d.cast_mut_ptr())).to_string_lossy().into_owned()
    })
}

/// An `inet` column of the tuple in `slot`, in its text form.
pub fn inet_at(slot: *mut pg_sys::TupleTableSlot, attnum: i16) -> Option<pgrx::datum::Inet> {
    // SAFETY: the column was checked to be of type inet; inet_out reads the
    // datum while the slot holds the tuple and returns a copy.
    attr(slot, attnum).and_then(|d| unsafe { pgrx::datum::Inet::from_datum(d, false) })
}
