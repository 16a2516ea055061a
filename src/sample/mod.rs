//! HAProxy's sample machinery: typed samples, the implicit casts between types, and
//! sample expressions (`fetch(args),conv1(args),conv2`) compiled once into an [`Expr`]
//! and evaluated against a [`SampleCtx`].
//!
//! This module is standalone: the stream, ACL and log-format layers wire it in later.
//! The behaviour follows HAProxy 2.6 and is compared with the real `haproxy` binary in
//! `tests/sample_vs_haproxy.rs`; `doc/samples.md` lists what is supported.
//!
//! ```
//! use moonproxy::sample::{Expr, TestCtx};
//! let e = Expr::parse("str(abc),base64").unwrap();
//! assert_eq!(e.eval_str(&TestCtx::default()).as_deref(), Some(&b"YWJj"[..]));
//! ```
//!
//! Layout: [`args`] splits and types keyword arguments, [`fetch`] and [`conv`] hold the
//! keyword tables, [`vars`] the variable store, [`matching`] the ACL match methods,
//! [`regex`] the pattern compiler `regsub`, `-m reg` and the Lua `Regex` class share, and
//! [`json`] the small reader `json_query` needs.

pub mod aes;
pub mod args;
pub mod conv;
pub mod conv_proxy;
pub mod conv_text;
pub mod digest;
pub mod fetch;
pub mod fetch_http;
pub mod fetch_payload;
pub mod fetch_ssl_cert;
pub mod fetch_ssl_conn;
pub mod fetch_ssl_hello;
pub mod fetch_conn;
pub mod fetch_proxy;
pub mod hash;
pub mod json;
pub mod jwt;
pub mod lua;
pub mod map;
pub mod map_regm;
pub mod matching;
pub mod mqtt;
pub mod proto;
pub mod regex;
pub mod usable;
pub mod vars;
pub mod xxh3;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::SystemTime;

pub use args::Arg;
pub use matching::{MatchError, Matcher, Method};
pub use vars::{Scope, VarName, Vars};

/// The type of a sample (HAProxy's `SMP_T_*`), plus the two pseudo-types keywords
/// declare as inputs or outputs: `Addr` (IPv4 or IPv6) and `Any`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SampleType {
    Any,
    Bool,
    Sint,
    Addr,
    Ipv4,
    Ipv6,
    Str,
    Bin,
    Meth,
}

impl SampleType {
    /// HAProxy's name for the type, as `haproxy -dKall` prints it.
    pub fn name(self) -> &'static str {
        match self {
            SampleType::Any => "any",
            SampleType::Bool => "bool",
            SampleType::Sint => "sint",
            SampleType::Addr => "addr",
            SampleType::Ipv4 => "ipv4",
            SampleType::Ipv6 => "ipv6",
            SampleType::Str => "str",
            SampleType::Bin => "bin",
            SampleType::Meth => "meth",
        }
    }

    /// Whether a value of type `self` can be cast to `to` (HAProxy's cast matrix with
    /// a non-NULL entry). Used at compile time to refuse `converter 'x' cannot be applied`.
    pub fn can_cast(self, to: SampleType) -> bool {
        use SampleType::*;
        if self == Any || to == Any || self == to {
            return true;
        }
        match self {
            Bool | Sint => {
                matches!((self, to), (_, Bool | Sint | Str | Bin))
                    || (self == Sint && matches!(to, Ipv4 | Ipv6 | Addr))
            }
            Ipv4 => matches!(to, Bool | Sint | Addr | Ipv6 | Str | Bin),
            Ipv6 => matches!(to, Addr | Ipv4 | Str | Bin),
            Addr => matches!(to, Ipv4 | Ipv6 | Str | Bin),
            Str => true,
            Bin => matches!(to, Str | Meth),
            Meth => matches!(to, Str | Bin),
            Any => true,
        }
    }
}

/// A typed sample. Strings are byte strings, as in HAProxy (a header may hold any byte).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sample {
    Bool(bool),
    Sint(i64),
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    Str(Vec<u8>),
    Bin(Vec<u8>),
    /// An HTTP method, kept by name (HAProxy keeps known methods as an enum and others as text).
    Meth(Vec<u8>),
}

