//! `http-request` rules, ACLs and HTTP sample fetches run by `moonproxy::http::rules`
//! and by the real HAProxy 2.6 on the same configuration and the same requests.
//!
//! One `haproxy` process runs [`RULES`]; every request in [`REQUESTS`] is sent to it
//! and the reply it answers (`return`, `redirect` and `auth` replies, or a `return`
//! whose body prints many fetches and the rewritten headers) is compared byte for byte
//! with the `Verdict::Reply` (or `DenyWith`) moonproxy's rules give for the same request, parsed by
//! moonproxy's HTTP/1 parser. `deny` is compared by status (the page is the error
//! module's). `capture.req.method`/`uri` and `method` after `set-method` are left out:
//! HAProxy reports the request line as received, moonproxy the rewritten one.
//!
//! Without `haproxy` the test is skipped with a note, unless `CI` is set.

mod common;

use moonproxy::config::{parse_str, ParseOptions};
use moonproxy::http::h1::{RequestParser, Status};
use moonproxy::http::rules::{run_request, HttpRules, RuleEnv, Verdict};
use moonproxy::http::txn::Txn;
use moonproxy::sample::Vars;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What the final `return` prints: fetches on the (rewritten) request.
const FETCHES: &[&str] = &[
    "method", "path", "query", "url", "base", "pathq", "req.ver", "hdr(host)", "hdr(x-c)",
    "hdr(x-c,1)", "hdr(x-c,-2)", "hdr(x-c,7)", "req.fhdr(x-c)", "req.fhdr(x-c,1)", "hdr_cnt(x-c)",
    "req.fhdr_cnt(x-c)", "req.hdr_cnt", "hdr_val(x-n)", "req.hdr_ip(x-ip)", "cook(a)", "req.cook_cnt(a)",
    "req.cook_cnt", "cook_val(n)", "req.cook(b)", "urlp(b)", "url_param(a)", "urlp_val(n)", "urlp(c,;)",
    "url_ip", "url_port", "req.hdr_names", "req.hdr_names(;)", "capture.req.ver", "req.proto_http",
    "var(txn.a)", "var(txn.b)", "var(sess.c)", "hdr(host),lower,field(1,.)",
    "path,set-var(txn.p),length", "var(txn.p)", "str(a),set-var(txn.q),unset-var(txn.q)", "var(txn.q)",
    "base32", "baseq", "url32", "base32+src,hex", "url32+src,hex",
    "path,map_beg(@DIR@/p.map,none)", "hdr(x-ip),map_ip(@DIR@/ip.map)", "urlp(n),map_int(@DIR@/int.map,0)",
];

/// Named ACLs for the `X-Acl` markers.
const ACLS: &[&str] = &[
    "acl a_api path_beg /api",
    "acl a_host hdr(host) -i -m end .example.com",
    "acl a_hdrsub hdr_sub(x-c) b",
    "acl a_len path_len gt 4",
    "acl a_reg url_reg ^/[a-z]+\\?",
    "acl a_cook cook(a) -m found",
    "acl a_urlp urlp(b) 2",
    "acl a_dom hdr_dom(host) example",
    "acl a_dir path_dir api",
    "acl a_int hdr_val(x-n) 10:20",
    "acl a_ip req.hdr_ip(x-ip) 10.0.0.0/8",
    "acl a_meth method -i post",
    "acl a_mapped path_beg -M -f @DIR@/p.map",
];

/// Markers: `add-header X-Acl <name>` when the condition holds.
const CONDS: &[&str] = &[
    "a_api", "a_host", "a_hdrsub", "a_len", "a_reg", "a_cook", "a_urlp", "a_dom", "a_dir", "a_int",
    "a_ip", "a_meth", "a_mapped", "METH_GET", "METH_POST", "METH_HEAD", "METH_PUT", "HTTP", "HTTP_1.0",
    "HTTP_1.1", "HTTP_URL_ABS", "HTTP_URL_SLASH", "HTTP_CONTENT", "LOCALHOST", "TRUE", "FALSE",
    "METH_CONNECT", "METH_DELETE", "METH_OPTIONS", "METH_TRACE", "HTTP_URL_STAR", "REQ_CONTENT", "WAIT_END",
    "RDP_COOKIE",
    "a_api a_host", "a_api || a_len", "!a_api", "a_api !a_host", "{ path_end .png }",
    "{ hdr(x-c),lower -m sub b } or { method PUT }", "!{ req.hdr_cnt(x-c) gt 1 }",
];

