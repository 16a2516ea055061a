//! Listening sockets: bind (from a `bind` line), accept until `WouldBlock`, and
//! pause/resume by deregistering from the poller (the kernel keeps queueing
//! connections in the backlog meanwhile, as HAProxy's paused listeners do).
//!
//! A listener knows its socket and its own `maxconn`; the decision to pause for the
//! global or frontend limits, for SIGTTOU or for a soft stop is taken by the runtime,
//! which calls [`Listener::set_active`] with the answer.

use crate::config::model::{Bind, BindAddr, Location};
use crate::reactor::{token, Key, Kind};
use crate::stream::conn::Sock;
use mio::{Interest, Registry};
use socket2::{Domain, SockAddr, Socket, Type};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

pub mod inherited;
pub mod rate;

/// SO_REUSEPORT on every TCP listener, as HAProxy sets it on Linux unless `noreuseport`
/// is in `global`: a new process binds beside the old one during a reload.
static REUSEPORT: AtomicBool = AtomicBool::new(true);

/// Whether TCP listeners opened from now on get SO_REUSEPORT (global `noreuseport`
/// turns it off; a `bind ... reuseport` line sets it anyway).
pub fn set_reuseport(on: bool) {
    REUSEPORT.store(on, Ordering::Relaxed);
}

/// Whether listeners get SO_REUSEPORT (see [`set_reuseport`]); the `log-forward` UDP
/// sockets follow it too.
pub fn reuseport() -> bool {
    REUSEPORT.load(Ordering::Relaxed)
}

/// Backlog when neither the bind line nor the frontend sets one nor a `maxconn` is known.
pub const DEFAULT_BACKLOG: i32 = 1024;

/// The bound socket.
pub enum ListenSock {
    Tcp(mio::net::TcpListener),
    Unix(mio::net::UnixListener),
}

/// Which step of opening a listener failed, worded as HAProxy words it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindStep {
    Create,
    Bind,
    Listen,
    Chmod,
    Chown,
    Inherit,
}

/// Why a `bind` address could not be opened.
#[derive(Debug)]
pub struct BindError {
    pub step: BindStep,
    pub error: io::Error,
    /// The address as HAProxy prints it (`127.0.0.1:80`, `/run/x.sock`, `abns@x`, `fd@3`).
    pub addr: String,
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.step {
            BindStep::Create => "cannot create listening socket",
            BindStep::Bind => "cannot bind socket",
            BindStep::Listen => "cannot listen to socket",
            BindStep::Chmod => "cannot change UNIX socket permissions",
            BindStep::Chown => "cannot change UNIX socket ownership",
            BindStep::Inherit => "cannot use inherited socket",
        };
        write!(f, "{what} ({}) for [{}]", strerror(&self.error), self.addr)
    }
}

/// The text of `strerror(errno)` without Rust's " (os error N)" suffix.
pub fn strerror(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// How an address is printed in messages.
pub fn describe(addr: &BindAddr) -> String {
    match addr {
        BindAddr::Inet(sa) => format!("{}:{}", sa.ip(), sa.port()),
        BindAddr::Unix(p) => p.display().to_string(),
        BindAddr::Abstract(n) => format!("abns@{n}"),
        BindAddr::Fd(n) => format!("fd@{n}"),
    }
}

/// One result of [`Listener::accept`].
pub enum Accept {
    /// A new connection, with the client's and our own address when they are inet.
    Conn { sock: Sock, peer: Option<SocketAddr>, local: Option<SocketAddr> },
    /// Nothing more to accept now.
    WouldBlock,
    /// A transient error (EMFILE, ECONNABORTED ...): stop this round.
    Failed(io::Error),
}

/// Whether the listener is in the poller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListenState {
    Active,
    Paused,
    Closed,
}

