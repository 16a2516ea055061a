//! An SPOE agent (SPOA) for the tests: it speaks SPOP 2.0 over TCP (with moonproxy's
//! codec, `moonproxy::spoe::frame`, which the comparison tests also check against what
//! HAProxy 2.6 sends), records what it receives and answers each NOTIFY with the actions
//! its handler computes.
//!
//! ```ignore
//! let agent = Spoa::start(|msgs| vec![set_txn("score", Value::Int32(42))]);
//! // ... `server agent 127.0.0.1:{{spoa}}` in the agent's backend ...
//! assert_eq!(agent.notifies()[0][0].0, "check-client");
//! ```

use super::backend::Backend;
use moonproxy::spoe::frame::{self, Action, Frame, Parsed, Value, VarScope};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The messages of one NOTIFY: name and arguments (name, value).
pub type Messages = Vec<(String, Vec<(String, Value)>)>;

/// What the agent answers to a NOTIFY.
pub type Handler = dyn Fn(&Messages) -> Reply + Send + Sync;

/// An answer.
pub enum Reply {
    /// An ACK with these actions.
    Ack(Vec<Action>),
    /// An ACK after a pause (a slow agent, for `timeout processing`).
    AckAfter(Duration, Vec<Action>),
    /// An AGENT-DISCONNECT with this status code, then the connection closes.
    Disconnect(u32),
    /// The connection closes without an answer.
    Close,
    /// These bytes instead of an ACK (then the agent reads on).
    Garbage(Vec<u8>),
}

#[derive(Default)]
struct Record {
    notifies: Vec<Messages>,
    /// (STREAM-ID, FRAME-ID) of each NOTIFY.
    ids: Vec<(u64, u64)>,
    hellos: usize,
    healthchecks: usize,
    /// The capabilities and max-frame-size each HAPROXY-HELLO offered.
    offers: Vec<(String, Value)>,
}

pub struct Spoa {
    backend: Backend,
    record: Arc<Mutex<Record>>,
}

/// `set-var(txn.<name>)` (the agent's prefix is added by the proxy).
pub fn set_txn(name: &str, value: Value) -> Action {
    Action::SetVar { scope: VarScope::Txn, name: name.into(), value }
}

impl Spoa {
    /// An agent announcing no capability: one frame at a time per connection.
    pub fn start(handler: impl Fn(&Messages) -> Reply + Send + Sync + 'static) -> Spoa {
        Spoa::with_capabilities("", handler)
    }

    /// An agent announcing `capabilities` (`pipelining`: several NOTIFY frames may
    /// come before the first ACK; they are answered in order).
    pub fn with_capabilities(capabilities: &'static str, handler: impl Fn(&Messages) -> Reply + Send + Sync + 'static) -> Spoa {
        let record = Arc::new(Mutex::new(Record::default()));
        let handler: Arc<Handler> = Arc::new(handler);
        let rec = record.clone();
        let backend = Backend::custom(move |conn, _| serve(conn, capabilities, &*handler, &rec));
        Spoa { backend, record }
    }

    /// The capabilities each HAPROXY-HELLO (but health checks') announced.
    pub fn offered_capabilities(&self) -> Vec<String> {
        let r = self.record.lock().unwrap();
        r.offers.iter().map(|(_, v)| match v {
            Value::Str(s) => String::from_utf8_lossy(s).into_owned(),
            other => format!("{other:?}"),
        }).collect()
    }

    pub fn port(&self) -> u16 {
        self.backend.port()
    }

    /// TCP connections accepted.
    pub fn connections(&self) -> u64 {
        self.backend.connections()
    }

    pub fn notifies(&self) -> Vec<Messages> {
        self.record.lock().unwrap().notifies.clone()
    }

    pub fn ids(&self) -> Vec<(u64, u64)> {
        self.record.lock().unwrap().ids.clone()
    }

