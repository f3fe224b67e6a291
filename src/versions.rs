//! What differs between the PostgreSQL majors the extension builds for
//! (13 to 18), in one place. Each difference is written as "PostgreSQL N or
//! later" — `#[cfg(pg_at_least = "N")]`, set by build.rs from the `pgNN`
//! feature — so a new major takes the newest branch of each, and supporting
//! it means a feature in Cargo.toml and, if its C API changed, a function
//! here.
//!
//! Two differences are shapes rather than calls and stay where they are,
//! written the same way: the `ProcessUtility` hook's signature (kept_scan.rs,
//! 14) and multirange types (trusted_code/expressions.rs, 14).

use pgrx::pg_sys;
use std::ffi::{c_int, CStr};

/// Starts an index scan of `index` (on `heap`) with `nkeys` keys and no
/// ordering keys. PostgreSQL 18 added the instrumentation argument.
///
/// SAFETY: `heap` and `index` are open and locked; `snapshot` is registered
/// and outlives the scan.
pub unsafe fn index_beginscan(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    snapshot: pg_sys::Snapshot,
    nkeys: c_int,
) -> pg_sys::IndexScanDesc {
    // SAFETY: as the function's contract says.
    unsafe {
        #[cfg(pg_at_least = "18")]
        let scan = pg_sys::index_beginscan(heap, index, snapshot, std::ptr::null_mut(), nkeys, 0);
        #[cfg(not(pg_at_least = "18"))]
        let scan = pg_sys::index_beginscan(heap, index, snapshot, nkeys, 0);
        scan
    }
}

/// The attribute `i` (0-based) of a tuple descriptor. PostgreSQL 18 no
/// longer keeps them as a plain array.
///
/// SAFETY: `tupdesc` is valid and has more than `i` attributes.
pub unsafe fn attribute(tupdesc: pg_sys::TupleDesc, i: c_int) -> *mut pg_sys::FormData_pg_attribute {
    // SAFETY: as the function's contract says.
    unsafe {
        #[cfg(pg_at_least = "18")]
        let attribute = pg_sys::TupleDescAttr(tupdesc, i);
        #[cfg(not(pg_at_least = "18"))]
        let attribute = (*tupdesc).attrs.as_mut_ptr().add(i as usize);
        attribute
    }
}

/// This backend's local transaction id (moved into `vxid` in PostgreSQL 17).
pub fn local_transaction_id() -> u32 {
    // SAFETY: MyProc is the backend's own PGPROC, valid for its lifetime.
    unsafe {
        #[cfg(pg_at_least = "17")]
        let lxid = (*pg_sys::MyProc).vxid.lxid;
        #[cfg(not(pg_at_least = "17"))]
        let lxid = (*pg_sys::MyProc).lxid;
        lxid
    }
}

/// Entry `i` (1-based) of this backend's copy of the activity array, NULL
/// when out of range (renamed in PostgreSQL 16).
///
/// SAFETY: reads the copy the backend-status functions made.
pub unsafe fn local_backend(i: c_int) -> *mut pg_sys::LocalPgBackendStatus {
    // SAFETY: as the function's contract says.
    unsafe {
        #[cfg(pg_at_least = "16")]
        let entry = pg_sys::pgstat_get_local_beentry_by_index(i);
        #[cfg(not(pg_at_least = "16"))]
        let entry = pg_sys::pgstat_fetch_stat_local_beentry(i);
        entry
    }
}

/// Drops this backend's copy of the activity array (PostgreSQL 13 could only
/// drop every statistics snapshot at once).
pub fn clear_activity_snapshot() {
    // SAFETY: frees backend-local copies; the next read makes a new one.
    unsafe {
        #[cfg(pg_at_least = "14")]
        pg_sys::pgstat_clear_backend_activity_snapshot();
        #[cfg(not(pg_at_least = "14"))]
        pg_sys::pgstat_clear_snapshot();
    }
}

