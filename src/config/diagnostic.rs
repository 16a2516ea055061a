//! Configuration diagnostics: alerts, warnings and notices collected while loading,
//! printed in HAProxy's shape by [`Diagnostic::render`].

use super::model::Location;
use crate::diag::Severity;
use std::fmt;

/// How the location is written in front of the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// `parsing [file:line] : message` (keyword errors).
    Keyword,
    /// `parsing [file:line]: message` (lexer, `.if` and `.diag` family messages).
    Directive,
    /// The message alone; the location is metadata only (HAProxy prints some
    /// post-parse messages without it).
    Plain,
}

/// One message about the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub location: Option<Location>,
    pub message: String,
    pub style: Style,
}

impl Diagnostic {
    /// An alert at a location, `parsing [file:line] : message`.
    pub fn alert(location: &Location, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Alert,
            location: Some(location.clone()),
            message: message.into(),
            style: Style::Keyword,
        }
    }

    /// A warning at a location, `parsing [file:line] : message`.
    pub fn warning(location: &Location, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            location: Some(location.clone()),
            message: message.into(),
            style: Style::Keyword,
        }
    }

    /// A message with no location prefix.
    pub fn plain(
        severity: Severity,
        location: Option<&Location>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity,
            location: location.cloned(),
            message: message.into(),
            style: Style::Plain,
        }
    }

    /// Changes the style (builder).
    pub fn with_style(mut self, style: Style) -> Self {
        self.style = style;
        self
    }

    pub fn is_alert(&self) -> bool {
        self.severity == Severity::Alert
    }

    /// The text after HAProxy's `[TAG] (pid) : ` prefix, e.g.
    /// `config : parsing [a.cfg:2] : unknown keyword 'foo' in 'global' section`.
    /// Continuation lines (HAProxy's `   | ...`) are kept as they are.
    pub fn text(&self) -> String {
        match (&self.location, self.style) {
            (Some(loc), Style::Keyword) => format!("config : parsing [{loc}] : {}", self.message),
            (Some(loc), Style::Directive) => format!("config : parsing [{loc}]: {}", self.message),
            _ => format!("config : {}", self.message),
        }
    }

    /// The full line(s) as printed on stderr, with the `[ALERT]    (pid) : ` prefix.
    pub fn render(&self) -> String {
        crate::diag::format_line(self.severity, format_args!("{}", self.text()))
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

/// Prints diagnostics to stderr in order, honouring `-q` (alerts are always printed).
pub fn print_all(diags: &[Diagnostic]) {
    for d in diags {
        crate::diag::emit(d.severity, format_args!("{}", d.text()));
    }
}
