//! Reading sessions: one by id (through the kept scan of a per-row function
//! when there is one), a user's sessions, the times validity needs (the
//! newest refresh token's when the rules need it) and the columns a devices
//! list shows.

use super::catalog::{catalog, column, enum_label, Catalog, Sessions};
use super::factors::{highest_aal, highest_aal_in};
use super::heap::{attr, micros, probe, statement_snapshot, uuid, with_snapshot, Seen};
use crate::kept_scan;
use crate::validity::{self, Aal, Micros, Policy, SessionTimes};
use pgrx::pg_sys;

/// What a lookup returns: the timestamps validity needs, the stored aal (the
/// `pg_enum` OID of its label, which is how an enum datum is represented) and
/// the session's user.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionRow {
    pub times: SessionTimes,
    pub aal: Option<pg_sys::Oid>,
    pub user_id: Option<[u8; 16]>,
}

pub(super) fn times_in(slot: *mut pg_sys::TupleTableSlot, s: &Sessions) -> SessionTimes {
    SessionTimes {
        created_at: micros(attr(slot, s.created_at)),
        not_after: micros(attr(slot, s.not_after)),
        refreshed_at: micros(attr(slot, s.refreshed_at)),
        newest_token_at: None,
        low_aal: false,
    }
}

pub(super) fn session_in(slot: *mut pg_sys::TupleTableSlot, s: &Sessions) -> SessionRow {
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

pub(super) fn newest_token_time(cat: &Catalog, id: &[u8; 16], snapshot: pg_sys::Snapshot) -> Option<Micros> {
    let mut newest: Option<Micros> = None;
    probe(cat.tokens.rel, cat.tokens.by_session, cat.tokens.session_id, id, snapshot, |slot| {
        if let Some(t) = micros(attr(slot, cat.token_updated_at)) {
            newest = Some(newest.map_or(t, |n| n.max(t)));
        }
        true
    });
    newest
}
