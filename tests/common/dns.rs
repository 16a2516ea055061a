//! A DNS server for tests (`use common::dns::*;`): UDP on 127.0.0.1, answering A and
//! AAAA questions from a table the test changes, NXDOMAIN for names it does not know.
//! It records each question (`name A` / `name AAAA`) in order, and can hold answers
//! until the test opens a gate (a lookup in flight) or never answer (a dead server).

use std::collections::HashMap;
use std::net::{IpAddr, UdpSocket};
use std::sync::{Arc, Condvar, Mutex};

/// What the server answers for a name.
#[derive(Clone)]
pub enum Answer {
    /// These addresses (an empty NOERROR answer for the family that has none).
    Addrs(Vec<IpAddr>),
    /// Answered with these addresses once the test opens the gate ([`Dns::open_gate`]).
    Gated(Vec<IpAddr>),
    /// Never answered.
    Silent,
}

pub struct Dns {
    pub port: u16,
    table: Arc<Mutex<HashMap<String, Answer>>>,
    asked: Arc<Mutex<Vec<String>>>,
    gate: Arc<(Mutex<bool>, Condvar)>,
}

impl Dns {
    pub fn start() -> Dns {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = sock.local_addr().unwrap().port();
        let dns = Dns { port, table: Arc::default(), asked: Arc::default(), gate: Arc::default() };
        let (table, asked, gate) = (dns.table.clone(), dns.asked.clone(), dns.gate.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while let Ok((len, from)) = sock.recv_from(&mut buf) {
                let q = buf[..len].to_vec();
                let Some((name, qtype)) = question(&q) else { continue };
                asked.lock().unwrap().push(format!("{name} {}", if qtype == 28 { "AAAA" } else { "A" }));
                let entry = table.lock().unwrap().get(&name).cloned();
                let (addrs, gated) = match entry {
                    None => (None, false),
                    Some(Answer::Silent) => continue,
                    Some(Answer::Addrs(a)) => (Some(a), false),
                    Some(Answer::Gated(a)) => (Some(a), true),
                };
                let reply = answer(&q, qtype, addrs.as_deref());
                let sock = sock.try_clone().unwrap();
                let gate = gate.clone();
                std::thread::spawn(move || {
                    if gated {
                        let (open, cv) = &*gate;
                        let _g = cv.wait_while(open.lock().unwrap(), |o| !*o).unwrap();
                    }
                    let _ = sock.send_to(&reply, from);
                });
            }
        });
        dns
    }

    pub fn set(&self, name: &str, a: Answer) {
        self.table.lock().unwrap().insert(name.to_string(), a);
    }

    /// The questions asked so far, in order.
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }

    pub fn forget_asked(&self) {
        self.asked.lock().unwrap().clear();
    }

    pub fn open_gate(&self) {
        let (open, cv) = &*self.gate;
        *open.lock().unwrap() = true;
        cv.notify_all();
    }

    pub fn close_gate(&self) {
        *self.gate.0.lock().unwrap() = false;
    }
}

/// The question of a query: its name (lower case) and type.
pub fn question(q: &[u8]) -> Option<(String, u16)> {
    question_and_end(q).map(|(name, qtype, _)| (name, qtype))
}

/// [`question`], and where the question section ends (an answer copies the query up to
/// there).
pub fn question_and_end(q: &[u8]) -> Option<(String, u16, usize)> {
    let mut pos = 12;
    let mut labels = Vec::new();
    while *q.get(pos)? != 0 {
        let len = q[pos] as usize;
        labels.push(String::from_utf8_lossy(q.get(pos + 1..pos + 1 + len)?).to_ascii_lowercase());
        pos += 1 + len;
    }
    let qtype = u16::from_be_bytes([*q.get(pos + 1)?, *q.get(pos + 2)?]);
    q.get(pos + 4)?; // the class
    Some((labels.join("."), qtype, pos + 5))
}

/// The reply to `q`: its question, then the addresses of the asked family
/// (`None`: NXDOMAIN).
pub fn answer(q: &[u8], qtype: u16, addrs: Option<&[IpAddr]>) -> Vec<u8> {
    let mut pos = 12;
    while q[pos] != 0 {
        pos += 1 + q[pos] as usize;
    }
    let mut out = q[..pos + 5].to_vec();
    let records: Vec<&IpAddr> = addrs.unwrap_or(&[]).iter().filter(|ip| ip.is_ipv6() == (qtype == 28)).collect();
    out[2] = 0x81; // QR, RD
    out[3] = 0x80 | if addrs.is_some() { 0 } else { 3 }; // RA, NOERROR or NXDOMAIN
    out[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
    out[8..12].copy_from_slice(&[0, 0, 0, 0]);
    for ip in records {
        out.extend_from_slice(&[0xc0, 12, 0, qtype as u8, 0, 1, 0, 0, 0, 5]);
        match ip {
            IpAddr::V4(a) => {
                out.extend_from_slice(&[0, 4]);
                out.extend_from_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                out.extend_from_slice(&[0, 16]);
                out.extend_from_slice(&a.octets());
            }
        }
    }
    out
}