const RULES: &str = r#"  http-request set-var(txn.a) req.hdr(host),lower
  http-request set-var-fmt(txn.b) "%[var(txn.a)]:%[path]"
  http-request set-var(sess.c) int(7),add(1)
  http-request deny deny_status 429 if { path /deny }
  http-request deny status 400 if { path /deny400 }
  http-request deny deny_status 401 content-type text/plain string no hdr X-D %[path] if { path /deny401 }
  http-request auth realm "the realm" if { path /auth }
  http-request redirect location /loc?%[query] code 303 if { path_beg /redir1 }
  http-request redirect prefix https://x.com if { path_beg /redir2 }
  http-request redirect prefix /p drop-query append-slash if { path_beg /redir3 }
  http-request redirect scheme https code 308 if { path_beg /redir4 }
  http-request redirect location https://%[hdr(host)]%[pathq] code 307 set-cookie SEEN=1 if { path_beg /redir5 }
  http-request return status 201 content-type text/x hdr X-R "%[var(txn.b)]" hdr X-Ci %ci lf-string "%[url]" if { path_beg /ret }
  http-request return status 404 if { path /nf }
  http-request return status 203 if { path /s203 }
  http-request return status 302 hdr location /x if { path /s302 }
  http-request return status 418 if { path /s418 }
  http-request return status 422 if { path /s422 }
  http-request return status 502 if { path /s502 }
  http-request return status 299 if { path /s299 }
  http-request return status 499 if { path /s499 }
  http-request set-header X-Set %[path] if { path_beg /rw }
  http-request add-header X-Add "v %[method]" if { path_beg /rw }
  http-request del-header X-Del if { path_beg /rw }
  http-request replace-header X-Rep (.*)-old \1-new if { path_beg /rw }
  http-request replace-value X-Val ^a(.*) z\1 if { path_beg /rw }
  http-request set-path /rw2%[path] if { path /rw/p }
  http-request set-query q=%[query] if { path_beg /rw/q }
  http-request set-method PUT if { path_beg /rw/m }
  http-request set-uri /u%[path] if { path_beg /rw/u }
  http-request replace-path /rw/r(.*) /R\1 if { path_beg /rw/r }
  http-request set-pathq /pq?%[query] if { path_beg /rw/pq }
"#;

const REQUESTS: &[&str] = &[
    "GET /api/x?a=1&b=2 HTTP/1.1\r\nHost: www.Example.com\r\nX-C: a, b\r\nX-C: c\r\nCookie: a=1; b=2; a=3\r\n\r\n",
    "POST /api HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nX-N: 15\r\nX-IP: 10.1.2.3\r\n\r\n",
    "GET /img/a.png HTTP/1.0\r\n\r\n",
    "HEAD /x?n=12&c=4;d=5 HTTP/1.1\r\nHost: example.com\r\nCookie: n=99x\r\n\r\n",
    "GET http://www.example.com:8080/abs?b=2 HTTP/1.1\r\nHost: www.example.com:8080\r\n\r\n",
    "GET http://10.0.0.7/abs HTTP/1.1\r\nHost: 10.0.0.7\r\n\r\n",
    "PUT /api/dir/ HTTP/1.1\r\nHost: a.example.com\r\nX-C: B\r\nContent-Length: 0\r\n\r\n",
    "GET /deny HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /deny400 HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /deny401 HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /auth HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /redir1?x=1 HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /redir2/a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /redir3/a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /redir4?y HTTP/1.1\r\nHost: h.com\r\n\r\n",
    "GET /redir5/z?k=v HTTP/1.1\r\nHost: h.com\r\n\r\n",
    "GET /ret/x?y=1 HTTP/1.1\r\nHost: R.com\r\n\r\n",
    "GET /nf HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /s203 HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /s302 HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /s418 HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /s422 HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /s502 HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /s299 HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /s499 HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /rw/p?k=1 HTTP/1.1\r\nHost: h\r\nX-Del: 1\r\nX-Rep: abc-old\r\nX-Val: ab, c, ad\r\n\r\n",
    "GET /rw/q?k=1 HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /rw/q HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /rw/u?z HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /rw/r/s?t HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /rw/pq/s?t=1 HTTP/1.1\r\nHost: h\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    "DELETE /d HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
    "TRACE /t HTTP/1.1\r\nHost: h\r\n\r\n",
];

/// The map files the rules use, written to `dir`.
fn write_maps(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("p.map"), "# paths\n/api/dir api-dir\n/api  api \n/rw rewrite\n").unwrap();
    std::fs::write(dir.join("ip.map"), "10.0.0.0/8 net8\n10.1.0.0/16 net16\n").unwrap();
    std::fs::write(dir.join("int.map"), "12 twelve\n10:20 range\n").unwrap();
}

