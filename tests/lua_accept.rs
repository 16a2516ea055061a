//! Acceptance of the Lua API with scripts as users write them for HAProxy (issue 6: "scripts
//! that real users write work unchanged"). Each script and its configuration live in
//! `tests/lua/accept/` exactly as a user would deploy them (only addresses and paths are
//! `{{placeholders}}`); each test runs them on moonproxy and, where HAProxy 2.6 is
//! installed, on HAProxy too, and checks that both answer the same.
//!
//! - `auth_tcp`: an authentication sub-request over `core.tcp()`;
//! - `auth_httpclient`: the same with `core.httpclient()`, auth server slow or down;
//! - `jwt`: JWT (HS256) verification with lua-cjson and the `hmac` converter;
//! - `acme`: an ACME http-01 responder (`use-service`, `Map.new`, `register_init`);
//! - `ratelimit`: a counter table shared by the streams, emptied by a task.
//!
//! (The CORS example of HAProxy's documentation is in `tests/lua_actions.rs`.)

mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A script and its configuration from `tests/lua/accept/`.
fn accept_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/lua/accept")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `NAME.cfg` with `NAME.lua` beside it in the proxy's directory, `vars` filling the
/// placeholders; `app` is the port of the backend application.
fn start(bin: &Path, name: &str, vars: &[(&str, String)]) -> Proxy {
    let mut builder = ProxyBuilder::new(&accept_file(&format!("{name}.cfg")))
        .bin(bin)
        .file(&format!("{name}.lua"), &accept_file(&format!("{name}.lua")));
    for (key, value) in vars {
        builder = builder.var(key, value);
    }
    builder.start()
}

fn get(p: &Proxy, request: &str) -> HttpResponse {
    p.connect("fe").http_request(request.as_bytes())
}

/// `GET /headers` (the application echoes the request head) with extra header lines.
fn get_headers(p: &Proxy, extra: &str) -> HttpResponse {
    get(
        p,
        &format!("GET /headers HTTP/1.1\r\nHost: app\r\n{extra}\r\n"),
    )
}

/// The value of header `name` in the request head the application echoed in `r`'s body.
fn echoed(r: &HttpResponse, name: &str) -> Option<String> {
    String::from_utf8_lossy(&r.body).lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

// --- The authentication server -----------------------------------------------------------

/// An HTTP authentication server: `Authorization: Bearer good` gets a 200 naming the user
/// (`X-User: alice`), `Bearer intern` a 403 naming the user, `Bearer slow` an answer
/// after 3 s, anything else a 401 with a `WWW-Authenticate` challenge. Every answer closes the connection.
fn auth_server() -> Backend {
    Backend::custom(|conn, stats| {
        let mut reader = BufReader::new(conn.try_clone().expect("clone"));
        let mut auth = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("authorization") {
                    auth = v.trim().to_string();
                }
            }
        }
        stats.add_request();
        let answer = match auth.as_str() {
            "Bearer good" => "HTTP/1.1 200 OK\r\nX-User: alice\r\nContent-Length: 0\r\n",
            "Bearer intern" => "HTTP/1.1 403 Forbidden\r\nX-User: bob\r\nContent-Length: 0\r\n",
            "Bearer slow" => {
                std::thread::sleep(Duration::from_secs(3));
                "HTTP/1.1 200 OK\r\nX-User: late\r\nContent-Length: 0\r\n"
            }
            _ => "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"test\"\r\nContent-Length: 0\r\n",
        };
        let mut conn = conn;
        let _ = conn.write_all(format!("{answer}Connection: close\r\n\r\n").as_bytes());
    })
}

/// What a client sees for one request: status, `WWW-Authenticate`, and the `X-User` the
/// application received.
type AuthOutcome = (u16, Option<String>, Option<String>);

fn auth_outcome(p: &Proxy, extra: &str) -> AuthOutcome {
    let r = get_headers(p, extra);
    let user = (r.status == 200).then(|| echoed(&r, "x-user")).flatten();
    (
        r.status,
        r.header("www-authenticate").map(str::to_string),
        user,
    )
}

// --- 1. Auth sub-request over core.tcp ---------------------------------------------------

