//! The superuser guard, by construction: before a statement of ours runs as
//! a superuser, every piece of code that statement can run is shown to have
//! been written by a superuser; whatever cannot be shown so is refused with
//! SQLSTATE 42501 and a HINT, before anything is written.
//!
//! A row-level `DELETE` or `UPDATE` runs code besides its own expressions
//! (which are ours: schema-qualified, `search_path` pinned):
//!
//! - the triggers of the table that fire for the event: their functions, and
//!   their `WHEN` clauses;
//! - its rules for the event (a rule turns the statement into others, which
//!   this walk does not follow: any such rule is refused);
//! - for an `UPDATE`, what storing a new row version runs: CHECK constraints,
//!   column defaults and generated columns, the constraints of the columns'
//!   domains, and the indexes' expressions, predicates, support and
//!   exclusion functions;
//! - the foreign keys' actions: a `CASCADE` deletes (an `ON DELETE SET NULL`
//!   or `SET DEFAULT` updates) rows of the referencing table, and that in
//!   turn is all of the above on that table, and on every table a cascade
//!   from it reaches; `NO ACTION`/`RESTRICT` only run the foreign key's
//!   equality operators;
//! - the partitions of a partitioned table a cascade reaches.
//!
//! Who runs it: a foreign key's query runs as the owner of the table it
//! queries, and so do the BEFORE triggers, rules and row checks it fires
//! there; but the AFTER triggers it queues fire with the statement's own,
//! as the role that ran the statement; and deferred triggers fire at commit,
//! as whoever the transaction's user is then (checked against every role
//! the caller acts as: the current, outer and session user). Pruning may
//! delete a session's refresh tokens and amr claims itself, as their tables'
//! owner, before the sessions (src/prune.rs): so the AFTER triggers of a
//! table a cascade reaches are checked as running as that table's owner
//! too.
//!
//! An expression (a `WHEN` clause, a constraint, a default, an index
//! expression) is walked whole: every function it calls (operators, casts
//! and I/O conversions included) must be trusted, and so must everything the
//! type of each of its nodes can run: the type's I/O and subscripting
//! functions, its default comparison and hash functions (which `GREATEST`,
//! array and row comparisons call), its casts to `json`/`jsonb` (which
//! `to_json` calls), a range's canonical and difference functions, and a
//! domain's CHECK constraints, walked the same way, recursively through
//! domains over domains, arrays, ranges and row types. A node of a kind this
//! walk does not know is refused.
//!
//! A function is trusted when a superuser owns it, or when it is `SECURITY
//! DEFINER` (it then runs as its owner, never as the superuser), and its
//! planner support function (if any) is trusted too. A trusted function's own
//! body is the superuser's code and is not walked. Code only matters where it
//! runs as a superuser: the statement's own table when the role running it is
//! one, a referencing table when its owner is one.

use pgrx::pg_catalog::pg_proc::PgProc;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::collections::{HashMap, HashSet};
use std::ffi::{c_char, c_void, CStr};

/// What a statement of ours does to a table.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Event {
    Delete,
    Update,
}

/// `pg_constraint` (ConstraintRelationId): a fixed catalog OID (pgrx's
/// bindings do not name it). Its columns are found by name.
const PG_CONSTRAINT: pg_sys::Oid = pg_sys::Oid::from_u32(2606);
/// `pg_rewrite` (RewriteRelationId), to name a rule.
const PG_REWRITE: pg_sys::Oid = pg_sys::Oid::from_u32(2618);

/// Untrusted code found where it would run as a superuser.
struct Finding {
    table: pg_sys::Oid,
    runs_as: pg_sys::Oid,
    /// `trigger "x"`, `rule "r"`, `check constraint "c"`, ...
    place: String,
    /// Why it is not trusted, for the DETAIL.
    detail: String,
}