fn config(port: u16, dir: &std::path::Path) -> String {
    let mut cfg = format!(
        "defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 5s\nfrontend fe\n  bind 127.0.0.1:{port}\n"
    );
    for a in ACLS {
        cfg.push_str(&format!("  {a}\n"));
    }
    cfg.push_str(RULES);
    for c in CONDS {
        let name: String = c.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        cfg.push_str(&format!("  http-request add-header X-Acl {name} if {c}\n"));
    }
    let body: Vec<String> = FETCHES.iter().map(|f| format!("{f}=%[{f}]")).collect();
    cfg.push_str(&format!(
        "  http-request return status 200 content-type text/plain lf-string \"{}|%[req.hdrs]\"\n",
        body.join("|").replace('"', "\\\"")
    ));
    cfg.replace("@DIR@", &dir.display().to_string())
}

fn ours(rules: &HttpRules, raw: &str) -> (Verdict, Txn) {
    let Ok(Status::Complete(req, _)) = RequestParser::new(Default::default()).parse(raw.as_bytes()) else {
        panic!("moonproxy cannot parse {raw:?}")
    };
    let mut txn = Txn { req: Some(req), ..Txn::default() };
    let mut sess = Vars::new();
    let mut env = RuleEnv {
        src: Some("127.0.0.1:40000".parse().unwrap()),
        dst: Some("127.0.0.1:80".parse().unwrap()),
        frontend: "fe",
        backend: None,
        server: None,
        sess_vars: &mut sess,
        userlists: &[],
        tls: None,
        server_tls: None,
        conn: Default::default(),
    };
    let mut cursor = 0;
    let v = run_request(rules, &mut cursor, &mut txn, &mut env);
    (v, txn)
}

/// One request on a fresh connection; the reply up to its announced length.
fn theirs(port: u16, raw: &str) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        if let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&out[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
            if out.len() >= end + 4 + len {
                break;
            }
        }
    }
    out
}

