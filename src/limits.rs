//! The per-user session limit (`auth_sessions.max_per_user`), enforced by an
//! AFTER INSERT OR UPDATE OF user_id row trigger on `auth.sessions`, so it
//! holds for every client, GoTrue included, and for every way a row arrives:
//! a single or multi-row INSERT, INSERT ... SELECT, COPY, MERGE, and an
//! UPDATE (or ON CONFLICT DO UPDATE) that moves a session to another user.
//! An AFTER trigger fires only for a row that was stored: a row that ON
//! CONFLICT DO NOTHING skips never evicts anything. Each firing counts the
//! user's sessions as they stand after the statement's own rows (the rows the
//! same statement stored before are seen, so five rows inserted at once
//! cannot slip past a limit of two), and makes the user fit the limit by
//! evicting the least recently active of the others, or fails with 53400.
//! A row the statement already evicted (an earlier row's firing took it) is
//! left alone.
//!
//! A trigger defined as BEFORE INSERT (the definition of 0.3.0 and earlier,
//! which a dump made then recreates) still works: it makes room before each
//! row, counting the rows the statement stored before it.
//!
//! Rights: the trigger runs with the rights of whoever inserts (it is not
//! `SECURITY DEFINER`). Counting needs no privilege (the sessions are read
//! directly, as validity is); evicting is an ordinary `DELETE` by the
//! inserter, so a role that may not delete the user's sessions gets 42501
//! and nothing is written. Eviction as a superuser goes through the superuser
//! guard (security.rs).
//!
//! Restores: a restore loads the rows of `auth.sessions` as they were dumped,
//! after the database's settings (`pg_dump --create`, `pg_dumpall`) and, for
//! the standalone extension, after the trigger itself (CREATE EXTENSION comes
//! first). A user over the limit when the dump was made (the limit was set or
//! lowered later) would lose sessions to evictions or fail the restore. So the
//! trigger stands aside while `row_security` is off, as pg_dump's scripts and
//! pg_restore set it, for a role that owns the table or has its owner's
//! privileges (a superuser does): such a role may disable the trigger anyway
//! (`security::restoring`). Anyone else is held to the limit, whatever
//! `row_security` says.
//!
//! Concurrency: before counting, the trigger takes a transaction-scoped lock
//! on the user (an advisory lock in a key space of its own, see [`lock_user`];
//! it writes nothing). That lock serializes every insert for one user until
//! commit, and the count that follows reads a snapshot taken after it, so it
//! sees the sessions the previous holder committed. Under REPEATABLE READ or
//! SERIALIZABLE, where the transaction must not see that, a user whose
//! sessions changed since the transaction's snapshot makes the insert fail
//! with SQLSTATE 40001 (could not serialize access), which the client
//! retries, instead of counting from a stale snapshot.

use crate::lookup::{self, Seen};
use crate::security;
use crate::trusted_code;
use crate::statements;
use crate::settings::{self, LimitStrategy};
use crate::validity::{self, last_refreshed, Micros, Policy, SessionTimes};
use pgrx::datum::Uuid;
use pgrx::pg_sys;
use pgrx::prelude::*;

const EVICT: &str = "DELETE FROM ONLY auth.sessions s WHERE s.id OPERATOR(pg_catalog.=) ANY($1)";

/// `pg_locks.objsubid` of the per-user locks ("AS"): PostgreSQL's own
/// advisory locks use 1 (one bigint key) and 2 (two integer keys), so these
/// never collide with an application's advisory locks.
pub const LOCK_KEY_SPACE: u16 = 0x4153;

/// What a new session for a user with these sessions must do first.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision<K> {
    /// Room enough: insert.
    Insert,
    /// Delete these sessions (least recently active first), then insert.
    Evict(Vec<K>),
    /// Refuse: the user already has as many valid sessions as allowed.
    Reject,
}

/// How many of these sessions are valid now.
fn valid_count<K>(sessions: &[(K, SessionTimes)], policy: &Policy, now: Micros) -> usize {
    sessions.iter().filter(|(_, t)| validity::decide(Some(t), policy, now).is_valid()).count()
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
        LimitStrategy::Reject => Decision::Reject,
        LimitStrategy::EvictOldest => {
            valid.sort_by(|(ka, a), (kb, b)| {
                (last_refreshed(a), a.created_at, ka).cmp(&(last_refreshed(b), b.created_at, kb))
            });
            Decision::Evict(valid.into_iter().take(excess).map(|(k, _)| k.clone()).collect())
        }
    }
}

