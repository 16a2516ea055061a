//! Sample fetches about the connections and the process: the front and back
//! connections' addresses (`fc_src`, `bc_dst`...), whether an address is local
//! (`src_is_local`), the client socket's TCP_INFO (`fc_rtt`, `fc_retrans`...), HTTP
//! versions and connection errors, and the process (`hostname`, `thread`, `stopping`,
//! `date_us`), as HAProxy 2.6 defines them.
//!
//! What moonproxy does not keep is said where the fetch is: it has no HTTP/2 (so the
//! HTTP major version is always 1) and records no connection error codes during a
//! stream (`fc_err` is 0, `fc_err_str` says `Success`).

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
    // The server connection: its destination is the chosen server's address. Its
    // source (`bc_src`, `bc_src_port`) is not recorded by the stream yet.
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
    fetch!("dst_is_local", NO_ARG, T::Bool, no_check, |_, cx| Some(Sample::Bool(is_local(cx.dst()?.ip())))),
    fetch!("fc_dst", NO_ARG, T::Ipv4, no_check, |_, cx| Some(Sample::ip(front(cx)?.0.ip()))),
    fetch!("fc_dst_is_local", NO_ARG, T::Bool, no_check, |_, cx| Some(Sample::Bool(is_local(front(cx)?.0.ip())))),
    fetch!("fc_dst_port", NO_ARG, T::Sint, no_check, |_, cx| Some(Sample::Sint(i64::from(front(cx)?.0.port())))),
    fetch!("fc_err", NO_ARG, T::Sint, no_check, |_, _| Some(Sample::Sint(0))),
    fetch!("fc_err_str", NO_ARG, T::Str, no_check, |_, _| Some(Sample::str(NO_ERROR))),
    fetch!("fc_fackets", UNIT, T::Sint, check_unit, |_, cx| count(cx, |t| t.fackets)),
    fetch!("fc_http_major", NO_ARG, T::Sint, no_check, |_, _| Some(Sample::Sint(1))),
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
        b.servers().iter().find(|s| s.name() == srv)?.socket_addr()
    })
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

/// What the stream knows of its client connection beyond its addresses.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientConn {
    /// The socket, for TCP_INFO (`fc_rtt`...); `None` without one (a Lua applet's).
    pub fd: Option<std::os::fd::RawFd>,
    /// It started with a PROXY protocol header (`fc_rcvd_proxy`).
    pub rcvd_proxy: bool,
    /// In an HTTP transaction: whether it is the connection's first
    /// (`http_first_req`); `None` outside one.
    pub first_req: Option<bool>,
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
    fn units_are_checked() {
        assert!(Expr::parse("fc_rtt(us)").is_ok() && Expr::parse("fc_rtt").is_ok());
        assert!(Expr::parse("fc_rtt(s)").unwrap_err().to_string().contains("expects 'us' or 'ms', got 's'"));
        assert_eq!(eval("fc_rtt"), None, "no socket in a test context");
    }
}
