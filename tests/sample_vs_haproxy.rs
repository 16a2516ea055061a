//! Sample expressions and ACL matches evaluated by `moonproxy::sample` and by the
//! real HAProxy 2.6, side by side.
//!
//! One `haproxy` process serves every case: each expression becomes an
//! `http-request return ... lf-string "%[expr]" if { path /N }` rule, and the body it
//! answers is compared with what `Expr::eval_str` gives for a context holding the
//! same names, addresses and variables. ACL conditions are compared the same way
//! (`string 1 if { path /N } { acl }`, else `string 0`). Parse errors are compared the same way, with
//! one `haproxy -c` run over a configuration of bad `set-var` lines.
//!
//! Without `haproxy` the tests are skipped with a note, unless `CI` is set
//! (`.ci/run` installs it), where they fail.

use moonproxy::sample::{Expr, Matcher, Method, Sample, TestCtx, VarName, Vars};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Deterministic expressions covering every converter and cast family.
const EXPRS: &[&str] = &[
    "str(abc),base64",
    "str(Hello World),lower",
    "str(Hello World),upper",
    "str(hello),length",
    "str(YWJj),b64dec",
    "str(abc),hex",
    "str(a%20b%2Fc+d),url_dec",
    "str(a+b),url_dec(1)",
    "str(a%zzb%4),url_dec",
    "str(a b/c?d=e&f-g.h_i~j),url_enc",
    "str(a b/c?d=e&f),url_enc(query)",
    "str('a\"b\\\\c'),json",
    "str(é),json",
    "str(é),json(utf8)",
    "str(192.168.1.77),ipmask(24)",
    "src,ipmask(16)",
    "ipv6(2001:db8::1),ipmask(24,64)",
    "ipv6(::ffff:1.2.3.4),ipmask(8,96)",
    "str(abc),sdbm",
    "str(abc),sdbm(1)",
    "str(hello world),djb2",
    "str(abc),djb2(1)",
    "str(abc),crc32",
    "str(abc),crc32(1)",
    "str(The quick brown fox),crc32c",
    "str(abc),wt6",
    "str(The quick brown fox),wt6(1)",
    "str(abc),xxh64",
    "str(abc),xxh64(1)",
    "str(The quick brown fox jumps over the lazy dog),xxh64(7)",
    "str(The quick brown fox jumps over the lazy dog),xxh32(7)",
    "int(-1),crc32",
    "str(a/b/c/d),field(2,/)",
    "str(a/b/c/d),field(-2,/,2)",
    "str(a/b/c/d),field(2,/,0)",
    "str(a/b/c/d),field(-2,/,0)",
    "str(//a//b/c),word(2,/)",
    "str(//a//b/c),word(-1,/)",
    "str(//a//b/c),word(1,/,2)",
    "str(hello world),regsub(o,0,g)",
    "str(Hello),regsub(h,X,i)",
    "str(aaa),regsub(a*,X,g)",
    "str(abc),regsub('^a(.*)$','\\1\\1')",
    "str('x=1;y=2'),regsub('([a-z])=([0-9])','\\2\\1',g)",
    "str(path/to/file.tar.gz),regsub('\\.[a-z]+$',.bz2)",
    "int(10),add(5)",
    "int(10),sub(15)",
    "int(10),mul(-3)",
    "int(-10),div(3)",
    "int(10),div(0)",
    "int(-10),mod(3)",
    "int(10),mod(0)",
    "int(10),neg",
    "int(12),and(10)",
    "int(12),or(3)",
    "int(12),xor(10)",
    "int(12),not",
    "int(0),not",
    "int(7),bool",
    "int(9223372036854775807),add(1)",
    "int(-9223372036854775807),sub(10)",
    "int(4611686018427387904),mul(4)",
    "int(-9223372036854775808),neg",
    "int(3),add(sess.s1)",
    "int(7),sub(txn.v1)",
    "int(3),add(txn.nope)",
    "str(12abc),add(1)",
    "str(abc),add(1)",
    "str(-12x),add(0)",
    "str(99999999999999999999),add(0)",
    "str(),bool",
    "str(10.0.0.1),bool",
    "ipv4(1.2.3.4),add(1)",
    "ipv4(1.2.3.4),hex",
    "ipv6(::1),hex",
    "int(65),hex",
    "int(300),base64",
    "bool(1),hex",
    "ipv4(1.2.3.4),length",
    "meth(get),upper",
    "bin(616263)",
    "int(1000),utime(%Y-%m-%d %H:%M:%S)",
    "int(86400),utime(%a %d %b %Y %j %e %T)",
    "int(1000),utime(%H:%M,-3600)",
    "int(1700000000),ltime(%Y-%m-%d %H:%M:%S)",
    "str(abc),concat(-,txn.v1,-)",
    "str(abc),concat(-,txn.nope,-)",
    "str(a),concat(b,sess.s1,c)",
    "str(abcdef),bytes(2)",
    "str(abcdef),bytes(2,3)",
    "str(abcdef),bytes(10)",
    "str('{\"a\":\"x\"}'),json_query('$.a')",
    "str('{\"a\":12}'),json_query('$.a','int')",
    "str('{\"a\":true}'),json_query('$.a')",
    "str('{\"a\":1.5}'),json_query('$.a')",
    "str('{\"a\":[1,\"z\"]}'),json_query('$.a[1]')",
    "str('{\"a\":null}'),json_query('$.a')",
    "str('it''s'),upper",
    "str(a\\ b),upper",
    "int(-5)",
    "bool(true)",
    "always_true",
    "always_false",
    "ipv6(::ffff:1.2.3.4)",
    "src",
    "dst",
    "fe_name",
    "be_name",
    "env(MPTEST)",
    "env(NOPE_NOT_SET)",
    "var(txn.v1)",
    "var(sess.s1),add(1)",
    "str(xxabcxx),ltrim(x)",
    "str(xxabcxx),rtrim(x)",
    "str(xyx),ltrim(xy)",
    "str(ff),hex2i",
    "str(1A),hex2i",
    "str(-1a),hex2i",
    "str(zz),hex2i",
    "int(1),iif(yes,no)",
    "int(0),iif(yes,no)",
    "str(abc),iif(yes,no)",
    "int(1700000000),http_date",
    "int(1700000000000),http_date(0,ms)",
    "int(1700000000),http_date(3600)",
    "int(1700000000123),http_date(0,ms)",
    "int(1700000000000123),http_date(1,us)",
    "str(ABCDEF0123456789AB),hex2i",
    "str(a),add_item(',',txn.v1)",
    "str(),add_item(',',txn.v1)",
    "str(a),add_item(',',txn.nope)",
    "str(a),add_item(',',txn.nope,x)",
    "int(5),even",
    "int(5),odd",
    "int(5),cpl",
    "str(abc),ub64enc",
    "str(ab?),ub64enc",
    "str(-_8),ub64dec,hex",
    "str(YW),b64dec",
    "str(YWJ=),b64dec",
    "str(Y===),b64dec",
    "uuid,length",
    "date,length",
];

