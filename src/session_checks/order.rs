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
//! So before each statement is planned (a `planner_hook`), a security qual
//! that is exactly a call of `auth.current_session_is_valid()` (the policy
//! `auth.enforce_session_check()` makes, or one written by hand; recognized
//! by the function's code, not its name) moves to the end of its table's
//! list. The conditions are ANDed either way, so which rows pass is
//! unchanged; only the order in which the policies' own conditions run
//! changes (they are all the table owner's code, and the check reads no row),
//! and the user's conditions can drive an index again. Every query level is
//! visited: subqueries, CTEs, sublinks, and policies' own sublinks.
//!
//! The hook exists once the library is loaded: preloaded
//! (`shared_preload_libraries` or `session_preload_libraries`), or from a
//! connection's second planning on; the statement whose planning loads the
//! library keeps PostgreSQL's order (the README says so).

use crate::ffi::list_cells;
use pgrx::pg_sys;
use pgrx::pg_sys::NodeTag;
use pgrx::prelude::*;
use std::ffi::{c_char, c_int, c_void};

/// The planner hook that was installed before ours.
static mut PREVIOUS_PLANNER: pg_sys::planner_hook_type = None;

/// Installs the hook; called once per backend from `_PG_init`.
pub fn register() {
    // SAFETY: called once per backend from _PG_init, before any statement is
    // planned with the library loaded; the hook chains to the previous one.
    unsafe {
        PREVIOUS_PLANNER = pg_sys::planner_hook;
        pg_sys::planner_hook = Some(plan);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn plan(
    parse: *mut pg_sys::Query,
    query_string: *const c_char,
    cursor_options: c_int,
    bound_params: pg_sys::ParamListInfo,
) -> *mut pg_sys::PlannedStmt {
    // SAFETY: `parse` is the statement's Query tree, which the planner is
    // about to take and may change as it likes; only list cells of its
    // RTEs' securityQuals are moved. PREVIOUS_PLANNER is written once, in
    // _PG_init, before any planning.
    unsafe {
        if !parse.is_null() {
            visit(parse.cast(), std::ptr::null_mut());
        }
        match PREVIOUS_PLANNER {
            Some(previous) => previous(parse, query_string, cursor_options, bound_params),
            None => pg_sys::standard_planner(parse, query_string, cursor_options, bound_params),
        }
    }
}

/// Moves the session-check calls of one RTE's securityQuals to its end.
///
/// SAFETY: `rte` is a valid RangeTblEntry whose securityQuals is NIL or a
/// List of expression nodes.
unsafe fn move_checks_last(rte: *mut pg_sys::RangeTblEntry) {
    // SAFETY: as the function's contract says; the list is rebuilt with the
    // same node pointers, in the planner's memory context.
    unsafe {
        let quals = list_cells((*rte).securityQuals);
        if quals.len() < 2 {
            return;
        }
        let is_check = |cell: &pg_sys::ListCell| crate::planner::is_session_check_call(cell.ptr_value.cast());
        let Some(first_other_after_check) = quals.iter().position(is_check).map(|i| quals[i..].iter().any(|c| !is_check(c)))
        else {
            return;
        };
        if !first_other_after_check {
            return;
        }
        let mut reordered: *mut pg_sys::List = std::ptr::null_mut();
        for cell in quals.iter().filter(|c| !is_check(c)).chain(quals.iter().filter(|c| is_check(c))) {
            reordered = pg_sys::lappend(reordered, cell.ptr_value);
        }
        (*rte).securityQuals = reordered;
    }
}

/// The walker: every RTE (before its contents), every query level, every
/// expression.
unsafe extern "C-unwind" fn visit(node: *mut pg_sys::Node, context: *mut c_void) -> bool {
    // SAFETY: `node` comes from PostgreSQL's walkers over a valid tree; its
    // tag says which struct it is.
    unsafe {
        if node.is_null() {
            return false;
        }
        match (*node).type_ {
            NodeTag::T_Query => pg_sys::query_tree_walker(
                node.cast(),
                Some(visit),
                context,
                pg_sys::QTW_EXAMINE_RTES_BEFORE as c_int,
            ),
            NodeTag::T_RangeTblEntry => {
                move_checks_last(node.cast());
                false
            }
            _ => pg_sys::expression_tree_walker(node, Some(visit), context),
        }
    }
}
