//! The extension's settings (GUCs): one place that says what they are, their
//! units and bounds, and how they turn into the rules the rest of the crate uses.
//!
//! The validity and limit settings are `PGC_SUSET`: only superusers (or roles
//! granted `SET` on them) may change them, so no ordinary role can loosen
//! validity inside its own session. `hoist_current_session` only changes how
//! often a function runs, not its answers, so anyone may set it.
//! Durations are integer settings in seconds, so PostgreSQL parses units
//! (`'8h'`, `'30min'`, `'1d'`, `'90s'`; a bare number is seconds) and rejects
//! negative or malformed values with SQLSTATE 22023 when they are set.
//!
//! A value an ordinary role set as a placeholder before the library was loaded
//! in its backend never takes effect: when the library defines the setting,
//! PostgreSQL (15+) re-applies placeholder values with the privileges of the
//! role that set them, which fails for a `PGC_SUSET` setting. The prefix is
//! then reserved, so no new placeholders under `auth_sessions.` can be made.

use crate::validity::{Micros, Policy};
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum};

const MICROS_PER_SECOND: Micros = 1_000_000;

/// What to do when a new session would exceed `auth_sessions.max_per_user`.
#[derive(PostgresGucEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitStrategy {
    /// Delete the user's least recently active valid session(s) to make room.
    #[name = c"evict_oldest"]
    EvictOldest,
    /// Refuse the new session with an error (SQLSTATE 53400).
    #[name = c"reject"]
    Reject,
}

static TIMEBOX: GucSetting<i32> = GucSetting::<i32>::new(0);
static INACTIVITY_TIMEOUT: GucSetting<i32> = GucSetting::<i32>::new(0);
static MAX_PER_USER: GucSetting<i32> = GucSetting::<i32>::new(0);
static LIMIT_STRATEGY: GucSetting<LimitStrategy> = GucSetting::<LimitStrategy>::new(LimitStrategy::EvictOldest);
static HOIST_CURRENT_SESSION: GucSetting<bool> = GucSetting::<bool>::new(true);

/// Seconds (as the settings hold them) to microseconds (as validity uses them).
pub const fn seconds_to_micros(seconds: i32) -> Micros {
    seconds as Micros * MICROS_PER_SECOND
}

/// The validity rules currently configured.
pub fn policy() -> Policy {
    Policy {
        timebox: seconds_to_micros(TIMEBOX.get()),
        inactivity_timeout: seconds_to_micros(INACTIVITY_TIMEOUT.get()),
    }
}

/// The per-user limit: `None` when unlimited.
pub fn session_limit() -> Option<(u32, LimitStrategy)> {
    match MAX_PER_USER.get() {
        n if n > 0 => Some((n as u32, LIMIT_STRATEGY.get())),
        _ => None,
    }
}

/// Whether the planner hook evaluates current-session calls in security quals
/// once per statement (see planner.rs).
pub fn hoist_current_session() -> bool {
    HOIST_CURRENT_SESSION.get()
}

/// Registers the settings; called once from `_PG_init`.
pub fn register() {
    GucRegistry::define_int_guc(
        c"auth_sessions.timebox",
        c"Maximum lifetime of a session, counted from created_at (0 = off).",
        c"Like GOTRUE_SESSIONS_TIMEBOX. A session is past its timebox when now > created_at + timebox.",
        &TIMEBOX,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"auth_sessions.inactivity_timeout",
        c"How long a session may go without a refresh (0 = off).",
        c"Like GOTRUE_SESSIONS_INACTIVITY_TIMEOUT. A session has timed out when now > last refresh + timeout; \
          the last refresh is refreshed_at (UTC) or, before the first refresh, created_at.",
        &INACTIVITY_TIMEOUT,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"auth_sessions.max_per_user",
        c"Maximum number of valid sessions per user (0 = unlimited).",
        c"Enforced on every insert into auth.sessions, by any client, under concurrency.",
        &MAX_PER_USER,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"auth_sessions.limit_strategy",
        c"What a new session beyond auth_sessions.max_per_user does: evict_oldest or reject.",
        c"evict_oldest deletes the user's least recently active valid sessions to make room; \
          reject refuses the new session with SQLSTATE 53400.",
        &LIMIT_STRATEGY,
        GucContext::Suset,
        GucFlags::default(),
    );
    // Only how often a function runs, never what it answers: anyone may set it.
    GucRegistry::define_bool_guc(
        c"auth_sessions.hoist_current_session",
        c"Evaluate auth.current_session_is_valid(), current_session_aal() and session_id() once per statement in row-level-security policies.",
        c"Rewrites such calls in policy quals as (SELECT ...) InitPlans when planning. Turning it off only makes policies slower.",
        &HOIST_CURRENT_SESSION,
        GucContext::Userset,
        GucFlags::default(),
    );
    reserve_prefix();
}

#[cfg(any(feature = "pg15", feature = "pg16", feature = "pg17", feature = "pg18"))]
fn reserve_prefix() {
    // SAFETY: called from _PG_init in the backend's main thread with a
    // NUL-terminated static string; PostgreSQL copies what it keeps.
    unsafe { pgrx::pg_sys::MarkGUCPrefixReserved(c"auth_sessions".as_ptr()) }
}

#[cfg(not(any(feature = "pg15", feature = "pg16", feature = "pg17", feature = "pg18")))]
fn reserve_prefix() {
    // SAFETY: as above; before PostgreSQL 15 this only warns about placeholders.
    unsafe { pgrx::pg_sys::EmitWarningsOnPlaceholders(c"auth_sessions".as_ptr()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_convert_without_overflow() {
        assert_eq!(seconds_to_micros(0), 0);
        assert_eq!(seconds_to_micros(8 * 3600), 28_800_000_000);
        assert_eq!(seconds_to_micros(i32::MAX), 2_147_483_647_000_000);
    }
}
