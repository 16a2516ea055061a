//! Passing file descriptors over a unix stream socket (`SCM_RIGHTS`), and the
//! listener exchange of a seamless reload built on it (HAProxy's `_getsocks`).
//!
//! The exchange, as HAProxy 2.6 lays it out (so either program may be the old or the
//! new process), after the new process wrote `_getsocks\n` on the old one's stats
//! socket:
//! 1. the old process sends the number of sockets, a native-endian `int`, without
//!    descriptors; no socket to send: it sends nothing and closes;
//! 2. then the sockets in batches of at most [`MAX_SEND_FD`] (the kernel refuses more
//!    in one message), each batch one `sendmsg` whose descriptors ride in one
//!    `SCM_RIGHTS` message and whose bytes describe each socket in turn:
//!    `<ns_len:u8> <netns name> <if_len:u8> <interface name> <4 zero bytes>`
//!    (moonproxy has neither namespaces nor interfaces: 6 bytes a socket);
//! 3. after a full batch the sender waits for 4 bytes of acknowledgement before the
//!    next one; the receiver sends them after every batch it reads;
//! 4. the old process closes the connection.
//!
//! The sockets stay open in the old process: both processes share them (the same
//! accept queue) until the old one closes its copies when it soft-stops.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The most descriptors one `SCM_RIGHTS` message may carry (Linux's `SCM_MAX_FD`).
pub const MAX_SEND_FD: usize = 253;

/// Bytes describing one socket in a batch: no namespace, no interface, 4 zero bytes.
const RECORD: [u8; 6] = [0; 6];

