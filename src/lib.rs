//! auth_sessions: GoTrue (Supabase Auth) sessions, checked and kept inside PostgreSQL.
//!
//! The extension's DDL lives in `sql/` as plain SQL; this crate includes it
//! into the generated extension script and adds the functions on top.

// Pure rules, tested without a server.
mod claims;
mod user_agent;
pub mod validity;

// Settings: their names, units and bounds, and the rules they make.
mod settings;

// PostgreSQL access: the C API, whom our work runs as and what it may run,
// and reading relations directly (their shape checked first).
mod errors;
mod ffi;
mod versions;
mod security;
mod trusted_code;
mod lookup;
mod kept_scan;
mod rows;
mod statements;

// Features: the schema, attaching to GoTrue's tables, the SQL functions and
// triggers, the DDL guard, pruning (its pure rules, sweep windows and
// pacing, sit in prune/ beside the code that applies them) and its
// background worker.
mod schema;
mod attach;
mod sessions;
mod current;
mod planner;
mod devices;
mod session_checks;
mod limits;
mod guard;
mod prune;

::pgrx::pg_module_magic!(name, version);

// The lifecycle functions written in SQL, the limit trigger and privileges;
// `finalize` puts this last, after the Rust functions it calls.
pgrx::extension_sql_file!("../sql/lifecycle.sql", name = "lifecycle", finalize);

#[pgrx::pg_guard]
pub extern "C-unwind" fn _PG_init() {
    settings::register();
    lookup::register();
    kept_scan::register();
    session_checks::register();
    planner::register();
    // SAFETY: flags PostgreSQL sets before loading shared_preload_libraries:
    // while it loads them, and when the server runs for pg_upgrade (`-b`),
    // where no maintenance may change the clusters being upgraded (as
    // PostgreSQL keeps autovacuum off there).
    if unsafe { pgrx::pg_sys::process_shared_preload_libraries_in_progress && !pgrx::pg_sys::IsBinaryUpgrade } {
        prune::worker::register();
    }
}

/// Required by `cargo pgrx test`: it must be visible at the crate root.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