    /// HAPROXY-HELLO frames without and with `healthcheck`.
    pub fn hellos(&self) -> (usize, usize) {
        let r = self.record.lock().unwrap();
        (r.hellos, r.healthchecks)
    }

    pub fn stop(&mut self) {
        self.backend.stop();
    }
}

fn read_frame(conn: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Frame> {
    loop {
        match frame::parse(buf, 1 << 20) {
            Parsed::Frame(f, used) => {
                buf.drain(..used);
                return Some(f);
            }
            Parsed::Partial => {}
            _ => return None,
        }
        let mut chunk = [0u8; 8192];
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn serve(mut conn: TcpStream, capabilities: &str, handler: &Handler, rec: &Mutex<Record>) {
    let mut buf = Vec::new();
    while let Some(f) = read_frame(&mut conn, &mut buf) {
        match f.ty {
            frame::HAPROXY_HELLO => {
                let items = frame::parse_kv_list(&f.payload).unwrap_or_default();
                let health = items.iter().any(|(k, v)| k == "healthcheck" && *v == Value::Bool(true));
                let offered = match items.iter().find(|(k, _)| k == "max-frame-size").map(|(_, v)| v) {
                    Some(Value::Uint32(n)) => *n,
                    _ => 16380,
                };
                {
                    let mut r = rec.lock().unwrap();
                    if health {
                        r.healthchecks += 1;
                    } else {
                        r.hellos += 1;
                    }
                    if !health {
                        r.offers.extend(items.into_iter().filter(|(k, _)| k == "capabilities"));
                    }
                }
                let payload = frame::kv_list(&[
                    ("version", Value::Str(b"2.0".to_vec())),
                    ("max-frame-size", Value::Uint32(offered.min(16380))),
                    ("capabilities", Value::Str(capabilities.as_bytes().to_vec())),
                ]);
                let hello = Frame { ty: frame::AGENT_HELLO, flags: frame::FLAG_FIN, stream_id: 0, frame_id: 0, payload };
                if conn.write_all(&hello.encode()).is_err() || health {
                    return;
                }
            }
            frame::NOTIFY => {
                let msgs = frame::parse_messages(&f.payload).expect("a valid NOTIFY payload");
                {
                    let mut r = rec.lock().unwrap();
                    r.notifies.push(msgs.clone());
                    r.ids.push((f.stream_id, f.frame_id));
                }
                let actions = match handler(&msgs) {
                    Reply::Ack(a) => a,
                    Reply::AckAfter(d, a) => {
                        std::thread::sleep(d);
                        a
                    }
                    Reply::Close => return,
                    Reply::Garbage(bytes) => {
                        if conn.write_all(&bytes).is_err() {
                            return;
                        }
                        continue;
                    }
                    Reply::Disconnect(code) => {
                        let payload = frame::kv_list(&[("status-code", Value::Uint32(code)), ("message", Value::Str(b"agent says no".to_vec()))]);
                        let bye = Frame { ty: frame::AGENT_DISCONNECT, flags: frame::FLAG_FIN, stream_id: 0, frame_id: 0, payload };
                        let _ = conn.write_all(&bye.encode());
                        return;
                    }
                };
                let mut payload = Vec::new();
                for a in &actions {
                    a.encode(&mut payload);
                }
                let ack = Frame { ty: frame::ACK, flags: frame::FLAG_FIN, stream_id: f.stream_id, frame_id: f.frame_id, payload };
                if conn.write_all(&ack.encode()).is_err() {
                    return;
                }
            }
            frame::HAPROXY_DISCONNECT => {
                let payload = frame::kv_list(&[("status-code", Value::Uint32(0)), ("message", Value::Str(Vec::new()))]);
                let bye = Frame { ty: frame::AGENT_DISCONNECT, flags: frame::FLAG_FIN, stream_id: 0, frame_id: 0, payload };
                let _ = conn.write_all(&bye.encode());
                return;
            }
            _ => {}
        }
    }
}
