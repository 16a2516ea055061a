//! A fetch used where its data cannot exist (`status` in `http-request`, `path` in
//! `http-response` or at log time) inside a sample expression or a log-format string:
//! HAProxy 2.6 refuses the configuration, with messages this test compares line for line
//! (the ACL form of the same mistake is a warning, see `config_matrix.rs`). A
//! `log-format` is the exception, on purpose: moonproxy's log lines can read the request
//! headers that 2.6 refuses there (`log_format_samples.rs`).

mod common;
use common::*;

fn config(line: &str, logs: bool) -> String {
    let log = if logs { "    log 127.0.0.1:9 local0\n" } else { "" };
    format!(
        "defaults\n    mode http\n{log}    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n\
         frontend f\n    bind 127.0.0.1:{{{{port}}}}\n    {line}\n    default_backend b\n\
         backend b\n    server s 127.0.0.1:9\n"
    )
}

/// The first alert of `-c` on the configuration, without its `[ALERT] (pid) : config : `
/// prefix, and the exit code.
fn first_alert(bin: &std::path::Path, cfg: &str) -> (Option<i32>, String) {
    let out = ProxyBuilder::new(cfg).bin(bin).flags(["-c"]).run();
    let alert = out
        .stderr
        .lines()
        .find(|l| l.contains("[ALERT]") && !l.contains("Error(s) found") && !l.contains("Fatal errors"))
        .map(|l| l.split_once("config : ").map_or(l, |(_, m)| m).to_string())
        .unwrap_or_default();
    // The configuration file's path differs per run: `[<dir>/proxy.cfg:8]` -> `[t.cfg:8]`.
    let alert = match (alert.find('['), alert.find(".cfg:")) {
        (Some(a), Some(b)) if a < b => format!("{}t{}", &alert[..=a], &alert[b..]),
        _ => alert,
    };
    (out.code(), alert)
}

#[test]
fn unusable_fetches_in_expressions_and_formats_are_refused_as_haproxy_does() {
    // (line, logs, what the alert says; "" = accepted)
    let cases: &[(&str, bool, &str)] = &[
        (
            "http-request set-header X foo%[status]bar",
            false,
            "parsing [t.cfg:8] : error detected in frontend 'f' while parsing 'http-request set-header' rule : sample fetch <status]bar> may not be reliably used here because it needs 'HTTP response' which is not available here.",
        ),
        (
            "http-response set-header X %{+Q}[path,lower]",
            false,
            "parsing [t.cfg:8] : error detected in frontend 'f' while parsing 'http-response set-header' rule : sample fetch <path,lower]> may not be reliably used here because it needs 'HTTP request headers' which is not available here.",
        ),
        (
            "http-request set-var(txn.x) status",
            false,
            "parsing [t.cfg:8] : error detected in frontend 'f' while parsing 'http-request set-var(txn.x)' rule : fetch method 'set-var(txn.x)' extracts information from 'HTTP response', none of which is available here.",
        ),
        (
            "http-request capture res.hdr(a),lower len 10",
            false,
            "parsing [t.cfg:8] : error detected in frontend 'f' while parsing 'http-request capture' rule : fetch method 'res.hdr(a),lower' extracts information from 'HTTP response headers', none of which is available here.",
        ),
        (
            "http-request return status 200 content-type text/plain lf-string %[status]",
            false,
            "parsing [t.cfg:8] : error detected in frontend 'f' while parsing 'http-request return' rule : sample fetch <status]> may not be reliably used here because it needs 'HTTP response' which is not available here.",
        ),
        (
            "tcp-request content set-var(txn.x) status",
            false,
            "parsing [t.cfg:8] : fetch method 'set-var(txn.x)' extracts information from 'HTTP response', none of which is available here",
        ),
        (
            "use_backend %[status]",
            false,
            "Parsing [t.cfg:8]: failed to parse use_backend rule '%[status]' : sample fetch <status]> may not be reliably used here because it needs 'HTTP response' which is not available here.",
        ),
        (
            "unique-id-format %[status]",
            false,
            "Parsing [t.cfg:8]: failed to parse unique-id : sample fetch <status]> may not be reliably used here because it needs 'HTTP response' which is not available here.",
        ),
        // Accepted: the data exists there, or 2.6 does not check.
        ("http-request set-header X %[path]%[str(a)]", false, ""),
        ("http-response set-header X %[status]", false, ""),
        ("log-format %[status]", true, ""),
        ("redirect location /%[status]", false, ""),
        ("http-request set-header X 100%%", false, ""),
    ];
    let bins = moonproxy_and_haproxy();
    // The one deliberate difference: accepted by moonproxy, refused by 2.6.
    let (code, alert) = first_alert(&moonproxy_bin(), &config("log-format %[path]", true));
    assert_eq!((code, alert.as_str()), (Some(0), ""));
    for &(line, logs, expected) in cases {
        let cfg = config(line, logs);
        for bin in &bins {
            let (code, alert) = first_alert(bin, &cfg);
            assert_eq!(alert, expected, "{} on `{line}`", bin.display());
            assert_eq!(code, Some(if expected.is_empty() { 0 } else { 1 }), "{} on `{line}`", bin.display());
        }
    }
}
