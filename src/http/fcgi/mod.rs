//! FastCGI toward servers with `proto fcgi` (HAProxy's configuration manual, section 10;
//! doc/http.md, "FastCGI").
//!
//! The stream keeps speaking HTTP/1.1: its request head and body go to the server
//! connection as for any server, and it parses an HTTP/1.1 response from it. The
//! translation lives in the connection ([`codec::Codec`], under `stream::conn`):
//!
//! ```text
//! stream ──HTTP/1.1 request──▶ Codec ──BEGIN_REQUEST, PARAMS, STDIN──▶ application
//! stream ◀─HTTP/1.1 response── Codec ◀─STDOUT (CGI), STDERR, END_REQUEST── application
//! ```
//!
//! What the head cannot say (the CGI variables, which need the connection's addresses,
//! the `fcgi-app` rules and their samples) is computed by the stream once the backend's
//! rules have run ([`App::prepare`], as HAProxy evaluates `set-param` and `pass-header`
//! during the backend's request analysis) and handed to the connection with the head
//! ([`Prepared`]).
//!
//! - [`record`]: the record layer (headers, name-value pairs), sans-io.
//! - [`codec`]: the connection-side translator, sans-io over any `Read + Write`.
//! - [`fetch`]: `fcgi.docroot` and `fcgi.index`.

pub mod codec;
pub mod fetch;
pub mod record;

use crate::config::model::FcgiApp;
use crate::http::rules::Fmt;
use crate::http::{BodyFraming, Method, Request};
use crate::sample::SampleCtx;
use crate::stream::acl::{AclSet, CompiledCond};
use std::net::SocketAddr;
use std::sync::Arc;

/// One `set-param` or `pass-header` rule, compiled.
#[derive(Debug)]
struct Rule {
    name: String,
    /// `set-param`'s value; `None` for `pass-header`.
    value: Option<Fmt>,
    cond: Option<CompiledCond>,
}

impl Rule {
    fn holds(&self, acls: &AclSet, cx: &dyn SampleCtx) -> bool {
        self.cond.as_ref().is_none_or(|c| c.eval(acls, cx))
    }
}

/// An `fcgi-app` section, compiled for the backends that use it.
#[derive(Debug)]
pub struct App {
    pub name: String,
    pub docroot: String,
    pub index: Option<String>,
    path_info: Option<crate::sample::regex::Regex>,
    /// `option keep-conn`: BEGIN_REQUEST asks the application to keep the connection.
    pub keep_conn: bool,
    set_params: Vec<Rule>,
    pass_headers: Vec<Rule>,
    acls: AclSet,
    /// `log-stderr` targets (empty: STDERR records are dropped).
    stderr: crate::log::Logger,
}

/// Request headers never passed as `HTTP_*`: credentials (unless `pass-header` names
/// them) and hop-by-hop headers, as HAProxy hides them.
const HIDDEN: &[&str] = &["authorization", "proxy-authorization"];
const HOP_BY_HOP: &[&str] = &["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"];

/// What the connection needs to send one request: its PARAMS (CONTENT_LENGTH may be
/// left to the codec, which knows a chunked body's length only once it has it all), and
/// how the body and the response are framed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    /// Encoded name-value pairs up to where a default CONTENT_LENGTH goes.
    pub params: Vec<u8>,
    /// The pairs after it (HTTPS, SERVER_SOFTWARE).
    pub tail: Vec<u8>,
    /// The codec adds CONTENT_LENGTH between the two (no `Content-Length` header came).
    pub length_slot: bool,
    /// The request body's framing.
    pub framing: BodyFraming,
    /// A HEAD request: the response has no body.
    pub head_only: bool,
    /// `option keep-conn`.
    pub keep_conn: bool,
    /// `log-stderr` of the application, and names for messages.
    pub app: Arc<App>,
}

impl PartialEq for App {
    fn eq(&self, other: &App) -> bool {
        std::ptr::eq(self, other)
    }
}
impl Eq for App {}

/// The connection facts PARAMS carry.
pub struct ConnFacts {
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
    /// The client connection is TLS (HTTPS=on).
    pub tls: bool,
}

impl App {
    /// Compiles `app`; errors read as HAProxy's (`proxy '<be>' : ...`).
    pub fn compile(app: &FcgiApp, backend: &str, identity: Arc<crate::log::LogIdentity>) -> Result<App, Vec<String>> {
        let mut errors = Vec::new();
        let acls = AclSet::compile(&app.acls).unwrap_or_else(|e| {
            errors.push(e);
            AclSet::default()
        });
        let mut rules = |list: &[crate::config::model::FcgiRule]| {
            let mut out = Vec::new();
            for r in list {
                let value = match r.value.as_deref().map(Fmt::parse) {
                    None => None,
                    Some(Ok(f)) => Some(f),
                    Some(Err(e)) => {
                        errors.push(format!("proxy '{backend}' : {e}."));
                        continue;
                    }
                };
                let cond = match r.cond.as_ref().map(|c| CompiledCond::compile(c, &acls)) {
                    None => None,
                    Some(Ok(c)) => Some(c),
                    Some(Err(e)) => {
                        errors.push(e);
                        continue;
                    }
                };
                out.push(Rule { name: r.name.clone(), value, cond });
            }
            out
        };
        let set_params = rules(&app.set_params);
        let pass_headers = rules(&app.pass_headers);
        let path_info = app.path_info.as_deref().and_then(|p| crate::sample::regex::Regex::new(p.as_bytes(), false).ok());
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(App {
            name: app.name.clone(),
            docroot: app.docroot.clone().unwrap_or_default(),
            index: app.index.clone(),
            path_info,
            keep_conn: app.keep_conn,
            set_params,
            pass_headers,
            acls,
            stderr: crate::log::Logger::new(&app.log_stderr, identity),
        })
    }

