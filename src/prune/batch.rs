//! One batch of sessions (the module's comment in mod.rs tells the steps):
//! [`sessions_batch`] runs [`lock_past_not_after`], then the sweep
//! (sweep.rs), then [`delete_sessions`].

use super::children::{self, cascades_done_by_hand, take_children};
use super::{cutoff, direct, require_primary, sweep};
use crate::lookup::{self, Catalog};
use crate::security;
use crate::settings;
use crate::statements::run;
use crate::trusted_code;
use crate::validity::Micros;
use pgrx::datum::{TimestampWithTimeZone, Uuid};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

/// A session the batch has locked and will delete: its id and its ctid.
pub(super) type Doomed = ([u8; 16], pg_sys::ItemPointerData);

const PAST_NOT_AFTER: &str = "SELECT s.id, s.ctid FROM ONLY auth.sessions s WHERE s.not_after OPERATOR(pg_catalog.<) $1 \
     ORDER BY s.not_after LIMIT $2 FOR UPDATE SKIP LOCKED";
/// By ctid: the rows are locked by this transaction, so their ctids are
/// stable, and a TID scan visits them in physical order.
const DELETE_SESSIONS: &str = "DELETE FROM ONLY auth.sessions s WHERE s.ctid OPERATOR(pg_catalog.=) ANY($1)";

/// One batch of sessions, in the current transaction: how many it deleted,
/// and whether the sweep reached the end of the table (see `Step`).
pub fn sessions_batch(batch: i64, grace: Micros) -> (i64, bool) {
    require_primary();
    let policy = settings::policy();
    let now = pgrx::datetime::now().into_inner();
    let sweep_needed = policy.timebox > 0 || policy.inactivity_timeout > 0;
    let cat = lookup::catalog();
    Spi::connect_mut(|client| {
        let (mut doomed, how) = lock_past_not_after(client, &cat, cutoff(now, grace), batch)?;
        let swept = if !sweep_needed {
            true
        } else if (doomed.len() as i64) < batch {
            sweep::pick(client, &cat, &policy, now, grace, batch, &mut doomed)?
        } else {
            false
        };
        let deleted = delete_sessions(client, &cat, doomed, how)?;
        Ok::<_, pgrx::spi::Error>((deleted, swept))
    })
    .unwrap_or_else(|e| lookup::spi_failed("pruning", e))
}

/// Step 1: up to `batch` sessions past `not_after` before `before`, oldest
/// first, through an index on `not_after`, locked `FOR UPDATE SKIP LOCKED`
/// (by the heap path when it applies, else by SQL; the second value says
/// which, for the batch's DEBUG1 report).
fn lock_past_not_after(
    client: &mut SpiClient<'_>,
    cat: &Catalog,
    before: TimestampWithTimeZone,
    batch: i64,
) -> Result<(Vec<Doomed>, &'static str), pgrx::spi::Error> {
    if let Some(locked) = direct::lock_past_not_after(cat, before.into_inner(), batch as usize) {
        return Ok((locked, "directly"));
    }
    let mut locked = Vec::new();
    for row in run(client, PAST_NOT_AFTER, &[before.into(), batch.into()])? {
        if let (Some(id), Some(ctid)) = (row.get::<Uuid>(1)?, row.get::<pg_sys::ItemPointerData>(2)?) {
            locked.push((*id, ctid));
        }
    }
    Ok((locked, "by SQL"))
}

/// Step 3: the children of the `doomed` sessions, then the sessions
/// themselves, in physical order (see mod.rs for the two forms); a session
/// with a child someone else holds stays for a later batch. Returns how
/// many sessions were deleted.
fn delete_sessions(
    client: &mut SpiClient<'_>,
    cat: &Catalog,
    doomed: Vec<Doomed>,
    locked: &str,
) -> Result<i64, pgrx::spi::Error> {
    if doomed.is_empty() {
        return Ok(0);
    }
    let by_hand = cascades_done_by_hand(cat);
    trusted_code::guard_session_delete(security::current_user());
    let ids: Vec<[u8; 16]> = doomed.iter().map(|(id, _)| *id).collect();
    let (blocked, taken) = take_children(client, cat, &ids, by_hand)?;
    debug1!(
        "auth_sessions: a pruning batch: {} sessions doomed (past not_after locked {locked}), children taken {taken:?}",
        ids.len(),
    );
    let ctids: Vec<pg_sys::ItemPointerData> =
        doomed.into_iter().filter(|(id, _)| !blocked.contains(id)).map(|(_, ctid)| ctid).collect();
    if ctids.is_empty() {
        return Ok(0);
    }
    let deleted = if by_hand {
        children::as_replica(|| run(client, DELETE_SESSIONS, &[ctids.into()]))?
    } else {
        run(client, DELETE_SESSIONS, &[ctids.into()])?
    };
    Ok(deleted.len() as i64)
}
