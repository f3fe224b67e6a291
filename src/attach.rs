//! Whether GoTrue's tables are complete enough for the extension, and the
//! one place that attaches to them: the limit trigger, and the grants of
//! who administers sessions.
//!
//! In attach mode (`auth_sessions_gotrue`) the extension can be created at
//! any point of a Supabase database's life: on an empty `auth` schema, after
//! Supabase's init scripts (which make `auth.users` and `auth.refresh_tokens`
//! but not the rest), half-way through GoTrue's migrations, after them, or
//! by a restore (which runs CREATE EXTENSION before any table). Until GoTrue
//! has made everything the extension reads ([`OBJECTS`], [`COLUMNS`]: its
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
//! ([`grant_administration`]), as soon as one of those tables exists.
//!
//! The trigger and the grants are made as the extension's owner (who may use
//! its trigger function; GoTrue's role, which runs the DDL, may not).
//! Creating a trigger and granting run no code of anyone's: nothing here
//! runs a user's function.

use crate::ffi::role_name;
use crate::security;
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::ffi::CStr;

/// A type of a column the extension reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    Uuid,
    Timestamptz,
    Timestamp,
    Boolean,
    AalLevel,
}

impl ColumnType {
    pub fn sql_name(self) -> &'static str {
        match self {
            ColumnType::Uuid => "uuid",
            ColumnType::Timestamptz => "timestamp with time zone",
            ColumnType::Timestamp => "timestamp without time zone",
            ColumnType::Boolean => "boolean",
            ColumnType::AalLevel => "auth.aal_level",
        }
    }
}

/// An object in schema `auth` the extension needs: the enum type or a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Object {
    pub name: &'static str,
    pub is_type: bool,
}

/// A column the extension reads, with the type it must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    pub table: &'static str,
    pub name: &'static str,
    pub type_: ColumnType,
}

/// GoTrue's objects, in the order messages name them.
pub const OBJECTS: [Object; 5] = [
    Object { name: "aal_level", is_type: true },
    Object { name: "users", is_type: false },
    Object { name: "sessions", is_type: false },
    Object { name: "refresh_tokens", is_type: false },
    Object { name: "mfa_amr_claims", is_type: false },
];

/// The columns the extension reads (GoTrue's schema from migration
/// 20231027141322, which added `refreshed_at`).
pub const COLUMNS: [Column; 10] = [
    Column { table: "sessions", name: "id", type_: ColumnType::Uuid },
    Column { table: "sessions", name: "user_id", type_: ColumnType::Uuid },
    Column { table: "sessions", name: "created_at", type_: ColumnType::Timestamptz },
    Column { table: "sessions", name: "not_after", type_: ColumnType::Timestamptz },
    Column { table: "sessions", name: "refreshed_at", type_: ColumnType::Timestamp },
    Column { table: "sessions", name: "aal", type_: ColumnType::AalLevel },
    Column { table: "refresh_tokens", name: "session_id", type_: ColumnType::Uuid },
    Column { table: "refresh_tokens", name: "revoked", type_: ColumnType::Boolean },
    Column { table: "refresh_tokens", name: "updated_at", type_: ColumnType::Timestamptz },
    Column { table: "mfa_amr_claims", name: "session_id", type_: ColumnType::Uuid },
];

/// What is missing, as messages name it: each absent object, then each
/// absent column of a table that is there (with the type it will need; a
/// column of another type is not missing: reading it fails with 42804, see
/// `lookup.rs`). A column
/// of a missing table, or of the missing enum type, is not listed apart: the
/// table or type is.
pub fn missing(object_present: impl Fn(&Object) -> bool, column_present: impl Fn(&Column) -> bool) -> Vec<String> {
    let absent: Vec<&Object> = OBJECTS.iter().filter(|o| !object_present(o)).collect();
    let gone = |name: &str| absent.iter().any(|o| o.name == name);
    absent
        .iter()
        .map(|o| format!("auth.{}", o.name))
        .chain(
            COLUMNS
                .iter()
                .filter(|c| !gone(c.table) && !(c.type_ == ColumnType::AalLevel && gone("aal_level")))
                .filter(|c| !column_present(c))
                .map(|c| format!("auth.{}.{} ({})", c.table, c.name, c.type_.sql_name())),
        )
        .collect()
}

