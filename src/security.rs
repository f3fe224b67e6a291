//! Who the extension's own work runs as, with which settings, and the one
//! check that keeps code that a role other than a superuser wrote from ever
//! running with superuser rights because of us.
//!
//! - [`pinned`]: every SQL statement the crate runs (through SPI) runs with
//!   `search_path = pg_catalog, pg_temp`, so no function or operator that
//!   someone put on the caller's (or the database's) path can be picked up.
//!   The statements are schema-qualified, operators included, as well.
//! - [`as_owner`]: runs a statement as a table's owner, as PostgreSQL runs a
//!   foreign key's cascade (`SECURITY_LOCAL_USERID_CHANGE`,
//!   `SECURITY_NOFORCE_RLS`, `SECURITY_RESTRICTED_OPERATION`); used to lock
//!   (or, where pruning does the cascades by hand, delete) the rows that a
//!   session's delete cascades to.
//! - [`as_role`]: the background pruner's identity for a run, as VACUUM
//!   switches to a table's owner.
//!
//! The superuser guard (what a statement of ours may run as a superuser)
//! lives in `trusted_code.rs`.

use pgrx::pg_sys;
use std::ffi::{c_int, CStr};

/// The `search_path` every statement of ours runs with.
pub const SEARCH_PATH: &CStr = c"pg_catalog, pg_temp";

/// Runs `f` with the settings `settings` (name, value), restored when `f`
/// returns, and through the (sub)transaction's abort when it fails, as a
/// function's `SET` clause does. `search_path` is always pinned.
pub fn pinned<T>(settings: &[(&CStr, &CStr)], f: impl FnOnce() -> T) -> T {
    // SAFETY: the GUC nest level opened here is closed here, or by the abort
    // of the enclosing (sub)transaction on error, which restores the
    // settings; names and values are NUL-terminated.
    unsafe {
        let level = pg_sys::NewGUCNestLevel();
        for (name, value) in std::iter::once(&(c"search_path", SEARCH_PATH)).chain(settings) {
            pg_sys::set_config_option(
                name.as_ptr(),
                value.as_ptr(),
                pg_sys::GucContext::PGC_USERSET,
                pg_sys::GucSource::PGC_S_SESSION,
                pg_sys::GucAction::GUC_ACTION_SAVE,
                true,
                0,
                false,
            );
        }
        let result = f();
        pg_sys::AtEOXact_GUC(true, level);
        result
    }
}

/// Puts back the user and security context saved when it was made, when it
/// goes out of scope: on return, and on an ERROR unwinding through Rust
/// frames alike (the transaction's abort would restore them as well).
struct RestoreUser(pg_sys::Oid, c_int);

impl RestoreUser {
    fn switch_to(role: pg_sys::Oid, flags: u32) -> RestoreUser {
        let (mut user, mut context) = (pg_sys::InvalidOid, 0);
        // SAFETY: backend-local state, saved here and restored by Drop.
        unsafe {
            pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
            pg_sys::SetUserIdAndSecContext(role, context | flags as c_int);
        }
        RestoreUser(user, context)
    }
}

impl Drop for RestoreUser {
    fn drop(&mut self) {
        // SAFETY: puts back what `switch_to` read.
        unsafe { pg_sys::SetUserIdAndSecContext(self.0, self.1) }
    }
}

/// The owner of relation `table` (InvalidOid when there is none), read from
/// the catalog without locking it: callers that act on the table hold a lock
/// on it already, or take one next.
pub fn owner_of(table: pg_sys::Oid) -> pg_sys::Oid {
    // SAFETY: a syscache lookup; the tuple is a pg_class row, released here.
    unsafe {
        let tuple = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::RELOID as i32, pg_sys::Datum::from(table));
        if tuple.is_null() {
            return pg_sys::InvalidOid;
        }
        let owner = (*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_class>(tuple)).relowner;
        pg_sys::ReleaseSysCache(tuple);
        owner
    }
}

/// Runs `f` as the owner of `table`, as a foreign key's cascade runs: row
/// security does not apply, and nothing may change the session's state.
pub fn as_owner<T>(table: pg_sys::Oid, f: impl FnOnce() -> T) -> T {
    let _restore = RestoreUser::switch_to(
        owner_of(table),
        pg_sys::SECURITY_LOCAL_USERID_CHANGE | pg_sys::SECURITY_NOFORCE_RLS | pg_sys::SECURITY_RESTRICTED_OPERATION,
    );
    f()
}

/// Runs `f` as `role`, in a security-restricted operation (as VACUUM runs a
/// table's maintenance as its owner).
pub fn as_role<T>(role: pg_sys::Oid, f: impl FnOnce() -> T) -> T {
    let _restore =
        RestoreUser::switch_to(role, pg_sys::SECURITY_LOCAL_USERID_CHANGE | pg_sys::SECURITY_RESTRICTED_OPERATION);
    f()
}

/// Whether this looks like a restore of `table`'s rows by a role that could
/// turn its triggers off anyway: `row_security` is off (pg_dump's scripts
/// and pg_restore set it so, so that a restore fails rather than loses rows
/// to a policy) and the current user owns the table, or has its owner's
/// privileges (a superuser does). Such a role may disable any trigger of
/// the table, so standing aside for it loosens nothing.
pub fn restoring(table: pg_sys::Oid) -> bool {
    // SAFETY: reads the backend's `row_security` setting (PostgreSQL's own
    // variable) and the catalog for the current user.
    unsafe { !pg_sys::row_security && pg_sys::has_privs_of_role(current_user(), owner_of(table)) }
}

/// Whether row-level security applies to the current user on `table`.
pub fn row_security_applies(table: pg_sys::Oid) -> bool {
    // SAFETY: catalog lookups for the current user.
    unsafe { pg_sys::check_enable_rls(table, pg_sys::InvalidOid, true) == pg_sys::CheckEnableRlsResult::RLS_ENABLED as i32 }
}

/// The current user (whose privileges apply).
pub fn current_user() -> pg_sys::Oid {
    // SAFETY: backend-local state.
    unsafe { pg_sys::GetUserId() }
}
