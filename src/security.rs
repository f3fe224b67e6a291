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
//! - [`refuse_untrusted_triggers`]: the superuser guard. A trigger runs with
//!   the rights of whoever fires it. When a delete or update of ours would
//!   fire, as a superuser, a trigger whose code (its function, or a function
//!   in its `WHEN` clause) belongs to a role that is not a superuser and is
//!   not `SECURITY DEFINER`, we refuse with SQLSTATE 42501 instead.

use pgrx::pg_catalog::pg_proc::PgProc;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::ffi::{c_char, c_int, c_void, CStr};

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

/// What a statement of ours does to a table, for the guard.
#[derive(Clone, Copy)]
pub enum Event {
    Delete,
    Update,
}

/// Whether code that runs as the current user when function `func` is
/// called was written by a superuser: the function is `SECURITY DEFINER`
/// (it runs as its owner, whoever that is), or a superuser owns it.
fn trusted_function(func: pg_sys::Oid) -> bool {
    match PgProc::new(func) {
        // SAFETY: a syscache lookup of the owner's role.
        Some(p) => p.prosecdef() || unsafe { pg_sys::superuser_arg(p.proowner()) },
        // Gone since the trigger was loaded: nothing will run it.
        None => true,
    }
}

/// `check_functions_in_node`'s callback: records the first untrusted
/// function in `context` (an `Option<Oid>`), which stops the walk.
#[pg_guard]
unsafe extern "C-unwind" fn note_untrusted(func: pg_sys::Oid, context: *mut c_void) -> bool {
    if trusted_function(func) {
        return false;
    }
    // SAFETY: `context` is the `Option<Oid>` passed by `first_untrusted`.
    unsafe { *context.cast::<Option<pg_sys::Oid>>() = Some(func) };
    true
}

/// Walks an expression tree: true (with the function noted) at the first
/// untrusted function it calls (operators, casts and I/O conversions included).
#[pg_guard]
unsafe extern "C-unwind" fn find_untrusted(node: *mut pg_sys::Node, context: *mut c_void) -> bool {
    if node.is_null() {
        return false;
    }
    // SAFETY: `node` is a node of a tree made by stringToNode; the walkers
    // are PostgreSQL's own.
    unsafe {
        pg_sys::check_functions_in_node(node, Some(note_untrusted), context)
            || pg_sys::expression_tree_walker(node, Some(find_untrusted), context)
    }
}

/// The first function in a trigger's `WHEN` clause (a node string) that is
/// not trusted.
fn first_untrusted(qual: *const std::ffi::c_char) -> Option<pg_sys::Oid> {
    let mut found: Option<pg_sys::Oid> = None;
    // SAFETY: `qual` is the relcache's NUL-terminated node string; the tree
    // is palloc'd in the current memory context.
    unsafe {
        let tree = pg_sys::stringToNode(qual).cast::<pg_sys::Node>();
        find_untrusted(tree, (&mut found as *mut Option<pg_sys::Oid>).cast());
    }
    found
}

/// A trigger of `table` that would fire for `event` and run code that a role
/// other than a superuser wrote: its name and that code's function, for the
/// error.
fn untrusted_trigger(table: pg_sys::Oid, event: Event, lockmode: u32) -> Option<(String, pg_sys::Oid)> {
    let event = match event {
        Event::Delete => pg_sys::TRIGGER_TYPE_DELETE,
        Event::Update => pg_sys::TRIGGER_TYPE_UPDATE,
    };
    // SAFETY: the relation is opened with the lock the statement that follows
    // takes (so no trigger can be added in between; CREATE TRIGGER conflicts
    // with it), kept to transaction end, and closed here; `trigdesc` is the
    // relcache's array of `numtriggers` triggers, valid while it is open.
    unsafe {
        let rel = pg_sys::relation_open(table, lockmode as pg_sys::LOCKMODE);
        let desc = (*rel).trigdesc;
        let mut found = None;
        if !desc.is_null() {
            for t in std::slice::from_raw_parts((*desc).triggers, (*desc).numtriggers as usize) {
                if t.tgisinternal
                    || (t.tgtype as u32 & event) == 0
                    || t.tgenabled == pg_sys::TRIGGER_DISABLED as c_char
                {
                    continue;
                }
                let culprit = if !trusted_function(t.tgfoid) {
                    Some(t.tgfoid)
                } else if !t.tgqual.is_null() {
                    first_untrusted(t.tgqual)
                } else {
                    None
                };
                if let Some(func) = culprit {
                    found = Some((CStr::from_ptr(t.tgname).to_string_lossy().into_owned(), func));
                    break;
                }
            }
        }
        pg_sys::relation_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
        found
    }
}

fn role_name(role: pg_sys::Oid) -> String {
    // SAFETY: a syscache lookup; NULL for a role that does not exist.
    unsafe {
        let name = pg_sys::GetUserNameFromId(role, true);
        if name.is_null() { format!("{}", role.to_u32()) } else { CStr::from_ptr(name).to_string_lossy().into_owned() }
    }
}

fn function_name(func: pg_sys::Oid) -> String {
    // SAFETY: a syscache lookup; the result is a palloc'd string.
    unsafe { CStr::from_ptr(pg_sys::format_procedure(func)).to_string_lossy().into_owned() }
}

fn relation_name(table: pg_sys::Oid) -> String {
    // SAFETY: syscache lookups; NULL when the relation is gone.
    unsafe {
        let name = pg_sys::get_rel_name(table);
        let nsp = pg_sys::get_namespace_name(pg_sys::get_rel_namespace(table));
        if name.is_null() || nsp.is_null() {
            return format!("{}", table.to_u32());
        }
        format!("{}.{}", CStr::from_ptr(nsp).to_string_lossy(), CStr::from_ptr(name).to_string_lossy())
    }
}

/// The superuser guard: before a statement of ours makes `table`'s
/// triggers fire for `event` as `runs_as`, refuse (SQLSTATE 42501) when
/// `runs_as` is a superuser and one of them would run code written by a
/// role that is not. `lockmode` is the lock the statement takes on `table`.
pub fn refuse_untrusted_triggers(table: pg_sys::Oid, event: Event, runs_as: pg_sys::Oid, lockmode: u32) {
    // SAFETY: a syscache lookup of the role.
    if !unsafe { pg_sys::superuser_arg(runs_as) } {
        return;
    }
    let Some((trigger, func)) = untrusted_trigger(table, event, lockmode) else { return };
    let owner = PgProc::new(func).map(|p| role_name(p.proowner())).unwrap_or_default();
    pgrx::pg_sys::panic::ErrorReport::new(
        PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        format!(
            "auth_sessions: refusing to fire trigger \"{trigger}\" on {} as superuser \"{}\"",
            relation_name(table),
            role_name(runs_as)
        ),
        "auth_sessions::security",
    )
    .set_detail(format!(
        "It calls {}, which belongs to role \"{owner}\", who is not a superuser, and is not SECURITY DEFINER: it would run with superuser rights.",
        function_name(func)
    ))
    .set_hint(
        "Do this as a role that is not a superuser (for the background worker, set auth_sessions.prune_role), \
         make the trigger's functions SECURITY DEFINER or owned by a superuser, or drop the trigger.",
    )
    .report(PgLogLevel::ERROR);
}
