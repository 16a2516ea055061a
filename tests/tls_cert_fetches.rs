//! The certificate fetches (`ssl_c_*`, `ssl_f_*`, `ssl_s_*`) and the remaining
//! `ssl_fc_*` / `ssl_bc_*` ones, side by side with HAProxy 2.6 on the same
//! configuration: certificates made by rcgen, rustls clients and servers written here
//! whose key logs tell the randoms and secrets the proxy should report.

mod common;

use common::tls::*;
use common::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

/// `name=%[fetch]` pairs, separated by `|` in a response.
fn fields(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, f)| format!("{k}=%[{f}]")).collect::<Vec<_>>().join("|")
}

fn parse(text: &str) -> BTreeMap<String, String> {
    text.split('|').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The certificate fetches on one prefix (`ssl_c_`, `ssl_f_`, `ssl_s_`).
fn cert_fields(p: &str) -> Vec<(String, String)> {
    [
        ("der", "der,hex"),
        ("sdn", "s_dn"),
        ("idn", "i_dn"),
        ("rfc", "s_dn(,0,rfc2253)"),
        ("irfc", "i_dn(,0,rfc2253)"),
        ("ou2", "s_dn(OU,2)"),
        ("oulast", "s_dn(OU,-1)"),
        ("cn", "s_dn(CN)"),
        ("icn", "i_dn(CN)"),
        ("ka", "key_alg"),
        ("sa", "sig_alg"),
        ("na", "notafter"),
        ("nb", "notbefore"),
        ("ser", "serial,hex"),
        ("sha", "sha1,hex"),
        ("ver", "version"),
    ]
    .iter()
    .map(|(k, f)| (format!("{p}{k}"), format!("ssl_{p}_{f}")))
    .collect()
}

/// Parameters of a certificate with a DN of several entries (two OUs) and `serial`.
fn params(cn: &str, serial: &[u8]) -> rcgen::CertificateParams {
    let mut p = rcgen::CertificateParams::new(vec![cn.to_string()]).unwrap();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(rcgen::DnType::CountryName, "FR");
    p.distinguished_name.push(rcgen::DnType::OrganizationName, "Test, Inc");
    p.distinguished_name.push(rcgen::DnType::OrganizationalUnitName, "Unit");
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    p.serial_number = Some(rcgen::SerialNumber::from_slice(serial));
    p.not_before = rcgen::date_time_ymd(2020, 1, 2);
    p.not_after = rcgen::date_time_ymd(2040, 3, 4);
    p
}

/// A client certificate (`verify optional`), the certificate the frontend presents,
/// and the session's details: each value the same as HAProxy's, the randoms and TLS
/// 1.3 secrets those of the client's own key log (`tune.ssl.keylog on`), the
/// ClientHello lists as captured (`tune.ssl.capture-buffer-size`). Then a client
/// whose certificate expired and one whose certificate no CA signed, forgiven by
/// `crt-ignore-err`/`ca-ignore-err all`: the error ids OpenSSL reports.
#[test]
fn client_and_frontend_certificates_as_haproxy() {
    let ca = TestCa::new();
    let mut cp = params("client one", &[0x01, 0x23, 0xab]);
    cp.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client = ca.issue(cp.clone());
    let mut expired = cp.clone();
    expired.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let expired = ca.issue(expired);
    let (stranger, _) = cert(&["stranger.test"]);
    let front = {
        let key = rcgen::KeyPair::generate().unwrap();
        let c = params("front.test", &[0x00, 0x9a]).self_signed(&key).unwrap();
        format!("{}{}", c.pem(), key.serialize_pem())
    };

    let mut pairs: Vec<(String, String)> = cert_fields("c");
    pairs.extend(cert_fields("f"));
    for (k, f) in [
        ("chain", "ssl_c_chain_der,hex"),
        ("verify", "ssl_c_verify"),
        ("err", "ssl_c_err"),
        ("caerr", "ssl_c_ca_err"),
        ("cadepth", "ssl_c_ca_err_depth"),
        ("used", "ssl_c_used"),
        ("hascrt", "ssl_fc_has_crt"),
        ("resumed", "ssl_fc_is_resumed"),
        ("keys", "ssl_fc_use_keysize"),
        ("algkeys", "ssl_fc_alg_keysize"),
        ("hello", "ssl_fc_protocol_hello_id"),
        ("cl", "ssl_fc_cipherlist_hex"),
        ("clbin", "ssl_fc_cipherlist_bin(1),hex"),
        ("clstr", "ssl_fc_cipherlist_str"),
        ("xxh", "ssl_fc_cipherlist_xxh"),
        ("ext", "ssl_fc_extlist_bin,hex"),
        ("ecl", "ssl_fc_eclist_bin(1),hex"),
        ("ecf", "ssl_fc_ecformats_bin,hex"),
        ("fcerr", "ssl_fc_err"),
        ("fcerrstr", "ssl_fc_err_str"),
        ("early", "ssl_fc_has_early"),
        ("npn", "ssl_fc_npn"),
        ("uid", "ssl_fc_unique_id,hex"),
        ("cr", "ssl_fc_client_random,hex"),
        ("sr", "ssl_fc_server_random,hex"),
        ("chs", "ssl_fc_client_handshake_traffic_secret"),
        ("shs", "ssl_fc_server_handshake_traffic_secret"),
        ("cts", "ssl_fc_client_traffic_secret_0"),
        ("sts", "ssl_fc_server_traffic_secret_0"),
        ("exp", "ssl_fc_exporter_secret"),
        ("cets", "ssl_fc_client_early_traffic_secret"),
        ("skey", "ssl_fc_session_key,hex"),
        ("sid", "ssl_fc_session_id,hex"),
    ] {
        pairs.push((k.to_string(), f.to_string()));
    }
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, f)| (k.as_str(), f.as_str())).collect();
    let cfg = format!(
        "global
    nbthread 1
    tune.ssl.capture-buffer-size 1024
    tune.ssl.keylog on
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{{{fe}}}} ssl crt {{{{dir}}}}/front.pem verify optional ca-file {{{{dir}}}}/ca.pem crt-ignore-err all ca-ignore-err all
    http-request return status 200 content-type text/plain lf-string \"{}\"