pub struct Listener {
    /// Index of the frontend (in the runtime's proxy table) the connections go to.
    pub proxy: usize,
    pub location: Location,
    pub addr: BindAddr,
    /// `name` on the bind line.
    pub name: Option<String>,
    /// `maxconn` on the bind line.
    pub maxconn: Option<u32>,
    /// Number of this listener within its frontend, from 1 (HAProxy's `luid`, as in
    /// the `Connect to unix:1` accept line).
    pub luid: u32,
    /// Live connections accepted here.
    pub conns: u32,
    /// `ssl crt ...`: accepted connections are TLS sessions with this config.
    pub tls: Option<crate::tls::BindTls>,
    /// `accept-proxy`: its connections start with a PROXY protocol header.
    pub accept_proxy: bool,
    /// `accept-netscaler-cip <magic>`: its connections start with a NetScaler Client
    /// IP header.
    pub netscaler_cip: Option<u32>,
    /// `proto h2`: its connections speak HTTP/2 from the first byte.
    pub proto_h2: bool,
    sock: Option<ListenSock>,
    state: ListenState,
    index: usize,
}

impl Listener {
    /// Opens the socket for one address of a `bind` line. Nothing is registered yet.
    /// `index` is this listener's slot in the runtime's listener table (its token).
    pub fn open(bind: &Bind, addr: &BindAddr, proxy: usize, index: usize, fe_backlog: Option<u32>, fe_maxconn: Option<u32>) -> Result<Listener, BindError> {
        let backlog = bind.backlog.or(fe_backlog).or(fe_maxconn).map(|b| b.min(i32::MAX as u32) as i32).unwrap_or(DEFAULT_BACKLOG);
        let err = |step, error| BindError { step, error, addr: describe(addr) };
        let sock = match addr {
            BindAddr::Inet(sa) => ListenSock::Tcp(open_inet(bind, *sa, backlog).map_err(|(s, e)| err(s, e))?),
            BindAddr::Unix(path) => ListenSock::Unix(open_unix(bind, path, backlog).map_err(|(s, e)| err(s, e))?),
            BindAddr::Abstract(name) => ListenSock::Unix(open_abstract(name, backlog).map_err(|(s, e)| err(s, e))?),
            BindAddr::Fd(fd) => open_inherited(*fd).map_err(|e| err(BindStep::Inherit, e))?,
        };
        Ok(Listener {
            proxy,
            location: bind.location.clone(),
            addr: addr.clone(),
            name: bind.name.clone(),
            maxconn: bind.maxconn,
            luid: 1,
            conns: 0,
            tls: bind.tls.clone(),
            accept_proxy: bind.accept_proxy,
            netscaler_cip: bind.tuning.netscaler_cip,
            proto_h2: bind.tuning.proto_h2,
            sock: Some(sock),
            state: ListenState::Paused,
            index,
        })
    }

    pub fn state(&self) -> ListenState {
        self.state
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match &self.sock {
            Some(ListenSock::Tcp(l)) => l.local_addr().ok(),
            _ => None,
        }
    }

    /// The socket's fd number, for `-d` traces.
    pub fn raw_fd(&self) -> Option<i32> {
        use std::os::fd::AsRawFd;
        match self.sock.as_ref()? {
            ListenSock::Tcp(l) => Some(l.as_raw_fd()),
            ListenSock::Unix(l) => Some(l.as_raw_fd()),
        }
    }

    /// `true` when the bind line's own `maxconn` is reached.
    pub fn full(&self) -> bool {
        self.maxconn.is_some_and(|m| m > 0 && self.conns >= m)
    }

    /// Registers (`want == true`) or deregisters the socket. A closed listener stays closed.
    pub fn set_active(&mut self, registry: &Registry, want: bool) -> io::Result<()> {
        let tok = token::encode(Kind::Listener, Key { slot: self.index, gen: 0 });
        let Some(sock) = self.sock.as_mut() else { return Ok(()) };
        match (self.state, want) {
            (ListenState::Paused, true) => {
                match sock {
                    ListenSock::Tcp(l) => registry.register(l, tok, Interest::READABLE)?,
                    ListenSock::Unix(l) => registry.register(l, tok, Interest::READABLE)?,
                }
                self.state = ListenState::Active;
            }
            (ListenState::Active, false) => {
                match sock {
                    ListenSock::Tcp(l) => registry.deregister(l)?,
                    ListenSock::Unix(l) => registry.deregister(l)?,
                }
                self.state = ListenState::Paused;
            }
            _ => {}
        }
        Ok(())
    }

