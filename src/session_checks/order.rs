//! Where the session check goes among a table's row-security conditions, so
//! that it never keeps the table's own policies from using an index.
//!
//! PostgreSQL applies a table's policies as a list of "security quals", one
//! security level each, in order: every restrictive policy's condition
//! first, then the permissive ones ORed together. A condition of a higher
//! level may be used as an index condition only if it is leakproof or no
//! condition of a lower level exists, so a restrictive
//! `auth_sessions_valid_session` ahead of a permissive `auth.uid() =
//! user_id` (not leakproof: `current_setting`) turns the user's index scan
//! into a scan of the whole table, the policy checked on every row.
//!
//! So when the planner builds a table's RelOptInfo (`get_relation_info_hook`,
//! before it distributes the table's security quals), a security qual that
//! is exactly a call of `auth.current_session_is_valid()` — the policy
//! `auth.enforce_session_check()` makes, or one written by hand; recognized
//! by the function's code, not its name, in either form planning has left it
//! (the call, or the InitPlan the support function made of it) — moves to
//! the end of the table's list. The conditions are ANDed either way, so
//! which rows pass is unchanged; only the order in which the policies' own
//! conditions run changes (they are all the table owner's code, and the
//! check reads no row), and the user's conditions can drive an index again.
//! The hook runs after the statement's expressions were simplified, which
//! is what loads the library in a connection that had not loaded it: so it
//! applies from a connection's first statement.

use crate::ffi::list_cells;
use pgrx::pg_sys;
use pgrx::pg_sys::NodeTag;
use pgrx::prelude::*;

/// The hook that was installed before ours.
static mut PREVIOUS: pg_sys::get_relation_info_hook_type = None;

/// Installs the hook; called once per backend from `_PG_init`.
pub fn register() {
    // SAFETY: called once per backend from _PG_init; the hook chains to the
    // previous one.
    unsafe {
        PREVIOUS = pg_sys::get_relation_info_hook;
        pg_sys::get_relation_info_hook = Some(relation_info);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn relation_info(
    root: *mut pg_sys::PlannerInfo,
    relation: pg_sys::Oid,
    inhparent: bool,
    rel: *mut pg_sys::RelOptInfo,
) {
    // SAFETY: called by the planner for a base relation of `root`, whose
    // simple_rte_array holds its RTE at `rel->relid`; the security quals are
    // not distributed yet (query_planner builds the rels first). PREVIOUS is
    // written once, in _PG_init.
    unsafe {
        if !root.is_null() && !rel.is_null() && !(*root).simple_rte_array.is_null() {
            let rte = *(*root).simple_rte_array.add((*rel).relid as usize);
            if !rte.is_null() {
                move_checks_last(root, rte);
            }
        }
        if let Some(previous) = PREVIOUS {
            previous(root, relation, inhparent, rel);
        }
    }
}

/// Whether one security qual (after preprocessing: an implicit-AND List) is
/// the bare session check: one item, the call itself or the InitPlan
/// parameter the support function made of it.
///
/// SAFETY: `qual` is a node of the RTE's preprocessed securityQuals.
unsafe fn is_session_check(root: *mut pg_sys::PlannerInfo, qual: *mut pg_sys::Node) -> bool {
    // SAFETY: the tags are read before the nodes are taken for their
    // structs; the init_plans and subroots lists are the planner's own.
    unsafe {
        if qual.is_null() {
            return false;
        }
        let item = if (*qual).type_ == NodeTag::T_List {
            match list_cells(qual.cast()) {
                [only] => only.ptr_value.cast::<pg_sys::Node>(),
                _ => return false,
            }
        } else {
            qual
        };
        if crate::planner::is_session_check_call(item) {
            return true;
        }
        if item.is_null() || (*item).type_ != NodeTag::T_Param {
            return false;
        }
        let param = &*item.cast::<pg_sys::Param>();
        if param.paramkind != pg_sys::ParamKind::PARAM_EXEC {
            return false;
        }
        // The InitPlan that sets it, and the query it plans.
        let subplan = list_cells((*root).init_plans).iter().map(|c| c.ptr_value.cast::<pg_sys::SubPlan>()).find(|sp| {
            !sp.is_null() && list_cells((**sp).setParam).iter().any(|c| c.int_value == param.paramid)
        });
        let Some(subplan) = subplan else { return false };
        let subroots = list_cells((*(*root).glob).subroots);
        let Some(subroot) = usize::try_from((*subplan).plan_id - 1).ok().and_then(|i| subroots.get(i)) else {
            return false;
        };
        let subroot = subroot.ptr_value.cast::<pg_sys::PlannerInfo>();
        !subroot.is_null() && crate::planner::is_hoisted_session_check((*subroot).parse)
    }
}

/// Moves the session checks of one RTE's securityQuals to its end.
///
/// SAFETY: `rte` is a valid RangeTblEntry of `root`, whose securityQuals is
/// NIL or a List of preprocessed quals.
unsafe fn move_checks_last(root: *mut pg_sys::PlannerInfo, rte: *mut pg_sys::RangeTblEntry) {
    // SAFETY: as the function's contract says; the list is rebuilt with the
    // same node pointers, in the planner's memory context.
    unsafe {
        let quals = list_cells((*rte).securityQuals);
        if quals.len() < 2 {
            return;
        }
        let checks: Vec<bool> = quals.iter().map(|c| is_session_check(root, c.ptr_value.cast())).collect();
        let Some(first) = checks.iter().position(|c| *c) else { return };
        if checks[first..].iter().all(|c| *c) {
            return;
        }
        let mut reordered: *mut pg_sys::List = std::ptr::null_mut();
        for (cell, _) in quals.iter().zip(&checks).filter(|(_, c)| !**c).chain(quals.iter().zip(&checks).filter(|(_, c)| **c)) {
            reordered = pg_sys::lappend(reordered, cell.ptr_value);
        }
        (*rte).securityQuals = reordered;
    }
}
