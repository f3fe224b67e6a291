//! Planner hook: in row-level-security quals, evaluate the current-session
//! functions once per statement instead of once per row.
//!
//! PostgreSQL never turns a security qual into a one-time filter, so a policy
//! `USING (auth.current_session_is_valid())` calls the function for every row
//! it scans. Rewriting the call as `(SELECT auth.current_session_is_valid())`
//! makes the planner compute it once, as an InitPlan, which is what users are
//! told to write by hand. This hook does that rewrite before planning, for the
//! extension's argument-less STABLE functions `auth.current_session_is_valid()`,
//! `auth.current_session_aal()` and `auth.session_id()`, recognized by their
//! code (never by name: a user's own function called `auth.session_id` is left
//! alone): evaluating a STABLE
//! function once per statement is exactly what STABLE allows, so answers do
//! not change, only their cost.
//!
//! The rewrite happens only where the call sits in node types handled below
//! (lists, AND/OR/NOT, operators, function arguments, NULL and boolean tests,
//! COALESCE, relabelling); anywhere else the call stays per row, where the
//! per-snapshot cache in `current.rs` keeps it cheap. It applies to queries
//! planned after the library is loaded in the backend (see the README:
//! `session_preload_libraries`), and can be turned off with
//! `auth_sessions.hoist_current_session = off`.

use crate::settings;
use pgrx::pg_sys;
use pgrx::pg_sys::NodeTag;
use pgrx::pg_catalog::pg_proc::PgProc;
use std::ffi::{c_char, c_int, c_void, CStr};

static mut PREVIOUS: pg_sys::planner_hook_type = None;

/// `ClanguageId`: pg_language's fixed OID for `LANGUAGE c`.
const C_LANGUAGE: pg_sys::Oid = pg_sys::Oid::from_u32(13);

type Wrapper = unsafe extern "C-unwind" fn(pg_sys::FunctionCallInfo) -> pg_sys::Datum;

/// The functions that may be hoisted: the symbols their SQL declarations
/// name (`AS 'MODULE_PATHNAME', '...'`) and the code they resolve to.
const OURS: [(&CStr, Wrapper); 3] = [
    (c"current_session_is_valid_wrapper", crate::current::current_session_is_valid_wrapper),
    (c"current_session_aal_wrapper", crate::current::current_session_aal_wrapper),
    (c"session_id_wrapper", crate::current::session_id_wrapper),
];