impl Sample {
    pub fn ty(&self) -> SampleType {
        match self {
            Sample::Bool(_) => SampleType::Bool,
            Sample::Sint(_) => SampleType::Sint,
            Sample::Ipv4(_) => SampleType::Ipv4,
            Sample::Ipv6(_) => SampleType::Ipv6,
            Sample::Str(_) => SampleType::Str,
            Sample::Bin(_) => SampleType::Bin,
            Sample::Meth(_) => SampleType::Meth,
        }
    }

    pub fn str(s: impl Into<Vec<u8>>) -> Sample {
        Sample::Str(s.into())
    }

    pub fn ip(ip: IpAddr) -> Sample {
        match ip {
            IpAddr::V4(a) => Sample::Ipv4(a),
            IpAddr::V6(a) => Sample::Ipv6(a),
        }
    }

    /// Casts to `to` following HAProxy's cast matrix; `None` when there is no cast or
    /// it fails at run time (e.g. a string that is not an address).
    pub fn cast(self, to: SampleType) -> Option<Sample> {
        use SampleType as T;
        if to == T::Any || self.ty() == to {
            return Some(self);
        }
        Some(match (self, to) {
            // Booleans are integers underneath.
            (Sample::Bool(b), T::Sint) => Sample::Sint(b as i64),
            (Sample::Bool(b), T::Str) => Sample::Str(if b { b"1".to_vec() } else { b"0".to_vec() }),
            (Sample::Bool(b), T::Bin) => Sample::Bin((b as i64).to_be_bytes().to_vec()),
            (Sample::Sint(i), T::Bool) => Sample::Bool(i != 0),
            (Sample::Sint(i), T::Str) => Sample::Str(i.to_string().into_bytes()),
            // An integer becomes 8 bytes in network order.
            (Sample::Sint(i), T::Bin) => Sample::Bin(i.to_be_bytes().to_vec()),
            (Sample::Sint(i), T::Ipv4 | T::Addr) => Sample::Ipv4(Ipv4Addr::from(i as u32)),
            (Sample::Sint(i), T::Ipv6) => Sample::Ipv6(Ipv4Addr::from(i as u32).to_ipv6_mapped()),
            (Sample::Ipv4(a), T::Bool) => Sample::Bool(u32::from(a) != 0),
            (Sample::Ipv4(a), T::Sint) => Sample::Sint(u32::from(a) as i64),
            (Sample::Ipv4(a), T::Addr) => Sample::Ipv4(a),
            (Sample::Ipv4(a), T::Ipv6) => Sample::Ipv6(a.to_ipv6_mapped()),
            (Sample::Ipv4(a), T::Str) => Sample::Str(a.to_string().into_bytes()),
            (Sample::Ipv4(a), T::Bin) => Sample::Bin(a.octets().to_vec()),
            (Sample::Ipv6(a), T::Addr) => Sample::Ipv6(a),
            // Only a v4-mapped address has an IPv4 form.
            (Sample::Ipv6(a), T::Ipv4) => Sample::Ipv4(a.to_ipv4_mapped()?),
            (Sample::Ipv6(a), T::Str) => Sample::Str(a.to_string().into_bytes()),
            (Sample::Ipv6(a), T::Bin) => Sample::Bin(a.octets().to_vec()),
            (Sample::Str(s), T::Bool) => Sample::Bool(str_to_int(&s)? != 0),
            (Sample::Str(s), T::Sint) => Sample::Sint(str_to_int(&s)?),
            (Sample::Str(s), T::Ipv4) => Sample::Ipv4(std::str::from_utf8(&s).ok()?.parse().ok()?),
            (Sample::Str(s), T::Ipv6) => Sample::Ipv6(std::str::from_utf8(&s).ok()?.parse().ok()?),
            (Sample::Str(s), T::Addr) => Sample::ip(std::str::from_utf8(&s).ok()?.parse().ok()?),
            (Sample::Str(s), T::Bin) => Sample::Bin(s),
            (Sample::Str(s), T::Meth) => Sample::Meth(s),
            (Sample::Bin(b), T::Str) => Sample::Str(b),
            (Sample::Bin(b), T::Meth) => Sample::Meth(b),
            (Sample::Meth(m), T::Str) => Sample::Str(m),
            (Sample::Meth(m), T::Bin) => Sample::Bin(m),
            _ => return None,
        })
    }

