//! `auth.mfa_factors`, when the database has it: whether a user has a
//! verified factor (GoTrue's `HighestPossibleAAL`), for the `low_aal` rule.

use super::catalog::{column, fail, find_index, open_plain_table, Index};
use super::heap::{attr, probe, with_snapshot, Seen};
use crate::validity::Aal;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::Cell;
use std::ffi::CStr;

/// `auth.mfa_factors`, when the database has it: GoTrue's MFA factors, read
/// for the highest AAL a user can reach.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Factors {
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
pub(super) fn forget(relid: pg_sys::Oid) {
    FACTORS.with(|c| {
        if let Some(f) = c.get() {
            if relid == pg_sys::InvalidOid || relid == f.rel || f.by_user.is_some_and(|i| i.oid == relid) {
                c.set(None);
            }
        }
    });
}

/// The OID of the value `label` of enum type `type_`, if it has one.
pub(super) fn enum_value(type_: pg_sys::Oid, label: &CStr) -> pg_sys::Oid {
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
pub(super) fn resolve_factors() -> Option<Factors> {
    let rel = crate::attach::table(crate::attach::auth_schema(), "mfa_factors");
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
        fail(
            PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            "auth_sessions: column auth.mfa_factors.status is missing or not an enum with the value 'verified'".into(),
            "The extension reads this column to find users with a verified factor; restore it as GoTrue defines it.",
        );
    }
    let by_user = find_index(opened.rel(), user_id, pg_sys::UUIDOID);
    Some(Factors { rel, user_id, status, verified, by_user })
}

/// `auth.mfa_factors`, checked and locked (AccessShareLock) to transaction
/// end, or `None` when the database has none.
pub(super) fn factors() -> Option<Factors> {
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

pub(super) fn highest_aal_in(user_id: &[u8; 16], snapshot: pg_sys::Snapshot) -> Aal {
    let Some(f) = factors() else { return Aal::Aal1 };
    let mut verified = false;
    probe(f.rel, f.by_user, f.user_id, user_id, snapshot, |slot| {
        verified = attr(slot, f.status).is_some_and(|d| pg_sys::Oid::from(d.value() as u32) == f.verified);
        !verified
    });
    Aal::highest_possible(verified)
}
