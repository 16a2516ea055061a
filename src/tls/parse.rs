//! The TLS options of `bind` and `server` lines, and the `global` defaults they
//! start from (`crt-base`, `ca-base`, `ssl-default-bind-options`,
//! `ssl-default-server-options`, `ssl-server-verify`).

use super::{parse_version, BindTlsOpts, ServerTlsOpts, ServerVerify};
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
}

impl GlobalTls {
    /// Reads the `(keyword, args)` lines `global` recorded. Unknown options inside
    /// `ssl-default-*-options` (`no-tls-tickets`, `prefer-client-ciphers` ...) have no
    /// rustls equivalent and are ignored.
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
                "ssl-default-bind-options" | "ssl-default-server-options" => {
                    let bind = kw == "ssl-default-bind-options";
                    let mut i = 0;
                    while i < args.len() {
                        let v = args.get(i + 1).map_or("", String::as_str);
                        let (min, max) = if bind { (&mut g.bind.min, &mut g.bind.max) } else { (&mut g.server.min, &mut g.server.max) };
                        match args[i].as_str() {
                            "ssl-min-ver" => {
                                *min = Some(parse_version(v)?);
                                i += 1;
                            }
                            "ssl-max-ver" => {
                                *max = Some(parse_version(v)?);
                                i += 1;
                            }
                            _ => {}
                        }
                        i += 1;
                    }
                }
                _ => {}
            }
        }
        Ok(g)
    }
}

fn with_base(base: Option<&PathBuf>, v: &str) -> PathBuf {
    match base {
        Some(b) if !v.starts_with('/') => b.join(v),
        _ => PathBuf::from(v),
    }
}

/// OpenSSL-only settings accepted on bind and server lines without effect: rustls
/// has its own (modern) cipher suites and groups, no session tickets to turn off.
fn no_effect(kw: &str) -> Option<usize> {
    match kw {
        "ciphers" | "ciphersuites" | "curves" | "ecdhe" => Some(2),
        "no-tls-tickets" | "prefer-client-ciphers" | "no-sslv3" | "no-tlsv10" | "no-tlsv11" => Some(1),
        _ => None,
    }
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
            o.crts.push(with_base(g.crt_base.as_ref(), value));
            2
        }),
        "alpn" => need("the protocol name").map(|_| {
            o.alpn = value.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect();
            2
        }),
        "ssl-min-ver" => need("the version").and_then(|_| parse_version(value)).map(|v| {
            o.min = Some(v);
            2
        }),
        "ssl-max-ver" => need("the version").and_then(|_| parse_version(value)).map(|v| {
            o.max = Some(v);
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
        _ => return no_effect(kw).map(Ok),
    };
    Some(r)
}

/// Checks a bind line's TLS options once the line is read, and builds its config
/// (`None`: no `ssl` on the line). Errors use HAProxy's words.
pub fn finish_bind(o: &BindTlsOpts, g: &GlobalTls) -> Result<Option<super::BindTls>, String> {
    if !o.ssl {
        return Ok(None);
    }
    if o.crts.is_empty() {
        return Err("no SSL certificate specified (use 'crt')".into());
    }
    let mut o = o.clone();
    o.min = o.min.or(g.bind.min);
    o.max = o.max.or(g.bind.max);
    if matches!(o.verify.as_deref(), Some("optional" | "required")) && o.ca_file.is_none() {
        return Err("verify is enabled but no CA file specified".into());
    }
    // Built for HTTP mode first; `end_of_proxy` rebuilds the ALPN list for TCP mode.
    o.build(true).map(Some)
}

/// One TLS option of a `server`/`default-server` line; as [`bind_option`].
pub fn server_option(o: &mut ServerTlsOpts, g: &GlobalTls, kw: &str, value: &str) -> Option<Result<usize, String>> {
    let need = |what: &str| if value.is_empty() { Err(format!("'{kw}' expects {what} as argument.")) } else { Ok(()) };
    let r = match kw {
        "ssl" => {
            o.ssl = true;
            Ok(1)
        }
        "no-ssl" => {
            o.ssl = false;
            Ok(1)
        }
        "check-ssl" => {
            o.check_ssl = true;
            Ok(1)
        }
        "no-check-ssl" => {
            o.check_ssl = false;
            Ok(1)
        }
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
        "sni" => need("<expression>").map(|_| {
            o.sni = Some(value.to_string());
            2
        }),
        "alpn" => need("<protocols>").map(|_| {
            o.alpn = value.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect();
            2
        }),
        "ssl-min-ver" => parse_version(value).map(|v| {
            o.min = Some(v);
            2
        }),
        "ssl-max-ver" => parse_version(value).map(|v| {
            o.max = Some(v);
            2
        }),
        _ => return no_effect(kw).map(Ok),
    };
    Some(r)
}

/// Builds a server line's TLS config (`None`: no `ssl`).
pub fn finish_server(o: &ServerTlsOpts, g: &GlobalTls) -> Result<Option<super::ServerTls>, String> {
    if !o.ssl {
        return Ok(None);
    }
    let mut o = o.clone();
    o.min = o.min.or(g.server.min);
    o.max = o.max.or(g.server.max);
    o.build(g.server_verify.unwrap_or(ServerVerify::Required)).map(Some)
}

/// At the end of a proxy section, once its mode is known: the ALPN names of its TLS
/// binds (HTTP mode advertises only what moonproxy speaks, see [`super::alpn_for_mode`]).
pub fn end_of_proxy(binds: &mut [crate::config::model::Bind], http: bool) {
    for b in binds {
        if let Some(t) = b.tls.as_mut() {
            let mut c = (*t.config).clone();
            c.alpn_protocols = super::alpn_for_mode(&t.alpn, http);
            t.config = std::sync::Arc::new(c);
        }
    }
}
