//! The TLS options of `bind` and `server` lines, and the `global` defaults they
//! start from (`crt-base`, `ca-base`, `ssl-default-bind-options`,
//! `ssl-default-server-options`, `ssl-server-verify`).

use super::certs::CrtSpec;
use super::{BindTlsOpts, ServerTlsOpts, ServerVerify};
use std::path::PathBuf;

/// What `global` says about TLS, read from its recorded TLS lines.
#[derive(Clone, Debug, Default)]
pub struct GlobalTls {
    pub crt_base: Option<PathBuf>,
    pub ca_base: Option<PathBuf>,
    pub bind: BindTlsOpts,
    pub server: ServerTlsOpts,
    /// `ssl-server-verify none|required` (default `required`).
    pub server_verify: Option<ServerVerify>,
    /// `tune.ssl.capture-buffer-size` (alias `tune.ssl.capture-cipherlist-size`).
    pub capture_size: usize,
    /// `tune.ssl.keylog on`.
    pub keylog: bool,
}

impl GlobalTls {
    /// Reads the `(keyword, args)` lines `global` recorded (each checked when it was
    /// read, see [`check_global_line`]).
    pub fn from_lines(lines: &[(String, Vec<String>)]) -> Result<GlobalTls, String> {
        let mut g = GlobalTls::default();
        for (kw, args) in lines {
            let first = args.first().map_or("", String::as_str);
            match kw.as_str() {
                "crt-base" => g.crt_base = Some(PathBuf::from(first)),
                "ca-base" => g.ca_base = Some(PathBuf::from(first)),
                "ssl-server-verify" => {
                    g.server_verify = Some(match first {
                        "none" => ServerVerify::None,
                        "required" => ServerVerify::Required,
                        v => return Err(format!("'ssl-server-verify' : unknown verify method '{v}', only 'none' and 'required' are supported.")),
                    })
                }
                "ssl-default-bind-options" => default_options(args, kw, |kw, v| default_bind_option(&mut g.bind, kw, v))?,
                "ssl-default-bind-ciphers" => g.bind.suites.ciphers = Some(first.to_string()),
                "ssl-default-bind-ciphersuites" => g.bind.suites.ciphersuites = Some(first.to_string()),
                "ssl-default-bind-curves" => g.bind.suites.curves = Some(first.to_string()),
                "ssl-default-server-ciphers" => g.server.suites.ciphers = Some(first.to_string()),
                "ssl-default-server-ciphersuites" => g.server.suites.ciphersuites = Some(first.to_string()),
                "ssl-default-server-options" => default_options(args, kw, |kw, v| default_server_option(&mut g.server, kw, v))?,
                "tune.ssl.capture-buffer-size" | "tune.ssl.capture-cipherlist-size" => g.capture_size = usize::try_from(crate::config::parse::atoi(first)).unwrap_or(0),
                "tune.ssl.keylog" => g.keylog = first == "on",
                _ => {}
            }
        }
        Ok(g)
    }
}

/// `tune.ssl.capture-buffer-size <n>` (and its older name
/// `tune.ssl.capture-cipherlist-size`): the ClientHello capture of the
/// `ssl_fc_cipherlist_*`, `ssl_fc_extlist_bin`, `ssl_fc_eclist_bin`,
/// `ssl_fc_ecformats_bin` and `ssl_fc_protocol_hello_id` fetches (0, the default: none).
/// Read with `atoi` as HAProxy reads it, a negative value refused with its message.
/// Recorded with the TLS defaults; bind lines read it ([`GlobalTls`]).
pub fn global_capture_size(p: &mut crate::config::parse::Parser, l: &crate::config::parse::Line) -> Result<(), String> {
    if crate::config::parse::atoi(l.arg(1)) < 0 {
        return Err(format!("'{}' expects a positive numeric value.", l.arg(0)));
    }
    p.config.global.tls_defaults.push((l.arg(0).to_string(), l.args[1..].to_vec()));
    Ok(())
}

