//! The schema the install script creates (`sql/schema.sql`: the modes, and
//! in standalone mode GoTrue's type and tables as extension members), and
//! its tests inside PostgreSQL.

// The tables, type and config-dump registrations. `bootstrap` puts this first
// in the generated script, before any function that refers to these objects.
pgrx::extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);

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
}

/// A user with one session, created 2026-01-01 00:00 UTC and refreshed at 02:00
/// (UTC wall-clock time), for the tests of the modules that read sessions.
#[cfg(feature = "pg_test")]
pub mod fixture {
    use pgrx::prelude::*;

    pub fn one_session() {
        Spi::run(
            "INSERT INTO auth.users (id) VALUES ('00000000-0000-4000-8000-000000000001');
             INSERT INTO auth.sessions (id, user_id, created_at, refreshed_at) VALUES
                 ('00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-000000000001',
                  '2026-01-01 00:00:00+00', '2026-01-01 02:00:00')",
        )
        .expect("setup statements run");
    }

    pub fn validity_at(at: &str) -> Option<String> {
        Spi::get_one::<String>(&format!(
            "SELECT auth.session_validity('00000000-0000-4000-8000-0000000000a1', '{at}')"
        ))
        .expect("session_validity runs")
    }

}