    /// Registers the socket under `token` instead of its own listener token: the CLI's
    /// sockets (`stats socket`) are opened like `bind` lines but accepted by
    /// `crate::cli_socket`. Use either this or [`Listener::set_active`], not both.
    pub fn register_as(&mut self, registry: &Registry, token: mio::Token) -> io::Result<()> {
        let Some(sock) = self.sock.as_mut() else { return Ok(()) };
        match sock {
            ListenSock::Tcp(l) => registry.register(l, token, Interest::READABLE)?,
            ListenSock::Unix(l) => registry.register(l, token, Interest::READABLE)?,
        }
        self.state = ListenState::Active;
        Ok(())
    }

    /// Closes the socket for good (soft stop). A unix socket file is left in place, as
    /// HAProxy leaves it for the next process to take over.
    pub fn close(&mut self, registry: &Registry) {
        let _ = self.set_active(registry, false);
        self.sock = None;
        self.state = ListenState::Closed;
    }

    /// Another listener on the same socket (a `dup`: one accept queue), paused, for
    /// another reactor thread (`nbthread`): every thread registers its own copy in its
    /// own poller, and a thread that loses the race for a connection sees `WouldBlock`.
    pub fn try_clone(&self) -> io::Result<Listener> {
        use std::os::fd::AsFd;
        let sock = match self.sock.as_ref() {
            Some(ListenSock::Tcp(l)) => {
                Some(ListenSock::Tcp(mio::net::TcpListener::from_std(std::net::TcpListener::from(l.as_fd().try_clone_to_owned()?))))
            }
            Some(ListenSock::Unix(l)) => Some(ListenSock::Unix(mio::net::UnixListener::from_std(
                std::os::unix::net::UnixListener::from(l.as_fd().try_clone_to_owned()?),
            ))),
            None => None,
        };
        let state = if sock.is_some() { ListenState::Paused } else { ListenState::Closed };
        Ok(Listener {
            proxy: self.proxy,
            location: self.location.clone(),
            addr: self.addr.clone(),
            name: self.name.clone(),
            maxconn: self.maxconn,
            luid: self.luid,
            conns: 0,
            tls: self.tls.clone(),
            accept_proxy: self.accept_proxy,
            netscaler_cip: self.netscaler_cip,
            proto_h2: self.proto_h2,
            sock,
            state,
            index: self.index,
        })
    }

    /// The connection for an accepted socket: a TLS session on an `ssl` bind (its
    /// handshake runs on the stream's first reads), else the socket as it is.
    pub fn conn(&self, sock: Sock) -> io::Result<crate::stream::conn::Conn> {
        let conn = crate::stream::conn::Conn::new(sock);
        match &self.tls {
            Some(bind) => conn.into_tls(|tcp| crate::tls::TlsStream::accept_bind(tcp, bind)),
            None => Ok(conn),
        }
    }

    /// Accepts one connection. `Interrupted` is retried here.
    pub fn accept(&mut self) -> Accept {
        let Some(sock) = self.sock.as_ref() else { return Accept::WouldBlock };
        loop {
            let r = match sock {
                ListenSock::Tcp(l) => l.accept().map(|(s, peer)| {
                    let local = s.local_addr().ok();
                    let _ = s.set_nodelay(true);
                    (Sock::Tcp(s), Some(peer), local)
                }),
                ListenSock::Unix(l) => l.accept().map(|(s, _)| (Sock::Unix(s), None, None)),
            };
            return match r {
                Ok((sock, peer, local)) => Accept::Conn { sock, peer, local },
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Accept::WouldBlock,
                Err(e) => Accept::Failed(e),
            };
        }
    }
}

type StepResult<T> = Result<T, (BindStep, io::Error)>;