/// `tune.ssl.keylog on|off`: keep the TLS 1.3 secrets of front sessions for the
/// `ssl_fc_*_secret` fetches.
pub fn global_keylog(p: &mut crate::config::parse::Parser, l: &crate::config::parse::Line) -> Result<(), String> {
    if !matches!(l.arg(1), "on" | "off") {
        return Err(format!("'{}' expects either 'on' or 'off' but got '{}'.", l.arg(0), l.arg(1)));
    }
    p.config.global.tls_defaults.push((l.arg(0).to_string(), l.args[1..].to_vec()));
    Ok(())
}

/// Checks a `global` TLS line when it is read, so a bad option is reported at its
/// line as HAProxy reports it.
pub fn check_global_line(kw: &str, args: &[String]) -> Result<(), String> {
    match kw {
        "ssl-default-bind-options" => default_options(args, kw, |k, v| default_bind_option(&mut BindTlsOpts::default(), k, v)),
        "ssl-default-server-options" => default_options(args, kw, |k, v| default_server_option(&mut ServerTlsOpts::default(), k, v)),
        _ => Ok(()),
    }
}

/// Walks the words of `ssl-default-*-options`.
fn default_options(args: &[String], statement: &str, mut one: impl FnMut(&str, &str) -> Option<Result<usize, String>>) -> Result<(), String> {
    let mut i = 0;
    while i < args.len() {
        match one(&args[i], args.get(i + 1).map_or("", String::as_str)) {
            Some(r) => i += r?,
            None => return Err(format!("unknown option '{}' on global statement '{statement}'.", args[i])),
        }
    }
    Ok(())
}

/// What `ssl-default-bind-options` takes (HAProxy 2.6's list).
fn default_bind_option(o: &mut BindTlsOpts, kw: &str, value: &str) -> Option<Result<usize, String>> {
    match kw {
        "no-tls-tickets" => {
            o.no_tls_tickets = true;
            Some(Ok(1))
        }
        "prefer-client-ciphers" => {
            o.prefer_client_ciphers = true;
            Some(Ok(1))
        }
        _ => o.versions.option(kw, value),
    }
}

/// What `ssl-default-server-options` takes.
fn default_server_option(o: &mut ServerTlsOpts, kw: &str, value: &str) -> Option<Result<usize, String>> {
    match kw {
        "no-tls-tickets" => {
            o.no_tls_tickets = true;
            Some(Ok(1))
        }
        _ => o.versions.option(kw, value),
    }
}

fn with_base(base: Option<&PathBuf>, v: &str) -> PathBuf {
    match base {
        Some(b) if !v.starts_with('/') => b.join(v),
        _ => PathBuf::from(v),
    }
}

/// `ciphers`, `ciphersuites`, and on bind lines `curves`, `ecdhe`: recorded as written,
/// read when the line's config is built ([`super::ciphers`]).
fn suite_option(s: &mut super::ciphers::Suites, kw: &str, value: &str, bind: bool) -> Option<Result<usize, String>> {
    let slot = match kw {
        "ciphers" => &mut s.ciphers,
        "ciphersuites" => &mut s.ciphersuites,
        "curves" if bind => &mut s.curves,
        "ecdhe" if bind => &mut s.ecdhe,
        _ => return None,
    };
    if value.is_empty() {
        let what = match kw {
            "curves" => "curve suite",
            "ecdhe" => "named curve",
            _ => "cipher suite",
        };
        return Some(Err(format!("'{kw}' : missing {what}")));
    }
    *slot = Some(value.to_string());
    Some(Ok(2))
}

