//! Refuses DDL on the extension's own tables that pg_dump would silently lose.
//!
//! pg_dump writes an extension's member tables as one `CREATE EXTENSION`, and
//! their rows as data; it never describes a member table's definition. So a
//! column someone adds to `auth.sessions` of the standalone extension is not
//! in the dump: the restore creates the table without it, and COPY of the
//! rows fails (then every child row fails its foreign key). An index or a
//! renamed column is lost or breaks the restore the same way. The event
//! trigger `auth_sessions_guard` (created by the install script, a member of
//! the extension) runs this function at `ddl_command_start` and refuses such
//! commands before they do anything:
//!
//! - `ALTER TABLE` on a member table, except the subcommands that change no
//!   definition pg_dump needs (ENABLE/DISABLE/FORCE/NO FORCE ROW LEVEL
//!   SECURITY, ENABLE/DISABLE TRIGGER);
//! - renaming a member table or one of its columns, or moving it to another
//!   schema;
//! - `CREATE TABLE IF NOT EXISTS` naming a member table (what GoTrue's first
//!   migration does: it would skip the table and then fail half-way, so it
//!   is stopped at its first statement with a message that says what to do).
//!
//! `CREATE INDEX`, `CREATE TRIGGER` and `CREATE POLICY` on a member table lose
//! no rows, but pg_dump does not keep them either (PostgreSQL 15 dumps
//! neither for extension members): they go ahead with a WARNING saying so.
//! Grants are kept by pg_dump and pass silently. The extension's own scripts
//! (CREATE/ALTER EXTENSION) are not affected. In attach mode GoTrue's tables are not members, so nothing
//! GoTrue or its users do to them is refused; only `auth.prune_state` is.

use pgrx::pg_sys;
use pgrx::prelude::*;
use std::ffi::CStr;

/// The extension that owns `relid`, when it is one of ours.
fn ours(relid: pg_sys::Oid) -> Option<&'static str> {
    if relid == pg_sys::InvalidOid {
        return None;
    }
    // SAFETY: catalog lookups by OID and by NUL-terminated names.
    let ext = unsafe { pg_sys::getExtensionOfObject(pg_sys::RelationRelationId, relid) };
    if ext == pg_sys::InvalidOid {
        return None;
    }
    [c"auth_sessions", c"auth_sessions_gotrue"]
        .into_iter()
        // SAFETY: as above.
        .find(|name| unsafe { pg_sys::get_extension_oid(name.as_ptr(), true) } == ext)
        .map(|name| if name == c"auth_sessions" { "auth_sessions" } else { "auth_sessions_gotrue" })
}

/// The relation a RangeVar names, if it exists (no lock: this only decides
/// whether to refuse, before the command takes its own locks).
fn relation(rv: *mut pg_sys::RangeVar) -> pg_sys::Oid {
    if rv.is_null() {
        return pg_sys::InvalidOid;
    }
    // SAFETY: `rv` is a RangeVar of the statement's parse tree; with
    // RVR_MISSING_OK a missing relation gives InvalidOid, not an error.
    unsafe { pg_sys::RangeVarGetRelidExtended(rv, pg_sys::NoLock as pg_sys::LOCKMODE, pg_sys::RVROption::RVR_MISSING_OK, None, std::ptr::null_mut()) }
}

fn qualified(relid: pg_sys::Oid) -> String {
    // SAFETY: syscache lookups of an existing relation's names.
    unsafe {
        let nsp = pg_sys::get_namespace_name(pg_sys::get_rel_namespace(relid));
        let rel = pg_sys::get_rel_name(relid);
        if nsp.is_null() || rel.is_null() {
            return format!("relation {}", relid.to_u32());
        }
        format!("{}.{}", CStr::from_ptr(nsp).to_string_lossy(), CStr::from_ptr(rel).to_string_lossy())
    }
}

/// Whether every subcommand of an ALTER TABLE leaves alone what pg_dump
/// would have to describe.
///
/// SAFETY: `cmds` is the statement's List of AlterTableCmd nodes.
#[allow(non_upper_case_globals)]
unsafe fn harmless(cmds: *mut pg_sys::List) -> bool {
    use pg_sys::AlterTableType::*;
    if cmds.is_null() {
        return true;
    }
    // SAFETY: a List's `elements` holds `length` cells, each an AlterTableCmd.
    let cells = unsafe { std::slice::from_raw_parts((*cmds).elements, (*cmds).length as usize) };
    cells.iter().all(|cell| {
        // SAFETY: as above.
        let cmd = unsafe { &*(cell.ptr_value as *const pg_sys::AlterTableCmd) };
        matches!(
            cmd.subtype,
            AT_EnableRowSecurity
                | AT_DisableRowSecurity
                | AT_ForceRowSecurity
                | AT_NoForceRowSecurity
                | AT_EnableTrig
                | AT_EnableAlwaysTrig
                | AT_EnableReplicaTrig
                | AT_DisableTrig
                | AT_EnableTrigAll
                | AT_DisableTrigAll
                | AT_EnableTrigUser
                | AT_DisableTrigUser
        )
    })
}

