//! Whether GoTrue's tables are complete enough for the extension, and the
//! one place that attaches to them: the limit trigger, and the grants of
//! who administers sessions.
//!
//! In attach mode (`auth_sessions_gotrue`) the extension can be created at
//! any point of a Supabase database's life: on an empty `auth` schema, after
//! Supabase's init scripts (which make `auth.users` and `auth.refresh_tokens`
//! but not the rest), half-way through GoTrue's migrations, after them, or
//! by a restore (which runs CREATE EXTENSION before any table). Until GoTrue
//! has made everything the extension reads ([`required::OBJECTS`], [`required::COLUMNS`]: its
//! schema from migration 20231027141322 on), the extension is *waiting*:
//! every function that reads sessions raises SQLSTATE 55000 naming what is
//! missing, and `auth.session_stats()` says what it waits for. The moment a
//! DDL command on one of these objects leaves them complete, the event
//! trigger `auth_sessions_attach` (`ddl_command_end`) puts the limit trigger
//! on `auth.sessions`; nothing else is needed.
//!
//! A restore creates GoTrue's tables after CREATE EXTENSION, so the trigger
//! appears when the last of them is created, and then the dump's own
//! `CREATE TRIGGER enforce_session_limit` arrives: [`make_way_for`] (called
//! by the DDL guard at `ddl_command_start`) drops the extension's trigger
//! first, so the dumped one is created in its place and the trigger exists
//! exactly once.
//!
//! Attaching also grants the owner of GoTrue's tables (and so its members:
//! `postgres` on Supabase) the administration functions and settings
//! ([`grants::grant_administration`]), as soon as one of those tables exists.
//!
//! The trigger and the grants are made as the extension's owner (who may use
//! its trigger function; GoTrue's role, which runs the DDL, may not).
//! Creating a trigger and granting run no code of anyone's: nothing here
//! runs a user's function.
//!
//! `required.rs` says what is read and what is missing; `grants.rs` who
//! administers sessions; this file attaches.

mod grants;
mod required;

pub use required::{aal_type, auth_schema, missing_now, require_complete, table, waiting_message};
use required::present;

use crate::ffi::role_name;
use crate::security;
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::ffi::CStr;

const TRIGGER: &str = "enforce_session_limit";

/// The limit trigger's OID and function on `auth.sessions`, when it has one.
fn limit_trigger(sessions: pg_sys::Oid) -> Option<(pg_sys::Oid, pg_sys::Oid)> {
    security::pinned(&[], || {
        Spi::connect(|client| {
            let rows = client.select(
                "SELECT t.oid, t.tgfoid FROM pg_catalog.pg_trigger t \
                  WHERE t.tgrelid OPERATOR(pg_catalog.=) $1 AND t.tgname OPERATOR(pg_catalog.=) 'enforce_session_limit'",
                None,
                &[DatumWithOid::from(sessions)],
            )?;
            let mut found = None;
            for row in rows {
                if let (Some(oid), Some(func)) = (row.get::<pg_sys::Oid>(1)?, row.get::<pg_sys::Oid>(2)?) {
                    found = Some((oid, func));
                }
            }
            Ok::<_, pgrx::spi::Error>(found)
        })
    })
    .unwrap_or_else(|e| crate::lookup::spi_failed("reading the limit trigger", e))
}

/// `auth.enforce_session_limit()`.
fn limit_function() -> pg_sys::Oid {
    security::pinned(&[], || {
        Spi::get_one::<pg_sys::Oid>("SELECT pg_catalog.to_regprocedure('auth.enforce_session_limit()')::pg_catalog.oid")
    })
        .ok()
        .flatten()
        .unwrap_or(pg_sys::InvalidOid)
}

/// The owner of the installed extension (either name).
fn extension_owner() -> Option<pg_sys::Oid> {
    security::pinned(&[], || {
        Spi::get_one::<pg_sys::Oid>(
            "SELECT e.extowner FROM pg_catalog.pg_extension e \
              WHERE e.extname OPERATOR(pg_catalog.=) ANY (ARRAY['auth_sessions', 'auth_sessions_gotrue']::pg_catalog.name[])",
        )
    })
    .ok()
    .flatten()
}

/// Runs `statement` (a constant) as the extension's owner, with the search
/// path pinned.
pub(super) fn as_extension_owner(statement: &str) {
    let owner = extension_owner().unwrap_or_else(security::current_user);
    security::as_role(owner, || security::pinned(&[], || Spi::run(statement)))
        .unwrap_or_else(|e| crate::lookup::spi_failed(&format!("running {statement} as {}", role_name(owner)), e));
}


