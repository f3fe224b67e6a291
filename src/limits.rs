//! The per-user session limit (`auth_sessions.max_per_user`), enforced by a
//! BEFORE INSERT trigger on `auth.sessions`, so it holds for every client,
//! GoTrue included.
//!
//! Concurrency: before counting, the trigger upserts the user's row in
//! `auth.session_limit_locks`. That row lock serializes every insert for one
//! user until commit, and the count that follows runs with a fresh snapshot
//! (READ COMMITTED), so it sees the sessions the previous holder committed.
//! Under REPEATABLE READ or SERIALIZABLE, a concurrent insert that committed
//! after this transaction's snapshot makes the upsert fail with SQLSTATE 40001
//! (could not serialize access), which the client retries, instead of counting
//! from a stale snapshot.

use crate::lookup;
use crate::settings::{self, LimitStrategy};
use crate::validity::{self, last_refreshed, Micros, Policy, SessionTimes};
use pgrx::datum::{TimestampWithTimeZone, Uuid};
use pgrx::prelude::*;

const LOCK_USER: &str = "INSERT INTO auth.session_limit_locks AS l (user_id, inserts) VALUES ($1, 1) \
     ON CONFLICT (user_id) DO UPDATE SET inserts = l.inserts + 1";
/// The user's sessions; the newest refresh token's time is read in the same
/// statement (same snapshot), and only when the inactivity rule needs it.
const USER_SESSIONS: &str = "SELECT s.id, s.created_at, s.not_after, s.refreshed_at, NULL::timestamptz \
     FROM auth.sessions s WHERE s.user_id = $1";
const USER_SESSIONS_WITH_TOKENS: &str = "SELECT s.id, s.created_at, s.not_after, s.refreshed_at, \
     CASE WHEN s.refreshed_at IS NULL THEN \
         (SELECT max(r.updated_at) FROM auth.refresh_tokens r WHERE r.session_id = s.id) END \
     FROM auth.sessions s WHERE s.user_id = $1";
const EVICT: &str = "DELETE FROM auth.sessions s WHERE s.id = ANY($1)";

/// What a new session for a user with these sessions must do first.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision<K> {
    /// Room enough: insert.
    Insert,
    /// Delete these sessions (least recently active first), then insert.
    Evict(Vec<K>),
    /// Refuse: the user already has this many valid sessions.
    Reject { valid: usize },
}

/// Pure: given a user's existing sessions, the rules and the limit, decide.
/// Only valid sessions count; eviction takes the least recently active
/// (last refresh, then creation, then key) so the newest logins survive.
pub fn decide<K: Ord + Clone>(
    sessions: &[(K, SessionTimes)],
    policy: &Policy,
    now: Micros,
    max: u32,
    strategy: LimitStrategy,
) -> Decision<K> {
    let mut valid: Vec<&(K, SessionTimes)> =
        sessions.iter().filter(|(_, t)| validity::decide(Some(t), policy, now).is_valid()).collect();
    let excess = (valid.len() + 1).saturating_sub(max as usize);
    if excess == 0 {
        return Decision::Insert;
    }
    match strategy {
        LimitStrategy::Reject => Decision::Reject { valid: valid.len() },
        LimitStrategy::EvictOldest => {
            valid.sort_by(|(ka, a), (kb, b)| {
                (last_refreshed(a), a.created_at, ka).cmp(&(last_refreshed(b), b.created_at, kb))
            });
            Decision::Evict(valid.into_iter().take(excess).map(|(k, _)| k.clone()).collect())
        }
    }
}

