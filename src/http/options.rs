//! `option` keywords added by "fmt" (HTTP options HAProxy users have): parsed here,
//! applied where the stream does what they change.
//!
//! - `dontlog-normal`: only transactions that [`StreamLog::is_error`](crate::log::StreamLog::is_error) are logged;
//! - `logasap`: an HTTP transaction is logged when its response head goes out, `%Tt`,
//!   `%Ta` and `%B` then being values so far, printed with a `+` (TCP streams are still
//!   logged at their end);
//! - `http-ignore-probes`: a connection that sends nothing gets neither a 408 nor a
//!   log line (browsers' pre-connections);
//! - `prefer-last-server`: a request goes to the server whose connection the previous
//!   request of the same client connection left idle, when it is usable (the stream,
//!   before load balancing; with `http-reuse never` and no hash-based balancing, as
//!   HAProxy 2.6 does it: [`effective`]);
//! - `idle-close-on-response`: on soft-stop an idle client connection is kept until
//!   its next response, which closes it;
//! - `http-restrict-req-hdr-names preserve|delete|reject`: [`restrict_header_names`].
//!
//! Messages are HAProxy 2.6's.

use crate::config::model::{Balance, HdrNamesPolicy, HttpReuse, Proxy, ProxyOptions};
use crate::http::Headers;

/// What parsing an `option` line asks of the caller.
pub enum Parsed {
    /// Done.
    Ok,
    /// An alert in HAProxy's directive shape (`parsing [f:1]: ...`).
    Directive(String),
    /// An alert in the keyword shape (`parsing [f:1] : ...`).
    Err(String),
}

/// Parses `option <name> <args>` (`negate`: `no option`) for the options of this
/// module; `None` for another option.
pub fn parse(o: &mut ProxyOptions, name: &str, negate: bool, args: &[String]) -> Option<Parsed> {
    let flag = match name {
        "dontlog-normal" => &mut o.dontlog_normal,
        "logasap" => &mut o.logasap,
        "http-ignore-probes" => &mut o.http_ignore_probes,
        "disable-h2-upgrade" => &mut o.disable_h2_upgrade,
        "idle-close-on-response" => &mut o.idle_close_on_response,
        "prefer-last-server" => &mut o.prefer_last_server,
        "http-restrict-req-hdr-names" => return Some(restrict_names(o, negate, args)),
        _ => return None,
    };
    if let Some(extra) = args.first() {
        return Some(Parsed::Err(format!("'option {name}' cannot handle unexpected argument '{extra}'.")));
    }
    *flag = !negate;
    Some(Parsed::Ok)
}

fn restrict_names(o: &mut ProxyOptions, negate: bool, args: &[String]) -> Parsed {
    const NAME: &str = "http-restrict-req-hdr-names";
    if negate {
        return Parsed::Directive(format!("negation/default is not supported for option '{NAME}'."));
    }
    if let Some(extra) = args.get(1) {
        return Parsed::Err(format!("'option' cannot handle unexpected argument '{extra}'."));
    }
    let expects = format!("option '{NAME}' expects 'preserve', 'reject' or 'delete' option.");
    o.restrict_req_hdr_names = match args.first().map(String::as_str) {
        None => return Parsed::Err(format!("missing parameter. {expects}")),
        Some("preserve") => HdrNamesPolicy::Preserve,
        Some("delete") => HdrNamesPolicy::Delete,
        Some("reject") => HdrNamesPolicy::Reject,
        Some(other) => return Parsed::Err(format!("invalid parameter '{other}'. {expects}")),
    };
    Parsed::Ok
}

/// The options a proxy runs with: as configured, but `prefer-last-server`, which
/// HAProxy 2.6 ignores with a hash-based `balance` (the hash decides) and unless
/// `http-reuse never` keeps the server connection with its client connection (with
/// the other modes it goes back to the server's pool: checked live, the requests of a
/// kept-alive client still alternate under round robin).
pub fn effective(p: &Proxy) -> ProxyOptions {
    let mut o = p.options.clone();
    let hashed = matches!(p.balance, Balance::Source | Balance::Uri(_) | Balance::UrlParam { .. } | Balance::Hdr { .. } | Balance::RdpCookie { .. });
    if hashed || p.http_reuse != HttpReuse::Never {
        o.prefer_last_server = false;
    }
    o
}

/// A header name HAProxy lets through `http-restrict-req-hdr-names`: letters,
/// digits and `-` only.
fn plain_name(name: &str) -> bool {
    name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Applies `policy` to a request's headers before a proxy's `http-request` rules:
/// `false` when the request must be answered 403 (`reject` and a name with another
/// character, as `X_Foo` or `X.Bar`).
pub fn restrict_header_names(policy: HdrNamesPolicy, headers: &mut Headers) -> bool {
    match policy {
        HdrNamesPolicy::Preserve => true,
        HdrNamesPolicy::Delete => {
            let bad: Vec<String> = headers.iter().filter(|h| !plain_name(&h.name)).map(|h| h.name.clone()).collect();
            for name in bad {
                headers.del(&name);
            }
            true
        }
        HdrNamesPolicy::Reject => headers.iter().all(|h| plain_name(&h.name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(names: &[&str]) -> Headers {
        let mut h = Headers::new();
        for n in names {
            h.add(*n, b"v".to_vec());
        }
        h
    }

    #[test]
    fn header_names_outside_letters_digits_and_dash() {
        let mut h = headers(&["Host", "X_Foo", "X.Bar", "Ok-1"]);
        let mut copy = headers(&["Host", "X_Foo"]);
        assert!(!restrict_header_names(HdrNamesPolicy::Reject, &mut copy));
        assert!(restrict_header_names(HdrNamesPolicy::Preserve, &mut h));
        assert!(restrict_header_names(HdrNamesPolicy::Delete, &mut h));
        let names: Vec<&str> = h.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["Host", "Ok-1"]);
        assert!(restrict_header_names(HdrNamesPolicy::Reject, &mut h));
    }

    #[test]
    fn parse_errors_read_as_haproxys() {
        let mut o = ProxyOptions::default();
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let err = |p: Option<Parsed>| match p {
            Some(Parsed::Err(e) | Parsed::Directive(e)) => e,
            _ => String::new(),
        };
        assert_eq!(
            err(parse(&mut o, "http-restrict-req-hdr-names", false, &args(&["foo"]))),
            "invalid parameter 'foo'. option 'http-restrict-req-hdr-names' expects 'preserve', 'reject' or 'delete' option."
        );
        assert_eq!(err(parse(&mut o, "dontlog-normal", false, &args(&["x"]))), "'option dontlog-normal' cannot handle unexpected argument 'x'.");
        assert!(matches!(parse(&mut o, "http-restrict-req-hdr-names", false, &args(&["delete"])), Some(Parsed::Ok)));
        assert_eq!(o.restrict_req_hdr_names, HdrNamesPolicy::Delete);
        assert!(parse(&mut o, "httplog", false, &[]).is_none());
    }
}
