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
//! - every statement of PostgreSQL's grammar that changes a member relation
//!   (a table, the sequence, a composite type's relation), its columns or its
//!   constraints, whatever object kind it names (PostgreSQL accepts `ALTER
//!   VIEW`, `ALTER INDEX`, ... on a table): `AlterTableStmt` (but for the
//!   subcommands that change no definition pg_dump needs: ENABLE/DISABLE/
//!   FORCE/NO FORCE ROW LEVEL SECURITY, ENABLE/DISABLE TRIGGER), `RenameStmt`
//!   of the relation, a column or attribute, or a table constraint,
//!   `AlterObjectSchemaStmt`, `AlterSeqStmt`;
//! - every statement that changes a member type (`auth.aal_level`,
//!   `auth.created_session`) or a member table's row type: `AlterEnumStmt`
//!   (ADD/RENAME VALUE), `AlterTypeStmt`, `RenameStmt`, `AlterObjectSchemaStmt`
//!   and `AlterOwnerStmt` of a type;
//! - `CREATE TABLE [AS] IF NOT EXISTS` naming a member table in the schema
//!   the command would create it in (what GoTrue's first migration does: it
//!   would skip the table and then fail half-way, so it is stopped at its
//!   first statement with a message that says what to do). The name is
//!   resolved as the command resolves it, never through the rest of the
//!   search path.
//!
//! The event trigger fires for every command tag, so none of these escapes it
//! by being filed under another tag.
//!
//! `CREATE INDEX`, `CREATE TRIGGER`, `CREATE RULE` and `CREATE POLICY` on a member table lose
//! no rows, but pg_dump does not keep them either (PostgreSQL 15 dumps
//! neither for extension members): they go ahead with a WARNING saying so.
//! Grants are kept by pg_dump and pass silently. The extension's own scripts
//! (CREATE/ALTER EXTENSION) are not affected. In attach mode GoTrue's tables are not members, so nothing
//! GoTrue or its users do to them is refused; only `auth.prune_state` is.

use crate::ffi::{list_cells, relation_name, type_name};
use pgrx::pg_sys;
use pgrx::prelude::*;

/// The extension of ours that `object` (of catalog `class`) belongs to.
fn member_of(class: pg_sys::Oid, object: pg_sys::Oid) -> Option<&'static str> {
    if object == pg_sys::InvalidOid {
        return None;
    }
    // SAFETY: catalog lookups by OID and by NUL-terminated names.
    let ext = unsafe { pg_sys::getExtensionOfObject(class, object) };
    if ext == pg_sys::InvalidOid {
        return None;
    }
    [c"auth_sessions", c"auth_sessions_gotrue"]
        .into_iter()
        // SAFETY: as above.
        .find(|name| unsafe { pg_sys::get_extension_oid(name.as_ptr(), true) } == ext)
        .map(|name| if name == c"auth_sessions" { "auth_sessions" } else { "auth_sessions_gotrue" })
}

/// The extension that owns relation `relid` (a table, a sequence, or the
/// relation of a composite type), when it is one of ours.
fn ours(relid: pg_sys::Oid) -> Option<&'static str> {
    if relid == pg_sys::InvalidOid {
        return None;
    }
    // SAFETY: a syscache lookup of the relation's row type.
    member_of(pg_sys::RelationRelationId, relid)
        .or_else(|| member_of(pg_sys::TypeRelationId, unsafe { pg_sys::get_rel_type_id(relid) }))
}

/// The extension that owns type `typid` (or the table whose row type it
/// is), when it is one of ours.
fn our_type(typid: pg_sys::Oid) -> Option<&'static str> {
    if typid == pg_sys::InvalidOid {
        return None;
    }
    // SAFETY: a syscache lookup of the type's relation (InvalidOid for a
    // type that is not a row type).
    member_of(pg_sys::TypeRelationId, typid).or_else(|| ours(unsafe { pg_sys::get_typ_typrelid(typid) }))
}

