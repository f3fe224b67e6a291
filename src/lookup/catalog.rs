//! Finding `auth.sessions`, `auth.refresh_tokens` and `auth.mfa_amr_claims`
//! and checking their shape (plain heap tables, columns of GoTrue's types,
//! indexes found by shape), kept until a relcache invalidation touches them.

use super::factors;
use crate::ffi::Opened;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::Cell;
use std::ffi::CStr;

/// The label of an enum value (an `aal_level` datum); `None` when the OID is
/// not an enum value.
pub fn enum_label(value: pg_sys::Oid) -> Option<String> {
    // SAFETY: a syscache lookup by OID; the tuple is released before return
    // and the label is copied out of it first.
    unsafe {
        let tuple = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::ENUMOID as i32, pg_sys::Datum::from(value));
        if tuple.is_null() {
            return None;
        }
        let form = pg_sys::GETSTRUCT(tuple) as *const pg_sys::FormData_pg_enum;
        let label = CStr::from_ptr((*form).enumlabel.data.as_ptr()).to_string_lossy().into_owned();
        pg_sys::ReleaseSysCache(tuple);
        Some(label)
    }
}

/// An index that can be searched on a table's column: a btree index led by
/// that column, and whether that key is stored descending.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Index {
    pub oid: pg_sys::Oid,
    pub descending: bool,
}

/// `auth.sessions`: its columns (attribute numbers) and usable indexes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Sessions {
    pub rel: pg_sys::Oid,
    pub id: i16,
    pub user_id: i16,
    pub created_at: i16,
    pub not_after: i16,
    pub refreshed_at: i16,
    pub aal: i16,
    pub by_id: Option<Index>,
    pub by_user: Option<Index>,
    pub by_not_after: Option<Index>,
}

/// A table that references sessions by `session_id`: refresh tokens, amr claims.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Child {
    pub rel: pg_sys::Oid,
    pub session_id: i16,
    pub by_session: Option<Index>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Catalog {
    pub sessions: Sessions,
    pub tokens: Child,
    /// `auth.refresh_tokens.updated_at`.
    pub token_updated_at: i16,
    pub claims: Child,
}

impl Catalog {
    fn relations(&self) -> [pg_sys::Oid; 3] {
        [self.sessions.rel, self.tokens.rel, self.claims.rel]
    }

    fn indexes(&self) -> impl Iterator<Item = pg_sys::Oid> {
        [self.sessions.by_id, self.sessions.by_user, self.sessions.by_not_after, self.tokens.by_session, self.claims.by_session]
            .into_iter()
            .flatten()
            .map(|i| i.oid)
    }
}

thread_local! {
    static CATALOG: Cell<Option<Catalog>> = const { Cell::new(None) };
}

/// Relcache invalidation callback: forget what was found when any of the
/// relations or indexes changes (or on a full reset).
#[pg_guard]
unsafe extern "C-unwind" fn invalidate(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    factors::forget(relid);
    CATALOG.with(|c| {
        if let Some(cat) = c.get() {
            if relid == pg_sys::InvalidOid || cat.relations().contains(&relid) || cat.indexes().any(|i| i == relid) {
                c.set(None);
            }
        }
    });
}

/// Registers the invalidation callback; called once from `_PG_init`.
pub fn register() {
    // SAFETY: called once per backend from _PG_init; the callback is a
    // 'static function that only touches this module's thread-local.
    unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(invalidate), pg_sys::Datum::from(0)) }
}

pub(super) fn fail(code: PgSqlErrorCode, message: String, hint: &str) -> ! {
    crate::errors::error(code, message, "auth_sessions::lookup").hint(hint).raise()
}

pub(super) fn missing(what: &str) -> ! {
    fail(
        PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
        format!("auth_sessions: {what} is missing"),
        "auth_sessions creates it; with auth_sessions_gotrue (attach mode), GoTrue's migrations do.",
    )
}

pub(super) fn relid(namespace: pg_sys::Oid, name: &CStr) -> pg_sys::Oid {
    let oid = crate::attach::table(namespace, &name.to_string_lossy());
    if oid == pg_sys::InvalidOid {
        missing(&format!("auth.{}", name.to_string_lossy()));
    }
    oid
}

