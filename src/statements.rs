//! Statements the extension runs through SPI on hot paths (pruning's
//! batches, the limit's eviction), each planned once per backend and kept.

use crate::security;
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::spi::{OwnedPreparedStatement, SpiClient, SpiTupleTable};
use std::cell::RefCell;
use std::collections::HashMap;

thread_local! {
    /// Each statement is planned once per backend and kept (PostgreSQL
    /// re-plans it if the tables change): planning `= ANY($1)` with a
    /// thousand-element array every batch cost more than some of the work.
    /// Boxed, and never removed, so that a statement stays where it is while
    /// it runs, even if what it runs (a trigger) prepares another.
    static PREPARED: RefCell<HashMap<&'static str, Box<OwnedPreparedStatement>>> = RefCell::new(HashMap::new());
}

/// Runs `query` (a constant of the caller's) as a kept prepared statement,
/// its parameter types taken from `args`, with a generic plan and
/// `search_path` pinned. The batch statements take arrays of up to
/// `batch_size` values: a plan made for the values at hand would estimate
/// each of them, every batch.
pub fn run<'conn>(
    client: &mut SpiClient<'conn>,
    query: &'static str,
    args: &[DatumWithOid<'_>],
) -> Result<SpiTupleTable<'conn>, pgrx::spi::Error> {
    security::pinned(&[(c"plan_cache_mode", c"force_generic_plan")], || {
        // The map is borrowed only to find or add the statement, not while it
        // runs: a trigger it fires may come back here.
        let kept = PREPARED.with(|p| p.borrow().get(query).map(|b| &**b as *const OwnedPreparedStatement));
        let statement = match kept {
            Some(statement) => statement,
            None => {
                let types: Vec<PgOid> = args.iter().map(|a| PgOid::from_untagged(a.oid())).collect();
                let boxed = Box::new(client.prepare_mut(query, &types)?.keep());
                // The one in the map (the first kept, should preparing have run
                // a trigger that kept the same statement).
                PREPARED.with(|p| &**p.borrow_mut().entry(query).or_insert(boxed) as *const OwnedPreparedStatement)
            }
        };
        // SAFETY: the statement lives in a Box owned by the backend-lifetime
        // map, which never removes or replaces an entry, so the pointer stays
        // valid; nothing else mutates it.
        client.update(unsafe { &*statement }, None, args)
    })
}
