//! Small wrappers over PostgreSQL's C API that several modules need: C
//! arrays, Lists and a relation's triggers as slices, ctids, an opened
//! relation that closes itself, the names of catalog objects for messages,
//! and an event trigger's call. What differs between majors is in
//! versions.rs.

use pgrx::pg_sys;
use std::ffi::CStr;

/// `n` elements at `ptr` (none when it is NULL or `n` is not positive).
///
/// SAFETY: `ptr` points at `n` initialized elements that outlive the slice.
pub unsafe fn slice<'a, T>(ptr: *const T, n: i32) -> &'a [T] {
    if ptr.is_null() || n <= 0 {
        &[]
    } else {
        // SAFETY: as the function's contract says.
        unsafe { std::slice::from_raw_parts(ptr, n as usize) }
    }
}

/// The cells of a PostgreSQL List (none for NIL).
///
/// SAFETY: `list` is NIL or a valid List (PostgreSQL 13+: `length` cells in
/// `elements`) that outlives the slice.
pub unsafe fn list_cells<'a>(list: *mut pg_sys::List) -> &'a [pg_sys::ListCell] {
    // SAFETY: as the function's contract says.
    unsafe { if list.is_null() { &[] } else { slice((*list).elements, (*list).length) } }
}

fn owned(text: *const std::ffi::c_char) -> Option<String> {
    // SAFETY: `text` is NULL or a NUL-terminated string from PostgreSQL.
    (!text.is_null()).then(|| unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned())
}

/// `schema.name` of a relation (its OID when it is gone).
pub fn relation_name(table: pg_sys::Oid) -> String {
    // SAFETY: syscache lookups; NULL when the relation is gone.
    let (nsp, name) =
        unsafe { (owned(pg_sys::get_namespace_name(pg_sys::get_rel_namespace(table))), owned(pg_sys::get_rel_name(table))) };
    match (nsp, name) {
        (Some(nsp), Some(name)) => format!("{nsp}.{name}"),
        _ => format!("{}", table.to_u32()),
    }
}

/// A type's name, schema-qualified ("???" for a type that is gone).
pub fn type_name(t: pg_sys::Oid) -> String {
    // SAFETY: a syscache lookup; the result is a palloc'd string.
    owned(unsafe { pg_sys::format_type_be_qualified(t) }).unwrap_or_default()
}

/// A role's name (its OID when it is gone).
pub fn role_name(role: pg_sys::Oid) -> String {
    // SAFETY: a syscache lookup; NULL for a role that does not exist.
    owned(unsafe { pg_sys::GetUserNameFromId(role, true) }).unwrap_or_else(|| format!("{}", role.to_u32()))
}

/// A function's name and argument types, schema-qualified.
pub fn function_name(func: pg_sys::Oid) -> String {
    // SAFETY: a syscache lookup; the result is a palloc'd string.
    owned(unsafe { pg_sys::format_procedure_qualified(func) }).unwrap_or_default()
}

/// The EventTriggerData of an event trigger function's call (`name` is the
/// function, for the error when it is called otherwise), or None when the
/// command comes from an extension's script (CREATE/ALTER EXTENSION) or
/// pg_upgrade's restore (binary-upgrade mode), which the extension's event
/// triggers leave alone.
pub fn event_trigger_call(fcinfo: pg_sys::FunctionCallInfo, name: &str) -> Option<*mut pg_sys::EventTriggerData> {
    // SAFETY: `fcinfo` is the call's; its context is NULL or a Node, whose
    // tag is read before it is taken for an EventTriggerData.
    unsafe {
        if pg_sys::creating_extension || pg_sys::IsBinaryUpgrade {
            return None;
        }
        let context = (*fcinfo).context;
        if context.is_null() || (*context).type_ != pg_sys::NodeTag::T_EventTriggerData {
            crate::errors::error(
                pgrx::PgSqlErrorCode::ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED,
                format!("{name} must be called as an event trigger"),
                "auth_sessions",
            )
            .raise();
        }
        Some(context as *mut pg_sys::EventTriggerData)
    }
}

/// A ctid's `(block, offset)`.
pub fn tid_parts(t: pg_sys::ItemPointerData) -> (u32, u16) {
    pgrx::itemptr::item_pointer_get_both(t)
}

/// The ctid at `(block, offset)`.
pub fn tid((block, offset): (u32, u16)) -> pg_sys::ItemPointerData {
    let mut t = pg_sys::ItemPointerData::default();
    pgrx::itemptr::item_pointer_set_all(&mut t, block, offset);
    t
}

/// The triggers of an open relation (none when it has none).
///
/// SAFETY: `rel` is open, and stays open while the slice is used (the
/// relcache's trigger array is valid that long).
pub unsafe fn triggers<'a>(rel: pg_sys::Relation) -> &'a [pg_sys::Trigger] {
    // SAFETY: as the function's contract says; `trigdesc` is NULL or holds
    // `numtriggers` triggers.
    unsafe {
        let desc = (*rel).trigdesc;
        if desc.is_null() { &[] } else { slice((*desc).triggers, (*desc).numtriggers) }
    }
}

/// A relation opened by this code, closed when this value goes out of scope
/// (on an error unwinding through it too). The lock taken on opening is
/// kept to the end of the transaction, as the executor keeps its locks,
/// except for [`Opened::catalog`]'s.
pub struct Opened {
    rel: pg_sys::Relation,
    /// The lock released on closing (`NoLock`: none).
    release: pg_sys::LOCKMODE,
}

impl Opened {
    /// A table (or any relation with storage that is not an index) by OID,
    /// locked in `lock`; an ERROR when it does not exist or is an index.
    pub fn table(oid: pg_sys::Oid, lock: u32) -> Opened {
        // SAFETY: table_open raises an ERROR rather than return a bad pointer.
        Opened { rel: unsafe { pg_sys::table_open(oid, lock as pg_sys::LOCKMODE) }, release: pg_sys::NoLock as _ }
    }

    /// An index by OID, locked in `lock`; an ERROR when it is not an index.
    pub fn index(oid: pg_sys::Oid, lock: u32) -> Opened {
        // SAFETY: index_open raises an ERROR rather than return a bad pointer.
        Opened { rel: unsafe { pg_sys::index_open(oid, lock as pg_sys::LOCKMODE) }, release: pg_sys::NoLock as _ }
    }

    /// Any relation by OID, locked in `lock` (NoLock: the caller holds one).
    pub fn relation(oid: pg_sys::Oid, lock: u32) -> Opened {
        // SAFETY: relation_open raises an ERROR rather than return a bad pointer.
        Opened { rel: unsafe { pg_sys::relation_open(oid, lock as pg_sys::LOCKMODE) }, release: pg_sys::NoLock as _ }
    }

    /// A system catalog, read under AccessShareLock released on closing (as
    /// PostgreSQL's own catalog scans do).
    pub fn catalog(oid: pg_sys::Oid) -> Opened {
        let mut opened = Opened::table(oid, pg_sys::AccessShareLock);
        opened.release = pg_sys::AccessShareLock as _;
        opened
    }

    pub fn rel(&self) -> pg_sys::Relation {
        self.rel
    }
}

impl Drop for Opened {
    fn drop(&mut self) {
        // SAFETY: the relation was opened by this value and is closed once;
        // closing only drops the reference (and the lock when asked), which
        // raises no error, so it is safe while an error unwinds.
        unsafe { pg_sys::relation_close(self.rel, self.release) }
    }
}
