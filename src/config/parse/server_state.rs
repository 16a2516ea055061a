//! The server-state keywords: `server-state-file` and `server-state-base` (global),
//! `load-server-state-from-file` and `server-state-file-name` (defaults, backends).
//! The runtime reads the files at start-up: `crate::runtime::server_state`.

use super::{Line, Parser};
use crate::config::model::LoadServerState;

/// `server-state-file <file>` (global).
pub fn file(p: &mut Parser, l: &Line) -> Result<(), String> {
    let v = one_arg(l, "'server-state-file' expect one argument: a file path.")?;
    set_once(p, l, v, |p| &mut p.config.global.server_state.file);
    Ok(())
}

/// `server-state-base <dir>` (global).
pub fn base(p: &mut Parser, l: &Line) -> Result<(), String> {
    let v = one_arg(l, "'server-state-base' expects one argument: a directory path.")?;
    set_once(p, l, v, |p| &mut p.config.global.server_state.base);
    Ok(())
}

/// `load-server-state-from-file global|local|none`.
pub fn load_from_file(p: &mut Parser, l: &Line) -> Result<(), String> {
    let mode = match l.arg(1) {
        "global" => LoadServerState::Global,
        "local" => LoadServerState::Local,
        "none" => LoadServerState::None,
        other => return Err(format!("'load-server-state-from-file' expects 'global', 'local' or 'none'. Got '{other}'")),
    };
    p.draft().proxy.server_state.load = Some(mode);
    Ok(())
}

/// `server-state-file-name [<file>|use-backend-name]`.
pub fn file_name(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.args.len() > 2 {
        return Err(format!("'server-state-file-name' cannot handle unexpected argument '{}'.", l.arg(2)));
    }
    let name = match l.arg(1) {
        "" | "use-backend-name" => None,
        file => Some(file.to_string()),
    };
    p.draft().proxy.server_state.file_name = name;
    Ok(())
}

fn one_arg<'a>(l: &'a Line, usage: &str) -> Result<&'a str, String> {
    match l.arg(1) {
        "" => Err(usage.to_string()),
        v => Ok(v),
    }
}

/// The first setting stays; HAProxy says so and goes on.
fn set_once(p: &mut Parser, l: &Line, v: &str, slot: fn(&mut Parser) -> &mut Option<String>) {
    if slot(p).is_some() {
        p.warn(&l.loc, format!("'{}' already specified. Continuing.", l.arg(0)));
        return;
    }
    *slot(p) = Some(v.to_string());
}