/// The error of a function called while something is missing.
pub fn waiting_message(missing: &[String]) -> String {
    format!("auth_sessions is waiting for GoTrue's tables: {} missing", missing.join(", "))
}

pub const WAITING_DETAIL: &str = "The extension reads auth.sessions, auth.refresh_tokens and auth.mfa_amr_claims as \
     GoTrue (Supabase Auth) defines them from its migration 20231027141322 on.";
pub const WAITING_HINT: &str = "GoTrue creates them when it first starts (its migrations); the extension completes \
     itself then, with no further step. auth.session_stats() shows what it is waiting for.";

fn nul_terminated(name: &str) -> Vec<u8> {
    let mut bytes = name.as_bytes().to_vec();
    bytes.push(0);
    bytes
}

/// The schema `auth` (InvalidOid when there is none).
fn auth_schema() -> pg_sys::Oid {
    // SAFETY: a syscache lookup with a NUL-terminated name.
    unsafe { pg_sys::get_namespace_oid(c"auth".as_ptr(), true) }
}

/// The relation `auth.<name>` (InvalidOid when there is none); what it is
/// made of is checked by whoever reads it (`lookup.rs`).
fn table(auth: pg_sys::Oid, name: &str) -> pg_sys::Oid {
    if auth == pg_sys::InvalidOid {
        return pg_sys::InvalidOid;
    }
    let name = nul_terminated(name);
    // SAFETY: a syscache lookup with a NUL-terminated name and a valid OID.
    unsafe { pg_sys::get_relname_relid(name.as_ptr().cast(), auth) }
}

/// The enum type `auth.aal_level` (InvalidOid when there is none).
pub fn aal_type(auth: pg_sys::Oid) -> pg_sys::Oid {
    if auth == pg_sys::InvalidOid {
        return pg_sys::InvalidOid;
    }
    // SAFETY: syscache lookups by (name, namespace) and by OID.
    unsafe {
        let oid = pg_sys::GetSysCacheOid(
            pg_sys::SysCacheIdentifier::TYPENAMENSP as i32,
            pg_sys::Anum_pg_type_oid as pg_sys::AttrNumber,
            pg_sys::Datum::from(c"aal_level".as_ptr()),
            pg_sys::Datum::from(auth),
            pg_sys::Datum::from(0),
            pg_sys::Datum::from(0),
        );
        if oid != pg_sys::InvalidOid && pg_sys::get_typtype(oid) == pg_sys::TYPTYPE_ENUM as std::ffi::c_char {
            oid
        } else {
            pg_sys::InvalidOid
        }
    }
}

/// GoTrue's objects as the catalog has them now: the OIDs of those present.
fn present() -> Vec<(Object, pg_sys::Oid)> {
    let auth = auth_schema();
    OBJECTS
        .iter()
        .map(|o| (*o, if o.is_type { aal_type(auth) } else { table(auth, o.name) }))
        .filter(|(_, oid)| *oid != pg_sys::InvalidOid)
        .collect()
}

/// What is missing now (empty when GoTrue's tables are complete).
pub fn missing_now() -> Vec<String> {
    let found = present();
    let oid = |name: &str| found.iter().find(|(o, _)| o.name == name).map(|(_, oid)| *oid);
    missing(
        |o| oid(o.name).is_some(),
        |c| {
            let Some(rel) = oid(c.table) else { return false };
            let name = nul_terminated(c.name);
            // SAFETY: a syscache lookup with a valid relation OID and a
            // NUL-terminated name.
            unsafe { pg_sys::get_attnum(rel, name.as_ptr().cast()) > 0 }
        },
    )
}

