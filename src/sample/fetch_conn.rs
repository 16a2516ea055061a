//! Sample fetches about the connections and the process: the front and back
//! connections' addresses (`fc_src`, `bc_src`, `bc_dst`...), whether an address is local
//! (`src_is_local`), the client socket's TCP_INFO (`fc_rtt`, `fc_retrans`...), HTTP
//! versions and connection errors, the listener (`so_id`, `so_name`, `dst_conn`), the
//! client's PROXY v2 TLVs (`fc_pp_authority`, `fc_pp_unique_id`), and the process
//! (`hostname`, `thread`, `stopping`, `date_us`), as HAProxy 2.6 defines them.
//!
//! What moonproxy does not keep is said where the fetch is: the HTTP major version is
//! read from the request (2 for one received over HTTP/2, 1 before any request), and
//! no connection error codes are recorded during a stream (`fc_err` is 0, `fc_err_str`
//! says `Success`).

use super::args::{Arg, ArgSpec, ArgType};
use super::fetch::Fetch;
use super::{Sample, SampleCtx, SampleType};
use crate::sys::tcp_info::TcpInfo;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::UNIX_EPOCH;

use ArgType as A;
use SampleType as T;

const NO_ARG: ArgSpec = ArgSpec::NONE;
const UNIT: ArgSpec = ArgSpec { types: &[A::Str], mandatory: 0 };

macro_rules! fetch {
    ($name:expr, $args:expr, $out:expr, $check:expr, $run:expr) => {
        Fetch { name: $name, args: $args, out: $out, check: $check, run: $run, all: None, visit: None }
    };
}

fn no_check(_: &mut [Arg]) -> Result<(), String> {
    Ok(())
}

/// The unit of the TCP_INFO times: `us` or `ms` (the default).
fn check_unit(a: &mut [Arg]) -> Result<(), String> {
    match a.first().and_then(Arg::str) {
        None | Some("ms" | "us") => Ok(()),
        Some(u) => Err(format!("expects 'us' or 'ms', got '{u}'")),
    }
}

/// The process is stopping (a soft stop began): `stopping`.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Records that the process began to stop (`stopping` is then true).
pub fn set_stopping() {
    STOPPING.store(true, Ordering::Relaxed);
}