#[test]
fn auth_subrequest_over_core_tcp() {
    let app = http_app();
    let auth = auth_server();
    let down = RefusingPort::new();
    let challenge = Some("Bearer realm=\"test\"".to_string());
    for bin in moonproxy_and_haproxy() {
        let p = start(
            &bin,
            "auth_tcp",
            &[
                ("app", app.port().to_string()),
                ("auth", auth.port().to_string()),
            ],
        );
        // Accepted: the user the auth server named reaches the application, not the one
        // the client sent.
        assert_eq!(
            auth_outcome(&p, "Authorization: Bearer good\r\nX-User: forged\r\n"),
            (200, None, Some("alice".into())),
            "{bin:?}"
        );
        // Refused by the auth server: its challenge, from the Lua reply.
        assert_eq!(
            auth_outcome(&p, "Authorization: Bearer bad\r\n"),
            (401, challenge.clone(), None),
            "{bin:?}"
        );
        // Forbidden by the auth server: the Lua reply built with methods.
        let r = get_headers(&p, "Authorization: Bearer intern\r\n");
        assert_eq!(
            (r.status, &r.body[..]),
            (403, &b"forbidden for bob\n"[..]),
            "{bin:?}"
        );
        // No credentials: the configuration's deny.
        assert_eq!(auth_outcome(&p, ""), (401, None, None), "{bin:?}");
        // Two requests on one connection, the second refused: the Lua reply keeps it open.
        let mut c = p.connect("fe");
        let ok = c.http_request(
            b"GET /headers HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer good\r\n\r\n",
        );
        let no =
            c.http_request(b"GET /headers HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer no\r\n\r\n");
        assert_eq!((ok.status, no.status), (200, 401), "{bin:?}");
        drop(p);

        // The auth server down: act.DENY, HAProxy's 403.
        let p = start(
            &bin,
            "auth_tcp",
            &[
                ("app", app.port().to_string()),
                ("auth", down.port().to_string()),
            ],
        );
        assert_eq!(
            auth_outcome(&p, "Authorization: Bearer good\r\n"),
            (403, None, None),
            "{bin:?}"
        );
    }
}

// --- 2. Auth sub-request with core.httpclient --------------------------------------------

#[test]
fn auth_subrequest_with_httpclient_and_a_slow_or_dead_auth_server() {
    let app = http_app();
    let auth = auth_server();
    let down = RefusingPort::new();
    for bin in moonproxy_and_haproxy() {
        let p = start(
            &bin,
            "auth_httpclient",
            &[
                ("app", app.port().to_string()),
                ("auth", auth.port().to_string()),
            ],
        );
        assert_eq!(
            auth_outcome(&p, "Authorization: Bearer good\r\nX-User: forged\r\n"),
            (200, None, Some("alice".into())),
            "{bin:?}"
        );
        assert_eq!(
            auth_outcome(&p, "Authorization: Bearer bad\r\n"),
            (401, None, None),
            "{bin:?}"
        );
        assert_eq!(auth_outcome(&p, ""), (401, None, None), "{bin:?}");
        // The auth server answers after the script's 1 s timeout: httpclient's own 504.
        assert_eq!(
            auth_outcome(&p, "Authorization: Bearer slow\r\n"),
            (503, None, None),
            "{bin:?}"
        );
        drop(p);

        // Connection refused: httpclient's own 503.
        let p = start(
            &bin,
            "auth_httpclient",
            &[
                ("app", app.port().to_string()),
                ("auth", down.port().to_string()),
            ],
        );
        assert_eq!(
            auth_outcome(&p, "Authorization: Bearer good\r\n"),
            (503, None, None),
            "{bin:?}"
        );
    }
}

// --- 3. JWT verification with lua-cjson ----------------------------------------------------

/// The directory of lua-cjson's `cjson.so` for the Lua of `bin`: 5.4 for moonproxy, 5.3
/// for HAProxy 2.6 (Debian's `lua-cjson` ships both).
fn cjson_dir(bin: &Path) -> Option<PathBuf> {
    let version = if *bin == moonproxy_bin() {
        "5.4"
    } else {
        "5.3"
    };
    [
        format!("/usr/lib/x86_64-linux-gnu/lua/{version}"),
        format!("/usr/local/lib/lua/{version}"),
        format!("/usr/lib/lua/{version}"),
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|dir| dir.join("cjson.so").is_file())
}

/// Tokens signed with the key `secret` (`c2VjcmV0` in base64), made with Python's `hmac`.
const JWT_VALID: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsInNjb3BlIjoicmVhZCB3cml0ZSIsInJvbGVzIjpbImFkbWluIiwiZGV2Il0sImV4cCI6NDEwMjQ0NDgwMH0.avq2--jcK2mc46cKbM_KjwebfcYvYIYK4cRKpSYxKYs";
/// With a `tenant` claim and a JSON `null` scope.
const JWT_TENANT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJib2IiLCJ0ZW5hbnQiOiJhY21lIiwic2NvcGUiOm51bGwsImV4cCI6NDEwMjQ0NDgwMH0.Rf7nMK5bGK6Nsl5mZy06qAUYj3gzPUTZ-BnS_ouTt8I";
const JWT_EXPIRED: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MTAwMDAwMDAwMH0.YHht8HQrOgdLJwQuvcnf2seR1fhG3j6OHenBvQxFuEk";
/// Signed with the key `other`.
const JWT_BAD_SIGNATURE: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJtYWxsb3J5IiwiZXhwIjo0MTAyNDQ0ODAwfQ.-P4uBZ-NtiZ-FkTr_HDHTkQKYQDOWKS4aa0dixRcEKA";
const JWT_NOT_BEFORE: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsIm5iZiI6NDEwMjQ0NDgwMCwiZXhwIjo0MTAyNDQ0ODAxfQ.eCA3eYJW4IW9hNCTcc5-PhHvvOrXgP-x_cYd-fxhTgQ";
const JWT_ALG_NONE: &str = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.";
const JWT_BAD_JSON: &str = "e25vdCBqc29u.e30.x";

