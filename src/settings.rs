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
//! Which load mode the guarantees need: none, as long as the values are
//! trusted, and they are checked here. When the library is loaded at server
//! start (`shared_preload_libraries`), PostgreSQL itself refuses every value
//! from a role without the right to set these settings, on every route
//! (`SET`, a startup option, `ALTER ROLE ... SET`, a function's `SET` clause).
//! When it is loaded later in a backend (on the first call of one of its
//! functions, or by `session_preload_libraries`), values given before that
//! were kept as placeholders; loading the library re-applies each with the
//! privileges of the role that gave it, which refuses the untrusted ones.
//! Refusing a `SET` leaves the configured value; but a value given as a
//! startup option (`PGOPTIONS='-c auth_sessions.max_per_user=0'`) had
//! *replaced* the configured one (from postgresql.conf, `ALTER SYSTEM`,
//! `ALTER DATABASE` or `ALTER ROLE`) in the placeholder, so once it is
//! refused the configured value is lost for that backend. `register` notices
//! that (the value a RESET would return to was refused) and marks the
//! setting untrusted: every function that applies it then fails with
//! SQLSTATE 42501 in that backend, instead of applying a looser rule.
//!
//! The prefix is reserved once the library is loaded, so no new placeholders
//! under `auth_sessions.` can be made.

use crate::validity::{Micros, Policy};
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum};
use std::cell::Cell;
use std::ffi::{CStr, CString};

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
static ALLOW_LOW_AAL: GucSetting<i32> = GucSetting::<i32>::new(0);
static MAX_PER_USER: GucSetting<i32> = GucSetting::<i32>::new(0);
static LIMIT_STRATEGY: GucSetting<LimitStrategy> = GucSetting::<LimitStrategy>::new(LimitStrategy::EvictOldest);
static HOIST_CURRENT_SESSION: GucSetting<bool> = GucSetting::<bool>::new(true);
/// Read by the event trigger of sql/session_checks.sql (by name).
static SESSION_CHECK_SCHEMAS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static PRUNE_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(60);
static PRUNE_DATABASE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"postgres"));
static PRUNE_BATCH_SIZE: GucSetting<i32> = GucSetting::<i32>::new(1000);
static PRUNE_GRACE: GucSetting<i32> = GucSetting::<i32>::new(0);
static PRUNE_TOKEN_GRACE: GucSetting<i32> = GucSetting::<i32>::new(24 * 3600);
static PRUNE_TIME_BUDGET: GucSetting<i32> = GucSetting::<i32>::new(10);
static PRUNE_BUSY_SHARE: GucSetting<f64> = GucSetting::<f64>::new(0.05);
static PRUNE_ROLE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static PRUNE_LOCK_TIMEOUT: GucSetting<i32> = GucSetting::<i32>::new(1000);

/// The settings that decide validity and the limit, whose values only
/// superusers (or roles granted SET on them) may give.
pub const PROTECTED: [&CStr; 5] = [
    c"auth_sessions.timebox",
    c"auth_sessions.inactivity_timeout",
    c"auth_sessions.max_per_user",
    c"auth_sessions.limit_strategy",
    c"auth_sessions.allow_low_aal",
];
const TIMEBOX_I: usize = 0;
const INACTIVITY_TIMEOUT_I: usize = 1;
const MAX_PER_USER_I: usize = 2;
const LIMIT_STRATEGY_I: usize = 3;
const ALLOW_LOW_AAL_I: usize = 4;

thread_local! {
    /// Which of `PROTECTED` lost their configured value in this backend when
    /// the library was loaded (see the module's comment).
    static UNTRUSTED: Cell<[bool; 5]> = const { Cell::new([false; 5]) };
}

/// What the background pruning worker does (read on each wake-up, so a
/// reload applies).
#[derive(Debug, Clone)]
pub struct Pruning {
    /// Seconds between runs; 0: the worker only sleeps.
    pub interval: i32,
    pub batch_size: i64,
    pub grace: Micros,
    pub token_grace: Micros,
    pub time_budget: std::time::Duration,
    /// The role to prune as; `None`: the owner of `auth.sessions`.
    pub role: Option<String>,
    /// The pruner's `lock_timeout`, in milliseconds (0: none).
    pub lock_timeout_ms: i32,
}

pub fn pruning() -> Pruning {
    Pruning {
        interval: PRUNE_INTERVAL.get(),
        batch_size: PRUNE_BATCH_SIZE.get() as i64,
        grace: seconds_to_micros(PRUNE_GRACE.get()),
        token_grace: seconds_to_micros(PRUNE_TOKEN_GRACE.get()),
        time_budget: std::time::Duration::from_secs(PRUNE_TIME_BUDGET.get() as u64),
        role: PRUNE_ROLE.get().map(|s| s.to_string_lossy().into_owned()).filter(|s| !s.is_empty()),
        lock_timeout_ms: PRUNE_LOCK_TIMEOUT.get(),
    }
}

/// The most of the time pruning may take while other sessions run queries
/// (see prune/pacing.rs): read after every batch, by the procedure and the worker.
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

