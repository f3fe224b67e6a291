//! Reading a session row passed to SQL as a `record` (the argument of
//! `auth.session_row_validity`): its fields are found by name and checked by
//! type, so a row of `auth.sessions` with any extra columns (GoTrue adds
//! some) works, and anything else fails with a clear error instead of being
//! misread.

use crate::validity::Micros;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::ffi::CStr;

/// The fields of a session row that validity depends on.
#[derive(Debug, Default)]
pub struct Row {
    pub id: Option<[u8; 16]>,
    pub user_id: Option<[u8; 16]>,
    pub created_at: Option<Micros>,
    pub not_after: Option<Micros>,
    /// `refreshed_at`: a `timestamp` holding UTC wall-clock time (or a
    /// `timestamptz`); either way its internal value is the instant.
    pub refreshed_at: Option<Micros>,
    /// `aal`, as stored: read as a label only when asked ([`Row::aal_label`]).
    pub aal: Option<StoredAal>,
}

/// A stored `aal`: an enum value (its `pg_enum` OID) or text.
#[derive(Debug)]
pub enum StoredAal {
    Enum(pg_sys::Oid),
    Text(String),
}

impl Row {
    /// The label of `aal` (`aal1`, ...), looked up only here.
    pub fn aal_label(&self) -> Option<String> {
        match &self.aal {
            Some(StoredAal::Enum(oid)) => crate::lookup::enum_label(*oid),
            Some(StoredAal::Text(text)) => Some(text.clone()),
            None => None,
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Uuid,
    Instant,
    WallClockOrInstant,
    Label,
}

const FIELDS: [(&CStr, Kind); 6] = [
    (c"id", Kind::Uuid),
    (c"user_id", Kind::Uuid),
    (c"created_at", Kind::Instant),
    (c"not_after", Kind::Instant),
    (c"refreshed_at", Kind::WallClockOrInstant),
    (c"aal", Kind::Label),
];

fn wrong(code: PgSqlErrorCode, message: String) -> ! {
    crate::errors::error(code, message, "auth_sessions::rows")
        .hint("Pass a whole row of auth.sessions, as in auth.session_row_validity(s) FROM auth.sessions s.")
        .raise()
}

fn accepts(kind: Kind, type_: pg_sys::Oid) -> bool {
    match kind {
        Kind::Uuid => type_ == pg_sys::UUIDOID,
        Kind::Instant => type_ == pg_sys::TIMESTAMPTZOID,
        Kind::WallClockOrInstant => type_ == pg_sys::TIMESTAMPOID || type_ == pg_sys::TIMESTAMPTZOID,
        // SAFETY: a syscache lookup of the type.
        Kind::Label => type_ == pg_sys::TEXTOID || unsafe { pg_sys::get_typtype(type_) } == pg_sys::TYPTYPE_ENUM as std::ffi::c_char,
    }
}

/// Reads the fields of the composite datum `datum`.
pub fn read(datum: pg_sys::Datum) -> Row {
    let mut row = Row::default();
    // SAFETY: `datum` is a composite value (the argument is declared
    // `record`, and PostgreSQL passes only composites to it), detoasted
    // here; its row type's descriptor comes from the type cache and is
    // released before returning; each field is read only after its type was
    // checked to be the one its reader expects, and by-reference values
    // (uuid, text) are copied out while the tuple is alive.
    unsafe {
        let header = pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) as pg_sys::HeapTupleHeader;
        let tupdesc = pg_sys::lookup_rowtype_tupdesc(
            pgrx::heap_tuple_header_get_type_id(header),
            pgrx::heap_tuple_header_get_typmod(header),
        );
        let mut tuple: pg_sys::HeapTupleData = std::mem::zeroed();
        tuple.t_len = pgrx::heap_tuple_header_get_datum_length(header) as u32;
        tuple.t_data = header;
        let attrs = attributes(tupdesc);
        for (name, kind) in FIELDS {
            let Some(i) = attrs.iter().position(|a| !a.attisdropped && CStr::from_ptr(a.attname.data.as_ptr()) == name) else {
                pgrx::release_tupdesc(tupdesc);
                wrong(
                    PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
                    format!("auth_sessions: the session row has no field \"{}\"", name.to_string_lossy()),
                );
            };
            let type_ = attrs[i].atttypid;
            if !accepts(kind, type_) {
                let got = CStr::from_ptr(pg_sys::format_type_be(type_)).to_string_lossy().into_owned();
                pgrx::release_tupdesc(tupdesc);
                wrong(
                    PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
                    format!("auth_sessions: field \"{}\" of the session row has type {got}", name.to_string_lossy()),
                );
            }
            let mut isnull = false;
            let d = pg_sys::heap_getattr(&mut tuple, (i + 1) as i32, tupdesc, &mut isnull);
            if isnull {
                continue;
            }
            match (name.to_bytes(), kind) {
                (b"id", _) => row.id = Some(*d.cast_mut_ptr::<[u8; 16]>()),
                (b"user_id", _) => row.user_id = Some(*d.cast_mut_ptr::<[u8; 16]>()),
                (b"created_at", _) => row.created_at = Some(d.value() as i64),
                (b"not_after", _) => row.not_after = Some(d.value() as i64),
                (b"refreshed_at", _) => row.refreshed_at = Some(d.value() as i64),
                (_, Kind::Label) if type_ == pg_sys::TEXTOID => {
                    row.aal = String::from_datum(d, false).map(StoredAal::Text);
                }
                (_, _) => row.aal = Some(StoredAal::Enum(pg_sys::Oid::from(d.value() as u32))),
            }
        }
        pgrx::release_tupdesc(tupdesc);
    }
    row
}

/// The attributes of a tuple descriptor, in order (PostgreSQL 18 keeps them
/// apart from the descriptor's own fields).
///
/// SAFETY: `tupdesc` is a valid descriptor, which outlives the references.
pub unsafe fn attributes<'a>(tupdesc: pg_sys::TupleDesc) -> Vec<&'a pg_sys::FormData_pg_attribute> {
    // SAFETY: as the function's contract says; the descriptor holds `natts`
    // attributes.
    unsafe {
        let natts = (*tupdesc).natts.max(0);
        (0..natts).map(|i| &*crate::versions::attribute(tupdesc, i)).collect()
    }
}