    /// The sample as text, as a log-format `%[...]` prints it (a cast to `str`).
    pub fn into_bytes(self) -> Option<Vec<u8>> {
        match self.cast(SampleType::Str)? {
            Sample::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The sample as an integer (cast to `sint`).
    pub fn to_int(&self) -> Option<i64> {
        match self.clone().cast(SampleType::Sint)? {
            Sample::Sint(i) => Some(i),
            _ => None,
        }
    }
}

/// HAProxy's string-to-integer cast: an optional sign then leading digits, the rest
/// ignored ("12abc" is 12, "abc" is 0, " 12" is 0), saturating on overflow. An empty
/// string has no integer value.
pub fn str_to_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for &c in digits.iter().take_while(|c| c.is_ascii_digit()) {
        let d = (c - b'0') as i64;
        v = if neg {
            v.saturating_mul(10).saturating_sub(d)
        } else {
            v.saturating_mul(10).saturating_add(d)
        };
    }
    Some(v)
}

/// What fetches read from the outside world: the connection, the proxies, variables,
/// the clock and randomness. Every method has a default meaning "not available here",
/// so a context implements only what it has; the HTTP layer adds message accessors later.
pub trait SampleCtx {
    /// The client connection's TLS session once its handshake is done (`ssl_fc*`);
    /// `None` without TLS.
    fn tls(&self) -> Option<&crate::tls::TlsInfo> {
        None
    }
    /// The server connection's TLS session (`ssl_bc*`); `None` without TLS or
    /// without a server connection.
    fn server_tls(&self) -> Option<&crate::tls::TlsInfo> {
        None
    }
    /// The client connection's socket and PROXY header (`fc_rtt`, `fc_rcvd_proxy`);
    /// `None` where the context has no client connection.
    fn client_conn(&self) -> Option<fetch_conn::ClientConn> {
        None
    }
    /// Client address (`src`, `src_port`).
    fn src(&self) -> Option<SocketAddr> {
        None
    }
    /// `set-src`, `set-dst`... of a TCP rule: rewrites the connection's address with
    /// `value` (see [`crate::stream::set_addr::apply`]) so that `src()`/`dst()` and the
    /// stream see it from then on. False where the context cannot (nothing happens).
    fn set_addr(&self, _part: crate::stream::set_addr::AddrPart, _value: Sample) -> bool {
        false
    }
    /// Local address the client connected to (`dst`, `dst_port`).
    fn dst(&self) -> Option<SocketAddr> {
        None
    }
    fn frontend_name(&self) -> Option<&str> {
        None
    }
    fn backend_name(&self) -> Option<&str> {
        None
    }
    fn server_name(&self) -> Option<&str> {
        None
    }
    /// Usable servers in `backend` (`None`: the current backend).
    fn nbsrv(&self, _backend: Option<&str>) -> Option<i64> {
        None
    }
    /// Live connections on `frontend` (`None`: the current one) (`fe_conn`).
    fn fe_conn(&self, _frontend: Option<&str>) -> Option<i64> {
        None
    }
    /// Live connections on `backend` (`None`: the current one) (`be_conn`).
    fn be_conn(&self, _backend: Option<&str>) -> Option<i64> {
        None
    }
    /// A variable's value.
    fn var(&self, _name: &VarName) -> Option<Sample> {
        None
    }
    /// Sets (`Some`) or unsets (`None`) a variable from a `set-var()`/`unset-var()`
    /// converter; false when this context cannot store variables.
    fn set_var(&self, _name: &VarName, _value: Option<Sample>) -> bool {
        false
    }
    /// Stores `value` in capture slot `slot` of the request (or the response) from a
    /// `capture-req()`/`capture-res()` converter; false when this context has no
    /// transaction to store it in.
    fn set_capture(&self, _response: bool, _slot: usize, _value: &[u8]) -> bool {
        false
    }
    /// The rule that ended its list with a verdict last (`last_rule_file`,
    /// `last_rule_line`): the HTTP transaction's, or in TCP mode the content rules'.
    fn last_rule(&self) -> Option<&crate::config::model::Location> {
        self.http_txn()?.last_rule.as_ref()
    }
    /// The process environment (`env(name)`).
    fn env(&self, name: &str) -> Option<Vec<u8>> {
        use std::os::unix::ffi::OsStringExt;
        std::env::var_os(name).map(|v| v.into_vec())
    }
    /// The current date (`date`, `uuid`'s randomness is separate).
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
    /// 32 random bits (`rand`, `uuid`).
    fn random_u32(&self) -> u32 {
        fetch::random_u32()
    }
    /// The HTTP request head of the transaction (`method`, `path`, `hdr` ...).
    fn http_req(&self) -> Option<&crate::http::Request> {
        None
    }
    /// The HTTP response head, once there is one (`status`, `res.hdr` ...).
    fn http_res(&self) -> Option<&crate::http::Response> {
        None
    }
    /// A `userlist` section by name (`http_auth`, `http_auth_group`).
    fn userlist(&self, _name: &str) -> Option<&crate::config::model::Userlist> {
        None
    }
    /// The HTTP transaction: buffered bodies, captures, `txn` variables.
    fn http_txn(&self) -> Option<&crate::http::txn::Txn> {
        None
    }
    /// The raw bytes waiting in a channel, for `tcp-request|tcp-response content`
    /// rules in TCP mode (`req.payload`, `res.len` ...). `None` where there is no raw
    /// buffer to inspect (HTTP mode, where HAProxy's payload fetches find nothing
    /// either).
    fn channel_data(&self, _dir: Dir) -> Option<ChannelData<'_>> {
        None
    }
    /// Called by a fetch whose answer may change once more data arrives (HAProxy's
    /// `SMP_F_MAY_CHANGE`): a rule whose condition fails or finds nothing because of
    /// it waits for more data instead of deciding.
    fn may_change(&self) {}
    /// Whether [`SampleCtx::may_change`] was called since the last call, and resets it.
    fn took_may_change(&self) -> bool {
        false
    }
}

