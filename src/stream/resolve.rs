//! `http-request|tcp-request content do-resolve(<var>,<resolvers>[,ipv4|ipv6]) <expr>`:
//! the stream waits while the name given by the expression is resolved with a
//! `resolvers` section, then stores an address of the answer in the variable (HAProxy
//! 2.6's action, as in `http-request do-resolve(txn.ip,dns) hdr(host),host_only`
//! followed by `http-request set-dst var(txn.ip)`). The content rules wait only within
//! their inspect delay (`Resolution::until`, `super::inspect`), as HAProxy's do.
//!
//! The rule (sans-io, [`DoResolve::request`]) evaluates the name and hands a
//! [`Request`] to the stream (`Verdict::Resolve`, the cursor past the rule). The stream
//! ([`Resolution::begin`]) then owns a [`Resolution`], a [`Query`] whose sockets are
//! registered under the stream's `Kind::Resolve` token (their readiness wakes the
//! stream) and whose retry deadline is the stream's state deadline. The request rules
//! resume with it: once the lookup is over the variable is set (a failure leaves it
//! unset, as in HAProxy) and the rules go on after the action. The wait is bounded by
//! the section's `resolve_retries` queries of `timeout retry` each.
//!
//! As HAProxy 2.6 does (checked with `tests/do_resolve.rs`): each stream asks anew
//! (HAProxy frees a resolution with its last requester, so `hold valid` keeps nothing
//! from one request to the next), and of an answer with several addresses the variable
//! gets the second one (HAProxy rotates the answer's records once before the action
//! reads them).

use crate::config::model::{ResolvePrefer, Resolvers};
use crate::dns::lookup::Settings;
use crate::dns::query::{chosen, Query};
use crate::sample::vars::{Scope, VarName, Vars};
use crate::sample::{Expr, Sample, SampleCtx};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

/// A compiled `do-resolve` action.
#[derive(Debug)]
pub struct DoResolve {
    pub var: VarName,
    /// The `resolvers` section named.
    pub section: String,
    pub prefer: ResolvePrefer,
    pub expr: Expr,
    /// The section and family, bound once the proxies are built ([`DoResolve::bind`]);
    /// `None` (a section that does not exist, refused by the configuration check):
    /// the action does nothing.
    settings: Option<Arc<Settings>>,
}

/// What the action asks of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub name: String,
    pub settings: Arc<Settings>,
    pub var: VarName,
}

/// HAProxy's words for a malformed action (completed with the word it could not read).
fn usage(what: &str) -> String {
    format!("Can't parse '{what}'. Expects 'do-resolve(<varname>,<resolvers>[,<options>]) <expr>'. Available options are 'ipv4' and 'ipv6'")
}

impl DoResolve {
    /// Parses `do-resolve(<var>,<resolvers>[,ipv4|ipv6])` (`action`, one word) and its
    /// expression (`args`, one word). As HAProxy 2.6, IPv6 is asked first unless
    /// `ipv4` is given, and an empty option is the default.
    pub fn parse(action: &str, args: &[String]) -> Result<DoResolve, String> {
        let inner = action
            .strip_prefix("do-resolve(")
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(|| usage(action))?;
        let mut parts = inner.splitn(3, ',');
        let (var, section, option) = (parts.next().unwrap_or(""), parts.next(), parts.next());
        let Some(section) = section else { return Err(usage(action)) };
        // HAProxy reads the option by its first four characters and ignores the rest.
        let prefer = match option.unwrap_or("") {
            "" => ResolvePrefer::Ipv6,
            o if o.starts_with("ipv4") => ResolvePrefer::Ipv4,
            o if o.starts_with("ipv6") => ResolvePrefer::Ipv6,
            _ => return Err(usage(action)),
        };
        let var = VarName::parse(var).ok_or_else(|| {
            format!("invalid variable name '{var}'. A variable name must be start by its scope. The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'")
        })?;
        let word = args.first().map_or("", String::as_str);
        let expr = Expr::parse(word).map_err(|_| usage(word))?;
        Ok(DoResolve { var, section: section.to_string(), prefer, expr, settings: None })
    }

    /// Finds the named section among the configuration's (the implicit `default`
    /// included); false when there is none.
    pub fn bind(&mut self, sections: &[Resolvers]) -> bool {
        self.settings = sections
            .iter()
            .find(|r| r.name == self.section)
            .map(|r| Arc::new(Settings { section: r.clone(), prefer: self.prefer }));
        self.settings.is_some()
    }

    /// Runs the action on `cx`: the name to resolve, or `None` when there is nothing
    /// to do (the expression found nothing, or no section).
    pub fn request(&self, cx: &dyn SampleCtx) -> Option<Request> {
        let settings = self.settings.as_ref()?;
        let name = self.expr.eval_str(cx).map(|s| String::from_utf8_lossy(&s).into_owned())?;
        (!name.is_empty()).then(|| Request { name, settings: settings.clone(), var: self.var.clone() })
    }
}

