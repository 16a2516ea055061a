//! The `stats` keyword of the proxy sections: the statistics page served by the proxy
//! itself (`src/stats/page.rs`). Every `stats` line enables the page; the first one
//! in a section that inherited the page from `defaults` changes its own copy.
//!
//! `stats admin` and `stats http-request` are refused in `defaults`, as HAProxy does.
//! The global `stats socket|timeout|maxconn` lines are the CLI's (`parse/global.rs`).

use super::{Line, Parser};
use crate::config::keywords::Section;
use crate::config::model::{HttpRuleConf, HttpRuleList};
use crate::config::units::{parse_time, time_error_message, UnitError};

/// HAProxy's list of `stats` sub-keywords, as its messages print it.
const EXPECTS: &str = "expects 'admin', 'uri', 'realm', 'auth', 'scope', 'enable', 'hide-version', \
                       'show-node', 'show-desc' or 'show-legends'";

/// `stats <sub> [args]` in `defaults`, `frontend`, `backend` and `listen`.
pub fn stats(p: &mut Parser, l: &Line) -> Result<(), String> {
    let sub = l.arg(1);
    let in_defaults = p.draft().section == Section::Defaults;
    if in_defaults && sub == "admin" {
        return Err("'stats admin' not allowed in 'defaults' section.".into());
    }
    if in_defaults && sub == "http-request" {
        return Err("'stats' not allowed in 'defaults' section.".into());
    }
    let rest = &l.args[2.min(l.args.len())..];
    // Parse into a copy, so that a bad line leaves the proxy as it was.
    let mut conf = p.draft().proxy.stats.clone().unwrap_or_default();
    match sub {
        "" => return Err(format!("missing keyword in 'stats', {EXPECTS}.")),
        "enable" => {}
        "uri" => {
            let uri = rest.first().filter(|u| !u.is_empty()).ok_or("'uri' needs an URI prefix.")?;
            conf.uri = uri.clone();
        }
        "realm" => {
            let realm = rest.first().filter(|r| !r.is_empty()).ok_or("'realm' needs an realm name.")?;
            conf.realm = Some(realm.clone());
        }
        "auth" => {
            let cred = rest.first().filter(|c| !c.is_empty()).ok_or("'auth' needs a user:password account.")?;
            let (user, pass) = cred.split_once(':').unwrap_or((cred, ""));
            conf.auth.push((user.to_string(), pass.to_string()));
        }
        "scope" => {
            let name = rest.first().filter(|n| !n.is_empty()).ok_or("'scope' needs a proxy name.")?;
            conf.scope.push(name.clone());
        }
        "refresh" => {
            let arg = rest.first().map_or("", String::as_str);
            conf.refresh = Some(refresh_delay(arg)?);
        }
        "hide-version" => conf.hide_version = true,
        "show-legends" => conf.show_legends = true,
        "show-modules" => conf.show_modules = true,
        "show-node" => conf.show_node = Some(rest.first().cloned().unwrap_or_default()),
        "show-desc" => conf.show_desc = Some(rest.join(" ")),
        "admin" => {
            let unless = match rest.first().map(String::as_str) {
                Some("if") => false,
                Some("unless") => true,
                _ => return Err("'stats admin' requires either 'if' or 'unless' followed by a condition.".into()),
            };
            let acls = p.draft().proxy.acls.clone();
            let cond = super::acl::parse_condition(unless, &rest[1..], &acls, &l.loc)
                .map_err(|e| format!("error detected while parsing a 'stats admin' condition : {e}."))?;
            conf.admin = Some(cond);
        }
        "http-request" => conf.http_rules.push(stats_rule(p, l, rest)?),
        other => return Err(format!("unknown stats parameter '{other}', {EXPECTS}.")),
    }
    // Checked here, at the line that makes them meet (HAProxy checks after parsing).
    if p.draft().section != Section::Defaults {
        if let Some(e) = crate::stats::page::conflict(&conf, &p.draft().proxy.name) {
            return Err(e);
        }
    }
    p.draft().proxy.stats = Some(conf);
    Ok(())
}

/// `stats refresh <delay>`: seconds unless a unit is given.
fn refresh_delay(arg: &str) -> Result<std::time::Duration, String> {
    let what = "stats refresh interval";
    if arg.bytes().all(|b| b.is_ascii_digit()) && !arg.is_empty() {
        let secs: u64 = arg.parse().map_err(|_| time_error_message(&UnitError::Overflow, arg, what))?;
        return Ok(std::time::Duration::from_secs(secs));
    }
    if arg.is_empty() {
        // HAProxy prints the (empty) character it stopped at.
        return Err(format!("unexpected character '' in argument to {what}."));
    }
    parse_time(arg).map_err(|e| match e {
        UnitError::Unexpected(c) => format!("unexpected character '{c}' in argument to {what}."),
        e => time_error_message(&e, arg, what),
    })
}