fn open_inet(bind: &Bind, sa: SocketAddr, backlog: i32) -> StepResult<mio::net::TcpListener> {
    if let Some(s) = inherited::take_inet(sa) {
        return adopt(s).map(mio::net::TcpListener::from_std);
    }
    let s = Socket::new(Domain::for_address(sa), Type::STREAM, None).map_err(|e| (BindStep::Create, e))?;
    let setup = || -> io::Result<()> {
        s.set_reuse_address(true)?;
        if bind.reuseport || REUSEPORT.load(Ordering::Relaxed) {
            s.set_reuse_port(true)?;
        }
        if sa.is_ipv6() {
            if bind.v6only {
                s.set_only_v6(true)?;
            } else if bind.v4v6 {
                s.set_only_v6(false)?;
            }
        }
        apply_bind_tuning(&s, &bind.tuning, sa, backlog)?;
        // `tune.rcvbuf.client` / `tune.sndbuf.client`, inherited by accepted sockets.
        crate::sys::sockopt::tune_client_buffers(&s)?;
        s.set_nonblocking(true)?;
        s.set_cloexec(true)
    };
    setup().map_err(|e| (BindStep::Create, e))?;
    s.bind(&sa.into()).map_err(|e| (BindStep::Bind, e))?;
    s.listen(backlog).map_err(|e| (BindStep::Listen, e))?;
    Ok(mio::net::TcpListener::from_std(s.into()))
}

/// `mss`, `interface`, `transparent`, `tcp-ut`, `tfo` (a queue as long as the backlog)
/// on a `bind` line.
fn apply_bind_tuning(s: &Socket, t: &crate::config::model::BindTuning, sa: SocketAddr, backlog: i32) -> io::Result<()> {
    if let Some(delay) = t.tcp_ut {
        crate::sys::sockopt::set_user_timeout(&socket2::SockRef::from(s), delay)?;
    }
    if t.tfo {
        crate::sys::sockopt::set_fastopen_listener(s, backlog)?;
    }
    if let Some(mss) = t.mss {
        s.set_tcp_mss(mss)?;
    }
    if let Some(name) = &t.interface {
        s.bind_device(Some(name.as_bytes()))?;
    }
    if t.transparent {
        let r = if sa.is_ipv4() { s.set_ip_transparent_v4(true) } else { s.set_ip_transparent_v6(true) };
        // As HAProxy says it; the kernel wants CAP_NET_ADMIN.
        r.map_err(|e| io::Error::new(e.kind(), format!("cannot make listening socket transparent ({e})")))?;
    }
    Ok(())
}

fn open_unix(bind: &Bind, path: &Path, backlog: i32) -> StepResult<mio::net::UnixListener> {
    if let Some(s) = inherited::take_unix(path) {
        return adopt(s).map(mio::net::UnixListener::from_std);
    }
    refuse_non_socket(path).map_err(|e| (BindStep::Bind, e))?;
    // Bound, set up and listening under a temporary name first, then renamed over
    // `path` in one step, as HAProxy does: a process still listening there (the one a
    // reload replaces) keeps its socket, a client connecting to `path` never finds it
    // missing, and a stale file left by a previous run is replaced the same way.
    let temp = temp_name(path);
    let _ = std::fs::remove_file(&temp); // left by a process that died half-way
    let s = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(|e| (BindStep::Create, e))?;
    s.set_nonblocking(true).map_err(|e| (BindStep::Create, e))?;
    s.set_cloexec(true).map_err(|e| (BindStep::Create, e))?;
    let addr = SockAddr::unix(&temp).map_err(|e| (BindStep::Bind, e))?;
    s.bind(&addr).map_err(|e| (BindStep::Bind, e))?;
    let install = || -> StepResult<()> {
        if let Some(mode) = bind.mode {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(mode)).map_err(|e| (BindStep::Chmod, e))?;
        }
        if bind.uid.is_some() || bind.gid.is_some() {
            std::os::unix::fs::chown(&temp, bind.uid, bind.gid).map_err(|e| (BindStep::Chown, e))?;
        }
        s.listen(backlog).map_err(|e| (BindStep::Listen, e))?;
        std::fs::rename(&temp, path).map_err(|e| (BindStep::Bind, e))
    };
    if let Err(e) = install() {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    Ok(mio::net::UnixListener::from_std(s.into()))
}

/// `<path>.<pid>.tmp`, the name HAProxy binds to before renaming over `path` (the
/// socket keeps reporting this name as its own address: [`inherited`] matches it).
fn temp_name(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{}.tmp", std::process::id()));
    PathBuf::from(name)
}

/// The rename would replace anything at `path`: only a socket may be replaced (a
/// regular file or a directory there is an "address in use", as `bind()` says).
fn refuse_non_socket(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => Err(io::Error::from_raw_os_error(libc::EADDRINUSE)),
        _ => Ok(()),
    }
}