",
        fields(&pairs)
    );
    // What is random or where rustls gives nothing (doc/tls.md), checked apart.
    let apart = ["cr", "sr", "chs", "shs", "cts", "sts", "exp", "skey", "sid", "uid"];
    let mut answers: Vec<Vec<BTreeMap<String, String>>> = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let who = bin.display().to_string();
        let proxy = ProxyBuilder::new(&cfg).bin(&bin).file("front.pem", &front).file("ca.pem", &ca.pem()).start();
        let port = proxy.port("fe");
        let mut got = Vec::new();
        for (version, cert) in [(&rustls::version::TLS13, Some(&client)), (&rustls::version::TLS12, Some(&client)), (&rustls::version::TLS13, None), (&rustls::version::TLS13, Some(&expired)), (&rustls::version::TLS12, Some(&stranger))] {
            let (config, log) = logging_client(cert.map(String::as_str), version);
            let mut s = connect(port, config, "front.test");
            let (head, body) = get(&mut s, "/");
            assert!(head.starts_with("HTTP/1.1 200"), "{who}: {head}");
            let m = parse(&String::from_utf8_lossy(&body));
            let tls13 = version.version == rustls::ProtocolVersion::TLSv1_3;
            // The randoms and secrets are the session's, as the client logged them.
            let (random, _) = log.hex(if tls13 { "CLIENT_TRAFFIC_SECRET_0" } else { "CLIENT_RANDOM" }).expect("client key log");
            assert_eq!(m["cr"], random, "{who}");
            assert_eq!(m["sr"].len(), 64, "{who}");
            let secret = |label| log.hex(label).map(|(_, s)| s.to_ascii_lowercase()).unwrap_or_default();
            if tls13 {
                for (k, label) in [("chs", "CLIENT_HANDSHAKE_TRAFFIC_SECRET"), ("shs", "SERVER_HANDSHAKE_TRAFFIC_SECRET"), ("cts", "CLIENT_TRAFFIC_SECRET_0"), ("sts", "SERVER_TRAFFIC_SECRET_0"), ("exp", "EXPORTER_SECRET")] {
                    assert_eq!(m[k], secret(label), "{who}: {k}");
                }
            } else {
                assert_eq!(m["skey"], secret("CLIENT_RANDOM").to_ascii_uppercase(), "{who}: the TLS 1.2 master secret");
                assert_eq!(m["cts"], "", "{who}: no TLS 1.3 secret in TLS 1.2");
            }
            got.push(m);
        }
        // Values known from the certificates themselves.
        let good = &got[0];
        assert_eq!(good["csdn"], "/C=FR/O=Test, Inc/OU=Unit/CN=client one", "{who}");
        assert_eq!(good["cidn"], "/CN=moonproxy test CA", "{who}");
        assert_eq!(good["crfc"], "CN=client one,OU=Unit,O=Test\\, Inc,C=FR", "{who}");
        assert_eq!((good["cou2"].as_str(), good["coulast"].as_str(), good["ccn"].as_str()), ("", "Unit", "client one"), "{who}");
        assert_eq!((good["cser"].as_str(), good["cver"].as_str(), good["cnb"].as_str(), good["cna"].as_str()), ("0123AB", "3", "200102000000Z", "400304000000Z"), "{who}");
        assert_eq!((good["cka"].as_str(), good["csa"].as_str()), ("id-ecPublicKey", "ecdsa-with-SHA256"), "{who}");
        assert_eq!(good["fsdn"], "/C=FR/O=Test, Inc/OU=Unit/CN=front.test", "{who}");
        assert_eq!((good["verify"].as_str(), good["used"].as_str(), good["hascrt"].as_str()), ("0", "1", "1"), "{who}");
        assert_eq!(got[2]["used"], "0", "{who}: no certificate");
        assert_eq!(got[2]["cder"], "", "{who}");
        assert_eq!((got[3]["verify"].as_str(), got[3]["err"].as_str(), got[3]["caerr"].as_str()), ("10", "10", "0"), "{who}: expired, forgiven");
        assert_eq!((got[4]["verify"].as_str(), got[4]["err"].as_str(), got[4]["cadepth"].as_str()), ("18", "18", "0"), "{who}: self-signed, forgiven");
        assert!(good["cl"].starts_with("1302"), "{who}: {}", good["cl"]);
        assert_eq!(good["hello"], "771", "{who}");
        answers.push(got.into_iter().map(|mut m| {
            m.retain(|k, _| !apart.contains(&k.as_str()));
            // rustls clients shuffle their extensions: the set is compared, without
            // the empty ones (extended_master_secret, session_ticket), which HAProxy
            // leaves out when they come last (unit-tested in src/tls/details.rs).
            let ext = m.get_mut("ext").unwrap();
            let mut types: Vec<String> = ext.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).filter(|t| t != "0017" && t != "0023").collect();
            types.sort();
            *ext = types.concat();
            m
        }).collect());
    }
    if let [ours, haproxy] = &answers[..] {
        for (i, (a, b)) in ours.iter().zip(haproxy).enumerate() {
            for (k, v) in b {
                assert_eq!(a.get(k), Some(v), "client {i}: {k} differs from HAProxy's");
            }
        }
    }
}

