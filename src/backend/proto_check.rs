//! Protocol health checks (`option redis-check`, `smtpchk`, `pgsql-check`,
//! `mysql-check`, `ldap-check`, `ssl-hello-chk`) as predefined `tcp-check` sequences.
//!
//! HAProxy 2.6 runs each of these options as a fixed rule set of its tcp-check engine;
//! [`rules`] spells out the same sequences for [`TcpProbe`](super::TcpProbe): what is
//! sent, what each `expect` looks for, and the status and text each outcome reports.
//! The step numbers in reports (`TCPCHK got an empty response at step 7`) count these
//! rules, a first `connect` included where HAProxy has one.
//!
//! Three answers are judged by code rather than by a pattern ([`Judge`]): MySQL's
//! handshake and login reply, and LDAP's bind response. The reports, measured on
//! HAProxy 2.6.12:
//!
//! | check | passed | failed |
//! |---|---|---|
//! | redis | `code: 0, info: "Redis server is ok"` | L7STS, the first line of the answer |
//! | smtp | `code: <QUIT reply code>, info: "<its text>"` | L7RSP (greeting not `NNN `), L7STS `code: <n>` with the reply's text |
//! | pgsql | `info: "PostgreSQL server is ok"` | L7RSP with the error's severity (`'E'`), L7STS `PostgreSQL unknown error` |
//! | mysql | `info: "<server version>"` | L7STS `code: <errno>` with `#<state><message>`, L7RSP for a malformed packet |
//! | ldap | `info: "Success"` | L7STS `code: <resultCode>`, L7RSP `Not LDAPv3 protocol` |
//! | ssl-hello | `Layer6 check passed` | `Layer6 invalid response`, `Layer6 timeout` |
//!
//! Unlike a configured `tcp-check`, a failed connect, a timeout and a mismatch without
//! an `on-error` text add nothing about steps (`Layer7 timeout` alone), as HAProxy does.

use crate::config::model::{ProtocolCheck, TcpCheckExpect, TcpCheckMatch};

/// One rule of a predefined sequence.
#[derive(Clone, Debug)]
pub(super) enum ProtoRule {
    /// The leading `connect` (a step of its own, nothing to do).
    Connect,
    Send(Vec<u8>),
    /// A pattern, with what HAProxy's predefined rules add to a plain `expect`.
    Expect(TcpCheckExpect, Extras),
    /// An answer judged by code.
    Judge(Judge),
}

/// What HAProxy's predefined `expect` rules use beyond the options `tcp-check expect`
/// takes here: `ok-status L6OK`, `tout-status L6TOUT`, `status-code res.payload(0,3)`,
/// and `on-success`/`on-error` texts computed from the answer.
#[derive(Clone, Debug, Default)]
pub(super) struct Extras {
    /// `ok-status L6OK`: a pass reads `Layer6 check passed`.
    pub layer6: bool,
    /// The code of a pass or an L7STS failure is the answer's first three digits.
    pub status_code: bool,
    pub on_success: Option<Text>,
    pub on_error: Option<Text>,
}