/// Which channel a payload fetch reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Client to server (`req.*`).
    Req,
    /// Server to client (`res.*`).
    Res,
}

/// The bytes of a channel as a rule sees them.
#[derive(Clone, Copy, Debug)]
pub struct ChannelData<'a> {
    pub bytes: &'a [u8],
    /// No more bytes will be waited for: the inspect delay expired, the buffer is
    /// full or the sender closed. A fetch short of data then fails for good.
    pub last: bool,
}

/// A context for tests and for expressions evaluated outside any stream.
#[derive(Clone, Debug, Default)]
pub struct TestCtx {
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
    pub frontend: Option<String>,
    pub backend: Option<String>,
    pub server: Option<String>,
    pub nbsrv: Option<i64>,
    pub vars: Vars,
    /// Overrides the process environment for `env()` when set.
    pub env: Option<Vec<(String, String)>>,
    pub now: Option<SystemTime>,
}

impl SampleCtx for TestCtx {
    fn src(&self) -> Option<SocketAddr> {
        self.src
    }
    fn dst(&self) -> Option<SocketAddr> {
        self.dst
    }
    fn frontend_name(&self) -> Option<&str> {
        self.frontend.as_deref()
    }
    fn backend_name(&self) -> Option<&str> {
        self.backend.as_deref()
    }
    fn server_name(&self) -> Option<&str> {
        self.server.as_deref()
    }
    fn nbsrv(&self, _backend: Option<&str>) -> Option<i64> {
        self.nbsrv
    }
    fn var(&self, name: &VarName) -> Option<Sample> {
        self.vars.get(name).cloned()
    }
    fn env(&self, name: &str) -> Option<Vec<u8>> {
        match &self.env {
            Some(list) => list
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone().into_bytes()),
            None => std::env::var(name).ok().map(String::into_bytes),
        }
    }
    fn now(&self) -> SystemTime {
        self.now.unwrap_or_else(SystemTime::now)
    }
}