fn refuse(relid: pg_sys::Oid, extension: &str, gotrue_migration: bool) -> ! {
    let table = qualified(relid);
    let (message, hint) = if gotrue_migration {
        (
            format!("{table} belongs to extension {extension}; GoTrue's migrations cannot run on it"),
            "In a database GoTrue (Supabase Auth) manages, let GoTrue's migrations create its tables and attach to them: \
             DROP EXTENSION auth_sessions, run all of GoTrue's migrations, then CREATE EXTENSION auth_sessions_gotrue."
                .to_string(),
        )
    } else if table == "auth.prune_state" {
        (
            format!("cannot change the definition of {table}: it belongs to extension {extension}"),
            "It is the extension's own record of pruning, changed only by the extension's scripts.".to_string(),
        )
    } else {
        (
            format!("cannot change the definition of {table}: it belongs to extension {extension}"),
            format!(
                "Keep extra data in a table of your own that references {table}; where GoTrue manages the auth tables, \
                 use auth_sessions_gotrue, which leaves them ordinary tables."
            ),
        )
    };
    pgrx::pg_sys::panic::ErrorReport::new(PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED, message, "auth_sessions::guard")
        .set_detail(
            "pg_dump writes an extension's tables as one CREATE EXTENSION, so a change to their definition made \
             afterwards is not in the dump, and their rows could not be restored.",
        )
        .set_hint(hint)
        .report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

fn warn(relid: pg_sys::Oid, extension: &str, what: &str) {
    let table = qualified(relid);
    pgrx::pg_sys::panic::ErrorReport::new(
        PgSqlErrorCode::ERRCODE_WARNING,
        format!("pg_dump will not keep this {what}: {table} belongs to extension {extension}"),
        "auth_sessions::guard",
    )
    .set_detail("pg_dump writes an extension's tables as one CREATE EXTENSION, without what was added to them afterwards.")
    .set_hint("Create it again after restoring a dump, from your own migration scripts; or use auth_sessions_gotrue, whose tables are ordinary ones.")
    .report(PgLogLevel::WARNING);
}

/// The event trigger function (`ddl_command_start`).
#[pg_extern(sql = r#"
CREATE FUNCTION auth.refuse_lost_ddl() RETURNS event_trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'refuse_lost_ddl_wrapper';
"#)]
fn refuse_lost_ddl(fcinfo: pg_sys::FunctionCallInfo) {
    // SAFETY: `fcinfo` is the call's; its context, when an EventTriggerData
    // node, carries the statement's parse tree, whose nodes are read by their
    // tags. The extension's own scripts run with `creating_extension` set.
    unsafe {
        // The extension's own scripts, and pg_upgrade (whose binary-upgrade
        // restore recreates the tables piece by piece, exactly as they were).
        if pg_sys::creating_extension || pg_sys::IsBinaryUpgrade {
            return;
        }
        let context = (*fcinfo).context;
        if context.is_null() || (*context).type_ != pg_sys::NodeTag::T_EventTriggerData {
            ereport!(
                ERROR,
                PgSqlErrorCode::ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED,
                "auth.refuse_lost_ddl() must be called as an event trigger"
            );
        }
        let tree = (*(context as *mut pg_sys::EventTriggerData)).parsetree;
        if tree.is_null() {
            return;
        }
        let (relid, gotrue_migration) = match (*tree).type_ {
            pg_sys::NodeTag::T_AlterTableStmt => {
                let stmt = tree as *mut pg_sys::AlterTableStmt;
                if (*stmt).objtype != pg_sys::ObjectType::OBJECT_TABLE || harmless((*stmt).cmds) {
                    return;
                }
                (relation((*stmt).relation), false)
            }
            pg_sys::NodeTag::T_RenameStmt => {
                let stmt = tree as *mut pg_sys::RenameStmt;
                let on_table = (*stmt).renameType == pg_sys::ObjectType::OBJECT_TABLE
                    || ((*stmt).renameType == pg_sys::ObjectType::OBJECT_COLUMN
                        && (*stmt).relationType == pg_sys::ObjectType::OBJECT_TABLE);
                if !on_table {
                    return;
                }
                (relation((*stmt).relation), false)
            }
            pg_sys::NodeTag::T_AlterObjectSchemaStmt => {
                let stmt = tree as *mut pg_sys::AlterObjectSchemaStmt;
                if (*stmt).objectType != pg_sys::ObjectType::OBJECT_TABLE {
                    return;
                }
                (relation((*stmt).relation), false)
            }
            pg_sys::NodeTag::T_IndexStmt => {
                let relid = relation((*(tree as *mut pg_sys::IndexStmt)).relation);
                if let Some(extension) = ours(relid) {
                    warn(relid, extension, "index");
                }
                return;
            }
            pg_sys::NodeTag::T_CreateTrigStmt => {
                let relid = relation((*(tree as *mut pg_sys::CreateTrigStmt)).relation);
                if let Some(extension) = ours(relid) {
                    warn(relid, extension, "trigger");
                }
                return;
            }
            pg_sys::NodeTag::T_CreatePolicyStmt => {
                let relid = relation((*(tree as *mut pg_sys::CreatePolicyStmt)).table);
                if let Some(extension) = ours(relid) {
                    warn(relid, extension, "policy");
                }
                return;
            }
            pg_sys::NodeTag::T_CreateStmt => {
                let stmt = tree as *mut pg_sys::CreateStmt;
                if !(*stmt).if_not_exists {
                    return;
                }
                (relation((*stmt).relation), true)
            }
            _ => return,
        };
        if let Some(extension) = ours(relid) {
            refuse(relid, extension, gotrue_migration);
        }
    }
}
