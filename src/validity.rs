//! Where session validity is decided: GoTrue's `Session.CheckValidity`, as a
//! pure function of a session's timestamps, the configured policy and "now".
//!
//! Every SQL function that needs to know whether a session is valid comes
//! through [`decide`]; nothing else in the crate compares session timestamps.
//!
//! Times are PostgreSQL's internal representation: microseconds since
//! 2000-01-01 00:00:00 UTC, with `i64::MAX` / `i64::MIN` for `infinity` /
//! `-infinity`. `refreshed_at` is a `timestamp without time zone` holding UTC
//! wall-clock time, and a `timestamp`'s internal value read as UTC *is* the
//! instant, so it takes part here with no time-zone conversion at all; this is
//! why the answers cannot depend on the session's `TimeZone`.

/// Microseconds, as PostgreSQL stores `timestamptz`, `timestamp` and durations.
pub type Micros = i64;

/// Why a session is, or is not, valid. Checked in this order, as GoTrue does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Valid,
    NotFound,
    PastNotAfter,
    PastTimebox,
    TimedOut,
    LowAal,
}

impl Reason {
    /// The text `auth.session_validity` returns.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Valid => "valid",
            Reason::NotFound => "not_found",
            Reason::PastNotAfter => "past_not_after",
            Reason::PastTimebox => "past_timebox",
            Reason::TimedOut => "timed_out",
            Reason::LowAal => "low_aal",
        }
    }

    pub const fn is_valid(self) -> bool {
        matches!(self, Reason::Valid)
    }
}

/// The timestamps of one `auth.sessions` row that validity depends on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionTimes {
    pub created_at: Option<Micros>,
    pub not_after: Option<Micros>,
    /// `refreshed_at`, whose internal value is the UTC instant (see module docs).
    pub refreshed_at: Option<Micros>,
    /// The newest `updated_at` of the session's refresh tokens. GoTrue counts
    /// it as the last refresh when `refreshed_at` is NULL and it is later than
    /// `created_at` (sessions from before `refreshed_at` existed). Only needed
    /// when an inactivity timeout is configured.
    pub newest_token_at: Option<Micros>,
    /// Whether the session's `aal` is below the highest its user can reach
    /// ([`below_highest`]). Only needed when a low-AAL allowance is configured.
    pub low_aal: bool,
}

/// An authenticator assurance level, ordered as GoTrue orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Aal {
    Aal1,
    Aal2,
    Aal3,
}

impl Aal {
    /// GoTrue's `ParseAAL`: a NULL or unknown label counts as `aal1`.
    pub fn parse(label: Option<&str>) -> Aal {
        match label {
            Some("aal2") => Aal::Aal2,
            Some("aal3") => Aal::Aal3,
            _ => Aal::Aal1,
        }
    }

    /// GoTrue's `HighestPossibleAAL`: `aal2` when the user has a verified MFA
    /// factor, else `aal1`.
    pub const fn highest_possible(has_verified_factor: bool) -> Aal {
        if has_verified_factor { Aal::Aal2 } else { Aal::Aal1 }
    }
}

/// Whether a session whose stored aal is `label` is below `highest`.
pub fn below_highest(label: Option<&str>, highest: Aal) -> bool {
    Aal::parse(label) < highest
}

/// The configured rules; a zero duration turns a rule off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    pub timebox: Micros,
    pub inactivity_timeout: Micros,
    /// How long after `created_at` a session below its user's highest
    /// possible AAL stays valid (GoTrue's `GOTRUE_SESSIONS_ALLOW_LOW_AAL`).
    pub allow_low_aal: Micros,
}

impl Policy {
    /// Whether [`decide`] looks at [`SessionTimes::newest_token_at`].
    pub const fn needs_token_time(&self) -> bool {
        self.inactivity_timeout > 0
    }

    /// Whether [`decide`] looks at [`SessionTimes::low_aal`].
    pub const fn needs_aal(&self) -> bool {
        self.allow_low_aal > 0
    }
}

/// When the session was last active: `refreshed_at` when set, else the later
/// of `created_at` and the newest refresh token's `updated_at` (GoTrue's
/// `LastRefreshedAt`). `None` when nothing is known.
pub fn last_refreshed(s: &SessionTimes) -> Option<Micros> {
    match (s.refreshed_at, s.created_at, s.newest_token_at) {
        (Some(r), _, _) => Some(r),
        (None, Some(c), Some(t)) => Some(c.max(t)),
        (None, c, t) => c.or(t),
    }
}