/// One TLS option of a `bind` line (`kw`, then `value` when it takes one): how many
/// words it used, or `None` when `kw` is not a TLS option.
pub fn bind_option(o: &mut BindTlsOpts, g: &GlobalTls, kw: &str, value: &str) -> Option<Result<usize, String>> {
    let need = |what: &str| if value.is_empty() { Err(format!("'{kw}' : missing {what}")) } else { Ok(()) };
    let r = match kw {
        "ssl" => {
            o.ssl = true;
            Ok(1)
        }
        "crt" => need("certificate location").map(|_| {
            o.crts.push(CrtSpec::crt(with_base(g.crt_base.as_ref(), value)));
            2
        }),
        "crt-list" => need("file path").and_then(|_| {
            let path = with_base(g.crt_base.as_ref(), value);
            let first = o.crt_list_opts.len();
            let (crts, lines) = super::crt_list::read(&path, g.crt_base.as_ref(), first, |lo, kw, v| bind_option(lo, g, kw, v))?;
            o.crts.extend(crts);
            o.crt_list_opts.extend(lines);
            Ok(2)
        }),
        "alpn" => need("the protocol name").map(|_| {
            o.alpn = value.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect();
            2
        }),
        "verify" => need("the verify method").map(|_| {
            o.verify = Some(value.to_string());
            2
        }),
        "ca-file" => need("CAfile path").map(|_| {
            o.ca_file = Some(with_base(g.ca_base.as_ref(), value));
            2
        }),
        "crl-file" => need("CRLfile path").and_then(|_| {
            let path = with_base(g.ca_base.as_ref(), value);
            super::verify::load_crls(&path)?;
            o.crl_file = Some(path);
            Ok(2)
        }),
        "ca-ignore-err" | "crt-ignore-err" => need("error IDs list").and_then(|_| super::verify::IgnoreErr::parse(kw, value)).map(|ids| {
            *(if kw == "ca-ignore-err" { &mut o.ca_ignore_err } else { &mut o.crt_ignore_err }) = ids;
            2
        }),
        "strict-sni" => {
            o.strict_sni = true;
            Ok(1)
        }
        "no-tls-tickets" => {
            o.no_tls_tickets = true;
            Ok(1)
        }
        "tls-ticket-keys" => need("TLS ticket keys file path").and_then(|_| {
            let path = with_base(g.crt_base.as_ref(), value);
            super::tickets::check_key_file(&path, value)?;
            o.ticket_keys = Some(path);
            Ok(2)
        }),
        "allow-0rtt" => {
            o.allow_0rtt = true;
            Ok(1)
        }
        "prefer-client-ciphers" => {
            o.prefer_client_ciphers = true;
            Ok(1)
        }
        _ => match o.versions.option(kw, value) {
            Some(r) => r,
            None => return suite_option(&mut o.suites, kw, value, true),
        },
    };
    Some(r)
}

/// Checks a bind line's TLS options once the line is read, and builds its config
/// (`None`: no `ssl` on the line). Errors use HAProxy's words.
pub fn finish_bind(o: &BindTlsOpts, g: &GlobalTls) -> Result<Option<super::BindTls>, String> {
    if !o.ssl {
        return Ok(None);
    }
    if o.crts.is_empty() && !o.strict_sni {
        return Err("no SSL certificate specified (use 'crt')".into());
    }
    let mut o = o.clone();
    o.versions = o.versions.or(g.bind.versions);
    o.no_tls_tickets |= g.bind.no_tls_tickets;
    o.prefer_client_ciphers |= g.bind.prefer_client_ciphers;
    o.suites = o.suites.or(&g.bind.suites);
    o.capture_size = g.capture_size;
    o.keylog = g.keylog;
    if matches!(o.verify.as_deref(), Some("optional" | "required")) && o.ca_file.is_none() {
        return Err("verify is enabled but no CA file specified".into());
    }
    // Built for HTTP mode first; `end_of_proxy` rebuilds the ALPN list for TCP mode.
    o.build(true).map(Some)
}

/// The warnings HAProxy prints for a bind line's TLS options (`-c` still passes).
pub fn bind_warnings(o: &BindTlsOpts, g: &GlobalTls) -> Vec<String> {
    if !o.ssl {
        return Vec::new();
    }
    let mut w: Vec<String> = o.versions.or(g.bind.versions).warning("bind").into_iter().collect();
    w.extend(o.suites.or(&g.bind.suites).warnings());
    if o.crts.is_empty() {
        w.push("no SSL certificate specified, ssl connections will fail (use 'crt').".into());
    }
    // `.ocsp` responses HAProxy ignores (unreadable files are errors of the line).
    for crt in &o.crts {
        for file in super::certs::crt_files(&crt.path).unwrap_or_default() {
            if let Ok(super::ocsp::Loaded::Ignored(reason)) = super::ocsp::load(&file) {
                w.push(super::ocsp::warning(reason));
            }
        }
    }
    w
}