/// The relation a RangeVar names, if it exists (no lock: this only decides
/// whether to refuse, before the command takes its own locks), resolved as
/// the command that names an existing relation will resolve it.
fn relation(rv: *mut pg_sys::RangeVar) -> pg_sys::Oid {
    if rv.is_null() {
        return pg_sys::InvalidOid;
    }
    // SAFETY: `rv` is a RangeVar of the statement's parse tree; with
    // RVR_MISSING_OK a missing relation gives InvalidOid, not an error.
    unsafe { pg_sys::RangeVarGetRelidExtended(rv, pg_sys::NoLock as pg_sys::LOCKMODE, pg_sys::RVROption::RVR_MISSING_OK, None, std::ptr::null_mut()) }
}

/// The relation that a `CREATE ... IF NOT EXISTS` of `rv` would find
/// already there: the name in the schema the command would create it in
/// (the first schema of the search path that exists, or the one named),
/// never a match further down the search path. A temporary relation is
/// never one of ours.
fn created_relation(rv: *mut pg_sys::RangeVar) -> pg_sys::Oid {
    // SAFETY: `rv` is a RangeVar of the statement's parse tree. The creation
    // namespace is looked up as the command will look it up (and fails as
    // the command would, when there is none).
    unsafe {
        if rv.is_null() || (*rv).relpersistence as u8 == pg_sys::RELPERSISTENCE_TEMP {
            return pg_sys::InvalidOid;
        }
        let namespace = pg_sys::RangeVarGetCreationNamespace(rv);
        pg_sys::get_relname_relid((*rv).relname, namespace)
    }
}

/// The type a RangeVar names (`ALTER TYPE t ... ATTRIBUTE` names its type
/// as a relation), if it exists.
fn type_of(rv: *mut pg_sys::RangeVar) -> pg_sys::Oid {
    if rv.is_null() {
        return pg_sys::InvalidOid;
    }
    // SAFETY: `rv` is a RangeVar of the statement's parse tree; the list of
    // String nodes built from its names is what the grammar would build.
    unsafe {
        let mut names = std::ptr::null_mut();
        for part in [(*rv).schemaname, (*rv).relname] {
            if !part.is_null() {
                names = pg_sys::lappend(names, pg_sys::makeString(part).cast());
            }
        }
        named_type(names.cast())
    }
}

/// The type a list of names (`schema.name` or `name`) names, if it exists.
fn named_type(names: *mut pg_sys::Node) -> pg_sys::Oid {
    if names.is_null() {
        return pg_sys::InvalidOid;
    }
    // SAFETY: `names` is the statement's List of String nodes naming a type;
    // with missing_ok a missing type or schema gives InvalidOid.
    unsafe {
        let type_name = pg_sys::makeTypeNameFromNameList(names.cast());
        pg_sys::LookupTypeNameOid(std::ptr::null_mut(), type_name, true)
    }
}

