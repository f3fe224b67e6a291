//! The only code that reads sessions, refresh tokens and amr claims from
//! PostgreSQL without SQL, and the one place that finds the relations,
//! columns and indexes it reads, checking their shape first.
//!
//! A lookup is an index probe under a snapshot: no query is parsed or
//! planned per call, no privilege or row-security check applies (callers
//! decide who may ask), and MVCC is the executor's: the caller's own
//! uncommitted changes are seen, another transaction's commit is seen by the
//! next statement (READ COMMITTED), and it works on a hot standby.
//!
//! Nothing is trusted by name alone:
//!
//! - the three tables must be plain heap tables, and every column read must
//!   exist with the seed's type (`sessions.id uuid`, `created_at timestamptz`,
//!   ...); otherwise the call fails with a clear error (SQLSTATE 0A000,
//!   42703 or 42804) instead of reading garbage;
//! - an index is used only when it is a valid, ready, non-partial btree index
//!   on that table whose first key column is the column searched, with the
//!   type's default operator class, whatever it is called; when there is
//!   none, the table itself is scanned (correct, only slower);
//! - only the rows of the tables themselves are read, never those of
//!   inheritance children (an archive table that inherits from
//!   `auth.sessions`, say), as with `FROM ONLY`.
//!
//! What was found is kept until a relcache invalidation touches one of the
//! relations (DDL on them, their indexes, DROP/CREATE EXTENSION), and checked
//! again then; callers lock the relations before using it, so it cannot
//! change under them within a transaction.

use crate::kept_scan;
use crate::validity::{self, Aal, Micros, Policy, SessionTimes};
use pgrx::datum::{Timestamp, TimestampWithTimeZone, Uuid};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::Cell;
use std::ffi::CStr;

/// What a lookup returns: the timestamps validity needs, the stored aal (the
/// `pg_enum` OID of its label, which is how an enum datum is represented) and
/// the session's user.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionRow {
    pub times: SessionTimes,
    pub aal: Option<pg_sys::Oid>,
    pub user_id: Option<[u8; 16]>,
}

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
    invalidate_factors(relid);
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