/// Grants the owners of GoTrue's tables, those there already, the
/// administration rights ([`grants::grant_administration`]); then, when the tables
/// are complete, puts the limit trigger on `auth.sessions` if it has none by
/// that name. False while they are not complete (waiting).
pub fn attach() -> bool {
    let mut owners: Vec<pg_sys::Oid> =
        present().into_iter().filter(|(o, _)| !o.is_type).map(|(_, rel)| security::owner_of(rel)).collect();
    owners.sort_by_key(|o| o.to_u32());
    owners.dedup();
    for owner in owners {
        grants::grant_administration(owner);
    }
    if !missing_now().is_empty() {
        return false;
    }
    let sessions = table(auth_schema(), "sessions");
    // SAFETY: a syscache lookup by OID.
    let plain = unsafe { pg_sys::get_rel_relkind(sessions) } == pg_sys::RELKIND_RELATION as std::ffi::c_char;
    if plain && limit_trigger(sessions).is_none() {
        as_extension_owner(
            "CREATE TRIGGER enforce_session_limit AFTER INSERT OR UPDATE OF user_id ON auth.sessions \
             FOR EACH ROW EXECUTE FUNCTION auth.enforce_session_limit()",
        );
    }
    true
}

/// Called by the DDL guard for `CREATE TRIGGER` on `relid` (at
/// `ddl_command_start`): when it creates `enforce_session_limit` on
/// `auth.sessions` with the extension's function, as a restore does, and the
/// extension already put its own there, that one is dropped first, so the
/// command creates the trigger once, as dumped. A command that would fail
/// anyway (no privilege, another function) drops nothing: the drop is
/// undone with it, or not made. Only the table's owner (or a member of it,
/// or a superuser), who could drop the trigger by hand, gets this.
pub fn make_way_for(relid: pg_sys::Oid, stmt: *mut pg_sys::CreateTrigStmt) {
    // SAFETY: `stmt` is the command's parse tree, a CreateTrigStmt; its
    // name is a NUL-terminated string and its function name a List of
    // String nodes.
    let (named, function) = unsafe {
        let name = (*stmt).trigname;
        let named = !name.is_null() && CStr::from_ptr(name).to_bytes() == TRIGGER.as_bytes();
        (named, if named { pg_sys::LookupFuncName((*stmt).funcname, 0, std::ptr::null(), true) } else { pg_sys::InvalidOid })
    };
    if !named || relid == pg_sys::InvalidOid || relid != table(auth_schema(), "sessions") {
        return;
    }
    let ours = limit_function();
    if ours == pg_sys::InvalidOid || function != ours {
        return;
    }
    // Only for a role that could drop the trigger itself (the table's owner,
    // a member of it, a superuser): a role with just TRIGGER on the table
    // cannot replace the limit trigger this way.
    // SAFETY: a catalog lookup of role membership.
    if !unsafe { pg_sys::has_privs_of_role(security::current_user(), security::owner_of(relid)) } {
        return;
    }
    if let Some((_, existing)) = limit_trigger(relid) {
        if existing == ours {
            as_extension_owner("DROP TRIGGER enforce_session_limit ON auth.sessions");
        }
    }
}

/// SQL: what GoTrue has yet to create for the extension to work (empty when
/// nothing).
#[pg_extern(stable, parallel_safe)]
fn session_tables_missing() -> Vec<String> {
    missing_now()
}

/// SQL: raises 55000 naming what is missing (see the module's comment);
/// the functions written in SQL call it first.
#[pg_extern(stable, parallel_safe)]
fn require_session_tables() {
    crate::lookup::catalog();
}

/// SQL: attaches now (what the event trigger does by itself); false while
/// GoTrue's tables are not complete.
#[pg_extern(volatile)]
fn attach_session_tables() -> bool {
    attach()
}

/// The event trigger function (`ddl_command_end`, on CREATE/ALTER TABLE and
/// CREATE/ALTER TYPE): when the command touched one of GoTrue's objects,
/// attach if they are complete now.
#[pg_extern(sql = r#"
CREATE FUNCTION auth.attach_when_ready() RETURNS event_trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'attach_when_ready_wrapper';
"#)]
fn attach_when_ready(fcinfo: pg_sys::FunctionCallInfo) {
    // The extension's own scripts attach by themselves; pg_upgrade's restore
    // recreates the trigger as it was.
    if crate::ffi::event_trigger_call(fcinfo, "auth.attach_when_ready()").is_none() {
        return;
    }
    let objects: Vec<pg_sys::Oid> = present().into_iter().map(|(_, oid)| oid).collect();
    if objects.is_empty() {
        return;
    }
    let touched = security::pinned(&[], || {
        Spi::get_one_with_args::<bool>(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_event_trigger_ddl_commands() c \
                             WHERE c.objid OPERATOR(pg_catalog.=) ANY ($1))",
            &[DatumWithOid::from(objects)],
        )
    })
    .unwrap_or_else(|e| crate::lookup::spi_failed("reading the command's objects", e));
    if touched == Some(true) {
        attach();
    }
}