/// ACL conditions: `fetch -m method [-i] patterns...`.
const ACLS: &[&str] = &[
    "str(abc) -m str abc",
    "str(abc) -m str ABC",
    "str(abc) -m str -i ABC",
    "str(/api/v1) -m beg /api",
    "str(/api/v1) -m beg /v1",
    "str(a.JPG) -m end -i .jpg",
    "str(a.JPG) -m end .jpg",
    "str(/api/v1) -m sub x pi/",
    "str(/api/v1) -m reg ^/a.i/v[0-9]$",
    "str(Hello) -m reg -i ^hello",
    "str(Hello) -m reg ^hello",
    "str(a{x) -m reg ^a{x$",
    "str(aaa) -m reg ^a{,3}$",
    "str(AB) -m reg -i ^a[b]$",
    // Exponential for a backtracking engine; the match is the final `b`.
    "str(aaaaaaaaaaaaaaaaaaaaaaaaxb) -m reg (a|aa)*b",
    "str(/api/v1) -m dir api",
    "str(/api/v1) -m dir ap",
    "str(www.example.com) -m dom example",
    "str(www.example.com) -m dom exam",
    "str(abcd) -m len 3:5",
    "str(abcd) -m len 5:",
    "int(15) -m int 10:20",
    "int(15) -m int gt 15",
    "int(15) -m int ge 15",
    "int(-5) -m int :0",
    "str(12abc) -m int 12",
    "str(abc) -m int 0",
    "int(42) -m str 42",
    "int(1) -m beg 1",
    "int(0) -m bool",
    "int(3) -m bool",
    "str(0) -m bool",
    "str() -m bool",
    "str() -m found",
    "var(txn.nope) -m found",
    "var(txn.v1) -m found",
    "src -m ip 127.0.0.0/8",
    "src -m ip 10.0.0.0/8",
    "str(10.1.2.3) -m ip 10.0.0.0/255.0.0.0",
    "ipv6(::ffff:10.0.0.1) -m ip 10.0.0.0/8",
    "ipv4(10.0.0.1) -m ip ::ffff:10.0.0.0/104",
    "ipv6(2001:db8::5) -m ip 2001:db8::/32",
    "str(abc) -m ip 1.2.3.4",
    "bin(00ff) -m bin 00FF",
    "str(ab) -m bin 6162",
    "src,ipmask(24) -m ip 127.0.0.0",
    "str(abc),upper -m str ABC",
];