/// An expression that failed to compile. `Display` gives HAProxy's wording of the
/// reason, as `haproxy -c` prints it after `failed to parse sample expression <...> : `.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

/// A compiled converter call.
#[derive(Clone, Debug)]
struct ConvCall {
    conv: &'static conv::Conv,
    args: Vec<Arg>,
}

impl ConvCall {
    /// The converter's keyword, `lua.NAME` for a Lua one.
    fn display_name(&self) -> String {
        match &self.args[..] {
            [Arg::Str(n), ..] if std::ptr::eq(self.conv, &lua::LUA_CONV) => format!("lua.{n}"),
            _ => self.conv.name.to_string(),
        }
    }
}

/// A compiled sample expression: a fetch and its converters, arguments parsed and
/// checked once.
#[derive(Clone, Debug)]
pub struct Expr {
    fetch: &'static fetch::Fetch,
    fetch_args: Vec<Arg>,
    convs: Vec<ConvCall>,
}

impl Expr {
    /// Compiles `text` (the whole of it) into an expression.
    pub fn parse(text: &str) -> Result<Expr, ParseError> {
        let (e, used) = Expr::parse_prefix(text)?;
        if used != text.len() {
            return Err(ParseError(format!(
                "missing comma after fetch keyword '{}'",
                e.keyword()
            )));
        }
        Ok(e)
    }

    /// Compiles the expression at the start of `text` and returns how many bytes it
    /// used: the log-format and rule parsers call this and carry on after it.
    pub fn parse_prefix(text: &str) -> Result<(Expr, usize), ParseError> {
        let b = text.as_bytes();
        let name_end = keyword_end(b, 0);
        if name_end == 0 {
            return Err(ParseError("missing fetch method".into()));
        }
        let name = &text[..name_end];
        if let Some(lua_name) = name.strip_prefix("lua.") {
            return Expr::parse_lua_fetch(text, lua_name);
        }
        let fetch = fetch::lookup(name).ok_or_else(|| {
            ParseError(if let Some(why) = fetch::htx_internal_refusal(name) {
                why
            } else if crate::config::fetches::KNOWN_FETCHES.contains(&name) {
                format!("fetch method '{name}' is not supported yet")
            } else {
                format!("unknown fetch method '{name}'")
            })
        })?;
        let mut pos = name_end;
        let mut fetch_args = Vec::new();
        if b.get(pos) == Some(&b'(') {
            let (raw, next) = args::split(text, pos + 1, fetch.args.max())
                .map_err(|e| ParseError(format!("fetch method '{name}' : {e}")))?;
            fetch_args = args::type_args(&raw, fetch.args)
                .map_err(|e| ParseError(format!("fetch method '{name}' : {}", e.msg)))?;
            (fetch.check)(&mut fetch_args)
                .map_err(|e| ParseError(format!("invalid args in fetch method '{name}' : {e}")))?;
            pos = next;
        }
        Expr::parse_convs(text, pos, fetch, fetch_args)
    }

    /// `lua.NAME(args)` at the start of `text` (see [`lua`]).
    fn parse_lua_fetch(text: &str, lua_name: &str) -> Result<(Expr, usize), ParseError> {
        let name = &text[..4 + lua_name.len()];
        if lua_name.is_empty() || !lua::is_known(lua_name, false) {
            return Err(ParseError(format!("unknown fetch method '{name}'")));
        }
        let mut pos = name.len();
        let mut args = Vec::new();
        if text.as_bytes().get(pos) == Some(&b'(') {
            let (raw, next) = args::split(text, pos + 1, lua::MAX_ARGS)
                .map_err(|e| ParseError(format!("fetch method '{name}' : {e}")))?;
            args = raw;
            pos = next;
        }
        let fetch_args = lua::compiled_args(lua_name, args);
        Expr::parse_convs(text, pos, &lua::LUA_FETCH, fetch_args)
    }

