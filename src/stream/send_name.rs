//! `http-send-name-header <name>`: the request tells the server its own name.
//!
//! As in HAProxy, the header is set each time the request is given to a server
//! (a new connection or a reused idle one): any field of that name the client sent is
//! removed and one `name: <server>` line is appended, so after a redispatch the value
//! names the server really reached. The head is already serialised (it may be the
//! copy kept for an L7 retry, body included), so the rewrite works on its bytes.

use super::{Env, Stream};

impl Stream {
    /// Sets the backend's `http-send-name-header` field to the name of server `srv` in
    /// the request head waiting to leave, if the backend asks for it.
    pub(super) fn http_send_name_header(&mut self, env: &Env<'_, '_>, be: usize, srv: usize) {
        let Some(name) = env.proxies[be].options.http.send_name_header.as_deref() else { return };
        let Some(h) = self.http.as_mut() else { return };
        set_field_in_head(&mut h.req.out, name, env.pool.server_name(be, srv).as_bytes());
    }
}

/// In `out`, which starts with a serialised HTTP/1 head (start line, field lines, empty
/// line, then possibly body bytes), removes every field named `name` (ASCII case
/// ignored) and appends `name: value` as the last field. Leaves `out` alone when it
/// holds no complete head.
pub fn set_field_in_head(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    let Some(end) = find(out, b"\r\n\r\n") else { return };
    let Some(first) = find(out, b"\r\n") else { return };
    let mut head = Vec::with_capacity(end + name.len() + value.len() + 8);
    head.extend_from_slice(&out[..first + 2]);
    // The field lines, each without its CRLF.
    if end > first {
        for line in out[first + 2..end + 2].split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            let field = line.split(|&b| b == b':').next().unwrap_or_default();
            if field.eq_ignore_ascii_case(name.as_bytes()) {
                continue;
            }
            head.extend_from_slice(line);
            head.extend_from_slice(b"\r\n");
        }
    }
    head.extend_from_slice(name.as_bytes());
    head.extend_from_slice(b": ");
    head.extend_from_slice(value);
    head.extend_from_slice(b"\r\n\r\n");
    out.splice(..end + 4, head);
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::set_field_in_head;

    fn set(head: &str, name: &str, value: &str) -> String {
        let mut v = head.as_bytes().to_vec();
        set_field_in_head(&mut v, name, value.as_bytes());
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn replaces_every_occurrence_and_appends_last() {
        let head = "GET / HTTP/1.1\r\nX-Srv: a\r\nhost: h\r\nx-srv: b\r\n\r\nbody";
        assert_eq!(set(head, "X-Srv", "s1"), "GET / HTTP/1.1\r\nhost: h\r\nX-Srv: s1\r\n\r\nbody");
    }

    #[test]
    fn head_without_fields_and_prefix_names_kept() {
        assert_eq!(set("GET / HTTP/1.0\r\n\r\n", "X-Srv", "s"), "GET / HTTP/1.0\r\nX-Srv: s\r\n\r\n");
        let head = "GET / HTTP/1.1\r\nX-Srv-Other: 1\r\n\r\n";
        assert_eq!(set(head, "X-Srv", "s"), "GET / HTTP/1.1\r\nX-Srv-Other: 1\r\nX-Srv: s\r\n\r\n");
    }

    #[test]
    fn idempotent_and_incomplete_heads_untouched() {
        let once = set("GET / HTTP/1.1\r\nA: 1\r\n\r\n", "X-Srv", "s1");
        assert_eq!(set(&once, "x-srv", "s2"), "GET / HTTP/1.1\r\nA: 1\r\nx-srv: s2\r\n\r\n");
        assert_eq!(set("GET / HTTP/1.1\r\nA: 1\r\n", "X", "s"), "GET / HTTP/1.1\r\nA: 1\r\n");
    }
}