/// An `on-success` / `on-error` text.
#[derive(Clone, Debug)]
pub(super) enum Text {
    Fixed(&'static str),
    /// The answer from byte `from` (leading spaces removed if `ltrim`) up to its first
    /// CR, LF or NUL: `%[res.payload(<from>,0),ltrim(' '),cut_crlf]`.
    Answer { from: usize, ltrim: bool },
}

impl Text {
    /// The text for the answer `data` (empty when there is nothing to show).
    pub fn render(&self, data: &[u8]) -> String {
        match self {
            Text::Fixed(text) => (*text).to_string(),
            Text::Answer { from, ltrim } => {
                let mut rest = data.get(*from..).unwrap_or_default();
                if *ltrim {
                    while let [b' ', tail @ ..] = rest {
                        rest = tail;
                    }
                }
                let end = rest.iter().position(|&b| matches!(b, b'\r' | b'\n' | 0)).unwrap_or(rest.len());
                String::from_utf8_lossy(&rest[..end]).into_owned()
            }
        }
    }
}

/// An agent's answer to a health-check HAPROXY-HELLO: passed (`SPOA server is ok`) on
/// an AGENT-HELLO with a version, frame size and capabilities moonproxy accepts;
/// otherwise `Layer7 invalid response` with the SPOP status's text: the code of an
/// AGENT-DISCONNECT, or what is wrong with the answer (HAProxy 2.6's reports; bytes
/// that are no SPOP frame are an invalid frame, whatever length they announce).
fn spop_hello(data: &[u8]) -> Verdict {
    use crate::spoe::frame::{self, status, Parsed};
    let frame = match frame::parse(data, SPOP_CHECK_FRAME_SIZE) {
        Parsed::Partial => return Verdict::Wait,
        Parsed::Frame(f, _) => f,
        Parsed::TooBig | Parsed::Invalid => return Verdict::Invalid(status::reason(status::INVALID).into()),
    };
    let code = match frame.ty {
        frame::AGENT_HELLO => match frame::agent_hello(&frame.payload, SPOP_CHECK_FRAME_SIZE) {
            Ok(_) => return Verdict::Pass("SPOA server is ok".into()),
            Err(code) => code,
        },
        frame::AGENT_DISCONNECT => frame::disconnect_status(&frame.payload),
        _ => status::INVALID,
    };
    Verdict::Invalid(status::reason(code).into())
}

/// The status code of an answer: its first three bytes as a number, 0 if they are not digits.
pub(super) fn status_code(data: &[u8]) -> u16 {
    match data.get(..3) {
        Some(digits) if digits.iter().all(u8::is_ascii_digit) => digits.iter().fold(0, |n, d| n * 10 + u16::from(d - b'0')),
        _ => 0,
    }
}

/// An answer judged by code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Judge {
    /// MySQL: the server's handshake packet and, with `login`, the reply to the login
    /// packet that follows it.
    Mysql { login: bool },
    /// LDAP: a BindResponse with resultCode success.
    LdapBind,
    /// SPOP: an AGENT-HELLO the HAPROXY-HELLO accepts.
    Spop,
}

/// The `max-frame-size` a SPOP check offers (HAProxy's default, `tune.bufsize - 4`).
const SPOP_CHECK_FRAME_SIZE: u32 = 16380;

/// What a [`Judge`] says of the bytes received so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Not enough bytes yet.
    Wait,
    /// Passed, with the check's info.
    Pass(String),
    /// The server answered an error: `Layer7 wrong status` with this code and info.
    Status(u16, String),
    /// Not the protocol's answer: `Layer7 invalid response` with this info.
    Invalid(String),
}

impl Judge {
    /// Judges `data` (all bytes since the last send); `ended`: no more will come.
    pub fn judge(self, data: &[u8], ended: bool) -> Verdict {
        let verdict = match self {
            Judge::Mysql { login } => mysql(data, login),
            Judge::LdapBind => ldap_bind(data),
            Judge::Spop => spop_hello(data),
        };
        match verdict {
            Verdict::Wait if ended => Verdict::Invalid(String::new()),
            v => v,
        }
    }
}