    /// The converters after a fetch ending at `pos`.
    fn parse_convs(
        text: &str,
        mut pos: usize,
        fetch: &'static fetch::Fetch,
        fetch_args: Vec<Arg>,
    ) -> Result<(Expr, usize), ParseError> {
        let b = text.as_bytes();
        let name = match &fetch_args[..] {
            [Arg::Str(n), ..] if std::ptr::eq(fetch, &lua::LUA_FETCH) => format!("lua.{n}"),
            _ => fetch.name.to_string(),
        };
        let mut out = fetch.out;
        let mut convs: Vec<ConvCall> = Vec::new();
        loop {
            match b.get(pos) {
                None | Some(b' ' | b'\t' | b']' | b')' | b'}') => break,
                Some(b',') => pos += 1,
                Some(_) => {
                    let what = match convs.last() {
                        None => format!("fetch keyword '{name}'"),
                        Some(c) => format!("converter '{}'", c.display_name()),
                    };
                    return Err(ParseError(format!("missing comma after {what}")));
                }
            }
            let end = keyword_end(b, pos);
            if end == pos {
                // `str(x),,lower` and a trailing comma are accepted by HAProxy.
                continue;
            }
            let cname = &text[pos..end];
            if let Some(lua_name) = cname.strip_prefix("lua.") {
                if lua_name.is_empty() || !lua::is_known(lua_name, true) {
                    return Err(ParseError(format!("unknown converter '{cname}'")));
                }
                pos = end;
                let mut cargs = Vec::new();
                if b.get(pos) == Some(&b'(') {
                    let (raw, next) = args::split(text, pos + 1, lua::MAX_ARGS).map_err(|e| {
                        ParseError(format!(
                            "invalid arg {} in converter '{cname}' : {e}",
                            e.arg
                        ))
                    })?;
                    cargs = raw;
                    pos = next;
                }
                out = lua::LUA_CONV.out;
                convs.push(ConvCall {
                    conv: &lua::LUA_CONV,
                    args: lua::compiled_args(lua_name, cargs),
                });
                continue;
            }
            let conv = conv::lookup(cname).ok_or_else(|| {
                ParseError(if conv::KNOWN_CONVERTERS.contains(&cname) {
                    format!("converter '{cname}' is not supported yet")
                } else {
                    format!("unknown converter '{cname}'")
                })
            })?;
            pos = end;
            let mut cargs = Vec::new();
            if b.get(pos) == Some(&b'(') {
                let (raw, next) = args::split(text, pos + 1, conv.args.max()).map_err(|e| {
                    ParseError(format!(
                        "invalid arg {} in converter '{cname}' : {e}",
                        e.arg
                    ))
                })?;
                cargs = args::type_args(&raw, conv.args).map_err(|e| {
                    ParseError(format!(
                        "invalid arg {} in converter '{cname}' : {}",
                        e.arg, e.msg
                    ))
                })?;
                (conv.check)(&mut cargs).map_err(|e| {
                    ParseError(format!("invalid args in converter '{cname}' : {e}"))
                })?;
                pos = next;
            }
            if !out.can_cast(conv.input) {
                return Err(ParseError(format!("converter '{cname}' cannot be applied")));
            }
            out = conv.out;
            convs.push(ConvCall { conv, args: cargs });
        }
        Ok((
            Expr {
                fetch,
                fetch_args,
                convs,
            },
            pos,
        ))
    }

    /// The fetch keyword as written: its name, `lua.NAME` for a Lua fetch.
    pub fn keyword(&self) -> String {
        match &self.fetch_args[..] {
            [Arg::Str(n), ..] if std::ptr::eq(self.fetch, &lua::LUA_FETCH) => format!("lua.{n}"),
            _ => self.fetch.name.to_string(),
        }
    }

