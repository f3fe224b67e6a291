//! The expression walk of the superuser guard: every function an expression
//! calls, and everything the type of each of its nodes can run (see the
//! module's comment in `mod.rs`).

use super::{type_name, Culprit, Walk, PG_CONSTRAINT};
use crate::ffi::Opened;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::ffi::{c_void, CStr};

/// An expression walk in progress: the way to the current node, and what
/// was found (which stops the walk).
pub(super) struct ExprWalk<'a> {
    pub(super) walk: &'a mut Walk,
    pub(super) trail: Vec<String>,
    pub(super) found: Option<Culprit>,
}

impl ExprWalk<'_> {
    pub(super) fn untrusted_function(&mut self, func: pg_sys::Oid, why: Option<String>) -> bool {
        if self.walk.trusted(func) {
            return false;
        }
        let mut trail = self.trail.clone();
        trail.extend(why);
        self.found = Some(Culprit::Function { func, trail });
        true
    }

    /// Whether anything that values of type `t` can run is untrusted (the
    /// module's comment lists what).
    pub(super) fn untrusted_type(&mut self, t: pg_sys::Oid) -> bool {
        if t == pg_sys::InvalidOid || !self.walk.types.insert(t) {
            return false;
        }
        let name = type_name(t);
        // SAFETY: a syscache lookup; the tuple is a pg_type row, read and
        // released here.
        let form = unsafe {
            let tuple = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::TYPEOID as i32, pg_sys::Datum::from(t));
            if tuple.is_null() {
                return false;
            }
            let form = *pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_type>(tuple);
            pg_sys::ReleaseSysCache(tuple);
            form
        };
        let subscript = crate::versions::type_subscript(&form);
        for func in [
            form.typinput,
            form.typoutput,
            form.typreceive,
            form.typsend,
            form.typmodin,
            form.typmodout,
            form.typanalyze,
            subscript,
        ] {
            if self.untrusted_function(func, Some(format!("a function of type {name}"))) {
                return true;
            }
        }
        if !form.typisdefined {
            return false;
        }
        // Default comparison and hashing (row and array comparisons,
        // GREATEST/LEAST, hashing).
        // SAFETY: the type exists and is defined (checked above).
        let (entry, ops) = unsafe {
            let e = pg_sys::lookup_type_cache(
                t,
                (pg_sys::TYPECACHE_EQ_OPR
                    | pg_sys::TYPECACHE_LT_OPR
                    | pg_sys::TYPECACHE_GT_OPR
                    | pg_sys::TYPECACHE_CMP_PROC
                    | pg_sys::TYPECACHE_HASH_PROC
                    | pg_sys::TYPECACHE_HASH_EXTENDED_PROC) as i32,
            );
            let ops = [(*e).eq_opr, (*e).lt_opr, (*e).gt_opr].map(|op| {
                if op == pg_sys::InvalidOid { pg_sys::InvalidOid } else { pg_sys::get_opcode(op) }
            });
            (*e, ops)
        };
        for func in ops.into_iter().chain([entry.cmp_proc, entry.hash_proc, entry.hash_extended_proc]) {
            if self.untrusted_function(func, Some(format!("comparing values of type {name}"))) {
                return true;
            }
        }
        // A cast of a type of a user's to json, which to_json() calls.
        if t.to_u32() >= pg_sys::FirstNormalObjectId {
            for target in [pg_sys::JSONOID, pg_sys::JSONBOID] {
                let mut func = pg_sys::InvalidOid;
                // SAFETY: a catalog lookup of the cast, by the two type OIDs.
                unsafe {
                    pg_sys::find_coercion_pathway(target, t, pg_sys::CoercionContext::COERCION_EXPLICIT, &mut func);
                }
                if self.untrusted_function(func, Some(format!("converting type {name} to json"))) {
                    return true;
                }
            }
        }
        match form.typtype as u8 {
            pg_sys::TYPTYPE_DOMAIN => self.untrusted_domain(t, &name) || self.untrusted_type(form.typbasetype),
            pg_sys::TYPTYPE_COMPOSITE => self.untrusted_row_type(t),
            pg_sys::TYPTYPE_RANGE => {
                // SAFETY: the type cache's range information for a range type.
                let (canonical, subdiff, subtype) = unsafe {
                    let e = pg_sys::lookup_type_cache(t, pg_sys::TYPECACHE_RANGE_INFO as i32);
                    let sub = (*e).rngelemtype;
                    (
                        (*e).rng_canonical_finfo.fn_oid,
                        (*e).rng_subdiff_finfo.fn_oid,
                        if sub.is_null() { pg_sys::InvalidOid } else { (*sub).type_id },
                    )
                };
                self.untrusted_function(canonical, Some(format!("range type {name}")))
                    || self.untrusted_function(subdiff, Some(format!("range type {name}")))
                    || self.untrusted_type(subtype)
            }
            #[cfg(pg_at_least = "14")]
            pg_sys::TYPTYPE_MULTIRANGE => {
                // SAFETY: a syscache lookup of the multirange's range type.
                self.untrusted_type(unsafe { pg_sys::get_multirange_range(t) })
            }
            _ => form.typelem != pg_sys::InvalidOid && self.untrusted_type(form.typelem),
        }
    }

    /// The CHECK constraints of domain `domain`, each walked whole.
    fn untrusted_domain(&mut self, domain: pg_sys::Oid, name: &str) -> bool {
        let Some(checks) = domain_checks(domain) else {
            self.found = Some(Culprit::Opaque(format!(
                "The constraints of domain {name} could not be read (pg_constraint is not as expected)."
            )));
            return true;
        };
        for (constraint, conbin) in checks {
            let mut trail = self.trail.clone();
            trail.push(format!("in the CHECK constraint \"{constraint}\" of domain {name}"));
            if let Some(found) = self.walk.node_string(conbin.as_ptr(), trail) {
                self.found = Some(found);
                return true;
            }
        }
        false
    }

    /// The columns of row type `t`, each type checked.
    fn untrusted_row_type(&mut self, t: pg_sys::Oid) -> bool {
        // SAFETY: the row type's descriptor, pinned while its attributes are
        // read, released here.
        let types: Vec<pg_sys::Oid> = unsafe {
            let desc = pg_sys::lookup_rowtype_tupdesc(t, -1);
            let types = crate::rows::attributes(desc).iter().filter(|a| !a.attisdropped).map(|a| a.atttypid).collect();
            pg_sys::DecrTupleDescRefCount(desc);
            types
        };
        types.into_iter().any(|a| self.untrusted_type(a))
    }
}