/// Every fetch this module implements.
pub static FETCHES: &[Fetch] = &[
    // The server connection: its destination is the chosen server's address, its
    // source the socket's local address (at log time, the one the stream kept).
    fetch!("bc_src", NO_ARG, T::Sint, note_backend_src, |_, cx| Some(Sample::ip(backend_src(cx)?.ip()))),
    fetch!("bc_src_port", NO_ARG, T::Sint, note_backend_src, |_, cx| Some(Sample::Sint(i64::from(backend_src(cx)?.port())))),
    fetch!("bc_dst", NO_ARG, T::Sint, no_check, |_, cx| Some(Sample::ip(server_addr(cx)?.ip()))),
    fetch!("bc_dst_port", NO_ARG, T::Sint, no_check, |_, cx| Some(Sample::Sint(i64::from(server_addr(cx)?.port())))),
    fetch!("bc_err", NO_ARG, T::Sint, no_check, |_, cx| {
        server_addr(cx)?;
        Some(Sample::Sint(0))
    }),
    fetch!("bc_err_str", NO_ARG, T::Str, no_check, |_, cx| {
        server_addr(cx)?;
        Some(Sample::str(NO_ERROR))
    }),
    fetch!("bc_http_major", NO_ARG, T::Sint, no_check, |_, cx| {
        server_addr(cx)?;
        Some(Sample::Sint(1))
    }),
    fetch!("date_us", NO_ARG, T::Sint, no_check, |_, cx| {
        Some(Sample::Sint(i64::from(cx.now().duration_since(UNIX_EPOCH).ok()?.subsec_micros())))
    }),
    // The listener the client connected to: its live connections (this one
    // included), its `id` and its `name` (none without one).
    fetch!("dst_conn", NO_ARG, T::Sint, no_check, |_, cx| listener(cx, |l| Some(Sample::Sint(i64::from(l.conns))))),
    fetch!("so_id", NO_ARG, T::Sint, no_check, |_, cx| listener(cx, |l| Some(Sample::Sint(i64::from(l.id))))),
    fetch!("so_name", NO_ARG, T::Str, no_check, |_, cx| listener(cx, |l| Some(Sample::str(l.name.as_deref()?)))),
    // The client's PROXY protocol v2 header (`accept-proxy`): its TLVs.
    fetch!("fc_pp_authority", NO_ARG, T::Str, no_check, |_, cx| Some(Sample::Str(cx.client_conn()?.pp?.authority.clone()?))),
    fetch!("fc_pp_unique_id", NO_ARG, T::Str, no_check, |_, cx| Some(Sample::Str(cx.client_conn()?.pp?.unique_id.clone()?))),
    fetch!("dst_is_local", NO_ARG, T::Bool, no_check, |_, cx| Some(Sample::Bool(is_local(cx.dst()?.ip())))),
    fetch!("fc_dst", NO_ARG, T::Ipv4, no_check, |_, cx| Some(Sample::ip(front(cx)?.0.ip()))),
    fetch!("fc_dst_is_local", NO_ARG, T::Bool, no_check, |_, cx| Some(Sample::Bool(is_local(front(cx)?.0.ip())))),
    fetch!("fc_dst_port", NO_ARG, T::Sint, no_check, |_, cx| Some(Sample::Sint(i64::from(front(cx)?.0.port())))),
    fetch!("fc_err", NO_ARG, T::Sint, no_check, |_, _| Some(Sample::Sint(0))),
    fetch!("fc_err_str", NO_ARG, T::Str, no_check, |_, _| Some(Sample::str(NO_ERROR))),
    fetch!("fc_fackets", UNIT, T::Sint, check_unit, |_, cx| count(cx, |t| t.fackets)),
    // 2 on an HTTP/2 connection, known here from its request (1 before any request).
    fetch!("fc_http_major", NO_ARG, T::Sint, no_check, |_, cx| {
        let h2 = cx.http_req().is_some_and(|r| r.line.version == crate::http::Version::Http2);
        Some(Sample::Sint(if h2 { 2 } else { 1 }))
    }),
    fetch!("fc_lost", UNIT, T::Sint, check_unit, |_, cx| count(cx, |t| t.lost)),
    fetch!("http_first_req", NO_ARG, T::Bool, no_check, |_, cx| Some(Sample::Bool(cx.client_conn()?.first_req?))),
    fetch!("fc_rcvd_proxy", NO_ARG, T::Bool, no_check, |_, cx| Some(Sample::Bool(cx.client_conn()?.rcvd_proxy))),
    fetch!("fc_reordering", UNIT, T::Sint, check_unit, |_, cx| count(cx, |t| t.reordering)),
    fetch!("fc_retrans", UNIT, T::Sint, check_unit, |_, cx| count(cx, |t| t.retrans)),
    fetch!("fc_rtt", UNIT, T::Sint, check_unit, |a, cx| time(a, cx, |t| t.rtt_us)),
    fetch!("fc_rttvar", UNIT, T::Sint, check_unit, |a, cx| time(a, cx, |t| t.rttvar_us)),
    fetch!("fc_sacked", UNIT, T::Sint, check_unit, |_, cx| count(cx, |t| t.sacked)),
    fetch!("fc_src", NO_ARG, T::Ipv4, no_check, |_, cx| Some(Sample::ip(front(cx)?.1.ip()))),
    fetch!("fc_src_is_local", NO_ARG, T::Bool, no_check, |_, cx| Some(Sample::Bool(is_local(front(cx)?.1.ip())))),
    fetch!("fc_src_port", NO_ARG, T::Sint, no_check, |_, cx| Some(Sample::Sint(i64::from(front(cx)?.1.port())))),
    fetch!("fc_unacked", UNIT, T::Sint, check_unit, |_, cx| count(cx, |t| t.unacked)),
    // Per-stream task profiling: moonproxy's `set profiling tasks` counts per task
    // kind, not per stream, so these are 0 (HAProxy counts the stream task's calls
    // even when profiling is off).
    fetch!("cpu_calls", NO_ARG, T::Sint, no_check, |_, _| Some(Sample::Sint(0))),
    fetch!("cpu_ns_avg", NO_ARG, T::Sint, no_check, |_, _| Some(Sample::Sint(0))),
    fetch!("cpu_ns_tot", NO_ARG, T::Sint, no_check, |_, _| Some(Sample::Sint(0))),
    fetch!("lat_ns_avg", NO_ARG, T::Sint, no_check, |_, _| Some(Sample::Sint(0))),
    fetch!("lat_ns_tot", NO_ARG, T::Sint, no_check, |_, _| Some(Sample::Sint(0))),
    // moonproxy refuses `set-priority-class|offset`: a stream keeps the default, 0.
    fetch!("prio_class", NO_ARG, T::Sint, no_check, |_, _| Some(Sample::Sint(0))),
    fetch!("prio_offset", NO_ARG, T::Sint, no_check, |_, _| Some(Sample::Sint(0))),
    fetch!("hostname", NO_ARG, T::Str, no_check, |_, _| Some(Sample::str(crate::log::target::system_hostname()))),
    // One process since HAProxy 2.5 (`nbproc` is gone): always 1.
    fetch!("nbproc", NO_ARG, T::Sint, no_check, |_, _| Some(Sample::Sint(1))),
    fetch!("proc", NO_ARG, T::Sint, no_check, |_, _| Some(Sample::Sint(1))),
    fetch!("src_is_local", NO_ARG, T::Bool, no_check, |_, cx| Some(Sample::Bool(is_local(cx.src()?.ip())))),
    fetch!("stopping", NO_ARG, T::Bool, no_check, |_, _| Some(Sample::Bool(STOPPING.load(Ordering::Relaxed)))),
    // From 0 to `nbthread` - 1.
    fetch!("thread", NO_ARG, T::Sint, no_check, |_, _| {
        Some(Sample::Sint(crate::runtime::threads::local().map_or(0, |l| l.number() as i64 - 1)))
    }),
];