/// GoTrue's validity check. Every comparison is strict: a session is still
/// valid at exactly its deadline and invalid one microsecond later.
///
/// A row without `created_at` (GoTrue always writes one) cannot show it is
/// within a timebox or recently active, so it fails those rules when they are
/// on: missing data never makes a session valid.
pub fn decide(session: Option<&SessionTimes>, policy: &Policy, now: Micros) -> Reason {
    let Some(s) = session else {
        return Reason::NotFound;
    };
    if let Some(not_after) = s.not_after {
        if now > not_after {
            return Reason::PastNotAfter;
        }
    }
    if policy.timebox > 0 {
        match s.created_at {
            Some(created) if now <= created.saturating_add(policy.timebox) => {}
            _ => return Reason::PastTimebox,
        }
    }
    if policy.inactivity_timeout > 0 {
        match last_refreshed(s) {
            Some(last) if now <= last.saturating_add(policy.inactivity_timeout) => {}
            _ => return Reason::TimedOut,
        }
    }
    if policy.allow_low_aal > 0 && s.low_aal {
        match s.created_at {
            Some(created) if now <= created.saturating_add(policy.allow_low_aal) => {}
            _ => return Reason::LowAal,
        }
    }
    Reason::Valid
}

/// The instant a session became (or will become) invalid for good: the
/// earliest of its deadlines under the not_after, timebox and inactivity
/// rules; `None` when none of them can ever make it invalid. `decide` says
/// invalid exactly when `now` is later than this, except for `low_aal`, which
/// is left out on purpose: a session is low-AAL only while its user has a
/// verified factor, and becomes valid again when the factor is removed, so
/// pruning (which asks this) never deletes a session for it, as GoTrue's
/// cleanup does not.
pub fn invalid_since(s: &SessionTimes, policy: &Policy) -> Option<Micros> {
    let not_after = s.not_after;
    let timebox = (policy.timebox > 0).then(|| match s.created_at {
        Some(created) => created.saturating_add(policy.timebox),
        None => Micros::MIN,
    });
    let inactivity = (policy.inactivity_timeout > 0).then(|| match last_refreshed(s) {
        Some(last) => last.saturating_add(policy.inactivity_timeout),
        None => Micros::MIN,
    });
    [not_after, timebox, inactivity].into_iter().flatten().min()
}