/// Stores the address in the variable (an address sample, as `set-dst var(txn.ip)`
/// takes it): `sess.*` in `sess`, `txn.*`/`req.*`/`res.*` in `txn`, `proc.*` in the
/// process's variables.
pub fn store(var: &VarName, ip: IpAddr, sess: &mut Vars, txn: &mut Vars) {
    let value = match ip {
        IpAddr::V4(a) => Sample::Ipv4(a),
        IpAddr::V6(a) => Sample::Ipv6(a),
    };
    match var.scope {
        Scope::Sess => sess.set(var, value),
        Scope::Txn | Scope::Req | Scope::Res => txn.set(var, value),
        Scope::Proc => crate::sample::vars::with_proc_vars(|p| p.set(var, value)),
        _ => {}
    }
}

/// A stream's lookup in flight, and the variable it fills.
#[derive(Debug)]
pub struct Resolution {
    query: Query,
    var: VarName,
    /// `tcp-request content`: the end of the inspect delay, when the stream stops
    /// waiting (the variable then stays unset).
    until: Option<Instant>,
}

impl Resolution {
    /// Starts the lookup of `req`, its sockets registered under `token` (the stream's
    /// `Kind::Resolve`), waited for until `until` at most. `None` when it cannot start
    /// (a name that cannot be asked, no socket): the variable stays unset.
    pub fn begin(registry: &mio::Registry, token: mio::Token, req: Request, now: Instant, until: Option<Instant>) -> Option<Resolution> {
        let query = Query::start(registry, token, req.settings, &req.name, now).ok()?;
        Some(Resolution { query, var: req.var, until })
    }

    /// When the stream must look again if nothing arrives.
    pub fn deadline(&self) -> Instant {
        let retry = self.query.deadline();
        self.until.map_or(retry, |u| u.min(retry))
    }

    /// Reads the answers that came and, past the deadline, asks again or gives up.
    /// `Some` once the lookup is over (or no longer waited for): the address for the
    /// variable, or `None`.
    pub fn poll(&mut self, now: Instant) -> Option<Option<IpAddr>> {
        let outcome = match self.query.on_readable(now) {
            Some(o) => o,
            None if self.until.is_some_and(|u| now >= u) => Err(crate::dns::lookup::Failure::Timeout),
            None if now >= self.query.deadline() => self.query.on_timer(now)?,
            None => return None,
        };
        self.query.close(None);
        Some(outcome.ok().map(|addrs| chosen(&addrs)))
    }

    pub fn var(&self) -> &VarName {
        &self.var
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn parse(s: &str) -> Result<DoResolve, String> {
        let w = words(s);
        DoResolve::parse(&w[0], &w[1..])
    }

    #[test]
    fn the_action_is_read_as_haproxy_reads_it() {
        let d = parse("do-resolve(txn.ip,dns,ipv4) hdr(host),host_only").unwrap();
        assert_eq!((d.section.as_str(), d.prefer), ("dns", ResolvePrefer::Ipv4));
        assert_eq!(parse("do-resolve(txn.ip,dns) hdr(host)").unwrap().prefer, ResolvePrefer::Ipv6, "IPv6 first by default");
        assert_eq!(parse("do-resolve(txn.ip,dns,) src").unwrap().prefer, ResolvePrefer::Ipv6);
        assert_eq!(parse("do-resolve(txn.ip,dns,ipv4,ipv6) src").unwrap().prefer, ResolvePrefer::Ipv4);
        let tail = ". Expects 'do-resolve(<varname>,<resolvers>[,<options>]) <expr>'. Available options are 'ipv4' and 'ipv6'";
        assert_eq!(parse("do-resolve(txn.ip,dns,ipv5) src").unwrap_err(), format!("Can't parse 'do-resolve(txn.ip,dns,ipv5)'{tail}"));
        assert_eq!(parse("do-resolve(txn.ip) src").unwrap_err(), format!("Can't parse 'do-resolve(txn.ip)'{tail}"));
        assert_eq!(DoResolve::parse("do-resolve(txn.ip,dns)", &[]).unwrap_err(), format!("Can't parse ''{tail}"));
        assert_eq!(parse("do-resolve(txn.ip,dns) nosuchfetch").unwrap_err(), format!("Can't parse 'nosuchfetch'{tail}"));
    }

    #[test]
    fn a_section_is_bound_by_name() {
        let loc = crate::config::model::Location { file: Arc::from("t"), line: 1 };
        let section = crate::config::parse::resolvers::with_defaults("dns", &loc);
        let mut d = parse("do-resolve(txn.ip,dns,ipv4) src").unwrap();
        assert!(d.bind(std::slice::from_ref(&section)));
        assert_eq!(d.settings.as_ref().map(|s| (s.section.name.as_str(), s.prefer)), Some(("dns", ResolvePrefer::Ipv4)));
        let mut other = parse("do-resolve(txn.ip,nosuch) src").unwrap();
        assert!(!other.bind(&[section]));
    }
}