/// Pure: whether loading the library lost a setting's configured value: the
/// placeholder had a value to return to on RESET (from `reset_source`), and
/// the real setting has none after re-applying it (it was refused).
pub fn lost_configured_value(placeholder_reset_source: u32, defined_reset_source: u32) -> bool {
    let default = pg_sys::GucSource::PGC_S_DEFAULT as u32;
    placeholder_reset_source != default && defined_reset_source == default
}

/// Fails (SQLSTATE 42501) when one of the settings `which` cannot be
/// trusted in this backend.
fn require_trusted(which: &[usize]) {
    let untrusted = UNTRUSTED.with(Cell::get);
    let Some(&i) = which.iter().find(|&&i| untrusted[i]) else { return };
    let name = PROTECTED[i].to_string_lossy();
    crate::errors::error(
        PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        format!("the configured value of {name} is not known in this session"),
        "auth_sessions::settings",
    )
    .detail(format!(
        "A value for {name} from a role that may not set it (a startup option such as PGOPTIONS='-c {name}=...') \
         replaced the configured one before the extension's library was loaded in this session, and was refused when it loaded."
    ))
    .hint(
        "Connect without that option. With auth_sessions in shared_preload_libraries such options are refused when connecting.",
    )
    .raise();
}

/// The validity rules currently configured.
pub fn policy() -> Policy {
    require_trusted(&[TIMEBOX_I, INACTIVITY_TIMEOUT_I, ALLOW_LOW_AAL_I]);
    Policy {
        timebox: seconds_to_micros(TIMEBOX.get()),
        inactivity_timeout: seconds_to_micros(INACTIVITY_TIMEOUT.get()),
        allow_low_aal: seconds_to_micros(ALLOW_LOW_AAL.get()),
    }
}

/// The per-user limit: `None` when unlimited.
pub fn session_limit() -> Option<(u32, LimitStrategy)> {
    require_trusted(&[MAX_PER_USER_I]);
    match MAX_PER_USER.get() {
        n if n > 0 => {
            require_trusted(&[LIMIT_STRATEGY_I]);
            Some((n as u32, LIMIT_STRATEGY.get()))
        }
        _ => None,
    }
}

/// Whether the planner support function evaluates current-session calls
/// once per statement (see planner.rs).
pub fn hoist_current_session() -> bool {
    HOIST_CURRENT_SESSION.get()
}

/// The `reset_source` of each protected setting (or its placeholder).
fn reset_sources() -> [u32; 5] {
    PROTECTED.map(|name| {
        // SAFETY: reads a field of the GUC's struct, if there is one.
        unsafe {
            let v = crate::versions::find_setting(name);
            if v.is_null() { pg_sys::GucSource::PGC_S_DEFAULT as u32 } else { (*v).reset_source as u32 }
        }
    })
}

/// Registers the settings; called once from `_PG_init`.
pub fn register() {
    let before = reset_sources();
    define();
    let after = reset_sources();
    let lost = std::array::from_fn(|i| lost_configured_value(before[i], after[i]));
    UNTRUSTED.with(|u| u.set(lost));
}

fn define() {
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
        c"auth_sessions.allow_low_aal",
        c"How long a session below its user's highest possible AAL stays valid, counted from created_at (0 = off).",
        c"Like GOTRUE_SESSIONS_ALLOW_LOW_AAL. A session is low_aal when its aal is below aal2 while its user has a \
          verified factor in auth.mfa_factors, and now > created_at + allow_low_aal. Pruning never deletes a session \
          for this reason alone.",
        &ALLOW_LOW_AAL,
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
        c"Evaluate auth.current_session_is_valid(), current_session_aal() and session_id() once per statement.",
        c"Their planner support function rewrites their calls as (SELECT ...) InitPlans when planning. Turning it off only makes policies slower.",
        &HOIST_CURRENT_SESSION,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"auth_sessions.session_check_schemas",
        c"Schemas (comma-separated) whose tables get the session check when a CREATE or ALTER TABLE leaves them with row security.",
        c"The event trigger auth_sessions_session_checks adds the policy auth.enforce_session_check() adds, as the role that ran the command. Empty: none.",
        &SESSION_CHECK_SCHEMAS,
        GucContext::Userset,
        GucFlags::default(),
    );
    // The background pruning worker (prune/worker/); postgresql.conf or ALTER SYSTEM.
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
    GucRegistry::define_string_guc(
        c"auth_sessions.prune_role",
        c"The role the background worker prunes as (empty: the owner of auth.sessions).",
        c"The worker acts as this role, as VACUUM acts as a table's owner: it needs SELECT, UPDATE and DELETE on \
          auth.sessions and auth.refresh_tokens, and row security must let \
          it see the rows (BYPASSRLS or policies). As a superuser it refuses to fire triggers written by others.",
        &PRUNE_ROLE,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"auth_sessions.prune_lock_timeout",
        c"How long the background worker waits for a lock before giving up on a run (0 = no limit).",
        c"Its statements run with this lock_timeout; a run that times out is logged and recorded, and the next one \
          tries again.",
        &PRUNE_LOCK_TIMEOUT,
        0,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_MS,
    );
    crate::versions::reserve_setting_prefix(c"auth_sessions");
}