/// The rules of a protocol check.
pub(super) fn rules(check: &ProtocolCheck) -> Vec<ProtoRule> {
    use ProtoRule::{Connect, Judge as J, Send};
    let first_line = || Some(Text::Answer { from: 0, ltrim: false });
    let reply_text = || Some(Text::Answer { from: 4, ltrim: true });
    match check {
        ProtocolCheck::Redis => vec![
            Send(b"*1\r\n$4\r\nPING\r\n".to_vec()),
            expect(string("+PONG"), None, "L7STS", Extras { on_success: Some(Text::Fixed("Redis server is ok")), on_error: first_line(), ..Extras::default() }),
        ],
        ProtocolCheck::Smtp { hello } => {
            // Each reply must be 2xx; the greeting must also be a single line.
            let reply = |min_recv, last: bool| {
                let extras = Extras { status_code: true, on_error: reply_text(), on_success: if last { reply_text() } else { None }, ..Extras::default() };
                expect(regex("^2[0-9]{2}[- \r]"), min_recv, "L7STS", extras)
            };
            vec![
                Connect,
                expect(regex("^[0-9]{3}[ \r]"), Some(4), "L7RSP", Extras { on_error: first_line(), ..Extras::default() }),
                expect(regex("^2[0-9]{2}[ \r]"), Some(4), "L7STS", Extras { status_code: true, on_error: reply_text(), ..Extras::default() }),
                Send(format!("{hello}\r\n").into_bytes()),
                reply(None, false),
                Send(b"QUIT\r\n".to_vec()),
                reply(Some(4), true),
            ]
        }
        ProtocolCheck::Pgsql { user } => vec![
            Connect,
            Send(pgsql_startup(user)),
            // An ErrorResponse ('E') reports its severity field.
            expect(
                TcpCheckMatch::RString("^E".into()),
                Some(5),
                "L7RSP",
                Extras { on_error: Some(Text::Answer { from: 6, ltrim: false }), ..Extras::default() },
            )
            .negated(),
            // An AuthenticationRequest ('R') the server may send to a client: ok,
            // Kerberos, cleartext, crypt, MD5, SCM, GSS, SSPI or SASL.
            expect(
                TcpCheckMatch::RBinary("^52000000[0-9A-F]{2}000000(00|02|03|04|05|06|07|09|0A)".into()),
                Some(9),
                "L7STS",
                Extras {
                    on_success: Some(Text::Fixed("PostgreSQL server is ok")),
                    on_error: Some(Text::Fixed("PostgreSQL unknown error")),
                    ..Extras::default()
                },
            ),
        ],
        ProtocolCheck::Mysql { user: None, .. } => vec![Connect, J(Judge::Mysql { login: false })],
        ProtocolCheck::Mysql { user: Some(user), pre41 } => vec![Connect, Send(mysql_login(user, *pre41)), J(Judge::Mysql { login: true })],
        ProtocolCheck::Ldap => vec![
            Send(LDAP_ANONYMOUS_BIND.to_vec()),
            expect(
                TcpCheckMatch::RBinary("^30".into()),
                Some(14),
                "L7RSP",
                Extras { on_error: Some(Text::Fixed("Not LDAPv3 protocol")), ..Extras::default() },
            ),
            J(Judge::LdapBind),
        ],
        ProtocolCheck::Spop => vec![
            Connect,
            Send(crate::spoe::frame::haproxy_hello(SPOP_CHECK_FRAME_SIZE, "", true, "").encode()),
            J(Judge::Spop),
        ],
        ProtocolCheck::SslHello => vec![
            Send(client_hello()),
            // A handshake (22) or alert (21) record: the server speaks TLS.
            expect(TcpCheckMatch::RBinary("^1[56]".into()), Some(5), "L6RSP", Extras { layer6: true, ..Extras::default() }),
        ],
    }
}

fn string(s: &str) -> TcpCheckMatch {
    TcpCheckMatch::String(s.as_bytes().to_vec())
}

fn regex(re: &str) -> TcpCheckMatch {
    TcpCheckMatch::RString(re.into())
}

fn expect(kind: TcpCheckMatch, min_recv: Option<usize>, error_status: &str, extras: Extras) -> ProtoRule {
    let rule = TcpCheckExpect { negate: false, kind, min_recv, error_status: Some(error_status.into()), on_success: None, on_error: None };
    ProtoRule::Expect(rule, extras)
}

impl ProtoRule {
    fn negated(mut self) -> ProtoRule {
        if let ProtoRule::Expect(rule, _) = &mut self {
            rule.negate = true;
        }
        self
    }
}