/// What a node's value is, for the walk: its type, nothing to check (pure
/// structure), or a node this walk does not know.
enum NodeType {
    Of(pg_sys::Oid),
    Structure,
    Unknown,
}

/// SAFETY: `node` is a valid expression node.
unsafe fn node_type(node: *mut pg_sys::Node) -> NodeType {
    use pg_sys::NodeTag::*;
    // SAFETY: exprType is called only on the node kinds it handles.
    unsafe {
        match (*node).type_ {
            T_List | T_IntList | T_OidList | T_CaseWhen => NodeType::Structure,
            T_Var | T_Const | T_Param | T_FuncExpr | T_NamedArgExpr | T_OpExpr | T_DistinctExpr | T_NullIfExpr
            | T_ScalarArrayOpExpr | T_BoolExpr | T_FieldSelect | T_FieldStore | T_RelabelType | T_CoerceViaIO
            | T_ArrayCoerceExpr | T_ConvertRowtypeExpr | T_CollateExpr | T_CaseExpr | T_CaseTestExpr | T_ArrayExpr
            | T_RowExpr | T_RowCompareExpr | T_CoalesceExpr | T_MinMaxExpr | T_SQLValueFunction | T_XmlExpr
            | T_NullTest | T_BooleanTest | T_CoerceToDomain | T_CoerceToDomainValue | T_SetToDefault
            | T_NextValueExpr => NodeType::Of(pg_sys::exprType(node)),
            // The container's subscripting functions run, whatever it yields.
            T_SubscriptingRef => NodeType::Of((*node.cast::<pg_sys::SubscriptingRef>()).refcontainertype),
            _ => NodeType::Unknown,
        }
    }
}

