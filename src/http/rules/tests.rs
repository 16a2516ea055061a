//! Each action and the rule machinery on transactions built from parsed messages.

use super::*;
use crate::config::{parse_str, ParseOptions};
use crate::http::h1::{RequestParser, ResponseParser};
use crate::http::h1::Status;

/// The compiled rules of the first proxy of `body` (a `frontend fe` section is added
/// in front of it, in `mode http`).
fn rules(body: &str) -> HttpRules {
    let text = format!("frontend fe\n  mode http\n  bind 127.0.0.1:0\n{body}");
    let loaded = parse_str("t.cfg", &text, &ParseOptions::default())
        .unwrap_or_else(|d| panic!("{}", d.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n")));
    let p = &loaded.config.proxies[0];
    HttpRules::compile(&p.http_rules, &p.acls, &p.name).unwrap()
}

fn config_errors(body: &str) -> Vec<String> {
    let text = format!("frontend fe\n  mode http\n  bind 127.0.0.1:0\n{body}");
    match parse_str("t.cfg", &text, &ParseOptions::default()) {
        Ok(_) => vec![],
        Err(d) => d.iter().map(|d| d.to_string()).collect(),
    }
}

fn txn(req: &str) -> Txn {
    let raw = req.replace('\n', "\r\n") + "\r\n\r\n";
    let Ok(Status::Complete(r, _)) = RequestParser::new(Default::default()).parse(raw.as_bytes()) else {
        panic!("bad request {req:?}")
    };
    Txn { req: Some(r), ..Txn::default() }
}

fn with_response(mut t: Txn, res: &str) -> Txn {
    let raw = res.replace('\n', "\r\n") + "\r\n\r\n";
    let Ok(Status::Complete(r, _)) = ResponseParser::new(Default::default(), Method::Get).parse(raw.as_bytes()) else {
        panic!("bad response {res:?}")
    };
    t.res = Some(r);
    t
}

struct Run {
    sess: Vars,
}

impl Run {
    fn new() -> Run {
        Run { sess: Vars::new() }
    }

    fn env(&mut self) -> RuleEnv<'_> {
        RuleEnv {
            src: Some("10.0.0.1:5000".parse().unwrap()),
            dst: Some("127.0.0.1:80".parse().unwrap()),
            frontend: "fe",
            backend: Some("be"),
            server: None,
            sess_vars: &mut self.sess,
            userlists: &[],
            tls: None,
            server_tls: None,
            conn: Default::default(),
        }
    }

    fn request(&mut self, r: &HttpRules, t: &mut Txn) -> Verdict {
        let mut cursor = 0;
        let v = run_request(r, &mut cursor, t, &mut self.env());
        assert_eq!(cursor, r.request.len());
        v
    }
}

fn req_run(body: &str, req: &str) -> (Verdict, Txn) {
    let r = rules(body);
    let mut t = txn(req);
    let v = Run::new().request(&r, &mut t);
    (v, t)
}

fn head(t: &Txn) -> String {
    let mut out = Vec::new();
    t.req.as_ref().unwrap().write_head(&mut out);
    String::from_utf8(out).unwrap().replace("\r\n", "\n")
}

fn reply(v: Verdict) -> String {
    match v {
        Verdict::Reply { response, .. } => String::from_utf8(response).unwrap(),
        other => panic!("not a reply: {other:?}"),
    }
}

#[test]
fn header_actions() {
    let (v, t) = req_run(
        "  http-request set-header X-Path %[path]\n  http-request add-header X-A \"a %[method]\"\n  http-request add-header X-A b\n  http-request del-header Cookie\n  http-request replace-header Host (.*)\\.old(.*) \\1.new\\2\n  http-request replace-value X-L ^a(.*) z\\1\n",
        "GET /p?q=1 HTTP/1.1\nHost: www.old.com\nCookie: a=1\nX-L: ab, c, ad\nX-Path: old",
    );
    assert_eq!(v, Verdict::Continue);
    assert_eq!(
        head(&t),
        "GET /p?q=1 HTTP/1.1\nHost: www.new.com\nX-L: zb, c,zd\nX-Path: /p\nX-A: a GET\nX-A: b\n\n"
    );
}

/// `redirect` lines run after the `http-request` rules, with HAProxy's warning for a
/// rule written after them; `ignore-empty` skips an empty target.
#[test]
fn redirect_keyword_runs_after_http_request_rules() {
    let text = "frontend fe\n  mode http\n  bind 127.0.0.1:0\n  redirect location /red if { path_beg /a }\n  http-request redirect location %[req.hdr(x-to)] ignore-empty\n  http-request return status 200 if { path /a/rule }\n";
    let loaded = parse_str("t.cfg", text, &ParseOptions::default()).unwrap();
    let warnings: Vec<String> = loaded.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(warnings.contains(&"config : parsing [t.cfg:5] : a 'http-request' rule placed after a 'redirect' rule will still be processed before.".to_string()), "{warnings:?}");
    let p = &loaded.config.proxies[0];
    let r = HttpRules::compile(&p.http_rules, &p.acls, &p.name).unwrap();
    let mut run = Run::new();
    assert!(reply(run.request(&r, &mut txn("GET /a/rule HTTP/1.1\nHost: h"))).starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(reply(run.request(&r, &mut txn("GET /a/x HTTP/1.1\nHost: h"))).contains("location: /red\r\n"));
    assert!(reply(run.request(&r, &mut txn("GET /a/x HTTP/1.1\nHost: h\nX-To: /to"))).contains("location: /to\r\n"));
    assert_eq!(run.request(&r, &mut txn("GET /b HTTP/1.1\nHost: h")), Verdict::Continue);
}

#[test]
fn del_header_with_a_match_method() {
    let (_, t) = req_run(
        "  http-request del-header x-f -m beg\n  http-request del-header ^Y-.*z$ -m reg\n",
        "GET / HTTP/1.1\nHost: h\nX-Foo: 1\nx-fa: 2\nY-abz: 3\nY-abc: 4",
    );
    assert_eq!(head(&t), "GET / HTTP/1.1\nHost: h\nY-abc: 4\n\n");
}

#[test]
fn http_rules_in_tcp_mode_are_ignored_with_a_warning() {
    let text = "frontend fe\n  bind 127.0.0.1:0\n  http-request deny\n  http-response deny\n";
    let loaded = parse_str("t.cfg", text, &ParseOptions::default()).unwrap();
    let warnings: Vec<String> = loaded.diagnostics.iter().map(|d| d.to_string()).collect();
    for want in [
        "config : 'http-request' rules ignored for frontend 'fe' as they require HTTP mode.",
        "config : 'http-response' rules ignored for frontend 'fe' as they require HTTP mode.",
    ] {
        assert!(warnings.iter().any(|w| w == want), "{want}\n{warnings:?}");
    }
}

#[test]
fn target_actions() {
    let cases = [
        ("set-path /new", "GET /old?a=1 HTTP/1.1", "GET /new?a=1 HTTP/1.1"),
        ("set-pathq /new?b", "GET /old?a=1 HTTP/1.1", "GET /new?b HTTP/1.1"),
        ("set-query b=2", "GET /old?a=1 HTTP/1.1", "GET /old?b=2 HTTP/1.1"),
        ("set-query b=2", "GET /old HTTP/1.1", "GET /old?b=2 HTTP/1.1"),
        ("set-query %[str()]", "GET /old?a HTTP/1.1", "GET /old? HTTP/1.1"),
        ("set-uri /x%[path]", "GET /old?a=1 HTTP/1.1", "GET /x/old HTTP/1.1"),
        ("set-method POST", "GET / HTTP/1.1", "POST / HTTP/1.1"),
        ("set-path /n", "GET http://h/o?x HTTP/1.1", "GET http://h/n?x HTTP/1.1"),
        ("replace-path /api(/.*) \\1", "GET /api/v1?k HTTP/1.1", "GET /v1?k HTTP/1.1"),
        ("replace-uri ^/a(.*) /b\\1", "GET /a/c HTTP/1.1", "GET /b/c HTTP/1.1"),
        ("replace-pathq ^/a\\?(.*) /q/\\1", "GET /a?z HTTP/1.1", "GET /q/z HTTP/1.1"),
    ];
    for (action, line, want) in cases {
        let (_, t) = req_run(&format!("  http-request {action}\n"), &format!("{line}\nHost: h"));
        assert_eq!(head(&t).lines().next().unwrap(), want, "{action}");
    }
}

#[test]
fn rewrites_never_inject_lines() {
    let (_, t) = req_run(
        "  http-request set-header X %[req.hdr(y),url_dec]\n  http-request set-path %[req.hdr(y),url_dec]\n",
        "GET /a HTTP/1.1\nHost: h\nY: a%0d%0aEvil:%201",
    );
    // Control characters from a sample are written %XX (as HAProxy does), and a
    // target with a blank in it is refused.
    assert_eq!(head(&t), "GET /a HTTP/1.1\nHost: h\nY: a%0d%0aEvil:%201\nX: a%0D%0AEvil: 1\n\n");
}

#[test]
fn deny_tarpit_and_allow() {
    let cfg = "  http-request allow if { path /ok }\n  http-request deny status 400 if { path /s400 }\n  http-request deny deny_status 401 content-type text/plain string no if { path /s401 }\n  http-request deny deny_status 429 if { path_beg /d }\n  http-request tarpit if { path /t }\n  http-request deny\n";
    let r = rules(cfg);
    let mut run = Run::new();
    assert_eq!(run.request(&r, &mut txn("GET /ok HTTP/1.1\nHost: h")), Verdict::Continue);
    assert_eq!(run.request(&r, &mut txn("GET /d1 HTTP/1.1\nHost: h")), Verdict::Deny { status: 429 });
    // `status` is a `return` argument: an empty reply, not the error page (HAProxy 2.6).
    assert_eq!(
        run.request(&r, &mut txn("GET /s400 HTTP/1.1\nHost: h")),
        Verdict::DenyWith(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n".to_vec())
    );
    assert_eq!(
        run.request(&r, &mut txn("GET /s401 HTTP/1.1\nHost: h")),
        Verdict::DenyWith(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nno".to_vec())
    );
    assert_eq!(run.request(&r, &mut txn("GET /t HTTP/1.1\nHost: h")), Verdict::Tarpit { status: 500, response: None });
    assert_eq!(run.request(&r, &mut txn("GET /x HTTP/1.1\nHost: h")), Verdict::Deny { status: 403 });
}

/// The responses HAProxy 2.6 sends, byte for byte (from a live `haproxy`).
#[test]
fn return_redirect_and_auth_replies() {
    let cfg = r#"  http-request return status 200 content-type text/plain lf-string "p=%[path] h=%[req.hdr(nope)] q=%[query]|" hdr X-A "a %[method]" if { path /ret }
  http-request redirect location /new code 301 if { path /r1 }
  http-request redirect prefix /pre drop-query if { path /r2 }
  http-request redirect scheme https if { path /r3 }
  http-request auth realm "my realm" if { path /auth }
  http-request auth if { path /auth2 }
  http-request return if { path /empty }
  http-request return status 404 if { path /e404 }
"#;
    let r = rules(cfg);
    let mut run = Run::new();
    let mut get = |path: &str| reply(run.request(&r, &mut txn(&format!("GET {path} HTTP/1.1\nHost: ex.com"))));
    assert_eq!(get("/ret?x=1"), "HTTP/1.1 200 OK\r\nx-a: a GET\r\ncontent-length: 16\r\ncontent-type: text/plain\r\n\r\np=/ret h= q=x=1|");
    assert_eq!(get("/r1"), "HTTP/1.1 301 Moved Permanently\r\ncontent-length: 0\r\nlocation: /new\r\n\r\n");
    assert_eq!(get("/r2?q=1"), "HTTP/1.1 302 Found\r\ncontent-length: 0\r\nlocation: /pre/r2\r\ncache-control: no-cache\r\n\r\n");
    assert_eq!(get("/r3"), "HTTP/1.1 302 Found\r\ncontent-length: 0\r\nlocation: https://ex.com/r3\r\ncache-control: no-cache\r\n\r\n");
    assert_eq!(get("/auth"), "HTTP/1.1 401 Unauthorized\r\ncontent-length: 112\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nwww-authenticate: Basic realm=\"my realm\"\r\n\r\n<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n");
    assert!(get("/auth2").contains("www-authenticate: Basic realm=\"fe\"\r\n"));
    assert_eq!(get("/empty"), "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    assert_eq!(get("/e404"), "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
}

#[test]
fn variables_captures_and_log_level() {
    let cfg = "  http-request set-var(txn.p) path\n  http-request set-var(sess.n) int(3),add(1)\n  http-request set-var-fmt(req.f) \"%[var(txn.p)]-%[var(sess.n)]\"\n  http-request capture req.hdr(host) len 3\n  http-request set-log-level err if { var(req.f) -m str /a-4 }\n  http-request unset-var(txn.p)\n";
    let r = rules(cfg);
    let mut run = Run::new();
    let mut t = txn("GET /a HTTP/1.1\nHost: example.com");
    assert_eq!(run.request(&r, &mut t), Verdict::Continue);
    let name = |s: &str| VarName::parse(s).unwrap();
    assert_eq!(t.vars.get(&name("txn.p")), None);
    assert_eq!(t.vars.get(&name("req.f")), Some(&Sample::str("/a-4")));
    assert_eq!(run.sess.get(&name("sess.n")), Some(&Sample::Sint(4)));
    assert_eq!(t.req_captures, vec![Some(b"exa".to_vec())]);
    assert_eq!(t.log_level, Some(Level::Err));
    // `proc` variables outlive the transaction and the connection.
    let r = rules("  http-request set-var(proc.hits) var(proc.hits),add(1)\n  http-request set-var(proc.hits) int(1) unless { var(proc.hits) -m found }\n");
    for _ in 0..3 {
        Run::new().request(&r, &mut txn("GET / HTTP/1.1\nHost: h"));
    }
    let hits = crate::sample::vars::with_proc_vars(|p| p.get(&name("proc.hits")).cloned());
    assert_eq!(hits, Some(Sample::Sint(3)));
    // Converters set variables too, seen by the rest of the rule and the next ones.
    let r = rules("  http-request set-header X-L %[path,set-var(txn.p),length]-%[var(txn.p)]\n  http-request set-header X-P %[var(txn.p)] if { req.hdr(x-s),set-var(sess.s) -m found }\n");
    let mut t = txn("GET /abc HTTP/1.1\nHost: h\nX-S: 1");
    let mut run2 = Run::new();
    run2.request(&r, &mut t);
    assert_eq!(head(&t), "GET /abc HTTP/1.1\nHost: h\nX-S: 1\nX-L: 4-/abc\nX-P: /abc\n\n");
    assert_eq!(run2.sess.get(&name("sess.s")), Some(&Sample::str("1")));
    let r = rules("  http-request set-log-level silent\n");
    let mut t = txn("GET / HTTP/1.1\nHost: h");
    Run::new().request(&r, &mut t);
    assert!(t.silent);
}

#[test]
fn response_rules() {
    let cfg = "  http-response set-status 503 reason \"Go Away\" if { status 200 } { res.hdr(x-up) -m found }\n  http-response del-header server\n  http-response add-header X-Be %[be_name]\n  http-after-response set-header X-After %[status]\n  declare capture response len 8\n  http-response capture res.hdr(x-up) id 0\n";
    let r = rules(cfg);
    let mut run = Run::new();
    let mut t = with_response(txn("GET / HTTP/1.1\nHost: h"), "HTTP/1.1 200 OK\nServer: s\nX-Up: 1\nContent-Length: 0");
    let mut cursor = 0;
    assert_eq!(run_response(&r, &mut cursor, &mut t, &mut run.env()), Verdict::Continue);
    let mut cursor = 0;
    assert_eq!(run_after_response(&r, &mut cursor, &mut t, &mut run.env()), Verdict::Continue);
    let mut out = Vec::new();
    t.res.as_ref().unwrap().write_head(&mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "HTTP/1.1 503 Go Away\r\nX-Up: 1\r\nContent-Length: 0\r\nX-Be: be\r\nX-After: 503\r\n\r\n"
    );
    assert_eq!(t.res_captures, vec![Some(b"1".to_vec())]);
    let r = rules("  http-response deny if { status 500 }\n");
    let mut t = with_response(txn("GET / HTTP/1.1\nHost: h"), "HTTP/1.1 500 Oops\nContent-Length: 0");
    let mut cursor = 0;
    assert_eq!(run_response(&r, &mut cursor, &mut t, &mut run.env()), Verdict::Deny { status: 502 });
}

#[test]
fn conditions_on_named_and_predefined_acls() {
    let cfg = "  acl api path_beg /api\n  acl host_ex hdr(host) -i -m end .example.com\n  http-request deny if api host_ex METH_POST || { src 10.0.0.0/8 } HTTP_1.0\n  http-request use-service lua.svc unless api\n";
    let r = rules(cfg);
    let mut run = Run::new();
    let mut go = |t: &str| run.request(&r, &mut txn(t));
    assert_eq!(go("POST /api/x HTTP/1.1\nHost: WWW.EXAMPLE.COM\nContent-Length: 0"), Verdict::Deny { status: 403 });
    assert_eq!(go("GET /api/x HTTP/1.1\nHost: www.example.com"), Verdict::Continue);
    assert_eq!(go("GET /api HTTP/1.0"), Verdict::Deny { status: 403 });
    assert_eq!(go("GET /x HTTP/1.1\nHost: h"), Verdict::UseService("lua.svc".into()));
}

#[test]
fn the_cursor_resumes_where_it_stopped() {
    let r = rules("  http-request add-header A 1\n  http-request add-header B 2\n");
    let mut t = txn("GET / HTTP/1.1\nHost: h");
    let mut run = Run::new();
    let mut cursor = 1;
    run_request(&r, &mut cursor, &mut t, &mut run.env());
    assert_eq!(cursor, 2);
    assert_eq!(head(&t), "GET / HTTP/1.1\nHost: h\nB: 2\n\n");
}

#[test]
fn formats() {
    let t = txn("GET /p?q HTTP/1.1\nHost: h");
    let mut run = Run::new();
    let env = run.env();
    let cx = RuleCtx::new(&env, &t);
    let f = |s: &str| String::from_utf8(Fmt::parse(s).unwrap().render(&cx)).unwrap();
    assert_eq!(f("%ci:%cp %f %b %HM %HU %HP %HQ %HV 100%%"), "10.0.0.1:5000 fe be GET /p?q /p ?q HTTP/1.1 100%");
    assert_eq!(f("%{+Q}[path]-%[req.hdr(none)]-"), "\"/p\"--");
    assert_eq!(Fmt::parse("%[path").unwrap_err(), "missing ']' after 'path'");
    assert_eq!(
        Fmt::parse("%ci%q").unwrap_err(),
        "no such format variable 'q'. If you wanted to emit the '%' character verbatim, you need to use '%%'"
    );
    assert!(Fmt::parse("%[nope]").unwrap_err().starts_with("failed to parse sample expression <nope]> : unknown fetch method 'nope'"));
}

/// Messages worded as `haproxy -c` words them (checked against HAProxy 2.6).
#[test]
fn config_errors_read_as_haproxy_writes_them() {
    let cases = [
        ("http-request deny if nope", "parsing [t.cfg:4] : error detected while parsing an 'http-request deny' condition : no such ACL : 'nope'."),
        ("http-request set-header X-C %[nope]", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request set-header' rule : failed to parse sample expression <nope]> : unknown fetch method 'nope'."),
        ("http-request redirect", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request redirect' rule : redirection type expected ('prefix', 'location', or 'scheme')."),
        ("http-request redirect location", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request redirect' rule : missing argument for 'location'."),
        ("http-request return status 99", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request return' rule : Unexpected status code '99'."),
        ("http-response set-status abc", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-response set-status' rule : expects an integer status code between 100 and 999."),
        ("http-request set-header X", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request set-header' rule : expects exactly 2 arguments."),
        ("http-request deny deny_status 999", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request deny' rule : Unexpected status code '999'."),
        ("http-request set-var(foo) str(a)", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request set-var(foo)' rule : invalid variable name 'foo'. A variable name must be start by its scope. The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'."),
        ("http-request capture path", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request capture' rule : expects <expression> [ 'len' <length> | id <idx> ]."),
        ("http-request set-header X-C %[path", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request set-header' rule : missing ']' after 'path'."),
        ("http-request set-log-level foo", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request set-log-level' rule : expects exactly 1 argument (log level name or 'silent')."),
        ("http-request add-header X a b", "parsing [t.cfg:4]: 'http-request add-header' expects either 'if' or 'unless' followed by a condition but found 'b'."),
        ("http-request deny foo", "parsing [t.cfg:4]: 'http-request deny' expects either 'if' or 'unless' followed by a condition but found 'foo'."),
        ("http-request return status 200 string", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request return' rule : 'string' expects <str> as argument."),
        ("http-request return file /nonexistent/x", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request return' rule : error opening file '/nonexistent/x'."),
        ("http-request use-service foo", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request use-service' rule : 'foo' unknown service name.."),
        ("http-after-response foo", "parsing [t.cfg:4]: 'http-after-response' expects 'ot-group', 'add-header', 'allow', 'capture', 'del-header', 'replace-header', 'replace-value', 'set-header', 'set-status', 'strict-mode', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)', but got 'foo'."),
        ("http-request deny if { nope 1 }", "parsing [t.cfg:4] : error detected while parsing an 'http-request deny' condition : unknown fetch method 'nope' in ACL expression 'nope'."),
        ("http-request set-status 200", "parsing [t.cfg:4]: 'http-request' expects"),
        ("http-response auth", "parsing [t.cfg:4]: 'http-response' expects"),
        ("http-request early-hint a", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request early-hint' rule : expects exactly 2 arguments."),
        ("http-request early-hint a b c", "parsing [t.cfg:4]: 'http-request early-hint' expects either 'if' or 'unless' followed by a condition but found 'c'."),
        ("http-request wait-for-body", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request wait-for-body' rule : expects time <time> [ at-least <bytes> ]."),
        ("http-request wait-for-body time", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request wait-for-body' rule : missing argument for 'time'."),
        ("http-request wait-for-body time 1s at-least", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request wait-for-body' rule : missing argument for 'at-least'."),
        ("http-request wait-for-body time x", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request wait-for-body' rule : unexpected character 'x'."),
        ("http-request wait-for-body time 1s foo", "parsing [t.cfg:4]: 'http-request wait-for-body' expects either 'if' or 'unless' followed by a condition but found 'foo'."),
        ("http-request normalize-uri", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request normalize-uri' rule : missing argument <normalizer>."),
        ("http-request normalize-uri foo", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request normalize-uri' rule : unknown normalizer 'foo'."),
        ("http-request normalize-uri path-strip-dotdot x", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request normalize-uri' rule : unknown argument 'x' for 'path-strip-dotdot' normalizer."),
        ("http-request normalize-uri fragment-strip x", "parsing [t.cfg:4]: 'http-request normalize-uri' expects either 'if' or 'unless' followed by a condition but found 'x'."),
        ("http-request del-header X -m foo", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request del-header' rule : -m with unsupported matching method 'foo'."),
        ("http-request set-src", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request set-src' rule : missing fetch method."),
        ("http-request set-dst-port foo", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request set-dst-port' rule : unknown fetch method 'foo'."),
        ("http-request set-src hdr(x) bar", "parsing [t.cfg:4]: 'http-request set-src' expects either 'if' or 'unless' followed by a condition but found 'bar'."),
        ("http-request set-dst res.hdr(x)", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request set-dst' rule : fetch method 'res.hdr(x)' extracts information from 'HTTP response headers', none of which is available here."),
        ("http-response set-src-port src_port", "parsing [t.cfg:4]: 'http-response' expects"),
        ("http-request set-map(m.map) k", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request set-map(m.map)' rule : expects exactly 2 arguments."),
        ("http-request set-map(m.map) k v x", "parsing [t.cfg:4]: 'http-request set-map(m.map)' expects either 'if' or 'unless' followed by a condition but found 'x'."),
        ("http-request del-map(m.map)", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request del-map(m.map)' rule : expects exactly 1 arguments."),
        ("http-response add-acl(a.acl)", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-response add-acl(a.acl)' rule : expects exactly 1 arguments."),
        ("http-request del-acl(a.acl) %[res.hdr(x)]", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request del-acl(a.acl)' rule : sample fetch <res.hdr(x)]> may not be reliably used here because it needs 'HTTP response headers' which is not available here."),
        ("http-request set-timeout server", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request set-timeout' rule : expects exactly 2 arguments."),
        ("http-request set-timeout server 1s", "parsing [t.cfg:4] : error detected in frontend 'fe' while parsing 'http-request set-timeout' rule : proxy 'fe' has no backend capability."),
    ];
    let mut bad = Vec::new();
    for (line, want) in cases {
        let errs = config_errors(&format!("  {line}\n"));
        if !errs.iter().any(|e| e.contains(want)) {
            bad.push(format!("{line}:\n  want {want}\n  got  {errs:?}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn rules_in_defaults_need_a_name() {
    let text = "defaults\n  mode http\n  http-request set-header X-A 1\nfrontend fe\n  bind 127.0.0.1:0\n";
    let errs: Vec<String> = parse_str("t.cfg", text, &ParseOptions::default()).err().unwrap().iter().map(|d| d.to_string()).collect();
    assert!(errs.iter().any(|e| e.contains("parsing [t.cfg:3] : 'http-request' not allowed in anonymous 'defaults' section.")), "{errs:?}");
    let text = "defaults web\n  mode http\n  http-request set-header X-A 1\nfrontend fe from web\n  bind 127.0.0.1:0\n  http-request set-header X-B 2\n";
    let loaded = parse_str("t.cfg", text, &ParseOptions::default()).unwrap();
    let fe = loaded.config.proxies.iter().find(|p| p.name == "fe").unwrap();
    let r = HttpRules::compile(&fe.http_rules, &fe.acls, &fe.name).unwrap();
    let mut t = txn("GET / HTTP/1.1\nHost: h");
    Run::new().request(&r, &mut t);
    assert_eq!(head(&t), "GET / HTTP/1.1\nHost: h\nX-A: 1\nX-B: 2\n\n");
}

#[test]
fn tcp_rules_are_parsed() {
    use crate::config::model::{TcpAction, TcpRuleList};
    let text = "frontend fe\n  bind 127.0.0.1:0\n  tcp-request inspect-delay 5s\n  tcp-request connection reject if { src 10.0.0.0/8 }\n  tcp-request content set-var(sess.x) src\n  tcp-request content accept\n";
    let loaded = parse_str("t.cfg", text, &ParseOptions::default()).unwrap();
    let r = &loaded.config.proxies[0].tcp_rules;
    assert_eq!(r.len(), 4);
    assert_eq!(r[0].delay, Some(std::time::Duration::from_secs(5)));
    assert_eq!((r[1].list, r[1].action.clone(), r[1].cond.is_some()), (TcpRuleList::Connection, Some(TcpAction::Reject), true));
    assert_eq!(r[2].action, Some(TcpAction::SetVar { name: "sess.x".into(), expr: "src".into() }));
    let errs = config_errors("  tcp-request connection accept x\n  tcp-request foo\n  tcp-request inspect-delay abc\n  tcp-response content accept\n");
    for want in [
        "parsing [t.cfg:4] : 'tcp-request connection accept' only accepts 'if' or 'unless', in frontend 'fe' (got 'x')",
        "parsing [t.cfg:5] : 'tcp-request' expects 'inspect-delay', 'connection', or 'content' in frontend 'fe' (got 'foo')",
        "parsing [t.cfg:6] : 'tcp-request inspect-delay' expects a positive delay in milliseconds, in frontend 'fe' (unexpected character 'a')",
        "parsing [t.cfg:7] : tcp-response content is only allowed in 'backend' sections or 'defaults' section with a name",
    ] {
        assert!(errs.iter().any(|e| e.contains(want)), "{want}\n{errs:?}");
    }
    // `set-src`...: checked against an HTTP request's fetches whatever the list, as 2.6.
    let errs = config_errors("  tcp-request content set-src
  tcp-request connection set-dst foo
  tcp-request content set-src src bar
  tcp-request connection set-dst-port res.hdr(x)
  tcp-request connection set-src hdr(x)
");
    for want in [
        "parsing [t.cfg:4] : missing fetch method",
        "parsing [t.cfg:5] : unknown fetch method 'foo'",
        "parsing [t.cfg:6] : 'tcp-request content set-src' only accepts 'if' or 'unless', in frontend 'fe' (got 'bar')",
        "parsing [t.cfg:7] : fetch method 'res.hdr(x)' extracts information from 'HTTP response headers', none of which is available here",
    ] {
        assert!(errs.iter().any(|e| e.contains(want)), "{want}\n{errs:?}");
    }
    assert!(!errs.iter().any(|e| e.contains("t.cfg:8")), "{errs:?}");
}

/// Fetches the live comparison cannot reach (responses, bodies, captures).
#[test]
fn response_body_and_capture_fetches() {
    let mut t = with_response(
        txn("POST /p HTTP/1.1\nHost: h\nContent-Length: 5"),
        "HTTP/1.0 404 Nope\nSet-Cookie: sid=abc; Path=/\nSet-Cookie: lang=fr\nX-A: 1, 2\nX-A: 3\nContent-Length: 0",
    );
    t.req_body = b"hello".to_vec();
    t.res_body = b"xy".to_vec();
    t.req_captures = vec![Some(b"cap0".to_vec()), None];
    t.res_captures = vec![Some(b"rcap".to_vec())];
    t.unique_id = Some("uid-1".into());
    let mut run = Run::new();
    let env = run.env();
    let cx = RuleCtx::new(&env, &t);
    let f = |e: &str| {
        let expr = Expr::parse(e).unwrap_or_else(|err| panic!("{e}: {err}"));
        expr.eval_str(&cx).map(|v| String::from_utf8(v).unwrap())
    };
    let s = |v: &str| Some(v.to_string());
    let cases = [
        ("status", s("404")),
        ("res.ver", s("1.0")),
        ("capture.res.ver", s("HTTP/1.0")),
        ("res.hdr(x-a)", s("3")),
        ("res.hdr(x-a,1)", s("1")),
        ("res.fhdr(x-a,1)", s("1, 2")),
        ("res.hdr_cnt(x-a)", s("3")),
        ("res.fhdr_cnt(x-a)", s("2")),
        ("res.hdr_names", s("set-cookie,set-cookie,x-a,x-a,content-length")),
        ("res.cook(sid)", s("abc")),
        ("scook(lang)", s("fr")),
        ("res.cook_cnt", s("2")),
        ("req.body", s("hello")),
        ("req.body_len", s("5")),
        ("req.body_size", s("5")),
        ("res.body", s("xy")),
        ("res.body_len", s("2")),
        ("capture.req.hdr(0)", s("cap0")),
        ("capture.req.hdr(1)", None),
        ("capture.res.hdr(0)", s("rcap")),
        ("unique-id", s("uid-1")),
        ("req.len", s(&(b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n".len() + 5).to_string())),
        ("fe_name", s("fe")),
        ("be_name", s("be")),
        ("src", s("10.0.0.1")),
    ];
    for (e, want) in cases {
        assert_eq!(f(e), want, "{e}");
    }
    // In ACLs every Set-Cookie and every comma-separated value is tried.
    let r = rules("  http-response set-header X-M 1 if { res.cook(lang) fr } { res.hdr(x-a) 2 }\n");
    let mut cursor = 0;
    run_response(&r, &mut cursor, &mut t, &mut run.env());
    assert_eq!(t.res.as_ref().unwrap().headers.get("x-m"), Some(&b"1"[..]));
}

/// `early-hint` and `wait-for-body` hand the stream a job and leave the cursor after
/// their rule, so the list resumes there; HTTP/1.0 clients get no hints.
#[test]
fn early_hints_and_body_waits_resume_after_their_rule() {
    let r = rules(
        "  http-request early-hint link \"</a.css>; rel=preload\"\n  http-request wait-for-body time 2s at-least 1k\n  http-request early-hint x-p %[path]\n  http-request set-header x-done 1\n",
    );
    let mut t = txn("GET /p HTTP/1.1\nHost: h");
    let mut run = Run::new();
    let mut cursor = 0;
    let v = run_request(&r, &mut cursor, &mut t, &mut run.env());
    assert_eq!(v, Verdict::EarlyHint(b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n".to_vec()));
    assert_eq!(cursor, 1);
    let v = run_request(&r, &mut cursor, &mut t, &mut run.env());
    assert_eq!(v, Verdict::Yield(WaitFor::Body { time: std::time::Duration::from_secs(2), at_least: 1024 }));
    let v = run_request(&r, &mut cursor, &mut t, &mut run.env());
    assert_eq!(v, Verdict::EarlyHint(b"HTTP/1.1 103 Early Hints\r\nx-p: /p\r\n\r\n".to_vec()));
    assert_eq!(run_request(&r, &mut cursor, &mut t, &mut run.env()), Verdict::Continue);
    assert_eq!(t.req.as_ref().unwrap().headers.get("x-done").map(|v| v.to_vec()), Some(b"1".to_vec()));
    // HTTP/1.0: the hints are skipped.
    let mut t = txn("GET /p HTTP/1.0");
    let mut cursor = 0;
    let v = run_request(&r, &mut cursor, &mut t, &mut run.env());
    assert!(matches!(v, Verdict::Yield(WaitFor::Body { .. })), "{v:?}");
}

/// `normalize-uri` rewrites the target; a `strict` normalizer answers 400 to a bad
/// percent-encoding.
#[test]
fn normalize_uri_rewrites_or_refuses() {
    let (v, t) = req_run(
        "  http-request normalize-uri path-merge-slashes\n  http-request normalize-uri path-strip-dotdot\n  http-request normalize-uri query-sort-by-name\n",
        "GET //a/b/../c?z=1&a=2 HTTP/1.1\nHost: h",
    );
    assert_eq!(v, Verdict::Continue);
    assert_eq!(t.req.as_ref().unwrap().line.target, "/a/c?a=2&z=1");
    let (v, _) = req_run("  http-request normalize-uri percent-to-uppercase strict\n", "GET /%zz HTTP/1.1\nHost: h");
    assert_eq!(v, Verdict::Deny { status: 400 });
}

/// `set-timeout`'s arguments in a proxy with a backend, worded as `haproxy -c` (2.6).
#[test]
fn set_timeout_arguments_read_as_haproxy() {
    let parse = |line: &str| {
        let words: Vec<String> = line.split(' ').map(String::from).collect();
        match Action::parse(HttpRuleList::Request, &words, "p", 0) {
            Ok(Action::SetTimeout { tunnel, value: TimeoutValue::Fixed(d) }) => format!("tunnel={tunnel} {d:?}"),
            Ok(Action::SetTimeout { tunnel, value: TimeoutValue::Expr(e) }) => format!("tunnel={tunnel} expr {}", e.keyword()),
            Ok(other) => format!("{other:?}"),
            Err(ActionError::Args(m)) => m,
            Err(e) => format!("{e:?}"),
        }
    };
    assert_eq!(parse("set-timeout server 5s"), "tunnel=false 5s");
    assert_eq!(parse("set-timeout tunnel 1us"), "tunnel=true 1ms");
    assert_eq!(parse("set-timeout server req.hdr(x-t)"), "tunnel=false expr req.hdr");
    assert_eq!(parse("set-timeout client 1s"), "'set-timeout' rule supports 'server'/'tunnel' (got 'client')");
    assert_eq!(parse("set-timeout server 0"), "null value is not valid for a 'set-timeout server' rule");
    assert_eq!(parse("set-timeout server -1"), "unexpected character '-' in rule 'set-timeout server'");
    assert_eq!(parse("set-timeout tunnel 1x"), "unexpected character 'x' in rule 'set-timeout tunnel'");
    assert_eq!(
        parse("set-timeout server 30d"),
        "timer overflow in argument '30d' to rule 'set-timeout server' (maximum value is 2147483647 ms or ~24.8 days)"
    );
    assert_eq!(parse("set-timeout server 1s x"), "unexpected keyword 'x'");
}
