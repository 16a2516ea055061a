//! Lua sample fetches and converters (`lua.NAME(args)`, `,lua.NAME(args)`) end to end:
//! the real binary on loopback in front of the HTTP test application
//! (`common::http_app`). Where HAProxy 2.6 is installed the same scripts and
//! configurations run on it too, with the same expectations.

mod common;
use common::*;

const GLOBAL: &str = "global\n    lua-load {{dir}}/t.lua\ndefaults\n    mode http\n    timeout connect 5s\n    timeout client 5s\n    timeout server 5s\n";

/// A frontend with `rules` in front of the test application (`be`) and a second
/// backend answering `two` (`be2`).
fn config(rules: &str) -> String {
    format!(
        "{GLOBAL}frontend fe\n    bind 127.0.0.1:{{{{fe}}}}\n{rules}\n    default_backend be\nbackend be\n    server s1 127.0.0.1:{{{{be}}}}\nbackend be2\n    server s1 127.0.0.1:{{{{be2}}}}\n"
    )
}

fn start(bin: &std::path::Path, rules: &str, be: &Backend, be2: &Backend) -> Proxy {
    ProxyBuilder::new(&config(rules))
        .bin(bin)
        .file("t.lua", SCRIPT)
        .port("be", be.port())
        .port("be2", be2.port())
        .start()
}

fn get(p: &Proxy, request: &str) -> HttpResponse {
    let mut c = p.connect("fe");
    c.http_request(request.as_bytes())
}

/// A header of the request as the test application received it (`/headers` answers
/// with the request head).
fn seen<'a>(r: &'a HttpResponse, name: &str) -> Option<&'a str> {
    let body = std::str::from_utf8(&r.body).ok()?;
    body.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

const SCRIPT: &str = r#"
core.register_fetches("my-hash", function(txn, salt)
  return txn.sc:sdbm(salt .. txn.sf:req_fhdr("host") .. txn.sf:path() .. txn.sf:src(), 1)
end)
core.register_fetches("hello", function(txn, a, b) return "hi-" .. tostring(a) .. "-" .. tostring(b) end)
core.register_fetches("kind", function(txn) return txn.sf:req_hdr("x-kind") end)
core.register_fetches("num", function(txn) return 41 + 1 end)
core.register_fetches("nilf", function(txn) return nil end)
core.register_fetches("nothing", function(txn) return end)
core.register_fetches("getvar", function(txn) return txn:get_var("txn.v") end)
core.register_fetches("boom", function(txn) error("kaboom") end)
core.register_fetches("sleepy", function(txn) core.msleep(10) return "x" end)
core.register_converters("up", function(v, suffix) return string.upper(v) .. (suffix or "") end)
core.register_converters("len", function(v) return #v end)
core.register_converters("bad", function(v) error("bad " .. v) end)
core.register_fetches("pick", function(txn) return txn.sf:req_hdr("x-be") end)
core.register_fetches("setter", function(txn) txn:set_var("txn.from_fetch", "ff") return "ok" end)
"#;

#[test]
fn fetches_and_converters_feed_headers_and_variables() {
    let (be, be2) = (http_app(), Backend::http(b"two"));
    let rules = [
        "    http-request set-var(txn.v) str(vv)",
        "    http-request set-var(txn.h) req.fhdr(host)",
        "    http-request set-var(txn.p) path",
        "    http-request set-var(txn.s) src",
        "    http-request set-header X-Hash %[lua.my-hash(salt)]",
        "    http-request set-header X-Native %[str(salt),concat(,txn.h,),concat(,txn.p,),concat(,txn.s,),sdbm(1)]",
        "    http-request set-header X-Hello %[lua.hello(a,b)]",
        "    http-request set-header X-Num %[lua.num]",
        "    http-request set-header X-Nil [%[lua.nilf]]",
        "    http-request set-header X-Nothing [%[lua.nothing]]",
        "    http-request set-header X-Var %[lua.getvar]",
        "    http-request set-var(txn.c) str(ab),lua.up(q)",
        "    http-request set-var(txn.l) lua.hello(x,y),lua.len",
        "    http-request set-header X-Conv %[var(txn.c)]-%[var(txn.l)]",
        "    http-request set-header X-Set %[lua.setter]",
        "    http-request set-header X-From-Fetch %[var(txn.from_fetch)]",
    ]
    .join("\n");
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, &rules, &be, &be2);
        let r = get(&p, "GET /headers HTTP/1.1\r\nHost: example.test\r\n\r\n");
        assert_eq!(r.status, 200, "{bin:?}");
        let hash = seen(&r, "x-hash").unwrap_or_default();
        assert!(hash.parse::<u32>().is_ok(), "{bin:?}: {hash:?}");
        assert_eq!(
            Some(hash),
            seen(&r, "x-native"),
            "{bin:?}: the seed's lua.my-hash"
        );
        assert_eq!(seen(&r, "x-hello"), Some("hi-a-b"), "{bin:?}");
        assert_eq!(seen(&r, "x-num"), Some("42"), "{bin:?}");
        assert_eq!(
            seen(&r, "x-nil"),
            Some("[0]"),
            "{bin:?}: nil is the boolean false"
        );
        assert_eq!(
            seen(&r, "x-nothing"),
            Some("[]"),
            "{bin:?}: a bare return, no sample"
        );
        assert_eq!(seen(&r, "x-var"), Some("vv"), "{bin:?}");
        assert_eq!(seen(&r, "x-conv"), Some("ABq-6"), "{bin:?}");
        assert_eq!(seen(&r, "x-set"), Some("ok"), "{bin:?}");
        assert_eq!(
            seen(&r, "x-from-fetch"),
            Some("ff"),
            "{bin:?}: a variable set by a fetch"
        );
    }
}

