//! The converters added after the first sample set (`jwt_*`, `strcmp`, `secure_memcmp`,
//! `host_only`, `port_only`, `language`, `map_regm`, `be2dec`, `be2hex`, `htonl`,
//! `xxh3` ...) evaluated by `moonproxy::sample` and by the real HAProxy 2.6 on the same
//! expressions, files and variables, as `tests/sample_vs_haproxy.rs` does for the
//! first set: each expression is an `http-request return ... lf-string "%[expr]"` rule
//! of one `haproxy` process, and its body is compared with `Expr::eval_str`. Argument
//! errors are compared with `haproxy -c`.
//!
//! The JWT tokens are made here: HMAC ones with `ring`, an ES256 one with a P-256 key
//! `ring` generates, whose public key file both sides load.
//!
//! Without `haproxy` the tests are skipped with a note, unless `CI` is set.

use moonproxy::sample::{Expr, Sample, TestCtx, VarName, Vars};
use ring::signature::KeyPair;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{free_port, held_port};

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

/// The config layer's escaping for a double-quoted word.
fn quote(e: &str) -> String {
    e.replace('\\', "\\\\").replace('"', "\\\"").replace('$', "\\$")
}

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("moonproxy-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The running haproxy, killed on drop.
struct Haproxy(Child);

impl Haproxy {
    fn start(bin: &Path, cfg_path: &Path, port: u16) -> Haproxy {
        let child = Command::new(bin)
            .args(["-db", "-q", "-f"])
            .arg(cfg_path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let guard = Haproxy(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "haproxy did not start listening");
            std::thread::sleep(Duration::from_millis(20));
        }
        guard
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const PROLOGUE: &str = "defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 5s\n";

fn get(port: u16, path: &str) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let end = resp.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete response");
    assert!(resp.starts_with(b"HTTP/1.0 200") || resp.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&resp));
    resp[end + 4..].to_vec()
}

fn b64url(b: &[u8]) -> String {
    String::from_utf8(moonproxy::sample::conv::b64_encode(b, true)).unwrap()
}

/// `header.payload` of a token.
fn unsigned(header: &str, payload: &str) -> String {
    format!("{}.{}", b64url(header.as_bytes()), b64url(payload.as_bytes()))
}

fn hmac_token(alg: ring::hmac::Algorithm, name: &str, key: &[u8]) -> String {
    let signed = unsigned(&format!(r#"{{"alg":"{name}","typ":"JWT"}}"#), r#"{"sub":"1234","n":5,"t":true,"s":"x y"}"#);
    let tag = ring::hmac::sign(&ring::hmac::Key::new(alg, key), signed.as_bytes());
    format!("{signed}.{}", b64url(tag.as_ref()))
}

/// A P-256 key: its public key as a PEM file in `dir`, and an ES256 token it signed.
fn es256(dir: &Path) -> (PathBuf, String) {
    let rng = ring::rand::SystemRandom::new();
    let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let pair = ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
    // SubjectPublicKeyInfo { ecPublicKey, prime256v1 } before the 65-byte point.
    let mut spki = vec![
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86,
        0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    spki.extend_from_slice(pair.public_key().as_ref());
    let b64 = String::from_utf8(moonproxy::sample::conv::b64_encode(&spki, false)).unwrap();
    let pem: String = b64.as_bytes().chunks(64).map(|l| format!("{}\n", String::from_utf8_lossy(l))).collect();
    let path = dir.join("ec.pub");
    std::fs::write(&path, format!("-----BEGIN PUBLIC KEY-----\n{pem}-----END PUBLIC KEY-----\n")).unwrap();
    let signed = unsigned(r#"{"alg":"ES256"}"#, r#"{"sub":"1234"}"#);
    let sig = pair.sign(&rng, signed.as_bytes()).unwrap();
    (path, format!("{signed}.{}", b64url(sig.as_ref())))
}

/// The expressions, built around the tokens and files of this run.
fn expressions(dir: &Path) -> Vec<String> {
    let hs256 = hmac_token(ring::hmac::HMAC_SHA256, "HS256", b"secret");
    let hs512 = hmac_token(ring::hmac::HMAC_SHA512, "HS512", b"k2");
    let (ec_pub, es) = es256(dir);
    let ec = ec_pub.display();
    let regm = dir.join("rm.map");
    std::fs::write(&regm, "^/api/v([0-9]+)/(.*) api-\\1:\\2\n^/static/ static\n(b)(c)? x\\2y\\0z\n").unwrap();
    let regm = regm.display();
    let hex = "0123456789abcdef";
    let mut v: Vec<String> = vec![
        format!("str({hs256}),jwt_verify(HS256,secret)"),
        format!("str({hs256}),jwt_verify(HS256,secreT)"),
        format!("str({hs256}),jwt_verify(HS384,secret)"),
        format!("str({hs512}),jwt_verify(HS512,k2)"),
        format!("str({hs256}),jwt_verify(none,secret)"),
        format!("str({hs256}),jwt_verify(ES256,secret)"),
        format!("str({hs256}),jwt_verify(ES256,{ec})"),
        format!("str({hs256}),jwt_verify(txn.alg,secret)"),
        format!("str({hs256}),jwt_verify(txn.bad,secret)"),
        format!("str({hs256}),jwt_verify(HS256,txn.secret)"),
        format!("str({hs256}),jwt_header_query('$.alg')"),
        format!("str({hs256}),jwt_header_query"),
        format!("str({hs256}),jwt_payload_query('$.n','int')"),
        format!("str({hs256}),jwt_payload_query('$.n')"),
        format!("str({hs256}),jwt_payload_query('$.t')"),
        format!("str({hs256}),jwt_payload_query('$.s')"),
        format!("str({hs256}),jwt_payload_query('$.zz')"),
        format!("str({es}),jwt_verify(ES256,{ec})"),
        format!("str({es}),jwt_verify(ES384,{ec})"),
        format!("str({es}),jwt_verify(RS256,{ec})"),
        format!("str({es}),jwt_verify(ES256,txn.ecpath)"),
        format!("str({es}x),jwt_verify(ES256,{ec})"),
        format!("str({es}),jwt_verify(ES256,/nonexistent/key.pem)"),
        "str(a.b.c.d),jwt_verify(HS256,s)".into(),
        "str(a.b),jwt_verify(HS256,s)".into(),
        "str(a.b.),jwt_verify(HS256,s)".into(),
        "str(a.b.!!),jwt_verify(HS256,s)".into(),
        "str(a.b.),jwt_verify(none,s)".into(),
        "str(a.b),jwt_verify(none,s)".into(),
        "str(a.b.c),jwt_verify(none,s)".into(),
        "str(abc),jwt_header_query('$.a')".into(),
        format!("str({regm}),length"),
        format!("str(/api/v2/users),map_regm({regm},none)"),
        format!("str(/static/x),map_regm({regm},none)"),
        format!("str(/other),map_regm({regm},none)"),
        format!("str(/other),map_regm({regm})"),
        format!("str(abd),map_regm({regm})"),
        format!("str(abc),map_regm({regm})"),
    ];
    for other in ["abc", "abd", "abb", "ab", "abcd", "abz", "a", "A", "abcdefg"] {
        v.push(format!("str({other}),strcmp(txn.x)"));
    }
    v.extend(
        [
            "str(abc),strcmp(txn.nope)",
            "int(5),strcmp(txn.x)",
            "str(abc),secure_memcmp(txn.x)",
            "str(abd),secure_memcmp(txn.x)",
            "str(ab),secure_memcmp(txn.x)",
            "str(abc),secure_memcmp(txn.nope)",
            "str(www.example.com:8080),host_only",
            "str(www.example.com),host_only",
            "str([::1]:8080),host_only",
            "str([::1]),host_only",
            "str(::1),host_only",
            "str(:),host_only",
            "str(a:),host_only",
            "str(:80),host_only",
            "str(www.example.com:8080),port_only",
            "str(www.example.com),port_only",
            "str([::1]:8080),port_only",
            "str([::1]),port_only",
            "str(a:b),port_only",
            "str(a:12b),port_only",
            "str(x:-5),port_only",
            "str(a:99999999),port_only",
            "str('fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5'),language(en;fr,xx)",
            "str('fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5'),language(de;it)",
            "str('fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5'),language(it;es,en)",
            "str('fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5'),language(it)",
            "str('en-US;q=0.5, de'),language(en-us;de)",
            "str('en-US;q=0.5, de'),language(EN-US)",
            "str('fr;q=0.1, de;q=0.1'),language(de;fr)",
            "str('fr;q=0.1, de;q=0.2'),language(de;fr)",
            "str('*'),language(de;fr,zz)",
            "str('en-GB'),language(en)",
            "str('en'),language(en-gb)",
            "str('en;q=0'),language(en,zz)",
            "str('en;q=0.5;x=y'),language(en,zz)",
            "str('en ; q=0.5 , de;q=1'),language(en;de,zz)",
            "str('en;q=0.001,fr;q=0.0011'),language(en;fr,zz)",
            "str(),language(en,zz)",
            "bin(0102030405),be2dec(-,1)",
            "bin(0102030405),be2dec(-,2)",
            "bin(0102030405),be2dec(-,2,1)",
            "bin(0102030405),be2dec(:,3)",
            "bin(ffffffffffffffffff),be2dec(',',8)",
            "bin(ffffffffffffffffff),be2dec(',',8,1)",
            "bin(0102030405),be2hex",
            "bin(0102030405),be2hex(-,2)",
            "bin(0102030405),be2hex(-,2,1)",
            "bin(0102030405),be2hex(,2)",
            "str(),be2hex(-,2)",
            "bin(01),be2dec(-,2,1)",
            "int(1),htonl,hex",
            "int(-2),htonl,hex",
            "int(4294967296),htonl,hex",
            "str(12),htonl,hex",
            "str(abc),xxh3",
            "str(abc),xxh3(1)",
            "str(),xxh3",
            "str(ab),xxh3(5)",
            "str(abcdefg),xxh3(5)",
            "str(abcdefghijklmn),xxh3(5)",
            "str(The quick brown fox jumps over the lazy dog),xxh3(7)",
        ]
        .map(String::from),
    );
    v.extend(aes_cases());
    v.extend(decoder_cases());
    for (n, seed) in [(2, 0), (5, 1), (7, 0), (8, 3), (12, 9), (15, 0), (16, 1), (40, 2), (64, 77), (65, 0)] {
        v.push(format!("str({}),xxh3({seed})", hex.repeat(n)));
    }
    v
}

/// `aes_gcm_dec` on a message `ring` encrypted here.
fn aes_cases() -> Vec<String> {
    use ring::aead;
    let b64 = |b: &[u8]| String::from_utf8(moonproxy::sample::conv::b64_encode(b, false)).unwrap();
    let hex = |b: &[u8]| b.iter().map(|c| format!("{c:02x}")).collect::<String>();
    let (key, nonce) = (b"0123456789abcdef0123456789abcdef", [9u8; 12]);
    let mut out = Vec::new();
    for (bits, alg) in [(128, &aead::AES_128_GCM), (256, &aead::AES_256_GCM)] {
        let key = &key[..bits / 8];
        let sealing = aead::LessSafeKey::new(aead::UnboundKey::new(alg, key).unwrap());
        let mut data = b"hello world".to_vec();
        let tag = sealing
            .seal_in_place_separate_tag(aead::Nonce::assume_unique_for_key(nonce), aead::Aad::empty(), &mut data)
            .unwrap();
        let (n, k, t, d) = (b64(&nonce), b64(key), b64(tag.as_ref()), hex(&data));
        out.push(format!("bin({d}),aes_gcm_dec({bits},{n},{k},{t})"));
        out.push(format!("bin({d}),aes_gcm_dec({bits},{n},{k},{})", b64(&[0; 16])));
        out.push(format!("bin({d}00),aes_gcm_dec({bits},{n},{k},{t})"));
        out.push(format!("bin({d}),aes_gcm_dec({bits},txn.nonce,{k},{t})"));
        out.push(format!("bin({d}),aes_gcm_dec({bits},txn.nope,{k},{t})"));
    }
    out.push("str(abc),debug(pfx,stderr)".into());
    out.push("int(12),debug".into());
    out
}

/// `protobuf`, `ungrpc` and the FIX converters on hand-made payloads.
fn decoder_cases() -> Vec<String> {
    // Fields 1 (varint 150), 2 ("testing"), 3 ({1: 5, 2: "ab"}), 4 (float 1.0),
    // 5 (double 1.0), 6 and 7 (varint 5).
    let m = "089601120774657374696e671a06080512026162250000803f29000000000000f03f30053805";
    let m3 = "38ffffffffffffffffff01250000c03f29000000000000f83f";
    let grpc = format!("00{:08x}{m}", m.len() / 2);
    let mut v: Vec<String> = [
        "1,hex", "1,int32", "1,uint64", "2", "2,int32", "3,hex", "3.1,int32", "3.2", "3.3", "4,hex", "4,fixed32",
        "4,float", "4,sfixed32", "5,hex", "5,double", "5,fixed64", "5,sfixed64", "6,sint32", "6,sint64", "6,bool",
        "6,enum", "6,hex", "9", "1,fixed32", "4,int32", "2.1",
    ]
    .iter()
    .map(|a| match a.split_once(",hex") {
        Some((args, _)) => format!("bin({m}),protobuf({args}),hex"),
        None => format!("bin({m}),protobuf({a})"),
    })
    .collect();
    for t in ["int32", "uint32", "sint32", "sint64", "bool"] {
        v.push(format!("bin({m3}),protobuf(7,{t})"));
    }
    v.extend(
        [
            format!("bin({m3}),protobuf(4,float)"),
            format!("bin({m3}),protobuf(5,double)"),
            "bin(25000000bf),protobuf(4,sfixed32)".into(),
            "bin(25000000bf),protobuf(4,float)".into(),
            "bin(2900000000000000bf),protobuf(5,sfixed64)".into(),
            "bin(0a02080112020802),protobuf(2.1,int32)".into(),
            "bin(0a02080112020802),protobuf(1.1.1,int32)".into(),
            "bin(08960108ff01),protobuf(1,int32)".into(),
            format!("bin({grpc}),ungrpc(1,int32)"),
            format!("bin({grpc}),ungrpc(2)"),
            format!("bin({grpc}),ungrpc(3.2)"),
            format!("bin({grpc}{grpc}),ungrpc(2)"),
            format!("bin({grpc}ff),ungrpc(2)"),
            format!("bin({m}),ungrpc(2)"),
            format!("bin({grpc}),protobuf(2)"),
            "bin(0000000003089601000000000308ff01),ungrpc(1,int32)".into(),
            "bin(0000000005089601),ungrpc(1,int32)".into(),
            "bin(0100000003089601),ungrpc(1,int32)".into(),
        ],
    );
    // The example message of the FIX specification (checksum 062), and broken copies.
    let fix = "383d4649582e342e3201393d36350133353d410134393d5345525645520135363d434c49454e540133343d3137370135323d32303039303130372d31383a31353a31360139383d30013130383d33300131303d30363201";
    let bad_sum = format!("{}3301", &fix[..fix.len() - 4]);
    let bad_len = fix.replacen("393d3635", "393d3634", 1);
    for payload in [fix, &bad_sum, &bad_len, &fix[..40], &fix[..60]] {
        v.push(format!("bin({payload}),fix_is_valid"));
    }
    let c3 = "101b00044d51545404c2003c0003616263000475736572000470617373";
    let c5 = "102100044d51545405c2003c05110000000a0003616263000475736572000470617373";
    for (packet, fields) in [
        (c3, &["protocol_name", "protocol_version", "flags", "keepalive", "client_identifier", "username", "password", "will_topic", "17"][..]),
        (c5, &["protocol_version", "17", "username", "Password", "39"][..]),
    ] {
        v.push(format!("bin({packet}),mqtt_is_valid"));
        for f in fields {
            v.push(format!("bin({packet}),mqtt_field_value(connect,{f})"));
        }
        v.push(format!("bin({packet}),mqtt_field_value(connack,flags)"));
        v.push(format!("bin({packet}),mqtt_field_value(1,username)"));
    }
    for (packet, field) in [("20020000", "reason_code"), ("20020100", "flags"), ("200600000322000a", "34"), ("200600000322000a", "17")] {
        v.push(format!("bin({packet}),mqtt_is_valid"));
        v.push(format!("bin({packet}),mqtt_field_value(connack,{field})"));
    }
    for packet in ["30020000", "101b0004", "2002020000", "10", &c3[..20]] {
        v.push(format!("bin({packet}),mqtt_is_valid"));
    }
    for tag in ["35", "MsgType", "msgtype", "49", "SenderCompID", "8", "10", "999", "108"] {
        v.push(format!("bin({fix}),fix_tag_value({tag})"));
    }
    v
}

/// The variables both sides hold.
const VARS: &[(&str, &str)] = &[
    ("txn.x", "abc"),
    ("txn.alg", "HS256"),
    ("txn.bad", "XX"),
    ("txn.secret", "secret"),
    ("txn.nonce", "CQkJCQkJCQkJCQkJ"),
];

#[test]
fn converters_give_what_haproxy_gives() {
    let Some(bin) = haproxy() else { return };
    let dir = TempDir::new("convs-vs-haproxy");
    let exprs = expressions(&dir.0);
    let ec_pub = dir.0.join("ec.pub");
    let (port, hold) = held_port();
    let mut cfg = format!("{PROLOGUE}frontend fe\n  bind 127.0.0.1:{port}\n");
    for (name, value) in VARS {
        cfg.push_str(&format!("  http-request set-var({name}) str({value})\n"));
    }
    cfg.push_str(&format!("  http-request set-var(txn.ecpath) str({})\n", ec_pub.display()));
    for (i, e) in exprs.iter().enumerate() {
        cfg.push_str(&format!(
            "  http-request return status 200 content-type text/plain lf-string \"%[{}]\" if {{ path /{i} }}\n",
            quote(e)
        ));
    }
    let cfg_path = dir.0.join("haproxy.cfg");
    std::fs::write(&cfg_path, &cfg).unwrap();
    drop(hold);
    let _guard = Haproxy::start(&bin, &cfg_path, port);
    let mut vars = Vars::new();
    for (name, value) in VARS {
        vars.set(&VarName::parse(name).unwrap(), Sample::str(*value));
    }
    vars.set(&VarName::parse("txn.ecpath").unwrap(), Sample::str(ec_pub.display().to_string()));
    let cx = TestCtx { vars, ..TestCtx::default() };
    let mut bad = Vec::new();
    for (i, e) in exprs.iter().enumerate() {
        let theirs = get(port, &format!("/{i}"));
        let expr = Expr::parse(e).unwrap_or_else(|err| panic!("{e}: {err}"));
        let ours = expr.eval_str(&cx).unwrap_or_default();
        if ours != theirs {
            bad.push(format!(
                "{e}: haproxy {:?}, moonproxy {:?}",
                String::from_utf8_lossy(&theirs),
                String::from_utf8_lossy(&ours)
            ));
        }
    }
    assert!(bad.is_empty(), "{} of {} differ:\n{}", bad.len(), exprs.len(), bad.join("\n"));
}

/// Argument errors, as `haproxy -c` words them (one run per expression: HAProxy stops
/// at the first bad rule).
const BAD: &[&str] = &[
    "str(a),jwt_verify(XX256,secret)",
    "str(a),jwt_verify(,x)",
    "str(a),jwt_verify(PS256,secret)",
    "str(a),jwt_verify(RS256)",
    "str(a),jwt_header_query(a,b)",
    "str(a),strcmp(abc)",
    "str(a),secure_memcmp(abc)",
    "str(a),map_regm(/nonexistent/x.map)",
    "str(a),be2dec(-,0)",
    "str(a),be2dec(-,9)",
    "str(a),be2dec(-)",
    "str(a),be2hex(-,0)",
    "str(a),be2hex(-)",
    "str(a),xxh3(x)",
    "str(a),htonl(1)",
    "str(a),aes_gcm_dec(100,a,b,c)",
    "str(a),aes_gcm_dec(128,a,b,c)",
    "str(a),aes_gcm_dec(128,AAAAAAAAAAAAAAAA,AAAAAAAAAAAAAAAAAAAAAA==,b)",
    "str(a),aes_gcm_dec(128,txn.a,txn.b)",
    "str(a),debug(a,nope)",
    "str(a),protobuf(1,string)",
    "str(a),protobuf(1.)",
    "str(a),protobuf()",
    "str(a),protobuf(-1)",
    "str(a),ungrpc(1,xx)",
    "str(a),fix_tag_value(0)",
    "str(a),fix_tag_value(12x)",
    "str(a),fix_tag_value()",
    "str(a),mqtt_field_value(foo,1)",
    "str(a),mqtt_field_value(0,1)",
    "str(a),mqtt_field_value(connect,18)",
    "str(a),mqtt_field_value(connect,0x11)",
    "str(a),mqtt_field_value(connack,username)",
    "str(a),mqtt_field_value(publish,topic)",
];

#[test]
fn argument_errors_read_as_haproxy_writes_them() {
    let Some(bin) = haproxy() else { return };
    let dir = TempDir::new("convs-errors");
    let path = dir.0.join("bad.cfg");
    let mut bad = Vec::new();
    for e in BAD {
        let cfg = format!("{PROLOGUE}frontend fe\n  bind 127.0.0.1:{}\n  http-request set-var(txn.x) {e}\n", free_port());
        std::fs::write(&path, &cfg).unwrap();
        let out = Command::new(&bin).arg("-c").arg("-f").arg(&path).output().unwrap();
        assert!(!out.status.success(), "haproxy accepted {e}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = stderr.lines().find(|l| l.contains("[ALERT]")).unwrap_or_else(|| panic!("no alert for {e}:\n{stderr}"));
        let theirs = line.rsplit_once(" rule : ").map_or(line, |(_, r)| r.strip_suffix('.').unwrap_or(r));
        let theirs = theirs.split_once("> : ").map_or(theirs, |(_, r)| r);
        let ours = match Expr::parse(e) {
            Ok(_) => "(accepted)".to_string(),
            Err(err) => err.to_string(),
        };
        if ours != theirs {
            bad.push(format!("{e}:\n  haproxy   {theirs}\n  moonproxy {ours}"));
        }
    }
    assert!(bad.is_empty(), "{} of {} differ:\n{}", bad.len(), BAD.len(), bad.join("\n"));
}

/// The running binaries (moonproxy, and HAProxy when installed) on the same rules: the
/// key file named in `jwt_verify` is loaded with the configuration, and a bearer token
/// from a header is checked as a gateway would.
#[test]
fn jwt_rules_answer_alike_on_both_binaries() {
    let dir = TempDir::new("convs-jwt-rules");
    let (key, token) = es256(&dir.0);
    let pem = std::fs::read_to_string(key).unwrap();
    let config = "defaults
  mode http
  timeout client 5s
  timeout server 5s
  timeout connect 5s
frontend fe
  bind 127.0.0.1:{{fe}}
  http-request set-var(txn.alg) req.hdr(x-jwt),jwt_header_query('$.alg')
  http-request deny status 401 unless { req.hdr(x-jwt),jwt_verify(txn.alg,\"{{dir}}/ec.pub\") -m int 1 }
  http-request return status 200 content-type text/plain lf-string \"%[var(txn.alg)] %[req.hdr(x-jwt),jwt_payload_query('\\$.sub')]\"
";
    let tampered = token.replacen(".ey", ".eyX", 1);
    for bin in common::moonproxy_and_haproxy() {
        let p = common::ProxyBuilder::new(config).bin(&bin).file("ec.pub", &pem).start();
        let mut answers = Vec::new();
        for t in [token.as_str(), tampered.as_str(), "garbage"] {
            let mut c = p.connect("fe");
            let r = c.http_request(format!("GET / HTTP/1.1\r\nHost: t\r\nX-Jwt: {t}\r\n\r\n").as_bytes());
            answers.push((r.status, String::from_utf8_lossy(&r.body).into_owned()));
        }
        assert_eq!(answers[0], (200, "ES256 1234".to_string()), "{}", bin.display());
        assert_eq!(answers[1].0, 401, "{}", bin.display());
        assert_eq!(answers[2].0, 401, "{}", bin.display());
    }
}
