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
//! owner, before the sessions (src/prune/): so the AFTER triggers of a
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
//! runs as a superuser (who runs what: above).

use pgrx::pg_catalog::pg_proc::PgProc;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::collections::{HashMap, HashSet};
use std::ffi::{c_char, CStr};

mod expressions;
mod tables;

use crate::ffi::{function_name, relation_name, role_name, type_name};
use expressions::{walk_node, ExprWalk};

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

/// `rule "name"`, from the rule's OID.
fn rule_name(rule: pg_sys::Oid) -> String {
    let address = pg_sys::ObjectAddress { classId: PG_REWRITE, objectId: rule, objectSubId: 0 };
    // SAFETY: a catalog lookup of the rule; the result is a palloc'd string
    // ("rule NAME on table T"), NULL if it is gone.
    let text = unsafe {
        let text = crate::versions::object_description(&address);
        if text.is_null() { String::new() } else { CStr::from_ptr(text).to_string_lossy().into_owned() }
    };
    // The table is named by the message: keep "rule NAME".
    match text.split_once(" on ") {
        Some((rule, _)) => rule.to_string(),
        None => format!("rule {}", rule.to_u32()),
    }
}

fn refuse(f: Finding) -> ! {
    let verb = if f.place.starts_with("trigger ") { "fire" } else { "run" };
    crate::errors::error(
        PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        format!(
            "auth_sessions: refusing to {verb} {} on {} as superuser \"{}\"",
            f.place,
            relation_name(f.table),
            role_name(f.runs_as)
        ),
        "auth_sessions::trusted_code",
    )
    .detail(f.detail)
    .hint(
        "Do this as a role that is not a superuser (for the background worker, set auth_sessions.prune_role), \
         make the functions it calls SECURITY DEFINER or owned by a superuser, or drop what runs them.",
    )
    .raise()
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