/// Installs the hook, keeping any previous one; called once from `_PG_init`.
pub fn register() {
    // SAFETY: _PG_init runs once per backend, single-threaded, before any
    // planning can reach this library; chaining keeps other extensions' hooks.
    unsafe {
        PREVIOUS = pg_sys::planner_hook;
        pg_sys::planner_hook = Some(plan);
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn plan(
    parse: *mut pg_sys::Query,
    query_string: *const c_char,
    cursor_options: c_int,
    bound_params: pg_sys::ParamListInfo,
) -> *mut pg_sys::PlannedStmt {
    if settings::hoist_current_session() {
        // SAFETY: `parse` is the planner's own (copied) query tree, which the
        // planner itself rewrites in place; new nodes are palloc'd in the
        // current (planner) memory context.
        unsafe { walk(parse.cast(), std::ptr::null_mut()) };
    }
    // SAFETY: the previous hook or the standard planner, with our arguments.
    unsafe {
        match PREVIOUS {
            Some(previous) => previous(parse, query_string, cursor_options, bound_params),
            None => pg_sys::standard_planner(parse, query_string, cursor_options, bound_params),
        }
    }
}

/// Visits every Query in the tree (subqueries, CTEs, sublinks included) and
/// rewrites the security quals of its range-table entries.
unsafe extern "C-unwind" fn walk(node: *mut pg_sys::Node, context: *mut c_void) -> bool {
    if node.is_null() {
        return false;
    }
    // SAFETY: `node` is a valid Node of the tree being planned; the walkers
    // are PostgreSQL's own.
    unsafe {
        if (*node).type_ == NodeTag::T_Query {
            let query: *mut pg_sys::Query = node.cast();
            hoist_in_security_quals(query);
            return pg_sys::query_tree_walker(query, Some(walk), context, 0);
        }
        pg_sys::expression_tree_walker(node, Some(walk), context)
    }
}

unsafe fn list_cells(list: *mut pg_sys::List) -> &'static mut [pg_sys::ListCell] {
    if list.is_null() {
        return &mut [];
    }
    // SAFETY: a List (PostgreSQL 13+) holds `length` cells in `elements`.
    unsafe { std::slice::from_raw_parts_mut((*list).elements, (*list).length as usize) }
}

unsafe fn hoist_in_security_quals(query: *mut pg_sys::Query) {
    let mut changed = false;
    // SAFETY: the range table is a List of RangeTblEntry pointers.
    unsafe {
        for cell in list_cells((*query).rtable) {
            let rte: *mut pg_sys::RangeTblEntry = cell.ptr_value.cast();
            if (*rte).rtekind == pg_sys::RTEKind::RTE_RELATION && !(*rte).securityQuals.is_null() {
                changed |= replace(std::ptr::addr_of_mut!((*rte).securityQuals).cast());
            }
        }
        if changed {
            (*query).hasSubLinks = true;
        }
    }
}

/// Replaces hoistable calls at or below `*slot`; true when anything changed.
unsafe fn replace(slot: *mut *mut pg_sys::Node) -> bool {
    // SAFETY: `slot` points at a Node pointer field or list cell of the tree;
    // each arm casts to the struct its tag names.
    unsafe {
        let node = *slot;
        if node.is_null() {
            return false;
        }
        match (*node).type_ {
            NodeTag::T_List => {
                let mut changed = false;
                for cell in list_cells(node.cast()) {
                    changed |= replace(std::ptr::addr_of_mut!(cell.ptr_value).cast());
                }
                changed
            }
            NodeTag::T_FuncExpr => {
                let f: *mut pg_sys::FuncExpr = node.cast();
                if is_hoistable(f) {
                    *slot = init_plan_for(node);
                    true
                } else {
                    replace(std::ptr::addr_of_mut!((*f).args).cast())
                }
            }
            NodeTag::T_BoolExpr => replace(std::ptr::addr_of_mut!((*node.cast::<pg_sys::BoolExpr>()).args).cast()),
            NodeTag::T_OpExpr | NodeTag::T_DistinctExpr | NodeTag::T_NullIfExpr => {
                replace(std::ptr::addr_of_mut!((*node.cast::<pg_sys::OpExpr>()).args).cast())
            }
            NodeTag::T_ScalarArrayOpExpr => {
                replace(std::ptr::addr_of_mut!((*node.cast::<pg_sys::ScalarArrayOpExpr>()).args).cast())
            }
            NodeTag::T_CoalesceExpr => {
                replace(std::ptr::addr_of_mut!((*node.cast::<pg_sys::CoalesceExpr>()).args).cast())
            }
            NodeTag::T_NullTest => replace(std::ptr::addr_of_mut!((*node.cast::<pg_sys::NullTest>()).arg).cast()),
            NodeTag::T_BooleanTest => {
                replace(std::ptr::addr_of_mut!((*node.cast::<pg_sys::BooleanTest>()).arg).cast())
            }
            NodeTag::T_RelabelType => {
                replace(std::ptr::addr_of_mut!((*node.cast::<pg_sys::RelabelType>()).arg).cast())
            }
            _ => false,
        }
    }
}

/// One of the extension's own three functions, whatever its name and schema:
/// a C function whose code is this library's (a user's function called
/// `auth.session_id`, say, is never touched).
unsafe fn is_hoistable(f: *mut pg_sys::FuncExpr) -> bool {
    // SAFETY: `f` is a FuncExpr; the lookups are syscache reads, and
    // fmgr_info only runs for a C function naming one of our symbols (so it
    // resolves, or fails as the call itself would).
    unsafe {
        if !(*f).args.is_null() || (*f).funcretset {
            return false;
        }
        let Some(proc) = PgProc::new((*f).funcid) else { return false };
        if proc.prolang() != C_LANGUAGE || !OURS.iter().any(|(symbol, _)| proc.prosrc().as_bytes() == symbol.to_bytes()) {
            return false;
        }
        let mut info: pg_sys::FmgrInfo = std::mem::zeroed();
        pg_sys::fmgr_info((*f).funcid, &mut info);
        // Exported (no_mangle) symbols: one address each, the one fmgr
        // found with dlsym. (Were two of them merged, both are ours.)
        OURS.iter().any(|(_, address)| info.fn_addr.is_some_and(|f| std::ptr::fn_addr_eq(f, *address)))
    }
}

/// `(SELECT <call>)`: an uncorrelated scalar sublink, which the planner turns
/// into an InitPlan evaluated once per execution.
unsafe fn init_plan_for(call: *mut pg_sys::Node) -> *mut pg_sys::Node {
    // SAFETY: nodes are allocated zeroed with their tag set, like makeNode();
    // the fields set are those a parsed `SELECT <expr>` has.
    unsafe {
        let query: *mut pg_sys::Query = make_node(NodeTag::T_Query, size_of::<pg_sys::Query>());
        (*query).commandType = pg_sys::CmdType::CMD_SELECT;
        (*query).querySource = pg_sys::QuerySource::QSRC_ORIGINAL;
        (*query).canSetTag = true;
        let expr = pg_sys::copyObjectImpl(call.cast()).cast::<pg_sys::Expr>();
        let target = pg_sys::makeTargetEntry(expr, 1, std::ptr::null_mut(), false);
        (*query).targetList = pg_sys::lappend(std::ptr::null_mut(), target.cast());
        (*query).jointree = pg_sys::makeFromExpr(std::ptr::null_mut(), std::ptr::null_mut());

        let sublink: *mut pg_sys::SubLink = make_node(NodeTag::T_SubLink, size_of::<pg_sys::SubLink>());
        (*sublink).subLinkType = pg_sys::SubLinkType::EXPR_SUBLINK;
        (*sublink).subselect = query.cast();
        (*sublink).location = -1;
        sublink.cast()
    }
}

unsafe fn make_node<T>(tag: NodeTag, size: usize) -> *mut T {
    // SAFETY: palloc0 of the node's size in the current memory context, then
    // the tag, as PostgreSQL's makeNode does.
    unsafe {
        let node = pg_sys::palloc0(size).cast::<pg_sys::Node>();
        (*node).type_ = tag;
        node.cast()
    }
}