/// The key of a user's lock: the database, and the uuid folded to 64 bits
/// (two users that share a key only wait for each other, they are never
/// counted together).
fn lock_tag(user_id: &[u8; 16]) -> pg_sys::LOCKTAG {
    let word = |i: usize| u32::from_be_bytes([user_id[i], user_id[i + 1], user_id[i + 2], user_id[i + 3]]);
    pg_sys::LOCKTAG {
        // SAFETY: reads the backend's database OID, set at connection.
        locktag_field1: unsafe { pg_sys::MyDatabaseId }.to_u32(),
        locktag_field2: word(0) ^ word(8),
        locktag_field3: word(4) ^ word(12),
        locktag_field4: LOCK_KEY_SPACE,
        locktag_type: pg_sys::LockTagType::LOCKTAG_ADVISORY as u8,
        locktag_lockmethodid: pg_sys::USER_LOCKMETHOD as u8,
    }
}

/// Serializes this transaction's inserts for `user_id` with everyone
/// else's: waits (interruptibly, with deadlock detection) for the lock,
/// held until the transaction ends (or the subtransaction that took it is
/// rolled back, with the insert).
fn lock_user(user_id: &[u8; 16]) {
    let tag = lock_tag(user_id);
    // SAFETY: a transaction-scoped lock (sessionLock = false), released by
    // the resource owner at (sub)transaction end; the tag is a local.
    unsafe { pg_sys::LockAcquire(&tag, pg_sys::ExclusiveLock as pg_sys::LOCKMODE, false, false) };
}

fn uses_transaction_snapshot() -> bool {
    // SAFETY: reads the backend's isolation level.
    unsafe { pg_sys::XactIsoLevel >= pg_sys::XACT_REPEATABLE_READ as i32 }
}

fn ids(sessions: &[([u8; 16], SessionTimes)]) -> Vec<[u8; 16]> {
    let mut ids: Vec<[u8; 16]> = sessions.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    ids
}

/// Makes this command's own changes visible to the reads that follow: the
/// rows the statement stored before this one (a snapshot taken now sees a
/// command's rows only once the command counter has moved past it, as it
/// does before each query a trigger runs).
fn see_own_rows() {
    // SAFETY: what SPI does before each statement it runs; the executor
    // goes on writing with its own command id.
    unsafe { pg_sys::CommandCounterIncrement() };
}

/// Reads with the calling statement's snapshot, brought up to the current
/// command (so that it sees the statement's own rows, as `Seen::Now` does).
fn with_statement_snapshot_now<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: the copy is pushed as the active snapshot and popped here (or
    // by the abort of the (sub)transaction on an ERROR).
    unsafe {
        pg_sys::PushCopiedSnapshot(lookup::statement_snapshot());
        pg_sys::UpdateActiveSnapshotCommandId();
        let result = f();
        pg_sys::PopActiveSnapshot();
        result
    }
}

/// Makes `user_id` fit the limit with one session more than `others` (the
/// new one, or the one moved to the user), or raises SQLSTATE 53400.
/// `keep` is the id of that session, left out of what is counted as
/// others (None before it is stored).
fn make_room(user_id: Uuid, keep: Option<[u8; 16]>, max: u32, strategy: LimitStrategy) {
    let policy = settings::policy();
    let now = pgrx::datetime::now().into_inner();
    lock_user(&user_id);
    see_own_rows();
    // After the lock: everything the previous holder committed, and the
    // statement's own rows.
    let mut sessions = lookup::user_sessions(&user_id, &policy, Seen::Now);
    if uses_transaction_snapshot()
        && ids(&with_statement_snapshot_now(|| lookup::user_sessions(&user_id, &Policy::default(), Seen::ByStatement)))
            != ids(&sessions)
    {
        crate::errors::error(
            PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE,
            "could not serialize access due to concurrent update",
            "auth.enforce_session_limit",
        )
        .detail("The user's sessions changed after this transaction's snapshot was taken, so they cannot be counted.")
        .hint("Retry the transaction.")
        .raise();
    }
    if let Some(keep) = keep {
        let before = sessions.len();
        sessions.retain(|(id, _)| *id != keep);
        // Gone already (an earlier row of the statement evicted it, or moved
        // it away): nothing to make room for.
        if sessions.len() == before {
            return;
        }
    }
    match decide(&sessions, &policy, now, max, strategy) {
        Decision::Insert => {}
        Decision::Reject => {
            crate::errors::error(
                PgSqlErrorCode::ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
                format!("too many sessions for user {user_id}"),
                "auth.enforce_session_limit",
            )
            .detail(format!("auth_sessions.max_per_user is {max}."))
            .hint("Revoke one of the user's sessions first, or set auth_sessions.limit_strategy to 'evict_oldest'.")
            .raise();
        }
        Decision::Evict(keys) => {
            evict(&keys);
            // The delete may have been kept from some of them (row security,
            // a trigger): never let the limit be exceeded because of that.
            let mut left = lookup::user_sessions(&user_id, &policy, Seen::Now);
            left.retain(|(id, _)| Some(*id) != keep);
            if valid_count(&left, &policy, now) >= max as usize {
                could_not_evict(user_id);
            }
        }
    }
}

