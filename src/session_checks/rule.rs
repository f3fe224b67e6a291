//! When a policy expression is a session check: it cannot be true for a
//! revoked (or absent) session, whatever else the row or the request holds.
//! Decided on the expression's tree, reduced to what matters here (mod.rs
//! reduces PostgreSQL's nodes), never on its text. Pure and unit-tested.
//!
//! For a revoked session `auth.current_session_is_valid()` is false and
//! `auth.current_session_aal()` is NULL. From there, in SQL's three-valued
//! logic: `a AND b` is not true when either is not; `a OR b` only when both
//! are not; `NOT a` is NULL (not true) when `a` is NULL — but true when `a`
//! is false; a strict function or operator is NULL when an argument is;
//! `a IS TRUE` and `a = true` are true only when `a` is; a scalar subquery
//! gives its one column (or NULL without a row). Anything else (CASE,
//! COALESCE, `IS NOT FALSE`, a non-strict function, a column) may be true
//! either way, so a conjunct made only of those is no session check.

/// An expression, as far as a session check is concerned.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `auth.current_session_is_valid()`: false for a revoked session.
    SessionIsValid,
    /// `auth.current_session_aal()`: NULL for a revoked session.
    SessionAal,
    /// A constant: NULL or not (`Some(b)` for a boolean's value).
    Const { null: bool, boolean: Option<bool> },
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// A call of a strict function or operator: NULL when an argument is.
    Strict(Vec<Expr>),
    /// True only when its operand is true: `x IS TRUE`, `x = true`.
    TrueOnlyIf(Box<Expr>),
    /// Not true when its operand is NULL, but not NULL then either:
    /// `x op ANY (array)` with a strict `op` (false for an empty array).
    NotTrueIfNull(Box<Expr>),
    /// A scalar subquery's column: its value, or NULL without a row.
    Scalar(Box<Expr>),
    /// Anything else.
    Other,
}

impl Expr {
    /// NULL for a revoked session.
    fn null(&self) -> bool {
        match self {
            Expr::SessionAal => true,
            Expr::Const { null, .. } => *null,
            Expr::Strict(args) => args.iter().any(Expr::null),
            Expr::Not(a) | Expr::Scalar(a) => a.null(),
            Expr::And(args) | Expr::Or(args) => !args.is_empty() && args.iter().all(Expr::null),
            _ => false,
        }
    }

    /// Never true for a revoked session (false or NULL).
    pub fn never_true(&self) -> bool {
        if self.null() {
            return true;
        }
        match self {
            Expr::SessionIsValid => true,
            Expr::Const { boolean, .. } => *boolean == Some(false),
            Expr::And(args) => args.iter().any(Expr::never_true),
            Expr::Or(args) => !args.is_empty() && args.iter().all(Expr::never_true),
            Expr::TrueOnlyIf(a) | Expr::Scalar(a) => a.never_true(),
            Expr::NotTrueIfNull(a) => a.null(),
            _ => false,
        }
    }
}

/// The command a policy is for (`pg_policy.polcmd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    All,
    Select,
    Insert,
    Update,
    Delete,
}

impl Command {
    pub fn from_polcmd(c: u8) -> Option<Command> {
        match c {
            b'*' => Some(Command::All),
            b'r' => Some(Command::Select),
            b'a' => Some(Command::Insert),
            b'w' => Some(Command::Update),
            b'd' => Some(Command::Delete),
            _ => None,
        }
    }
}

/// Whether a policy lets nothing through for a revoked session: the
/// expressions PostgreSQL applies for its command are session checks
/// (`USING` for reads and deletes, `WITH CHECK` for inserts, both for
/// updates and `ALL`, where a missing `WITH CHECK` is the `USING`).
pub fn policy_checks_session(command: Command, using: Option<&Expr>, check: Option<&Expr>) -> bool {
    let checks = |e: Option<&Expr>| e.is_some_and(Expr::never_true);
    match command {
        Command::Select | Command::Delete => checks(using),
        Command::Insert => checks(check),
        Command::Update | Command::All => checks(using) && (check.is_none() || checks(check)),
    }
}

#[cfg(test)]
mod tests {
    use super::Expr::*;
    use super::*;

    fn column() -> Expr {
        Other
    }
    fn uid_matches() -> Expr {
        // user_id = auth.uid(): strict, but nothing in it is NULL for a revoked session.
        Strict(vec![column(), Other])
    }
    fn text(s: &str) -> Expr {
        let _ = s;
        Const { null: false, boolean: None }
    }
    fn boolean(b: bool) -> Expr {
        Const { null: false, boolean: Some(b) }
    }

    #[test]
    fn the_call_itself_is_a_check() {
        assert!(SessionIsValid.never_true());
        assert!(Scalar(Box::new(SessionIsValid)).never_true(), "(SELECT auth.current_session_is_valid())");
    }

    #[test]
    fn a_conjunct_is_enough_a_disjunct_is_not() {
        assert!(And(vec![SessionIsValid, uid_matches()]).never_true());
        assert!(And(vec![uid_matches(), Scalar(Box::new(SessionIsValid))]).never_true());
        assert!(!Or(vec![SessionIsValid, uid_matches()]).never_true());
        assert!(Or(vec![SessionIsValid, And(vec![uid_matches(), SessionIsValid])]).never_true());
        assert!(!uid_matches().never_true());
        assert!(!Or(vec![]).never_true());
    }

    #[test]
    fn negation_undoes_the_check() {
        assert!(!Not(Box::new(SessionIsValid)).never_true());
        // NOT (aal >= 'aal2') is NULL for a revoked session: still no row.
        assert!(Not(Box::new(Strict(vec![SessionAal, text("aal2")]))).never_true());
    }

    #[test]
    fn the_aal_compared_is_a_check() {
        assert!(Strict(vec![SessionAal, text("aal2")]).never_true(), "current_session_aal() >= 'aal2'");
        assert!(NotTrueIfNull(Box::new(SessionAal)).never_true(), "current_session_aal() = ANY (...)");
        assert!(!Other.never_true(), "current_session_aal() IS NULL, coalesce(...)");
    }

    #[test]
    fn comparisons_with_true() {
        assert!(TrueOnlyIf(Box::new(SessionIsValid)).never_true(), "current_session_is_valid() IS TRUE / = true");
        assert!(!TrueOnlyIf(Box::new(uid_matches())).never_true());
        assert!(boolean(false).never_true());
        assert!(!boolean(true).never_true());
        assert!(Const { null: true, boolean: None }.never_true());
    }

    #[test]
    fn which_expressions_a_command_applies() {
        let check = SessionIsValid;
        let open = uid_matches();
        assert!(policy_checks_session(Command::Select, Some(&check), None));
        assert!(!policy_checks_session(Command::Select, Some(&open), Some(&check)));
        assert!(policy_checks_session(Command::Insert, None, Some(&check)));
        assert!(!policy_checks_session(Command::Insert, Some(&check), Some(&open)));
        assert!(policy_checks_session(Command::All, Some(&check), None), "WITH CHECK defaults to USING");
        assert!(!policy_checks_session(Command::All, Some(&check), Some(&open)));
        assert!(!policy_checks_session(Command::Update, Some(&open), Some(&check)));
        assert!(policy_checks_session(Command::Delete, Some(&check), None));
        assert!(!policy_checks_session(Command::Delete, None, None));
    }
}
