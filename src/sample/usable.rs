//! Where each sample fetch can run: HAProxy 2.6 refuses (in sample expressions) or
//! warns about and never matches (in ACLs) a fetch used where its data cannot exist —
//! `path` in `http-response` rules (the request headers are gone), `status` in
//! `http-request` rules (no response yet), `srv_name` before a server is chosen.
//!
//! The table is HAProxy 2.6's own capability matrix, as `haproxy -dKsmp` prints it
//! (one column per [`Place`]), and the name of the data each fetch needs, as its
//! error messages say. Fetches not in the table (`lua.NAME`) follow [`LUA`].

/// Where a sample is evaluated: the columns of `haproxy -dKsmp`, in its order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    FeTcpConnection = 0,
    FeTcpSession,
    FeTcpContent,
    FeHttpRequest,
    FeHttpRequestBody,
    FeUseBackend,
    BeTcpContent,
    BeHttpRequest,
    BeHttpRequestBody,
    BeUseServer,
    ServerSource,
    BeTcpResponse,
    BeHttpResponse,
    BeHttpResponseBody,
    BeStickStore,
    FeTcpResponse,
    FeHttpResponse,
    FeHttpResponseBody,
    Logs,
    TcpCheck,
    ConfigParser,
    CliParser,
}

impl Place {
    /// HAProxy's name for the place, as its warnings print it.
    pub fn name(self) -> &'static str {
        use Place::*;
        match self {
            FeTcpConnection => "frontend tcp-request connection rule",
            FeTcpSession => "frontend tcp-request session rule",
            FeTcpContent => "frontend tcp-request content rule",
            FeHttpRequest => "frontend http-request header rule",
            FeHttpRequestBody => "frontend http-request body rule",
            FeUseBackend => "frontend use-backend rule",
            BeTcpContent => "backend tcp-request content rule",
            BeHttpRequest => "backend http-request header rule",
            BeHttpRequestBody => "backend http-request body rule",
            BeUseServer => "backend use-server, balance or stick-match rule",
            ServerSource => "server source selection",
            BeTcpResponse => "backend tcp-response content rule",
            BeHttpResponse => "backend http-response header rule",
            BeHttpResponseBody => "backend http-response body rule",
            BeStickStore => "backend stick-store rule",
            FeTcpResponse => "frontend tcp-response content rule",
            FeHttpResponse => "frontend http-response header rule",
            FeHttpResponseBody => "frontend http-response body rule",
            Logs => "logs",
            TcpCheck => "backend tcp-check rule",
            ConfigParser => "configuration parser",
            CliParser => "CLI parser",
        }
    }

    /// Request-side rules (`http-request`, `tcp-request content`, `redirect`): the
    /// frontend's column in a proxy that has a frontend (a `listen` too), else the backend's.
    pub fn request(http: bool, frontend: bool) -> Place {
        match (http, frontend) {
            (true, true) => Place::FeHttpRequest,
            (true, false) => Place::BeHttpRequest,
            (false, true) => Place::FeTcpContent,
            (false, false) => Place::BeTcpContent,
        }
    }

    /// Response-side rules (`http-response`, `http-after-response`, `tcp-response
    /// content`): the backend's column in a proxy that has a backend (a `listen` too).
    pub fn response(http: bool, backend: bool) -> Place {
        match (http, backend) {
            (true, true) => Place::BeHttpResponse,
            (true, false) => Place::FeHttpResponse,
            (false, true) => Place::BeTcpResponse,
            (false, false) => Place::FeTcpResponse,
        }
    }
}

/// `lua.NAME` fetches: every rule but `tcp-request connection|session` (no stream
/// yet), and neither parser.
pub const LUA: (u32, &str) = (0x0ffffc, "HTTP request headers,HTTP request,HTTP request body,HTTP response headers,HTTP response,HTTP response body");