/// Deletes the sessions `keys` with the inserter's rights.
fn evict(keys: &[[u8; 16]]) {
    trusted_code::guard_session_delete(security::current_user());
    let ids: Vec<Uuid> = keys.iter().map(|k| Uuid::from_bytes(*k)).collect();
    // A kept plan (statements.rs), with search_path pinned there.
    Spi::connect_mut(|client| statements::run(client, EVICT, &[ids.into()]).map(|_| ()))
        .unwrap_or_else(|e| lookup::spi_failed("enforcing the session limit", e));
    // SAFETY: makes the delete visible to the count that follows, as the
    // next command of the transaction would see it.
    unsafe { pg_sys::CommandCounterIncrement() };
}

fn could_not_evict(user_id: Uuid) -> ! {
    let (code, detail) = if security::row_security_applies(lookup::catalog().sessions.rel) {
        (
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            "Row-level security kept the inserting role from deleting the user's sessions that had to make room.",
        )
    } else {
        (
            PgSqlErrorCode::ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
            "A trigger or rule on auth.sessions kept the sessions that had to make room from being deleted.",
        )
    };
    crate::errors::error(
        code,
        format!("could not evict sessions of user {user_id} to stay within auth_sessions.max_per_user"),
        "auth.enforce_session_limit",
    )
    .detail(detail)
    .hint("Evicting needs DELETE on auth.sessions, with row security (if any) letting the inserting role delete the user's sessions.")
    .raise()
}

/// The uuid column `name` of row `tuple` of the trigger's table, found by
/// name in the table's row type and read only if it is a uuid (the column
/// is checked, not trusted).
///
/// SAFETY: `td` is the TriggerData of a row-level trigger call, so
/// `tg_relation` is the open relation; `tuple` is one of its row versions.
unsafe fn uuid_column(td: *mut pg_sys::TriggerData, tuple: pg_sys::HeapTuple, name: &std::ffi::CStr) -> Option<Uuid> {
    // SAFETY: as the function's contract says; the attribute array holds
    // `natts` entries, and a uuid datum points at 16 bytes of the tuple.
    unsafe {
        if tuple.is_null() {
            return None;
        }
        let tupdesc = (*(*td).tg_relation).rd_att;
        let attrs = crate::rows::attributes(tupdesc);
        let i = attrs.iter().position(|a| {
            !a.attisdropped && std::ffi::CStr::from_ptr(a.attname.data.as_ptr()) == name && a.atttypid == pg_sys::UUIDOID
        })?;
        let mut isnull = false;
        let d = pg_sys::heap_getattr(tuple, (i + 1) as i32, tupdesc, &mut isnull);
        (!isnull).then(|| Uuid::from_bytes(*d.cast_mut_ptr::<[u8; 16]>()))
    }
}

fn misfired(what: &str) -> ! {
    crate::errors::error(
        PgSqlErrorCode::ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
        format!("auth.enforce_session_limit() {what}"),
        "auth.enforce_session_limit",
    )
    .raise()
}

/// How the limit trigger was fired.
enum Firing {
    /// AFTER INSERT FOR EACH ROW: a row was stored.
    Inserted,
    /// AFTER UPDATE FOR EACH ROW: a row was changed (maybe its user_id).
    Updated,
    /// BEFORE INSERT FOR EACH ROW: the definition of 0.3.0 and earlier.
    BeforeInsert,
}

