//! Pure: which session the current request claims to be, from the settings
//! PostgREST passes a verified JWT's claims in.
//!
//! PostgREST sets `request.jwt.claims` to the claims as JSON text; older
//! versions set one setting per claim, `request.jwt.claim.<name>`. As in
//! Supabase's `auth.uid()`, the per-claim setting wins when it is non-empty.
//! Anything absent, empty, of the wrong JSON type or not a uuid gives `None`:
//! a request without a usable claim is simply not in a session (no error).

/// The `session_id` claim as uuid bytes.
pub fn session_id(per_claim: Option<&str>, claims_json: Option<&str>) -> Option<[u8; 16]> {
    match per_claim.filter(|s| !s.is_empty()) {
        Some(text) => parse_uuid(text),
        None => claims_json.filter(|s| !s.is_empty()).and_then(from_json),
    }
}

fn from_json(claims: &str) -> Option<[u8; 16]> {
    let SessionIdClaim(text) = serde_json::from_str(claims).ok()?;
    parse_uuid(&text?)
}

/// The top-level `session_id` of a JSON object, read without building the
/// rest of the claims (Supabase's carry user and app metadata): the text of
/// the last `session_id` key, as jsonb's `->>` would take it (keys compared
/// after unescaping), `None` when absent or not a string. Anything but one
/// valid JSON object is an error.
struct SessionIdClaim(Option<String>);

impl<'de> serde::Deserialize<'de> for SessionIdClaim {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, Visitor};

        /// Whether a key is `session_id`.
        struct IsSessionId(bool);
        impl<'de> serde::Deserialize<'de> for IsSessionId {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Key;
                impl Visitor<'_> for Key {
                    type Value = IsSessionId;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("a key")
                    }
                    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<IsSessionId, E> {
                        Ok(IsSessionId(key == "session_id"))
                    }
                }
                deserializer.deserialize_str(Key)
            }
        }

        struct Claims;
        impl<'de> Visitor<'de> for Claims {
            type Value = SessionIdClaim;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SessionIdClaim, A::Error> {
                let mut found = None;
                while let Some(IsSessionId(is)) = map.next_key()? {
                    if is {
                        found = map.next_value::<serde_json::Value>()?.as_str().map(str::to_owned);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(SessionIdClaim(found))
            }
        }
        deserializer.deserialize_map(Claims)
    }
}

/// A uuid in any form PostgreSQL's uuid input accepts in practice (hyphenated
/// or not, any case, optionally in braces).
fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    uuid::Uuid::try_parse(text.trim()).ok().map(|u| *u.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "5b3d3a0e-6f1b-4c1d-9e55-0f6a1d2c3b4a";
    const BYTES: [u8; 16] = [
        0x5b, 0x3d, 0x3a, 0x0e, 0x6f, 0x1b, 0x4c, 0x1d, 0x9e, 0x55, 0x0f, 0x6a, 0x1d, 0x2c, 0x3b, 0x4a,
    ];

    #[test]
    fn reads_session_id_from_the_claims_json() {
        let claims = format!(r#"{{"sub":"u","role":"authenticated","session_id":"{ID}","aal":"aal1"}}"#);
        assert_eq!(session_id(None, Some(&claims)), Some(BYTES));
        assert_eq!(session_id(Some(""), Some(&claims)), Some(BYTES));
    }

    #[test]
    fn the_per_claim_setting_wins_when_set() {
        let other = r#"{"session_id":"00000000-0000-4000-8000-000000000000"}"#;
        assert_eq!(session_id(Some(ID), Some(other)), Some(BYTES));
        assert_eq!(session_id(Some(&ID.to_uppercase()), None), Some(BYTES));
        assert_eq!(session_id(Some("{5b3d3a0e-6f1b-4c1d-9e55-0f6a1d2c3b4a}"), None), Some(BYTES));
        assert_eq!(session_id(Some("5b3d3a0e6f1b4c1d9e550f6a1d2c3b4a"), None), Some(BYTES));
        // A bad per-claim value denies; it does not fall back to the JSON.
        assert_eq!(session_id(Some("nope"), Some(other)), None);
    }

    #[test]
    fn anything_unusable_is_no_session() {
        for claims in [
            "",
            "not json",
            "[]",
            "null",
            r#""5b3d3a0e-6f1b-4c1d-9e55-0f6a1d2c3b4a""#,
            "{}",
            r#"{"session_id":null}"#,
            r#"{"session_id":42}"#,
            r#"{"session_id":["5b3d3a0e-6f1b-4c1d-9e55-0f6a1d2c3b4a"]}"#,
            r#"{"session_id":""}"#,
            r#"{"session_id":"5b3d3a0e-6f1b-4c1d-9e55"}"#,
            r#"{"session_id":"5b3d3a0e-6f1b-4c1d-9e55-0f6a1d2c3b4a-ff"}"#,
            r#"{"session_id":"zz3d3a0e-6f1b-4c1d-9e55-0f6a1d2c3b4a"}"#,
            r#"{"sub":"u"}"#,
            r#"{"session_id":"5b3d3a0e-6f1b-4c1d-9e55-0f6a1d2c3b4a""#,
        ] {
            assert_eq!(session_id(None, Some(claims)), None, "claims {claims:?}");
        }
        assert_eq!(session_id(None, None), None);
    }

    #[test]
    fn reads_only_the_top_level_claim_as_jsonb_would() {
        // Nested, escaped, repeated (the last one counts, as in jsonb), among
        // the metadata Supabase's claims carry.
        let other = "00000000-0000-4000-8000-000000000000";
        let nested = format!(r#"{{"user_metadata":{{"session_id":"{ID}"}},"amr":[{{"method":"password"}}]}}"#);
        assert_eq!(session_id(None, Some(&nested)), None);
        let escaped = format!(r#"{{"session\u005fid":"{ID}"}}"#);
        assert_eq!(session_id(None, Some(&escaped)), Some(BYTES));
        let repeated = format!(r#"{{"session_id":"{other}","sub":"u","session_id":"{ID}"}}"#);
        assert_eq!(session_id(None, Some(&repeated)), Some(BYTES));
        let repeated_bad = format!(r#"{{"session_id":"{ID}","session_id":7}}"#);
        assert_eq!(session_id(None, Some(&repeated_bad)), None);
        let supabase = format!(
            r#"{{"aud":"authenticated","exp":1733350000,"iat":1733346400,"iss":"https://x.supabase.co/auth/v1",
               "sub":"{other}","email":"a@example.com","phone":"","app_metadata":{{"provider":"email","providers":["email"]}},
               "user_metadata":{{"email":"a@example.com","email_verified":true,"name":"A \"quoted\" name"}},
               "role":"authenticated","aal":"aal1","amr":[{{"method":"password","timestamp":1733346400}}],
               "session_id":"{ID}","is_anonymous":false}}"#
        );
        assert_eq!(session_id(None, Some(&supabase)), Some(BYTES));
        assert_eq!(session_id(None, Some(&format!("{supabase} trailing"))), None);
    }
}
