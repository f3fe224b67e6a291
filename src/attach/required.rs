//! What the extension reads of GoTrue's schema, and what of it is missing:
//! the rule (pure, unit-tested) and the catalog it is checked against.

use pgrx::pg_sys;
use pgrx::prelude::*;

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
/// `lookup::catalog`). A column
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

pub(super) fn nul_terminated(name: &str) -> Vec<u8> {
    let mut bytes = name.as_bytes().to_vec();
    bytes.push(0);
    bytes
}

/// The schema `auth` (InvalidOid when there is none).
pub fn auth_schema() -> pg_sys::Oid {
    // SAFETY: a syscache lookup with a NUL-terminated name.
    unsafe { pg_sys::get_namespace_oid(c"auth".as_ptr(), true) }
}

/// The relation `auth.<name>` (InvalidOid when there is none); what it is
/// made of is checked by whoever reads it (`lookup::catalog`).
pub fn table(auth: pg_sys::Oid, name: &str) -> pg_sys::Oid {
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
pub(super) fn present() -> Vec<(Object, pg_sys::Oid)> {
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
        crate::errors::error(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            waiting_message(&missing),
            "auth_sessions::attach",
        )
        .detail(WAITING_DETAIL)
        .hint(WAITING_HINT)
        .raise();
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