/// (status, body of a refusal or the claims the application received: sub, scope, roles
/// and the tenant the `lua.jwt_claim` converter read).
fn jwt_outcome(p: &Proxy, token: Option<&str>) -> (u16, String) {
    let extra = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let r = get_headers(p, &extra);
    if r.status != 200 {
        return (r.status, String::from_utf8_lossy(&r.body).into_owned());
    }
    let claims = ["x-jwt-sub", "x-jwt-scope", "x-jwt-roles", "x-tenant"]
        .map(|h| echoed(&r, h).unwrap_or_default())
        .join("|");
    (r.status, claims)
}

#[test]
fn jwt_verification_with_cjson_and_the_hmac_converter() {
    let app = http_app();
    for bin in moonproxy_and_haproxy() {
        let Some(cjson) = cjson_dir(&bin) else {
            assert!(std::env::var_os("CI").is_none(), "CI installs lua-cjson");
            eprintln!("skipped for {bin:?}: lua-cjson is not installed");
            continue;
        };
        let p = start(
            &bin,
            "jwt",
            &[
                ("app", app.port().to_string()),
                ("cjson", cjson.display().to_string()),
                ("key", "c2VjcmV0".to_string()),
            ],
        );
        let cases = [
            (Some(JWT_VALID), (200, "alice|read write|admin,dev|")),
            (Some(JWT_TENANT), (200, "bob|||acme")),
            (Some(JWT_EXPIRED), (401, "expired")),
            (Some(JWT_BAD_SIGNATURE), (401, "bad signature")),
            (Some(JWT_NOT_BEFORE), (401, "not yet valid")),
            (Some(JWT_ALG_NONE), (401, "unsupported alg")),
            (Some(JWT_BAD_JSON), (401, "bad JSON")),
            (Some("a.b"), (401, "malformed token")),
            (None, (401, "no token")),
        ];
        for (token, (status, text)) in cases {
            assert_eq!(
                jwt_outcome(&p, token),
                (status, text.to_string()),
                "{bin:?} {token:?}"
            );
        }
    }
}

// --- 4. ACME http-01 responder ----------------------------------------------------------