/// The fetch named `name`.
pub fn lookup(name: &str) -> Option<&'static Fetch> {
    FETCHES.iter().find(|f| f.name == name)
}

/// What `fc_err_str` and `bc_err_str` say of a connection without error (HAProxy's
/// wording).
const NO_ERROR: &str = "Success";

/// The front connection's own local and peer addresses: those of its socket (a PROXY
/// header changes `src`/`dst`, not these), or without a socket, `dst` and `src`.
fn front(cx: &dyn SampleCtx) -> Option<(SocketAddr, SocketAddr)> {
    match cx.client_conn().and_then(|c| c.fd).and_then(crate::sys::tcp_info::addrs) {
        Some(a) => Some(a),
        None => Some((cx.dst()?, cx.src()?)),
    }
}

/// The address of the server the stream uses, once one is chosen (`bc_*`).
fn server_addr(cx: &dyn SampleCtx) -> Option<SocketAddr> {
    let srv = cx.server_name()?;
    let be = cx.backend_name()?;
    crate::lua::api::fetches::with_world(|w| {
        let (proxies, pool) = w?.proxies()?;
        let i = proxies.iter().position(|p| p.name == be)?;
        let b = pool.backend_state(i)?;
        b.server(b.server_by_name(srv)?).socket_addr()
    })
}

/// `bc_src`/`bc_src_port` in an expression: streams keep their server connection's
/// local address for it, as for `%bi` (see `crate::log::format::backend_src_used`).
fn note_backend_src(_: &mut [Arg]) -> Result<(), String> {
    crate::log::format::note_var(crate::log::format::Var::BackendSrcIp);
    Ok(())
}

/// The local address of the stream's server connection: the open socket's, else the
/// one kept for the log line.
fn backend_src(cx: &dyn SampleCtx) -> Option<SocketAddr> {
    let c = cx.client_conn()?;
    c.server_fd.and_then(crate::sys::tcp_info::addrs).map(|(local, _)| local).or(c.backend_src)
}