    /// Logs the text of a STDERR record (trailing line ends removed), at `err` level, as
    /// HAProxy does: one message per record.
    pub fn log_stderr(&self, text: &[u8]) {
        let end = text.iter().rposition(|b| !matches!(b, b'\n' | b'\r')).map_or(0, |i| i + 1);
        if end > 0 && !self.stderr.is_empty() {
            self.stderr.send(crate::config::model::Level::Err, &String::from_utf8_lossy(&text[..end]));
        }
    }

    /// The PARAMS of `req` (after the rules), in HAProxy's order: the request headers as
    /// `HTTP_*` (Content-Type and Content-Length as CONTENT_TYPE and CONTENT_LENGTH, in
    /// place), the `set-param` values, then the default variables not set by a rule.
    /// `Err(status)` for a path that `path-info` cannot be applied to (NUL or LF once
    /// decoded).
    pub fn prepare(self: &Arc<App>, req: &Request, cx: &dyn SampleCtx, conn: &ConnFacts) -> Result<Prepared, u16> {
        let mut params = Vec::with_capacity(512);
        let passed = |name: &str| self.pass_headers.iter().any(|r| r.name.eq_ignore_ascii_case(name) && r.holds(&self.acls, cx));
        let mut has_length = false;
        for h in req.headers.iter() {
            let lower = h.name.to_ascii_lowercase();
            if HOP_BY_HOP.contains(&lower.as_str()) || (HIDDEN.contains(&lower.as_str()) && !passed(&lower)) {
                continue;
            }
            let name = match lower.as_str() {
                "content-length" => {
                    has_length = true;
                    "CONTENT_LENGTH".to_string()
                }
                "content-type" => "CONTENT_TYPE".to_string(),
                _ => format!("HTTP_{}", lower.to_ascii_uppercase().replace('-', "_")),
            };
            record::push_pair(&mut params, name.as_bytes(), &h.value);
        }
        // Basic credentials give AUTH_TYPE and REMOTE_USER, around the `set-param`
        // values, which HAProxy sends last declared first.
        let user = basic_user(req);
        if user.is_some() {
            record::push_pair(&mut params, b"AUTH_TYPE", b"Basic");
        }
        let mut set: Vec<&str> = Vec::new();
        for r in self.set_params.iter().rev() {
            let Some(fmt) = &r.value else { continue };
            if !r.holds(&self.acls, cx) {
                continue;
            }
            let value = fmt.render(cx);
            if !value.is_empty() {
                record::push_pair(&mut params, r.name.as_bytes(), &value);
                set.push(&r.name);
            }
        }
        if let Some(user) = &user {
            record::push_pair(&mut params, b"REMOTE_USER", user);
        }
        let put = |out: &mut Vec<u8>, name: &str, value: &[u8]| {
            if !set.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                record::push_pair(out, name.as_bytes(), value);
            }
        };
        let (script, path_info) = self.split_path(&req.line)?;
        put(&mut params, "GATEWAY_INTERFACE", b"CGI/1.1");
        put(&mut params, "DOCUMENT_ROOT", self.docroot.as_bytes());
        put(&mut params, "SCRIPT_NAME", &script);
        if let Some(pi) = &path_info {
            put(&mut params, "PATH_INFO", pi);
        }
        let uri = match req.line.form {
            crate::http::TargetForm::Absolute => {
                let path = req.line.path();
                match req.line.query() {
                    Some(q) => format!("{path}?{q}"),
                    None => path.to_string(),
                }
            }
            _ => req.line.target.clone(),
        };
        put(&mut params, "REQUEST_URI", uri.as_bytes());
        put(&mut params, "REQUEST_METHOD", req.line.method.as_str().as_bytes());
        if let Some(q) = req.line.query().filter(|q| !q.is_empty()) {
            put(&mut params, "QUERY_STRING", q.as_bytes());
        }
        let server_name = req.headers.get("host").map(<[u8]>::to_vec).or_else(|| conn.dst.map(|d| d.ip().to_string().into_bytes()));
        if let Some(n) = server_name {
            put(&mut params, "SERVER_NAME", &n);
        }
        if let Some(d) = conn.dst {
            put(&mut params, "SERVER_PORT", d.port().to_string().as_bytes());
        }
        put(&mut params, "SERVER_PROTOCOL", req.line.version.as_str().as_bytes());
        if let Some(s) = conn.src {
            put(&mut params, "REMOTE_ADDR", s.ip().to_string().as_bytes());
            put(&mut params, "REMOTE_PORT", s.port().to_string().as_bytes());
        }
        let mut filename = self.docroot.as_bytes().to_vec();
        filename.extend_from_slice(&script);
        put(&mut params, "SCRIPT_FILENAME", &filename);
        if let Some(pi) = &path_info {
            let mut translated = self.docroot.as_bytes().to_vec();
            translated.extend_from_slice(pi);
            put(&mut params, "PATH_TRANSLATED", &translated);
        }
        let length_slot = !has_length && !set.iter().any(|s| s.eq_ignore_ascii_case("CONTENT_LENGTH"));
        let mut tail = Vec::new();
        if conn.tls {
            put(&mut tail, "HTTPS", b"on");
        }
        put(&mut tail, "SERVER_SOFTWARE", format!("moonproxy {}", crate::version::VERSION).as_bytes());
        Ok(Prepared {
            params,
            tail,
            length_slot,
            framing: req.framing,
            head_only: req.line.method == Method::Head,
            keep_conn: self.keep_conn,
            app: self.clone(),
        })
    }

    /// SCRIPT_NAME and PATH_INFO: with `path-info`, its captures on the URL-decoded path
    /// (the whole path when it does not match); without, the path. `index` completes a
    /// script name ending with `/`.
    fn split_path(&self, line: &crate::http::RequestLine) -> Result<(Vec<u8>, Option<Vec<u8>>), u16> {
        let path = line.path().as_bytes();
        let (mut script, info) = match &self.path_info {
            None => (path.to_vec(), None),
            Some(re) => {
                let decoded = crate::sample::conv::url_decode(path, false).ok_or(400u16)?;
                if decoded.iter().any(|b| matches!(b, b'\0' | b'\n')) {
                    return Err(400);
                }
                match re.captures_at(&decoded, 0) {
                    Some(c) => {
                        let script = c.get(1).map_or_else(|| decoded.clone(), |m| m.as_bytes().to_vec());
                        let info = c.get(2).map(|m| m.as_bytes().to_vec()).filter(|i| !i.is_empty());
                        (script, info)
                    }
                    None => (decoded.clone(), None),
                }
            }
        };
        if let (Some(index), Some(b'/')) = (&self.index, script.last()) {
            script.extend_from_slice(index.as_bytes());
        }
        Ok((script, info))
    }
}

