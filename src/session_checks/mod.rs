//! Revocation everywhere: the session check as a restrictive policy on any
//! table with row security (`auth.enforce_session_check` and the others, in
//! sql/session_checks.sql), and the coverage report, which needs to know
//! whether a policy is a session check. That is decided here, from the
//! policy's stored expression trees (rule.rs holds the rule; this module
//! reduces PostgreSQL's nodes to it). order.rs keeps the check from costing
//! the table's own policies their indexes.

mod order;
mod rule;

pub use order::register;

use crate::lookup::spi_failed;
use crate::planner::{current_call, CurrentCall};
use pgrx::prelude::*;
use rule::{Command, Expr};

/// The elements of a List of nodes, reduced.
///
/// SAFETY: `list` is NIL or a List of Node pointers valid for this call.
unsafe fn reduce_all(list: *mut pg_sys::List) -> Vec<Expr> {
    // SAFETY: as the function's contract says.
    unsafe { crate::ffi::list_cells(list).iter().map(|c| reduce(c.ptr_value.cast())).collect() }
}

/// The function an operator runs (stored trees carry it; looked up if not).
///
/// SAFETY: a syscache lookup.
unsafe fn operator_function(opfuncid: pg_sys::Oid, opno: pg_sys::Oid) -> pg_sys::Oid {
    // SAFETY: as the function's contract says.
    if opfuncid != pg_sys::InvalidOid { opfuncid } else { unsafe { pg_sys::get_opcode(opno) } }
}

/// A node of a stored expression tree, as far as a session check is
/// concerned (rule.rs).
///
/// SAFETY: `node` is NULL or a valid expression node (from stringToNode of
/// a catalog's pg_node_tree), and so is everything it points to.
unsafe fn reduce(node: *mut pg_sys::Node) -> Expr {
    use pg_sys::NodeTag::*;
    if node.is_null() {
        return Expr::Other;
    }
    // SAFETY: each node is read as the struct its tag says it is; the
    // lookups are syscache reads.
    unsafe {
        match (*node).type_ {
            T_FuncExpr => {
                let e = &*node.cast::<pg_sys::FuncExpr>();
                // The extension's own functions, recognized by their code
                // (planner.rs), never by name.
                match current_call(node) {
                    Some(CurrentCall::IsValid) => return Expr::SessionIsValid,
                    Some(CurrentCall::Aal) => return Expr::SessionAal,
                    _ => {}
                }
                if pg_sys::func_strict(e.funcid) {
                    Expr::Strict(reduce_all(e.args))
                } else {
                    Expr::Other
                }
            }
            T_OpExpr => {
                let e = &*node.cast::<pg_sys::OpExpr>();
                let func = operator_function(e.opfuncid, e.opno);
                let mut args = reduce_all(e.args);
                if func == pg_sys::Oid::from(pg_sys::F_BOOLEQ) && args.len() == 2 {
                    let is_true = |a: &Expr| matches!(a, Expr::Const { boolean: Some(true), .. });
                    if is_true(&args[0]) {
                        return Expr::TrueOnlyIf(Box::new(args.swap_remove(1)));
                    }
                    if is_true(&args[1]) {
                        return Expr::TrueOnlyIf(Box::new(args.swap_remove(0)));
                    }
                }
                if pg_sys::func_strict(func) { Expr::Strict(args) } else { Expr::Other }
            }
            T_ScalarArrayOpExpr => {
                let e = &*node.cast::<pg_sys::ScalarArrayOpExpr>();
                let func = operator_function(e.opfuncid, e.opno);
                match reduce_all(e.args).into_iter().next() {
                    Some(left) if pg_sys::func_strict(func) => Expr::NotTrueIfNull(Box::new(left)),
                    _ => Expr::Other,
                }
            }
            T_BoolExpr => {
                let e = &*node.cast::<pg_sys::BoolExpr>();
                let args = reduce_all(e.args);
                match e.boolop {
                    pg_sys::BoolExprType::AND_EXPR => Expr::And(args),
                    pg_sys::BoolExprType::OR_EXPR => Expr::Or(args),
                    _ => args.into_iter().next().map_or(Expr::Other, |a| Expr::Not(Box::new(a))),
                }
            }
            T_BooleanTest => {
                let e = &*node.cast::<pg_sys::BooleanTest>();
                if e.booltesttype == pg_sys::BoolTestType::IS_TRUE {
                    Expr::TrueOnlyIf(Box::new(reduce(e.arg.cast())))
                } else {
                    Expr::Other
                }
            }
            T_RelabelType => reduce((*node.cast::<pg_sys::RelabelType>()).arg.cast()),
            T_CollateExpr => reduce((*node.cast::<pg_sys::CollateExpr>()).arg.cast()),
            // Text to the enum and back: NULL stays NULL.
            T_CoerceViaIO => Expr::Strict(vec![reduce((*node.cast::<pg_sys::CoerceViaIO>()).arg.cast())]),
            T_Const => {
                let c = &*node.cast::<pg_sys::Const>();
                let boolean = (c.consttype == pg_sys::BOOLOID && !c.constisnull).then(|| c.constvalue.value() != 0);
                Expr::Const { null: c.constisnull, boolean }
            }
            T_SubLink => {
                let s = &*node.cast::<pg_sys::SubLink>();
                let query = s.subselect.cast::<pg_sys::Query>();
                if s.subLinkType != pg_sys::SubLinkType::EXPR_SUBLINK
                    || query.is_null()
                    || (*query).type_ != T_Query
                {
                    return Expr::Other;
                }
                let first = crate::ffi::list_cells((*query).targetList)
                    .iter()
                    .map(|c| &*c.ptr_value.cast::<pg_sys::TargetEntry>())
                    .find(|t| !t.resjunk);
                match first {
                    Some(t) => Expr::Scalar(Box::new(reduce(t.expr.cast()))),
                    None => Expr::Other,
                }
            }
            _ => Expr::Other,
        }
    }
}