/// Expressions `haproxy -c` refuses, with the reason it gives.
const BAD: &[&str] = &[
    "nosuch",
    "fc_rtt(s)",
    "distcc_param(ABCDE)",
    "str(abc),nosuch",
    "str(abc",
    "str(abc),lower(1)",
    "str(a,b)",
    "int(abc)",
    "int()",
    "str(abc),field(x,/)",
    "str(a.b.c),field(0,.)",
    "ipv6(::1),add(1)",
    "str(abc),ipmask(33)",
    "str(abc),bytes()",
    "str(abc),regsub(a,b,z)",
    "str(abc),regsub((b),[\\1])",
    "str(abc),concat(a,b)",
    "var(foo)",
    "src(1)",
    "str(abc)x",
    "ipv4(1.2.3)",
    "str(abc),json(foo)",
    "str(abc),json_query('$.a',foo)",
    "uuid(3)",
    "str(abc),sub(txn)",
    "int(3),mul(int(2))",
    "date(1,x)",
    "int(1),div(1,2)",
    "str(abc),url_enc(foo)",
    "bool(yes)",
    "bin(0)",
    // Casts that do not exist.
    "bin(3132),add(1)",
    "meth(GET),add(1)",
    "bin(00),ipmask(8)",
    "ipv6(::1),bool",
    "bool(1),ipmask(8)",
    "meth(GET),ipmask(8)",
];

fn haproxy() -> Option<PathBuf> {
    let candidates = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("haproxy"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let found = candidates
        .into_iter()
        .chain([PathBuf::from("/usr/sbin/haproxy")])
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "haproxy is not installed, and CI is set: .ci/run should have installed it"
        );
        eprintln!("note: haproxy not found, skipping the comparison with HAProxy");
    }
    found
}

/// The config layer's escaping for a double-quoted word.
fn quote(e: &str) -> String {
    e.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('$', "\\$")
}

mod common;
use common::{free_port, held_port};

/// The running haproxy, killed on drop, and its configuration directory.
struct Haproxy {
    child: Child,
    _dir: tempdir::Dir,
}

