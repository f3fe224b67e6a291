//! Who administers sessions: the grants to the owner of GoTrue's tables.

use super::as_extension_owner;
use crate::ffi::role_name;
use crate::security;
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::prelude::*;

/// The administration functions and procedure (routines, for GRANT): what
/// the owner of GoTrue's tables is granted (see [`grant_administration`]).
const ADMINISTRATION: [&str; 16] = [
    "auth.create_session(uuid, text, uuid, timestamptz, text, inet, text)",
    "auth.refresh_session(uuid, text, inet)",
    "auth.revoke_session(uuid)",
    "auth.revoke_user_sessions(uuid, text, uuid)",
    "auth.user_sessions(uuid)",
    "auth.set_session_aal(uuid, text, uuid, text)",
    "auth.session_validity(uuid, timestamptz)",
    "auth.session_is_valid(uuid, timestamptz)",
    "auth.session_row_validity(record, timestamptz)",
    "auth.session_stats()",
    "auth.prune_sessions(integer, interval)",
    "auth.prune_refresh_tokens(integer, interval)",
    "auth.prune_step(integer, interval, interval)",
    "auth.prune_pause(timestamptz, timestamptz)",
    "auth.prune_restart()",
    "auth.prune_expired_sessions(integer, interval, interval, interval, bigint, bigint, integer, interval, interval)",
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
pub(super) fn grant_administration(owner: pg_sys::Oid) {
    // SAFETY: a catalog lookup by OID.
    if owner == pg_sys::InvalidOid || unsafe { pg_sys::superuser_arg(owner) } {
        return;
    }
    // Which of `names` `owner` lacks `check`ed, in one query.
    let lacking = |check: &str, names: Vec<String>| -> Vec<String> {
        if names.is_empty() {
            return names;
        }
        let query = format!(
            "SELECT pg_catalog.array_agg(n) FROM pg_catalog.unnest($2::pg_catalog.text[]) AS n WHERE NOT {check}"
        );
        security::pinned(&[], || {
            Spi::get_one_with_args::<Vec<String>>(&query, &[DatumWithOid::from(owner), DatumWithOid::from(names)])
        })
        .unwrap_or_else(|e| crate::lookup::spi_failed("reading privileges", e))
        .unwrap_or_default()
    };
    let role = quoted(&role_name(owner));
    let routines = lacking(
        "pg_catalog.has_function_privilege($1, n, 'EXECUTE')",
        ADMINISTRATION.iter().map(|r| r.to_string()).collect(),
    );
    let prune_state = lacking("pg_catalog.has_table_privilege($1, n, 'SELECT')", vec!["auth.prune_state".into()]);
    let settings = lacking("pg_catalog.has_parameter_privilege($1, n, 'SET')", setting_names());
    not_initial_privileges(|| {
        if !routines.is_empty() {
            as_extension_owner(&format!("GRANT EXECUTE ON ROUTINE {} TO {role}", routines.join(", ")));
        }
        if !prune_state.is_empty() {
            as_extension_owner(&format!("GRANT SELECT ON TABLE auth.prune_state TO {role}"));
        }
        if !settings.is_empty() {
            as_extension_owner(&format!("GRANT SET ON PARAMETER {} TO {role}", settings.join(", ")));
        }
    });
}

/// The per-database settings (`settings::PROTECTED`), whose SET is granted
/// (none before PostgreSQL 15, which has no privileges on settings: a
/// superuser sets them).
fn setting_names() -> Vec<String> {
    if !crate::versions::SETTING_PRIVILEGES {
        return Vec::new();
    }
    crate::settings::PROTECTED.iter().map(|n| n.to_string_lossy().into_owned()).collect()
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
