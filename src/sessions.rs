//! The SQL functions that answer "is this session valid?": thin glue from SQL
//! arguments to `lookup` (read the row) and `validity` (decide).

use crate::lookup;
use crate::settings;
use crate::validity::{self, Reason};
use crate::rows;
use pgrx::datum::{AnyElement, TimestampWithTimeZone, Uuid};
use pgrx::prelude::*;

fn instant(at: Option<TimestampWithTimeZone>) -> i64 {
    match at {
        Some(at) => at.into_inner(),
        None => {
            crate::errors::error(
                PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
                "the time to check validity at must not be NULL",
                "auth_sessions::sessions",
            )
            .raise();
        }
    }
}

fn reason(session_id: Option<Uuid>, at: Option<TimestampWithTimeZone>, fcinfo: pg_sys::FunctionCallInfo) -> Reason {
    let now = instant(at);
    let policy = settings::policy();
    let row = session_id.and_then(|id| lookup::session(&id, &policy, Some(fcinfo)));
    validity::decide(row.as_ref().map(|r| &r.times), &policy, now)
}

/// `valid`, `not_found`, `past_not_after`, `past_timebox`, `timed_out` or
/// `low_aal`, decided in GoTrue's order at `at` (default: the transaction's `now()`).
#[pg_extern(stable, parallel_safe)]
fn session_validity(
    session_id: Option<Uuid>,
    at: default!(Option<TimestampWithTimeZone>, "now()"),
    fcinfo: pg_sys::FunctionCallInfo,
) -> &'static str {
    reason(session_id, at, fcinfo).as_str()
}

/// Whether the session exists and is valid at `at`; false for a NULL id.
#[pg_extern(stable, parallel_safe)]
fn session_is_valid(
    session_id: Option<Uuid>,
    at: default!(Option<TimestampWithTimeZone>, "now()"),
    fcinfo: pg_sys::FunctionCallInfo,
) -> bool {
    reason(session_id, at, fcinfo).is_valid()
}

/// Validity of a session row already at hand, for queries over many sessions:
/// `WHERE auth.session_row_validity(s) = 'valid'` with `s` a row of
/// `auth.sessions` (any record with its fields `id`, `user_id`, `created_at`,
/// `not_after`, `refreshed_at` and `aal` will do). Taking a `record` keeps the
/// extension free of any dependency on the table's type (see README, modes).
#[pg_extern(sql = r#"
CREATE FUNCTION auth.session_row_validity(session record, at timestamptz DEFAULT now()) RETURNS text
    STABLE PARALLEL SAFE
    LANGUAGE c AS 'MODULE_PATHNAME', 'session_row_validity_wrapper';
"#)]
pub fn session_row_validity(session: Option<AnyElement>, at: Option<TimestampWithTimeZone>) -> &'static str {
    let now = instant(at);
    let Some(session) = session else { return Reason::NotFound.as_str() };
    let row = rows::read(session.datum());
    let policy = settings::policy();
    let mut times = lookup::complete(
        row.id.as_ref(),
        row.created_at,
        row.not_after,
        row.refreshed_at,
        &policy,
        lookup::Seen::ByStatement,
    );
    if policy.needs_aal() {
        times.low_aal = lookup::low_aal(row.user_id.as_ref(), row.aal_label().as_deref(), &policy, lookup::Seen::ByStatement);
    }
    validity::decide(Some(&times), &policy, now).as_str()
}

#[cfg(feature = "pg_test")]
#[pgrx::pg_schema]
mod tests {
    use crate::schema::fixture::*;
    use pgrx::prelude::*;

    #[pg_test]
    fn validity_reads_the_row_and_applies_the_settings() {
        one_session();
        assert_eq!(validity_at("2030-01-01 00:00:00+00").as_deref(), Some("valid"));
        Spi::run("SET LOCAL auth_sessions.timebox = '3h'").expect("superuser may set it");
        assert_eq!(validity_at("2026-01-01 03:00:00+00").as_deref(), Some("valid"));
        assert_eq!(validity_at("2026-01-01 03:00:00.000001+00").as_deref(), Some("past_timebox"));
        Spi::run("SET LOCAL auth_sessions.timebox = 0; SET LOCAL auth_sessions.inactivity_timeout = '1h'")
            .expect("superuser may set them");
        // refreshed_at is UTC wall-clock time, whatever the session's TimeZone.
        Spi::run("SET LOCAL TimeZone = 'Asia/Kolkata'").expect("time zone set");
        assert_eq!(validity_at("2026-01-01 03:00:00+00").as_deref(), Some("valid"));
        assert_eq!(validity_at("2026-01-01 03:00:00.000001+00").as_deref(), Some("timed_out"));
        let unknown = Spi::get_one::<bool>("SELECT auth.session_is_valid('ffffffff-0000-4000-8000-000000000000')");
        assert_eq!(unknown, Ok(Some(false)));
    }
}
