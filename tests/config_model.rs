//! What the parser puts in the model: defaults inheritance, addresses, servers,
//! logs, ACLs and rules.

use moonproxy::config::model::*;
use moonproxy::config::{parse_str, ParseOptions};
use std::net::SocketAddr;
use std::time::Duration;

fn parse(text: &str) -> Config {
    match parse_str("m.cfg", text, &ParseOptions::default()) {
        Ok(l) => l.config,
        Err(d) => panic!(
            "unexpected errors: {:#?}",
            d.iter().map(|d| d.to_string()).collect::<Vec<_>>()
        ),
    }
}

const BASE: &str = "global\n  log 127.0.0.1:1514 local3 info\n  maxconn 500\n  hard-stop-after 1m\n  tune.bufsize 32k\n\
defaults\n  mode tcp\n  log global\n  timeout connect 1s\n  timeout client 2s\n  timeout server 3s\n  retries 5\n  option redispatch\n  default-server weight 20 check inter 4s\n\
defaults other\n  mode tcp\n  timeout connect 10s\n  timeout client 10s\n  timeout server 10s\n  balance first\n";

#[test]
fn global_section() {
    let c = parse(&format!(
        "{BASE}listen li\n  bind :0\n  server s 127.0.0.1:1\n"
    ));
    assert_eq!(c.global.maxconn, Some(500));
    assert_eq!(c.global.hard_stop_after, Some(Duration::from_secs(60)));
    assert_eq!(c.global.bufsize, 32 * 1024);
    assert_eq!(c.global.logs.len(), 1);
    assert_eq!(
        c.global.logs[0].dest,
        LogDest::Udp("127.0.0.1:1514".parse().unwrap())
    );
    assert_eq!(c.global.logs[0].facility, Facility::Local3);
    assert_eq!(c.global.logs[0].max_level, Level::Info);
    assert_eq!(c.global.location.as_ref().unwrap().line, 1);
    assert_eq!(c.files, [std::path::PathBuf::from("m.cfg")]);
}

#[test]
fn last_defaults_and_named_defaults_are_inherited() {
    // The last defaults section is `other`, so a proxy without `from` inherits it.
    let c = parse(&format!(
        "{BASE}backend plain\n  server s 127.0.0.1:1\nbackend named from other\n  server s 127.0.0.1:1\n\
defaults\n  mode tcp\n  log global\n  timeout connect 1s\n  timeout client 2s\n  timeout server 3s\n  retries 5\n  option redispatch\n  default-server weight 20 check inter 4s\n\
backend anon\n  server s 127.0.0.1:1\n  no log\n"
    ));
    let plain = c.proxy("plain").unwrap();
    assert_eq!(plain.balance, Balance::First);
    assert_eq!(plain.timeouts.connect, Some(Duration::from_secs(10)));
    assert_eq!(plain.retries, 3, "HAProxy's default");
    let anon = c.proxy("anon").unwrap();
    assert_eq!(anon.timeouts.server, Some(Duration::from_secs(3)));
    assert_eq!(anon.retries, 5);
    assert!(anon.options.redispatch);
    assert_eq!(anon.options.redispatch_interval, -1);
    assert!(anon.logs.is_empty(), "no log");
    let s = &anon.servers[0];
    assert_eq!(s.weight, 20);
    assert_eq!(s.check.as_ref().unwrap().inter, Duration::from_secs(4));
    assert_eq!(s.id, Some(1));
    assert_eq!(c.proxy("named").unwrap().balance, Balance::First);
}

