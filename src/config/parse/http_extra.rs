//! HTTP keywords of proxies that are small enough to share a file:
//! `http-send-name-header`.

use super::{Line, Parser};

/// `http-send-name-header <name>`: the chosen server's name goes to the server in
/// this request header. HAProxy 2.6 requires the name (its manual's
/// `X-Server-Name`-style examples are only examples).
pub fn send_name_header(p: &mut Parser, l: &Line) -> Result<(), String> {
    let name = l.arg(1);
    if name.is_empty() {
        return Err("'http-send-name-header' requires a header string.".into());
    }
    p.draft().proxy.options.http.send_name_header = Some(name.to_string());
    Ok(())
}