/// A PostgreSQL StartupMessage (protocol 3.0) with only the `user` parameter.
fn pgsql_startup(user: &str) -> Vec<u8> {
    let mut body = vec![0, 3, 0, 0];
    body.extend_from_slice(b"user\0");
    body.extend_from_slice(user.as_bytes());
    body.extend_from_slice(b"\0\0");
    let mut msg = u32::try_from(body.len() + 4).unwrap_or(u32::MAX).to_be_bytes().to_vec();
    msg.extend_from_slice(&body);
    msg
}

/// A MySQL packet: 3-byte little-endian length, sequence number, payload.
fn mysql_packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = u32::try_from(payload.len()).unwrap_or(0xff_ffff).to_le_bytes()[..3].to_vec();
    p.push(seq);
    p.extend_from_slice(payload);
    p
}

/// A login without password for `user` (HandshakeResponse41, or the pre-4.1
/// HandshakeResponse320 with `pre41`), then COM_QUIT so the server ends the session
/// cleanly. Sent as soon as connected; the server answers after its handshake.
fn mysql_login(user: &str, pre41: bool) -> Vec<u8> {
    let mut login = Vec::new();
    if pre41 {
        login.extend_from_slice(&0u16.to_le_bytes()); // capabilities
        login.extend_from_slice(&[0xff, 0xff, 0xff]); // max packet size
        login.extend_from_slice(user.as_bytes());
        login.push(0);
        login.push(0); // empty password
    } else {
        const PROTOCOL_41: u32 = 0x200;
        const SECURE_CONNECTION: u32 = 0x8000;
        login.extend_from_slice(&(PROTOCOL_41 | SECURE_CONNECTION).to_le_bytes());
        login.extend_from_slice(&0x0100_0000u32.to_le_bytes()); // max packet size: 16 MiB
        login.push(0x21); // utf8_general_ci
        login.extend_from_slice(&[0; 23]);
        login.extend_from_slice(user.as_bytes());
        login.push(0);
        login.push(0); // auth response of length 0
    }
    let mut out = mysql_packet(1, &login);
    out.extend_from_slice(&mysql_packet(0, &[0x01])); // COM_QUIT
    out
}

/// The MySQL packet at the start of `data`: (payload, total length), `None` while incomplete.
fn mysql_next(data: &[u8]) -> Option<(&[u8], usize)> {
    let header = data.get(..4)?;
    let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    data.get(4..4 + len).map(|payload| (payload, 4 + len))
}

/// An ERR packet's verdict: its error code, and the rest (`#<sqlstate><message>`) as info.
fn mysql_error(payload: &[u8]) -> Option<Verdict> {
    if payload.first() != Some(&0xff) {
        return None;
    }
    let code = payload.get(1..3).map_or(0, |c| u16::from_le_bytes([c[0], c[1]]));
    let message = String::from_utf8_lossy(payload.get(3..).unwrap_or_default()).into_owned();
    Some(Verdict::Status(code, message))
}

fn mysql(data: &[u8], login: bool) -> Verdict {
    let Some((handshake, used)) = mysql_next(data) else { return Verdict::Wait };
    if let Some(error) = mysql_error(handshake) {
        return error;
    }
    // Protocol version byte, then the NUL-terminated server version.
    let version = handshake.get(1..).unwrap_or_default();
    let end = version.iter().position(|&b| b == 0).unwrap_or(version.len());
    let version = String::from_utf8_lossy(&version[..end]).into_owned();
    if !login {
        return Verdict::Pass(version);
    }
    match mysql_next(&data[used..]) {
        None => Verdict::Wait,
        Some((reply, _)) => mysql_error(reply).unwrap_or(Verdict::Pass(version)),
    }
}

/// An anonymous simple bind, LDAPv3, message id 1 (RFC 4511 in BER).
const LDAP_ANONYMOUS_BIND: &[u8] = &[0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00];

/// A BER length at the start of `data`: (length, bytes it took).
fn ber_length(data: &[u8]) -> Option<(usize, usize)> {
    let first = *data.first()?;
    if first < 0x80 {
        return Some((usize::from(first), 1));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return None;
    }
    let bytes = data.get(1..1 + n)?;
    Some((bytes.iter().fold(0, |len, &b| len << 8 | usize::from(b)), 1 + n))
}