#[test]
fn frontend_binds_and_rules() {
    let c = parse(&format!(
        "{BASE}global\n  setenv MOON_FD 5\nfrontend fe from other\n  bind 127.0.0.1:7000-7002,[::1]:7003 name b1 maxconn 10 backlog 5 v4v6 reuseport\n  bind unix@/tmp/x.sock mode 660 uid 1 gid 2\n  bind abns@a\n  bind fd@4\n  bind \"fd@${{MOON_FD}}\"\n  bind fd@${{MOON_FD}}\n  \
maxconn 50\n  acl local src 127.0.0.1 10.0.0.0/8\n  acl hi dst_port ge 7001\n  use_backend be if local !hi || TRUE\n  use_backend be unless {{ src_port 1:1024 }}\n  default_backend be\n  option tcplog\n  log stderr format raw daemon\n\
backend be from other\n  server s1 127.0.0.1:80 backup maxconn 3 maxqueue 4 disabled id 9\n  server s2 localhost:81 check rise 5 fall 6 port 82 addr 127.0.0.2\n  server s3 /run/s.sock\n"
    ));
    let fe = c.proxy("fe").unwrap();
    assert!(fe.cap.frontend && !fe.cap.backend);
    let b = &fe.binds[0];
    let inet: Vec<SocketAddr> = [
        "127.0.0.1:7000",
        "127.0.0.1:7001",
        "127.0.0.1:7002",
        "[::1]:7003",
    ]
    .iter()
    .map(|a| a.parse().unwrap())
    .collect();
    assert_eq!(
        b.addrs,
        inet.into_iter().map(BindAddr::Inet).collect::<Vec<_>>()
    );
    assert_eq!(
        (b.name.as_deref(), b.maxconn, b.backlog, b.v4v6, b.reuseport),
        (Some("b1"), Some(10), Some(5), true, true)
    );
    assert_eq!(fe.binds[1].addrs, [BindAddr::Unix("/tmp/x.sock".into())]);
    assert_eq!(
        (fe.binds[1].mode, fe.binds[1].uid, fe.binds[1].gid),
        (Some(0o660), Some(1), Some(2))
    );
    assert_eq!(fe.binds[2].addrs, [BindAddr::Abstract("a".into())]);
    assert_eq!(fe.binds[3].addrs, [BindAddr::Fd(4)]);
    assert_eq!(fe.binds[4].addrs, [BindAddr::Fd(5)], "quoted fd@${{VAR}}");
    assert_eq!(fe.binds[5].addrs, [BindAddr::Fd(5)], "unquoted fd@${{VAR}}");
    assert_eq!(fe.maxconn, Some(50));
    assert_eq!(fe.acls.len(), 2);
    assert_eq!(fe.acls[1].expr.patterns, ["7001:"]);
    let r = &fe.use_backends[0];
    let cond = r.cond.as_ref().unwrap();
    assert!(!cond.unless);
    assert_eq!(cond.or_groups.len(), 2);
    assert_eq!(
        cond.or_groups[0][1],
        CondTerm {
            negate: true,
            acl: AclRef::Named("hi".into()),
            unusable: false,
        }
    );
    assert_eq!(
        cond.or_groups[1][0].acl,
        AclRef::Predefined(PredefinedAcl::True)
    );
    assert!(matches!(
        fe.use_backends[1].cond.as_ref().unwrap().or_groups[0][0].acl,
        AclRef::Anonymous(_)
    ));
    assert_eq!(fe.default_backend.as_ref().unwrap().name, "be");
    assert!(fe.options.tcplog);
    assert!(fe
        .log_format
        .as_deref()
        .unwrap()
        .starts_with("%ci:%cp [%t]"));
    assert_eq!(fe.logs[0].dest, LogDest::Stderr);
    assert_eq!(fe.logs[0].format, LogWireFormat::Raw);

    let be = c.proxy("be").unwrap();
    let s1 = &be.servers[0];
    assert_eq!(
        s1.addr,
        ServerAddr::Inet {
            ip: "127.0.0.1".parse().unwrap(),
            port: Some(80)
        }
    );
    assert!(s1.backup && s1.disabled && s1.check.is_none());
    assert_eq!((s1.maxconn, s1.maxqueue, s1.id), (3, 4, Some(9)));
    let s2 = &be.servers[1];
    assert!(
        matches!(&s2.addr, ServerAddr::Resolved { host, addr } if host == "localhost" && addr.port() == 81)
    );
    let chk = s2.check.as_ref().unwrap();
    assert_eq!(
        (chk.rise, chk.fall, chk.port, chk.addr),
        (5, 6, Some(82), Some("127.0.0.2".parse().unwrap()))
    );
    // HAProxy 2.6's numbering: a counter every server advances, forced id or not
    // (`show servers state` there gives 9, 2, 3 for these).
    assert_eq!(s2.id, Some(2), "first free id from the counter");
    assert_eq!(be.servers[2].addr, ServerAddr::Unix("/run/s.sock".into()));
    assert_eq!(be.servers[2].id, Some(3));
}

#[test]
fn warnings_are_returned_with_the_config() {
    let l = parse_str(
        "w.cfg",
        "frontend fe\n  bind :0\n  default_backend be\nbackend be\n  server s 127.0.0.1:1\n",
        &ParseOptions::default(),
    )
    .unwrap();
    let texts: Vec<String> = l.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(texts.len(), 2);
    assert!(texts[0].starts_with("config : missing timeouts for frontend 'fe'."));
}

#[test]
fn errors_carry_file_and_line() {
    let err = parse_str("e.cfg", "global\n\n  nope\n", &ParseOptions::default()).unwrap_err();
    assert_eq!(err[0].location.as_ref().unwrap().line, 3);
    assert_eq!(err[0].to_string(), "config : parsing [e.cfg:3] : unknown keyword 'nope' in 'global' section; did you mean 'node' maybe ?");
    assert!(err
        .last()
        .unwrap()
        .to_string()
        .ends_with("Fatal errors found in configuration."));
}
