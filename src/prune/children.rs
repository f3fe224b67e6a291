//! Step 3's children: the refresh tokens and amr claims of a batch's
//! sessions, taken as the foreign keys' cascades would take them, and
//! whether those cascades may be done by hand (mod.rs tells both forms).

use crate::ffi::{list_cells, triggers, Opened};
use crate::lookup::{self, Catalog};
use crate::security;
use crate::statements::run;
use pgrx::datum::Uuid;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use std::collections::HashSet;

/// The children of the batch's sessions in one table, found through its
/// `session_id` index and taken by ctid `FOR UPDATE SKIP LOCKED` (and, with
/// `$delete`, deleted); the statement returns the sessions with a child it
/// could not take (held by another transaction, or changed since it was
/// found): they stay for a later batch. Run as the table's owner, as the
/// foreign key's cascade would run.
///
/// Nothing can add a child to a session this batch holds `FOR UPDATE` (the
/// foreign-key check of an insert needs `FOR KEY SHARE` on it), so under READ
/// COMMITTED, where this statement's snapshot is newer than the sessions'
/// locks, it sees every child the sessions will ever have.
macro_rules! children {
    ($table:literal) => {
        concat!(
            "WITH found AS (SELECT c.ctid AS t, c.session_id FROM ONLY ", $table, " c \
                 WHERE c.session_id OPERATOR(pg_catalog.=) ANY($1)), \
             taken AS (SELECT c.ctid AS t FROM ONLY ", $table, " c \
                 WHERE c.ctid OPERATOR(pg_catalog.=) ANY(ARRAY(SELECT f.t FROM found f)) FOR UPDATE SKIP LOCKED) \
             SELECT f.session_id FROM found f WHERE NOT EXISTS (SELECT FROM taken k WHERE k.t OPERATOR(pg_catalog.=) f.t)"
        )
    };
    ($table:literal, delete) => {
        concat!(
            "WITH found AS (SELECT c.ctid AS t, c.session_id FROM ONLY ", $table, " c \
                 WHERE c.session_id OPERATOR(pg_catalog.=) ANY($1)), \
             taken AS (SELECT c.ctid AS t FROM ONLY ", $table, " c \
                 WHERE c.ctid OPERATOR(pg_catalog.=) ANY(ARRAY(SELECT f.t FROM found f)) FOR UPDATE SKIP LOCKED), \
             deleted AS (DELETE FROM ONLY ", $table, " c WHERE c.ctid OPERATOR(pg_catalog.=) ANY(ARRAY(SELECT k.t FROM taken k))) \
             SELECT f.session_id FROM found f WHERE NOT EXISTS (SELECT FROM taken k WHERE k.t OPERATOR(pg_catalog.=) f.t)"
        )
    };
}
const LOCK_TOKENS: &str = children!("auth.refresh_tokens");
const LOCK_CLAIMS: &str = children!("auth.mfa_amr_claims");
const DELETE_TOKENS_OF: &str = children!("auth.refresh_tokens", delete);
const DELETE_CLAIMS_OF: &str = children!("auth.mfa_amr_claims", delete);

fn uuids(ids: &[[u8; 16]]) -> Vec<Uuid> {
    ids.iter().map(|b| Uuid::from_bytes(*b)).collect()
}

/// Whether `constraint` is a foreign key of `child` from its `session_id`
/// (alone) to `sessions.id`.
fn is_session_key(cat: &Catalog, child: &lookup::Child, constraint: pg_sys::Oid) -> bool {
    let rel = Opened::table(child.rel, pg_sys::AccessShareLock);
    // SAFETY: RelationGetFKeyList returns the relcache's list of
    // ForeignKeyCacheInfo nodes, valid while the relation is open.
    unsafe {
        list_cells(pg_sys::RelationGetFKeyList(rel.rel())).iter().any(|cell| {
            let fk = &*cell.ptr_value.cast::<pg_sys::ForeignKeyCacheInfo>();
            fk.conoid == constraint
                && fk.confrelid == cat.sessions.rel
                && fk.nkeys == 1
                && fk.conkey[0] == child.session_id
                && fk.confkey[0] == cat.sessions.id
        })
    }
}