/// A stored expression (pg_node_tree text read from the catalog), reduced.
fn reduce_stored(tree: Option<&str>) -> Option<Expr> {
    let tree = std::ffi::CString::new(tree?).ok()?;
    // SAFETY: the text is a pg_node_tree PostgreSQL itself wrote into
    // pg_policy (never the caller's input); stringToNode parses it into
    // palloc'd nodes in the current memory context, read by `reduce` only.
    unsafe { Some(reduce(pg_sys::stringToNode(tree.as_ptr()).cast())) }
}

const POLICY: &str = "SELECT p.polcmd::pg_catalog.text, p.polqual::pg_catalog.text, p.polwithcheck::pg_catalog.text \
     FROM pg_catalog.pg_policy p WHERE p.oid OPERATOR(pg_catalog.=) $1";

/// Whether the policy `policy` (an OID of pg_policy) lets nothing through
/// for a revoked session: the expressions PostgreSQL applies for its
/// command cannot be true unless the request's session is valid. NULL when
/// there is no such policy.
#[pg_extern(stable, parallel_safe)]
fn policy_checks_session(policy: pg_sys::Oid) -> Option<bool> {
    crate::security::pinned(&[], || {
        Spi::connect(|client| {
            let rows = client.select(POLICY, Some(1), &[policy.into()])?;
            let Some(row) = rows.into_iter().next() else { return Ok(None) };
            let command = row.get::<String>(1)?.and_then(|c| Command::from_polcmd(*c.as_bytes().first()?));
            let using = reduce_stored(row.get::<String>(2)?.as_deref());
            let check = reduce_stored(row.get::<String>(3)?.as_deref());
            Ok::<_, pgrx::spi::Error>(command.map(|c| rule::policy_checks_session(c, using.as_ref(), check.as_ref())))
        })
    })
    .unwrap_or_else(|e| spi_failed("reading a policy", e))
}

pgrx::extension_sql_file!(
    "../../sql/session_checks.sql",
    name = "session_checks",
    requires = [policy_checks_session]
);
