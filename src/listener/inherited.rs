//! Listening sockets handed over by another moonproxy process, kept until a `bind`
//! line asks for the same address.
//!
//! Two paths fill this pool before the listeners are opened:
//! - a seamless reload (`-x <socket>`, or the old process found through `-sf`): the
//!   new process asks the old one's stats socket for its listeners (`_getsocks`) and
//!   receives them with `SCM_RIGHTS`;
//! - the master process re-executing itself (`-W`): its listening sockets survive
//!   `exec` and are named in the environment.
//!
//! [`crate::listener::Listener::open`] takes a socket from here when one is bound to
//! exactly the address of the `bind` line (same IP and port, same socket path, same
//! abstract name) instead of binding a new one, so the accept queue — and every
//! connection waiting in it — carries over from one process to the next. What no
//! `bind` line claims is closed by [`close_unclaimed`] once all listeners are open.

use socket2::{SockAddr, Socket};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Where a pooled socket listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bound {
    Inet(SocketAddr),
    Unix(PathBuf),
    /// The abstract name as the kernel reports it (padding included), without the leading NUL.
    Abstract(Vec<u8>),
}

impl Bound {
    fn of(addr: &SockAddr) -> Option<Bound> {
        if let Some(sa) = addr.as_socket() {
            return Some(Bound::Inet(sa));
        }
        if let Some(p) = addr.as_pathname() {
            return Some(Bound::Unix(p.to_path_buf()));
        }
        addr.as_abstract_namespace().map(|n| Bound::Abstract(n.to_vec()))
    }
}

static POOL: Mutex<Vec<(Bound, Socket)>> = Mutex::new(Vec::new());

fn pool() -> std::sync::MutexGuard<'static, Vec<(Bound, Socket)>> {
    // A panic while holding the lock leaves a Vec that is still consistent.
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Adds a socket received from another process. Returns where it listens, or `None`
/// (and closes it) when it is not a listening stream socket.
pub fn offer(fd: OwnedFd) -> Option<Bound> {
    let s = Socket::from(fd);
    let listening = s.is_listener().unwrap_or(false);
    let bound = s.local_addr().ok().as_ref().and_then(Bound::of)?;
    if !listening {
        return None;
    }
    pool().push((bound.clone(), s));
    Some(bound)
}

/// Takes the pooled socket listening on `addr` (an explicit port: port 0 never matches).
pub fn take_inet(addr: SocketAddr) -> Option<Socket> {
    if addr.port() == 0 {
        return None;
    }
    take(&Bound::Inet(addr))
}

/// Takes the pooled socket bound to the socket file `path`. A socket bound by
/// rename reports the temporary name it was bound to, `<path>.<pid>.tmp` (HAProxy's
/// and moonproxy's): that name matches `path` too.
pub fn take_unix(path: &Path) -> Option<Socket> {
    let mut pool = pool();
    let i = pool.iter().position(|(b, _)| matches!(b, Bound::Unix(p) if p == path || is_temp_name_of(p, path)))?;
    Some(pool.swap_remove(i).1)
}

/// `bound` is `path` followed by `.<digits>.tmp`.
fn is_temp_name_of(bound: &Path, path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let (b, p) = (bound.as_os_str().as_bytes(), path.as_os_str().as_bytes());
    let Some(rest) = b.strip_prefix(p).and_then(|r| r.strip_prefix(b".")).and_then(|r| r.strip_suffix(b".tmp")) else { return false };
    !rest.is_empty() && rest.iter().all(u8::is_ascii_digit)
}

/// Takes the pooled socket bound to the abstract address `addr` (as built by
/// [`crate::listener::abstract_addr`]).
pub fn take_abstract(addr: &SockAddr) -> Option<Socket> {
    take(&Bound::of(addr)?)
}

fn take(want: &Bound) -> Option<Socket> {
    let mut pool = pool();
    let i = pool.iter().position(|(b, _)| b == want)?;
    Some(pool.swap_remove(i).1)
}

/// How many sockets are waiting to be claimed.
pub fn len() -> usize {
    pool().len()
}

/// Closes every socket no `bind` line claimed (the new configuration dropped it);
/// returns where they listened, for the log.
pub fn close_unclaimed() -> Vec<Bound> {
    pool().drain(..).map(|(b, _)| b).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pool is process-wide: tests that use it take turns.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn listening(addr: &str) -> (OwnedFd, SocketAddr) {
        let l = std::net::TcpListener::bind(addr).unwrap();
        let a = l.local_addr().unwrap();
        (OwnedFd::from(l), a)
    }

    #[test]
    fn a_pooled_socket_is_taken_once_by_its_exact_address() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let (fd, addr) = listening("127.0.0.1:0");
        assert_eq!(offer(fd), Some(Bound::Inet(addr)));
        let other = SocketAddr::from(([127, 0, 0, 2], addr.port()));
        assert!(take_inet(other).is_none(), "another IP is another address");
        let s = take_inet(addr).expect("same address");
        assert_eq!(s.local_addr().unwrap().as_socket(), Some(addr));
        assert!(take_inet(addr).is_none(), "taken once");
    }

    #[test]
    fn a_connected_socket_is_refused() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let (l, addr) = listening("127.0.0.1:0");
        let c = std::net::TcpStream::connect(addr).unwrap();
        let local = c.local_addr().unwrap();
        assert_eq!(offer(OwnedFd::from(c)), None);
        assert!(take_inet(local).is_none());
        drop(l);
    }

    #[test]
    fn unix_sockets_match_by_path_and_leftovers_are_closed() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let dir = std::env::temp_dir().join(format!("mp-inherit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.sock");
        let _ = std::fs::remove_file(&path);
        let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        assert_eq!(offer(OwnedFd::from(l)), Some(Bound::Unix(path.clone())));
        assert!(take_unix(&dir.join("b.sock")).is_none());
        assert!(take_unix(&dir.join("a")).is_none(), "a prefix is another path");
        let leftover = close_unclaimed();
        assert!(leftover.contains(&Bound::Unix(path.clone())), "{leftover:?}");
        assert!(take_unix(&path).is_none(), "closed, not kept");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_socket_bound_by_rename_matches_its_final_path() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let dir = std::env::temp_dir().join(format!("mp-inherit-tmp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let temp = dir.join("s.sock.4242.tmp");
        let l = std::os::unix::net::UnixListener::bind(&temp).unwrap();
        offer(OwnedFd::from(l)).unwrap();
        assert!(take_unix(&dir.join("s.sock.4242")).is_none());
        assert!(take_unix(&dir.join("s.sock")).is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