/// `ssl_s_*` in `http-response` rules: the certificate of a rustls server whose
/// chain has its CA after its own certificate, and the `ssl_bc_*` randoms and TLS
/// 1.2 master secret the server's key log shows.
#[test]
fn server_certificate_as_haproxy() {
    let ca = TestCa::new();
    let srv = ca.issue(params("backend.test", &[0x7f, 0x01]));
    let chain = format!("{}{}", srv, ca.pem());
    let mut config = rustls::ServerConfig::builder_with_provider(provider()).with_protocol_versions(&[&rustls::version::TLS12]).unwrap().with_no_client_auth().with_single_cert(chain_of(&chain), key_of(&srv)).unwrap();
    let log = Arc::new(KeyLogged::default());
    config.key_log = log.clone();
    let app = serve_tls(Arc::new(config), |mut s| {
        if read_head(&mut s).is_some() {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").and_then(|_| s.flush());
            s.conn.send_close_notify();
            let _ = s.flush();
        }
    });
    let mut pairs = cert_fields("s");
    for (k, f) in [
        ("chain", "ssl_s_chain_der,hex"),
        ("bcr", "ssl_bc_client_random,hex"),
        ("bsr", "ssl_bc_server_random,hex"),
        ("bkey", "ssl_bc_session_key,hex"),
        ("bsid", "ssl_bc_session_id,hex"),
        ("berr", "ssl_bc_err"),
        ("berrstr", "ssl_bc_err_str"),
        ("bnpn", "ssl_bc_npn"),
    ] {
        pairs.push((k.to_string(), f.to_string()));
    }
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, f)| (k.as_str(), f.as_str())).collect();
    let cfg = format!(
        "global
    nbthread 1
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{{{fe}}}}
    default_backend tls