/// Raises SQLSTATE 55000 naming what is missing, unless nothing is.
pub fn require_complete() {
    let missing = missing_now();
    if !missing.is_empty() {
        pgrx::pg_sys::panic::ErrorReport::new(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            waiting_message(&missing),
            "auth_sessions::attach",
        )
        .set_detail(WAITING_DETAIL)
        .set_hint(WAITING_HINT)
        .report(PgLogLevel::ERROR);
    }
}

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
fn as_extension_owner(statement: &str) {
    let owner = extension_owner().unwrap_or_else(security::current_user);
    security::as_role(owner, || security::pinned(&[], || Spi::run(statement)))
        .unwrap_or_else(|e| crate::lookup::spi_failed(&format!("running {statement} as {}", role_name(owner)), e));
}

/// The administration functions and procedure: what the owner of GoTrue's
/// tables is granted (see [`grant_administration`]).
const ADMINISTRATION: [&str; 16] = [
    "FUNCTION auth.create_session(uuid, text, uuid, timestamptz, text, inet, text)",
    "FUNCTION auth.refresh_session(uuid, text, inet)",
    "FUNCTION auth.revoke_session(uuid)",
    "FUNCTION auth.revoke_user_sessions(uuid, text, uuid)",
    "FUNCTION auth.user_sessions(uuid)",
    "FUNCTION auth.set_session_aal(uuid, text, uuid, text)",
    "FUNCTION auth.session_validity(uuid, timestamptz)",
    "FUNCTION auth.session_is_valid(uuid, timestamptz)",
    "FUNCTION auth.session_row_validity(record, timestamptz)",
    "FUNCTION auth.session_stats()",
    "FUNCTION auth.prune_sessions(integer, interval)",
    "FUNCTION auth.prune_refresh_tokens(integer, interval)",
    "FUNCTION auth.prune_step(integer, interval, interval)",
    "FUNCTION auth.prune_pause(timestamptz, timestamptz)",
    "FUNCTION auth.prune_restart()",
    "PROCEDURE auth.prune_expired_sessions(integer, interval, interval, interval, bigint, bigint, integer, interval, interval)",
];

/// The rule of who administers sessions (SECURITY.md): the role that owns
/// GoTrue's tables (on Supabase `supabase_auth_admin`, which owns even the
/// two that Supabase's init scripts make before GoTrue first starts), and so
/// every member of it (`postgres`), may call the administration
/// functions, read `auth.prune_state` (for `session_stats()`), and (PostgreSQL
/// 15 and later) set the per-database settings (`ALTER DATABASE ... SET`).
/// Each of them does only what that role may do by hand on its own tables
/// (pruning acts as it). Nothing is granted to a superuser owner (the
/// standalone mode's tables), who needs none. Only what the role lacks is
/// granted, so that attaching again (every DDL command on GoTrue's tables,
/// a parallel restore's included) writes nothing.
fn grant_administration(owner: pg_sys::Oid) {
    // SAFETY: a catalog lookup by OID.
    if owner == pg_sys::InvalidOid || unsafe { pg_sys::superuser_arg(owner) } {
        return;
    }
    let has = |check: String| {
        security::pinned(&[], || Spi::get_one_with_args::<bool>(&format!("SELECT {check}"), &[DatumWithOid::from(owner)]))
            .unwrap_or_else(|e| crate::lookup::spi_failed("reading privileges", e))
            == Some(true)
    };
    let role = quoted(&role_name(owner));
    let functions: Vec<&str> = ADMINISTRATION
        .iter()
        .copied()
        .filter(|f| {
            let signature = f.split_once(' ').map_or(*f, |(_, s)| s);
            !has(format!("pg_catalog.has_function_privilege($1, '{signature}', 'EXECUTE')"))
        })
        .collect();
    let prune_state = !has("pg_catalog.has_table_privilege($1, 'auth.prune_state', 'SELECT')".into());
    let settings: Vec<String> = setting_names()
        .into_iter()
        .filter(|name| !has(format!("pg_catalog.has_parameter_privilege($1, '{name}', 'SET')")))
        .collect();
    not_initial_privileges(|| {
        for f in functions {
            as_extension_owner(&format!("GRANT EXECUTE ON {f} TO {role}"));
        }
        if prune_state {
            as_extension_owner(&format!("GRANT SELECT ON TABLE auth.prune_state TO {role}"));
        }
        if !settings.is_empty() {
            as_extension_owner(&format!("GRANT SET ON PARAMETER {} TO {role}", settings.join(", ")));
        }
    });
}