/// Name, the places it may run in (bit `Place as u32`), and the data it needs.
static TABLE: &[(&str, u32, &str)] = &[
    ("always_false", 0x3fffff, ""),
    ("always_true", 0x3fffff, ""),
    ("avg_queue", 0x2fffff, ""),
    ("base", 0x0007fc, "HTTP request headers"),
    ("base32", 0x0007fc, "HTTP request headers"),
    ("base32+src", 0x0007fc, "HTTP request headers"),
    ("baseq", 0x0007fc, "HTTP request headers"),
    ("bc_dst", 0x0ff800, "server"),
    ("bc_dst_port", 0x0ff800, "server"),
    ("bc_err", 0x0ff800, "server"),
    ("bc_err_str", 0x0ff800, "server"),
    ("bc_http_major", 0x0ff800, "server"),
    ("bc_src", 0x0ff800, "server"),
    ("bc_src_port", 0x0ff800, "server"),
    ("be_conn", 0x2fffff, ""),
    ("be_conn_free", 0x2fffff, ""),
    ("be_id", 0x0fffc0, "backend"),
    ("be_name", 0x0fffc0, "backend"),
    ("be_server_timeout", 0x0fffc0, "backend"),
    ("be_sess_rate", 0x2fffff, ""),
    ("be_tunnel_timeout", 0x0fffc0, "backend"),
    ("bin", 0x3fffff, ""),
    ("bool", 0x3fffff, ""),
    ("capture.req.hdr", 0x07fffc, "HTTP request"),
    ("capture.req.method", 0x07fffc, "HTTP request"),
    ("capture.req.uri", 0x07fffc, "HTTP request"),
    ("capture.req.ver", 0x07fffc, "HTTP request"),
    ("capture.res.hdr", 0x0ff800, "HTTP response"),
    ("capture.res.ver", 0x07fffc, "HTTP request"),
    ("connslots", 0x2fffff, ""),
    ("cook", 0x0007fc, "HTTP request headers"),
    ("cook_cnt", 0x0007fc, "HTTP request headers"),
    ("cook_val", 0x0007fc, "HTTP request headers"),
    ("cookie", 0x0bfffc, "HTTP request headers,HTTP response headers"),
    ("cpu_calls", 0x2fffff, ""),
    ("cpu_ns_avg", 0x2fffff, ""),
    ("cpu_ns_tot", 0x2fffff, ""),
    ("cur_server_timeout", 0x0fffc0, "backend"),
    ("cur_tunnel_timeout", 0x0fffc0, "backend"),
    ("date", 0x3fffff, ""),
    ("date_us", 0x3fffff, ""),
    ("distcc_body", 0x0bfffc, ""),
    ("distcc_param", 0x0bfffc, ""),
    ("dst", 0x0fffff, ""),
    ("dst_conn", 0x07ffff, ""),
    ("dst_is_local", 0x0fffff, ""),
    ("dst_port", 0x0fffff, ""),
    ("env", 0x3fffff, ""),
    ("fc_dst", 0x0fffff, ""),
    ("fc_dst_is_local", 0x0fffff, ""),
    ("fc_dst_port", 0x0fffff, ""),
    ("fc_err", 0x0fffff, ""),
    ("fc_err_str", 0x0fffff, ""),
    ("fc_fackets", 0x0fffff, ""),
    ("fc_http_major", 0x0fffff, ""),
    ("fc_lost", 0x0fffff, ""),
    ("fc_pp_authority", 0x0fffff, ""),
    ("fc_pp_unique_id", 0x0fffff, ""),
    ("fc_rcvd_proxy", 0x0fffff, ""),
    ("fc_reordering", 0x0fffff, ""),
    ("fc_retrans", 0x0fffff, ""),
    ("fc_rtt", 0x0fffff, ""),
    ("fc_rttvar", 0x0fffff, ""),
    ("fc_sacked", 0x0fffff, ""),
    ("fc_src", 0x0fffff, ""),
    ("fc_src_is_local", 0x0fffff, ""),
    ("fc_src_port", 0x0fffff, ""),
    ("fc_unacked", 0x0fffff, ""),
    ("fcgi.docroot", 0x0007fc, ""),
    ("fcgi.index", 0x0007fc, ""),
    ("fe_client_timeout", 0x07ffff, ""),
    ("fe_conn", 0x2fffff, ""),
    ("fe_defbe", 0x07ffff, ""),
    ("fe_id", 0x07ffff, ""),
    ("fe_name", 0x07ffff, ""),
    ("fe_req_rate", 0x2fffff, ""),
    ("fe_sess_rate", 0x2fffff, ""),
    ("hdr", 0x0bfffc, "HTTP request headers,HTTP response headers"),
    ("hdr_cnt", 0x0007fc, "HTTP request headers"),
    ("hdr_ip", 0x0007fc, "HTTP request headers"),
    ("hdr_val", 0x0007fc, "HTTP request headers"),
    ("hostname", 0x3fffff, ""),
    ("http_auth", 0x0007fc, "HTTP request headers"),
    ("http_auth_bearer", 0x0007fc, "HTTP request headers"),
    ("http_auth_group", 0x0007fc, "HTTP request headers"),
    ("http_auth_pass", 0x0007fc, "HTTP request headers"),
    ("http_auth_type", 0x0007fc, "HTTP request headers"),
    ("http_auth_user", 0x0007fc, "HTTP request headers"),
    ("http_first_req", 0x07fffc, "HTTP request"),
    ("int", 0x3fffff, ""),
    ("ipv4", 0x3fffff, ""),
    ("ipv6", 0x3fffff, ""),
    ("last_rule_file", 0x2fffff, ""),
    ("last_rule_line", 0x2fffff, ""),
    ("lat_ns_avg", 0x2fffff, ""),
    ("lat_ns_tot", 0x2fffff, ""),
    ("meth", 0x3fffff, ""),
    ("method", 0x07fffc, "HTTP request"),
    ("nbproc", 0x3fffff, ""),
    ("nbsrv", 0x2fffff, ""),
    ("path", 0x0007fc, "HTTP request headers"),
    ("pathq", 0x0007fc, "HTTP request headers"),
    ("payload", 0x0bfffc, "request buffer,response buffer"),
    ("payload_lv", 0x0bfffc, "request buffer,response buffer"),
    ("prio_class", 0x2fffff, ""),
    ("prio_offset", 0x2fffff, ""),
    ("proc", 0x3fffff, ""),
    ("query", 0x0007fc, "HTTP request headers"),
    ("queue", 0x2fffff, ""),
    ("rand", 0x3fffff, ""),
    ("rdp_cookie", 0x0007fc, "request buffer"),
    ("rdp_cookie_cnt", 0x0007fc, "request buffer"),
    ("rep_ssl_hello_type", 0x0bf800, "response buffer"),
    ("req.body", 0x0007fc, "HTTP request headers"),
    ("req.body_len", 0x0007fc, "HTTP request headers"),
    ("req.body_param", 0x0007fc, "HTTP request headers"),
    ("req.body_size", 0x0007fc, "HTTP request headers"),
    ("req.cook", 0x0007fc, "HTTP request headers"),
    ("req.cook_cnt", 0x0007fc, "HTTP request headers"),
    ("req.cook_val", 0x0007fc, "HTTP request headers"),
    ("req.fhdr", 0x0007fc, "HTTP request headers"),
    ("req.fhdr_cnt", 0x0007fc, "HTTP request headers"),
    ("req.hdr", 0x0007fc, "HTTP request headers"),
    ("req.hdr_cnt", 0x0007fc, "HTTP request headers"),
    ("req.hdr_ip", 0x0007fc, "HTTP request headers"),
    ("req.hdr_names", 0x0007fc, "HTTP request headers"),
    ("req.hdr_val", 0x0007fc, "HTTP request headers"),
    ("req.hdrs", 0x0007fc, "HTTP request headers"),
    ("req.hdrs_bin", 0x0007fc, "HTTP request headers"),
    ("req.len", 0x0007fc, "request buffer"),
    ("req.payload", 0x0007fc, "request buffer"),
    ("req.payload_lv", 0x0007fc, "request buffer"),
    ("req.proto_http", 0x07fffc, "HTTP request"),
    ("req.rdp_cookie", 0x0007fc, "request buffer"),
    ("req.rdp_cookie_cnt", 0x0007fc, "request buffer"),
    ("req.ssl_alpn", 0x0007fc, "request buffer"),
    ("req.ssl_ec_ext", 0x0007fc, "request buffer"),
    ("req.ssl_hello_type", 0x0007fc, "request buffer"),
    ("req.ssl_sni", 0x0007fc, "request buffer"),
    ("req.ssl_st_ext", 0x0007fc, "request buffer"),
    ("req.ssl_ver", 0x0007fc, "request buffer"),
    ("req.ver", 0x0007fc, "HTTP request headers"),
    ("req_len", 0x0007fc, "request buffer"),
    ("req_proto_http", 0x07fffc, "HTTP request"),
    ("req_ssl_hello_type", 0x0007fc, "request buffer"),
    ("req_ssl_sni", 0x0007fc, "request buffer"),
    ("req_ssl_ver", 0x0007fc, "request buffer"),
    ("req_ver", 0x0007fc, "HTTP request headers"),
    ("res.body", 0x0bf800, "HTTP response headers"),
    ("res.body_len", 0x0bf800, "HTTP response headers"),
    ("res.body_size", 0x0bf800, "HTTP response headers"),
    ("res.cache_hit", 0x0bf800, "HTTP response headers"),
    ("res.cache_name", 0x0bf800, "HTTP response headers"),
    ("res.comp", 0x0ff800, "HTTP response"),
    ("res.comp_algo", 0x0ff800, "HTTP response"),
    ("res.cook", 0x0bf800, "HTTP response headers"),
    ("res.cook_cnt", 0x0bf800, "HTTP response headers"),
    ("res.cook_val", 0x0bf800, "HTTP response headers"),
    ("res.fhdr", 0x0bf800, "HTTP response headers"),
    ("res.fhdr_cnt", 0x0bf800, "HTTP response headers"),
    ("res.hdr", 0x0bf800, "HTTP response headers"),
    ("res.hdr_cnt", 0x0bf800, "HTTP response headers"),
    ("res.hdr_ip", 0x0bf800, "HTTP response headers"),
    ("res.hdr_names", 0x0bf800, "HTTP response headers"),
    ("res.hdr_val", 0x0bf800, "HTTP response headers"),
    ("res.hdrs", 0x0bf800, "HTTP response headers"),
    ("res.hdrs_bin", 0x0bf800, "HTTP response headers"),
    ("res.len", 0x0bf800, "response buffer"),
    ("res.payload", 0x0bf800, "response buffer"),
    ("res.payload_lv", 0x0bf800, "response buffer"),
    ("res.ssl_hello_type", 0x0bf800, "response buffer"),
    ("res.ver", 0x0bf800, "HTTP response headers"),
    ("resp_ver", 0x0bf800, "HTTP response headers"),
    ("scook", 0x0bf800, "HTTP response headers"),
    ("scook_cnt", 0x0bf800, "HTTP response headers"),
    ("scook_val", 0x0bf800, "HTTP response headers"),
    ("shdr", 0x0bf800, "HTTP response headers"),
    ("shdr_cnt", 0x0bf800, "HTTP response headers"),
    ("shdr_ip", 0x0bf800, "HTTP response headers"),
    ("shdr_val", 0x0bf800, "HTTP response headers"),
    ("so_id", 0x07ffff, ""),
    ("so_name", 0x07ffff, ""),
    ("src", 0x0fffff, ""),
    ("src_is_local", 0x0fffff, ""),
    ("src_port", 0x0fffff, ""),
    ("srv_conn", 0x2fffff, ""),
    ("srv_conn_free", 0x2fffff, ""),
    ("srv_id", 0x0ffc00, "server"),
    ("srv_is_up", 0x2fffff, ""),
    ("srv_iweight", 0x2fffff, ""),
    ("srv_name", 0x0ffc00, "server"),
    ("srv_queue", 0x2fffff, ""),
    ("srv_sess_rate", 0x2fffff, ""),
    ("srv_uweight", 0x2fffff, ""),
    ("srv_weight", 0x2fffff, ""),
    ("ssl_bc", 0x0ff800, "server-side connection"),
    ("ssl_bc_alg_keysize", 0x0ff800, "server-side connection"),
    ("ssl_bc_alpn", 0x0ff800, "server-side connection"),
    ("ssl_bc_cipher", 0x0ff800, "server-side connection"),
    ("ssl_bc_client_random", 0x0ff800, "server-side connection"),
    ("ssl_bc_err", 0x0ff800, "server-side connection"),
    ("ssl_bc_err_str", 0x0ff800, "server-side connection"),
    ("ssl_bc_is_resumed", 0x0ff800, "server-side connection"),
    ("ssl_bc_npn", 0x0ff800, "server-side connection"),
    ("ssl_bc_protocol", 0x0ff800, "server-side connection"),
    ("ssl_bc_server_random", 0x0ff800, "server-side connection"),
    ("ssl_bc_session_id", 0x0ff800, "server-side connection"),
    ("ssl_bc_session_key", 0x0ff800, "server-side connection"),
    ("ssl_bc_unique_id", 0x0ff800, "server-side connection"),
    ("ssl_bc_use_keysize", 0x0ff800, "server-side connection"),
    ("ssl_c_ca_err", 0x0ffffe, "client-side connection"),
    ("ssl_c_ca_err_depth", 0x0ffffe, "client-side connection"),
    ("ssl_c_chain_der", 0x0ffffe, "client-side connection"),
    ("ssl_c_der", 0x0ffffe, "client-side connection"),
    ("ssl_c_err", 0x0ffffe, "client-side connection"),
    ("ssl_c_i_dn", 0x0ffffe, "client-side connection"),
    ("ssl_c_key_alg", 0x0ffffe, "client-side connection"),
    ("ssl_c_notafter", 0x0ffffe, "client-side connection"),
    ("ssl_c_notbefore", 0x0ffffe, "client-side connection"),
    ("ssl_c_s_dn", 0x0ffffe, "client-side connection"),
    ("ssl_c_serial", 0x0ffffe, "client-side connection"),
    ("ssl_c_sha1", 0x0ffffe, "client-side connection"),
    ("ssl_c_sig_alg", 0x0ffffe, "client-side connection"),
    ("ssl_c_used", 0x0ffffe, "client-side connection"),
    ("ssl_c_verify", 0x0ffffe, "client-side connection"),
    ("ssl_c_version", 0x0ffffe, "client-side connection"),
    ("ssl_f_der", 0x0ffffe, "client-side connection"),
    ("ssl_f_i_dn", 0x0ffffe, "client-side connection"),
    ("ssl_f_key_alg", 0x0ffffe, "client-side connection"),
    ("ssl_f_notafter", 0x0ffffe, "client-side connection"),
    ("ssl_f_notbefore", 0x0ffffe, "client-side connection"),
    ("ssl_f_s_dn", 0x0ffffe, "client-side connection"),
    ("ssl_f_serial", 0x0ffffe, "client-side connection"),
    ("ssl_f_sha1", 0x0ffffe, "client-side connection"),
    ("ssl_f_sig_alg", 0x0ffffe, "client-side connection"),
    ("ssl_f_version", 0x0ffffe, "client-side connection"),
    ("ssl_fc", 0x0ffffe, "client-side connection"),
    ("ssl_fc_alg_keysize", 0x0ffffe, "client-side connection"),
    ("ssl_fc_alpn", 0x0ffffe, "client-side connection"),
    ("ssl_fc_cipher", 0x0ffffe, "client-side connection"),
    ("ssl_fc_cipherlist_bin", 0x0ffffe, "client-side connection"),
    ("ssl_fc_cipherlist_hex", 0x0ffffe, "client-side connection"),
    ("ssl_fc_cipherlist_str", 0x0ffffe, "client-side connection"),
    ("ssl_fc_cipherlist_xxh", 0x0ffffe, "client-side connection"),
    ("ssl_fc_client_early_traffic_secret", 0x0ffffe, "client-side connection"),
    ("ssl_fc_client_handshake_traffic_secret", 0x0ffffe, "client-side connection"),
    ("ssl_fc_client_random", 0x0ffffe, "client-side connection"),
    ("ssl_fc_client_traffic_secret_0", 0x0ffffe, "client-side connection"),
    ("ssl_fc_early_exporter_secret", 0x0ffffe, "client-side connection"),
    ("ssl_fc_ecformats_bin", 0x0ffffe, "client-side connection"),
    ("ssl_fc_eclist_bin", 0x0ffffe, "client-side connection"),
    ("ssl_fc_err", 0x0ffffe, "client-side connection"),
    ("ssl_fc_err_str", 0x0ffffe, "client-side connection"),
    ("ssl_fc_exporter_secret", 0x0ffffe, "client-side connection"),
    ("ssl_fc_extlist_bin", 0x0ffffe, "client-side connection"),
    ("ssl_fc_has_crt", 0x0ffffe, "client-side connection"),
    ("ssl_fc_has_early", 0x0ffffe, "client-side connection"),
    ("ssl_fc_has_sni", 0x0ffffe, "client-side connection"),
    ("ssl_fc_is_resumed", 0x0ffffe, "client-side connection"),
    ("ssl_fc_npn", 0x0ffffe, "client-side connection"),
    ("ssl_fc_protocol", 0x0ffffe, "client-side connection"),
    ("ssl_fc_protocol_hello_id", 0x0ffffe, "client-side connection"),
    ("ssl_fc_server_handshake_traffic_secret", 0x0ffffe, "client-side connection"),
    ("ssl_fc_server_random", 0x0ffffe, "client-side connection"),
    ("ssl_fc_server_traffic_secret_0", 0x0ffffe, "client-side connection"),
    ("ssl_fc_session_id", 0x0ffffe, "client-side connection"),
    ("ssl_fc_session_key", 0x0ffffe, "client-side connection"),
    ("ssl_fc_sni", 0x0ffffe, "client-side connection"),
    ("ssl_fc_unique_id", 0x0ffffe, "client-side connection"),
    ("ssl_fc_use_keysize", 0x0ffffe, "client-side connection"),
    ("ssl_s_chain_der", 0x0ffffe, "client-side connection"),
    ("ssl_s_der", 0x0ffffe, "client-side connection"),
    ("ssl_s_i_dn", 0x0ffffe, "client-side connection"),
    ("ssl_s_key_alg", 0x0ffffe, "client-side connection"),
    ("ssl_s_notafter", 0x0ffffe, "client-side connection"),
    ("ssl_s_notbefore", 0x0ffffe, "client-side connection"),
    ("ssl_s_s_dn", 0x0ffffe, "client-side connection"),
    ("ssl_s_serial", 0x0ffffe, "client-side connection"),
    ("ssl_s_sha1", 0x0ffffe, "client-side connection"),
    ("ssl_s_sig_alg", 0x0ffffe, "client-side connection"),
    ("ssl_s_version", 0x0ffffe, "client-side connection"),
    ("status", 0x0ff800, "HTTP response"),
    ("stopping", 0x2fffff, ""),
    ("str", 0x3fffff, ""),
    ("thread", 0x3fffff, ""),
    ("unique-id", 0x3fffff, ""),
    ("url", 0x0007fc, "HTTP request headers"),
    ("url32", 0x0007fc, "HTTP request headers"),
    ("url32+src", 0x0007fc, "HTTP request headers"),
    ("url_ip", 0x0007fc, "HTTP request headers"),
    ("url_param", 0x0007fc, "HTTP request headers"),
    ("url_port", 0x0007fc, "HTTP request headers"),
    ("urlp", 0x0007fc, "HTTP request headers"),
    ("urlp_val", 0x0007fc, "HTTP request headers"),
    ("uuid", 0x3fffff, ""),
    ("var", 0x3fffff, ""),
    ("wait_end", 0x2fffff, ""),
];