/// What a sample needs of a listener (`so_id`, `so_name`, `dst_conn`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListenerFacts {
    /// `id` on the bind line, else its number within the frontend.
    pub id: u32,
    /// `name` on the bind line.
    pub name: Option<String>,
    /// Live connections accepted on it (on this thread).
    pub conns: u32,
}

thread_local! {
    /// The thread's listeners, by the index streams know them by
    /// ([`ClientConn::listener`]); set by the thread's world ([`set_listeners`]).
    static LISTENERS: std::cell::RefCell<Vec<ListenerFacts>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The thread's listeners, in the order of its listener table.
pub fn set_listeners(all: Vec<ListenerFacts>) {
    LISTENERS.with(|l| *l.borrow_mut() = all);
}

/// The live connection count of the thread's listener `index` changed.
pub fn set_listener_conns(index: usize, conns: u32) {
    LISTENERS.with(|l| {
        if let Some(f) = l.borrow_mut().get_mut(index) {
            f.conns = conns;
        }
    });
}

fn listener(cx: &dyn SampleCtx, f: impl FnOnce(&ListenerFacts) -> Option<Sample>) -> Option<Sample> {
    let i = cx.client_conn()?.listener?;
    LISTENERS.with(|l| f(l.borrow().get(i)?))
}

/// Whether `ip` is an address of this host: one a socket can be bound to (the test
/// HAProxy makes).
fn is_local(ip: IpAddr) -> bool {
    let domain = if ip.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
    socket2::Socket::new(domain, socket2::Type::STREAM, None).is_ok_and(|s| s.bind(&SocketAddr::new(ip, 0).into()).is_ok())
}

/// The client socket's TCP_INFO.
fn tcp_info(cx: &dyn SampleCtx) -> Option<TcpInfo> {
    crate::sys::tcp_info::read(cx.client_conn()?.fd?)
}

fn count(cx: &dyn SampleCtx, field: fn(&TcpInfo) -> u32) -> Option<Sample> {
    Some(Sample::Sint(i64::from(field(&tcp_info(cx)?))))
}

/// A TCP_INFO time in the unit asked (milliseconds by default).
fn time(a: &[Arg], cx: &dyn SampleCtx, field: fn(&TcpInfo) -> u32) -> Option<Sample> {
    let us = i64::from(field(&tcp_info(cx)?));
    Some(Sample::Sint(match a.first().and_then(Arg::str) {
        Some("us") => us,
        _ => us / 1000,
    }))
}

/// What the stream knows of its client connection beyond its addresses, and of its
/// server connection's socket.
#[derive(Clone, Debug, Default)]
pub struct ClientConn {
    /// The socket, for TCP_INFO (`fc_rtt`...); `None` without one (a Lua applet's).
    pub fd: Option<std::os::fd::RawFd>,
    /// It started with a PROXY protocol header (`fc_rcvd_proxy`).
    pub rcvd_proxy: bool,
    /// In an HTTP transaction: whether it is the connection's first
    /// (`http_first_req`); `None` outside one.
    pub first_req: Option<bool>,
    /// The listener that accepted it: its index in the thread's table (`so_id`...).
    pub listener: Option<usize>,
    /// The TLVs of its PROXY v2 header (`fc_pp_authority`, `fc_pp_unique_id`).
    pub pp: Option<std::sync::Arc<PpTlvs>>,
    /// The server connection's socket while it is open (`bc_src`).
    pub server_fd: Option<std::os::fd::RawFd>,
    /// The server connection's local address the stream kept (`bc_src` in a log line,
    /// once the connection may be closed).
    pub backend_src: Option<SocketAddr>,
}

/// The TLVs of a client's PROXY v2 header that fetches read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PpTlvs {
    /// `PP2_TYPE_AUTHORITY`: the host name the client asked for (`fc_pp_authority`).
    pub authority: Option<Vec<u8>>,
    /// `PP2_TYPE_UNIQUE_ID`: the sender's unique id (`fc_pp_unique_id`).
    pub unique_id: Option<Vec<u8>>,
}

