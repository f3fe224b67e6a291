//! The only code that reads a session's timestamps from PostgreSQL.
//!
//! Queries run read-only through SPI, so they see the snapshot of the
//! statement that called them, like any STABLE function.

use crate::validity::{Micros, Policy, SessionTimes};
use pgrx::datum::{Timestamp, TimestampWithTimeZone, Uuid};
use pgrx::prelude::*;

const SESSION_BY_ID: &str =
    "SELECT s.created_at, s.not_after, s.refreshed_at FROM auth.sessions s WHERE s.id = $1";
const NEWEST_TOKEN: &str =
    "SELECT max(r.updated_at) FROM auth.refresh_tokens r WHERE r.session_id = $1";

pub fn tstz(t: Option<TimestampWithTimeZone>) -> Option<Micros> {
    t.map(|t| t.into_inner())
}

/// `refreshed_at`: a `timestamp` whose internal value is the UTC instant.
pub fn utc_wall_clock(t: Option<Timestamp>) -> Option<Micros> {
    t.map(pg_sys::Timestamp::from)
}

/// Reads session `id`; `None` when there is no such row.
pub fn session_times(id: Uuid, policy: &Policy) -> Option<SessionTimes> {
    let row = Spi::connect(|client| {
        let rows = client.select(SESSION_BY_ID, Some(1), &[id.into()])?;
        if rows.is_empty() {
            return Ok::<_, pgrx::spi::Error>(None);
        }
        let row = rows.first();
        Ok(Some((
            row.get::<TimestampWithTimeZone>(1)?,
            row.get::<TimestampWithTimeZone>(2)?,
            row.get::<Timestamp>(3)?,
        )))
    })
    .unwrap_or_else(|e| spi_failed(e));
    row.map(|(created_at, not_after, refreshed_at)| {
        complete(Some(id), tstz(created_at), tstz(not_after), utc_wall_clock(refreshed_at), policy)
    })
}

/// A session's times from values already at hand (a row being scanned or
/// updated), adding the newest refresh token's time only when the rules need it.
pub fn complete(
    id: Option<Uuid>,
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

fn newest_token_time(id: Uuid) -> Option<Micros> {
    Spi::connect(|client| client.select(NEWEST_TOKEN, Some(1), &[id.into()])?.first().get_one::<TimestampWithTimeZone>())
        .map(tstz)
        .unwrap_or_else(|e| spi_failed(e))
}

pub fn spi_failed(e: pgrx::spi::Error) -> ! {
    ereport!(ERROR, PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, format!("auth_sessions: reading auth.sessions failed: {e}"));
}
