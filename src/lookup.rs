//! The only code that reads a session from PostgreSQL for validity.
//!
//! A lookup is an index probe: `auth.sessions` through `sessions_pkey` (and,
//! only when the inactivity rule needs it for a never-refreshed session,
//! `auth.refresh_tokens` through `refresh_tokens_session_id_revoked_idx`),
//! under the statement's active snapshot. No query is parsed or planned per
//! call, no privilege or row-security check applies (callers decide who may
//! ask), and MVCC is the executor's: the caller's own uncommitted changes are
//! seen, another transaction's commit is seen by the next statement (READ
//! COMMITTED), and it works on a hot standby.
//!
//! The relations' OIDs and column numbers are resolved by name once and kept
//! until a relcache invalidation touches them (DROP/CREATE EXTENSION, ALTER).

use crate::validity::{Micros, Policy, SessionTimes};
use pgrx::datum::{Timestamp, TimestampWithTimeZone, Uuid};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::Cell;

/// What a lookup returns: the timestamps validity needs, and the stored aal
/// (the `pg_enum` OID of its label, which is how an enum datum is represented).
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionRow {
    pub times: SessionTimes,
    pub aal: Option<pg_sys::Oid>,
}

#[derive(Clone, Copy)]
struct Catalog {
    sessions: pg_sys::Oid,
    sessions_pkey: pg_sys::Oid,
    created_at: i32,
    not_after: i32,
    refreshed_at: i32,
    aal: i32,
    tokens: pg_sys::Oid,
    tokens_by_session: pg_sys::Oid,
    token_updated_at: i32,
    claims: pg_sys::Oid,
}

thread_local! {
    static CATALOG: Cell<Option<Catalog>> = const { Cell::new(None) };
}

