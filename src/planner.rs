//! Once per statement: a planner support function for the current-session
//! functions.
//!
//! PostgreSQL never turns a security qual into a one-time filter, so a policy
//! `USING (auth.current_session_is_valid())` would call the function for
//! every row it scans. Rewriting the call as `(SELECT
//! auth.current_session_is_valid())` makes the planner compute it once, as
//! an InitPlan, which is what users are told to write by hand. The
//! extension's argument-less STABLE functions `auth.current_session_is_valid()`,
//! `auth.current_session_aal()` and `auth.session_id()` are declared with
//! `SUPPORT auth.current_session_support`: while a statement is planned, the
//! planner asks it (`SupportRequestSimplify`) about each of their calls, and it
//! answers with that rewrite. Evaluating a STABLE function once per statement
//! is exactly what STABLE allows, so answers do not change, only their cost.
//!
//! Because the planner calls the support function itself, this works from
//! the first statement of a connection (the call loads the library), with no
//! global hook and without touching anything but the extension's own calls
//! (recognized by their code, never by name): policies, WHERE clauses, target
//! lists, any expression the planner simplifies. It stays per row where the
//! planner does not simplify, or with `auth_sessions.hoist_current_session =
//! off`; there the per-snapshot cache in `current.rs` keeps it cheap.

use crate::ffi::list_cells;
use crate::settings;
use pgrx::pg_sys;
use pgrx::pg_sys::NodeTag;
use pgrx::datum::Internal;
use pgrx::pg_catalog::pg_proc::PgProc;
use pgrx::prelude::*;
use std::cell::RefCell;
use std::ffi::CStr;

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

/// The support function of the three current-session functions. For a
/// `SupportRequestSimplify` during planning it returns `(SELECT <call>)`;
/// for anything else, or where it must not rewrite, a null pointer (no
/// change).
#[pg_extern(sql = r#"
CREATE FUNCTION auth.current_session_support(request internal) RETURNS internal
    LANGUAGE c AS 'MODULE_PATHNAME', 'current_session_support_wrapper';
"#)]
fn current_session_support(request: Internal) -> Internal {
    let unchanged = Internal::from(Some(pg_sys::Datum::from(0usize)));
    let Some(request) = request.unwrap() else { return unchanged };
    let node = request.cast_mut_ptr::<pg_sys::Node>();
    // SAFETY: PostgreSQL passes a SupportRequest* node; its tag says which
    // struct it is. The FuncExpr and the planner state belong to the
    // planning in progress, whose memory context is current.
    unsafe {
        if node.is_null() || (*node).type_ != NodeTag::T_SupportRequestSimplify {
            return unchanged;
        }
        let req = node.cast::<pg_sys::SupportRequestSimplify>();
        let (root, call) = ((*req).root, (*req).fcall);
        if root.is_null() || call.is_null() || !settings::hoist_current_session() || !is_hoistable(call) {
            return unchanged;
        }
        // Planning the `(SELECT <call>)` made here: leave that call alone.
        if is_hoisted_query((*root).parse) {
            return unchanged;
        }
        // GROUPING SETS, ROLLUP and CUBE: the planner recognizes a grouped
        // expression where it appears again (in the select list, HAVING,
        // ORDER BY) by comparing the trees, and sets it to NULL in the rows
        // of the grouping sets that leave it out. Each call rewritten here
        // becomes an InitPlan of its own, no longer equal to the grouped one,
        // and would keep its value in those rows: in such a query, calls stay
        // as written.
        if !(*(*root).parse).groupingSets.is_null() {
            return unchanged;
        }
        let sublink = init_plan_for(call.cast());
        // The planner turns SubLinks into SubPlans (here, an InitPlan) only
        // in queries marked as having them.
        (*(*root).parse).hasSubLinks = true;
        Internal::from(Some(pg_sys::Datum::from(sublink)))
    }
}

/// Whether `query` is a `SELECT <call>` as `init_plan_for` builds it: no
/// relation (the planner gives an empty FROM one `RTE_RESULT` entry), no
/// quals, one target that is one of the three calls.
unsafe fn is_hoisted_query(query: *mut pg_sys::Query) -> bool {
    // SAFETY: `query` is the Query being planned; its lists hold the node
    // types their fields say.
    unsafe {
        if query.is_null() {
            return false;
        }
        let only_results = list_cells((*query).rtable).iter().all(|cell| {
            let rte: *mut pg_sys::RangeTblEntry = cell.ptr_value.cast();
            (*rte).rtekind == pg_sys::RTEKind::RTE_RESULT
        });
        let from = (*query).jointree;
        if !only_results || (!from.is_null() && !(*from).quals.is_null()) {
            return false;
        }
        let targets = list_cells((*query).targetList);
        if targets.len() != 1 {
            return false;
        }
        let target: *mut pg_sys::TargetEntry = targets[0].ptr_value.cast();
        let expr = (*target).expr.cast::<pg_sys::Node>();
        !expr.is_null() && (*expr).type_ == NodeTag::T_FuncExpr && is_hoistable(expr.cast())
    }
}

thread_local! {
    /// What `which_of_ours` found, by function OID, so that planning a
    /// statement looks each function up once per backend, not once per call
    /// of `ours`. Emptied whenever pg_proc changes (`forget`).
    static KNOWN: RefCell<Vec<(pg_sys::Oid, Option<usize>)>> = const { RefCell::new(Vec::new()) };
}