/// The user name of `Authorization: Basic` credentials.
fn basic_user(req: &Request) -> Option<Vec<u8>> {
    let value = req.headers.get("authorization")?;
    let (scheme, token) = value.split_at(value.iter().position(|&b| b == b' ')?);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let decoded = crate::sample::conv::b64_decode(token.trim_ascii(), false)?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some(decoded[..colon].to_vec())
}

/// A backend's FastCGI side: its application and which servers speak FastCGI.
#[derive(Debug)]
pub struct Backend {
    pub app: Arc<App>,
    /// Per server (config order): `backend/server` for a `proto fcgi` one.
    servers: Vec<Option<Arc<str>>>,
}

impl Backend {
    /// The `use-fcgi-app` of `p` compiled (`None` without one), its docroot and index
    /// recorded for the fetches.
    pub fn build(cfg: &crate::config::model::Config, p: &crate::config::model::Proxy) -> Result<Option<Box<Backend>>, Vec<String>> {
        let Some(name) = p.use_fcgi_app.as_deref().filter(|_| p.cap.backend && p.mode == crate::config::model::Mode::Http) else {
            return Ok(None);
        };
        let Some(app) = cfg.fcgi_apps.iter().find(|a| a.name == name) else {
            return Err(vec![format!("proxy '{}' : fcgi-app '{name}' not found.", p.name)]);
        };
        let identity = Arc::new(crate::log::LogIdentity::from_global(&cfg.global));
        let app = Arc::new(App::compile(app, &p.name, identity)?);
        fetch::register(&p.name, &app);
        let servers = p.servers.iter().map(|s| (s.tuning.proto.as_deref() == Some("fcgi")).then(|| format!("{}/{}", p.name, s.name).into())).collect();
        Ok(Some(Box::new(Backend { app, servers })))
    }

    /// Server `srv`, added at run time (`add server`), speaks FastCGI (`proto fcgi`) or not.
    pub fn add_server(&mut self, srv: usize, name: Option<Arc<str>>) {
        self.servers.resize(srv, None);
        self.servers.push(name);
    }

    /// `backend/server` when server `srv` speaks FastCGI.
    pub fn server_name(&self, srv: usize) -> Option<Arc<str>> {
        self.servers.get(srv).cloned().flatten()
    }
}

#[cfg(test)]
mod tests;