/// `stats http-request { allow | deny | auth [realm <realm>] } [{ if | unless } <cond>]`.
fn stats_rule(p: &mut Parser, l: &Line, words: &[String]) -> Result<HttpRuleConf, String> {
    let at = words.iter().position(|w| w == "if" || w == "unless");
    let (action, cond_words) = match at {
        Some(at) => (&words[..at], Some((words[at] == "unless", &words[at + 1..]))),
        None => (words, None),
    };
    let ok = match action.first().map(String::as_str) {
        Some("allow" | "deny") => action.len() == 1,
        Some("auth") => action.len() == 1 || (action.len() == 3 && action[1] == "realm"),
        _ => false,
    };
    if !ok {
        let got = action.first().map_or("", String::as_str);
        return Err(format!(
            "'stats http-request' expects 'allow', 'deny' or 'auth [realm <realm>]' (moonproxy supports only these), but got '{got}'."
        ));
    }
    let cond = match cond_words {
        None => None,
        Some((unless, words)) => {
            let acls = p.draft().proxy.acls.clone();
            let c = super::acl::parse_condition(unless, words, &acls, &l.loc)
                .map_err(|e| format!("error detected while parsing a 'stats http-request' condition : {e}."))?;
            Some(c)
        }
    };
    Ok(HttpRuleConf {
        list: HttpRuleList::Request,
        action: action.to_vec(),
        cond,
        location: l.loc.clone(),
        redirect_keyword: false,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::model::{Config, StatsConf};

    fn parse(body: &str) -> Result<Config, String> {
        let text = format!("defaults\n  mode http\n{body}");
        crate::config::parse_str("t.cfg", &text, &crate::config::ParseOptions::default())
            .map(|l| l.config)
            .map_err(|e| format!("{e:?}"))
    }

    fn stats_of(cfg: &Config, name: &str) -> StatsConf {
        cfg.proxies.iter().find(|p| p.name == name).and_then(|p| p.stats.clone()).expect("stats enabled")
    }

    #[test]
    fn every_line_enables_the_page_with_haproxy_defaults() {
        let cfg = parse("listen l\n  bind :0\n  stats enable\n").unwrap();
        let s = stats_of(&cfg, "l");
        assert_eq!(s.uri, "/haproxy?stats");
        assert!(s.realm.is_none() && s.auth.is_empty() && s.refresh.is_none());
        let cfg = parse("backend b\n  stats hide-version\n").unwrap();
        assert!(stats_of(&cfg, "b").hide_version);
    }

    #[test]
    fn settings_are_read() {
        let cfg = parse(
            "listen l\n  bind :0\n  stats uri /st\n  stats realm R\\ 1\n  stats auth a:b:c\n  stats auth u\n  \
             stats refresh 5\n  stats scope .\n  stats scope be\n  stats show-node n1\n  stats admin if TRUE\n",
        )
        .unwrap();
        let s = stats_of(&cfg, "l");
        assert_eq!(s.uri, "/st");
        assert_eq!(s.realm.as_deref(), Some("R 1"));
        assert_eq!(s.auth, vec![("a".into(), "b:c".into()), ("u".into(), String::new())]);
        assert_eq!(s.refresh, Some(std::time::Duration::from_secs(5)));
        assert_eq!(s.scope, vec![".".to_string(), "be".to_string()]);
        assert_eq!(s.show_node.as_deref(), Some("n1"));
        assert!(s.admin.is_some());
        let cfg = parse("listen l\n  bind :0\n  stats http-request deny if FALSE\n  stats http-request auth realm R\n").unwrap();
        let rules = stats_of(&cfg, "l").http_rules;
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[1].action, ["auth", "realm", "R"]);
        let cfg = parse("listen l\n  bind :0\n  stats refresh 1m\n").unwrap();
        assert_eq!(stats_of(&cfg, "l").refresh, Some(std::time::Duration::from_secs(60)));
    }

    #[test]
    fn defaults_are_inherited_and_copied() {
        let cfg = parse("  stats uri /d\nlisten a\n  bind :0\nlisten b\n  bind :0\n  stats auth x:y\n").unwrap();
        assert_eq!(stats_of(&cfg, "a").uri, "/d");
        assert!(stats_of(&cfg, "a").auth.is_empty());
        assert_eq!(stats_of(&cfg, "b").uri, "/d");
        assert_eq!(stats_of(&cfg, "b").auth.len(), 1);
    }

    #[test]
    fn errors_are_worded_like_haproxy() {
        for (line, msg) in [
            ("stats", "missing keyword in 'stats'"),
            ("stats bogus", "unknown stats parameter 'bogus'"),
            ("stats uri", "'uri' needs an URI prefix."),
            ("stats realm", "'realm' needs an realm name."),
            ("stats scope", "'scope' needs a proxy name."),
            ("stats admin TRUE", "'stats admin' requires either 'if' or 'unless'"),
            ("stats refresh abc", "unexpected character 'a' in argument to stats refresh interval."),
            ("stats http-request redirect location /", "'stats http-request' expects"),
        ] {
            let err = parse(&format!("backend b\n  {line}\n")).unwrap_err();
            assert!(err.contains(msg), "{line}: {err}");
        }
        let err = parse("  stats auth a:b\nbackend b\n  stats http-request allow\n").unwrap_err();
        assert!(err.contains("proxy 'b': stats 'auth'/'realm' and 'http-request' can't be used at the same time."), "{err}");
        let err = parse("  stats admin if TRUE\nbackend b\n").unwrap_err();
        assert!(err.contains("'stats admin' not allowed in 'defaults' section."), "{err}");
    }
}