backend tls
    http-response set-header X-S \"{}\"
    server s 127.0.0.1:{{{{app}}}} ssl verify none no-ssl-reuse
",
        fields(&pairs)
    );
    let apart = ["bcr", "bsr", "bkey", "bsid"];
    let mut answers = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let who = bin.display().to_string();
        let proxy = ProxyBuilder::new(&cfg).bin(&bin).port("app", app).start();
        let r = get_closing(proxy.port("fe"), "/");
        assert_eq!(r.status, 200, "{who}: {}", r.head);
        let mut m = parse(r.header("x-s").expect("X-S"));
        let (random, secret) = log.hex("CLIENT_RANDOM").expect("server key log");
        log.0.lock().unwrap().clear();
        assert_eq!(m["bcr"], random, "{who}");
        assert_eq!(m["bkey"], secret, "{who}: the master secret");
        assert_eq!(m["bsr"].len(), 64, "{who}");
        assert_eq!(m["ssdn"], "/C=FR/O=Test, Inc/OU=Unit/CN=backend.test", "{who}");
        assert_eq!(m["sidn"], "/CN=moonproxy test CA", "{who}");
        assert_eq!((m["sser"].as_str(), m["berr"].as_str(), m["bnpn"].as_str()), ("7F01", "0", ""), "{who}");
        assert!(m["chain"].starts_with(&m["sder"]) && m["chain"].len() > m["sder"].len(), "{who}: the server's own certificate, then its CA");
        m.retain(|k, _| !apart.contains(&k.as_str()));
        answers.push(m);
    }
    if let [ours, haproxy] = &answers[..] {
        for (k, v) in haproxy {
            assert_eq!(ours.get(k), Some(v), "{k} differs from HAProxy's");
        }
    }
}