/// A BER element with `tag` at the start of `data`: (its content, the bytes it took).
/// `Err` when another tag is there, `Ok(None)` while incomplete.
fn ber_element(data: &[u8], tag: u8) -> Result<Option<(&[u8], usize)>, ()> {
    match data.first() {
        None => return Ok(None),
        Some(&t) if t != tag => return Err(()),
        Some(_) => {}
    }
    let Some((len, took)) = ber_length(&data[1..]) else {
        return if data.len() < 6 { Ok(None) } else { Err(()) };
    };
    Ok(data.get(1 + took..1 + took + len).map(|content| (content, 1 + took + len)))
}

fn ldap_bind(data: &[u8]) -> Verdict {
    let invalid = || Verdict::Invalid(String::new());
    // LDAPMessage ::= SEQUENCE { messageID INTEGER, protocolOp [APPLICATION 1] BindResponse ... }
    let message = match ber_element(data, 0x30) {
        Ok(Some((content, _))) => content,
        Ok(None) => return Verdict::Wait,
        Err(()) => return invalid(),
    };
    let Ok(Some((_, id_len))) = ber_element(message, 0x02) else { return invalid() };
    let Ok(Some((response, _))) = ber_element(&message[id_len..], 0x61) else { return invalid() };
    // BindResponse starts with resultCode ENUMERATED.
    let code = match ber_element(response, 0x0a) {
        Ok(Some((code, _))) if !code.is_empty() && code.len() <= 2 => code.iter().fold(0u16, |n, &b| n << 8 | u16::from(b)),
        _ => return invalid(),
    };
    if code == 0 {
        Verdict::Pass("Success".into())
    } else {
        Verdict::Status(code, "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9".into())
    }
}

