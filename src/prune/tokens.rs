//! The revoked refresh tokens' batch: a sweep over `refresh_tokens.updated_at`
//! from a cursor kept in `auth.prune_state`, with the sessions' bounds (about
//! ten rows examined per row the batch may delete).

use super::{cutoff, guard_prune_state, on_prune_state, require_primary, LOCK_CURSORS, SWEEP_ROWS_PER_ROW};
use crate::lookup;
use crate::security;
use crate::statements::run;
use crate::trusted_code::{self, Event};
use crate::validity::Micros;
use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;

const TOKENS_FROM_START: &str = "SELECT r.id, r.revoked, r.updated_at FROM ONLY auth.refresh_tokens r \
     WHERE r.updated_at OPERATOR(pg_catalog.<) $1 ORDER BY r.updated_at LIMIT $2";
const TOKENS_AFTER: &str = "SELECT r.id, r.revoked, r.updated_at FROM ONLY auth.refresh_tokens r \
     WHERE r.updated_at OPERATOR(pg_catalog.<) $1 AND r.updated_at OPERATOR(pg_catalog.>) $3 \
     ORDER BY r.updated_at LIMIT $2";
const DELETE_TOKENS: &str = "DELETE FROM ONLY auth.refresh_tokens r WHERE r.id OPERATOR(pg_catalog.=) ANY(ARRAY( \
     SELECT l.id FROM ONLY auth.refresh_tokens l WHERE l.id OPERATOR(pg_catalog.=) ANY($1) AND l.revoked \
        AND l.updated_at OPERATOR(pg_catalog.<) $2 FOR UPDATE SKIP LOCKED))";
const SAVE_TOKEN_CURSOR: &str = "UPDATE ONLY auth.prune_state \
     SET token_cursor = $1, token_sweeps = token_sweeps OPERATOR(pg_catalog.+) $2::pg_catalog.int4";

/// One batch of revoked refresh tokens older than `grace`.
pub fn tokens_batch(batch: i64, grace: Micros) -> (i64, bool) {
    require_primary();
    let now = pgrx::datetime::now().into_inner();
    let before = cutoff(now, grace);
    Spi::connect_mut(|client| {
        let cursor = on_prune_state(|| run(client, LOCK_CURSORS, &[]))?;
        if cursor.is_empty() {
            return Ok((0, false));
        }
        let cursor: Option<TimestampWithTimeZone> = cursor.first().get(2)?;
        let scan = batch * SWEEP_ROWS_PER_ROW;
        let rows = match cursor {
            None => run(client, TOKENS_FROM_START, &[before.into(), scan.into()])?,
            Some(c) => run(client, TOKENS_AFTER, &[before.into(), scan.into(), c.into()])?,
        };
        let scanned = rows.len() as i64;
        let mut last: Option<TimestampWithTimeZone> = None;
        let mut revoked: Vec<i64> = Vec::new();
        for row in rows {
            last = row.get::<TimestampWithTimeZone>(3)?;
            if row.get::<bool>(2)? == Some(true) {
                if let Some(id) = row.get::<i64>(1)? {
                    revoked.push(id);
                    if revoked.len() as i64 == batch {
                        break;
                    }
                }
            }
        }
        // Resume after the last updated_at examined (tokens sharing that exact
        // microsecond beyond the batch wait for the next cycle).
        let wrapped = (revoked.len() as i64) < batch && scanned < scan;
        let next = if wrapped { None } else { last };
        guard_prune_state();
        on_prune_state(|| run(client, SAVE_TOKEN_CURSOR, &[next.into(), (wrapped as i32).into()]))?;
        let deleted = if revoked.is_empty() {
            0
        } else {
            let tokens = lookup::catalog().tokens.rel;
            trusted_code::refuse_untrusted_code(tokens, Event::Delete, security::current_user());
            run(client, DELETE_TOKENS, &[revoked.into(), before.into()])?.len() as i64
        };
        Ok::<_, pgrx::spi::Error>((deleted, wrapped))
    })
    .unwrap_or_else(|e| lookup::spi_failed("pruning", e))
}