    /// The fetch keyword's name (ACL errors quote it).
    pub fn fetch_name(&self) -> &'static str {
        self.fetch.name
    }

    /// The type the expression produces (`Any` when only known at run time).
    pub fn out_type(&self) -> SampleType {
        self.convs.last().map_or(self.fetch.out, |c| c.conv.out)
    }

    /// Evaluates the expression; `None` when a fetch finds nothing or a converter or a
    /// cast fails, as HAProxy drops the sample.
    pub fn eval(&self, cx: &dyn SampleCtx) -> Option<Sample> {
        let mut s = (self.fetch.run)(&self.fetch_args, cx)?;
        for c in &self.convs {
            s = s.cast(c.conv.input)?;
            s = (c.conv.run)(s, &c.args, cx)?;
        }
        Some(s)
    }

    /// Calls `f` on each string value of the expression, borrowed (no sample is
    /// built), until it returns true: `Some(whether one did)`, or `None` when the
    /// expression has converters or its fetch has no borrowed path for these arguments
    /// ([`fetch::Fetch::visit`]).
    pub fn visit_strs(&self, cx: &dyn SampleCtx, f: &mut dyn FnMut(&[u8]) -> bool) -> Option<bool> {
        if !self.convs.is_empty() {
            return None;
        }
        (self.fetch.visit?)(&self.fetch_args, cx, f)
    }

    /// Whether the fetch may have several values ([`Expr::eval_all`] differs from
    /// [`Expr::eval`]).
    pub fn has_occurrences(&self) -> bool {
        self.fetch.all.is_some()
    }

    /// Evaluates every value of a multi-occurrence fetch (`hdr(x)` on `X: a, b`), each
    /// through the converters, as an ACL sees them; one value for other fetches.
    pub fn eval_all(&self, cx: &dyn SampleCtx) -> Vec<Sample> {
        let Some(values) = self.fetch.all.and_then(|all| all(&self.fetch_args, cx)) else {
            return self.eval(cx).into_iter().collect();
        };
        values
            .into_iter()
            .filter_map(|mut s| {
                for c in &self.convs {
                    s = s.cast(c.conv.input)?;
                    s = (c.conv.run)(s, &c.args, cx)?;
                }
                Some(s)
            })
            .collect()
    }

    /// Evaluates and renders as text, as `%[expr]` in a log-format does.
    pub fn eval_str(&self, cx: &dyn SampleCtx) -> Option<Vec<u8>> {
        self.eval(cx)?.into_bytes()
    }
}

/// The start of [`apply_converter`]'s chain: the input, of any type.
static INPUT: fetch::Fetch = fetch::Fetch {
    name: "input",
    args: args::ArgSpec::NONE,
    out: SampleType::Any,
    check: |_| Ok(()),
    run: |_, _| None,
    all: None,
    visit: None,
};

/// Applies the converter `call` (`name` or `name(args)`, as written in an expression)
/// to `input`, as the Lua `Converters` class does (`txn.c:sdbm(s, 1)`). `Ok(None)`: the
/// input's cast or the converter failed.
pub fn apply_converter(
    call: &str,
    input: Sample,
    cx: &dyn SampleCtx,
) -> Result<Option<Sample>, ParseError> {
    let text = format!(",{call}");
    let (e, used) = Expr::parse_convs(&text, 0, &INPUT, Vec::new())?;
    if used != text.len() || e.convs.len() != 1 {
        return Err(ParseError(format!("invalid converter call '{call}'")));
    }
    let mut s = input;
    for c in &e.convs {
        let Some(cast) = s.cast(c.conv.input) else {
            return Ok(None);
        };
        let Some(out) = (c.conv.run)(cast, &c.args, cx) else {
            return Ok(None);
        };
        s = out;
    }
    Ok(Some(s))
}

/// End of a keyword name starting at `from`: letters, digits and `_ . + -` (HAProxy
/// accepts names such as `req.hdr`, `base32+src` and `set-var`).
fn keyword_end(b: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'.' | b'+' | b'-'))
    {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests;