#[test]
fn acme_http01_responder_answers_tokens_from_a_map_and_an_init_table() {
    let app = http_app();
    for bin in moonproxy_and_haproxy() {
        let p = ProxyBuilder::new(&accept_file("acme.cfg"))
            .bin(&bin)
            .file("acme.lua", &accept_file("acme.lua"))
            .file(
                "acme.map",
                "# token key-authorization\ntok-MAP_1 tok-MAP_1.thumbprint\n",
            )
            .file("tokens.txt", "tok_init tok_init.thumbprint\n")
            .port("app", app.port())
            .start();
        let acme = |path: &str| {
            let r = get(
                &p,
                &format!("GET {path} HTTP/1.1\r\nHost: example.org\r\n\r\n"),
            );
            (
                r.status,
                r.header("content-type").unwrap_or_default().to_string(),
                String::from_utf8_lossy(&r.body).into_owned(),
            )
        };
        let found = |body: &str| {
            (
                200,
                "application/octet-stream".to_string(),
                body.to_string(),
            )
        };
        let missing = (
            404,
            "text/plain".to_string(),
            "no such challenge\n".to_string(),
        );
        let prefix = "/.well-known/acme-challenge/";
        assert_eq!(
            acme(&format!("{prefix}tok-MAP_1")),
            found("tok-MAP_1.thumbprint"),
            "{bin:?}"
        );
        assert_eq!(
            acme(&format!("{prefix}tok_init")),
            found("tok_init.thumbprint"),
            "{bin:?}"
        );
        assert_eq!(acme(&format!("{prefix}unknown")), missing, "{bin:?}");
        assert_eq!(acme(&format!("{prefix}a/b")), missing, "{bin:?}");
        assert_eq!(acme(prefix), missing, "{bin:?}");
        // Everything else goes to the application.
        assert_eq!(
            acme("/index.html"),
            (200, String::new(), "path=/index.html".into()),
            "{bin:?}"
        );
        // A HEAD is not a challenge fetch.
        let mut c = p.connect("fe");
        c.send(format!("HEAD {prefix}tok_init HTTP/1.1\r\nHost: e\r\n\r\n").as_bytes());
        let head = String::from_utf8_lossy(&c.recv_until(b"\r\n\r\n")).into_owned();
        assert!(head.starts_with("HTTP/1.1 404"), "{bin:?}: {head}");

        // The ACME client adds and removes tokens through the admin service (core.set_map,
        // core.del_map): the Map object sees the changes.
        let admin = |method: &str, token: &str, body: &str| {
            let r = get(
                &p,
                &format!(
                    "{method} /acme-admin/{token} HTTP/1.1\r\nHost: e\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                ),
            );
            (r.status, String::from_utf8_lossy(&r.body).into_owned())
        };
        assert_eq!(
            admin("PUT", "tok_new", "tok_new.thumb"),
            (201, "added tok_new\n".into()),
            "{bin:?}"
        );
        assert_eq!(
            acme(&format!("{prefix}tok_new")),
            found("tok_new.thumb"),
            "{bin:?}"
        );
        assert_eq!(
            admin("PUT", "tok_new", "tok_new.other"),
            (201, "added tok_new\n".into()),
            "{bin:?}"
        );
        assert_eq!(
            acme(&format!("{prefix}tok_new")),
            found("tok_new.other"),
            "{bin:?}"
        );
        assert_eq!(
            admin("DELETE", "tok_new", ""),
            (200, "removed tok_new\n".into()),
            "{bin:?}"
        );
        assert_eq!(
            admin("DELETE", "tok-MAP_1", ""),
            (200, "removed tok-MAP_1\n".into()),
            "{bin:?}"
        );
        assert_eq!(acme(&format!("{prefix}tok_new")), missing, "{bin:?}");
        assert_eq!(acme(&format!("{prefix}tok-MAP_1")), missing, "{bin:?}");
        assert_eq!(
            admin("PUT", "x", "bad value"),
            (400, "bad key authorization\n".into()),
            "{bin:?}"
        );
        assert_eq!(
            admin("GET", "x", ""),
            (405, "PUT or DELETE\n".into()),
            "{bin:?}"
        );
    }
}

// --- 5. A rate limiter: a table shared by the streams, emptied by a task ---------------------

#[test]
fn rate_limiter_table_is_shared_by_streams_and_emptied_by_a_task() {
    let app = http_app();
    for bin in moonproxy_and_haproxy() {
        let p = start(
            &bin,
            "ratelimit",
            &[("app", app.port().to_string()), ("window", "1500".into())],
        );
        // Each request on its own connection: the count lives in the table, not the stream.
        // The window may end at any moment, so requests go on until one is refused; the
        // refusal must come right after a third request of the same window.
        let mut counts = Vec::new();
        let refused = wait_until(DEADLINE, || {
            let r = get_headers(&p, "");
            if r.status == 429 {
                return true;
            }
            assert_eq!(r.status, 200, "{bin:?}");
            let count = echoed(&r, "x-rate-count").unwrap_or_default();
            // The fetch, in the response, sees the count of the same window (or of the
            // next one, emptied in between: then 3 are left).
            let left = r.header("x-ratelimit-remaining").unwrap_or_default();
            let expect = 3 - count.parse::<i32>().unwrap_or(0);
            assert!(
                left == expect.to_string() || left == "3",
                "{bin:?}: {count} {left}"
            );
            counts.push(count);
            false
        });
        assert!(refused, "{bin:?}: never limited: {counts:?}");
        assert_eq!(
            counts.last().map(String::as_str),
            Some("3"),
            "{bin:?}: {counts:?}"
        );
        assert!(
            counts.iter().all(|c| ["1", "2", "3"].contains(&c.as_str())),
            "{bin:?}: {counts:?}"
        );
        // The task empties the table at the end of the window: the client is let in again
        // and counted from 1.
        let mut after = None;
        let reopened = wait_until(DEADLINE, || {
            let r = get_headers(&p, "");
            after = echoed(&r, "x-rate-count");
            r.status == 200
        });
        assert!(reopened, "{bin:?}: the window never ended");
        assert_eq!(after.as_deref(), Some("1"), "{bin:?}");
    }
}

// --- Regressions found by the scripts above -------------------------------------------------

/// `Server:get_addr()` and the other setting readers raised "unknown server" in actions
/// and services (only tasks and init functions had them): the auth script picks its
/// server that way.
#[test]
fn server_settings_are_readable_from_actions_and_services() {
    let app = http_app();
    let script = r#"
local function describe()
  local out = {}
  for name, srv in pairs(core.backends["be"].servers) do
    out[#out + 1] = name .. "=" .. srv:get_addr() .. "," .. srv:get_weight() .. ","
      .. tostring(srv:get_maxconn()) .. "," .. tostring(srv:is_draining())
  end
  table.sort(out)
  return table.concat(out, ";")
end
core.register_action("srv", { "http-req" }, function(txn)
  txn:set_var("txn.srv", describe())
end)
core.register_service("srv", "http", function(applet)
  local body = describe()
  applet:set_status(200)
  applet:add_header("content-length", tostring(#body))
  applet:start_response()
  applet:send(body)
end)
"#;
    let config = "global\n    lua-load {{dir}}/t.lua\ndefaults\n    mode http\n    timeout connect 5s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:{{fe}}\n    http-request use-service lua.srv if { path /svc }\n    http-request lua.srv\n    http-request return status 200 content-type text/plain lf-string \"%[var(txn.srv)]\"\n    default_backend be\nbackend be\n    server a 127.0.0.1:{{app}} weight 7 maxconn 30\n    server b 127.0.0.2:81\n";
    let want = format!("a=127.0.0.1:{},7,30,0;b=127.0.0.2:81,1,0,0", app.port());
    for bin in moonproxy_and_haproxy() {
        let p = ProxyBuilder::new(config)
            .bin(&bin)
            .file("t.lua", script)
            .port("app", app.port())
            .start();
        let from_action = get(&p, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(String::from_utf8_lossy(&from_action.body), want, "{bin:?}");
        let from_service = get(&p, "GET /svc HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(String::from_utf8_lossy(&from_service.body), want, "{bin:?}");
    }
}

// --- A small HTTP server for the scripts' sub-requests ------------------------------------

/// An HTTP/1.x server answering one request per connection with `answer(method, path,
/// body)` = (status, content type, body), then closing. Counts requests.
fn http_server(
    answer: impl Fn(&str, &str, &str) -> (u16, &'static str, String) + Send + Sync + 'static,
) -> Backend {
    Backend::custom(move |conn, stats| {
        let mut reader = BufReader::new(conn.try_clone().expect("clone"));
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let (mut length, mut chunked) = (0usize, false);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line.trim_end().is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if k.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = v.to_ascii_lowercase().contains("chunked");
                }
            }
        }
        // HAProxy's httpclient sends a body chunked.
        let Some(body) = (if chunked {
            read_chunked(&mut reader)
        } else {
            read_exact(&mut reader, length)
        }) else {
            return;
        };
        stats.add_request();
        let mut parts = request_line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let (status, content_type, text) = answer(method, path, &String::from_utf8_lossy(&body));
        let mut conn = conn;
        let _ = conn.write_all(
            format!(
                "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            )
            .as_bytes(),
        );
    })
}

fn read_exact(reader: &mut impl BufRead, length: usize) -> Option<Vec<u8>> {
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some(body)
}

/// A chunked body, de-chunked (trailers skipped).
fn read_chunked(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader.read_line(&mut size_line).ok()?;
        let size = usize::from_str_radix(size_line.trim().split(';').next()?, 16).ok()?;
        if size == 0 {
            loop {
                let mut trailer = String::new();
                if reader.read_line(&mut trailer).ok()? == 0 || trailer.trim_end().is_empty() {
                    return Some(body);
                }
            }
        }
        body.extend(read_exact(reader, size)?);
        read_exact(reader, 2)?; // CRLF
    }
}

// --- 6. Token introspection with httpclient POST, cjson and a cache ------------------------

#[test]
fn token_introspection_with_a_cache_in_a_lua_table() {
    let app = http_app();
    let idp = http_server(|method, path, body| {
        if method != "POST" || path != "/introspect" {
            return (404, "text/plain", "no\n".into());
        }
        let json = match body {
            "token=writer" => {
                r#"{"active":true,"scope":"read write","client_id":"app1","exp":4102444800}"#
            }
            "token=reader" => r#"{"active":true,"scope":"read","client_id":"app2"}"#,
            "token=broken" => "{not json",
            _ => r#"{"active":false}"#,
        };
        (200, "application/json", json.into())
    });
    for bin in moonproxy_and_haproxy() {
        let Some(cjson) = cjson_dir(&bin) else {
            assert!(std::env::var_os("CI").is_none(), "CI installs lua-cjson");
            continue;
        };
        let p = start(
            &bin,
            "introspect",
            &[
                ("app", app.port().to_string()),
                ("idp", idp.port().to_string()),
                ("cjson", cjson.display().to_string()),
            ],
        );
        let before = idp.stats().requests();
        let call = |method: &str, token: &str| {
            let r = get(
                &p,
                &format!("{method} /headers HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer {token}\r\nContent-Length: 0\r\n\r\n"),
            );
            let client = (r.status == 200)
                .then(|| echoed(&r, "x-client-id"))
                .flatten();
            (r.status, client)
        };
        let app1 = Some("app1".to_string());
        assert_eq!(call("POST", "writer"), (200, app1.clone()), "{bin:?}");
        assert_eq!(call("GET", "reader"), (200, Some("app2".into())), "{bin:?}");
        assert_eq!(call("POST", "reader"), (403, None), "{bin:?}");
        assert_eq!(call("GET", "revoked"), (401, None), "{bin:?}");
        assert_eq!(call("GET", "broken"), (401, None), "{bin:?}");
        assert_eq!(
            idp.stats().requests() - before,
            4,
            "{bin:?}: one request per token"
        );
        // Cached: writer and reader do not go to the server again; the failures do.
        assert_eq!(call("PUT", "writer"), (200, app1), "{bin:?}");
        assert_eq!(call("GET", "reader"), (200, Some("app2".into())), "{bin:?}");
        assert_eq!(call("GET", "broken"), (401, None), "{bin:?}");
        assert_eq!(idp.stats().requests() - before, 5, "{bin:?}");
        // No token at all: the server is not asked.
        let r = get_headers(&p, "");
        assert_eq!(r.status, 401, "{bin:?}");
        assert_eq!(idp.stats().requests() - before, 5, "{bin:?}");
    }
}

// --- 7. A blocklist downloaded by a task ------------------------------------------------------

#[test]
fn a_task_downloads_a_blocklist_the_action_reads() {
    use std::sync::{Arc, Mutex};
    let app = http_app();
    let list = Arc::new(Mutex::new(Some(
        "# bad guys\n192.0.2.1\n198.51.100.7\n".to_string(),
    )));
    let served = Arc::clone(&list);
    let lists = http_server(
        move |_, path, _| match (path, served.lock().unwrap().clone()) {
            ("/blocklist.txt", Some(text)) => (200, "text/plain", text),
            _ => (500, "text/plain", "down\n".into()),
        },
    );
    for bin in moonproxy_and_haproxy() {
        *list.lock().unwrap() = Some("# bad guys\n192.0.2.1\n198.51.100.7\n".into());
        let p = start(
            &bin,
            "blocklist",
            &[
                ("app", app.port().to_string()),
                ("lists", lists.port().to_string()),
            ],
        );
        let status = |xff: &str| get_headers(&p, &format!("X-Forwarded-For: {xff}\r\n")).status;
        // The first download may not have happened when the proxy starts listening.
        assert!(
            wait_until(DEADLINE, || status("192.0.2.1") == 403),
            "{bin:?}"
        );
        assert_eq!(status("198.51.100.7"), 403, "{bin:?}");
        assert_eq!(status("192.0.2.2"), 200, "{bin:?}");
        // The list changes: the next download replaces the table.
        *list.lock().unwrap() = Some("192.0.2.2\n".into());
        assert!(
            wait_until(DEADLINE, || status("192.0.2.2") == 403),
            "{bin:?}"
        );
        assert_eq!(status("192.0.2.1"), 200, "{bin:?}");
        // The list server fails: the last list stays.
        *list.lock().unwrap() = None;
        let failures = lists.stats().requests();
        assert!(
            wait_until(DEADLINE, || lists.stats().requests() >= failures + 2),
            "{bin:?}"
        );
        assert_eq!(status("192.0.2.2"), 403, "{bin:?}");
        assert_eq!(status("192.0.2.1"), 200, "{bin:?}");
        p.wait_for_line(
            |l| l.contains("blocklist: download failed (500), keeping the old list"),
            DEADLINE,
        );
    }
}

// --- 8. Canary routing with a Lua fetch in use_backend ------------------------------------------

#[test]
fn canary_routing_by_a_lua_fetch_in_use_backend() {
    let app = http_app();
    // CRC32 of the ids modulo 100, as Python's zlib.crc32 computes it: u1 22, u2 64, u3 6,
    // u4 73, u5 35, u6 41, u7 35, u8 30, u9 0, u10 3.
    let canary = ["u1", "u3", "u9", "u10"];
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, "canary", &[("app", app.port().to_string())]);
        let served_by = |extra: &str| {
            let r = get_headers(&p, extra);
            assert_eq!(r.status, 200, "{bin:?}");
            echoed(&r, "x-served-by").unwrap_or_default()
        };
        for i in 1..=10 {
            let user = format!("u{i}");
            let want = if canary.contains(&user.as_str()) {
                "canary"
            } else {
                "stable"
            };
            assert_eq!(
                served_by(&format!("X-User-Id: {user}\r\n")),
                want,
                "{bin:?} {user}"
            );
        }
        assert_eq!(
            served_by("X-User-Id: u2\r\nCookie: canary=always\r\n"),
            "canary",
            "{bin:?}"
        );
        assert_eq!(
            served_by("X-User-Id: u1\r\nCookie: x=1; canary=never\r\n"),
            "stable",
            "{bin:?}"
        );
    }
}

// --- 9. A JSON status endpoint ------------------------------------------------------------------

#[test]
fn a_json_status_service_made_with_cjson() {
    let app = http_app();
    let down = RefusingPort::new();
    for bin in moonproxy_and_haproxy() {
        let Some(cjson) = cjson_dir(&bin) else {
            assert!(std::env::var_os("CI").is_none(), "CI installs lua-cjson");
            continue;
        };
        let p = start(
            &bin,
            "status",
            &[
                ("app", app.port().to_string()),
                ("down", down.port().to_string()),
                ("cjson", cjson.display().to_string()),
            ],
        );
        for _ in 0..2 {
            assert_eq!(
                get(&p, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n").status,
                200,
                "{bin:?}"
            );
        }
        let r = get(&p, "GET /status?backend=app HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 200, "{bin:?}");
        assert_eq!(
            r.header("content-type"),
            Some("application/json"),
            "{bin:?}"
        );
        let body = String::from_utf8_lossy(&r.body).into_owned();
        // cjson writes an object's keys in the order of the Lua table: look for each pair.
        let web1 = format!("\"addr\":\"127.0.0.1:{}\"", app.port());
        for pair in [
            "\"backend\":\"app\"",
            "\"up\":true",
            "\"name\":\"web1\"",
            &web1,
            "\"status\":\"no check\"",
            "\"weight\":20",
            "\"sessions\":2",
            "\"name\":\"web2\"",
            "\"status\":\"MAINT\"",
            "\"weight\":5",
            "\"sessions\":0",
        ] {
            assert!(body.contains(pair), "{bin:?}: {pair} not in {body}");
        }
        assert!(
            body.find("web1") < body.find("web2"),
            "{bin:?}: sorted: {body}"
        );
        let r = get(&p, "GET /status?backend=nope HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(
            (r.status, &r.body[..]),
            (404, &br#"{"error":"no such backend"}"#[..]),
            "{bin:?}"
        );
    }
}

// --- 10. Request and response rewriting -----------------------------------------------------

/// An application that answers with the request head it received as its body, a `Server`
/// and an `X-App-Version` header, and a 404 for paths containing `missing`.
fn rewrite_app() -> Backend {
    Backend::custom(|conn, stats| {
        let mut reader = BufReader::new(conn.try_clone().expect("clone"));
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line.trim_end().is_empty() {
                break;
            }
            head.push_str(line.trim_end());
            head.push('\n');
        }
        stats.add_request();
        let status = if head.lines().next().unwrap_or("").contains("missing") {
            "404 Not Found"
        } else {
            "200 OK"
        };
        let mut conn = conn;
        let _ = conn.write_all(
            format!(
                "HTTP/1.1 {status}\r\nServer: nginx/1.25\r\nX-App-Version: 1.2.3\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
                head.len()
            )
            .as_bytes(),
        );
    })
}

#[test]
fn request_and_response_rewriting() {
    let app = rewrite_app();
    let mut answers = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, "rewrite", &[("app", app.port().to_string())]);
        let mut seen = Vec::new();
        for request in [
            "GET /api/v2/users?id=7 HTTP/1.1\r\nHost: a\r\nCookie: a=1; tracking_id=xyz; b=2\r\nX-Debug: 1\r\n\r\n",
            "GET /api/items HTTP/1.1\r\nHost: a\r\nCookie: tracking_id=xyz\r\n\r\n",
            "GET /api/v1/missing HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /static/app.js HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            let r = get(&p, request);
            let mut headers: Vec<String> = r
                .headers
                .iter()
                .filter(|(k, _)| !["date", "content-length", "connection"].contains(&k.to_ascii_lowercase().as_str()))
                .map(|(k, v)| format!("{}: {v}", k.to_ascii_lowercase()))
                .collect();
            headers.sort();
            let status_line = r.head.lines().next().unwrap_or("").to_string();
            // (HAProxy sends header names in lower case; moonproxy keeps the client's.)
            let forwarded = String::from_utf8_lossy(&r.body).to_ascii_lowercase();
            seen.push(format!("{status_line}\n{}\n--\n{forwarded}", headers.join("\n")));
        }
        answers.push(seen);
    }
    let moon = &answers[0];
    assert!(moon[0].starts_with("HTTP/1.1 200 OK\n"), "{}", moon[0]);
    for want in [
        "GET /users?id=7&via=haproxy HTTP/1.1",
        "x-api-version: v2",
        "cookie: a=1; b=2\n",
        "x-debug: 1",
        "strict-transport-security: max-age=63072000",
        "x-version: 1.2.3",
    ] {
        assert!(
            moon[0]
                .to_ascii_lowercase()
                .contains(&want.to_ascii_lowercase()),
            "{want:?} in\n{}",
            moon[0]
        );
    }
    assert!(!moon[0].contains("server: nginx"), "{}", moon[0]);
    assert!(
        moon[1].contains("get /items http/1.1") && moon[1].contains("x-api-version: v1"),
        "{}",
        moon[1]
    );
    assert!(
        moon[1].contains("cookie:\n"),
        "the only cookie removed: {}",
        moon[1]
    );
    assert!(
        moon[2].starts_with("HTTP/1.1 410 Gone For Good\n"),
        "{}",
        moon[2]
    );
    assert!(
        moon[3].contains("get /static/app.js http/1.1") && !moon[3].contains("x-api-version"),
        "{}",
        moon[3]
    );
    if let Some(haproxy) = answers.get(1) {
        for (m, h) in moon.iter().zip(haproxy) {
            assert_eq!(m, h, "moonproxy, then HAProxy 2.6");
        }
    }
}

// --- 11. JSON body validation with the buffered request body -------------------------------

#[test]
fn json_body_validation_with_cjson() {
    let app = http_app();
    for bin in moonproxy_and_haproxy() {
        let Some(cjson) = cjson_dir(&bin) else {
            assert!(std::env::var_os("CI").is_none(), "CI installs lua-cjson");
            continue;
        };
        let p = start(
            &bin,
            "json_guard",
            &[
                ("app", app.port().to_string()),
                ("cjson", cjson.display().to_string()),
            ],
        );
        let post = |content_type: &str, body: &str| {
            let r = get(
                &p,
                &format!(
                    "POST /echo HTTP/1.1\r\nHost: api\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                ),
            );
            (
                r.status,
                r.header("content-type").unwrap_or("").to_string(),
                String::from_utf8_lossy(&r.body).into_owned(),
            )
        };
        let json = "application/json";
        let valid = r#"{"name":"x","tags":["a"],"n":1}"#;
        assert_eq!(
            post(json, valid),
            (200, String::new(), valid.to_string()),
            "{bin:?}"
        );
        assert_eq!(
            post("application/json; charset=utf-8", "{bad"),
            (
                400,
                json.to_string(),
                r#"{"error":"invalid JSON"}"#.to_string()
            ),
            "{bin:?}"
        );
        assert_eq!(
            post(json, r#"{"name":"x","is_admin":true}"#),
            (
                403,
                json.to_string(),
                r#"{"error":"field 'is_admin' is not allowed"}"#.to_string()
            ),
            "{bin:?}"
        );
        assert_eq!(
            post(json, "[1,2]").0,
            200,
            "{bin:?}: an array has no forbidden field"
        );
        assert_eq!(
            post("text/plain", "{bad").0,
            200,
            "{bin:?}: not JSON, not checked"
        );
        // The fields were counted for the application.
        let r = get(
            &p,
            &format!("POST /headers HTTP/1.1\r\nHost: api\r\nContent-Type: {json}\r\nContent-Length: {}\r\n\r\n{valid}", valid.len()),
        );
        assert_eq!(echoed(&r, "x-json-fields").as_deref(), Some("3"), "{bin:?}");
    }
}

// --- 12. Custom metrics: a response action counts, a service renders ------------------------

#[test]
fn metrics_counted_by_a_response_action_and_served_by_a_service() {
    let app = http_app();
    let mut pages = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, "metrics", &[("app", app.port().to_string())]);
        for request in [
            "GET /a HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /b HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /204 HTTP/1.1\r\nHost: a\r\n\r\n",
            "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi",
            "GET /admin HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            get(&p, request);
        }
        let r = get(&p, "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(
            r.header("content-type"),
            Some("text/plain; version=0.0.4"),
            "{bin:?}"
        );
        pages.push(String::from_utf8_lossy(&r.body).into_owned());
    }
    // The deny's 403 and the service's own answer go through no http-response rule.
    assert_eq!(
        pages[0],
        "# TYPE http_responses_total counter\n\
         http_responses_total{method=\"GET\",code=\"2xx\"} 3\n\
         http_responses_total{method=\"POST\",code=\"2xx\"} 1\n"
    );
    if let Some(haproxy) = pages.get(1) {
        assert_eq!(haproxy, &pages[0], "HAProxy 2.6 counts the same");
    }
}

/// Users check a configuration with `-c` before they reload: every acceptance
/// configuration passes it on both programs. (moonproxy's `-c` ran the `lua-load` bodies
/// before applying `setenv`, so the ACME script's `Map.new(os.getenv("ACME_MAP"))` failed.)
#[test]
fn every_acceptance_configuration_passes_the_check() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lua/accept");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/lua/accept")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".cfg").map(str::to_string)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    for bin in moonproxy_and_haproxy() {
        let cjson = cjson_dir(&bin).unwrap_or_default();
        for name in &names {
            let out = ProxyBuilder::new(&accept_file(&format!("{name}.cfg")))
                .bin(&bin)
                .flags(["-c"])
                .file(&format!("{name}.lua"), &accept_file(&format!("{name}.lua")))
                .file("acme.map", "")
                .var("cjson", cjson.display())
                .var("key", "c2VjcmV0")
                .var("window", 1000)
                .run();
            assert_eq!(out.code(), Some(0), "{bin:?} -c {name}: {}", out.stderr);
            assert!(
                out.stdout.contains("Configuration file is valid"),
                "{bin:?} {name}: {}",
                out.stdout
            );
        }
    }
}
