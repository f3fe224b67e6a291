//! The devices page: a signed-in user lists their own sessions and signs
//! out of them, through the Data API, with no backend of their own.
//!
//! - `auth.my_sessions()`: the sessions of the user the current request's
//!   session belongs to (the row's `user_id`, never the `sub` claim), when
//!   that session is valid; else no rows.
//! - `auth.revoke_my_session(uuid)`: GoTrue's logout of one session, when it
//!   belongs to the same user and the current session is valid.
//! - `auth.revoke_my_other_sessions()`: GoTrue's `others` scope.
//!
//! Who may ask is decided here, from the current session
//! ([`current::valid_session`], validity as `validity.rs` decides it); any
//! role may call them, as PostgREST's `authenticated` does. Reading needs no
//! privilege (the lookups read the table directly, as the current-session
//! functions do, and work on a hot standby). Deleting is done as the owner of
//! `auth.sessions`, in a security-restricted operation, as PostgreSQL runs a
//! foreign key's cascade or VACUUM runs a table's maintenance: exactly the
//! rows decided here, with the superuser guard on the triggers it fires.

use crate::current;
use crate::lookup::{self, Seen};
use crate::security;
use crate::trusted_code;
use crate::settings;
use crate::statements;
use crate::user_agent;
use crate::validity;
use pgrx::datum::{Inet, TimestampWithTimeZone, Uuid};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::ffi::CStr;

/// Microseconds since 2000-01-01 UTC as a `timestamptz` (the reverse of
/// `lookup::spi::micros_of`).
fn timestamptz_of(micros: Option<validity::Micros>) -> Option<TimestampWithTimeZone> {
    // Stored values are always within range; anything else shows as NULL.
    micros.and_then(|m| TimestampWithTimeZone::try_from(m).ok())
}

/// The sessions of the current session's user, newest activity first (last
/// activity: `refreshed_at`, read as UTC, else `created_at`), each with its
/// validity now and a device label from its user agent; no rows without a
/// valid current session.
#[pg_extern(stable, parallel_safe)]
fn my_sessions() -> TableIterator<
    'static,
    (
        name!(id, Uuid),
        name!(created_at, Option<TimestampWithTimeZone>),
        name!(last_active_at, Option<TimestampWithTimeZone>),
        name!(aal, Option<String>),
        name!(user_agent, Option<String>),
        name!(device, Option<String>),
        name!(browser, Option<String>),
        name!(os, Option<String>),
        name!(ip, Option<Inet>),
        name!(validity, &'static str),
        name!(is_current, bool),
    ),
> {
    let Some((current, user)) = current::valid_session() else {
        return TableIterator::empty();
    };
    let policy = settings::policy();
    let now = pgrx::datetime::now().into_inner();
    let columns = lookup::device_columns(&lookup::catalog().sessions);
    let mut sessions = lookup::user_sessions_with(&user, &policy, Seen::ByStatement, |slot, s| {
        (lookup::aal_at(slot, s), lookup::text_at(slot, columns.user_agent), lookup::inet_at(slot, columns.ip))
    });
    // Last activity: the last refresh, else the sign-in.
    let last_active = |t: &validity::SessionTimes| t.refreshed_at.or(t.created_at);
    // Newest activity first; sessions without any time last; then by id, so
    // that the order is the same on every call.
    sessions.sort_by(|(a_id, a, _), (b_id, b, _)| last_active(b).cmp(&last_active(a)).then_with(|| a_id.cmp(b_id)));
    TableIterator::new(sessions.into_iter().map(move |(id, times, (aal, agent, ip))| {
        let device = user_agent::describe(agent.as_deref());
        (
            Uuid::from_bytes(id),
            timestamptz_of(times.created_at),
            timestamptz_of(last_active(&times)),
            aal,
            agent,
            device.label,
            device.browser,
            device.os,
            ip,
            validity::decide(Some(&times), &policy, now).as_str(),
            id == current,
        )
    }))
}

const REVOKE_ONE: &str =
    "DELETE FROM ONLY auth.sessions AS s WHERE s.id OPERATOR(pg_catalog.=) $1 AND s.user_id OPERATOR(pg_catalog.=) $2";
const REVOKE_OTHERS: &str =
    "DELETE FROM ONLY auth.sessions AS s WHERE s.user_id OPERATOR(pg_catalog.=) $1 AND s.id OPERATOR(pg_catalog.<>) $2";

/// Refuses (SQLSTATE 25006) in a read-only transaction or on a hot standby,
/// whatever the claims say, before anything is read.
fn writable(what: &CStr) {
    // SAFETY: both only read backend state and raise an ERROR.
    unsafe {
        pg_sys::PreventCommandIfReadOnly(what.as_ptr());
        pg_sys::PreventCommandDuringRecovery(what.as_ptr());
    }
}

/// Deletes what `query` selects (its two uuid parameters: `first`,
/// `second`) as the owner of `auth.sessions`, with the superuser guard on
/// the triggers the delete and its cascades fire; returns how many went.
fn delete_as_owner(query: &'static str, first: [u8; 16], second: [u8; 16]) -> usize {
    let cat = lookup::catalog();
    let owner = security::owner_of(cat.sessions.rel);
    trusted_code::guard_session_delete(owner);
    let args = [Uuid::from_bytes(first).into(), Uuid::from_bytes(second).into()];
    security::as_owner(cat.sessions.rel, || {
        Spi::connect_mut(|client| statements::run(client, query, &args).map(|t| t.len()))
    })
    .unwrap_or_else(|e| lookup::spi_failed("revoking a session", e))
}

/// Signs the current session's user out of session `session_id` (a hard
/// delete, as GoTrue's logout: refresh tokens and amr claims go by cascade)
/// when it is theirs and the current session is valid. `false` otherwise,
/// saying nothing about whether the id exists. Revoking the current session
/// is a logout.
#[pg_extern(volatile)]
fn revoke_my_session(session_id: Option<Uuid>) -> bool {
    writable(c"auth.revoke_my_session()");
    let (Some((_, user)), Some(target)) = (current::valid_session(), session_id) else {
        return false;
    };
    delete_as_owner(REVOKE_ONE, *target.as_bytes(), user) > 0
}

/// Signs the current session's user out of all their other sessions
/// (GoTrue's `others` scope) when the current session is valid; returns how
/// many were deleted (0 without a valid current session).
#[pg_extern(volatile)]
fn revoke_my_other_sessions() -> i32 {
    writable(c"auth.revoke_my_other_sessions()");
    let Some((current, user)) = current::valid_session() else {
        return 0;
    };
    i32::try_from(delete_as_owner(REVOKE_OTHERS, user, current)).unwrap_or(i32::MAX)
}
