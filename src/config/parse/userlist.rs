//! `userlist <name>` sections: `group <name> [users <u1,u2...>]` and
//! `user <name> [password <hash> | insecure-password <pw>] [groups <g1,g2...>]`.
//! Duplicates are ignored with HAProxy's warnings; references to unknown users or
//! groups are checked at the end with HAProxy's alerts ([`check`]).

use super::{Line, Parser};
use crate::config::diagnostic::{Diagnostic, Style};
use crate::diag::Severity;
use crate::config::model::{Config, Password, User, UserGroup, Userlist};

/// Starts a `userlist` section; returns its index in `config.userlists`, or `None`
/// when the name is a duplicate (its lines are then parsed and dropped).
pub fn start(p: &mut Parser, line: &Line) -> Option<usize> {
    let name = line.arg(1);
    if name.is_empty() {
        p.alert_directive(&line.loc, "'userlist' expects <name> as arguments.");
        return None;
    }
    if p.config.userlists.iter().any(|u| u.name == name) {
        p.push(
            Diagnostic::warning(&line.loc, format!("ignoring duplicated userlist '{name}'."))
                .with_style(Style::Directive),
        );
        return None;
    }
    p.config.userlists.push(Userlist {
        name: name.to_string(),
        location: Some(line.loc.clone()),
        ..Userlist::default()
    });
    Some(p.config.userlists.len() - 1)
}

/// One line inside a `userlist` section (`ul`: the section, `None` for a duplicate).
pub fn keyword(p: &mut Parser, ul: Option<usize>, line: &Line) {
    let mut scratch = Userlist::default();
    let result = match line.arg(0) {
        "group" => group(p, ul, line, &mut scratch),
        "user" => user(p, ul, line, &mut scratch),
        kw => Err(format!("unknown keyword '{kw}' in 'users' section")),
    };
    if let Err(msg) = result {
        p.alert_directive(&line.loc, msg);
    }
}

fn group(p: &mut Parser, ul: Option<usize>, line: &Line, scratch: &mut Userlist) -> Result<(), String> {
    let name = line.arg(1);
    if name.is_empty() {
        return Err("'group' expects <name> as arguments.".into());
    }
    let mut users = Vec::new();
    let mut i = 2;
    while let Some(word) = line.args.get(i) {
        match word.as_str() {
            "users" => {
                users.extend(split_list(line.args.get(i + 1).map_or("", String::as_str)));
                i += 2;
            }
            other => return Err(format!("'group' only supports 'users' option (got '{other}').")),
        }
    }
    let loc = line.loc.clone();
    let target = pick(p, ul, scratch);
    if target.groups.iter().any(|g| g.name == name) {
        let msg = format!("ignoring duplicated group '{name}' in userlist '{}'.", target.name);
        p.push(Diagnostic::warning(&loc, msg).with_style(Style::Directive));
        return Ok(());
    }
    target.groups.push(UserGroup { name: name.to_string(), users });
    Ok(())
}

fn user(p: &mut Parser, ul: Option<usize>, line: &Line, scratch: &mut Userlist) -> Result<(), String> {
    let name = line.arg(1);
    if name.is_empty() {
        return Err("'user' expects <name> as arguments.".into());
    }
    let mut password = Password::None;
    let mut groups = Vec::new();
    let mut i = 2;
    while let Some(word) = line.args.get(i) {
        let value = line.args.get(i + 1).cloned().unwrap_or_default();
        match word.as_str() {
            "password" => password = Password::Crypt(value),
            "insecure-password" => password = Password::Insecure(value),
            "groups" => groups.extend(split_list(&value)),
            _ => return Err("'user' only supports 'password', 'insecure-password' and 'groups' options.".into()),
        }
        i += 2;
    }
    let loc = line.loc.clone();
    let target = pick(p, ul, scratch);
    if target.users.iter().any(|u| u.name == name) {
        let msg = format!("ignoring duplicated user '{name}' in userlist '{}'.", target.name);
        p.push(Diagnostic::warning(&loc, msg).with_style(Style::Directive));
        return Ok(());
    }
    target.users.push(User { name: name.to_string(), password, groups });
    Ok(())
}

/// The section a line goes to: the userlist, or a throw-away one for a duplicate.
fn pick<'a>(p: &'a mut Parser, ul: Option<usize>, scratch: &'a mut Userlist) -> &'a mut Userlist {
    match ul {
        Some(i) => &mut p.config.userlists[i],
        None => scratch,
    }
}

fn split_list(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(',').filter(|x| !x.is_empty()).map(str::to_string)
}

/// Post-parse: every group a user names and every user a group names must exist.
/// Like HAProxy, the first unknown name is reported (users' groups are checked first)
/// and checking stops there. Then each group lists all its members.
pub fn check(config: &mut Config, diags: &mut Vec<Diagnostic>) {
    for ul in &config.userlists {
        let alert = |msg: String| Diagnostic::plain(Severity::Alert, ul.location.as_ref(), msg);
        for u in &ul.users {
            if let Some(g) = u.groups.iter().find(|g| !ul.groups.iter().any(|x| &x.name == *g)) {
                diags.push(alert(format!("userlist '{}': no such group '{g}' specified in user '{}'", ul.name, u.name)));
                return;
            }
        }
        for g in &ul.groups {
            if let Some(u) = g.users.iter().find(|u| !ul.users.iter().any(|x| &x.name == *u)) {
                diags.push(alert(format!("userlist '{}': no such user '{u}' specified in group '{}'", ul.name, g.name)));
                return;
            }
        }
    }
    for ul in &mut config.userlists {
        let memberships: Vec<(String, String)> =
            ul.users.iter().flat_map(|u| u.groups.iter().map(|g| (g.clone(), u.name.clone()))).collect();
        for (group, user) in memberships {
            let g = ul.groups.iter_mut().find(|x| x.name == group).expect("checked above");
            if !g.users.contains(&user) {
                g.users.push(user);
            }
        }
    }
}