/// The places `fetch` can run in and the data it needs, by name.
fn entry(fetch: &str) -> (u32, &'static str) {
    if fetch.starts_with("lua.") {
        return LUA;
    }
    match TABLE.binary_search_by(|(n, _, _)| (*n).cmp(fetch)) {
        Ok(i) => (TABLE[i].1, TABLE[i].2),
        // Not a fetch of ours: nothing to say about it.
        Err(_) => (u32::MAX, ""),
    }
}

/// Whether `fetch` can run at `place`.
pub fn usable(fetch: &str, place: Place) -> bool {
    entry(fetch).0 & (1 << place as u32) != 0
}

/// What `fetch` needs, in HAProxy's words ("HTTP request headers", "server"...).
pub fn needs(fetch: &str) -> &'static str {
    entry(fetch).1
}

/// HAProxy's refusal of a log-format string (a rule argument, `log-format`,
/// `unique-id-format`, `use_backend %[...]`) whose expression starts with a fetch that
/// cannot run at `place`: "sample fetch <REST> may not be reliably used here because it
/// needs 'DATA' which is not available here", REST being the string from the fetch on,
/// as 2.6 quotes it (`<status]bar>` for `foo%[status]bar`).
pub fn check_log_format(fmt: &str, place: Place) -> Option<String> {
    let b = fmt.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            i += 1;
            continue;
        }
        // `%%` is a literal percent sign; `%{flags}[` and `%[` start an expression.
        let mut j = i + 1;
        if b.get(j) == Some(&b'%') {
            i += 2;
            continue;
        }
        if b.get(j) == Some(&b'{') {
            match fmt[j..].find('}') {
                Some(close) => j += close + 1,
                None => return None, // malformed: the format's own parser says so
            }
        }
        if b.get(j) != Some(&b'[') {
            i = j;
            continue;
        }
        let rest = &fmt[j + 1..];
        let fetch = expr_fetch(rest);
        if !usable(fetch, place) {
            return Some(format!(
                "sample fetch <{rest}> may not be reliably used here because it needs '{}' which is not available here",
                needs(fetch)
            ));
        }
        i = j + 1;
    }
    None
}

