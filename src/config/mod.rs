//! The configuration language: lexer, `.if` conditions, units, keyword table, parser
//! and typed model.
//!
//! Entry points:
//! - [`load`] reads files (`-f`, directories expanded) and returns the [`model::Config`]
//!   with its warnings, or every diagnostic when there is an error;
//! - [`parse_str`] does the same for text (tests, tools);
//! - [`cond::evaluate`] evaluates a `.if` condition (`-cc`).
//!
//! Diagnostics print in HAProxy's shape with [`diagnostic::print_all`].

pub mod cond;
pub mod diagnostic;
pub mod env;
pub mod fetches;
pub mod keywords;
pub mod lexer;
pub mod model;
pub mod parse;
pub mod units;

pub use diagnostic::Diagnostic;
pub use parse::ParseOptions;

use crate::diag::Severity;
use std::path::{Path, PathBuf};

/// A successfully loaded configuration.
#[derive(Debug)]
pub struct Loaded {
    pub config: model::Config,
    /// Warnings and notices, in order (no alert).
    pub diagnostics: Vec<Diagnostic>,
    /// The environment after parsing (`setenv` & co, `HAPROXY_*`); apply it with
    /// [`env::Env::apply_to_process`] before starting.
    pub env: env::Env,
}

/// Expands `-f` arguments: a directory stands for its `*.cfg` files in lexical order.
pub fn expand_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Vec<Diagnostic>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let entries = std::fs::read_dir(p).map_err(|e| vec![cannot_open(p, &e)])?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|f| f.extension().is_some_and(|x| x == "cfg") && !f.is_dir())
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    Ok(files)
}

fn cannot_open(p: &Path, e: &std::io::Error) -> Diagnostic {
    let reason = match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".to_string(),
        _ => e.to_string(),
    };
    Diagnostic::plain(
        Severity::Alert,
        None,
        format!(
            "Cannot open configuration file/directory {} : {reason}",
            p.display()
        ),
    )
}

/// Loads the configuration from files and directories (see [`expand_paths`]).
pub fn load(paths: &[PathBuf], opts: &ParseOptions) -> Result<Loaded, Vec<Diagnostic>> {
    let files = expand_paths(paths)?;
    let mut parser = parse::Parser::new(opts);
    parser.set_files(&files);
    let mut errors = Vec::new();
    for f in &files {
        match std::fs::read(f) {
            Ok(bytes) => {
                parser.parse_text(&f.display().to_string(), &String::from_utf8_lossy(&bytes))
            }
            Err(e) => errors.push(cannot_open(f, &e)),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    finish(parser)
}

/// Parses configuration text as if read from a file called `name`.
pub fn parse_str(name: &str, text: &str, opts: &ParseOptions) -> Result<Loaded, Vec<Diagnostic>> {
    let mut parser = parse::Parser::new(opts);
    parser.set_files(&[PathBuf::from(name)]);
    parser.parse_text(name, text);
    finish(parser)
}

fn finish(parser: parse::Parser) -> Result<Loaded, Vec<Diagnostic>> {
    let env = parser.env().clone();
    let (config, diagnostics) = parser.finish()?;
    Ok(Loaded {
        config,
        diagnostics,
        env,
    })
}