/// One TLS option of a `server`/`default-server` line; as [`bind_option`].
pub fn server_option(o: &mut ServerTlsOpts, g: &GlobalTls, kw: &str, value: &str) -> Option<Result<usize, String>> {
    let need = |what: &str| if value.is_empty() { Err(format!("'{kw}' expects {what} as argument.")) } else { Ok(()) };
    let flag = |f: &mut bool, on: bool| {
        *f = on;
        Ok(1)
    };
    let r = match kw {
        "ssl" => flag(&mut o.ssl, true),
        "no-ssl" => flag(&mut o.ssl, false),
        "check-ssl" => flag(&mut o.check_ssl, true),
        "no-check-ssl" => flag(&mut o.check_ssl, false),
        "ssl-reuse" => flag(&mut o.no_ssl_reuse, false),
        "no-ssl-reuse" => flag(&mut o.no_ssl_reuse, true),
        "tls-tickets" => flag(&mut o.no_tls_tickets, false),
        "no-tls-tickets" => flag(&mut o.no_tls_tickets, true),
        "verify" => match value {
            "none" => Ok(ServerVerify::None),
            "required" => Ok(ServerVerify::Required),
            _ => Err(format!("'verify' : unknown verify method '{value}', only 'none' and 'required' are supported.")),
        }
        .map(|v| {
            o.verify = Some(v);
            2
        }),
        "ca-file" => need("<cafile>").map(|_| {
            o.ca_file = Some(with_base(g.ca_base.as_ref(), value));
            2
        }),
        "crt" => need("<crt>").map(|_| {
            o.crt = Some(with_base(g.crt_base.as_ref(), value));
            2
        }),
        "crl-file" => need("<crlfile>").and_then(|_| {
            let path = with_base(g.ca_base.as_ref(), value);
            super::verify::load_crls(&path)?;
            o.crl_file = Some(path);
            Ok(2)
        }),
        "sni" => need("<expression>").map(|_| {
            o.sni = Some(value.to_string());
            2
        }),
        "verifyhost" => need("<hostname>").map(|_| {
            o.verifyhost = Some(value.to_string());
            2
        }),
        "check-sni" => need("<sni>").map(|_| {
            o.check_sni = Some(value.to_string());
            2
        }),
        "alpn" => need("<protocols>").map(|_| {
            o.alpn = value.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect();
            2
        }),
        "check-alpn" => need("<protocols>").map(|_| {
            o.check_alpn = Some(value.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect());
            2
        }),
        _ => match o.versions.option(kw, value) {
            Some(r) => r,
            None => return suite_option(&mut o.suites, kw, value, false),
        },
    };
    Some(r)
}

/// The warnings HAProxy prints for a server line's TLS options.
pub fn server_warnings(o: &ServerTlsOpts, g: &GlobalTls) -> Vec<String> {
    if !o.ssl {
        return Vec::new();
    }
    let mut w: Vec<String> = o.versions.or(g.server.versions).warning("server").into_iter().collect();
    w.extend(o.suites.or(&g.server.suites).warnings());
    w
}

/// Builds a server line's TLS config (`None`: no `ssl`).
pub fn finish_server(o: &ServerTlsOpts, g: &GlobalTls) -> Result<Option<super::ServerTls>, String> {
    if !o.ssl {
        return Ok(None);
    }
    let mut o = o.clone();
    o.versions = o.versions.or(g.server.versions);
    o.no_tls_tickets |= g.server.no_tls_tickets;
    o.suites = o.suites.or(&g.server.suites);
    o.build(g.server_verify.unwrap_or(ServerVerify::Required)).map(Some)
}

/// At the end of a proxy section, once its mode is known: the ALPN names of its TLS
/// binds (HTTP mode advertises only what moonproxy speaks, see [`super::alpn_for_mode`]).
pub fn end_of_proxy(binds: &mut [crate::config::model::Bind], http: bool) {
    for b in binds {
        if let Some(t) = b.tls.as_mut() {
            t.set_mode(http);
        }
    }
}