impl PpTlvs {
    /// The TLVs of `header` (a whole PROXY header); `None` when it has none of them.
    pub fn from_header(header: &[u8]) -> Option<PpTlvs> {
        use crate::proxy_protocol::{v2_tlvs, PP2_TYPE_AUTHORITY, PP2_TYPE_UNIQUE_ID};
        let mut t = PpTlvs::default();
        for (kind, value) in v2_tlvs(header) {
            match kind {
                PP2_TYPE_AUTHORITY => t.authority = Some(value.to_vec()),
                PP2_TYPE_UNIQUE_ID => t.unique_id = Some(value.to_vec()),
                _ => {}
            }
        }
        (t != PpTlvs::default()).then_some(t)
    }
}

impl ClientConn {
    /// The facts during an HTTP transaction after `done` others on the connection.
    pub fn in_txn(self, done: u64) -> ClientConn {
        ClientConn { first_req: Some(done == 0), ..self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{Expr, TestCtx};

    fn eval(e: &str) -> Option<Sample> {
        Expr::parse(e).unwrap().eval(&TestCtx::default())
    }

    #[test]
    fn process_fetches() {
        assert_eq!(eval("nbproc"), Some(Sample::Sint(1)));
        assert_eq!(eval("proc"), Some(Sample::Sint(1)));
        assert_eq!(eval("thread"), Some(Sample::Sint(0)));
        assert_eq!(eval("stopping"), Some(Sample::Bool(false)));
        assert!(matches!(eval("date_us"), Some(Sample::Sint(0..=999_999))));
        assert!(matches!(eval("hostname"), Some(Sample::Str(s)) if !s.is_empty()));
    }

    #[test]
    fn locality_is_a_bind_test() {
        assert!(is_local("127.0.0.1".parse().unwrap()));
        assert!(!is_local("192.0.2.1".parse().unwrap()), "TEST-NET-1 is nobody's");
    }

    #[test]
    fn listener_fetches_read_the_threads_table() {
        struct Cx(ClientConn);
        impl SampleCtx for Cx {
            fn client_conn(&self) -> Option<ClientConn> {
                Some(self.0.clone())
            }
        }
        set_listeners(vec![ListenerFacts { id: 1, name: None, conns: 0 }, ListenerFacts { id: 7, name: Some("web".into()), conns: 2 }]);
        set_listener_conns(1, 3);
        let cx = Cx(ClientConn { listener: Some(1), ..ClientConn::default() });
        let ev = |e: &str, cx: &Cx| Expr::parse(e).unwrap().eval(cx);
        assert_eq!(ev("so_id", &cx), Some(Sample::Sint(7)));
        assert_eq!(ev("so_name", &cx), Some(Sample::str("web")));
        assert_eq!(ev("dst_conn", &cx), Some(Sample::Sint(3)));
        let unnamed = Cx(ClientConn { listener: Some(0), ..ClientConn::default() });
        assert_eq!(ev("so_name", &unnamed), None, "no name, no sample (as HAProxy)");
        assert_eq!(eval("so_id"), None, "no listener in a test context");
        let v4 = crate::proxy_protocol::v2("1.2.3.4:5".parse().ok(), "5.6.7.8:9".parse().ok(), &[(crate::proxy_protocol::PP2_TYPE_UNIQUE_ID, b"u-1")]);
        let pp = PpTlvs::from_header(&v4).map(std::sync::Arc::new);
        let cx = Cx(ClientConn { pp, ..ClientConn::default() });
        assert_eq!(ev("fc_pp_unique_id", &cx), Some(Sample::str("u-1")));
        assert_eq!(ev("fc_pp_authority", &cx), None);
    }

    #[test]
    fn units_are_checked() {
        assert!(Expr::parse("fc_rtt(us)").is_ok() && Expr::parse("fc_rtt").is_ok());
        assert!(Expr::parse("fc_rtt(s)").unwrap_err().to_string().contains("expects 'us' or 'ms', got 's'"));
        assert_eq!(eval("fc_rtt"), None, "no socket in a test context");
    }
}
