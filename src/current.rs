//! The current request's session, for row-level-security policies:
//! `auth.session_id()`, `auth.current_session_is_valid()` and
//! `auth.current_session_aal()`.
//!
//! A policy written as `USING (auth.current_session_is_valid())` calls the
//! function once per row. The answer is therefore computed once per snapshot
//! and reused while nothing it depends on can have changed:
//!
//! * the claims (`request.jwt.claims`, `request.jwt.claim.session_id`) and the
//!   validity settings are compared on every call;
//! * the statement's snapshot is compared by what decides visibility: xmin,
//!   xmax, the in-progress transaction ids (`xip`, `subxip`), the command id,
//!   and the backend's transaction and subtransaction. Two snapshots equal in
//!   all of these see exactly the same rows: ids below xmax and not in progress
//!   had already ended, and their outcome cannot change. A revocation
//!   committed elsewhere removes its transaction from the in-progress set (or
//!   moves xmax) for the next snapshot; the caller's own writes advance the
//!   command id, and a rollback to a savepoint starts a new subtransaction.
//!   So a later statement never sees an earlier answer unless its snapshot
//!   sees exactly the same data. (Active snapshots are copies, whose
//!   `snapXactCompletionCount` PostgreSQL zeroes, so that counter cannot be used.)
//!
//! Anyone may call these functions: they answer only for the session named in
//! the caller's own claims, and reveal nothing else.

use crate::claims;
use crate::lookup::{self, SessionRow};
use crate::settings;
use crate::validity::{self, Policy, Reason};
use pgrx::datum::Uuid;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::RefCell;
use std::ffi::CStr;

#[derive(Clone, Copy)]
struct Answer {
    reason: Reason,
    aal: Option<pg_sys::Oid>,
    /// The session and its user, when it is valid.
    valid: Option<([u8; 16], [u8; 16])>,
}

/// What decides the visibility of rows in a snapshot, for the backend's
/// current (sub)transaction.
#[derive(PartialEq, Eq)]
struct SnapshotKey {
    lxid: u32,
    subxid: u32,
    xmin: u32,
    xmax: u32,
    curcid: u32,
    suboverflowed: bool,
    during_recovery: bool,
    xip: Vec<u32>,
    subxip: Vec<u32>,
}

struct Cached {
    key: SnapshotKey,
    per_claim: Option<Vec<u8>>,
    claims: Option<Vec<u8>>,
    policy: Policy,
    answer: Answer,
}

thread_local! {
    static CACHE: RefCell<Option<Cached>> = const { RefCell::new(None) };
}

/// The statement's snapshot, when it is an MVCC snapshot whose answer may be
/// cached; `None` otherwise (never cached).
fn active_snapshot() -> Option<&'static pg_sys::SnapshotData> {
    // SAFETY: GetActiveSnapshot is only called, and dereferenced, when a
    // snapshot is active; it stays valid for the duration of this call.
    unsafe {
        if !pg_sys::ActiveSnapshotSet() {
            return None;
        }
        let s = &*pg_sys::GetActiveSnapshot();
        (s.snapshot_type == pg_sys::SnapshotType::SNAPSHOT_MVCC).then_some(s)
    }
}

fn xids(p: *const pg_sys::TransactionId, n: i32) -> &'static [pg_sys::TransactionId] {
    // SAFETY: a snapshot's xip/subxip arrays hold xcnt/subxcnt entries (or
    // are NULL), read while the snapshot is.
    unsafe { crate::ffi::slice(p, n) }
}

fn own_transaction() -> (u32, u32) {
    // SAFETY: reads the backend's own transaction state.
    (crate::versions::local_transaction_id(), unsafe { pg_sys::GetCurrentSubTransactionId() })
}

impl SnapshotKey {
    fn matches(&self, s: &pg_sys::SnapshotData) -> bool {
        let (lxid, subxid) = own_transaction();
        self.lxid == lxid
            && self.subxid == subxid
            && self.xmin == s.xmin.into_inner()
            && self.xmax == s.xmax.into_inner()
            && self.curcid == s.curcid
            && self.suboverflowed == s.suboverflowed
            && self.during_recovery == s.takenDuringRecovery
            && xids(s.xip, s.xcnt as i32).iter().map(|x| x.into_inner()).eq(self.xip.iter().copied())
            && xids(s.subxip, s.subxcnt).iter().map(|x| x.into_inner()).eq(self.subxip.iter().copied())
    }

