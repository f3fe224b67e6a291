//! The extension's settings (GUCs): one place that says what they are, their
//! units and bounds, and how they turn into the rules the rest of the crate uses.
//!
//! The validity and limit settings are `PGC_SUSET`: only superusers (or roles
//! granted `SET` on them) may change them, so no ordinary role can loosen
//! validity inside its own session. `hoist_current_session` only changes how
//! often a function runs, and `prune_busy_share` how fast pruning goes, not
//! what anything answers or deletes, so anyone may set them.
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
use std::ffi::CString;

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
static PRUNE_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(60);
static PRUNE_DATABASE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"postgres"));
static PRUNE_BATCH_SIZE: GucSetting<i32> = GucSetting::<i32>::new(1000);
static PRUNE_GRACE: GucSetting<i32> = GucSetting::<i32>::new(0);
static PRUNE_TOKEN_GRACE: GucSetting<i32> = GucSetting::<i32>::new(24 * 3600);
static PRUNE_TIME_BUDGET: GucSetting<i32> = GucSetting::<i32>::new(10);
static PRUNE_BUSY_SHARE: GucSetting<f64> = GucSetting::<f64>::new(0.05);

/// What the background pruning worker does (read on each wake-up, so a
/// reload applies).
#[derive(Debug, Clone, Copy)]
pub struct Pruning {
    /// Seconds between runs; 0: the worker only sleeps.
    pub interval: i32,
    pub batch_size: i64,
    pub grace: Micros,
    pub token_grace: Micros,
    pub time_budget: std::time::Duration,
}

pub fn pruning() -> Pruning {
    Pruning {
        interval: PRUNE_INTERVAL.get(),
        batch_size: PRUNE_BATCH_SIZE.get() as i64,
        grace: seconds_to_micros(PRUNE_GRACE.get()),
        token_grace: seconds_to_micros(PRUNE_TOKEN_GRACE.get()),
        time_budget: std::time::Duration::from_secs(PRUNE_TIME_BUDGET.get() as u64),
    }
}

/// The most of the time pruning may take while other sessions run queries
/// (see pacing.rs): read after every batch, by the procedure and the worker.
pub fn prune_busy_share() -> f64 {
    PRUNE_BUSY_SHARE.get()
}

/// The database the worker prunes.
pub fn prune_database() -> String {
    PRUNE_DATABASE.get().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "postgres".into())
}

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
    // The background pruning worker (worker.rs); postgresql.conf or ALTER SYSTEM.
    GucRegistry::define_int_guc(
        c"auth_sessions.prune_interval",
        c"Seconds between the background worker's pruning runs (0 = the worker only sleeps).",
        c"Needs auth_sessions in shared_preload_libraries.",
        &PRUNE_INTERVAL,
        0,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_string_guc(
        c"auth_sessions.prune_database",
        c"The database the background worker prunes.",
        c"On a reload that changes it, the worker restarts and connects to the new one.",
        &PRUNE_DATABASE,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"auth_sessions.prune_batch_size",
        c"Sessions (and refresh tokens) the background worker deletes per batch; each batch commits.",
        c"",
        &PRUNE_BATCH_SIZE,
        1,
        1_000_000,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"auth_sessions.prune_grace",
        c"How long a session stays after becoming invalid before the worker deletes it.",
        c"",
        &PRUNE_GRACE,
        0,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"auth_sessions.prune_token_grace",
        c"How long a revoked refresh token stays (after its updated_at) before the worker deletes it.",
        c"",
        &PRUNE_TOKEN_GRACE,
        0,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"auth_sessions.prune_time_budget",
        c"The longest one run of the background worker keeps pruning before it sleeps again.",
        c"",
        &PRUNE_TIME_BUDGET,
        1,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    // Only how fast pruning goes while others are busy, never what it
    // deletes: anyone may set it, for their own CALL.
    GucRegistry::define_float_guc(
        c"auth_sessions.prune_busy_share",
        c"The largest share of the time pruning takes while other sessions are running queries (1 = never pause).",
        c"After each batch during which another session ran a query, pruning pauses for (1 / share - 1) times \
          the batch's duration (at most 5 s), so that it leaves the CPU to the application; when nobody else \
          ran anything it goes straight on. Applies to auth.prune_expired_sessions and the background worker.",
        &PRUNE_BUSY_SHARE,
        0.01,
        1.0,
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