/// The per-database settings (`settings::PROTECTED`), whose SET is granted.
#[cfg(not(any(feature = "pg13", feature = "pg14")))]
fn setting_names() -> Vec<String> {
    crate::settings::PROTECTED.iter().map(|n| n.to_string_lossy().into_owned()).collect()
}

/// PostgreSQL 13 and 14 have no privileges on settings: a superuser sets them.
#[cfg(any(feature = "pg13", feature = "pg14"))]
fn setting_names() -> Vec<String> {
    Vec::new()
}

/// Runs `f` (GRANTs) so that PostgreSQL does not record what it grants as
/// the extension's initial privileges, even inside CREATE or ALTER EXTENSION:
/// a grant made when attaching is the database's (pg_dump writes it, and a
/// restore makes it again), and inside ALTER EXTENSION ... UPDATE recording
/// would take the whole ACL, the grants users made since the install
/// included, for initial privileges, which pg_dump then leaves out.
fn not_initial_privileges(f: impl FnOnce()) {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: puts back the backend-local flag read below.
            unsafe { pg_sys::creating_extension = self.0 }
        }
    }
    // SAFETY: `creating_extension` is a backend-local flag that PostgreSQL
    // reads to decide, among other things, whether a GRANT is recorded in
    // pg_init_privs; the GRANTs run here create no object (whose membership
    // the flag would also decide). It is put back on return and on an ERROR
    // unwinding through here (CREATE/ALTER EXTENSION also reset it when
    // their script fails).
    let _restore = Restore(unsafe { pg_sys::creating_extension });
    // SAFETY: as above.
    unsafe { pg_sys::creating_extension = false };
    f();
}

/// A role name quoted as an identifier.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Grants the owners of GoTrue's tables, those there already, the
/// administration rights ([`grant_administration`]); then, when the tables
/// are complete, puts the limit trigger on `auth.sessions` if it has none by
/// that name. False while they are not complete (waiting).
pub fn attach() -> bool {
    let mut owners: Vec<pg_sys::Oid> =
        present().into_iter().filter(|(o, _)| !o.is_type).map(|(_, rel)| security::owner_of(rel)).collect();
    owners.sort_by_key(|o| o.to_u32());
    owners.dedup();
    for owner in owners {
        grant_administration(owner);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_missing_when_all_present() {
        assert!(missing(|_| true, |_| true).is_empty());
    }

    #[test]
    fn an_empty_schema_lists_the_objects_only() {
        assert_eq!(
            missing(|_| false, |_| false),
            vec!["auth.aal_level", "auth.users", "auth.sessions", "auth.refresh_tokens", "auth.mfa_amr_claims"]
        );
    }

    #[test]
    fn supabase_init_scripts_leave_sessions_type_and_claims_and_a_column() {
        // Supabase's init scripts: users and refresh_tokens (without session_id).
        let present = ["users", "refresh_tokens"];
        assert_eq!(
            missing(|o| present.contains(&o.name), |c| c.table == "refresh_tokens" && c.name != "session_id"),
            vec![
                "auth.aal_level",
                "auth.sessions",
                "auth.mfa_amr_claims",
                "auth.refresh_tokens.session_id (uuid)"
            ]
        );
    }

    #[test]
    fn half_way_lists_the_columns_still_to_come() {
        assert_eq!(
            missing(|_| true, |c| !(c.table == "sessions" && c.name == "refreshed_at")),
            vec!["auth.sessions.refreshed_at (timestamp without time zone)"]
        );
    }

    #[test]
    fn a_missing_enum_type_hides_the_column_of_that_type() {
        assert_eq!(missing(|o| !o.is_type, |c| c.type_ != ColumnType::AalLevel), vec!["auth.aal_level"]);
    }

    #[test]
    fn the_message_names_everything() {
        let m = waiting_message(&["auth.sessions".into(), "auth.mfa_amr_claims".into()]);
        assert_eq!(m, "auth_sessions is waiting for GoTrue's tables: auth.sessions, auth.mfa_amr_claims missing");
    }
}
