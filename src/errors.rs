//! Raising an ERROR (or a WARNING): the one way the extension's Rust code
//! reports a problem to the client. `error(code, message, function)` builds
//! it, `.detail()` and `.hint()` add to it, `.raise()` ends the statement and
//! never returns. `function` is what the server log's LOCATION names.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};
use std::borrow::Cow;

/// A report being built; nothing happens until it is raised.
#[must_use = "an error does nothing until .raise()"]
pub struct Report {
    code: PgSqlErrorCode,
    message: Cow<'static, str>,
    function: &'static str,
    detail: Option<String>,
    hint: Option<String>,
}

/// A report with SQLSTATE `code` and `message`, from `function`.
pub fn error(code: PgSqlErrorCode, message: impl Into<Cow<'static, str>>, function: &'static str) -> Report {
    Report { code, message: message.into(), function, detail: None, hint: None }
}

impl Report {
    pub fn detail(mut self, detail: impl Into<String>) -> Report {
        self.detail = Some(detail.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Report {
        self.hint = Some(hint.into());
        self
    }

    #[track_caller]
    fn report(self, level: PgLogLevel) {
        let mut report = ErrorReport::new(self.code, self.message, self.function);
        if let Some(detail) = self.detail {
            report = report.set_detail(detail);
        }
        if let Some(hint) = self.hint {
            report = report.set_hint(hint);
        }
        report.report(level);
    }

    /// Raises it as an ERROR: the statement (or transaction) fails, and
    /// what it wrote is undone.
    #[track_caller]
    pub fn raise(self) -> ! {
        self.report(PgLogLevel::ERROR);
        unreachable!("ERROR does not return")
    }

    /// Sends it as a WARNING, and goes on.
    #[track_caller]
    pub fn warn(self) {
        self.report(PgLogLevel::WARNING);
    }
}
