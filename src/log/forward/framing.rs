//! Syslog over a stream (RFC 6587), as HAProxy 2.6's `log-forward` `bind` reads it,
//! sans-io: each frame is either octet-counted (`LEN SP MSG`: starts with a digit) or
//! newline-terminated (non-transparent framing: starts with `<`, ends at `\n`, a `\r`
//! before it dropped). Anything else (a frame starting with another byte, a bad or zero
//! length, a frame longer than the buffer) is malformed: the connection is closed.

/// What the start of a stream buffer holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Framed {
    /// A message at `start..end`; the frame is `consumed` bytes long.
    Message { start: usize, end: usize, consumed: usize },
    /// Not a whole frame yet.
    Incomplete,
    /// Not syslog framing: why.
    Malformed(&'static str),
}

/// The first frame of `buf`; `max` is the longest frame accepted (the buffer size).
pub fn next(buf: &[u8], max: usize) -> Framed {
    match buf.first() {
        None => Framed::Incomplete,
        Some(b'0'..=b'9') => octet_counted(buf, max),
        Some(b'<') => match buf.iter().position(|&b| b == b'\n') {
            Some(nl) => {
                let end = if nl > 0 && buf[nl - 1] == b'\r' { nl - 1 } else { nl };
                Framed::Message { start: 0, end, consumed: nl + 1 }
            }
            None if buf.len() >= max => Framed::Malformed("message too long"),
            None => Framed::Incomplete,
        },
        Some(_) => Framed::Malformed("neither an octet count nor a '<'"),
    }
}

fn octet_counted(buf: &[u8], max: usize) -> Framed {
    let mut len: usize = 0;
    for (i, &b) in buf.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                len = len.saturating_mul(10).saturating_add(usize::from(b - b'0'));
                if len > max {
                    return Framed::Malformed("message too long");
                }
            }
            b' ' if len == 0 => return Framed::Malformed("zero length"),
            b' ' => {
                let start = i + 1;
                if start + len > max {
                    // The frame would not fit in the buffer.
                    return Framed::Malformed("message too long");
                }
                return if buf.len() >= start + len {
                    Framed::Message { start, end: start + len, consumed: start + len }
                } else {
                    Framed::Incomplete
                };
            }
            _ => return Framed::Malformed("bad octet count"),
        }
    }
    Framed::Incomplete
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs(mut buf: &[u8]) -> (Vec<String>, Option<Framed>) {
        let mut out = Vec::new();
        loop {
            match next(buf, 1024) {
                Framed::Message { start, end, consumed } => {
                    out.push(String::from_utf8_lossy(&buf[start..end]).into_owned());
                    buf = &buf[consumed..];
                }
                other => return (out, (other != Framed::Incomplete || !buf.is_empty()).then_some(other)),
            }
        }
    }

    /// The cases run against HAProxy 2.6 (what it forwarded, whether it closed).
    #[test]
    fn as_haproxy_frames() {
        assert_eq!(msgs(b"<13>a\n<14>b\n"), (vec!["<13>a".into(), "<14>b".into()], None));
        assert_eq!(msgs(b"5 <13>a7 <14>bcd"), (vec!["<13>a".into(), "<14>bcd".into()], None));
        assert_eq!(msgs(b"<13>part"), (vec![], Some(Framed::Incomplete)));
        assert_eq!(msgs(b"<13>x\r\n"), (vec!["<13>x".into()], None));
        assert_eq!(msgs(b"<13>a\n5 <13>b"), (vec!["<13>a".into(), "<13>b".into()], None));
        assert_eq!(msgs(b"12 <13>a\n"), (vec![], Some(Framed::Incomplete)));
        assert_eq!(msgs(b"6 <13>a\n"), (vec!["<13>a\n".into()], None));
        assert_eq!(msgs(b"<13>a\0<13>b\n"), (vec!["<13>a\0<13>b".into()], None));
        assert!(matches!(msgs(b"hello\n<13>y\n").1, Some(Framed::Malformed(_))));
        assert!(matches!(msgs(b"3x <13>a\n").1, Some(Framed::Malformed(_))));
        assert!(matches!(msgs(b"\n\n<13>c\n").1, Some(Framed::Malformed(_))));
        assert!(matches!(msgs(b"0 <13>z\n").1, Some(Framed::Malformed(_))));
        assert!(matches!(msgs(b"99999999 <13>a").1, Some(Framed::Malformed(_))));
        assert_eq!(next(&[b'<'; 1024], 1024), Framed::Malformed("message too long"));
        // The count fits, the frame with its count does not.
        assert_eq!(next(b"1020 <13>", 1024), Framed::Malformed("message too long"));
        assert_eq!(next(b"1019 <13>", 1024), Framed::Incomplete);
    }
}
