//! Step 2 of a batch: the resumable sweep over `auth.sessions`, which finds
//! the sessions a timebox or an inactivity timeout has ended. Each call reads
//! a window of heap blocks in physical order (a TID range scan), so that it
//! reads a bounded run of consecutive blocks whatever the table's size, and
//! successive calls cover the table. Where the window lies is a pure rule
//! (`window`, `until`, `next`, unit-tested); [`pick`] reads it.
//!
//! Positions are `(block, offset)` pairs, as in a `ctid`. A window runs from
//! a position to the start of a later block; the cursor kept between calls
//! is the position the next window starts at, or none once the sweep has
//! reached the end of the table (the next call starts over).

use super::batch::Doomed;
use super::{guard_prune_state, on_prune_state, LOCK_CURSORS, SWEEP_ROWS_PER_ROW};
use crate::ffi::{tid, tid_parts};
use crate::lookup::{self, Catalog, Seen};
use crate::statements::run;
use crate::validity::{self, Micros, Policy, SessionTimes};
use pgrx::pg_sys;
use pgrx::spi::SpiClient;
use std::collections::HashSet;

/// Rows per block assumed when the table's statistics say nothing yet
/// (never vacuumed or analyzed): about what a session row's size allows.
const ROWS_PER_BLOCK_UNKNOWN: f64 = 64.0;

/// How many blocks a call reads to examine about `rows` rows, at
/// `rows_per_block` rows per block (the table's statistics, if any): at
/// least one, and at most one for every eight rows, so that a table left
/// sparse by deletions (statistics not yet updated) is not read too far.
pub fn window(rows: i64, rows_per_block: Option<f64>) -> u32 {
    let rows = rows.max(1) as f64;
    let per_block = match rows_per_block {
        Some(r) if r.is_finite() && r >= 1.0 => r,
        _ => ROWS_PER_BLOCK_UNKNOWN,
    };
    let cap = (rows / 8.0).ceil().max(1.0);
    (rows / per_block).ceil().clamp(1.0, cap).min(u32::MAX as f64) as u32
}

/// The block a window starting at `from` ends before, in a table of
/// `blocks` blocks; `None` when `from` is past the end (the table has
/// shrunk since the cursor was saved): nothing to read.
pub fn until(from: (u32, u16), window: u32, blocks: u32) -> Option<u32> {
    (from.0 < blocks).then(|| from.0.saturating_add(window).min(blocks))
}

/// Where the next call starts: just after the row the batch stopped at when
/// it filled up, else at the end of the window read (`until`); `None` when
/// the window reached the end of the table (or there was nothing to read).
pub fn next(stopped_at: Option<(u32, u16)>, until: Option<u32>, blocks: u32) -> Option<(u32, u16)> {
    match (stopped_at, until) {
        (Some((block, offset)), _) => Some((block, offset.saturating_add(1))),
        (None, Some(end)) if end < blocks => Some((end, 0)),
        _ => None,
    }
}

const SWEEP_BLOCKS: &str = "SELECT s.id, s.created_at, s.not_after, s.refreshed_at, s.ctid \
     FROM ONLY auth.sessions s WHERE s.ctid OPERATOR(pg_catalog.>=) $1 AND s.ctid OPERATOR(pg_catalog.<) $2";
/// The sweep's picks, by the ctid the sweep read them at (a TID scan: no
/// index, whatever the table's size). A session updated since (a refresh)
/// has moved: its new version fails the ctid recheck and it is skipped.
const LOCK_SESSIONS: &str = "SELECT s.id, s.created_at, s.not_after, s.refreshed_at, s.ctid \
     FROM ONLY auth.sessions s WHERE s.ctid OPERATOR(pg_catalog.=) ANY($1) FOR UPDATE SKIP LOCKED";
const SAVE_SESSION_CURSOR: &str = "UPDATE ONLY auth.prune_state \
     SET session_cursor = $1, session_sweeps = session_sweeps OPERATOR(pg_catalog.+) $2::pg_catalog.int4";

fn prunable(id: &[u8; 16], t: &SessionTimes, policy: &Policy, now: Micros, grace: Micros, seen: Seen) -> bool {
    let t = lookup::complete(Some(id), t.created_at, t.not_after, t.refreshed_at, policy, seen);
    validity::prunable(&t, policy, now, grace)
}