/// The column `name` of `table` (called `what` in errors), which must have type `type_`.
pub(super) fn column(table: pg_sys::Oid, what: &str, name: &CStr, type_: pg_sys::Oid) -> i16 {
    // SAFETY: syscache lookups with a valid relation OID and a NUL-terminated name.
    let (n, actual) = unsafe {
        let n = pg_sys::get_attnum(table, name.as_ptr());
        (n, if n > 0 { pg_sys::get_atttype(table, n) } else { pg_sys::InvalidOid })
    };
    let column = name.to_string_lossy();
    if n <= 0 {
        fail(
            PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
            format!("auth_sessions: column {what}.{column} is missing"),
            "The extension reads this column; restore it as GoTrue defines it.",
        );
    }
    if actual != type_ {
        // SAFETY: syscache lookups of the types' names (palloc'd strings).
        let (want, got) = unsafe {
            (
                CStr::from_ptr(pg_sys::format_type_be(type_)).to_string_lossy().into_owned(),
                CStr::from_ptr(pg_sys::format_type_be(actual)).to_string_lossy().into_owned(),
            )
        };
        fail(
            PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            format!("auth_sessions: column {what}.{column} has type {got}, not {want}"),
            "The extension reads this column directly and relies on its type; restore it as GoTrue defines it.",
        );
    }
    n
}

/// Opens `table` (kept locked with AccessShareLock to transaction end) and
/// checks that it is a plain heap table; returns it, open.
pub(super) fn open_plain_table(table: pg_sys::Oid, what: &str) -> Opened {
    let opened = Opened::relation(table, pg_sys::AccessShareLock);
    let rel = opened.rel();
    // SAFETY: the relcache entry's fields are valid while it is open.
    let plain = unsafe {
        (*(*rel).rd_rel).relkind == pg_sys::RELKIND_RELATION as std::ffi::c_char
            && (*rel).rd_tableam == pg_sys::GetHeapamTableAmRoutine()
    };
    if !plain {
        fail(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("auth_sessions: {what} is not a plain table"),
            "The extension reads this table directly; it must be an ordinary (heap, unpartitioned) table.",
        );
    }
    opened
}

/// The best usable index of `rel` for searching `column` (of type `type_`):
/// valid, ready and live, btree, no predicate, first key column `column`
/// with the type's default btree operator class. Unique indexes first, then
/// fewer key columns, then the oldest.
pub(super) fn find_index(rel: pg_sys::Relation, column: i16, type_: pg_sys::Oid) -> Option<Index> {
    let mut best: Option<(Index, (bool, i16, u32))> = None;
    // SAFETY: `rel` is open; the index list is a palloc'd List of OIDs; each
    // index is opened (AccessShareLock, kept to transaction end), and its
    // relcache fields are read while it is open.
    unsafe {
        let list = pg_sys::RelationGetIndexList(rel);
        for cell in crate::ffi::list_cells(list) {
            let oid = cell.oid_value;
            // Only indexes leading with `column` are opened (a relcache entry
            // built for each of the table's indexes would be most of a new
            // connection's first lookup); what is read from the open index
            // below decides.
            if !leads_with(oid, column) {
                continue;
            }
            let opened = Opened::index(oid, pg_sys::AccessShareLock);
            let idx = opened.rel();
            let form = &*(*idx).rd_index;
            let usable = form.indrelid == (*rel).rd_id
                && form.indisvalid
                && form.indisready
                && form.indislive
                && (*(*idx).rd_rel).relam == pg_sys::BTREE_AM_OID
                && form.indnkeyatts >= 1
                && *form.indkey.values.as_ptr() == column
                && *(*idx).rd_opcintype == type_
                && is_default_btree_opclass(pg_sys::get_index_column_opclass(oid, 1), type_)
                && pg_sys::RelationGetIndexPredicate(idx).is_null();
            if usable {
                let index = Index { oid, descending: (*(*idx).rd_indoption as u32 & pg_sys::INDOPTION_DESC) != 0 };
                let rank = (!form.indisunique, form.indnkeyatts, oid.to_u32());
                if best.is_none_or(|(_, r)| rank < r) {
                    best = Some((index, rank));
                }
            }
        }
    }
    best.map(|(index, _)| index)
}

/// Whether the index `index`'s first key column is `column`, from its
/// pg_index row (a syscache read).
fn leads_with(index: pg_sys::Oid, column: i16) -> bool {
    // SAFETY: a syscache lookup by OID; the tuple is a pg_index row whose
    // fixed part (indnkeyatts, the int2vector indkey) is read before it is
    // released.
    unsafe {
        let tuple = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::INDEXRELID as i32, pg_sys::Datum::from(index));
        if tuple.is_null() {
            return false;
        }
        let form = &*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_index>(tuple);
        let leads = form.indnkeyatts >= 1 && *form.indkey.values.as_ptr() == column;
        pg_sys::ReleaseSysCache(tuple);
        leads
    }
}