/// A TLS ClientHello any TLS server answers, with a ServerHello or an alert: TLS 1.2,
/// common RSA and ECDSA suites, no extensions. The random is constant: the check never
/// completes a handshake.
fn client_hello() -> Vec<u8> {
    const SUITES: &[u16] = &[0xc02f, 0xc030, 0xc02b, 0xc02c, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035, 0x000a];
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(b"moonproxy ssl-hello-chk probe!!!");
    body.push(0); // no session id
    body.extend_from_slice(&u16::try_from(SUITES.len() * 2).unwrap_or(0).to_be_bytes());
    for suite in SUITES {
        body.extend_from_slice(&suite.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // compression: null only
    let mut handshake = vec![0x01];
    handshake.extend_from_slice(&u32::try_from(body.len()).unwrap_or(0).to_be_bytes()[1..]);
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&u16::try_from(handshake.len()).unwrap_or(0).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_from_answers() {
        let reply = Text::Answer { from: 4, ltrim: true };
        assert_eq!(reply.render(b"250  hello there\r\nmore"), "hello there");
        assert_eq!(reply.render(b"hello"), "o");
        assert_eq!(Text::Answer { from: 6, ltrim: false }.render(b"E\0\0\0\x20SFATAL\0C28000"), "FATAL");
        assert_eq!(Text::Answer { from: 9, ltrim: false }.render(b"short"), "");
        assert_eq!((status_code(b"221 bye"), status_code(b"hello"), status_code(b"2")), (221, 0, 0));
    }

    #[test]
    fn wire_messages() {
        assert_eq!(pgsql_startup("bob"), b"\0\0\0\x12\0\x03\0\0user\0bob\0\0");
        let login = mysql_login("bob", false);
        assert_eq!(login[..4], [37, 0, 0, 1], "4.1 login: 37 bytes, sequence 1");
        assert!(login.ends_with(b"bob\0\0\x01\0\0\0\x01"), "then COM_QUIT: {login:?}");
        assert_eq!(mysql_login("bob", true)[..4], [10, 0, 0, 1]);
        let hello = client_hello();
        assert_eq!(hello[0], 0x16);
        assert_eq!(usize::from(u16::from_be_bytes([hello[3], hello[4]])), hello.len() - 5, "record length");
    }

    fn handshake(version: &str) -> Vec<u8> {
        let mut payload = vec![0x0a];
        payload.extend_from_slice(version.as_bytes());
        payload.extend_from_slice(&[0; 30]);
        mysql_packet(0, &payload)
    }

    #[test]
    fn mysql_answers() {
        let hs = handshake("8.0.1");
        assert_eq!(Judge::Mysql { login: false }.judge(&hs, false), Verdict::Pass("8.0.1".into()));
        assert_eq!(Judge::Mysql { login: false }.judge(&hs[..10], false), Verdict::Wait);
        assert_eq!(Judge::Mysql { login: false }.judge(&hs[..10], true), Verdict::Invalid(String::new()));
        let mut err = vec![0xff, 0x15, 0x04];
        err.extend_from_slice(b"#28000Access denied");
        let err = mysql_packet(2, &err);
        assert_eq!(Judge::Mysql { login: false }.judge(&err, false), Verdict::Status(1045, "#28000Access denied".into()));
        let login = Judge::Mysql { login: true };
        assert_eq!(login.judge(&hs, false), Verdict::Wait, "the login's reply follows the handshake");
        let ok = [hs.clone(), mysql_packet(2, &[0, 0, 0, 2, 0, 0, 0])].concat();
        assert_eq!(login.judge(&ok, false), Verdict::Pass("8.0.1".into()));
        assert_eq!(login.judge(&[hs, err].concat(), false), Verdict::Status(1045, "#28000Access denied".into()));
    }

    #[test]
    fn ldap_answers() {
        let ok = [0x30, 0x0c, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00];
        assert_eq!(Judge::LdapBind.judge(&ok, false), Verdict::Pass("Success".into()));
        let mut denied = ok;
        denied[9] = 49;
        assert_eq!(Judge::LdapBind.judge(&denied, false), Verdict::Status(49, "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9".into()));
        let long_form = [0x30, 0x84, 0, 0, 0, 0x10, 0x02, 0x01, 0x01, 0x61, 0x84, 0, 0, 0, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00];
        assert_eq!(Judge::LdapBind.judge(&long_form, false), Verdict::Pass("Success".into()));
        assert_eq!(Judge::LdapBind.judge(&ok[..5], false), Verdict::Wait);
        assert_eq!(Judge::LdapBind.judge(&ok[..5], true), Verdict::Invalid(String::new()));
        assert_eq!(Judge::LdapBind.judge(b"0\x03\x04\x01x", false), Verdict::Invalid(String::new()));
    }

    #[test]
    fn spop_check_judges_the_agent_hello() {
        use crate::spoe::frame::{kv_list, Frame, Value, AGENT_DISCONNECT, AGENT_HELLO, FLAG_FIN};
        let frame = |ty, items: &[(&str, Value)]| Frame { ty, flags: FLAG_FIN, stream_id: 0, frame_id: 0, payload: kv_list(items) }.encode();
        let hello = frame(AGENT_HELLO, &[("version", Value::Str(b"2.0".to_vec())), ("max-frame-size", Value::Uint32(16380)), ("capabilities", Value::Str(Vec::new()))]);
        assert_eq!(Judge::Spop.judge(&hello, false), Verdict::Pass("SPOA server is ok".into()));
        assert_eq!(Judge::Spop.judge(&hello[..hello.len() - 1], false), Verdict::Wait);
        assert_eq!(Judge::Spop.judge(&hello[..3], true), Verdict::Invalid(String::new()));
        let bye = frame(AGENT_DISCONNECT, &[("status-code", Value::Uint32(8)), ("message", Value::Str(b"x".to_vec()))]);
        assert_eq!(Judge::Spop.judge(&bye, false), Verdict::Invalid("unsupported version".into()));
        assert_eq!(Judge::Spop.judge(b"HTTP/1.0 200 OK\r\n\r\n", false), Verdict::Invalid("invalid frame received".into()));
    }
}
