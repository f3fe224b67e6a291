//! The SQL functions that answer "is this session valid?": thin glue from SQL
//! arguments to `lookup` (read the row) and `validity` (decide).

use crate::lookup;
use crate::settings;
use crate::validity::{self, Reason};
use pgrx::datum::{Timestamp, TimestampWithTimeZone, Uuid};
use pgrx::prelude::*;

fn instant(at: Option<TimestampWithTimeZone>) -> i64 {
    match at {
        Some(at) => at.into_inner(),
        None => {
            ereport!(ERROR, PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED, "the time to check validity at must not be NULL");
        }
    }
}

fn reason(session_id: Option<Uuid>, at: Option<TimestampWithTimeZone>) -> Reason {
    let now = instant(at);
    let policy = settings::policy();
    let row = session_id.and_then(|id| lookup::session(&id, &policy));
    validity::decide(row.as_ref().map(|r| &r.times), &policy, now)
}

/// `valid`, `not_found`, `past_not_after`, `past_timebox` or `timed_out`, decided
/// in GoTrue's order at `at` (default: the transaction's `now()`).
#[pg_extern(stable, parallel_safe)]
fn session_validity(
    session_id: Option<Uuid>,
    at: default!(Option<TimestampWithTimeZone>, "now()"),
) -> &'static str {
    reason(session_id, at).as_str()
}

/// Whether the session exists and is valid at `at`; false for a NULL id.
#[pg_extern(stable, parallel_safe)]
fn session_is_valid(
    session_id: Option<Uuid>,
    at: default!(Option<TimestampWithTimeZone>, "now()"),
) -> bool {
    reason(session_id, at).is_valid()
}

/// Validity of a row already at hand, for queries over many sessions:
/// `WHERE auth.session_row_validity(s.id, s.created_at, s.not_after, s.refreshed_at) = 'valid'`.
#[pg_extern(stable, parallel_safe)]
pub fn session_row_validity(
    id: Option<Uuid>,
    created_at: Option<TimestampWithTimeZone>,
    not_after: Option<TimestampWithTimeZone>,
    refreshed_at: Option<Timestamp>,
    at: default!(Option<TimestampWithTimeZone>, "now()"),
) -> &'static str {
    let now = instant(at);
    let policy = settings::policy();
    let times = lookup::complete(
        id.as_deref(),
        lookup::tstz(created_at),
        lookup::tstz(not_after),
        lookup::utc_wall_clock(refreshed_at),
        &policy,
        lookup::Seen::ByStatement,
    );
    validity::decide(Some(&times), &policy, now).as_str()
}