/// At most this many functions are remembered (a statement's calls of
/// argument-less C functions; more only cost a lookup each).
const KNOWN_MAX: usize = 32;

/// Syscache invalidation callback for pg_proc: a function may have been
/// replaced (CREATE OR REPLACE FUNCTION can change its language or symbol)
/// or dropped and its OID reused, so everything remembered is forgotten.
#[pg_guard]
unsafe extern "C-unwind" fn forget(_arg: pg_sys::Datum, _cacheid: std::ffi::c_int, _hash: u32) {
    KNOWN.with(|k| k.borrow_mut().clear());
}

/// Registers `forget`; called once per backend from `_PG_init`.
pub fn register() {
    // SAFETY: called once per backend from _PG_init; the callback is a
    // 'static function that only touches this module's thread-local.
    unsafe {
        pg_sys::CacheRegisterSyscacheCallback(
            pg_sys::SysCacheIdentifier::PROCOID as std::ffi::c_int,
            Some(forget),
            pg_sys::Datum::from(0),
        )
    }
}

/// Which of the extension's own three functions a call is, if any (the
/// index in `OURS`: 0 `current_session_is_valid`, 1 `current_session_aal`, 2
/// `session_id`), whatever its name and schema: an argument-less call of a C
/// function whose code is this library's (a user's function called
/// `auth.session_id`, say, is never one of them).
///
/// SAFETY: `f` is a valid FuncExpr.
unsafe fn ours(f: *mut pg_sys::FuncExpr) -> Option<usize> {
    // SAFETY: `f` is a FuncExpr.
    unsafe {
        if !(*f).args.is_null() || (*f).funcretset {
            return None;
        }
        let funcid = (*f).funcid;
        if let Some(known) = KNOWN.with(|k| k.borrow().iter().find(|(oid, _)| *oid == funcid).map(|(_, w)| *w)) {
            return known;
        }
        let which = which_of_ours(funcid);
        KNOWN.with(|k| {
            let mut k = k.borrow_mut();
            if k.len() < KNOWN_MAX {
                k.push((funcid, which));
            }
        });
        which
    }
}

/// `ours`, looked up: the function's language and symbol in pg_proc, then
/// the address fmgr resolves it to.
///
/// SAFETY: `funcid` is a function's OID (or one that no longer exists).
unsafe fn which_of_ours(funcid: pg_sys::Oid) -> Option<usize> {
    // SAFETY: the lookups are syscache reads, and fmgr_info only runs for a
    // C function naming one of our symbols (so it resolves, or fails as the
    // call itself would).
    unsafe {
        let proc = PgProc::new(funcid)?;
        if proc.prolang() != C_LANGUAGE {
            return None;
        }
        let which = OURS.iter().position(|(symbol, _)| proc.prosrc().as_bytes() == symbol.to_bytes())?;
        let mut info: pg_sys::FmgrInfo = std::mem::zeroed();
        pg_sys::fmgr_info(funcid, &mut info);
        // Exported (no_mangle) symbols: one address each, the one fmgr
        // found with dlsym.
        info.fn_addr.is_some_and(|a| std::ptr::fn_addr_eq(a, OURS[which].1)).then_some(which)
    }
}

unsafe fn is_hoistable(f: *mut pg_sys::FuncExpr) -> bool {
    // SAFETY: as `ours` requires.
    unsafe { ours(f).is_some() }
}

/// What a node is, of the current-session calls (for session_checks/).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurrentCall {
    IsValid,
    Aal,
    SessionId,
}

/// Whether `node` is a call of one of the extension's own current-session
/// functions, and which (recognized by its code, as `ours` says).
///
/// SAFETY: `node` is NULL or a valid expression node.
pub unsafe fn current_call(node: *mut pg_sys::Node) -> Option<CurrentCall> {
    // SAFETY: as the function's contract says; the tag is read before the
    // node is taken for a FuncExpr.
    unsafe {
        if node.is_null() || (*node).type_ != NodeTag::T_FuncExpr {
            return None;
        }
        ours(node.cast()).map(|i| [CurrentCall::IsValid, CurrentCall::Aal, CurrentCall::SessionId][i])
    }
}

/// Whether `node` is a bare call of the extension's own
/// `auth.current_session_is_valid()`.
///
/// SAFETY: `node` is NULL or a valid expression node.
pub unsafe fn is_session_check_call(node: *mut pg_sys::Node) -> bool {
    // SAFETY: as the function's contract says.
    unsafe { current_call(node) == Some(CurrentCall::IsValid) }
}

/// Whether `query` is the `SELECT auth.current_session_is_valid()` that
/// `init_plan_for` made of a call (for session_checks/order.rs).
///
/// SAFETY: `query` is NULL or a valid Query.
pub unsafe fn is_hoisted_session_check(query: *mut pg_sys::Query) -> bool {
    // SAFETY: as the function's contract says (see is_hoisted_query).
    unsafe {
        is_hoisted_query(query)
            && is_session_check_call((*list_cells((*query).targetList)[0].ptr_value.cast::<pg_sys::TargetEntry>()).expr.cast())
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