/// `check_functions_in_node`'s callback: true (noted) at an untrusted function.
#[pg_guard]
unsafe extern "C-unwind" fn note_function(func: pg_sys::Oid, context: *mut c_void) -> bool {
    // SAFETY: `context` is the ExprWalk passed to `walk_node`.
    let cx = unsafe { &mut *context.cast::<ExprWalk>() };
    cx.untrusted_function(func, None)
}

/// The expression walker: true (with the culprit noted) at the first node
/// that calls, or whose type can run, untrusted code, or that it does not
/// know.
#[pg_guard]
pub(super) unsafe extern "C-unwind" fn walk_node(node: *mut pg_sys::Node, context: *mut c_void) -> bool {
    if node.is_null() {
        return false;
    }
    // SAFETY: `context` is the ExprWalk that `Walk::expression` passes;
    // `node` is a node of the tree it walks, whose walkers are PostgreSQL's.
    unsafe {
        if pg_sys::check_functions_in_node(node, Some(note_function), context) {
            return true;
        }
        let cx = &mut *context.cast::<ExprWalk>();
        match node_type(node) {
            NodeType::Of(t) => {
                if cx.untrusted_type(t) {
                    return true;
                }
            }
            NodeType::Structure => {}
            NodeType::Unknown => {
                cx.found = Some(Culprit::Opaque(format!(
                    "It holds an expression of a kind auth_sessions does not examine (node type {}){}.",
                    (*node).type_ as u32,
                    if cx.trail.is_empty() { String::new() } else { format!(", {}", cx.trail.join(", ")) }
                )));
                return true;
            }
        }
        pg_sys::expression_tree_walker(node, Some(walk_node), context)
    }
}

/// The CHECK constraints of a domain: names and node strings (`None` when
/// pg_constraint lacks a column this reads: then nothing is trusted).
fn domain_checks(domain: pg_sys::Oid) -> Option<Vec<(String, std::ffi::CString)>> {
    let mut found = Vec::new();
    // SAFETY: pg_constraint is opened and scanned with a key on contypid
    // (without an index: only domains reach here, and an index's number
    // would be one more thing to trust), the columns found by name (none
    // read if one is missing); every tuple is read while the scan holds it,
    // and copied out.
    unsafe {
        let contypid = pg_sys::get_attnum(PG_CONSTRAINT, c"contypid".as_ptr());
        let conbin = pg_sys::get_attnum(PG_CONSTRAINT, c"conbin".as_ptr());
        let conname = pg_sys::get_attnum(PG_CONSTRAINT, c"conname".as_ptr());
        let contype = pg_sys::get_attnum(PG_CONSTRAINT, c"contype".as_ptr());
        if contypid <= 0 || conbin <= 0 || conname <= 0 || contype <= 0 {
            return None;
        }
        let opened = Opened::catalog(PG_CONSTRAINT);
        let rel = opened.rel();
        let desc = (*rel).rd_att;
        let mut key: pg_sys::ScanKeyData = std::mem::zeroed();
        pg_sys::ScanKeyInit(
            &mut key,
            contypid,
            pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
            pg_sys::Oid::from(pg_sys::F_OIDEQ),
            pg_sys::Datum::from(domain),
        );
        let scan = pg_sys::systable_beginscan(rel, pg_sys::InvalidOid, false, std::ptr::null_mut(), 1, &mut key);
        loop {
            let tuple = pg_sys::systable_getnext(scan);
            if tuple.is_null() {
                break;
            }
            let mut isnull = false;
            let kind = pg_sys::heap_getattr(tuple, contype as i32, desc, &mut isnull);
            if isnull || kind.value() as u8 != b'c' {
                continue;
            }
            let bin = pg_sys::heap_getattr(tuple, conbin as i32, desc, &mut isnull);
            if isnull {
                continue;
            }
            let text = pg_sys::text_to_cstring(bin.cast_mut_ptr());
            let name = pg_sys::heap_getattr(tuple, conname as i32, desc, &mut isnull);
            let name = if isnull {
                String::new()
            } else {
                CStr::from_ptr((*name.cast_mut_ptr::<pg_sys::NameData>()).data.as_ptr()).to_string_lossy().into_owned()
            };
            found.push((name, CStr::from_ptr(text).to_owned()));
        }
        pg_sys::systable_endscan(scan);
    }
    Some(found)
}
