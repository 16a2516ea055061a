//! `-Ws`: systemd's readiness protocol (`Type=notify`) without libsystemd: one
//! datagram of `KEY=value` lines to the unix socket named by `$NOTIFY_SOCKET`
//! (an abstract socket when the name starts with `@`).

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The notification socket, read once at start-up.
#[derive(Clone, Debug, Default)]
pub struct Notifier {
    path: Option<String>,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET` when `enabled` (`-Ws`); a no-op notifier otherwise.
    pub fn from_env(enabled: bool) -> Notifier {
        Notifier { path: enabled.then(|| std::env::var("NOTIFY_SOCKET").ok()).flatten().filter(|p| !p.is_empty()) }
    }

    /// Sends `state` (e.g. `READY=1\nSTATUS=Ready.\n`). Failures are reported to the
    /// caller but never fatal: systemd may be gone while we keep serving.
    pub fn notify(&self, state: &str) -> io::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        let addr = match path.strip_prefix('@') {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(name.as_bytes())?
            }
            None => SocketAddr::from_pathname(path)?,
        };
        let sock = UnixDatagram::unbound()?;
        sock.send_to_addr(state.as_bytes(), &addr)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_to_a_path_and_an_abstract_socket() {
        let dir = std::env::temp_dir().join(format!("moonproxy-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let rx = UnixDatagram::bind(&path).unwrap();
        let n = Notifier { path: Some(path.to_string_lossy().into_owned()) };
        n.notify("READY=1\n").unwrap();
        let mut buf = [0u8; 64];
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\n");
        std::fs::remove_dir_all(&dir).unwrap();

        use std::os::linux::net::SocketAddrExt;
        let name = format!("moonproxy-notify-test-{}", std::process::id());
        let rx = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
        Notifier { path: Some(format!("@{name}")) }.notify("RELOADING=1\n").unwrap();
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"RELOADING=1\n");
        assert!(Notifier::from_env(false).notify("READY=1").is_ok(), "disabled: nothing sent");
    }
}