/// Without `tune.ssl.capture-buffer-size` the capture fetches give nothing, nor the
/// TLS 1.3 secrets without `tune.ssl.keylog on`; a DN format other than `rfc2253` is
/// refused with HAProxy's message.
#[test]
fn capture_and_keylog_need_their_settings() {
    let (front, _) = cert(&["front.test"]);
    let pairs = [("cl", "ssl_fc_cipherlist_hex"), ("hello", "ssl_fc_protocol_hello_id"), ("cts", "ssl_fc_client_traffic_secret_0"), ("cr", "ssl_fc_client_random,hex")];
    let cfg = format!(
        "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{{{fe}}}} ssl crt {{{{dir}}}}/front.pem
    http-request return status 200 content-type text/plain lf-string \"{}\"
",
        fields(&pairs)
    );
    for bin in moonproxy_and_haproxy() {
        let who = bin.display().to_string();
        let proxy = ProxyBuilder::new(&cfg).bin(&bin).file("front.pem", &front).start();
        let (config, _) = logging_client(None, &rustls::version::TLS13);
        let (_, body) = get(&mut connect(proxy.port("fe"), config, "front.test"), "/");
        let m = parse(&String::from_utf8_lossy(&body));
        assert_eq!((m["cl"].as_str(), m["hello"].as_str(), m["cts"].as_str()), ("", "", ""), "{who}");
        assert_eq!(m["cr"].len(), 64, "{who}: the random needs no setting");
    }
    let bad = "defaults\n    mode http\nfrontend f\n    bind 127.0.0.1:{{p}}\n    http-request set-header x %[ssl_c_s_dn(CN,1,ldap)]\n";
    let out = ProxyBuilder::new(bad).free_port("p").flags(["-c"]).run();
    assert_ne!(out.code(), Some(0));
    assert!(out.stderr.contains("only rfc2253 or a blank value are currently supported as the format argument."), "{}", out.stderr);
}

/// Lua's `CertCache.set` replaces a loaded certificate for the next handshakes (the
/// SNI choice follows the new certificate's names), with HAProxy's messages for a
/// file no bind loaded, an unknown field, a certificate without its key; the same
/// with HAProxy 2.6.
#[test]
fn certcache_set_replaces_a_certificate() {
    let (a_pem, a_der) = cert(&["a.test"]);
    let (b_pem, b_der) = cert(&["b.test"]);
    let b_cert_only = &b_pem[..b_pem.find("-----BEGIN PRIVATE KEY").unwrap()];
    let script = format!(
        r#"
local NEW = [==[{b_pem}]==]
local CERT_ONLY = [==[{b_cert_only}]==]
core.register_action("swap", {{ "http-req" }}, function(txn, filename)
  local out = {{}}
  local function try(...)
    local ok, err = pcall(CertCache.set, ...)
    out[#out + 1] = tostring(ok) .. ":" .. tostring(err)
  end
  try("x")
  try({{ crt = NEW }})
  try({{ filename = "/nonexistent.pem", crt = NEW }})
  try({{ filename = filename, foo = "x" }})
  try({{ filename = filename, crt = CERT_ONLY }})
  try({{ filename = filename, crt = NEW }})
  txn:set_var("txn.r", table.concat(out, "|"))
end, 1)
"#
    );
    let cfg = "global
    lua-load {{dir}}/swap.lua
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{tls}} ssl crt {{dir}}/a.pem
    bind 127.0.0.1:{{plain}}
    http-request lua.swap {{dir}}/a.pem if { path /swap }
    http-request return status 200 content-type text/plain lf-string \"%[var(txn.r)]\"
";
    for bin in moonproxy_and_haproxy() {
        let who = bin.display().to_string();
        let proxy = ProxyBuilder::new(cfg).bin(&bin).file("a.pem", &a_pem).file("swap.lua", &script).start();
        let served = |sni: &str| {
            let s = connect(proxy.port("tls"), any_server(None), sni);
            s.conn.peer_certificates().unwrap()[0].clone()
        };
        assert_eq!(served("b.test"), a_der, "{who}: the default certificate");
        let r = get_closing(proxy.port("plain"), "/swap");
        let body = String::from_utf8_lossy(&r.body).into_owned();
        let answers: Vec<&str> = body.split('|').collect();
        let dir = proxy.dir().display().to_string();
        assert_eq!(
            answers,
            [
                "false:'CertCache.set' needs a table as argument",
                "false:No filename specified!",
                "false:Can't replace a certificate which is not referenced by the configuration!",
                "false:Unsupported field 'foo'",
                &format!("false:unable to load SSL private key into SSL Context '{dir}/a.pem'.%0A"), // the newline, as lf-string escapes it
                "true:nil",
            ],
            "{who}"
        );
        assert_eq!(served("b.test"), b_der, "{who}: the new certificate, chosen by its name");
        assert_eq!(served("other.test"), b_der, "{who}: and the default one");
    }
}