impl Haproxy {
    /// Runs `bin -db -q -f <cfg>` from a fresh directory and waits until `port` listens.
    fn start(bin: &std::path::Path, tag: &str, cfg: &str, port: u16) -> Haproxy {
        let dir = tempdir::Dir::new(tag);
        let path = dir.0.join("haproxy.cfg");
        std::fs::write(&path, cfg).unwrap();
        let child = Command::new(bin)
            .arg("-db")
            .arg("-q")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let guard = Haproxy { child, _dir: dir };
        wait_listening(port);
        guard
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

mod tempdir {
    /// A directory under the system temp dir, removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new(tag: &str) -> Dir {
            let p = std::env::temp_dir().join(format!("moonproxy-{tag}-{}", std::process::id()));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

const PROLOGUE: &str = "global\n  setenv MPTEST hello\ndefaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 5s\n";

fn get(port: u16, path: &str) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let head_end = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response");
    assert!(
        resp.starts_with(b"HTTP/1.0 200") || resp.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&resp)
    );
    resp[head_end + 4..].to_vec()
}

fn ctx(port: u16) -> TestCtx {
    let mut vars = Vars::new();
    vars.set(&VarName::parse("txn.v1").unwrap(), Sample::str("foo"));
    vars.set(&VarName::parse("sess.s1").unwrap(), Sample::Sint(42));
    TestCtx {
        src: Some(SocketAddr::from(([127, 0, 0, 1], 1))),
        dst: Some(SocketAddr::from(([127, 0, 0, 1], port))),
        frontend: Some("fe".into()),
        backend: Some("be".into()),
        vars,
        env: Some(vec![("MPTEST".into(), "hello".into())]),
        ..TestCtx::default()
    }
}

#[test]
fn expressions_give_what_haproxy_gives() {
    let Some(bin) = haproxy() else { return };
    let (port, hold) = held_port();
    let mut cfg = format!(
        "{PROLOGUE}frontend fe\n  bind 127.0.0.1:{port}\n  http-request set-var(txn.v1) str(foo)\n  http-request set-var(sess.s1) int(42)\n  default_backend be\nbackend be\n"
    );
    for (i, e) in EXPRS.iter().enumerate() {
        cfg.push_str(&format!(
            "  http-request return status 200 content-type text/plain lf-string \"%[{}]\" if {{ path /{i} }}\n",
            quote(e)
        ));
    }
    cfg.push_str("  server s1 127.0.0.1:1\n");
    let _guard = Haproxy::start(&bin, "sample-vs-haproxy", &cfg, port);
    drop(hold);
    let cx = ctx(port);
    let mut bad = Vec::new();
    for (i, e) in EXPRS.iter().enumerate() {
        let theirs = get(port, &format!("/{i}"));
        let expr = Expr::parse(e).unwrap_or_else(|err| panic!("{e}: {err}"));
        // HAProxy prints nothing for a dropped sample, as for an empty one.
        let ours = expr.eval_str(&cx).unwrap_or_default();
        if ours != theirs {
            bad.push(format!(
                "{e}: haproxy {:?}, moonproxy {:?}",
                String::from_utf8_lossy(&theirs),
                String::from_utf8_lossy(&ours)
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} differ:\n{}",
        bad.len(),
        EXPRS.len(),
        bad.join("\n")
    );
}

/// Compiles an ACL line from [`ACLS`] with the library: the expression, then the
/// `-m` method, `-i`, and the patterns.
fn our_acl(line: &str, cx: &TestCtx) -> bool {
    let mut words = line.split(' ');
    let expr = Expr::parse(words.next().unwrap()).unwrap();
    assert_eq!(words.next(), Some("-m"));
    let method = Method::parse(words.next().unwrap()).unwrap();
    let mut pats: Vec<&str> = words.collect();
    let icase = pats.first() == Some(&"-i");
    if icase {
        pats.remove(0);
    }
    let m = Matcher::compile(expr.fetch_name(), expr.out_type(), method, icase, &pats)
        .unwrap_or_else(|e| panic!("{line}: {e}"));
    m.matches(expr.eval(cx))
}

#[test]
fn acl_matches_agree_with_haproxy() {
    let Some(bin) = haproxy() else { return };
    let (port, hold) = held_port();
    let mut cfg = format!(
        "{PROLOGUE}frontend fe\n  bind 127.0.0.1:{port}\n  http-request set-var(txn.v1) str(foo)\n  default_backend be\nbackend be\n"
    );
    for (i, acl) in ACLS.iter().enumerate() {
        cfg.push_str(&format!("  http-request return status 200 content-type text/plain string 1 if {{ path /{i} }} {{ {acl} }}\n"));
    }
    cfg.push_str("  http-request return status 200 content-type text/plain string 0\n  server s1 127.0.0.1:1\n");
    let _guard = Haproxy::start(&bin, "sample-acl", &cfg, port);
    drop(hold);
    let cx = ctx(port);
    let mut bad = Vec::new();
    for (i, acl) in ACLS.iter().enumerate() {
        let theirs = get(port, &format!("/{i}")) == b"1";
        let ours = our_acl(acl, &cx);
        if ours != theirs {
            bad.push(format!("{acl}: haproxy {theirs}, moonproxy {ours}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} differ:\n{}",
        bad.len(),
        ACLS.len(),
        bad.join("\n")
    );
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "haproxy did not start listening");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn parse_errors_read_as_haproxy_writes_them() {
    let Some(bin) = haproxy() else { return };
    let dir = tempdir::Dir::new("sample-errors");
    let path = dir.0.join("bad.cfg");
    let mut bad = Vec::new();
    // HAProxy stops at the first bad rule: one `-c` run per expression (~20 ms each).
    for e in BAD {
        let cfg = format!(
            "{PROLOGUE}frontend fe\n  bind 127.0.0.1:{}\n  http-request set-var(txn.x) {e}\n",
            free_port()
        );
        std::fs::write(&path, &cfg).unwrap();
        let out = Command::new(&bin)
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .unwrap();
        assert!(!out.status.success(), "haproxy accepted {e}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = stderr
            .lines()
            .find(|l| l.contains("[ALERT]"))
            .unwrap_or_else(|| panic!("no alert for {e}:\n{stderr}"));
        // "... while parsing 'http-request set-var(txn.x)' rule : <reason>."
        let theirs = line
            .rsplit_once(" rule : ")
            .map_or(line, |(_, r)| r.trim_end_matches('.'));
        let ours = match Expr::parse(e) {
            Ok(_) => "(accepted)".to_string(),
            Err(err) => err.to_string(),
        };
        if ours != theirs {
            bad.push(format!("{e}:\n  haproxy   {theirs}\n  moonproxy {ours}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} differ:\n{}",
        bad.len(),
        BAD.len(),
        bad.join("\n")
    );
}

/// Expressions both accept although they look wrong.
#[test]
fn lenient_forms_are_accepted_by_both() {
    let Some(bin) = haproxy() else { return };
    let dir = tempdir::Dir::new("sample-lenient");
    let path = dir.0.join("ok.cfg");
    let lenient = [
        "str(abc),,lower",
        "str(abc),",
        "str(abc),add()",
        "str(abc),mod",
        "env",
        "str(abc),lower()",
        // Casts that exist.
        "int(1),ipmask(8)",
        "meth(GET),hex",
        "bin(00),lower",
        "ipv6(::1),lower",
        "bool(1),lower",
        "int(1),json_query('$.a')",
        // json_query's path is not checked at compile time.
        "str(a),json_query(a.b)",
    ];
    let mut cfg = format!("{PROLOGUE}frontend fe\n  bind 127.0.0.1:{}\n", free_port());
    for e in lenient {
        assert!(Expr::parse(e).is_ok(), "moonproxy refuses {e}");
        cfg.push_str(&format!("  http-request set-var(txn.x) {e}\n"));
    }
    std::fs::write(&path, &cfg).unwrap();
    let out = Command::new(&bin)
        .arg("-c")
        .arg("-q")
        .arg("-f")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
