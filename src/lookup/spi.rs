//! Sessions read through SPI (the queries that read many at once), and what
//! an SPI failure of ours raises.

use crate::validity::{Micros, SessionTimes};
use pgrx::datum::{Timestamp, TimestampWithTimeZone, Uuid};
use pgrx::pg_sys;
use pgrx::prelude::*;

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

/// An SPI failure that no input can cause (a query of ours no longer matching
/// the tables); raised as an internal error naming what was being done.
pub fn spi_failed(doing: &str, e: pgrx::spi::Error) -> ! {
    crate::errors::error(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, format!("auth_sessions: {doing} failed: {e}"), "auth_sessions")
        .raise()
}

/// A `timestamptz` as its internal value (microseconds since 2000-01-01 UTC).
pub fn micros_of(t: Option<TimestampWithTimeZone>) -> Option<Micros> {
    t.map(|t| t.into_inner())
}

/// `refreshed_at`: a `timestamp` whose internal value is the UTC instant.
pub fn utc_wall_clock(t: Option<Timestamp>) -> Option<Micros> {
    t.map(pg_sys::Timestamp::from)
}