/// Whether deleting the children first, by hand, and then the sessions
/// without their triggers is exactly what the sessions' own `DELETE` would
/// do, so that the delete may skip its triggers:
///
/// - READ COMMITTED (see the children statements), and the caller may
///   delete sessions with no row security applying to it (a policy could
///   keep some sessions, whose children must then stay);
/// - no rule on `auth.sessions`, and the only triggers that fire on its
///   deletes are the cascades of the foreign keys `refresh_tokens(session_id)`
///   and `mfa_amr_claims(session_id)` to `sessions(id)`, `ON DELETE CASCADE`,
///   one each (checked by columns, not names).
///
/// Any other trigger (an audit trigger, a soft delete, another table's or
/// column's foreign key), a foreign key that sets NULL or restricts, or a
/// missing one keeps the ordinary path, where every trigger fires.
///
/// `auth.sessions` is locked here in RowExclusiveLock, as the delete that
/// follows would lock it, so that no trigger or foreign key can be added
/// between this check and the delete (both need a conflicting lock).
pub(super) fn cascades_done_by_hand(cat: &Catalog) -> bool {
    // SAFETY: reads the backend's isolation level; catalog lookups for the
    // current user.
    unsafe {
        if pg_sys::XactIsoLevel >= pg_sys::XACT_REPEATABLE_READ as i32
            || pg_sys::pg_class_aclcheck(cat.sessions.rel, pg_sys::GetUserId(), pg_sys::ACL_DELETE as pg_sys::AclMode)
                != pg_sys::AclResult::ACLCHECK_OK
        {
            return false;
        }
    }
    if security::row_security_applies(cat.sessions.rel) {
        return false;
    }
    // Locked as the DELETE that follows would lock it, to the end of the
    // transaction.
    let rel = Opened::table(cat.sessions.rel, pg_sys::RowExclusiveLock);
    // SAFETY: the relation is open; its relcache entry and trigger array
    // are valid while it is.
    let (has_rules, triggers) = unsafe { ((*(*rel.rel()).rd_rel).relhasrules, triggers(rel.rel())) };
    if has_rules {
        return false;
    }
    let mut cascades: Vec<pg_sys::Oid> = Vec::with_capacity(2);
    for t in triggers {
        if (t.tgtype as u32 & pg_sys::TRIGGER_TYPE_DELETE) == 0
            || t.tgenabled == pg_sys::TRIGGER_DISABLED as std::ffi::c_char
        {
            continue;
        }
        let child = [cat.tokens, cat.claims].into_iter().find(|c| c.rel == t.tgconstrrelid);
        let cascade = t.tgisinternal
            && t.tgfoid == pg_sys::Oid::from(pg_sys::F_RI_FKEY_CASCADE_DEL)
            && child.is_some_and(|c| is_session_key(cat, &c, t.tgconstraint));
        if !cascade {
            return false;
        }
        cascades.push(t.tgconstrrelid);
    }
    // Exactly one cascade from each child table.
    cascades.len() == 2 && cascades.contains(&cat.tokens.rel) && cascades.contains(&cat.claims.rel)
}

/// Runs `f` as a replica would (`session_replication_role = replica`), so
/// that the ordinary (origin) triggers, the foreign-key cascades among them,
/// do not fire. Only for a statement on `auth.sessions` once
/// `cascades_done_by_hand` has said yes.
///
/// The role is switched directly rather than through the setting, whose
/// assign hook flushes the backend's whole plan cache (twice a batch): the
/// flush is there because a rule may fire only as origin or as replica, and
/// `auth.sessions` has no rules (checked), so no plan depends on the role.
pub(super) fn as_replica<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(std::ffi::c_int);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: puts back the value read below, on return and on an
            // ERROR unwinding through here alike.
            unsafe { pg_sys::SessionReplicationRole = self.0 }
        }
    }
    // SAFETY: a backend-local variable, read by the trigger code of the
    // statement `f` runs; restored by `Restore` however `f` ends.
    let _restore = unsafe {
        let saved = Restore(pg_sys::SessionReplicationRole);
        pg_sys::SessionReplicationRole = pg_sys::SESSION_REPLICATION_ROLE_REPLICA as std::ffi::c_int;
        saved
    };
    f()
}

/// How a batch's children were taken (for the DEBUG1 report of a batch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ChildrenTaken {
    /// Deleted by hand through their `session_id` indexes (direct.rs).
    Directly,
    /// Deleted by hand by SQL statements.
    BySql,
    /// Locked by SQL; the sessions' DELETE fires the foreign keys' actions.
    ByCascade,
}

/// Step 3 for the sessions `ids`: their children are taken (deleted when
/// `delete`, else only locked) as the foreign keys' cascades would take them,
/// as each table's owner; returns the sessions with a child someone else holds.
pub(super) fn take_children(
    client: &mut SpiClient<'_>,
    cat: &Catalog,
    ids: &[[u8; 16]],
    delete: bool,
) -> Result<(HashSet<[u8; 16]>, ChildrenTaken), pgrx::spi::Error> {
    if delete {
        if let Some(blocked) = super::direct::delete_children(cat, ids) {
            return Ok((blocked, ChildrenTaken::Directly));
        }
    }
    let mut blocked = HashSet::new();
    for (child, lock, delete_sql) in [(cat.tokens, LOCK_TOKENS, DELETE_TOKENS_OF), (cat.claims, LOCK_CLAIMS, DELETE_CLAIMS_OF)] {
        let query = if delete { delete_sql } else { lock };
        let rows = security::as_owner(child.rel, || run(client, query, &[uuids(ids).into()]))?;
        for row in rows {
            if let Some(id) = row.get::<Uuid>(1)? {
                blocked.insert(*id);
            }
        }
    }
    Ok((blocked, if delete { ChildrenTaken::BySql } else { ChildrenTaken::ByCascade }))
}
