//! The responses the proxy generates itself: the default error pages for each status
//! it can answer (400, 403, 408, 500, 502, 503, 504 ...), and later the pages
//! configured with `errorfile`, `errorfiles` and `http-errors` sections.

/// The reason phrase the proxy sends with `status`.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Unauthorized",
        408 => "Request Time-out",
        410 => "Gone",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        425 => "Too Early",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        _ => "Unknown",
    }
}

/// The complete default response for `status` (head and a small HTML body), closing the
/// connection, as the proxy sends it when nothing else is configured.
pub fn default_page(status: u16) -> Vec<u8> {
    let reason = reason(status);
    let body = format!("<html><body><h1>{status} {reason}</h1>\n</body></html>\n");
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-length: {}\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_pages_are_complete_responses() {
        let page = String::from_utf8(default_page(502)).unwrap();
        let (head, body) = page.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 502 Bad Gateway\r\n"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
    }
}
