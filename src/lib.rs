//! auth_sessions: GoTrue (Supabase Auth) sessions, checked and kept inside PostgreSQL.
//!
//! The extension's DDL lives in `sql/` as plain SQL; this crate includes it
//! into the generated extension script and adds the functions on top.

mod attach;
mod claims;
mod current;
mod devices;
mod direct;
mod ffi;
mod guard;
mod kept_scan;
mod limits;
mod lookup;
mod pacing;
mod planner;
mod prune;
mod rows;
mod security;
mod sessions;
mod settings;
mod statements;
mod sweep;
mod trusted_code;
mod user_agent;
mod worker;
pub mod validity;

::pgrx::pg_module_magic!(name, version);

// The tables, type and config-dump registrations. `bootstrap` puts this first
// in the generated script, before any function that refers to these objects.
pgrx::extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);

// The lifecycle functions written in SQL, the limit trigger and privileges;
// `finalize` puts this last, after the Rust functions it calls.
pgrx::extension_sql_file!("../sql/lifecycle.sql", name = "lifecycle", finalize);

#[pgrx::pg_guard]
pub extern "C-unwind" fn _PG_init() {
    settings::register();
    lookup::register();
    kept_scan::register();
    // SAFETY: a flag PostgreSQL sets while loading shared_preload_libraries.
    if unsafe { pgrx::pg_sys::process_shared_preload_libraries_in_progress } {
        worker::register();
    }
}

#[cfg(feature = "pg_test")]
#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn aal_level_values_are_ordered() {
        let labels = Spi::get_one::<String>(
            "SELECT string_agg(enumlabel::text, ',' ORDER BY enumsortorder)
               FROM pg_catalog.pg_enum WHERE enumtypid = 'auth.aal_level'::regtype",
        );
        assert_eq!(labels, Ok(Some("aal1,aal2,aal3".to_string())));
        let ordered =
            Spi::get_one::<bool>("SELECT 'aal1'::auth.aal_level < 'aal2' AND 'aal2'::auth.aal_level < 'aal3'");
        assert_eq!(ordered, Ok(Some(true)));
    }

    #[pg_test]
    fn every_table_and_the_sequence_are_dumped() {
        let dumped = Spi::get_one::<String>(
            "SELECT string_agg(c::regclass::text, ',' ORDER BY c::regclass::text)
               FROM pg_catalog.pg_extension e, unnest(e.extconfig) AS c
              WHERE e.extname = 'auth_sessions'",
        );
        assert_eq!(
            dumped,
            Ok(Some(
                "auth.mfa_amr_claims,auth.prune_state,auth.refresh_tokens,auth.refresh_tokens_id_seq,auth.sessions,auth.users"
                    .to_string()
            ))
        );
    }

    #[pg_test]
    fn deleting_a_user_cascades_to_sessions_and_their_children() {
        Spi::run(
            "INSERT INTO auth.users (id) VALUES ('00000000-0000-4000-8000-000000000001');
             INSERT INTO auth.sessions (id, user_id) VALUES
                 ('00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-000000000001');
             INSERT INTO auth.refresh_tokens (token, session_id) VALUES
                 ('t1', '00000000-0000-4000-8000-0000000000a1');
             INSERT INTO auth.mfa_amr_claims (session_id, created_at, updated_at, authentication_method, id)
                 VALUES ('00000000-0000-4000-8000-0000000000a1', now(), now(), 'password',
                         '00000000-0000-4000-8000-0000000000b1');
             DELETE FROM auth.users WHERE id = '00000000-0000-4000-8000-000000000001';",
        )
        .expect("setup statements run");
        let left = Spi::get_one::<i64>(
            "SELECT (SELECT count(*) FROM auth.sessions) + (SELECT count(*) FROM auth.refresh_tokens)
                  + (SELECT count(*) FROM auth.mfa_amr_claims)",
        );
        assert_eq!(left, Ok(Some(0)));
    }

    fn one_session() {
        Spi::run(
            "INSERT INTO auth.users (id) VALUES ('00000000-0000-4000-8000-000000000001');
             INSERT INTO auth.sessions (id, user_id, created_at, refreshed_at) VALUES
                 ('00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-000000000001',
                  '2026-01-01 00:00:00+00', '2026-01-01 02:00:00')",
        )
        .expect("setup statements run");
    }

    fn validity_at(at: &str) -> Option<String> {
        Spi::get_one::<String>(&format!(
            "SELECT auth.session_validity('00000000-0000-4000-8000-0000000000a1', '{at}')"
        ))
        .expect("session_validity runs")
    }

    #[pg_test]
    fn validity_reads_the_row_and_applies_the_settings() {
        one_session();
        assert_eq!(validity_at("2030-01-01 00:00:00+00").as_deref(), Some("valid"));
        Spi::run("SET LOCAL auth_sessions.timebox = '3h'").expect("superuser may set it");
        assert_eq!(validity_at("2026-01-01 03:00:00+00").as_deref(), Some("valid"));
        assert_eq!(validity_at("2026-01-01 03:00:00.000001+00").as_deref(), Some("past_timebox"));
        Spi::run("SET LOCAL auth_sessions.timebox = 0; SET LOCAL auth_sessions.inactivity_timeout = '1h'")
            .expect("superuser may set them");
        // refreshed_at is UTC wall-clock time, whatever the session's TimeZone.
        Spi::run("SET LOCAL TimeZone = 'Asia/Kolkata'").expect("time zone set");
        assert_eq!(validity_at("2026-01-01 03:00:00+00").as_deref(), Some("valid"));
        assert_eq!(validity_at("2026-01-01 03:00:00.000001+00").as_deref(), Some("timed_out"));
        let unknown = Spi::get_one::<bool>("SELECT auth.session_is_valid('ffffffff-0000-4000-8000-000000000000')");
        assert_eq!(unknown, Ok(Some(false)));
    }

    #[pg_test]
    fn the_limit_trigger_evicts_the_least_recently_active() {
        one_session();
        Spi::run(
            "SET LOCAL auth_sessions.max_per_user = 1;
             SELECT auth.create_session('00000000-0000-4000-8000-000000000001')",
        )
        .expect("create_session runs");
        let left = Spi::get_one::<bool>(
            "SELECT count(*) = 1 AND bool_and(id <> '00000000-0000-4000-8000-0000000000a1') FROM auth.sessions",
        );
        assert_eq!(left, Ok(Some(true)));
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