/// Why a piece of code is not trusted (without where it is).
enum Culprit {
    /// A function owned by a role that is not a superuser, reached through
    /// `trail` (`in its WHEN clause`, `in domain x's constraint "c"`, ...).
    Function { func: pg_sys::Oid, trail: Vec<String> },
    /// Something the walk does not examine.
    Opaque(String),
}

impl Culprit {
    fn detail(&self) -> String {
        match self {
            Culprit::Function { func, trail } => {
                let owner = PgProc::new(*func).map(|p| role_name(p.proowner())).unwrap_or_default();
                let via = if trail.is_empty() { String::new() } else { format!(" ({})", trail.join(", ")) };
                format!(
                    "It calls {}{via}, which belongs to role \"{owner}\", who is not a superuser, and is not SECURITY DEFINER: \
                     it would run with superuser rights.",
                    function_name(*func)
                )
            }
            Culprit::Opaque(what) => what.clone(),
        }
    }
}

/// The state of one guard check: what was visited, and the verdicts so far.
struct Walk {
    /// The role the statement runs as: AFTER triggers, on every table its
    /// cascades reach, fire as this role.
    after_as: pg_sys::Oid,
    /// Whether a deferred trigger may fire as a superuser at commit.
    deferred_as_superuser: bool,
    tables: HashSet<(pg_sys::Oid, Event)>,
    types: HashSet<pg_sys::Oid>,
    functions: HashMap<pg_sys::Oid, bool>,
}

/// An expression walk in progress: the way to the current node, and what
/// was found (which stops the walk).
struct ExprWalk<'a> {
    walk: &'a mut Walk,
    trail: Vec<String>,
    found: Option<Culprit>,
}

fn is_superuser(role: pg_sys::Oid) -> bool {
    // SAFETY: a syscache lookup of the role.
    unsafe { pg_sys::superuser_arg(role) }
}

impl Walk {
    fn new(runs_as: pg_sys::Oid) -> Walk {
        // SAFETY: backend-local state.
        let (current, outer, session) =
            unsafe { (pg_sys::GetUserId(), pg_sys::GetOuterUserId(), pg_sys::GetSessionUserId()) };
        Walk {
            after_as: runs_as,
            deferred_as_superuser: [runs_as, current, outer, session].into_iter().any(is_superuser),
            tables: HashSet::new(),
            types: HashSet::new(),
            functions: HashMap::new(),
        }
    }

    /// Whether code that runs when `func` is called was written by a
    /// superuser (see the module's comment).
    fn trusted(&mut self, func: pg_sys::Oid) -> bool {
        if func == pg_sys::InvalidOid {
            return true;
        }
        if let Some(&known) = self.functions.get(&func) {
            return known;
        }
        // Assume trusted while deciding, so a support function naming itself
        // does not recurse forever.
        self.functions.insert(func, true);
        let verdict = match PgProc::new(func) {
            // SAFETY: a syscache lookup of the owner's role.
            Some(p) => (p.prosecdef() || unsafe { pg_sys::superuser_arg(p.proowner()) }) && self.trusted(p.prosupport()),
            // Gone since it was named: nothing will run it.
            None => true,
        };
        self.functions.insert(func, verdict);
        verdict
    }

    /// Walks the expression in node string `text` (a catalog's
    /// `pg_node_tree`); `None` when it is trusted.
    fn node_string(&mut self, text: *const c_char, trail: Vec<String>) -> Option<Culprit> {
        if text.is_null() {
            return None;
        }
        // SAFETY: `text` is a NUL-terminated node string from the relcache or
        // a catalog row; the tree is palloc'd in the current memory context.
        let tree = unsafe { pg_sys::stringToNode(text) }.cast::<pg_sys::Node>();
        self.expression(tree, trail)
    }

    /// Walks the expression tree `tree`; `None` when it is trusted.
    fn expression(&mut self, tree: *mut pg_sys::Node, trail: Vec<String>) -> Option<Culprit> {
        let mut cx = ExprWalk { walk: self, trail, found: None };
        // SAFETY: `tree` is an expression tree (or NULL); the context is `cx`,
        // which outlives the walk.
        unsafe { walk_node(tree, (&mut cx as *mut ExprWalk).cast()) };
        cx.found
    }
}