/// Whether every subcommand of an ALTER TABLE leaves alone what pg_dump
/// would have to describe.
///
/// SAFETY: `cmds` is the statement's List of AlterTableCmd nodes.
#[allow(non_upper_case_globals)]
unsafe fn harmless(cmds: *mut pg_sys::List) -> bool {
    use pg_sys::AlterTableType::*;
    // SAFETY: the statement's List, each cell an AlterTableCmd.
    let cells = unsafe { list_cells(cmds) };
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

/// What a refused command would change.
enum Target {
    Relation(pg_sys::Oid),
    Type(pg_sys::Oid),
}

fn refuse(target: Target, extension: &str, gotrue_migration: bool) -> ! {
    let (what, is_type) = match target {
        Target::Relation(relid) => (relation_name(relid), false),
        Target::Type(typid) => (format!("type {}", type_name(typid)), true),
    };
    let (message, detail, hint) = if gotrue_migration {
        (
            format!("{what} belongs to extension {extension}; GoTrue's migrations cannot run on it"),
            TABLES_DETAIL,
            "In a database GoTrue (Supabase Auth) manages, let GoTrue's migrations create its tables and attach to them: \
             DROP EXTENSION auth_sessions, run all of GoTrue's migrations, then CREATE EXTENSION auth_sessions_gotrue."
                .to_string(),
        )
    } else if is_type {
        (
            format!("cannot change the definition of {what}: it belongs to extension {extension}"),
            "pg_dump writes an extension's types as one CREATE EXTENSION, so a change made to them afterwards is not \
             in the dump, and rows that depend on it could not be restored.",
            "The extension's types change only through its own scripts (ALTER EXTENSION ... UPDATE).".to_string(),
        )
    } else if what == "auth.prune_state" {
        (
            format!("cannot change the definition of {what}: it belongs to extension {extension}"),
            TABLES_DETAIL,
            "It is the extension's own record of pruning, changed only by the extension's scripts.".to_string(),
        )
    } else {
        (
            format!("cannot change the definition of {what}: it belongs to extension {extension}"),
            TABLES_DETAIL,
            format!(
                "Keep extra data in a table of your own that references {what}; where GoTrue manages the auth tables, \
                 use auth_sessions_gotrue, which leaves them ordinary tables."
            ),
        )
    };
    crate::errors::error(PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED, message, "auth_sessions::guard")
        .detail(detail)
        .hint(hint)
        .raise()
}

const TABLES_DETAIL: &str = "pg_dump writes an extension's tables as one CREATE EXTENSION, so a change to their definition \
     made afterwards is not in the dump, and their rows could not be restored.";

fn warn(relid: pg_sys::Oid, extension: &str, what: &str) {
    let table = relation_name(relid);
    crate::errors::error(
        PgSqlErrorCode::ERRCODE_WARNING,
        format!("pg_dump will not keep this {what}: {table} belongs to extension {extension}"),
        "auth_sessions::guard",
    )
    .detail("pg_dump writes an extension's tables as one CREATE EXTENSION, without what was added to them afterwards.")
    .hint("Create it again after restoring a dump, from your own migration scripts; or use auth_sessions_gotrue, whose tables are ordinary ones.")
    .warn();
}

/// The event trigger function (`ddl_command_start`).
#[pg_extern(sql = r#"
CREATE FUNCTION auth.refuse_lost_ddl() RETURNS event_trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'refuse_lost_ddl_wrapper';
"#)]
fn refuse_lost_ddl(fcinfo: pg_sys::FunctionCallInfo) {
    // The extension's own scripts, and pg_upgrade (whose binary-upgrade
    // restore recreates the tables piece by piece, exactly as they were).
    let Some(context) = crate::ffi::event_trigger_call(fcinfo, "auth.refuse_lost_ddl()") else { return };
    // SAFETY: the context is the call's EventTriggerData; it carries the
    // statement's parse tree, whose nodes are read by their tags.
    unsafe {
        let tree = (*context).parsetree;
        if tree.is_null() {
            return;
        }
        use pg_sys::ObjectType::*;
        // Every statement of PostgreSQL's grammar that changes a relation, its
        // columns or constraints, or a type, whatever object kind it names
        // (ALTER VIEW, ALTER INDEX, ... are accepted on a table), and the
        // forms of CREATE ... IF NOT EXISTS.
        let (target, gotrue_migration) = match (*tree).type_ {
            pg_sys::NodeTag::T_AlterTableStmt => {
                // ALTER TABLE/INDEX/SEQUENCE/VIEW/MATERIALIZED VIEW/FOREIGN
                // TABLE, ALTER TYPE ... ADD/DROP/ALTER/RENAME ATTRIBUTE.
                let stmt = tree as *mut pg_sys::AlterTableStmt;
                if harmless((*stmt).cmds) {
                    return;
                }
                match (*stmt).objtype {
                    OBJECT_TYPE if our_type(type_of((*stmt).relation)).is_some() => {
                        (Target::Type(type_of((*stmt).relation)), false)
                    }
                    _ => (Target::Relation(relation((*stmt).relation)), false),
                }
            }
            pg_sys::NodeTag::T_RenameStmt => {
                let stmt = tree as *mut pg_sys::RenameStmt;
                match (*stmt).renameType {
                    // The relation itself, or one of its columns (attributes)
                    // or table constraints, whatever kind the command names.
                    OBJECT_ATTRIBUTE if our_type(type_of((*stmt).relation)).is_some() => {
                        (Target::Type(type_of((*stmt).relation)), false)
                    }
                    OBJECT_TABLE | OBJECT_SEQUENCE | OBJECT_VIEW | OBJECT_MATVIEW | OBJECT_INDEX | OBJECT_FOREIGN_TABLE
                    | OBJECT_COLUMN | OBJECT_ATTRIBUTE | OBJECT_TABCONSTRAINT => {
                        (Target::Relation(relation((*stmt).relation)), false)
                    }
                    OBJECT_TYPE | OBJECT_DOMAIN => (Target::Type(named_type((*stmt).object)), false),
                    _ => return,
                }
            }
            pg_sys::NodeTag::T_AlterObjectSchemaStmt => {
                let stmt = tree as *mut pg_sys::AlterObjectSchemaStmt;
                match (*stmt).objectType {
                    OBJECT_TABLE | OBJECT_SEQUENCE | OBJECT_VIEW | OBJECT_MATVIEW | OBJECT_FOREIGN_TABLE => {
                        (Target::Relation(relation((*stmt).relation)), false)
                    }
                    OBJECT_TYPE | OBJECT_DOMAIN => (Target::Type(named_type((*stmt).object)), false),
                    _ => return,
                }
            }
            pg_sys::NodeTag::T_AlterOwnerStmt => {
                // A table's owner changes through ALTER TABLE (above).
                let stmt = tree as *mut pg_sys::AlterOwnerStmt;
                match (*stmt).objectType {
                    OBJECT_TYPE | OBJECT_DOMAIN => (Target::Type(named_type((*stmt).object)), false),
                    _ => return,
                }
            }
            pg_sys::NodeTag::T_AlterEnumStmt => {
                (Target::Type(named_type((*(tree as *mut pg_sys::AlterEnumStmt)).typeName.cast())), false)
            }
            pg_sys::NodeTag::T_AlterTypeStmt => {
                (Target::Type(named_type((*(tree as *mut pg_sys::AlterTypeStmt)).typeName.cast())), false)
            }
            pg_sys::NodeTag::T_AlterSeqStmt => {
                (Target::Relation(relation((*(tree as *mut pg_sys::AlterSeqStmt)).sequence)), false)
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
                // A restore's CREATE TRIGGER enforce_session_limit, after the
                // extension attached its own (src/attach/).
                crate::attach::make_way_for(relid, tree as *mut pg_sys::CreateTrigStmt);
                if let Some(extension) = ours(relid) {
                    warn(relid, extension, "trigger");
                }
                return;
            }
            pg_sys::NodeTag::T_RuleStmt => {
                let relid = relation((*(tree as *mut pg_sys::RuleStmt)).relation);
                if let Some(extension) = ours(relid) {
                    warn(relid, extension, "rule");
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
                (Target::Relation(created_relation((*stmt).relation)), true)
            }
            pg_sys::NodeTag::T_CreateTableAsStmt => {
                let stmt = tree as *mut pg_sys::CreateTableAsStmt;
                if !(*stmt).if_not_exists || (*stmt).into.is_null() {
                    return;
                }
                (Target::Relation(created_relation((*(*stmt).into).rel)), true)
            }
            _ => return,
        };
        let extension = match target {
            Target::Relation(relid) => ours(relid),
            Target::Type(typid) => our_type(typid),
        };
        if let Some(extension) = extension {
            refuse(target, extension, gotrue_migration);
        }
    }
}