    fn of(s: &pg_sys::SnapshotData) -> SnapshotKey {
        let (lxid, subxid) = own_transaction();
        SnapshotKey {
            lxid,
            subxid,
            xmin: s.xmin.into_inner(),
            xmax: s.xmax.into_inner(),
            curcid: s.curcid,
            suboverflowed: s.suboverflowed,
            during_recovery: s.takenDuringRecovery,
            xip: xids(s.xip, s.xcnt as i32).iter().map(|x| x.into_inner()).collect(),
            subxip: xids(s.subxip, s.subxcnt).iter().map(|x| x.into_inner()).collect(),
        }
    }
}

/// The current value of a setting, if it exists (custom settings such as the
/// claims exist only once something has set them). The slice is only valid
/// until the setting changes: callers use it within the current call and copy
/// what they keep.
fn setting(name: &CStr) -> Option<&'static [u8]> {
    // SAFETY: GetConfigOption returns NULL or a NUL-terminated string owned by
    // the GUC machinery, which nothing can change during this call.
    unsafe {
        let p = pg_sys::GetConfigOption(name.as_ptr(), true, false);
        (!p.is_null()).then(|| CStr::from_ptr(p).to_bytes())
    }
}

/// The two settings PostgREST passes claims in: per-claim, then JSON.
fn claim_settings() -> (Option<&'static [u8]>, Option<&'static [u8]>) {
    (setting(c"request.jwt.claim.session_id"), setting(c"request.jwt.claims"))
}

fn claimed_id(per_claim: Option<&[u8]>, claims_json: Option<&[u8]>) -> Option<[u8; 16]> {
    fn text(b: Option<&[u8]>) -> Option<&str> {
        b.and_then(|b| std::str::from_utf8(b).ok())
    }
    claims::session_id(text(per_claim), text(claims_json))
}

fn compute(per_claim: Option<&[u8]>, claims_json: Option<&[u8]>, policy: &Policy) -> Answer {
    let id = claimed_id(per_claim, claims_json);
    let row: Option<SessionRow> = id.as_ref().and_then(|id| lookup::session(id, policy, None));
    let now = pgrx::datetime::now().into_inner();
    let reason = validity::decide(row.as_ref().map(|r| &r.times), policy, now);
    let row = row.filter(|_| reason.is_valid());
    Answer {
        reason,
        aal: row.and_then(|r| r.aal),
        valid: id.zip(row.and_then(|r| r.user_id)),
    }
}

fn current() -> Answer {
    let (per_claim, claims_json) = claim_settings();
    let policy = settings::policy();
    let Some(snapshot) = active_snapshot() else {
        return compute(per_claim, claims_json, &policy);
    };
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(c) = cache.as_ref() {
            if c.policy == policy
                && c.per_claim.as_deref() == per_claim
                && c.claims.as_deref() == claims_json
                && c.key.matches(snapshot)
            {
                return c.answer;
            }
        }
        let answer = compute(per_claim, claims_json, &policy);
        *cache = Some(Cached {
            key: SnapshotKey::of(snapshot),
            per_claim: per_claim.map(<[u8]>::to_vec),
            claims: claims_json.map(<[u8]>::to_vec),
            policy,
            answer,
        });
        answer
    })
}

/// The current request's session and the user it belongs to (the row's
/// `user_id`, never a claim), when that session exists and is valid now.
pub fn valid_session() -> Option<([u8; 16], [u8; 16])> {
    current().valid
}

/// The `session_id` claim of the current request; NULL when absent, empty or
/// not a uuid.
#[pg_extern(stable, parallel_safe, support = current_session_support)]
fn session_id() -> Option<Uuid> {
    let (per_claim, claims_json) = claim_settings();
    claimed_id(per_claim, claims_json).map(Uuid::from_bytes)
}

/// Whether the current request's session exists and is valid now; false when
/// there is no usable `session_id` claim.
#[pg_extern(stable, parallel_safe, support = current_session_support)]
fn current_session_is_valid() -> bool {
    current().reason.is_valid()
}

/// The stored aal of the current request's session when it is valid, else
/// NULL, as text (`aal1`, `aal2`, `aal3`), so that the extension's functions
/// depend on no type of the tables they read.
#[pg_extern(stable, parallel_safe, support = current_session_support)]
fn current_session_aal() -> Option<String> {
    current().aal.and_then(lookup::enum_label)
}