/// AFTER INSERT OR UPDATE OF user_id ON auth.sessions FOR EACH ROW (or,
/// as defined before 0.4.0, BEFORE INSERT). A plain C trigger function: with
/// the limit off it returns at the cost of reading one setting; with it on,
/// it makes the user fit the limit (see the module's comment).
#[pg_extern(sql = r#"
CREATE FUNCTION auth.enforce_session_limit() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'enforce_session_limit_wrapper';
"#)]
fn enforce_session_limit(fcinfo: pg_sys::FunctionCallInfo) -> pgrx::datum::Internal {
    // SAFETY: `fcinfo` is the call's; its context, when a TriggerData node,
    // describes the firing (checked below before anything is read).
    unsafe {
        let context = (*fcinfo).context;
        let event = if !context.is_null() && (*context).type_ == pg_sys::NodeTag::T_TriggerData {
            (*(context as *mut pg_sys::TriggerData)).tg_event
        } else {
            u32::MAX
        };
        let row = event != u32::MAX && event & pg_sys::TRIGGER_EVENT_ROW != 0;
        let timing = event & pg_sys::TRIGGER_EVENT_TIMINGMASK;
        let firing = match event & pg_sys::TRIGGER_EVENT_OPMASK {
            pg_sys::TRIGGER_EVENT_INSERT if row && timing == pg_sys::TRIGGER_EVENT_AFTER => Firing::Inserted,
            pg_sys::TRIGGER_EVENT_UPDATE if row && timing == pg_sys::TRIGGER_EVENT_AFTER => Firing::Updated,
            pg_sys::TRIGGER_EVENT_INSERT if row && timing == pg_sys::TRIGGER_EVENT_BEFORE => Firing::BeforeInsert,
            _ => misfired("must be called as an AFTER INSERT OR UPDATE FOR EACH ROW trigger"),
        };
        let td = context as *mut pg_sys::TriggerData;
        if let Some((max, strategy)) = settings::session_limit() {
            // It counts and evicts in auth.sessions: on any other table it
            // would act on rows that are not the ones it was fired for.
            if (*(*td).tg_relation).rd_id != lookup::catalog().sessions.rel {
                misfired("must be a trigger on auth.sessions");
            }
            // A restore loads the rows as they were dumped, a user over the
            // limit (it was lowered later) included: evicting would lose
            // rows, refusing would fail the restore (see the module's comment).
            let restoring = security::restoring((*(*td).tg_relation).rd_id);
            // A NULL user_id is left to the NOT NULL constraint.
            match firing {
                _ if restoring => {}
                Firing::BeforeInsert => {
                    if let Some(user_id) = uuid_column(td, (*td).tg_trigtuple, c"user_id") {
                        make_room(user_id, None, max, strategy);
                    }
                }
                Firing::Inserted | Firing::Updated => {
                    let stored = if matches!(firing, Firing::Updated) { (*td).tg_newtuple } else { (*td).tg_trigtuple };
                    let user_id = uuid_column(td, stored, c"user_id");
                    let moved = match firing {
                        Firing::Updated => uuid_column(td, (*td).tg_trigtuple, c"user_id") != user_id,
                        _ => true,
                    };
                    if let (true, Some(user_id), Some(id)) = (moved, user_id, uuid_column(td, stored, c"id")) {
                        make_room(user_id, Some(*id.as_bytes()), max, strategy);
                    }
                }
            }
        }
        // BEFORE: the row to insert, unchanged; AFTER: ignored (NULL).
        let result = match firing {
            Firing::BeforeInsert => pg_sys::Datum::from((*td).tg_trigtuple),
            _ => pg_sys::Datum::from(0usize),
        };
        pgrx::datum::Internal::from(Some(result))
    }
}

#[cfg(test)]
mod unit_tests {
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
        assert_eq!(decide(&sessions, &p, T0 + 6 * H, 3, LimitStrategy::Reject), Decision::Reject);
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

#[cfg(feature = "pg_test")]
#[pgrx::pg_schema]
mod tests {
    use crate::schema::fixture::*;
    use pgrx::prelude::*;

    #[pg_test]
    fn the_limit_trigger_evicts_the_least_recently_active() {
        one_session();
        Spi::run(
            "SET LOCAL auth_sessions.max_per_user = 1;
             SELECT auth.create_session('00000000-0000-4000-8000-000000000001')",
        )
        .expect("create_session runs");
        let left = Spi::get_one::<bool>(
            "SELECT count(*) = 1 AND bool_and(id <> '00000000-0000-4000-8000-0000000000a1') FROM auth.sessions",
        );
        assert_eq!(left, Ok(Some(true)));
    }
}