/// Relcache invalidation callback: forget the cached OIDs when any of the
/// relations changes (or on a full reset).
#[pg_guard]
unsafe extern "C-unwind" fn invalidate(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    CATALOG.with(|c| {
        if let Some(cat) = c.get() {
            let ours = [cat.sessions, cat.sessions_pkey, cat.tokens, cat.tokens_by_session, cat.claims];
            if relid == pg_sys::InvalidOid || ours.contains(&relid) {
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

fn missing(what: &str) -> ! {
    ereport!(
        ERROR,
        PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
        format!("auth_sessions: {what} is missing; is the extension installed in this database?")
    );
}

fn relid(namespace: pg_sys::Oid, name: &std::ffi::CStr) -> pg_sys::Oid {
    // SAFETY: a syscache lookup with a NUL-terminated name.
    let oid = unsafe { pg_sys::get_relname_relid(name.as_ptr(), namespace) };
    if oid == pg_sys::InvalidOid {
        missing(&format!("auth.{}", name.to_string_lossy()));
    }
    oid
}

fn attnum(rel: pg_sys::Oid, name: &std::ffi::CStr) -> i32 {
    // SAFETY: a syscache lookup with a valid relation OID and a NUL-terminated name.
    let n = unsafe { pg_sys::get_attnum(rel, name.as_ptr()) };
    if n <= 0 {
        missing(&format!("column {}", name.to_string_lossy()));
    }
    n as i32
}

fn catalog() -> Catalog {
    if let Some(cat) = CATALOG.with(Cell::get) {
        return cat;
    }
    // SAFETY: a syscache lookup with a NUL-terminated name.
    let auth = unsafe { pg_sys::get_namespace_oid(c"auth".as_ptr(), true) };
    if auth == pg_sys::InvalidOid {
        missing("schema auth");
    }
    let sessions = relid(auth, c"sessions");
    let tokens = relid(auth, c"refresh_tokens");
    let cat = Catalog {
        sessions,
        sessions_pkey: relid(auth, c"sessions_pkey"),
        created_at: attnum(sessions, c"created_at"),
        not_after: attnum(sessions, c"not_after"),
        refreshed_at: attnum(sessions, c"refreshed_at"),
        aal: attnum(sessions, c"aal"),
        tokens,
        tokens_by_session: relid(auth, c"refresh_tokens_session_id_revoked_idx"),
        token_updated_at: attnum(tokens, c"updated_at"),
        claims: relid(auth, c"mfa_amr_claims"),
    };
    CATALOG.with(|c| c.set(Some(cat)));
    cat
}

/// The OIDs of `auth.sessions` and of the two tables that reference it,
/// `auth.refresh_tokens` and `auth.mfa_amr_claims`.
pub fn session_tables() -> [pg_sys::Oid; 3] {
    let cat = catalog();
    [cat.sessions, cat.tokens, cat.claims]
}

/// The snapshot a SQL function should read with: the calling statement's.
fn snapshot() -> pg_sys::Snapshot {
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

/// An equality probe on the first column of `index` for the uuid `key`,
/// calling `each` for every visible heap tuple until it returns false.
///
/// SAFETY (of the unsafe block): the relations are opened and locked here
/// (AccessShareLock, kept to transaction end like any query's), the slot and
/// scan are created and destroyed here, and `key` outlives the scan. An ERROR
/// raised inside releases them through the resource owner and memory context,
/// as for any C caller.
fn probe(heap_oid: pg_sys::Oid, index_oid: pg_sys::Oid, key: &[u8; 16], mut each: impl FnMut(*mut pg_sys::TupleTableSlot) -> bool) {
    unsafe {
        let heap = pg_sys::table_open(heap_oid, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let index = pg_sys::index_open(index_oid, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let slot = pg_sys::table_slot_create(heap, std::ptr::null_mut());
        #[cfg(feature = "pg18")]
        let scan = pg_sys::index_beginscan(heap, index, snapshot(), std::ptr::null_mut(), 1, 0);
        #[cfg(not(feature = "pg18"))]
        let scan = pg_sys::index_beginscan(heap, index, snapshot(), 1, 0);
        let mut scankey: pg_sys::ScanKeyData = std::mem::zeroed();
        pg_sys::ScanKeyInit(
            &mut scankey,
            1,
            pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
            pg_sys::Oid::from(pg_sys::F_UUID_EQ),
            pg_sys::Datum::from(key.as_ptr()),
        );
        pg_sys::index_rescan(scan, &mut scankey, 1, std::ptr::null_mut(), 0);
        while pg_sys::index_getnext_slot(scan, pg_sys::ScanDirection::ForwardScanDirection, slot) {
            if !each(slot) {
                break;
            }
        }
        pg_sys::index_endscan(scan);
        pg_sys::ExecDropSingleTupleTableSlot(slot);
        pg_sys::index_close(index, pg_sys::NoLock as pg_sys::LOCKMODE);
        pg_sys::table_close(heap, pg_sys::NoLock as pg_sys::LOCKMODE);
    }
}

/// Reads attribute `attnum` of the tuple in `slot` as a raw datum.
fn attr(slot: *mut pg_sys::TupleTableSlot, attnum: i32) -> Option<pg_sys::Datum> {
    let mut isnull = false;
    // SAFETY: `slot` holds a tuple of the relation whose column `attnum` was
    // resolved by name in `catalog()`.
    let d = unsafe { pg_sys::slot_getattr(slot, attnum, &mut isnull) };
    (!isnull).then_some(d)
}

/// `timestamptz` and `timestamp` are int64 microseconds, passed by value.
fn micros(d: Option<pg_sys::Datum>) -> Option<Micros> {
    d.map(|d| d.value() as i64)
}

/// Reads session `id`; `None` when no row is visible to the statement.
pub fn session(id: &[u8; 16], policy: &Policy) -> Option<SessionRow> {
    let cat = catalog();
    let mut row = None;
    probe(cat.sessions, cat.sessions_pkey, id, |slot| {
        row = Some(SessionRow {
            times: SessionTimes {
                created_at: micros(attr(slot, cat.created_at)),
                not_after: micros(attr(slot, cat.not_after)),
                refreshed_at: micros(attr(slot, cat.refreshed_at)),
                newest_token_at: None,
            },
            aal: attr(slot, cat.aal).map(|d| pg_sys::Oid::from(d.value() as u32)),
        });
        false
    });
    row.map(|mut r| {
        r.times = complete(Some(id), r.times.created_at, r.times.not_after, r.times.refreshed_at, policy);
        r
    })
}

/// A session's times from values already at hand (a row being scanned or
/// updated), adding the newest refresh token's time only when the rules need it.
pub fn complete(
    id: Option<&[u8; 16]>,
    created_at: Option<Micros>,
    not_after: Option<Micros>,
    refreshed_at: Option<Micros>,
    policy: &Policy,
) -> SessionTimes {
    let newest_token_at = match id {
        Some(id) if refreshed_at.is_none() && policy.needs_token_time() => newest_token_time(id),
        _ => None,
    };
    SessionTimes { created_at, not_after, refreshed_at, newest_token_at }
}

fn newest_token_time(id: &[u8; 16]) -> Option<Micros> {
    let cat = catalog();
    let mut newest: Option<Micros> = None;
    probe(cat.tokens, cat.tokens_by_session, id, |slot| {
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
            created_at: tstz(row.get::<TimestampWithTimeZone>(2)?),
            not_after: tstz(row.get::<TimestampWithTimeZone>(3)?),
            refreshed_at: utc_wall_clock(row.get::<Timestamp>(4)?),
            newest_token_at: None,
        },
    )))
}

/// An SPI failure that no input can cause (a query of ours no longer matching
/// the tables); raised as an internal error naming what was being done.
pub fn spi_failed(doing: &str, e: pgrx::spi::Error) -> ! {
    ereport!(ERROR, PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, format!("auth_sessions: {doing} failed: {e}"));
}

pub fn tstz(t: Option<TimestampWithTimeZone>) -> Option<Micros> {
    t.map(|t| t.into_inner())
}

/// `refreshed_at`: a `timestamp` whose internal value is the UTC instant.
pub fn utc_wall_clock(t: Option<Timestamp>) -> Option<Micros> {
    t.map(pg_sys::Timestamp::from)
}