/// Whether `opclass` is the default btree operator class of `type_` (one
/// syscache read; `GetDefaultOpClass` would scan every btree operator class
/// and look up casts, on each new connection's first lookup).
fn is_default_btree_opclass(opclass: pg_sys::Oid, type_: pg_sys::Oid) -> bool {
    // SAFETY: a syscache lookup by OID; the tuple is a pg_opclass row, read
    // before it is released.
    unsafe {
        let tuple = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::CLAOID as i32, pg_sys::Datum::from(opclass));
        if tuple.is_null() {
            return false;
        }
        let form = &*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_opclass>(tuple);
        let default = form.opcmethod == pg_sys::BTREE_AM_OID && form.opcintype == type_ && form.opcdefault;
        pg_sys::ReleaseSysCache(tuple);
        default
    }
}

/// The type `auth.aal_level`, which `auth.current_session_aal()` returns.
pub(super) fn aal_type(namespace: pg_sys::Oid) -> pg_sys::Oid {
    let oid = crate::attach::aal_type(namespace);
    if oid == pg_sys::InvalidOid {
        missing("the enum type auth.aal_level");
    }
    oid
}

pub(super) fn auth_schema() -> pg_sys::Oid {
    let auth = crate::attach::auth_schema();
    if auth == pg_sys::InvalidOid {
        missing("schema auth");
    }
    auth
}

/// The relation `auth.<name>`, by name, for statements that name it in SQL
/// (what it is made of is checked by whoever reads it directly).
pub fn auth_relation(name: &CStr) -> pg_sys::Oid {
    relid(auth_schema(), name)
}

pub(super) fn resolve() -> Catalog {
    // Waiting for GoTrue's migrations (attach mode): say what is missing.
    crate::attach::require_complete();
    let auth = auth_schema();
    let (uuid, tstz, ts) = (pg_sys::UUIDOID, pg_sys::TIMESTAMPTZOID, pg_sys::TIMESTAMPOID);
    let rel = relid(auth, c"sessions");
    let what = "auth.sessions";
    let sessions_rel = open_plain_table(rel, what);
    let id = column(rel, what, c"id", uuid);
    let user_id = column(rel, what, c"user_id", uuid);
    let not_after = column(rel, what, c"not_after", tstz);
    let sessions = Sessions {
        rel,
        id,
        user_id,
        created_at: column(rel, what, c"created_at", tstz),
        not_after,
        refreshed_at: column(rel, what, c"refreshed_at", ts),
        aal: column(rel, what, c"aal", aal_type(auth)),
        by_id: find_index(sessions_rel.rel(), id, uuid),
        by_user: find_index(sessions_rel.rel(), user_id, uuid),
        by_not_after: find_index(sessions_rel.rel(), not_after, tstz),
    };
    let child = |name: &CStr, what: &str| {
        let rel = relid(auth, name);
        let opened = open_plain_table(rel, what);
        let session_id = column(rel, what, c"session_id", uuid);
        let by_session = find_index(opened.rel(), session_id, uuid);
        (Child { rel, session_id, by_session }, rel)
    };
    let (tokens, tokens_rel) = child(c"refresh_tokens", "auth.refresh_tokens");
    let (claims, _) = child(c"mfa_amr_claims", "auth.mfa_amr_claims");
    let token_updated_at = column(tokens_rel, "auth.refresh_tokens", c"updated_at", tstz);
    Catalog { sessions, tokens, token_updated_at, claims }
}

/// The relations and indexes, checked, with the three tables locked in
/// AccessShareLock (at least) to the end of the transaction, so that what is
/// returned stays true for the rest of it.
pub fn catalog() -> Catalog {
    loop {
        let cat = match CATALOG.with(Cell::get) {
            Some(cat) => cat,
            None => {
                let cat = resolve();
                CATALOG.with(|c| c.set(Some(cat)));
                cat
            }
        };
        // Locking processes pending invalidations: if one touched these
        // relations, what was kept is gone and is found again (under the
        // locks now held).
        for rel in cat.relations() {
            // SAFETY: locks an OID, whether or not the relation still exists.
            unsafe { pg_sys::LockRelationOid(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE) };
        }
        if CATALOG.with(Cell::get) == Some(cat) {
            return cat;
        }
    }
}

/// The number of blocks of `auth.sessions` now, and its rows per block as
/// its statistics (`reltuples`, `relpages`) last measured them, if they have.
pub fn sessions_extent(cat: &Catalog) -> (u32, Option<f64>) {
    // `catalog()` locked the table: opened with no further lock.
    let opened = Opened::relation(cat.sessions.rel, pg_sys::NoLock);
    let rel = opened.rel();
    // SAFETY: the relcache fields are read while the relation is open.
    unsafe {
        let blocks = pg_sys::RelationGetNumberOfBlocksInFork(rel, pg_sys::ForkNumber::MAIN_FORKNUM);
        let (tuples, pages) = ((*(*rel).rd_rel).reltuples, (*(*rel).rd_rel).relpages);
        (blocks, (pages > 0 && tuples >= 0.0).then(|| f64::from(tuples) / f64::from(pages)))
    }
}
