//! Table tests. Expected values are what HAProxy 2.6 printed for the same expression
//! in `lf-string "%[...]"` (see `tests/sample_vs_haproxy.rs` for the live comparison).

use super::*;

fn ctx() -> TestCtx {
    let mut vars = Vars::new();
    vars.set(&VarName::parse("txn.v1").unwrap(), Sample::str("foo"));
    vars.set(&VarName::parse("sess.s1").unwrap(), Sample::Sint(42));
    vars.set(&VarName::parse("txn.k").unwrap(), Sample::str("a2V5"));
    TestCtx {
        src: Some("127.0.0.1:40000".parse().unwrap()),
        dst: Some("127.0.0.1:8080".parse().unwrap()),
        frontend: Some("fe".into()),
        backend: Some("be".into()),
        server: Some("s1".into()),
        nbsrv: Some(1),
        vars,
        env: Some(vec![("MPTEST".into(), "hello".into())]),
        now: None,
    }
}

/// Evaluates `expr`; a dropped sample reads as `None`.
fn ev(expr: &str) -> Option<String> {
    let e = Expr::parse(expr).unwrap_or_else(|err| panic!("{expr}: {err}"));
    e.eval_str(&ctx())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn check(table: &[(&str, &str)]) {
    let mut bad = Vec::new();
    for (expr, want) in table {
        // HAProxy prints nothing both for an empty and for a dropped sample.
        let got = ev(expr).unwrap_or_default();
        if got != *want {
            bad.push(format!("{expr}: got {got:?}, want {want:?}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn string_converters() {
    check(&[
        ("str(abc),base64", "YWJj"),
        ("str(Hello World),lower", "hello world"),
        ("str(Hello World),upper", "HELLO WORLD"),
        ("str(hello),length", "5"),
        ("str(YWJj),b64dec", "abc"),
        ("str(abc),hex", "616263"),
        ("str(a%20b%2Fc+d),url_dec", "a b/c+d"),
        ("str(a+b),url_dec(1)", "a b"),
        ("str(a+b%2B),url_dec(0)", "a+b+"),
        ("str(a%zzb%4),url_dec", ""),
        ("str(a b/c?d=e&f),url_enc", "a%20b%2Fc%3Fd%3De%26f"),
        ("str(a b/c?d=e&f),url_enc(query)", "a%20b%2Fc%3Fd%3De%26f"),
        ("str('a\"b\\\\c'),json", "a\\\"b\\\\\\\\c"),
        ("str('a/b\\tc'),json", "a\\/b\\\\tc"),
        ("str(é),json", "\\u00c3\\u00a9"),
        ("str(é),json(ascii)", "\\u00c3\\u00a9"),
        ("str(é),json(utf8)", "\\u00e9"),
        ("str(é),json(utf8s)", "\\u00e9"),
        ("str(abcdef),bytes(2)", "cdef"),
        ("str(abcdef),bytes(2,3)", "cde"),
        ("str(abcdef),bytes(4,10)", "ef"),
        ("str(abcdef),bytes(10)", ""),
        ("str(abc),bytes(1,0)", ""),
        ("str(1.2.3.4),bytes(1)", ".2.3.4"),
        ("ipv4(1.2.3.4),bytes(1),hex", "020304"),
        ("str(abc),hex,hex", "363136323633"),
        ("bin(00ff),hex,lower", "00ff"),
        ("str(%41),url_dec,lower", "a"),
        ("str(A-B),lower,upper", "A-B"),
        ("meth(get),upper", "GET"),
        ("int(12),upper", "12"),
    ]);
}

#[test]
fn field_and_word() {
    check(&[
        ("str(a/b/c/d),field(2,/)", "b"),
        ("str(a/b/c/d),field(-1,/)", "d"),
        ("str(a/b/c/d),field(2,/,2)", "b/c"),
        ("str(a/b/c/d),field(-2,/,2)", "b/c"),
        ("str(a/b/c/d),field(2,/,0)", "b/c/d"),
        ("str(abcd),field(3,/)", ""),
        ("str(abcd),field(-3,/)", ""),
        ("str(a/b/c),field(1,/bc)", "a"),
        ("str(\"a,b\"),field(2,',')", "b"),
        ("str(//a//b/c),word(2,/)", "b"),
        ("str(//a//b/c),word(-1,/)", "c"),
        ("str(//a//b/c),word(1,/,2)", "a//b"),
        ("str(a/b/c),word(5,/)", ""),
    ]);
}

#[test]
fn regsub() {
    check(&[
        ("str(hello world),regsub(o,0)", "hell0 world"),
        ("str(hello world),regsub(o,0,g)", "hell0 w0rld"),
        ("str(hello world),regsub(l+,L,g)", "heLo worLd"),
        ("str(Hello),regsub(h,X,i)", "Xello"),
        ("str(abc),regsub(^,X)", "Xabc"),
        ("str(aaa),regsub(a*,X,g)", "XX"),
        ("str(abc),regsub('(b)','[\\1]')", "a[b]c"),
        ("str(abc),regsub(.,-,g)", "---"),
        ("str(aaa),regsub(a,b)", "baa"),
        ("str(abab),regsub('a|b',X,g)", "XXXX"),
        ("str(ab12cd),regsub('[0-9]+',N)", "abNcd"),
        ("str(abc),regsub('^a(.*)$','\\1\\1')", "bcbc"),
        (
            "str('x=1;y=2'),regsub('([a-z])=([0-9])','\\2\\1',g)",
            "1x;2y",
        ),
    ]);
}

/// `regsub` and `-m reg` compile with `sample::regex` (the `regex` crate), as the Lua
/// `Regex` class does: a bad pattern or a PCRE2-only feature is refused at config time
/// with HAProxy's `regex '...' is invalid (error=..., erroffset=...)` wording.
#[test]
fn regexes_are_compiled_once_for_all() {
    let conv_err = |e: &str| Expr::parse(e).unwrap_err().to_string();
    assert_eq!(
        conv_err("str(abc),regsub('[',x)"),
        "invalid arg 1 in converter 'regsub' : regex '[' is invalid (error=unclosed character \
         class, erroffset=0)"
    );
    assert_eq!(
        conv_err("str(abc),regsub(a++,x)"),
        "invalid arg 1 in converter 'regsub' : regex 'a++' is invalid (error=possessive \
         quantifiers are not supported, erroffset=2)"
    );
    let acl_err = |p: &str| {
        Matcher::compile("str", SampleType::Str, Method::Reg, false, &[p])
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        acl_err("ab["),
        "regex 'ab[' is invalid (error=unclosed character class, erroffset=2)"
    );
    assert_eq!(
        acl_err("(a)\\1"),
        "regex '(a)\\1' is invalid (error=backreferences are not supported, erroffset=3)"
    );
    assert!(acl_err("(?<=a)b").contains("look-around"));
    assert!(acl_err("a**").contains("quantifier does not follow a repeatable item"));
    // PCRE2's literal `{` and byte semantics, as in Lua.
    check(&[("str('a{,3}'),regsub('{,',-)", "a-3}")]);
    let reg = |icase, p: &str| {
        Matcher::compile("str", SampleType::Str, Method::Reg, icase, &[p]).unwrap()
    };
    assert!(reg(false, "^a{,3}$").matches(Some(Sample::str("a{,3}"))));
    assert!(!reg(true, "^.$").matches(Some(Sample::str("é"))));
    assert!(reg(true, "^É").matches(Some(Sample::str("É"))));
    assert!(
        !reg(true, "^é").matches(Some(Sample::str("É"))),
        "caseless is ASCII-only"
    );
    // Patterns that make a backtracking engine explore exponentially many paths still give
    // the right answer (the match is the final `b`, after every start has failed).
    let subject = "a".repeat(40) + "xb";
    assert!(reg(false, "(a|aa)*b").matches(Some(Sample::str(subject.as_str()))));
    let expr = format!("str({subject}),regsub('(a|aa)*b',X)");
    let want = "a".repeat(40) + "xX";
    check(&[(&expr, &want)]);
}

#[test]
fn arithmetic_saturates_like_haproxy() {
    check(&[
        ("int(10),add(5)", "15"),
        ("int(10),sub(15)", "-5"),
        ("int(10),mul(-3)", "-30"),
        ("int(10),div(3)", "3"),
        ("int(10),div(0)", "9223372036854775807"),
        ("int(-10),mod(3)", "-1"),
        ("int(10),mod(0)", "0"),
        ("int(10),neg", "-10"),
        ("int(12),and(10)", "8"),
        ("int(12),or(3)", "15"),
        ("int(12),xor(10)", "6"),
        ("int(12),not", "0"),
        ("int(0),bool", "0"),
        ("int(7),bool", "1"),
        ("int(9223372036854775807),add(1)", "9223372036854775807"),
        ("int(-9223372036854775808),neg", "9223372036854775807"),
        ("int(-9223372036854775808),div(-1)", "9223372036854775807"),
        ("str(12),mul(2),div(5)", "4"),
        ("int(7),sub(txn.v1)", "7"),
        ("int(7),mul(sess.s1)", "294"),
        ("int(3),add(sess.s1)", "45"),
        ("int(3),add(txn.nope)", ""),
    ]);
}

#[test]
fn casts() {
    check(&[
        // str -> int: sign and leading digits, saturating, else 0.
        ("str(12abc),add(1)", "13"),
        ("str(abc),add(1)", "1"),
        ("str( 12),add(1)", "1"),
        ("str(+12),add(1)", "13"),
        ("str(-12x),add(0)", "-12"),
        ("str(0x10),add(0)", "0"),
        ("str(99999999999999999999),add(0)", "9223372036854775807"),
        ("str(1.2.3.4),add(0)", "1"),
        // str -> bool goes through the integer; an empty string has none.
        ("str(abc),bool", "0"),
        ("str(),bool", ""),
        ("str(0),bool", "0"),
        ("str(5),bool", "1"),
        ("str(10.0.0.1),bool", "1"),
        // Addresses.
        ("ipv4(1.2.3.4),bool", "1"),
        ("ipv4(0.0.0.0),bool", "0"),
        ("ipv4(1.2.3.4),add(1)", "16909061"),
        ("ipv4(1.2.3.4),hex", "01020304"),
        ("ipv4(1.2.3.4),length", "7"),
        ("ipv6(::1),length", "3"),
        ("ipv6(::1),hex", "00000000000000000000000000000001"),
        ("ipv6(::ffff:1.2.3.4)", "::ffff:1.2.3.4"),
        // int -> bin is 8 bytes in network order.
        ("int(65),hex", "0000000000000041"),
        ("int(300),base64", "AAAAAAAAASw="),
        ("int(1),base64", "AAAAAAAAAAE="),
        ("int(123),length", "3"),
        ("int(5),length", "1"),
        ("str(),length", "0"),
        ("str(),base64", ""),
        ("bin(616263)", "abc"),
        ("bin(616263),hex", "616263"),
        ("meth(GET)", "GET"),
        ("meth(FOO)", "FOO"),
    ]);
}

#[test]
fn hash_converters_and_their_options() {
    check(&[
        ("str(abc),sdbm", "807794786"),
        ("str(abc),sdbm(0)", "807794786"),
        ("str(abc),sdbm(1)", "659243622"),
        ("str(abc),djb2", "193485963"),
        ("str(abc),djb2(1)", "2235766107"),
        ("str(abc),djb2,hex", "000000000B885C8B"),
        ("str(Ab),djb2(1),hex", "0000000026F81AB0"),
        ("str(abc),crc32", "891568578"),
        ("str(abc),crc32(0)", "891568578"),
        ("str(abc),crc32(1)", "930845320"),
        ("str(abc),crc32c", "910901175"),
        ("int(-1),crc32", "558161692"),
        ("str(abc),wt6", "2483038440"),
        ("str(abc),wt6(0)", "2483038440"),
        ("str(abc),wt6(1)", "266135527"),
        ("str(abc),xxh64", "4952883123889572249"),
        ("str(abc),xxh64(1)", "-4708009277469325048"),
        ("str(abc),xxh64(-1)", "2895935887265243510"),
        ("str(x),xxh64(18446744073709551615)", "1847865773986206925"),
        ("str(abc),xxh32", "852579327"),
    ]);
}

#[test]
fn addresses_and_ipmask() {
    check(&[
        ("str(192.168.1.77),ipmask(24)", "192.168.1.0"),
        ("src,ipmask(16)", "127.0.0.0"),
        ("ipv6(2001:db8::1),ipmask(24,64)", "2001:db8::"),
        ("ipv4(10.1.2.3),ipmask(8)", "10.0.0.0"),
        ("ipv6(::ffff:1.2.3.4),ipmask(8,96)", "1.0.0.0"),
        ("str(::1),ipmask(8,128)", "::1"),
        ("ipv6(2001:db8:1:2::1),ipmask(0,32)", "2001:db8::"),
        ("str(1.2.3.4),ipmask(16),hex", "01020000"),
        ("str(1.2.3.4),ipmask(255.255.0.0)", "1.2.0.0"),
    ]);
}

#[test]
fn time_converters() {
    check(&[
        ("int(1000),utime(%Y-%m-%d %H:%M:%S)", "1970-01-01 00:16:40"),
        ("int(1000),utime(%Y-%m-%d,3600)", "1970-01-01"),
        ("int(86400),utime(%a %d %b %Y)", "Fri 02 Jan 1970"),
        ("int(1000),utime(%H:%M,-3600)", "23:16"),
        ("int(0),ltime(%s)", "0"),
        (
            "int(1700000000),utime(%F %T %j %u %w %y %e %I %p)",
            "2023-11-14 22:13:20 318 2 2 23 14 10 PM",
        ),
    ]);
}

/// `sha1`, `sha2`, `digest` and `hmac` (key in base64, given or in a variable); the
/// values HAProxy 2.6 printed for the same expressions.
#[test]
fn digest_converters() {
    check(&[
        ("str(abc),sha1,hex", "A9993E364706816ABA3E25717850C26C9CD0D89D"),
        ("str(abc),sha2,hex", "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"),
        ("str(abc),sha2(224),hex", "23097D223405D8228642A477BDA255B32AADBCE4BDA0B3F7E36C9DA7"),
        ("str(abc),sha2(512),hex", "DDAF35A193617ABACC417349AE20413112E6FA4E89A97EA20A9EEEE64B55D39A2192992A274FC1A836BA3C23A3FEEBBD454D4423643CE80E2A9AC94FA54CA49F"),
        ("str(abc),digest(sha384),hex", "CB00753F45A35E8BB5A03D699AC65007272C32AB0EDED1631A8B605A43FF5BED8086072BA1E7CC2358BAECA134C825A7"),
        ("str(abc),digest(SHA1),hex", "A9993E364706816ABA3E25717850C26C9CD0D89D"),
        ("int(12),sha2,hex", "D27A8D9A8D38C7A37C922450A7A1961F138ABFA25F5DA3DF2B972820715FA5AE"),
        ("str(abc),hmac(sha256,a2V5),hex", "9C196E32DC0175F86F4B1CB89289D6619DE6BEE699E4C378E68309ED97A1A6AB"),
        ("var(txn.v1),hmac(sha1,txn.k),base64", "n8JUEmwrG38QarrK4Mt35zQR+tc="),
        // A key that is not base64, or a variable that is not set: no sample.
        ("str(abc),hmac(sha256,!!!),hex", ""),
        ("str(abc),hmac(sha256,txn.nope),hex", ""),
    ]);
}

#[test]
fn concat_and_vars() {
    check(&[
        ("str(abc),concat(-,txn.v1,-)", "abc-foo-"),
        ("str(abc),concat(,txn.v1)", "abcfoo"),
        ("str(abc),concat(-,txn.nope,-)", "abc--"),
        ("str(a),concat(b,sess.s1,c)", "ab42c"),
        ("str(a),concat(b)", "ab"),
        ("var(txn.v1)", "foo"),
        ("var(sess.s1)", "42"),
        ("var(sess.s1),add(1)", "43"),
        ("var(txn.v1),upper", "FOO"),
        ("var(txn.nope,dflt)", "dflt"),
        ("var(txn.nope)", ""),
    ]);
}

#[test]
fn json_query() {
    check(&[
        ("str('{\"a\":{\"b\":[1,2]}}'),json_query('$.a.b')", ""),
        ("str('{\"a\":\"x\"}'),json_query('$.a')", "x"),
        ("str('{\"a\":12}'),json_query('$.a','int')", "12"),
        ("str('{\"a\":12}'),json_query('$.a')", "12"),
        ("str('{\"a\":true}'),json_query('$.a')", "1"),
        ("str('{\"a\":false}'),json_query('$.a')", "0"),
        ("str('{\"a\":1.5}'),json_query('$.a')", "1.5"),
        ("str('{\"a\":null}'),json_query('$.a')", ""),
        ("str('{\"a\":{\"b\":\"y\"}}'),json_query('$.a.b')", "y"),
        ("str('{\"a\":[1,\"z\"]}'),json_query('$.a[1]')", "z"),
        ("str(a),json_query('$.a')", ""),
    ]);
}

#[test]
fn fetches() {
    check(&[
        ("int(5)", "5"),
        ("int(-5)", "-5"),
        ("int(00012)", "12"),
        ("bool(1)", "1"),
        ("bool(0)", "0"),
        ("bool(true)", "1"),
        ("always_true", "1"),
        ("always_false", "0"),
        ("ipv4(10.0.0.1)", "10.0.0.1"),
        ("ipv6(::1)", "::1"),
        ("src", "127.0.0.1"),
        ("src_port", "40000"),
        ("dst", "127.0.0.1"),
        ("dst_port", "8080"),
        ("fe_name", "fe"),
        ("be_name", "be"),
        ("srv_name", "s1"),
        ("nbsrv", "1"),
        ("env(MPTEST)", "hello"),
        ("env(NOPE_NOT_SET)", ""),
        ("uuid,length", "36"),
        ("rand(10),bool,length", "1"),
        ("date,length", "10"),
        ("str(abc),length,add(1)", "4"),
    ]);
    let u = ev("uuid(4)").unwrap();
    assert_eq!(&u[14..15], "4", "{u}");
    assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"), "{u}");
    for _ in 0..50 {
        let r: i64 = ev("rand(10)").unwrap().parse().unwrap();
        assert!((0..10).contains(&r));
    }
    let mut c = ctx();
    c.now = Some(std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_500_250));
    let d = |e: &str| Expr::parse(e).unwrap().eval(&c);
    assert_eq!(d("date"), Some(Sample::Sint(1500)));
    assert_eq!(d("date(10)"), Some(Sample::Sint(1510)));
    assert_eq!(d("date(0,ms)"), Some(Sample::Sint(1_500_250)));
    assert_eq!(d("date(1,us)"), Some(Sample::Sint(1_500_250_001)));
    assert_eq!(d("src"), Some(Sample::Ipv4("127.0.0.1".parse().unwrap())));
    assert_eq!(TestCtx::default().src(), None);
    assert_eq!(Expr::parse("src").unwrap().eval(&TestCtx::default()), None);
}

#[test]
fn argument_quoting() {
    check(&[
        ("str('a b'),upper", "A B"),
        ("str('it''s'),upper", "ITS"),
        ("str(\"x\\\"y\"),upper", "X\"Y"),
        ("str(a\\ b),upper", "A B"),
        ("str(\"a,b\"),field(2,',')", "b"),
    ]);
}

/// Parse errors, worded as `haproxy -c` prints them after
/// `failed to parse sample expression <...> : ` (without the final period).
#[test]
fn parse_errors_match_haproxy() {
    let table: &[(&str, &str)] = &[
        ("nosuch", "unknown fetch method 'nosuch'"),
        ("str(abc),nosuch", "unknown converter 'nosuch'"),
        ("str(abc),unhex", "unknown converter 'unhex'"),
        ("int(-3),abs", "unknown converter 'abs'"),
        // Known to HAProxy 2.6, not implemented here yet: said so rather than "unknown".
        ("str(a),map(x.map)", "invalid args in converter 'map' : failed to open pattern file <x.map>"),
        ("str(a),map_regm(x.map)", "invalid args in converter 'map_regm' : failed to open pattern file <x.map>"),
        ("internal.htx.size", "fetch method 'internal.htx.size' reads HAProxy's internal HTX representation, which has no meaning in moonproxy (see doc/samples.md)"),
        ("str(abc", "fetch method 'str' : expected ')'"),
        ("str(abc),lower(", "invalid arg 1 in converter 'lower' : expected ')'"),
        ("str(abc),lower(1)", "invalid arg 1 in converter 'lower' : expected ')' before '1)'"),
        ("str(a,b)", "fetch method 'str' : expected ')' before ',b)'"),
        ("str(a,b),field(2,\\,)", "fetch method 'str' : expected ')' before ',b),field(2,\\,)'"),
        ("str(a\"b\\\\c),json", "fetch method 'str' : expected ')'"),
        ("int(abc)", "fetch method 'int' : failed to parse 'abc' as type 'integer' at position 1"),
        ("int(12k)", "fetch method 'int' : failed to parse '12k' as type 'integer' at position 1"),
        ("int()", "fetch method 'int' : expected type 'integer' at position 1, but got nothing"),
        ("str(abc),field(x,/)", "invalid arg 1 in converter 'field' : failed to parse 'x' as type 'integer' at position 1"),
        ("str(a.b.c),field(0,.)", "invalid args in converter 'field' : Unexpected value 0 for index"),
        ("str(abc),word(0,/)", "invalid args in converter 'word' : Unexpected value 0 for index"),
        ("ipv6(::1),add(1)", "converter 'add' cannot be applied"),
        ("str(abc),ipmask(33)", "invalid arg 1 in converter 'ipmask' : failed to parse '33' as type 'IPv4 mask' at position 1"),
        ("str(abc),bytes()", "invalid arg 1 in converter 'bytes' : expected type 'integer' at position 1, but got nothing"),
        ("str(abc),bytes(x)", "invalid arg 1 in converter 'bytes' : failed to parse 'x' as type 'integer' at position 1"),
        ("str(abc),regsub(a,b,z)", "invalid args in converter 'regsub' : invalid regex flag 'z', only 'i' and 'g' are supported"),
        ("str(abc),regsub((b),[\\1])", "invalid arg 2 in converter 'regsub' : missing arguments (got 1/2), type 'string' expected"),
        ("str(abc),concat(a,b)", "invalid args in converter 'concat' : failed to register variable name 'b'"),
        ("str(abc),concat(a,foo.b)", "invalid args in converter 'concat' : failed to register variable name 'foo.b'"),
        ("var(foo)", "invalid args in fetch method 'var' : invalid variable name 'foo'. A variable name must be start by its scope. The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'"),
        ("src(1)", "fetch method 'src' : expected ')' before '1)'"),
        ("str(abc),crc32(x)", "invalid arg 1 in converter 'crc32' : failed to parse 'x' as type 'integer' at position 1"),
        ("str(abc)x", "missing comma after fetch keyword 'str'"),
        (",lower", "missing fetch method"),
        ("ipv4(1.2.3)", "fetch method 'ipv4' : failed to parse '1.2.3' as type 'IPv4 address' at position 1"),
        ("str(abc),json(foo)", "invalid args in converter 'json' : Unexpected input code type. Allowed value are 'ascii', 'utf8', 'utf8s', 'utf8p' and 'utf8ps'"),
        ("str(abc),json_query('$.a',foo)", "invalid args in converter 'json_query' : output_type only supports \"int\" as argument"),
        ("rand(x)", "fetch method 'rand' : failed to parse 'x' as type 'integer' at position 1"),
        ("uuid(3)", "invalid args in fetch method 'uuid' : Unsupported UUID version: '3'"),
        ("str(abc),sub(txn)", "invalid args in converter 'sub' : expects an integer or a variable name"),
        ("int(3),mul(int(2))", "invalid args in converter 'mul' : expects an integer or a variable name"),
        ("date(1,x)", "invalid args in fetch method 'date' : expects 's', 'ms' or 'us', got 'x'"),
        ("int(1),div(1,2)", "invalid arg 2 in converter 'div' : expected ')' before ',2)'"),
        ("str(abc),url_enc(foo)", "invalid args in converter 'url_enc' : Unexpected encode type. Allowed value is 'query'"),
        ("bool(yes)", "invalid args in fetch method 'bool' : Expects 'true', 'false', '0' or '1'"),
        ("bin(0)", "invalid args in fetch method 'bin' : an even number of hex digit is expected"),
        ("str(a),sha2(100)", "invalid args in converter 'sha2' : Unsupported number of bits: '100'"),
        ("str(a),digest(foo)", "invalid args in converter 'digest' : algorithm must be a valid OpenSSL message digest name."),
        ("str(a),hmac(foo,a2V5)", "invalid args in converter 'hmac' : algorithm must be a valid OpenSSL message digest name."),
        ("str(a),hmac(sha256)", "invalid arg 2 in converter 'hmac' : missing arguments (got 1/2), type 'string' expected"),
        // A digest OpenSSL has and moonproxy does not: said so.
        ("str(a),digest(md5)", "invalid args in converter 'digest' : digest 'md5' is not supported yet (sha1, sha224, sha256, sha384 and sha512 are)"),
    ];
    let mut bad = Vec::new();
    for (expr, want) in table {
        match Expr::parse(expr) {
            Ok(_) => bad.push(format!("{expr}: parsed, want error {want:?}")),
            Err(e) if e.to_string() != *want => {
                bad.push(format!("{expr}:\n  got  {e}\n  want {want}"))
            }
            Err(_) => {}
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// What HAProxy accepts although it looks wrong: empty converter slots, keywords
/// without their parentheses (their mandatory arguments are then missing and the
/// sample is dropped at run time).
#[test]
fn haproxy_lenient_forms_parse() {
    for e in [
        "str(abc),,lower",
        "str(abc),",
        "str(abc),lower,",
        "str(abc),add()",
        "str(abc),mod",
        "env",
        "str(abc),ltime",
        "ipv6(::1),ipmask(8)",
    ] {
        assert!(Expr::parse(e).is_ok(), "{e}");
    }
    assert_eq!(ev("str(abc),mod"), None);
    assert_eq!(ev("env"), None);
    assert_eq!(ev("str(abc),,upper").as_deref(), Some("ABC"));
    assert_eq!(ev("str(abc),add()").as_deref(), Some("0"));
}

#[test]
fn parse_prefix_stops_at_the_end_of_a_word() {
    let (e, n) = Expr::parse_prefix("str(abc),upper] tail").unwrap();
    assert_eq!(n, "str(abc),upper".len());
    assert_eq!(e.out_type(), SampleType::Str);
    let (_, n) = Expr::parse_prefix("src -m ip").unwrap();
    assert_eq!(n, 3);
}

#[test]
fn out_types() {
    assert_eq!(
        Expr::parse("str(a),length").unwrap().out_type(),
        SampleType::Sint
    );
    assert_eq!(
        Expr::parse("var(txn.a)").unwrap().out_type(),
        SampleType::Any
    );
    assert_eq!(Expr::parse("src").unwrap().out_type(), SampleType::Ipv4);
}

#[test]
fn cast_matrix() {
    use SampleType as T;
    let s = |v: &str| Sample::str(v);
    assert_eq!(Sample::Bool(true).cast(T::Str), Some(s("1")));
    assert_eq!(Sample::Sint(-3).cast(T::Bool), Some(Sample::Bool(true)));
    assert_eq!(
        Sample::Sint(0x01020304).cast(T::Ipv4),
        Some(Sample::Ipv4("1.2.3.4".parse().unwrap()))
    );
    assert_eq!(s("::ffff:1.2.3.4").cast(T::Ipv4), None);
    assert_eq!(
        s("1.2.3.4").cast(T::Addr),
        Some(Sample::Ipv4("1.2.3.4".parse().unwrap()))
    );
    assert_eq!(
        s("::1").cast(T::Addr),
        Some(Sample::Ipv6("::1".parse().unwrap()))
    );
    assert_eq!(s("nope").cast(T::Addr), None);
    assert_eq!(
        Sample::Ipv6("::ffff:1.2.3.4".parse().unwrap()).cast(T::Ipv4),
        Some(Sample::Ipv4("1.2.3.4".parse().unwrap()))
    );
    assert_eq!(Sample::Ipv6("::1".parse().unwrap()).cast(T::Ipv4), None);
    assert_eq!(Sample::Ipv6("::1".parse().unwrap()).cast(T::Sint), None);
    assert_eq!(Sample::Bin(b"ab".to_vec()).cast(T::Sint), None);
    assert_eq!(Sample::Meth(b"GET".to_vec()).cast(T::Str), Some(s("GET")));
    assert!(!T::Ipv6.can_cast(T::Sint));
    assert!(!T::Bin.can_cast(T::Sint));
    assert!(T::Str.can_cast(T::Ipv4));
    assert!(!T::Meth.can_cast(T::Sint));
    assert_eq!(str_to_int(b""), None);
    assert_eq!(str_to_int(b"-"), Some(0));
    assert_eq!(str_to_int(b"-99999999999999999999"), Some(i64::MIN));
}

#[test]
fn match_methods() {
    let m = |kw: &str, t: SampleType, method: &str, icase: bool, pats: &[&str]| {
        Matcher::compile(kw, t, Method::parse(method).unwrap(), icase, pats).unwrap()
    };
    let s = |v: &str| Some(Sample::str(v));
    assert!(m("str", SampleType::Str, "str", false, &["abc"]).matches(s("abc")));
    assert!(!m("str", SampleType::Str, "str", false, &["ABC"]).matches(s("abc")));
    assert!(m("str", SampleType::Str, "str", true, &["ABC"]).matches(s("abc")));
    assert!(m("str", SampleType::Str, "beg", false, &["/api"]).matches(s("/api/v1")));
    assert!(m("str", SampleType::Str, "end", true, &[".JPG"]).matches(s("a.jpg")));
    assert!(m("str", SampleType::Str, "sub", false, &["x", "pi/"]).matches(s("/api/v1")));
    assert!(m("str", SampleType::Str, "reg", false, &["^/a.i/v[0-9]$"]).matches(s("/api/v1")));
    assert!(m("str", SampleType::Str, "reg", true, &["^/API"]).matches(s("/api/v1")));
    assert!(m("str", SampleType::Str, "dir", false, &["api"]).matches(s("/api/v1")));
    assert!(!m("str", SampleType::Str, "dir", false, &["ap"]).matches(s("/api/v1")));
    assert!(m("str", SampleType::Str, "dom", false, &["example"]).matches(s("www.example.com")));
    assert!(!m("str", SampleType::Str, "dom", false, &["exam"]).matches(s("www.example.com")));
    assert!(m("str", SampleType::Str, "len", false, &["3:5"]).matches(s("abcd")));
    assert!(!m("str", SampleType::Str, "len", false, &["5:"]).matches(s("abcd")));
    assert!(m("str", SampleType::Str, "found", false, &[]).matches(s("")));
    assert!(!m("str", SampleType::Str, "found", false, &[]).matches(None));
    // Integers: values, ranges and operators; a string is cast by its leading digits.
    let int = m(
        "int",
        SampleType::Sint,
        "int",
        false,
        &["1", "10:20", "ge", "100"],
    );
    for (v, want) in [(1, true), (2, false), (15, true), (99, false), (100, true)] {
        assert_eq!(int.matches(Some(Sample::Sint(v))), want, "{v}");
    }
    assert!(int.matches(s("12abc")));
    assert!(m("int", SampleType::Sint, "int", false, &[":0"]).matches(Some(Sample::Sint(-5))));
    assert!(m("str", SampleType::Str, "int", false, &["lt", "3"]).matches(s("2")));
    // Booleans.
    let b = m("int", SampleType::Sint, "bool", false, &[]);
    assert!(b.matches(Some(Sample::Sint(2))));
    assert!(!b.matches(Some(Sample::Sint(0))));
    // Addresses: CIDR, dotted masks, IPv4 inside IPv6.
    let ip = m(
        "src",
        SampleType::Ipv4,
        "ip",
        false,
        &["10.0.0.0/8", "192.168.1.0/255.255.255.0", "2001:db8::/32"],
    );
    assert!(ip.matches(Some(Sample::Ipv4("10.1.2.3".parse().unwrap()))));
    assert!(ip.matches(Some(Sample::Ipv4("192.168.1.9".parse().unwrap()))));
    assert!(!ip.matches(Some(Sample::Ipv4("192.168.2.9".parse().unwrap()))));
    assert!(ip.matches(Some(Sample::Ipv6("::ffff:10.0.0.1".parse().unwrap()))));
    assert!(ip.matches(Some(Sample::Ipv6("2001:db8:1::5".parse().unwrap()))));
    assert!(ip.matches(s("10.9.9.9")));
    assert!(!ip.matches(s("not an address")));
    // Integer methods on strings see the text: `-m str` on an int compares its decimal form.
    assert!(m("int", SampleType::Sint, "str", false, &["42"]).matches(Some(Sample::Sint(42))));
    assert!(
        m("bin", SampleType::Bin, "bin", false, &["00FF"]).matches(Some(Sample::Bin(vec![0, 255])))
    );
}

#[test]
fn match_compile_errors_match_haproxy() {
    let e = |kw: &str, t, method: &str, pats: &[&str]| {
        Matcher::compile(kw, t, Method::parse(method).unwrap(), false, pats)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        e("ipv6", SampleType::Ipv6, "int", &["1"]),
        "matching method 'int' cannot be used with fetch keyword 'ipv6'"
    );
    assert_eq!(
        e("str", SampleType::Str, "int", &["x"]),
        "'x' is not a number"
    );
    assert_eq!(
        e("src", SampleType::Ipv4, "ip", &["1.2.3.400"]),
        "'1.2.3.400' is not a valid IPv4 or IPv6 address"
    );
    assert!(Method::parse("foo").is_none());
    // Accepted by HAProxy too.
    for (kw, t, method, pat) in [
        ("str", SampleType::Str, "ip", "1.2.3.4"),
        ("int", SampleType::Sint, "reg", "x"),
        ("int", SampleType::Sint, "beg", "x"),
        ("int", SampleType::Sint, "len", "1"),
        ("src", SampleType::Ipv4, "bool", "1"),
    ] {
        assert!(
            Matcher::compile(kw, t, Method::parse(method).unwrap(), false, &[pat]).is_ok(),
            "{kw} -m {method}"
        );
    }
}

#[test]
fn small_string_converters() {
    check(&[
        ("str(xxabcxx),ltrim(x)", "abcxx"),
        ("str(xxabcxx),rtrim(x)", "xxabc"),
        ("str(xyx),ltrim(xy)", ""),
        ("str('ab\\ncd'),cut_crlf", "ab\\ncd"),
        ("str(ff),hex2i", "255"),
        ("str(1A),hex2i", "26"),
        ("int(1),iif(yes,no)", "yes"),
        ("int(0),iif(yes,no)", "no"),
        ("int(1700000000),http_date", "Tue, 14 Nov 2023 22:13:20 GMT"),
        (
            "int(1700000000000),http_date(0,ms)",
            "Tue, 14 Nov 2023 22:13:20.0 GMT",
        ),
        (
            "int(1700000000005),http_date(0,ms)",
            "Tue, 14 Nov 2023 22:13:20.5 GMT",
        ),
        (
            "int(1700000000000123),http_date(1,us)",
            "Tue, 14 Nov 2023 22:13:20.124 GMT",
        ),
        ("str(abc),hex2i", "2748"),
        ("str(ABCDEF0123456789AB),hex2i", "-3607663525500581461"),
        ("str(),hex2i", "0"),
        ("str(-5),hex2i", ""),
        (
            "int(1700000000),http_date(3600)",
            "Tue, 14 Nov 2023 23:13:20 GMT",
        ),
        ("str(a),add_item(',',txn.v1)", "a,foo"),
        ("str(),add_item(',',txn.v1)", "foo"),
        ("str(a),add_item(',',txn.nope)", "a"),
        ("str(a),add_item(',',txn.nope,x)", "a,x"),
        ("int(5),even", "0"),
        ("int(5),odd", "1"),
        ("int(5),cpl", "-6"),
        ("str(abc),ub64enc", "YWJj"),
        ("str(-_8),ub64dec,hex", "FBFF"),
    ]);
}

/// Every fetch moonproxy implements is one HAProxy 2.6 has, under the same name.
#[test]
fn every_fetch_is_a_haproxy_fetch() {
    let ours = super::fetch::FETCHES.iter().chain(super::fetch_http::FETCHES);
    let unknown: Vec<&str> = ours
        .map(|f| f.name)
        .filter(|n| !crate::config::fetches::KNOWN_FETCHES.contains(n))
        .collect();
    assert!(unknown.is_empty(), "{unknown:?}");
}