/// Installs a signal handler in a background process (renamed in 18).
///
/// SAFETY: `handler` is async-signal-safe (PostgreSQL's own handlers).
pub unsafe fn pqsignal(signal: u32, handler: pg_sys::pqsigfunc) {
    // SAFETY: as the function's contract says.
    unsafe {
        #[cfg(pg_at_least = "18")]
        pg_sys::pqsignal_be(signal as c_int, handler);
        #[cfg(not(pg_at_least = "18"))]
        pg_sys::pqsignal(signal as c_int, handler);
    }
}

/// An object's description ("rule r on table t"), NULL when it is gone
/// (PostgreSQL 13 has no missing_ok).
///
/// SAFETY: a catalog lookup; the result is NULL or a palloc'd string.
pub unsafe fn object_description(address: &pg_sys::ObjectAddress) -> *mut std::ffi::c_char {
    // SAFETY: as the function's contract says.
    unsafe {
        #[cfg(pg_at_least = "14")]
        let text = pg_sys::getObjectDescription(address, true);
        #[cfg(not(pg_at_least = "14"))]
        let text = pg_sys::getObjectDescription(address);
        text
    }
}

/// A partitioned table's partitions, detached ones included since 14.
///
/// SAFETY: `rel` is an open partitioned table.
pub unsafe fn partition_desc(rel: pg_sys::Relation) -> pg_sys::PartitionDesc {
    // SAFETY: as the function's contract says.
    unsafe {
        #[cfg(pg_at_least = "14")]
        let pd = pg_sys::RelationGetPartitionDesc(rel, false);
        #[cfg(not(pg_at_least = "14"))]
        let pd = pg_sys::RelationGetPartitionDesc(rel);
        pd
    }
}

/// A type's subscripting function (PostgreSQL 14 and later; none before).
pub fn type_subscript(form: &pg_sys::FormData_pg_type) -> pg_sys::Oid {
    #[cfg(pg_at_least = "14")]
    let subscript = form.typsubscript;
    #[cfg(not(pg_at_least = "14"))]
    let subscript = {
        let _ = form;
        pg_sys::InvalidOid
    };
    subscript
}

/// Whether settings have privileges (`GRANT SET ON PARAMETER`, 15 and later).
pub const SETTING_PRIVILEGES: bool = cfg!(pg_at_least = "15");

/// The setting (or placeholder) called `name`, if any (NULL otherwise).
/// PostgreSQL 16 exports the lookup; before, the array is searched.
///
/// SAFETY: called in the backend's main thread.
pub unsafe fn find_setting(name: &CStr) -> *mut pg_sys::config_generic {
    #[cfg(pg_at_least = "16")]
    {
        // SAFETY: a lookup that neither creates a placeholder nor raises errors.
        unsafe { pg_sys::find_option(name.as_ptr(), false, true, pg_sys::DEBUG5 as i32) }
    }
    #[cfg(not(pg_at_least = "16"))]
    {
        // SAFETY: the array holds GetNumConfigOptions() valid entries, each
        // with a NUL-terminated name.
        unsafe {
            let all = pg_sys::get_guc_variables();
            for i in 0..pg_sys::GetNumConfigOptions() as usize {
                let v = *all.add(i);
                if !v.is_null() && CStr::from_ptr((*v).name).to_bytes().eq_ignore_ascii_case(name.to_bytes()) {
                    return v;
                }
            }
            std::ptr::null_mut()
        }
    }
}

/// Claims the settings prefix: PostgreSQL 15 and later then refuse unknown
/// names under it; before, this only warns about placeholders.
pub fn reserve_setting_prefix(prefix: &'static CStr) {
    // SAFETY: called from _PG_init in the backend's main thread with a
    // NUL-terminated static string; PostgreSQL copies what it keeps.
    unsafe {
        #[cfg(pg_at_least = "15")]
        pg_sys::MarkGUCPrefixReserved(prefix.as_ptr());
        #[cfg(not(pg_at_least = "15"))]
        pg_sys::EmitWarningsOnPlaceholders(prefix.as_ptr());
    }
}