impl ExprWalk<'_> {
    fn untrusted_function(&mut self, func: pg_sys::Oid, why: Option<String>) -> bool {
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
    fn untrusted_type(&mut self, t: pg_sys::Oid) -> bool {
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
        #[cfg(not(feature = "pg13"))]
        let subscript = form.typsubscript;
        #[cfg(feature = "pg13")]
        let subscript = pg_sys::InvalidOid;
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
            #[cfg(not(feature = "pg13"))]
            pg_sys::TYPTYPE_MULTIRANGE => {
                // SAFETY: a syscache lookup of the multirange's range type.
                self.untrusted_type(unsafe { pg_sys::get_multirange_range(t) })
            }
            _ => form.typelem != pg_sys::InvalidOid && self.untrusted_type(form.typelem),
        }
    }

    /// The CHECK constraints of domain `domain`, each walked whole.
    fn untrusted_domain(&mut self, domain: pg_sys::Oid, name: &str) -> bool {
        for (constraint, conbin) in domain_checks(domain) {
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
unsafe extern "C-unwind" fn walk_node(node: *mut pg_sys::Node, context: *mut c_void) -> bool {
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

/// The CHECK constraints of a domain: names and node strings.
fn domain_checks(domain: pg_sys::Oid) -> Vec<(String, std::ffi::CString)> {
    let mut found = Vec::new();
    // SAFETY: pg_constraint is opened and scanned with a key on contypid
    // (without an index: only domains reach here, and an index's number
    // would be one more thing to trust), the columns found by name (and the scan given up if one is missing); every
    // tuple is read while the scan holds it, and copied out.
    unsafe {
        let contypid = pg_sys::get_attnum(PG_CONSTRAINT, c"contypid".as_ptr());
        let conbin = pg_sys::get_attnum(PG_CONSTRAINT, c"conbin".as_ptr());
        let conname = pg_sys::get_attnum(PG_CONSTRAINT, c"conname".as_ptr());
        let contype = pg_sys::get_attnum(PG_CONSTRAINT, c"contype".as_ptr());
        if contypid <= 0 || conbin <= 0 || conname <= 0 || contype <= 0 {
            return found;
        }
        let rel = pg_sys::table_open(PG_CONSTRAINT, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
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
        pg_sys::table_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
    }
    found
}

/// The equality operators' functions of foreign key `constraint`
/// (`conpfeqop`, `conppeqop`, `conffeqop`), which its actions and checks call.
fn foreign_key_functions(constraint: pg_sys::Oid) -> Vec<pg_sys::Oid> {
    let mut funcs = Vec::new();
    // SAFETY: a syscache lookup of the constraint; the arrays are read by
    // column name while the tuple is held, copied out, and released.
    unsafe {
        let tuple =
            pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::CONSTROID as i32, pg_sys::Datum::from(constraint));
        if tuple.is_null() {
            return funcs;
        }
        for column in [c"conpfeqop", c"conppeqop", c"conffeqop"] {
            let attnum = pg_sys::get_attnum(PG_CONSTRAINT, column.as_ptr());
            if attnum <= 0 {
                continue;
            }
            let mut isnull = false;
            let d = pg_sys::SysCacheGetAttr(pg_sys::SysCacheIdentifier::CONSTROID as i32, tuple, attnum, &mut isnull);
            if let Some(ops) = <Vec<Option<pg_sys::Oid>> as FromDatum>::from_datum(d, isnull) {
                funcs.extend(ops.into_iter().flatten().map(|op| pg_sys::get_opcode(op)));
            }
        }
        pg_sys::ReleaseSysCache(tuple);
    }
    funcs
}

/// What a referenced table's foreign-key trigger does to the referencing
/// table for `event`: `Some(Some(e))` it runs `e` there, `Some(None)` it only
/// checks (a query with the key's operators), `None` it is not an action of
/// a foreign key for this event.
fn foreign_key_action(func: pg_sys::Oid, event: Event) -> Option<Option<Event>> {
    let f = func.to_u32();
    match event {
        Event::Delete => match f {
            pg_sys::F_RI_FKEY_CASCADE_DEL => Some(Some(Event::Delete)),
            pg_sys::F_RI_FKEY_SETNULL_DEL | pg_sys::F_RI_FKEY_SETDEFAULT_DEL => Some(Some(Event::Update)),
            pg_sys::F_RI_FKEY_NOACTION_DEL | pg_sys::F_RI_FKEY_RESTRICT_DEL => Some(None),
            _ => None,
        },
        Event::Update => match f {
            pg_sys::F_RI_FKEY_CASCADE_UPD | pg_sys::F_RI_FKEY_SETNULL_UPD | pg_sys::F_RI_FKEY_SETDEFAULT_UPD => {
                Some(Some(Event::Update))
            }
            // The referencing side's own check queries the referenced table.
            pg_sys::F_RI_FKEY_NOACTION_UPD | pg_sys::F_RI_FKEY_RESTRICT_UPD | pg_sys::F_RI_FKEY_CHECK_UPD => Some(None),
            _ => None,
        },
    }
}

fn trigger_fires_for(tgtype: i16, event: Event) -> bool {
    let bit = match event {
        Event::Delete => pg_sys::TRIGGER_TYPE_DELETE,
        Event::Update => pg_sys::TRIGGER_TYPE_UPDATE,
    };
    (tgtype as u16 as u32) & bit != 0
}

impl Walk {
    /// Everything `event` on `table` run as `runs_as` can run, and what its
    /// foreign keys' actions reach (`runs_as`: the role the statement, or the
    /// foreign key's query, that does it runs as).
    fn table(&mut self, table: pg_sys::Oid, event: Event, runs_as: pg_sys::Oid) -> Result<(), Finding> {
        if !self.tables.insert((table, event)) {
            return Ok(());
        }
        let lock = pg_sys::RowExclusiveLock as pg_sys::LOCKMODE;
        // SAFETY: the relation is opened with the lock the statement (or the
        // cascade) takes, which conflicts with CREATE TRIGGER, CREATE RULE
        // and ALTER TABLE, and is kept to transaction end; what is read from
        // the relcache is read while it is open, and it is closed here.
        let rel = unsafe { pg_sys::relation_open(table, lock) };
        let result = self.relation(rel, event, runs_as);
        // SAFETY: opened above.
        unsafe { pg_sys::relation_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE) };
        result
    }

    fn relation(&mut self, rel: pg_sys::Relation, event: Event, runs_as: pg_sys::Oid) -> Result<(), Finding> {
        // SAFETY: `rel` is open (see `table`); its relcache arrays hold the
        // counts they state.
        unsafe {
            let table = (*rel).rd_id;
            let form = &*(*rel).rd_rel;
            let partitioned = form.relkind as u8 == pg_sys::RELKIND_PARTITIONED_TABLE;
            let superuser = is_superuser(runs_as);
            let finding = |place: String, culprit: Culprit| Finding { table, runs_as, place, detail: culprit.detail() };
            if superuser {
                if event == Event::Update && (partitioned || form.relispartition) {
                    return Err(finding(
                        "an update".into(),
                        Culprit::Opaque(
                            "An update of a partitioned table can move rows between partitions, which runs their INSERT \
                             triggers and constraints; auth_sessions does not examine that."
                                .into(),
                        ),
                    ));
                }
                let rules = (*rel).rd_rules;
                if !rules.is_null() {
                    let wanted = match event {
                        Event::Delete => pg_sys::CmdType::CMD_DELETE,
                        Event::Update => pg_sys::CmdType::CMD_UPDATE,
                    };
                    for &rule in slice((*rules).rules, (*rules).numLocks) {
                        if (*rule).event == wanted {
                            return Err(finding(
                                rule_name((*rule).ruleId),
                                Culprit::Opaque(
                                    "A rule turns the statement into other statements, which auth_sessions does not examine."
                                        .into(),
                                ),
                            ));
                        }
                    }
                }
            }
            let desc = (*rel).trigdesc;
            let triggers = if desc.is_null() { &[][..] } else { slice((*desc).triggers, (*desc).numtriggers) };
            let mut cascades = Vec::new();
            for t in triggers {
                // A disabled trigger never fires; one enabled for replicas only
                // does (pruning deletes some rows as a replica would).
                if !trigger_fires_for(t.tgtype, event) || t.tgenabled == pg_sys::TRIGGER_DISABLED as c_char {
                    continue;
                }
                let place = || format!("trigger \"{}\"", CStr::from_ptr(t.tgname).to_string_lossy());
                // Who the trigger runs as (see the module's comment).
                let before = (t.tgtype as u16 as u32) & (pg_sys::TRIGGER_TYPE_BEFORE | pg_sys::TRIGGER_TYPE_INSTEAD) != 0;
                let (fires_as, as_superuser) = if before || superuser {
                    // An AFTER trigger of a table a cascade reaches fires as the
                    // statement's role; but pruning may delete those rows itself,
                    // as the table's owner (src/prune.rs), and then its AFTER
                    // triggers fire as that owner: checked against both.
                    (runs_as, superuser)
                } else if t.tgdeferrable {
                    (self.after_as, self.deferred_as_superuser)
                } else {
                    (self.after_as, is_superuser(self.after_as))
                };
                if as_superuser {
                    let refuse = |culprit: Culprit| Finding { table, runs_as: fires_as, place: place(), detail: culprit.detail() };
                    if !self.trusted(t.tgfoid) {
                        return Err(refuse(Culprit::Function { func: t.tgfoid, trail: Vec::new() }));
                    }
                    if let Some(c) = self.node_string(t.tgqual, vec!["in its WHEN clause".into()]) {
                        return Err(refuse(c));
                    }
                }
                if t.tgconstrrelid != pg_sys::InvalidOid {
                    if let Some(action) = foreign_key_action(t.tgfoid, event) {
                        cascades.push((t.tgconstrrelid, t.tgconstraint, action, place()));
                    }
                }
            }
            if superuser && event == Event::Update {
                self.stored_row(rel, &finding)?;
            }
            // A partitioned table's rows are its partitions'.
            if partitioned {
                for part in partitions(rel) {
                    self.table(part, event, runs_as)?;
                }
            }
            for (other, constraint, action, place) in cascades {
                // A foreign key's queries run as the owner of the table they
                // query: the referencing table for an action, the referenced
                // one for the referencing side's check.
                let runs_as = crate::security::owner_of(other);
                if is_superuser(runs_as) {
                    for func in foreign_key_functions(constraint) {
                        if !self.trusted(func) {
                            return Err(Finding {
                                table: other,
                                runs_as,
                                place: format!("the foreign key of {place}"),
                                detail: Culprit::Function { func, trail: vec!["an equality operator of the key".into()] }
                                    .detail(),
                            });
                        }
                    }
                }
                if let Some(event) = action {
                    self.table(other, event, runs_as)?;
                }
            }
            Ok(())
        }
    }

    /// What storing a new version of a row of `rel` runs: CHECK constraints,
    /// defaults and generated columns, the columns' types, the indexes.
    ///
    /// SAFETY: `rel` is open.
    unsafe fn stored_row(
        &mut self,
        rel: pg_sys::Relation,
        finding: &dyn Fn(String, Culprit) -> Finding,
    ) -> Result<(), Finding> {
        // SAFETY: as the function's contract says; the relcache's arrays hold
        // the counts they state, the index list is a copy, each index is
        // opened with the table's lock and closed here.
        unsafe {
            let desc = (*rel).rd_att;
            let constr = (*desc).constr;
            if !constr.is_null() {
                for check in slice((*constr).check, (*constr).num_check as i32) {
                    let name = CStr::from_ptr(check.ccname).to_string_lossy();
                    if let Some(c) = self.node_string(check.ccbin, Vec::new()) {
                        return Err(finding(format!("check constraint \"{name}\""), c));
                    }
                }
                for default in slice((*constr).defval, (*constr).num_defval as i32) {
                    if let Some(c) = self.node_string(default.adbin, Vec::new()) {
                        return Err(finding(format!("the default of column {}", default.adnum), c));
                    }
                }
            }
            for a in crate::rows::attributes(desc).into_iter().filter(|a| !a.attisdropped) {
                let column = CStr::from_ptr(a.attname.data.as_ptr()).to_string_lossy().into_owned();
                let mut cx = ExprWalk { walk: self, trail: Vec::new(), found: None };
                if cx.untrusted_type(a.atttypid) {
                    let c = cx.found.take().unwrap_or(Culprit::Opaque(String::new()));
                    return Err(finding(format!("the type of column \"{column}\""), c));
                }
            }
            let list = pg_sys::RelationGetIndexList(rel);
            let ids: Vec<pg_sys::Oid> = cells(list).iter().map(|c| c.oid_value).collect();
            for id in ids {
                let index = pg_sys::index_open(id, pg_sys::RowExclusiveLock as pg_sys::LOCKMODE);
                let place = format!("index {}", relation_name(id));
                let result = self.index(index).map_err(|c| finding(place, c));
                pg_sys::index_close(index, pg_sys::NoLock as pg_sys::LOCKMODE);
                result?;
            }
            Ok(())
        }
    }

    /// What inserting into `index` runs.
    ///
    /// SAFETY: `index` is open.
    unsafe fn index(&mut self, index: pg_sys::Relation) -> Result<(), Culprit> {
        // SAFETY: as the function's contract says; `rd_support` holds
        // `amsupport` entries per key column, the exclusion arrays one per key
        // column.
        unsafe {
            for list in [pg_sys::RelationGetIndexExpressions(index), pg_sys::RelationGetIndexPredicate(index)] {
                if let Some(c) = self.expression(list.cast(), Vec::new()) {
                    return Err(c);
                }
            }
            let keys = (*(*index).rd_index).indnkeyatts as i32;
            let am = (*index).rd_indam;
            let support = if am.is_null() { 0 } else { (*am).amsupport as i32 } * keys;
            let mut funcs: Vec<pg_sys::Oid> =
                if (*index).rd_support.is_null() { Vec::new() } else { slice((*index).rd_support, support).to_vec() };
            if (*(*index).rd_index).indisexclusion {
                let (mut ops, mut procs, mut strategies) = (std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut());
                pg_sys::RelationGetExclusionInfo(index, &mut ops, &mut procs, &mut strategies);
                funcs.extend_from_slice(slice(procs, keys));
            }
            for func in funcs {
                if !self.trusted(func) {
                    return Err(Culprit::Function { func, trail: Vec::new() });
                }
            }
            Ok(())
        }
    }
}

/// The partitions of partitioned table `rel`.
///
/// SAFETY: `rel` is an open partitioned table.
unsafe fn partitions(rel: pg_sys::Relation) -> Vec<pg_sys::Oid> {
    // SAFETY: as the function's contract says; the descriptor holds `nparts`
    // OIDs and is valid while the relation is open.
    unsafe {
        #[cfg(feature = "pg13")]
        let pd = pg_sys::RelationGetPartitionDesc(rel);
        #[cfg(not(feature = "pg13"))]
        let pd = pg_sys::RelationGetPartitionDesc(rel, false);
        if pd.is_null() {
            return Vec::new();
        }
        slice((*pd).oids, (*pd).nparts).to_vec()
    }
}

/// `n` elements at `ptr` (none when it is NULL or `n` is not positive).
///
/// SAFETY: `ptr` points at `n` initialized elements that outlive the slice.
unsafe fn slice<'a, T>(ptr: *const T, n: i32) -> &'a [T] {
    if ptr.is_null() || n <= 0 {
        &[]
    } else {
        // SAFETY: as the function's contract says.
        unsafe { std::slice::from_raw_parts(ptr, n as usize) }
    }
}

/// The cells of a PostgreSQL list (none for NIL).
///
/// SAFETY: `list` is NIL or a valid List that outlives the slice.
unsafe fn cells<'a>(list: *mut pg_sys::List) -> &'a [pg_sys::ListCell] {
    // SAFETY: a List holds `length` cells in `elements`.
    unsafe { if list.is_null() { &[] } else { slice((*list).elements, (*list).length) } }
}

pub fn role_name(role: pg_sys::Oid) -> String {
    // SAFETY: a syscache lookup; NULL for a role that does not exist.
    unsafe {
        let name = pg_sys::GetUserNameFromId(role, true);
        if name.is_null() { format!("{}", role.to_u32()) } else { CStr::from_ptr(name).to_string_lossy().into_owned() }
    }
}

/// `rule "name"`, from the rule's OID.
fn rule_name(rule: pg_sys::Oid) -> String {
    let address = pg_sys::ObjectAddress { classId: PG_REWRITE, objectId: rule, objectSubId: 0 };
    // SAFETY: a catalog lookup of the rule; the result is a palloc'd string
    // ("rule NAME on table T"), NULL if it is gone.
    let text = unsafe {
        #[cfg(feature = "pg13")]
        let text = pg_sys::getObjectDescription(&address);
        #[cfg(not(feature = "pg13"))]
        let text = pg_sys::getObjectDescription(&address, true);
        if text.is_null() { String::new() } else { CStr::from_ptr(text).to_string_lossy().into_owned() }
    };
    // The table is named by the message: keep "rule NAME".
    match text.split_once(" on ") {
        Some((rule, _)) => rule.to_string(),
        None => format!("rule {}", rule.to_u32()),
    }
}

fn function_name(func: pg_sys::Oid) -> String {
    // SAFETY: a syscache lookup; the result is a palloc'd string.
    unsafe { CStr::from_ptr(pg_sys::format_procedure_qualified(func)).to_string_lossy().into_owned() }
}

fn type_name(t: pg_sys::Oid) -> String {
    // SAFETY: a syscache lookup; the result is a palloc'd string ("???" for
    // a type that is gone).
    unsafe { CStr::from_ptr(pg_sys::format_type_be_qualified(t)).to_string_lossy().into_owned() }
}

/// `schema.name` of a relation (its OID when it is gone).
pub fn relation_name(table: pg_sys::Oid) -> String {
    // SAFETY: syscache lookups; NULL when the relation is gone.
    unsafe {
        let name = pg_sys::get_rel_name(table);
        let nsp = pg_sys::get_namespace_name(pg_sys::get_rel_namespace(table));
        if name.is_null() || nsp.is_null() {
            return format!("{}", table.to_u32());
        }
        format!("{}.{}", CStr::from_ptr(nsp).to_string_lossy(), CStr::from_ptr(name).to_string_lossy())
    }
}

fn refuse(f: Finding) -> ! {
    let verb = if f.place.starts_with("trigger ") { "fire" } else { "run" };
    pgrx::pg_sys::panic::ErrorReport::new(
        PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        format!(
            "auth_sessions: refusing to {verb} {} on {} as superuser \"{}\"",
            f.place,
            relation_name(f.table),
            role_name(f.runs_as)
        ),
        "auth_sessions::trusted_code",
    )
    .set_detail(f.detail)
    .set_hint(
        "Do this as a role that is not a superuser (for the background worker, set auth_sessions.prune_role), \
         make the functions it calls SECURITY DEFINER or owned by a superuser, or drop what runs them.",
    )
    .report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

/// The superuser guard: before a statement of ours does `event` to rows of
/// `table` as `runs_as`, refuse (SQLSTATE 42501) when anything it can run,
/// on that table or on any table its foreign keys' actions reach, would run
/// as a superuser and is not shown to be a superuser's code. Takes the lock
/// the statement takes (RowExclusiveLock) on every table it examines.
pub fn refuse_untrusted_code(table: pg_sys::Oid, event: Event, runs_as: pg_sys::Oid) {
    if let Err(finding) = Walk::new(runs_as).table(table, event, runs_as) {
        refuse(finding);
    }
}

/// The guard for a delete of sessions as `runs_as` (a logout, an eviction,
/// a pruning batch): `auth.sessions` and everything its cascades reach.
pub fn guard_session_delete(runs_as: pg_sys::Oid) {
    refuse_untrusted_code(crate::lookup::catalog().sessions.rel, Event::Delete, runs_as);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(f: u32) -> pg_sys::Oid {
        pg_sys::Oid::from_u32(f)
    }

    #[test]
    fn a_delete_cascades_as_a_delete_and_set_null_as_an_update() {
        assert_eq!(foreign_key_action(oid(pg_sys::F_RI_FKEY_CASCADE_DEL), Event::Delete), Some(Some(Event::Delete)));
        assert_eq!(foreign_key_action(oid(pg_sys::F_RI_FKEY_SETNULL_DEL), Event::Delete), Some(Some(Event::Update)));
        assert_eq!(foreign_key_action(oid(pg_sys::F_RI_FKEY_SETDEFAULT_DEL), Event::Delete), Some(Some(Event::Update)));
        assert_eq!(foreign_key_action(oid(pg_sys::F_RI_FKEY_NOACTION_DEL), Event::Delete), Some(None));
        assert_eq!(foreign_key_action(oid(pg_sys::F_RI_FKEY_RESTRICT_DEL), Event::Delete), Some(None));
    }

    #[test]
    fn an_update_reaches_update_actions_only() {
        assert_eq!(foreign_key_action(oid(pg_sys::F_RI_FKEY_CASCADE_UPD), Event::Update), Some(Some(Event::Update)));
        assert_eq!(foreign_key_action(oid(pg_sys::F_RI_FKEY_SETNULL_UPD), Event::Update), Some(Some(Event::Update)));
        assert_eq!(foreign_key_action(oid(pg_sys::F_RI_FKEY_CHECK_UPD), Event::Update), Some(None));
        // A delete's action does nothing on an update, and the other way round.
        assert_eq!(foreign_key_action(oid(pg_sys::F_RI_FKEY_CASCADE_DEL), Event::Update), None);
        assert_eq!(foreign_key_action(oid(pg_sys::F_RI_FKEY_CASCADE_UPD), Event::Delete), None);
        // The referencing side's insert check is no action of a delete.
        assert_eq!(foreign_key_action(oid(pg_sys::F_RI_FKEY_CHECK_INS), Event::Delete), None);
    }

    #[test]
    fn triggers_fire_for_their_events() {
        let before_delete_row = (pg_sys::TRIGGER_TYPE_BEFORE | pg_sys::TRIGGER_TYPE_DELETE | 1) as i16;
        let after_insert_or_update = (pg_sys::TRIGGER_TYPE_INSERT | pg_sys::TRIGGER_TYPE_UPDATE) as i16;
        assert!(trigger_fires_for(before_delete_row, Event::Delete));
        assert!(!trigger_fires_for(before_delete_row, Event::Update));
        assert!(trigger_fires_for(after_insert_or_update, Event::Update));
        assert!(!trigger_fires_for(after_insert_or_update, Event::Delete));
    }
}