#[test]
fn a_fetch_in_an_acl_chooses_the_backend() {
    let (be, be2) = (http_app(), Backend::http(b"two"));
    let rules = "    acl api lua.kind -m str api\n    use_backend be2 if api";
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, rules, &be, &be2);
        let r = get(
            &p,
            "GET /headers HTTP/1.1\r\nHost: a\r\nX-Kind: api\r\n\r\n",
        );
        assert_eq!(r.body, b"two", "{bin:?}");
        let r = get(
            &p,
            "GET /headers HTTP/1.1\r\nHost: a\r\nX-Kind: web\r\n\r\n",
        );
        assert_eq!(seen(&r, "x-kind"), Some("web"), "{bin:?}");
    }
}

#[test]
fn a_failing_fetch_is_logged_and_gives_no_sample_a_yielding_one_waits() {
    let (be, be2) = (http_app(), Backend::http(b"two"));
    let rules = "    http-request set-header X-E [%[lua.boom]]\n    http-request set-header X-S [%[lua.sleepy]]";
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, rules, &be, &be2);
        let r = get(&p, "GET /headers HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 200, "{bin:?}");
        assert_eq!(seen(&r, "x-e"), Some("[]"), "{bin:?}");
        // HAProxy refuses the yield; moonproxy lets an http-request rule wait for it
        // (tests/lua_yield_fetches.rs).
        let haproxy = Some(&bin) == haproxy_bin().as_ref();
        let slept = if haproxy { "[]" } else { "[x]" };
        assert_eq!(seen(&r, "x-s"), Some(slept), "{bin:?}");
        let file = format!("{}/t.lua", p.dir().display());
        p.wait_for_line(
            |l| l.ends_with(&format!("Lua sample-fetch 'boom': [state-id 0] runtime error: {file}:11: kaboom from [C]: in global 'error', {file}:11: in function line 11.")),
            DEADLINE,
        );
        if haproxy {
            p.wait_for_line(
                |l| l.ends_with("Lua sample-fetch 'sleepy': yield not allowed."),
                DEADLINE,
            );
        }
    }
}

/// The `config : ...` alerts of a run, without the `[ALERT] (pid) : ` prefix.
fn alerts(o: &RunOutput) -> Vec<String> {
    o.stderr
        .lines()
        .filter_map(|l| l.split_once(" : config : ").map(|(_, m)| m.to_string()))
        .collect()
}

#[test]
fn unknown_lua_fetches_and_converters_are_refused_with_haproxys_messages() {
    let cases = [
        (
            "    http-request set-header X-A %[lua.nope]",
            "parsing [{cfg}:10] : error detected in frontend 'fe' while parsing 'http-request set-header' rule : failed to parse sample expression <lua.nope]> : unknown fetch method 'lua.nope'.",
        ),
        (
            "    http-request set-header X-A %[str(a),lua.nope]",
            "parsing [{cfg}:10] : error detected in frontend 'fe' while parsing 'http-request set-header' rule : failed to parse sample expression <str(a),lua.nope]> : unknown converter 'lua.nope'.",
        ),
    ];
    for bin in moonproxy_and_haproxy() {
        for (rule, want) in cases {
            let o = ProxyBuilder::new(&config(rule))
                .bin(&bin)
                .file("t.lua", SCRIPT)
                .port("be", 1)
                .port("be2", 1)
                .flags(["-c"])
                .run();
            assert_ne!(o.code(), Some(0), "{bin:?}");
            let a = alerts(&o);
            assert!(
                a.iter().any(|m| {
                    let (before, after) = want.split_once("{cfg}").unwrap();
                    m.starts_with(before) && m.ends_with(after)
                }),
                "{bin:?}: {}",
                o.stderr
            );
        }
    }
    // Known names pass the check.
    let o = ProxyBuilder::new(&config(
        "    http-request set-header X-A %[lua.hello(a),lua.up]",
    ))
    .file("t.lua", SCRIPT)
    .port("be", 1)
    .port("be2", 1)
    .flags(["-c"])
    .run();
    assert_eq!(o.code(), Some(0), "{}", o.stderr);
}

#[test]
fn a_lua_fetch_without_lua_load_is_unknown() {
    let o = ProxyBuilder::new(
        "defaults\n    mode http\n    timeout connect 5s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:{{fe}}\n    http-request set-var(txn.x) lua.x\n",
    )
    .flags(["-c"])
    .run();
    assert_ne!(o.code(), Some(0));
    assert!(
        alerts(&o)
            .iter()
            .any(|m| m.ends_with("unknown fetch method 'lua.x'.")),
        "{}",
        o.stderr
    );
}

#[test]
fn a_fetch_names_the_backend_and_a_failing_converter_is_logged() {
    let (be, be2) = (http_app(), Backend::http(b"two"));
    let rules = "    use_backend %[lua.pick] if { req.hdr(x-be) -m found }\n    http-request set-header X-B [%[str(v),lua.bad]]";
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, rules, &be, &be2);
        let r = get(&p, "GET /headers HTTP/1.1\r\nHost: a\r\nX-Be: be2\r\n\r\n");
        assert_eq!(r.body, b"two", "{bin:?}");
        let r = get(&p, "GET /headers HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 200, "{bin:?}");
        assert_eq!(seen(&r, "x-b"), Some("[]"), "{bin:?}");
        let file = format!("{}/t.lua", p.dir().display());
        p.wait_for_line(
            |l| l.ends_with(&format!("Lua converter 'bad': [state-id 0] runtime error: {file}:15: bad v from [C]: in global 'error', {file}:15: in function line 15.")),
            DEADLINE,
        );
    }
}