/// A listening socket taken over from the previous process ([`inherited`]): the
/// same accept queue, put back in the state our own sockets are in.
fn adopt<T: From<Socket>>(s: Socket) -> StepResult<T> {
    s.set_nonblocking(true).map_err(|e| (BindStep::Inherit, e))?;
    s.set_cloexec(true).map_err(|e| (BindStep::Inherit, e))?;
    Ok(T::from(s))
}

/// The address of `abns@name` as HAProxy builds it: a leading NUL, the name, and
/// NUL padding to the full `sun_path` length. The padding is part of the name in
/// Linux's abstract namespace, so it must match for HAProxy (or another moonproxy)
/// to reach us with `server ... abns@name` (`/proc/net/unix` shows `@name@@@...`).
pub fn abstract_addr(name: &str) -> io::Result<SockAddr> {
    use std::os::unix::ffi::OsStrExt;
    const SUN_PATH_LEN: usize = 108;
    if name.len() + 1 > SUN_PATH_LEN {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    let mut bytes = [0u8; SUN_PATH_LEN];
    bytes[1..=name.len()].copy_from_slice(name.as_bytes());
    SockAddr::unix(std::ffi::OsStr::from_bytes(&bytes))
}

fn open_abstract(name: &str, backlog: i32) -> StepResult<mio::net::UnixListener> {
    let addr = abstract_addr(name).map_err(|e| (BindStep::Bind, e))?;
    if let Some(s) = inherited::take_abstract(&addr) {
        return adopt(s).map(mio::net::UnixListener::from_std);
    }
    let s = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(|e| (BindStep::Create, e))?;
    s.set_nonblocking(true).map_err(|e| (BindStep::Create, e))?;
    s.set_cloexec(true).map_err(|e| (BindStep::Create, e))?;
    s.bind(&addr).map_err(|e| (BindStep::Bind, e))?;
    s.listen(backlog).map_err(|e| (BindStep::Listen, e))?;
    Ok(mio::net::UnixListener::from_std(s.into()))
}

fn open_inherited(fd: i32) -> io::Result<ListenSock> {
    let s = crate::sys::fd::inherited_socket(fd)?;
    s.set_nonblocking(true)?;
    s.set_cloexec(true)?;
    let family = s.local_addr()?.family();
    Ok(if family == libc::AF_UNIX as libc::sa_family_t {
        ListenSock::Unix(mio::net::UnixListener::from_std(s.into()))
    } else {
        ListenSock::Tcp(mio::net::TcpListener::from_std(s.into()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn bind_line(addr: BindAddr) -> Bind {
        Bind::new(Location { file: Arc::from("t.cfg"), line: 3 }, vec![addr])
    }

    #[test]
    fn address_in_use_is_worded_like_haproxy() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = BindAddr::Inet(taken.local_addr().unwrap());
        let b = bind_line(addr.clone());
        let err = Listener::open(&b, &addr, 0, 0, None, None).err().expect("port is taken");
        assert_eq!(err.step, BindStep::Bind);
        assert_eq!(
            err.to_string(),
            format!("cannot bind socket (Address already in use) for [127.0.0.1:{}]", taken.local_addr().unwrap().port())
        );
    }

    #[test]
    fn ipv6_v6only_listener() {
        let addr = BindAddr::Inet("[::1]:0".parse().unwrap());
        let mut b = bind_line(addr.clone());
        b.v6only = true;
        match Listener::open(&b, &addr, 0, 0, None, None) {
            Ok(l) => assert!(l.local_addr().unwrap().is_ipv6()),
            // No IPv6 on this host: the error must still be a bind error.
            Err(e) => assert_eq!(e.step, BindStep::Bind, "{e}"),
        }
    }

    #[test]
    fn unix_socket_gets_mode_and_replaces_stale_file() {
        let dir = std::env::temp_dir().join(format!("mp-listener-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("s.sock");
        // A stale socket file: bound then closed.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let mut b = bind_line(BindAddr::Unix(path.clone()));
        b.mode = Some(0o600);
        let l = Listener::open(&b, &BindAddr::Unix(path.clone()), 0, 0, None, None).expect("stale file removed");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        std::os::unix::net::UnixStream::connect(&path).expect("listening");
        drop(l);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_live_unix_socket_is_replaced_by_rename_and_keeps_its_listener() {
        let dir = std::env::temp_dir().join(format!("mp-listener-live-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("live.sock");
        let b = bind_line(BindAddr::Unix(path.clone()));
        let mut old = Listener::open(&b, &BindAddr::Unix(path.clone()), 0, 0, None, None).unwrap();
        let mut new = Listener::open(&b, &BindAddr::Unix(path.clone()), 0, 1, None, None).expect("binds beside a live listener");
        // New clients reach the new socket; the old one is still open and listening.
        let _c = std::os::unix::net::UnixStream::connect(&path).unwrap();
        let accepted = |l: &mut Listener| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            loop {
                match l.accept() {
                    Accept::Conn { .. } => return true,
                    Accept::WouldBlock if std::time::Instant::now() < deadline => std::thread::sleep(std::time::Duration::from_millis(5)),
                    _ => return false,
                }
            }
        };
        assert!(accepted(&mut new));
        assert!(matches!(old.accept(), Accept::WouldBlock), "the old socket is not reached by the path any more, but still open");
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, [std::ffi::OsString::from("live.sock")], "no temporary name left");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_regular_file_is_not_replaced() {
        let dir = std::env::temp_dir().join(format!("mp-listener-file-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("not-a-socket");
        std::fs::write(&path, b"data").unwrap();
        let b = bind_line(BindAddr::Unix(path.clone()));
        let err = Listener::open(&b, &BindAddr::Unix(path.clone()), 0, 0, None, None).err().expect("refused");
        assert_eq!((err.step, err.error.raw_os_error()), (BindStep::Bind, Some(libc::EADDRINUSE)));
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn tcp_listeners_share_their_port_by_default() {
        let addr = BindAddr::Inet("127.0.0.1:0".parse().unwrap());
        let first = Listener::open(&bind_line(addr.clone()), &addr, 0, 0, None, None).unwrap();
        let same = BindAddr::Inet(first.local_addr().unwrap());
        assert!(Listener::open(&bind_line(same.clone()), &same, 0, 1, None, None).is_ok(), "SO_REUSEPORT, as HAProxy on Linux");
    }

    #[test]
    fn abstract_socket_listens_with_haproxy_padding() {
        let name = format!("moonproxy-test-{}", std::process::id());
        let b = bind_line(BindAddr::Abstract(name.clone()));
        let _l = Listener::open(&b, &BindAddr::Abstract(name.clone()), 0, 0, None, None).unwrap();
        let c = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
        c.connect(&abstract_addr(&name).unwrap()).expect("reachable at the padded address");
        let table = std::fs::read_to_string("/proc/net/unix").unwrap();
        let padded = format!("@{name}{}", "@".repeat(107 - name.len()));
        assert!(table.lines().any(|l| l.ends_with(&padded)), "listed as HAProxy lists it");
    }

    #[test]
    fn inherited_listening_socket_accepts() {
        use std::os::fd::IntoRawFd;
        let std_l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_l.local_addr().unwrap();
        let fd = std_l.into_raw_fd();
        let b = bind_line(BindAddr::Fd(fd));
        let mut l = Listener::open(&b, &BindAddr::Fd(fd), 0, 0, None, None).expect("adopts fd");
        assert_eq!(l.local_addr(), Some(addr));
        let _c = std::net::TcpStream::connect(addr).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            match l.accept() {
                Accept::Conn { peer, .. } => {
                    assert!(peer.is_some());
                    break;
                }
                Accept::WouldBlock if std::time::Instant::now() < deadline => std::thread::sleep(std::time::Duration::from_millis(5)),
                _ => panic!("no connection accepted on the inherited socket"),
            }
        }
    }

    #[test]
    fn inherited_fd_must_be_a_socket() {
        let b = bind_line(BindAddr::Fd(987));
        let err = Listener::open(&b, &BindAddr::Fd(987), 0, 0, None, None).err().unwrap();
        assert_eq!(err.step, BindStep::Inherit);
    }
}