/// Whether pruning may delete the session: invalid for longer than `grace`
/// (strictly, like every rule here).
pub fn prunable(s: &SessionTimes, policy: &Policy, now: Micros, grace: Micros) -> bool {
    invalid_since(s, policy).is_some_and(|since| now > since.saturating_add(grace))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Micros = 3_600_000_000;
    const T0: Micros = 800_000_000_000_000; // 2025-05-09, an arbitrary instant

    fn session(created: Micros) -> SessionTimes {
        SessionTimes { created_at: Some(created), ..Default::default() }
    }

    #[test]
    fn missing_session_is_not_found() {
        assert_eq!(decide(None, &Policy::default(), T0), Reason::NotFound);
    }

    #[test]
    fn no_rules_means_valid_forever() {
        let s = session(T0);
        assert_eq!(decide(Some(&s), &Policy::default(), T0 + 1000 * H), Reason::Valid);
    }

    #[test]
    fn not_after_is_strict() {
        let s = SessionTimes { not_after: Some(T0 + H), ..session(T0) };
        let p = Policy::default();
        assert_eq!(decide(Some(&s), &p, T0 + H), Reason::Valid);
        assert_eq!(decide(Some(&s), &p, T0 + H + 1), Reason::PastNotAfter);
    }

    #[test]
    fn timebox_is_strict() {
        let s = session(T0);
        let p = Policy { timebox: 8 * H, ..Default::default() };
        assert_eq!(decide(Some(&s), &p, T0 + 8 * H), Reason::Valid);
        assert_eq!(decide(Some(&s), &p, T0 + 8 * H + 1), Reason::PastTimebox);
    }

    #[test]
    fn inactivity_counts_from_refreshed_at_then_created_at() {
        let p = Policy { inactivity_timeout: H, ..Default::default() };
        let fresh = session(T0);
        assert_eq!(decide(Some(&fresh), &p, T0 + H), Reason::Valid);
        assert_eq!(decide(Some(&fresh), &p, T0 + H + 1), Reason::TimedOut);
        let refreshed = SessionTimes { refreshed_at: Some(T0 + 5 * H), ..fresh };
        assert_eq!(decide(Some(&refreshed), &p, T0 + 6 * H), Reason::Valid);
        assert_eq!(decide(Some(&refreshed), &p, T0 + 6 * H + 1), Reason::TimedOut);
    }

    #[test]
    fn newest_token_counts_only_without_refreshed_at_and_when_later() {
        let p = Policy { inactivity_timeout: H, ..Default::default() };
        let s = SessionTimes { newest_token_at: Some(T0 + 2 * H), ..session(T0) };
        assert_eq!(decide(Some(&s), &p, T0 + 3 * H), Reason::Valid);
        assert_eq!(decide(Some(&s), &p, T0 + 3 * H + 1), Reason::TimedOut);
        let older_token = SessionTimes { newest_token_at: Some(T0 - 5 * H), ..session(T0) };
        assert_eq!(decide(Some(&older_token), &p, T0 + H + 1), Reason::TimedOut);
        let refreshed = SessionTimes { refreshed_at: Some(T0), ..s };
        assert_eq!(decide(Some(&refreshed), &p, T0 + H + 1), Reason::TimedOut);
    }

    #[test]
    fn order_is_not_after_then_timebox_then_inactivity() {
        let s = SessionTimes { not_after: Some(T0), ..session(T0) };
        let all = Policy { timebox: 1, inactivity_timeout: 1, ..Default::default() };
        assert_eq!(decide(Some(&s), &all, T0 + H), Reason::PastNotAfter);
        let no_limit = session(T0);
        assert_eq!(decide(Some(&no_limit), &all, T0 + H), Reason::PastTimebox);
        let p = Policy { timebox: 10 * H, inactivity_timeout: H, ..Default::default() };
        assert_eq!(decide(Some(&no_limit), &p, T0 + 2 * H), Reason::TimedOut);
    }

    #[test]
    fn infinities_do_not_overflow() {
        let p = Policy { timebox: i64::MAX, inactivity_timeout: i64::MAX, allow_low_aal: i64::MAX };
        let forever = SessionTimes { not_after: Some(i64::MAX), ..session(i64::MAX) };
        assert_eq!(decide(Some(&forever), &p, T0), Reason::Valid);
        let ancient = SessionTimes { not_after: Some(i64::MIN), ..session(i64::MIN) };
        assert_eq!(decide(Some(&ancient), &p, T0), Reason::PastNotAfter);
        let p = Policy { timebox: H, ..Default::default() };
        assert_eq!(decide(Some(&session(i64::MIN)), &p, T0), Reason::PastTimebox);
        assert_eq!(decide(Some(&session(T0)), &Policy::default(), i64::MAX), Reason::Valid);
    }

    #[test]
    fn missing_created_at_fails_the_rules_that_need_it() {
        let s = SessionTimes::default();
        assert_eq!(decide(Some(&s), &Policy::default(), T0), Reason::Valid);
        let tb = Policy { timebox: H, ..Default::default() };
        assert_eq!(decide(Some(&s), &tb, T0), Reason::PastTimebox);
        let it = Policy { inactivity_timeout: H, ..Default::default() };
        assert_eq!(decide(Some(&s), &it, T0), Reason::TimedOut);
        let refreshed = SessionTimes { refreshed_at: Some(T0), ..s };
        assert_eq!(decide(Some(&refreshed), &it, T0 + H), Reason::Valid);
    }

    #[test]
    fn invalid_since_agrees_with_decide() {
        let policies = [
            Policy::default(),
            Policy { timebox: 8 * H, ..Default::default() },
            Policy { inactivity_timeout: H, ..Default::default() },
            Policy { timebox: 8 * H, inactivity_timeout: H, ..Default::default() },
        ];
        let sessions = [
            session(T0),
            SessionTimes { not_after: Some(T0 + 2 * H), ..session(T0) },
            SessionTimes { refreshed_at: Some(T0 + 3 * H), ..session(T0) },
            SessionTimes { newest_token_at: Some(T0 + 30 * 60_000_000), ..session(T0) },
            SessionTimes::default(),
        ];
        for p in &policies {
            for s in &sessions {
                for now in [T0 - H, T0, T0 + H, T0 + H + 1, T0 + 2 * H + 1, T0 + 4 * H + 1, T0 + 8 * H + 1] {
                    let invalid = !decide(Some(s), p, now).is_valid();
                    let by_since = invalid_since(s, p).is_some_and(|since| now > since);
                    assert_eq!(invalid, by_since, "{s:?} {p:?} at {now}");
                    assert_eq!(prunable(s, p, now, 0), invalid);
                }
            }
        }
    }

    #[test]
    fn grace_is_strict_and_counts_from_the_first_deadline() {
        let p = Policy { timebox: 8 * H, inactivity_timeout: H, ..Default::default() };
        let s = session(T0); // timed out at T0 + 1h, past its timebox at T0 + 8h
        assert_eq!(invalid_since(&s, &p), Some(T0 + H));
        assert!(!prunable(&s, &p, T0 + 3 * H, 2 * H));
        assert!(prunable(&s, &p, T0 + 3 * H + 1, 2 * H));
        assert_eq!(invalid_since(&s, &Policy::default()), None);
        assert!(!prunable(&s, &Policy::default(), i64::MAX, 0));
    }

    #[test]
    fn reason_texts() {
        let all = [Reason::Valid, Reason::NotFound, Reason::PastNotAfter, Reason::PastTimebox, Reason::TimedOut, Reason::LowAal];
        let texts: Vec<_> = all.iter().map(|r| r.as_str()).collect();
        assert_eq!(texts, ["valid", "not_found", "past_not_after", "past_timebox", "timed_out", "low_aal"]);
        assert!(all.iter().all(|r| r.is_valid() == (*r == Reason::Valid)));
    }

    #[test]
    fn aal_parses_as_gotrue_does() {
        assert_eq!(Aal::parse(None), Aal::Aal1);
        assert_eq!(Aal::parse(Some("aal1")), Aal::Aal1);
        assert_eq!(Aal::parse(Some("aal2")), Aal::Aal2);
        assert_eq!(Aal::parse(Some("aal3")), Aal::Aal3);
        assert_eq!(Aal::parse(Some("AAL2")), Aal::Aal1);
        assert_eq!(Aal::highest_possible(true), Aal::Aal2);
        assert_eq!(Aal::highest_possible(false), Aal::Aal1);
        assert!(below_highest(None, Aal::Aal2));
        assert!(below_highest(Some("aal1"), Aal::Aal2));
        assert!(!below_highest(Some("aal2"), Aal::Aal2));
        assert!(!below_highest(Some("aal3"), Aal::Aal2));
        assert!(!below_highest(None, Aal::Aal1));
    }

    #[test]
    fn low_aal_is_strict_and_checked_last() {
        let p = Policy { allow_low_aal: H, ..Default::default() };
        let low = SessionTimes { low_aal: true, ..session(T0) };
        assert_eq!(decide(Some(&low), &p, T0 + H), Reason::Valid);
        assert_eq!(decide(Some(&low), &p, T0 + H + 1), Reason::LowAal);
        // Not low: valid forever under this rule.
        assert_eq!(decide(Some(&session(T0)), &p, T0 + 100 * H), Reason::Valid);
        // Off: never low_aal.
        assert_eq!(decide(Some(&low), &Policy::default(), T0 + 100 * H), Reason::Valid);
        // The other three come first.
        let all = Policy { timebox: 2 * H, inactivity_timeout: 3 * H, allow_low_aal: H };
        assert_eq!(decide(Some(&low), &all, T0 + 2 * H + 1), Reason::PastTimebox);
        let late = Policy { timebox: 0, inactivity_timeout: 3 * H, allow_low_aal: H };
        assert_eq!(decide(Some(&low), &late, T0 + 3 * H + 1), Reason::TimedOut);
        let expired = SessionTimes { not_after: Some(T0), ..low };
        assert_eq!(decide(Some(&expired), &p, T0 + 2 * H), Reason::PastNotAfter);
        // Without created_at it cannot show it is within the allowance.
        let unknown = SessionTimes { low_aal: true, ..SessionTimes::default() };
        assert_eq!(decide(Some(&unknown), &p, T0), Reason::LowAal);
    }

    #[test]
    fn low_aal_alone_never_makes_a_session_prunable() {
        let p = Policy { allow_low_aal: H, ..Default::default() };
        let low = SessionTimes { low_aal: true, ..session(T0) };
        assert_eq!(decide(Some(&low), &p, T0 + 10 * H), Reason::LowAal);
        assert_eq!(invalid_since(&low, &p), None);
        assert!(!prunable(&low, &p, i64::MAX, 0));
        let p = Policy { allow_low_aal: H, timebox: 5 * H, ..Default::default() };
        assert_eq!(invalid_since(&low, &p), Some(T0 + 5 * H));
        assert!(!prunable(&low, &p, T0 + 5 * H, 0));
        assert!(prunable(&low, &p, T0 + 5 * H + 1, 0));
    }
}