fn fail(code: PgSqlErrorCode, message: String, hint: &str) -> ! {
    pgrx::pg_sys::panic::ErrorReport::new(code, message, "auth_sessions::lookup").set_hint(hint).report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

fn missing(what: &str) -> ! {
    fail(
        PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
        format!("auth_sessions: {what} is missing"),
        "auth_sessions creates it; with auth_sessions_gotrue (attach mode), GoTrue's migrations do.",
    )
}

fn relid(namespace: pg_sys::Oid, name: &CStr) -> pg_sys::Oid {
    // SAFETY: a syscache lookup with a NUL-terminated name.
    let oid = unsafe { pg_sys::get_relname_relid(name.as_ptr(), namespace) };
    if oid == pg_sys::InvalidOid {
        missing(&format!("auth.{}", name.to_string_lossy()));
    }
    oid
}

/// The column `name` of `table` (called `what` in errors), which must have type `type_`.
fn column(table: pg_sys::Oid, what: &str, name: &CStr, type_: pg_sys::Oid) -> i16 {
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
fn open_plain_table(table: pg_sys::Oid, what: &str) -> pg_sys::Relation {
    // SAFETY: the relation is opened here; the caller closes it. The
    // relcache entry's fields are valid while it is open.
    unsafe {
        let rel = pg_sys::relation_open(table, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let plain = (*(*rel).rd_rel).relkind == pg_sys::RELKIND_RELATION as std::ffi::c_char
            && (*rel).rd_tableam == pg_sys::GetHeapamTableAmRoutine();
        if !plain {
            pg_sys::relation_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
            fail(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                format!("auth_sessions: {what} is not a plain table"),
                "The extension reads this table directly; it must be an ordinary (heap, unpartitioned) table.",
            );
        }
        rel
    }
}

/// The best usable index of `rel` for searching `column` (of type `type_`):
/// valid, ready and live, btree, no predicate, first key column `column`
/// with the type's default btree operator class. Unique indexes first, then
/// fewer key columns, then the oldest.
fn find_index(rel: pg_sys::Relation, column: i16, type_: pg_sys::Oid) -> Option<Index> {
    let mut best: Option<(Index, (bool, i16, u32))> = None;
    // SAFETY: `rel` is open; the index list is a palloc'd List of OIDs; each
    // index is opened (AccessShareLock, kept to transaction end) and closed
    // here, and its relcache fields are read while it is open.
    unsafe {
        let opclass = pg_sys::GetDefaultOpClass(type_, pg_sys::BTREE_AM_OID);
        if opclass == pg_sys::InvalidOid {
            return None;
        }
        let family = pg_sys::get_opclass_family(opclass);
        let list = pg_sys::RelationGetIndexList(rel);
        for cell in crate::ffi::list_cells(list) {
            let oid = cell.oid_value;
            let idx = pg_sys::index_open(oid, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
            let form = &*(*idx).rd_index;
            let usable = form.indrelid == (*rel).rd_id
                && form.indisvalid
                && form.indisready
                && form.indislive
                && (*(*idx).rd_rel).relam == pg_sys::BTREE_AM_OID
                && form.indnkeyatts >= 1
                && *form.indkey.values.as_ptr() == column
                && *(*idx).rd_opfamily == family
                && *(*idx).rd_opcintype == type_
                && pg_sys::RelationGetIndexPredicate(idx).is_null();
            if usable {
                let index = Index { oid, descending: (*(*idx).rd_indoption as u32 & pg_sys::INDOPTION_DESC) != 0 };
                let rank = (!form.indisunique, form.indnkeyatts, oid.to_u32());
                if best.is_none_or(|(_, r)| rank < r) {
                    best = Some((index, rank));
                }
            }
            pg_sys::index_close(idx, pg_sys::NoLock as pg_sys::LOCKMODE);
        }
    }
    best.map(|(index, _)| index)
}

/// The type `auth.aal_level`, which `auth.current_session_aal()` returns.
fn aal_type(namespace: pg_sys::Oid) -> pg_sys::Oid {
    let oid = crate::attach::aal_type(namespace);
    if oid == pg_sys::InvalidOid {
        missing("the enum type auth.aal_level");
    }
    oid
}

fn auth_schema() -> pg_sys::Oid {
    // SAFETY: a syscache lookup with a NUL-terminated name.
    let auth = unsafe { pg_sys::get_namespace_oid(c"auth".as_ptr(), true) };
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

fn resolve() -> Catalog {
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
        by_id: find_index(sessions_rel, id, uuid),
        by_user: find_index(sessions_rel, user_id, uuid),
        by_not_after: find_index(sessions_rel, not_after, tstz),
    };
    let child = |name: &CStr, what: &str| {
        let rel = relid(auth, name);
        let opened = open_plain_table(rel, what);
        let session_id = column(rel, what, c"session_id", uuid);
        let by_session = find_index(opened, session_id, uuid);
        // SAFETY: closes what open_plain_table opened (the lock stays).
        unsafe { pg_sys::relation_close(opened, pg_sys::NoLock as pg_sys::LOCKMODE) };
        (Child { rel, session_id, by_session }, rel)
    };
    let (tokens, tokens_rel) = child(c"refresh_tokens", "auth.refresh_tokens");
    let (claims, _) = child(c"mfa_amr_claims", "auth.mfa_amr_claims");
    let token_updated_at = column(tokens_rel, "auth.refresh_tokens", c"updated_at", tstz);
    // SAFETY: closes what open_plain_table opened (the lock stays).
    unsafe { pg_sys::relation_close(sessions_rel, pg_sys::NoLock as pg_sys::LOCKMODE) };
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
    // SAFETY: `catalog()` locked the table; it is opened (no further lock)
    // and closed here, and its relcache fields are read while it is open.
    unsafe {
        let rel = pg_sys::relation_open(cat.sessions.rel, pg_sys::NoLock as pg_sys::LOCKMODE);
        let blocks = pg_sys::RelationGetNumberOfBlocksInFork(rel, pg_sys::ForkNumber::MAIN_FORKNUM);
        let (tuples, pages) = ((*(*rel).rd_rel).reltuples, (*(*rel).rd_rel).relpages);
        pg_sys::relation_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
        (blocks, (pages > 0 && tuples >= 0.0).then(|| f64::from(tuples) / f64::from(pages)))
    }
}

/// The snapshot a SQL function should read with: the calling statement's.
pub fn statement_snapshot() -> pg_sys::Snapshot {
    // SAFETY: both return the backend's current snapshot; GetTransactionSnapshot
    // is only reached outside any statement (no active snapshot).
    unsafe {
        if pg_sys::ActiveSnapshotSet() {
            pg_sys::GetActiveSnapshot()
        } else {
            pg_sys::GetTransactionSnapshot()
        }
    }
}

/// Takes a new snapshot (one that sees everything committed so far, and this
/// transaction's own changes up to the current command), registered until
/// `f` returns. Registering keeps this backend's xmin at or below the
/// snapshot's, so a tuple it shows as visible cannot be pruned away before
/// `f` is done with its TID.
pub fn with_latest_snapshot<T>(f: impl FnOnce(pg_sys::Snapshot) -> T) -> T {
    // SAFETY: the snapshot is copied and registered with the current
    // resource owner, and unregistered here (or at abort, on an ERROR).
    unsafe {
        let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetLatestSnapshot());
        let result = f(snapshot);
        pg_sys::UnregisterSnapshot(snapshot);
        result
    }
}

/// Calls `each` for every tuple of `table` visible to `snapshot` whose uuid
/// column `column` equals `key`, until it returns false: through `index`
/// when there is one, else by scanning the table with the key.
///
/// SAFETY (of the unsafe block): the relations are opened and locked here
/// (AccessShareLock, kept to transaction end like any query's; `catalog()`
/// checked their shape under that lock), the slot and scan are created and
/// destroyed here, and `key` outlives the scan. An ERROR raised inside
/// releases them through the resource owner and memory context, as for any C
/// caller.
fn probe(
    table: pg_sys::Oid,
    index: Option<Index>,
    column: i16,
    key: &[u8; 16],
    snapshot: pg_sys::Snapshot,
    mut each: impl FnMut(*mut pg_sys::TupleTableSlot) -> bool,
) {
    unsafe {
        let heap = pg_sys::table_open(table, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let slot = pg_sys::table_slot_create(heap, std::ptr::null_mut());
        let mut scankey: pg_sys::ScanKeyData = std::mem::zeroed();
        let key_column = if index.is_some() { 1 } else { column };
        pg_sys::ScanKeyInit(
            &mut scankey,
            key_column,
            pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
            pg_sys::Oid::from(pg_sys::F_UUID_EQ),
            pg_sys::Datum::from(key.as_ptr()),
        );
        match index {
            Some(index) => {
                let rel = pg_sys::index_open(index.oid, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
                #[cfg(feature = "pg18")]
                let scan = pg_sys::index_beginscan(heap, rel, snapshot, std::ptr::null_mut(), 1, 0);
                #[cfg(not(feature = "pg18"))]
                let scan = pg_sys::index_beginscan(heap, rel, snapshot, 1, 0);
                pg_sys::index_rescan(scan, &mut scankey, 1, std::ptr::null_mut(), 0);
                while pg_sys::index_getnext_slot(scan, pg_sys::ScanDirection::ForwardScanDirection, slot) {
                    if !each(slot) {
                        break;
                    }
                }
                pg_sys::index_endscan(scan);
                pg_sys::index_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
            }
            None => {
                let scan = pg_sys::table_beginscan(heap, snapshot, 1, &mut scankey);
                while pg_sys::table_scan_getnextslot(scan, pg_sys::ScanDirection::ForwardScanDirection, slot) {
                    if !each(slot) {
                        break;
                    }
                }
                pg_sys::table_endscan(scan);
            }
        }
        pg_sys::ExecDropSingleTupleTableSlot(slot);
        pg_sys::table_close(heap, pg_sys::NoLock as pg_sys::LOCKMODE);
    }
}

/// Reads attribute `attnum` of the tuple in `slot` as a raw datum.
fn attr(slot: *mut pg_sys::TupleTableSlot, attnum: i16) -> Option<pg_sys::Datum> {
    let mut isnull = false;
    // SAFETY: `slot` holds a tuple of the relation whose column `attnum` was
    // checked (name and type) in `catalog()`.
    let d = unsafe { pg_sys::slot_getattr(slot, attnum as i32, &mut isnull) };
    (!isnull).then_some(d)
}

/// `timestamptz` and `timestamp` are int64 microseconds, passed by value.
fn micros(d: Option<pg_sys::Datum>) -> Option<Micros> {
    d.map(|d| d.value() as i64)
}

/// A uuid datum (16 bytes, by reference).
fn uuid(d: Option<pg_sys::Datum>) -> Option<[u8; 16]> {
    // SAFETY: the column was checked to be of type uuid, whose datum points
    // at 16 bytes in the slot's tuple, valid while the slot holds it.
    d.map(|d| unsafe { *(d.cast_mut_ptr::<[u8; 16]>()) })
}

fn times_in(slot: *mut pg_sys::TupleTableSlot, s: &Sessions) -> SessionTimes {
    SessionTimes {
        created_at: micros(attr(slot, s.created_at)),
        not_after: micros(attr(slot, s.not_after)),
        refreshed_at: micros(attr(slot, s.refreshed_at)),
        newest_token_at: None,
        low_aal: false,
    }
}

/// Which snapshot a read uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Seen {
    /// The calling statement's (MVCC as the caller's queries see it).
    ByStatement,
    /// A new one: what is committed now (for decisions that must not rest on
    /// a snapshot taken before a row lock was granted).
    Now,
    /// A registered snapshot the caller took (one for many reads).
    In(pg_sys::Snapshot),
}

fn with_snapshot<T>(seen: Seen, f: impl FnOnce(pg_sys::Snapshot) -> T) -> T {
    match seen {
        Seen::ByStatement => f(statement_snapshot()),
        Seen::Now => with_latest_snapshot(f),
        Seen::In(snapshot) => f(snapshot),
    }
}

fn session_in(slot: *mut pg_sys::TupleTableSlot, s: &Sessions) -> SessionRow {
    SessionRow {
        times: times_in(slot, s),
        aal: attr(slot, s.aal).map(|d| pg_sys::Oid::from(d.value() as u32)),
        user_id: uuid(attr(slot, s.user_id)),
    }
}

/// Reads session `id`; `None` when no row is visible to the statement.
/// With the call's `fcinfo` (a function called once per row), through the
/// scan kept open across the statement's calls (kept_scan.rs).
pub fn session(id: &[u8; 16], policy: &Policy, fcinfo: Option<pg_sys::FunctionCallInfo>) -> Option<SessionRow> {
    let mut found = None;
    let kept = fcinfo.is_some_and(|f| kept_scan::session_row(f, id, |s, slot| found = Some(session_in(slot, s))));
    if !kept {
        let s = catalog().sessions;
        probe(s.rel, s.by_id, s.id, id, statement_snapshot(), |slot| {
            found = Some(session_in(slot, &s));
            false
        });
    }
    found.map(|mut r: SessionRow| {
        r.times = complete(Some(id), r.times.created_at, r.times.not_after, r.times.refreshed_at, policy, Seen::ByStatement);
        // The label (a syscache lookup) only when the rule is on.
        if policy.needs_aal() {
            let label = r.aal.and_then(enum_label);
            r.times.low_aal = low_aal(r.user_id.as_ref(), label.as_deref(), policy, Seen::ByStatement);
        }
        r
    })
}

/// Whether a session of user `user_id` whose stored aal is `label` is below
/// the highest AAL its user can reach, as `seen` shows the user's factors;
/// only looked up when the rules need it (else false, which they ignore).
pub fn low_aal(user_id: Option<&[u8; 16]>, label: Option<&str>, policy: &Policy, seen: Seen) -> bool {
    if !policy.needs_aal() || !validity::below_highest(label, Aal::Aal2) {
        // Already at aal2 or above: nothing a user can reach is higher.
        return false;
    }
    let Some(user_id) = user_id else { return false };
    validity::below_highest(label, highest_aal(user_id, seen))
}

/// The sessions of user `user_id` (with the newest refresh token's time when
/// the rules need it), as `seen` shows them.
pub fn user_sessions(user_id: &[u8; 16], policy: &Policy, seen: Seen) -> Vec<([u8; 16], SessionTimes)> {
    user_sessions_with(user_id, policy, seen, |_, _| ()).into_iter().map(|(id, t, ())| (id, t)).collect()
}

/// As [`user_sessions`], with what `extra` reads from each session's tuple
/// (columns beyond those validity needs), while the tuple is at hand.
pub fn user_sessions_with<T>(
    user_id: &[u8; 16],
    policy: &Policy,
    seen: Seen,
    mut extra: impl FnMut(*mut pg_sys::TupleTableSlot, &Sessions) -> T,
) -> Vec<([u8; 16], SessionTimes, T)> {
    let cat = catalog();
    let s = cat.sessions;
    let mut found = Vec::new();
    with_snapshot(seen, |snapshot| {
        probe(s.rel, s.by_user, s.user_id, user_id, snapshot, |slot| {
            if let Some(id) = uuid(attr(slot, s.id)) {
                let mut t = times_in(slot, &s);
                // Provisional: whether the stored aal is below aal2; settled
                // below once for the user (all their sessions share it).
                if policy.needs_aal() {
                    let label = attr(slot, s.aal).and_then(|d| enum_label(pg_sys::Oid::from(d.value() as u32)));
                    t.low_aal = validity::below_highest(label.as_deref(), Aal::Aal2);
                }
                found.push((id, t, extra(slot, &s)));
            }
            true
        });
        if policy.needs_token_time() {
            for (id, t, _) in found.iter_mut().filter(|(_, t, _)| t.refreshed_at.is_none()) {
                t.newest_token_at = newest_token_time(&cat, id, snapshot);
            }
        }
        if found.iter().any(|(_, t, _)| t.low_aal) && highest_aal_in(user_id, snapshot) == Aal::Aal1 {
            for (_, t, _) in &mut found {
                t.low_aal = false;
            }
        }
    });
    found
}

/// The columns a list of devices shows beyond those validity needs:
/// `auth.sessions.user_agent` (text) and `ip` (inet), checked by name and
/// type as the others are, when a list is asked for (the lookups by id do
/// not need them, so a table without them still serves those).
#[derive(Clone, Copy, Debug)]
pub struct DeviceColumns {
    pub user_agent: i16,
    pub ip: i16,
}

pub fn device_columns(s: &Sessions) -> DeviceColumns {
    let what = "auth.sessions";
    DeviceColumns {
        user_agent: column(s.rel, what, c"user_agent", pg_sys::TEXTOID),
        ip: column(s.rel, what, c"ip", pg_sys::INETOID),
    }
}

/// A text column of the tuple in `slot`, detoasted and copied; invalid
/// UTF-8 (a database in another encoding) is replaced, not trusted.
pub fn text_at(slot: *mut pg_sys::TupleTableSlot, attnum: i16) -> Option<String> {
    // SAFETY: the column was checked to be of type text; text_to_cstring
    // detoasts it into a palloc'd, NUL-terminated copy.
    attr(slot, attnum).map(|d| unsafe {
        CStr::from_ptr(pg_sys::text_to_cstring(d.cast_mut_ptr())).to_string_lossy().into_owned()
    })
}

/// An `inet` column of the tuple in `slot`, in its text form.
pub fn inet_at(slot: *mut pg_sys::TupleTableSlot, attnum: i16) -> Option<pgrx::datum::Inet> {
    // SAFETY: the column was checked to be of type inet; inet_out reads the
    // datum while the slot holds the tuple and returns a copy.
    attr(slot, attnum).and_then(|d| unsafe { pgrx::datum::Inet::from_datum(d, false) })
}

/// The label of the stored aal of the tuple in `slot`.
pub fn aal_at(slot: *mut pg_sys::TupleTableSlot, s: &Sessions) -> Option<String> {
    attr(slot, s.aal).and_then(|d| enum_label(pg_sys::Oid::from(d.value() as u32)))
}

/// A session's times from values already at hand (a row being scanned or
/// updated), adding the newest refresh token's time, as `seen` shows it,
/// only when the rules need it.
pub fn complete(
    id: Option<&[u8; 16]>,
    created_at: Option<Micros>,
    not_after: Option<Micros>,
    refreshed_at: Option<Micros>,
    policy: &Policy,
    seen: Seen,
) -> SessionTimes {
    let newest_token_at = match id {
        Some(id) if refreshed_at.is_none() && policy.needs_token_time() => {
            let cat = catalog();
            with_snapshot(seen, |snapshot| newest_token_time(&cat, id, snapshot))
        }
        _ => None,
    };
    SessionTimes { created_at, not_after, refreshed_at, newest_token_at, low_aal: false }
}

fn newest_token_time(cat: &Catalog, id: &[u8; 16], snapshot: pg_sys::Snapshot) -> Option<Micros> {
    let mut newest: Option<Micros> = None;
    probe(cat.tokens.rel, cat.tokens.by_session, cat.tokens.session_id, id, snapshot, |slot| {
        if let Some(t) = micros(attr(slot, cat.token_updated_at)) {
            newest = Some(newest.map_or(t, |n| n.max(t)));
        }
        true
    });
    newest
}

/// A session from an SPI row whose first four columns are `id, created_at,
/// not_after, refreshed_at` (the queries that read many sessions at once);
/// `None` for a NULL id. The newest refresh token's time is left unset.
pub fn session_from_row(row: &pgrx::spi::SpiHeapTupleData) -> Result<Option<([u8; 16], SessionTimes)>, pgrx::spi::Error> {
    let Some(id) = row.get::<Uuid>(1)? else { return Ok(None) };
    Ok(Some((
        *id,
        SessionTimes {
            created_at: micros_of(row.get::<TimestampWithTimeZone>(2)?),
            not_after: micros_of(row.get::<TimestampWithTimeZone>(3)?),
            refreshed_at: utc_wall_clock(row.get::<Timestamp>(4)?),
            newest_token_at: None,
            low_aal: false,
        },
    )))
}

/// `auth.mfa_factors`, when the database has it: GoTrue's MFA factors, read
/// for the highest AAL a user can reach.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Factors {
    rel: pg_sys::Oid,
    user_id: i16,
    status: i16,
    /// The `verified` value of the status column's enum type.
    verified: pg_sys::Oid,
    by_user: Option<Index>,
}

thread_local! {
    static FACTORS: Cell<Option<Factors>> = const { Cell::new(None) };
}

/// Forgets what was found about `auth.mfa_factors` when it or its index changes.
fn invalidate_factors(relid: pg_sys::Oid) {
    FACTORS.with(|c| {
        if let Some(f) = c.get() {
            if relid == pg_sys::InvalidOid || relid == f.rel || f.by_user.is_some_and(|i| i.oid == relid) {
                c.set(None);
            }
        }
    });
}

/// The OID of the value `label` of enum type `type_`, if it has one.
fn enum_value(type_: pg_sys::Oid, label: &CStr) -> pg_sys::Oid {
    // SAFETY: a syscache lookup by (type, label), both valid keys.
    unsafe {
        pg_sys::GetSysCacheOid(
            pg_sys::SysCacheIdentifier::ENUMTYPOIDNAME as i32,
            pg_sys::Anum_pg_enum_oid as pg_sys::AttrNumber,
            pg_sys::Datum::from(type_),
            pg_sys::Datum::from(label.as_ptr()),
            pg_sys::Datum::from(0),
            pg_sys::Datum::from(0),
        )
    }
}

/// Finds and checks `auth.mfa_factors`: `None` when there is no such table
/// (then no user can reach aal2). When it exists it must be a plain table
/// with `user_id uuid` and `status` of an enum type that has `verified`.
fn resolve_factors() -> Option<Factors> {
    // SAFETY: syscache lookups with NUL-terminated names.
    let auth = unsafe { pg_sys::get_namespace_oid(c"auth".as_ptr(), true) };
    if auth == pg_sys::InvalidOid {
        return None;
    }
    // SAFETY: as above.
    let rel = unsafe { pg_sys::get_relname_relid(c"mfa_factors".as_ptr(), auth) };
    if rel == pg_sys::InvalidOid {
        return None;
    }
    let what = "auth.mfa_factors";
    let opened = open_plain_table(rel, what);
    let user_id = column(rel, what, c"user_id", pg_sys::UUIDOID);
    // SAFETY: syscache lookups of the column's number and type.
    let (status, status_type) = unsafe {
        let n = pg_sys::get_attnum(rel, c"status".as_ptr());
        (n, if n > 0 { pg_sys::get_atttype(rel, n) } else { pg_sys::InvalidOid })
    };
    // SAFETY: a syscache lookup of the type.
    let is_enum = status > 0 && unsafe { pg_sys::get_typtype(status_type) } == pg_sys::TYPTYPE_ENUM as std::ffi::c_char;
    let verified = if is_enum { enum_value(status_type, c"verified") } else { pg_sys::InvalidOid };
    if verified == pg_sys::InvalidOid {
        // SAFETY: closes what open_plain_table opened.
        unsafe { pg_sys::relation_close(opened, pg_sys::NoLock as pg_sys::LOCKMODE) };
        fail(
            PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            "auth_sessions: column auth.mfa_factors.status is missing or not an enum with the value 'verified'".into(),
            "The extension reads this column to find users with a verified factor; restore it as GoTrue defines it.",
        );
    }
    let by_user = find_index(opened, user_id, pg_sys::UUIDOID);
    // SAFETY: closes what open_plain_table opened (the lock stays).
    unsafe { pg_sys::relation_close(opened, pg_sys::NoLock as pg_sys::LOCKMODE) };
    Some(Factors { rel, user_id, status, verified, by_user })
}

/// `auth.mfa_factors`, checked and locked (AccessShareLock) to transaction
/// end, or `None` when the database has none.
fn factors() -> Option<Factors> {
    loop {
        let f = match FACTORS.with(Cell::get) {
            Some(f) => f,
            None => {
                let f = resolve_factors()?;
                FACTORS.with(|c| c.set(Some(f)));
                f
            }
        };
        // SAFETY: locks an OID, whether or not the relation still exists;
        // pending invalidations are processed, which may forget `f`.
        unsafe { pg_sys::LockRelationOid(f.rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE) };
        if FACTORS.with(Cell::get) == Some(f) {
            return Some(f);
        }
    }
}

/// GoTrue's `HighestPossibleAAL`: aal2 when the user has a verified factor
/// in `auth.mfa_factors` (read through its `user_id` index), else aal1.
pub fn highest_aal(user_id: &[u8; 16], seen: Seen) -> Aal {
    with_snapshot(seen, |snapshot| highest_aal_in(user_id, snapshot))
}

fn highest_aal_in(user_id: &[u8; 16], snapshot: pg_sys::Snapshot) -> Aal {
    let Some(f) = factors() else { return Aal::Aal1 };
    let mut verified = false;
    probe(f.rel, f.by_user, f.user_id, user_id, snapshot, |slot| {
        verified = attr(slot, f.status).is_some_and(|d| pg_sys::Oid::from(d.value() as u32) == f.verified);
        !verified
    });
    Aal::highest_possible(verified)
}

/// An SPI failure that no input can cause (a query of ours no longer matching
/// the tables); raised as an internal error naming what was being done.
pub fn spi_failed(doing: &str, e: pgrx::spi::Error) -> ! {
    ereport!(ERROR, PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, format!("auth_sessions: {doing} failed: {e}"));
}

/// A `timestamptz` as its internal value (microseconds since 2000-01-01 UTC).
pub fn micros_of(t: Option<TimestampWithTimeZone>) -> Option<Micros> {
    t.map(|t| t.into_inner())
}

/// `refreshed_at`: a `timestamp` whose internal value is the UTC instant.
pub fn utc_wall_clock(t: Option<Timestamp>) -> Option<Micros> {
    t.map(pg_sys::Timestamp::from)
}