#[test]
fn rules_reply_as_haproxy_does() {
    let Some(bin) = haproxy() else { return };
    let (port, hold) = common::held_port();
    let dir = std::env::temp_dir().join(format!("moonproxy-http-rules-maps-{}", std::process::id()));
    write_maps(&dir);
    let cfg = config(port, &dir);
    let loaded = parse_str("t.cfg", &cfg, &ParseOptions::default())
        .unwrap_or_else(|d| panic!("{}", d.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n")));
    let fe = &loaded.config.proxies[0];
    let rules = HttpRules::compile(&fe.http_rules, &fe.acls, &fe.name).unwrap();
    let _guard = Haproxy::start(&bin, &cfg, port);
    drop(hold);
    let mut bad = Vec::new();
    for raw in REQUESTS {
        let mut theirs = theirs(port, raw);
        // An HTTP/1.0 client gets `connection: close` from the stream, not the rules.
        if raw.contains("HTTP/1.0\r\n") {
            let text = String::from_utf8(theirs).unwrap();
            theirs = text.replacen("connection: close\r\n", "", 1).into_bytes();
        }
        let (verdict, _) = ours(&rules, raw);
        let ok = match &verdict {
            Verdict::Reply { response, .. } | Verdict::DenyWith(response) => *response == theirs,
            Verdict::Deny { status } => theirs.starts_with(format!("HTTP/1.1 {status} ").as_bytes()),
            _ => false,
        };
        if !ok {
            let ours = match verdict {
                Verdict::Reply { response, .. } | Verdict::DenyWith(response) => String::from_utf8_lossy(&response).into_owned(),
                v => format!("{v:?}"),
            };
            bad.push(format!(
                "{}\n  haproxy   {:?}\n  moonproxy {:?}",
                raw.lines().next().unwrap(),
                String::from_utf8_lossy(&theirs),
                ours
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(bad.is_empty(), "{} of {} differ:\n{}", bad.len(), REQUESTS.len(), bad.join("\n"));
}

/// Lines `haproxy -c` refuses, one configuration each (HAProxy stops a section at
/// some errors): its alerts and moonproxy's must be the same text.
const BAD_LINES: &[&str] = &[
    "acl a path_bog /x",
    "acl a src 1.2.3.4 foo",
    "acl a path,nope x",
    "acl a src -m foo 1",
    "acl a -i x",
    "acl a src -f /nonexistent/pats.txt",
    "http-request deny if nope",
    "http-request deny if { nope 1 }",
    "http-request set-header X-C %[nope]",
    "http-request set-header X-C %[path",
    "http-request set-header X-C %ci%q",
    "http-request set-header X",
    "http-request add-header X a b",
    "http-request redirect",
    "http-request redirect location",
    "http-request return status 99",
    "http-request return status 200 string",
    "http-request return file /nonexistent/x",
    "http-request deny deny_status 999",
    "http-request deny foo",
    "http-request set-var(foo) str(a)",
    "http-request capture path",
    "http-request set-log-level foo",
    "http-request use-service foo",
    "http-request del-header X -m foo",
    "http-request set-method",
    "http-request foo",
    "http-response set-status abc",
    "http-response foo",
    "http-after-response foo",
    "tcp-request foo",
    "tcp-request inspect-delay abc",
    "tcp-request connection accept x",
    "tcp-response content accept",
    "redirect",
    "redirect location",
    "redirect prefix /x foo",
    "redirect prefix /x if nope",
    "redirect prefix /x code 999",
    "http-request redirect prefix /x code 999",
    "http-request redirect prefix /x foo",
    "http-request return string x",
    "http-request return status 200 foo",
    "http-request return hdr X",
    "http-request return content-type",
    "http-request tarpit foo",
    "http-response set-status 200 reason",
    "http-request capture path len x",
    "http-request auth foo",
    "http-request set-var(txn.x)",
    "http-request unset-var(txn.x) x",
    "http-request allow x",
    "http-request deny if { }",
    "http-request deny if { src 1.1.1.1",
    "http-request return string \"\"",
    "http-request set-header X-A %[path,set-var(foo)]",
];

/// Odd lines both accept.
const ODD_LINES: &[&str] = &[
    "http-request deny status 400",
    "http-request deny deny_status 400 content-type text/plain string hi",
    "http-request set-header X-A %[path] if",
    "http-request deny if TRUE ||",
    "http-request deny if || TRUE",
    "http-request deny if !",
    "http-request deny if TRUE || || FALSE",
    "acl a path_beg -i /x /y",
    "acl a hdr_sub(host),lower -m beg www",
];

/// The alert lines of `stderr`, from `config : ` on, without the closing ones.
fn alerts(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.starts_with("[ALERT]"))
        .filter_map(|l| l.split_once(" : ").map(|(_, r)| r.to_string()))
        .filter(|l| !l.contains("Error(s) found in configuration file") && !l.contains("Fatal errors found"))
        .collect()
}

#[test]
fn config_errors_read_as_haproxy_writes_them() {
    let Some(bin) = haproxy() else { return };
    let dir = std::env::temp_dir().join(format!("moonproxy-http-rules-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("t.cfg");
    let mut bad = Vec::new();
    for line in ODD_LINES {
        let cfg = format!(
            "defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 5s\nfrontend fe\n  bind 127.0.0.1:8080\n  {line}\n"
        );
        std::fs::write(&path, &cfg).unwrap();
        let out = Command::new(&bin).arg("-c").arg("-f").arg(&path).output().unwrap();
        let ours = parse_str("t.cfg", &cfg, &ParseOptions::default());
        if !out.status.success() || ours.is_err() {
            bad.push(format!("{line}: haproxy accepts: {}, moonproxy accepts: {}", out.status.success(), ours.is_ok()));
        }
    }
    for line in BAD_LINES {
        let cfg = format!(
            "defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 5s\nfrontend fe\n  bind 127.0.0.1:8080\n  {line}\n"
        );
        std::fs::write(&path, &cfg).unwrap();
        let out = Command::new(&bin).arg("-c").arg("-f").arg(&path).output().unwrap();
        let theirs = alerts(&String::from_utf8_lossy(&out.stderr));
        let name = path.display().to_string();
        let ours: Vec<String> = match parse_str(&name, &cfg, &ParseOptions::default()) {
            Ok(_) => vec![],
            Err(d) => d
                .iter()
                .filter(|d| d.is_alert())
                .map(|d| d.to_string())
                .filter(|l| !l.contains("Error(s) found in configuration file") && !l.contains("Fatal errors found"))
                .collect(),
        };
        if theirs.is_empty() || ours != theirs {
            bad.push(format!("{line}\n  haproxy   {theirs:?}\n  moonproxy {ours:?}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(bad.is_empty(), "{} of {} differ:\n{}", bad.len(), BAD_LINES.len(), bad.join("\n"));
}

fn haproxy() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("haproxy")).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin/haproxy")])
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "haproxy is not installed, and CI is set");
        eprintln!("note: haproxy not found, skipping the comparison with HAProxy");
    }
    found
}

/// The running haproxy, killed on drop, and its configuration file.
struct Haproxy {
    child: Child,
    cfg: PathBuf,
}

impl Haproxy {
    fn start(bin: &std::path::Path, cfg: &str, port: u16) -> Haproxy {
        let path = std::env::temp_dir().join(format!("moonproxy-http-rules-{}.cfg", std::process::id()));
        std::fs::write(&path, cfg).unwrap();
        let child = Command::new(bin)
            .args(["-db", "-q", "-f"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut guard = Haproxy { child, cfg: path };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(_)) = guard.child.try_wait() {
                let out = Command::new(bin).arg("-c").arg("-f").arg(&guard.cfg).output().unwrap();
                panic!("haproxy refused the configuration:\n{}\n{cfg}", String::from_utf8_lossy(&out.stderr));
            }
            assert!(Instant::now() < deadline, "haproxy did not start listening");
            std::thread::sleep(Duration::from_millis(20));
        }
        guard
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.cfg);
    }
}