/// Sends `data` with the descriptors `fds` attached (one `sendmsg`); returns the bytes
/// sent. `fds` must not be empty nor longer than [`MAX_SEND_FD`]; `data` not empty.
pub fn send_with_fds(sock: BorrowedFd<'_>, data: &[u8], fds: &[RawFd]) -> io::Result<usize> {
    if fds.is_empty() || fds.len() > MAX_SEND_FD || data.is_empty() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let fd_bytes = std::mem::size_of_val(fds);
    // SAFETY: CMSG_SPACE is arithmetic on its argument (a small length).
    let space = unsafe { libc::CMSG_SPACE(fd_bytes as u32) } as usize;
    // u64 elements: the buffer is aligned for `cmsghdr`.
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut libc::c_void, iov_len: data.len() };
    // SAFETY: an all-zero msghdr is a valid "no name, no iov, no control" header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: `msg` points to a control buffer of CMSG_SPACE(fd_bytes) bytes, so the
    // first header exists and CMSG_DATA has room for `fd_bytes` bytes after it;
    // `copy_nonoverlapping` writes exactly that many from `fds`.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(fd_bytes as u32) as _;
        std::ptr::copy_nonoverlapping(fds.as_ptr().cast::<u8>(), libc::CMSG_DATA(cmsg), fd_bytes);
    }
    loop {
        // SAFETY: `msg` and everything it points to (`iov` over `data`, `control`) live
        // until the call returns; sendmsg only reads them.
        let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Receives bytes into `buf` and the descriptors that came with them (one `recvmsg`,
/// close-on-exec set). `Ok((0, []))` is the end of the stream.
pub fn recv_with_fds(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    let max_bytes = MAX_SEND_FD * std::mem::size_of::<RawFd>();
    // SAFETY: CMSG_SPACE is arithmetic on its argument (a small length).
    let space = unsafe { libc::CMSG_SPACE(max_bytes as u32) } as usize;
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: an all-zero msghdr is a valid "no name, no iov, no control" header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    let n = loop {
        // SAFETY: `msg` points to `buf` (through `iov`) and `control`, both writable and
        // alive until the call returns; recvmsg writes within the lengths given.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    let mut fds = Vec::new();
    // The kernel filled `msg_controllen` bytes of `control` with well-formed control
    // messages; the payload of an SCM_RIGHTS message is `cmsg_len - CMSG_LEN(0)` bytes of
    // descriptors, now open in this process and owned by nobody else.
    // SAFETY: CMSG_FIRSTHDR/CMSG_NXTHDR stay within those messages; the descriptors are
    // read unaligned (CMSG_DATA gives no alignment guarantee for `int`).
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let len = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                for i in 0..len / std::mem::size_of::<RawFd>() {
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        // Some descriptors were dropped by the kernel: the set is incomplete.
        return Err(io::Error::other("descriptors truncated (MSG_CTRUNC)"));
    }
    Ok((n, fds))
}

/// The old process's side of `_getsocks`: sends `fds` over `sock` (a blocking socket;
/// set a send/receive timeout on it). Nothing is sent when `fds` is empty.
pub fn send_listeners(sock: BorrowedFd<'_>, fds: &[RawFd]) -> io::Result<()> {
    if fds.is_empty() {
        return Ok(());
    }
    let count = (fds.len() as libc::c_int).to_ne_bytes();
    write_all(sock, &count)?;
    for batch in fds.chunks(MAX_SEND_FD) {
        let data = RECORD.repeat(batch.len());
        let mut sent = send_with_fds(sock, &data, batch)?;
        // A short write leaves the rest of the bytes (the descriptors went with the first).
        if sent < data.len() {
            write_all(sock, &data[sent..])?;
            sent = data.len();
        }
        debug_assert_eq!(sent, data.len());
        if batch.len() == MAX_SEND_FD {
            let mut ack = [0u8; 4];
            read_exact(sock, &mut ack)?;
        }
    }
    Ok(())
}

/// The new process's side of `_getsocks`, once the command is written: receives the
/// sockets (acknowledging each batch). An old process that refuses closes the
/// connection without a byte: `UnexpectedEof`.
pub fn recv_listeners(sock: BorrowedFd<'_>) -> io::Result<Vec<OwnedFd>> {
    let mut count = [0u8; 4];
    let mut got_count = 0;
    let mut fds: Vec<OwnedFd> = Vec::new();
    // The count comes first, alone; the kernel may hand it over together with the
    // first batch, so every read takes descriptors.
    let mut buf = vec![0u8; MAX_SEND_FD * (2 + 2 * 255 + 4)];
    let mut expected: Option<usize> = None;
    while expected.is_none_or(|n| fds.len() < n) {
        let want = if got_count < 4 { 4 - got_count } else { buf.len() };
        let (n, received) = recv_with_fds(sock, &mut buf[..want])?;
        if n == 0 && received.is_empty() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if got_count < 4 {
            count[got_count..got_count + n].copy_from_slice(&buf[..n]);
            got_count += n;
            if got_count == 4 {
                let c = libc::c_int::from_ne_bytes(count);
                if c <= 0 {
                    return Ok(Vec::new());
                }
                expected = Some(c as usize);
            }
        }
        if !received.is_empty() {
            fds.extend(received);
            // The acknowledgement a sender waits for after a full batch; a sender done
            // may have closed already, so a failure to send it is no error.
            let _ = send_bytes(sock, &(fds.len() as libc::c_int).to_ne_bytes());
        }
    }
    Ok(fds)
}

fn send_bytes(sock: BorrowedFd<'_>, data: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `data` is valid for `data.len()` bytes for the duration of the call.
        let n = unsafe { libc::send(sock.as_raw_fd(), data.as_ptr().cast(), data.len(), libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn write_all(sock: BorrowedFd<'_>, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match send_bytes(sock, data)? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => data = &data[n..],
        }
    }
    Ok(())
}

fn read_exact(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: `buf[got..]` is valid for writes of its length during the call.
        let n = unsafe { libc::recv(sock.as_raw_fd(), buf[got..].as_mut_ptr().cast(), buf.len() - got, 0) };
        match n {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n if n > 0 => got += n as usize,
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    fn listeners(n: usize) -> Vec<std::net::TcpListener> {
        (0..n).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect()
    }

    #[test]
    fn descriptors_cross_with_their_bytes() {
        let (a, b) = UnixStream::pair().unwrap();
        let l = listeners(2);
        let fds: Vec<RawFd> = l.iter().map(|l| l.as_raw_fd()).collect();
        assert_eq!(send_with_fds(a.as_fd(), b"hi", &fds).unwrap(), 2);
        let mut buf = [0u8; 16];
        let (n, got) = recv_with_fds(b.as_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hi");
        assert_eq!(got.len(), 2);
        for (fd, orig) in got.into_iter().zip(&l) {
            let s = socket2::Socket::from(fd);
            assert_eq!(s.local_addr().unwrap().as_socket(), Some(orig.local_addr().unwrap()), "the same socket");
        }
    }

    #[test]
    fn too_many_descriptors_for_one_message_are_refused() {
        let (a, _b) = UnixStream::pair().unwrap();
        let fds = vec![a.as_raw_fd(); MAX_SEND_FD + 1];
        assert!(send_with_fds(a.as_fd(), b"x", &fds).is_err());
    }

    /// More than one batch: the sender waits for the receiver's acknowledgement.
    #[test]
    fn the_exchange_carries_several_batches() {
        let (a, b) = UnixStream::pair().unwrap();
        let l = listeners(3);
        // The same three sockets over and over: 600 descriptors, three batches.
        let fds: Vec<RawFd> = (0..600).map(|i| l[i % 3].as_raw_fd()).collect();
        let sender = std::thread::spawn(move || send_listeners(a.as_fd(), &fds).map(|_| a));
        let got = recv_listeners(b.as_fd()).unwrap();
        drop(sender.join().unwrap().unwrap());
        assert_eq!(got.len(), 600);
        let s = socket2::Socket::from(got.into_iter().nth(4).unwrap());
        assert_eq!(s.local_addr().unwrap().as_socket(), Some(l[1].local_addr().unwrap()));
    }

    #[test]
    fn a_refusal_is_the_end_of_the_stream() {
        let (a, b) = UnixStream::pair().unwrap();
        drop(a);
        let e = recv_listeners(b.as_fd()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }
}