/// Makes room for one more session of `user_id`, or raises SQLSTATE 53400.
fn make_room(user_id: Uuid, max: u32, strategy: LimitStrategy) {
    let policy = settings::policy();
    let now = pgrx::datetime::now().into_inner();
    let query = if policy.needs_token_time() { USER_SESSIONS_WITH_TOKENS } else { USER_SESSIONS };
    let keyed = Spi::connect_mut(|client| {
        client.update(LOCK_USER, None, &[user_id.into()])?;
        // Not read-only: under READ COMMITTED this takes a new snapshot, taken
        // after the lock above, so it sees what the previous holder committed.
        let mut sessions: Vec<([u8; 16], SessionTimes)> = Vec::new();
        for row in client.update(query, None, &[user_id.into()])? {
            let Some((id, mut times)) = lookup::session_from_row(&row)? else { continue };
            times.newest_token_at = lookup::tstz(row.get::<TimestampWithTimeZone>(5)?);
            sessions.push((id, times));
        }
        Ok::<_, pgrx::spi::Error>(sessions)
    })
    .unwrap_or_else(|e| lookup::spi_failed("enforcing the session limit", e));
    match decide(&keyed, &policy, now, max, strategy) {
        Decision::Insert => {}
        Decision::Reject { valid } => {
            pgrx::pg_sys::panic::ErrorReport::new(
                PgSqlErrorCode::ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
                format!("too many sessions for user {user_id}"),
                "auth.enforce_session_limit",
            )
            .set_detail(format!("The user has {valid} valid session(s); auth_sessions.max_per_user is {max}."))
            .set_hint("Revoke one of the user's sessions first, or set auth_sessions.limit_strategy to 'evict_oldest'.")
            .report(PgLogLevel::ERROR);
        }
        Decision::Evict(keys) => {
            let ids: Vec<Uuid> = keys.iter().map(|k| Uuid::from_bytes(*k)).collect();
            Spi::connect_mut(|client| client.update(EVICT, None, &[ids.into()]).map(|_| ()))
                .unwrap_or_else(|e| lookup::spi_failed("enforcing the session limit", e));
        }
    }
}

/// BEFORE INSERT ON auth.sessions FOR EACH ROW.
#[pg_trigger]
fn enforce_session_limit<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, impl WhoAllocated>>, pgrx::datum::TryFromDatumError> {
    let Some(new) = trigger.new() else {
        return Ok(None);
    };
    if let Some((max, strategy)) = settings::session_limit() {
        // A NULL user_id is left to the NOT NULL constraint.
        if let Some(user_id) = new.get_by_name::<Uuid>("user_id")? {
            make_room(user_id, max, strategy);
        }
    }
    Ok(Some(new))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Micros = 3_600_000_000;
    const T0: Micros = 800_000_000_000_000;

    fn s(created: Micros, refreshed: Option<Micros>) -> SessionTimes {
        SessionTimes { created_at: Some(created), refreshed_at: refreshed, ..Default::default() }
    }

    #[test]
    fn unlimited_room_inserts() {
        let sessions = [(1, s(T0, None))];
        assert_eq!(decide(&sessions, &Policy::default(), T0, 2, LimitStrategy::Reject), Decision::Insert);
    }

    #[test]
    fn full_rejects_or_evicts_least_recently_active() {
        // 1 created first but refreshed last; 2 is the least recently active.
        let sessions = [(1, s(T0, Some(T0 + 5 * H))), (2, s(T0 + H, None)), (3, s(T0 + 2 * H, None))];
        let p = Policy::default();
        assert_eq!(decide(&sessions, &p, T0 + 6 * H, 3, LimitStrategy::Reject), Decision::Reject { valid: 3 });
        assert_eq!(decide(&sessions, &p, T0 + 6 * H, 3, LimitStrategy::EvictOldest), Decision::Evict(vec![2]));
        assert_eq!(decide(&sessions, &p, T0 + 6 * H, 1, LimitStrategy::EvictOldest), Decision::Evict(vec![2, 3, 1]));
    }

    #[test]
    fn invalid_sessions_do_not_count() {
        let p = Policy { timebox: H, ..Default::default() };
        let sessions = [(1, s(T0, None)), (2, s(T0 + 5 * H, None))];
        // Session 1 is past its timebox at T0 + 5h: one valid session, room for one more.
        assert_eq!(decide(&sessions, &p, T0 + 5 * H, 2, LimitStrategy::Reject), Decision::Insert);
        assert_eq!(decide(&sessions, &p, T0 + 5 * H, 1, LimitStrategy::EvictOldest), Decision::Evict(vec![2]));
    }

    #[test]
    fn ties_break_by_creation_then_key() {
        let sessions = [(9, s(T0, None)), (4, s(T0, None)), (7, s(T0 - H, Some(T0)))];
        assert_eq!(
            decide(&sessions, &Policy::default(), T0, 1, LimitStrategy::EvictOldest),
            Decision::Evict(vec![7, 4, 9])
        );
    }
}