/// The fetch a sample expression (`req.hdr(host),lower`) starts with, and what it
/// needs when it cannot run at `place`: HAProxy 2.6 refuses the expression with
/// "fetch method 'NAME' extracts information from 'DATA', none of which is available
/// here" (NAME is the rule's keyword for `set-var`, the fetch for `capture`).
pub fn check_expr(expr: &str, place: Place) -> Option<(&str, &'static str)> {
    let fetch = expr_fetch(expr);
    (!usable(fetch, place)).then(|| (fetch, needs(fetch)))
}

/// The fetch name at the start of an expression: up to its arguments, its first
/// converter or the end of the `%[...]` block.
fn expr_fetch(expr: &str) -> &str {
    let end = expr.find(['(', ',', ']']).unwrap_or(expr.len());
    expr[..end].trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_formats_and_expressions_are_judged_by_their_first_fetch() {
        let m = check_log_format("foo%[status]bar", Place::FeHttpRequest).unwrap();
        assert_eq!(m, "sample fetch <status]bar> may not be reliably used here because it needs 'HTTP response' which is not available here");
        assert!(check_log_format("%{+Q}[res.hdr(a),lower]", Place::FeHttpRequest).unwrap().starts_with("sample fetch <res.hdr(a),lower]>"));
        assert!(check_log_format("%[str(a)]%[status]", Place::FeHttpRequest).unwrap().starts_with("sample fetch <status]>"));
        assert_eq!(check_log_format("100%% %[path] %T", Place::FeHttpRequest), None);
        assert_eq!(check_log_format("%[status]", Place::BeHttpResponse), None);
        assert!(check_log_format("%[path]", Place::Logs).is_some(), "request headers are gone at log time");
        assert_eq!(check_expr("status", Place::FeHttpRequest), Some(("status", "HTTP response")));
        assert_eq!(check_expr("req.hdr(host),lower", Place::FeHttpRequest), None);
        assert_eq!(check_expr("path,lower", Place::BeHttpResponse), Some(("path", "HTTP request headers")));
    }

    #[test]
    fn the_table_is_sorted_and_covers_every_fetch() {
        assert!(TABLE.windows(2).all(|w| w[0].0 < w[1].0), "binary search needs sorted names");
        let ours = super::super::fetch::FETCHES.iter().chain(super::super::fetch_http::FETCHES).chain(super::super::fetch_payload::FETCHES).chain(super::super::fetch_proxy::FETCHES).chain(super::super::fetch_conn::FETCHES).chain(super::super::fetch_ssl_hello::FETCHES).chain(super::super::fetch_ssl_cert::all()).chain(super::super::fetch_ssl_conn::FETCHES);
        for f in ours {
            assert!(TABLE.iter().any(|(n, _, _)| *n == f.name), "{} has no row", f.name);
        }
    }

    #[test]
    fn request_and_response_data_stay_on_their_side() {
        assert!(usable("path", Place::FeHttpRequest) && !usable("path", Place::FeHttpResponse));
        assert!(!usable("path", Place::Logs), "the request headers are gone at log time");
        assert!(usable("method", Place::Logs) && usable("capture.req.uri", Place::BeHttpResponse));
        assert!(usable("status", Place::BeHttpResponse) && !usable("status", Place::FeHttpRequest));
        assert!(!usable("srv_name", Place::FeUseBackend) && usable("srv_name", Place::BeHttpResponse));
        assert!(usable("src", Place::FeTcpConnection) && usable("lua.x", Place::FeHttpRequest));
        assert!(!usable("lua.x", Place::FeTcpConnection));
        assert_eq!(needs("res.hdr"), "HTTP response headers");
        assert_eq!(needs("be_name"), "backend");
    }
}