/// Reads the next window from the cursor, when no other pruner holds it,
/// and adds to `doomed` (up to `batch` in all) the sessions in it that
/// `validity::prunable` says may go, locked `SKIP LOCKED` and checked again
/// on their latest version. Saves the cursor; returns whether the sweep
/// reached the end of the table.
pub(super) fn pick(
    client: &mut SpiClient<'_>,
    cat: &Catalog,
    policy: &Policy,
    now: Micros,
    grace: Micros,
    batch: i64,
    doomed: &mut Vec<Doomed>,
) -> Result<bool, pgrx::spi::Error> {
    let cursor = on_prune_state(|| run(client, LOCK_CURSORS, &[]))?;
    if cursor.is_empty() {
        return Ok(false);
    }
    let cursor: Option<pg_sys::ItemPointerData> = cursor.first().get(1)?;
    let from = cursor.map(tid_parts).unwrap_or((0, 0));
    let (blocks, rows_per_block) = lookup::sessions_extent(cat);
    let until = until(from, window(batch * SWEEP_ROWS_PER_ROW, rows_per_block), blocks);
    let room = batch as usize - doomed.len();
    let already: HashSet<[u8; 16]> = doomed.iter().map(|(id, _)| *id).collect();
    let mut picked: Vec<pg_sys::ItemPointerData> = Vec::new();
    let mut stopped_at = None;
    if let Some(until) = until {
        let mut rows = Vec::new();
        for row in run(client, SWEEP_BLOCKS, &[tid(from).into(), tid((until, 0)).into()])? {
            if let (Some((id, t)), Some(ctid)) = (lookup::session_from_row(&row)?, row.get::<pg_sys::ItemPointerData>(5)?) {
                rows.push((tid_parts(ctid), id, t));
            }
        }
        // Physical order, whatever order the scan returned them in.
        rows.sort_unstable_by_key(|(at, _, _)| *at);
        for (at, id, t) in rows {
            if !already.contains(&id) && prunable(&id, &t, policy, now, grace, Seen::ByStatement) {
                picked.push(tid(at));
                if picked.len() == room {
                    stopped_at = Some(at);
                    break;
                }
            }
        }
    }
    let next = next(stopped_at, until, blocks);
    // No next position: the sweep has reached the end of the table.
    let swept = next.is_none();
    let next: Option<pg_sys::ItemPointerData> = next.map(tid);
    guard_prune_state();
    on_prune_state(|| run(client, SAVE_SESSION_CURSOR, &[next.into(), (swept as i32).into()]))?;
    if picked.is_empty() {
        return Ok(swept);
    }
    let mut locked = Vec::with_capacity(picked.len());
    for row in run(client, LOCK_SESSIONS, &[picked.into()])? {
        if let (Some((id, t)), Some(ctid)) = (lookup::session_from_row(&row)?, row.get::<pg_sys::ItemPointerData>(5)?) {
            locked.push((id, t, ctid));
        }
    }
    // The locked rows are the latest versions; their tokens are read with
    // one snapshot taken after the locks: a refresh committed meanwhile
    // saves its session.
    lookup::with_latest_snapshot(|after_locks| {
        for (id, t, ctid) in locked {
            if prunable(&id, &t, policy, now, grace, Seen::In(after_locks)) {
                doomed.push((id, ctid));
            }
        }
    });
    Ok(swept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_follows_the_rows_per_block() {
        assert_eq!(window(10_000, Some(50.0)), 200);
        assert_eq!(window(10_000, Some(33.3)), 301);
        // Unknown or nonsense statistics: the default density.
        assert_eq!(window(10_000, None), 157);
        assert_eq!(window(10_000, Some(-1.0)), 157);
        assert_eq!(window(10_000, Some(f64::NAN)), 157);
        assert_eq!(window(10_000, Some(0.0)), 157);
    }

    #[test]
    fn the_window_is_at_least_one_block_and_at_most_one_per_eight_rows() {
        assert_eq!(window(1, Some(50.0)), 1);
        assert_eq!(window(0, Some(50.0)), 1);
        assert_eq!(window(-5, None), 1);
        assert_eq!(window(10_000, Some(1.0)), 1250);
        assert_eq!(window(i64::MAX, Some(1.0)), u32::MAX);
    }

    #[test]
    fn a_window_stops_at_the_end_of_the_table() {
        assert_eq!(until((0, 0), 200, 1000), Some(200));
        assert_eq!(until((900, 7), 200, 1000), Some(1000));
        assert_eq!(until((1000, 0), 200, 1000), None);
        assert_eq!(until((5000, 0), 200, 1000), None);
        assert_eq!(until((0, 0), 200, 0), None);
        assert_eq!(until((u32::MAX - 1, 0), u32::MAX, u32::MAX), Some(u32::MAX));
    }

    #[test]
    fn the_next_call_resumes_after_the_last_row_taken_or_the_window() {
        // The batch filled up at (17, 4): resume at the next row.
        assert_eq!(next(Some((17, 4)), Some(200), 1000), Some((17, 5)));
        assert_eq!(next(Some((17, u16::MAX)), Some(200), 1000), Some((17, u16::MAX)));
        // It did not: the next window starts where this one ended.
        assert_eq!(next(None, Some(200), 1000), Some((200, 0)));
        // This window reached the end, or the cursor was past it: start over.
        assert_eq!(next(None, Some(1000), 1000), None);
        assert_eq!(next(None, None, 1000), None);
    }
}
