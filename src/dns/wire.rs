//! DNS messages (RFC 1035, EDNS0 from RFC 6891): the queries moonproxy sends and the
//! parts of the answers it reads (A, AAAA and CNAME records). Sans-io: bytes in, bytes
//! out.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const TYPE_A: u16 = 1;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_AAAA: u16 = 28;
const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;

/// Response codes moonproxy tells apart.
pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_NXDOMAIN: u8 = 3;
pub const RCODE_REFUSED: u8 = 5;

/// Builds a recursive query for `name` of type `qtype`, announcing `payload` bytes of
/// EDNS0 UDP payload (none when `payload` is 512 or less, the plain DNS size).
/// `None` when the name cannot be encoded (a label longer than 63 bytes, or a name
/// longer than 255).
pub fn encode_query(id: u16, name: &str, qtype: u16, payload: u16) -> Option<Vec<u8>> {
    let edns = payload > 512;
    let mut out = Vec::with_capacity(32 + name.len());
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    out.extend_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    out.extend_from_slice(&[0, 0, 0, 0]); // ANCOUNT, NSCOUNT
    out.extend_from_slice(&u16::from(edns).to_be_bytes()); // ARCOUNT
    let start = out.len();
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    if out.len() - start > 255 {
        return None;
    }
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    if edns {
        out.push(0); // root name
        out.extend_from_slice(&TYPE_OPT.to_be_bytes());
        out.extend_from_slice(&payload.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // TTL (flags), RDLENGTH
    }
    Some(out)
}

/// What an answer record carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordData {
    Addr(IpAddr),
    Cname(String),
    Other(u16),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub ttl: u32,
    pub data: RecordData,
}

/// The parts of a response moonproxy uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub id: u16,
    pub rcode: u8,
    pub truncated: bool,
    /// The question echoed (name in lower case, type).
    pub question: Option<(String, u16)>,
    pub answers: Vec<Record>,
}

impl Response {
    /// The addresses of type `qtype` that answer `name`, following CNAME records of the
    /// answer section, in the order the server gave them.
    pub fn addresses(&self, name: &str, qtype: u16) -> Vec<IpAddr> {
        let mut target = name.trim_end_matches('.').to_ascii_lowercase();
        // A chain of CNAMEs, at most as long as the answer section.
        for _ in 0..=self.answers.len() {
            let next = self.answers.iter().find_map(|r| match &r.data {
                RecordData::Cname(c) if r.name == target => Some(c.clone()),
                _ => None,
            });
            match next {
                Some(c) => target = c,
                None => break,
            }
        }
        let mut out = Vec::new();
        for r in self.answers.iter().filter(|r| r.name == target) {
            if let RecordData::Addr(ip) = r.data {
                if (qtype == TYPE_A) == ip.is_ipv4() && !out.contains(&ip) {
                    out.push(ip);
                }
            }
        }
        out
    }
}

/// Why a datagram is not a usable response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    Short,
    NotResponse,
    BadName,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn u8(&mut self) -> Result<u8, Invalid> {
        let b = *self.buf.get(self.pos).ok_or(Invalid::Short)?;
        self.pos += 1;
        Ok(b)
    }
    fn u16(&mut self) -> Result<u16, Invalid> {
        Ok(u16::from(self.u8()?) << 8 | u16::from(self.u8()?))
    }
    fn u32(&mut self) -> Result<u32, Invalid> {
        Ok(u32::from(self.u16()?) << 16 | u32::from(self.u16()?))
    }
    fn bytes(&mut self, n: usize) -> Result<&[u8], Invalid> {
        let b = self.buf.get(self.pos..self.pos + n).ok_or(Invalid::Short)?;
        self.pos += n;
        Ok(b)
    }
    /// A possibly compressed name, lower-cased, without the final dot.
    fn name(&mut self) -> Result<String, Invalid> {
        let (name, end) = read_name(self.buf, self.pos)?;
        self.pos = end;
        Ok(name)
    }
}

/// Reads the name at `pos`; returns it and where the record goes on after it.
fn read_name(buf: &[u8], mut pos: usize) -> Result<(String, usize), Invalid> {
    let mut name = String::new();
    let mut end = None;
    // Each pointer must go backwards: no loop can form.
    let mut limit = pos;
    loop {
        let len = *buf.get(pos).ok_or(Invalid::Short)?;
        match len {
            0 => {
                return Ok((name, end.unwrap_or(pos + 1)));
            }
            l if l & 0xc0 == 0xc0 => {
                let lo = *buf.get(pos + 1).ok_or(Invalid::Short)?;
                let target = usize::from(l & 0x3f) << 8 | usize::from(lo);
                end.get_or_insert(pos + 2);
                if target >= limit {
                    return Err(Invalid::BadName);
                }
                limit = target;
                pos = target;
            }
            l if l & 0xc0 != 0 => return Err(Invalid::BadName),
            l => {
                let label = buf.get(pos + 1..pos + 1 + usize::from(l)).ok_or(Invalid::Short)?;
                if !name.is_empty() {
                    name.push('.');
                }
                name.extend(label.iter().map(|b| b.to_ascii_lowercase() as char));
                if name.len() > 255 {
                    return Err(Invalid::BadName);
                }
                pos += 1 + usize::from(l);
            }
        }
    }
}

/// Parses a response datagram.
pub fn parse_response(buf: &[u8]) -> Result<Response, Invalid> {
    let mut r = Reader { buf, pos: 0 };
    let id = r.u16()?;
    let flags = r.u16()?;
    if flags & 0x8000 == 0 {
        return Err(Invalid::NotResponse);
    }
    let (qd, an) = (r.u16()?, r.u16()?);
    r.bytes(4)?; // NSCOUNT, ARCOUNT: not read
    let mut question = None;
    for _ in 0..qd {
        let name = r.name()?;
        let qtype = r.u16()?;
        r.u16()?;
        question.get_or_insert((name, qtype));
    }
    let mut answers = Vec::new();
    for _ in 0..an {
        let name = r.name()?;
        let (rtype, _class, ttl, len) = (r.u16()?, r.u16()?, r.u32()?, r.u16()?);
        let start = r.pos;
        let rdata = r.bytes(usize::from(len))?;
        let data = match (rtype, rdata.len()) {
            (TYPE_A, 4) => RecordData::Addr(IpAddr::V4(Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3]))),
            (TYPE_AAAA, 16) => {
                let octets: [u8; 16] = rdata.try_into().map_err(|_| Invalid::Short)?;
                RecordData::Addr(IpAddr::V6(Ipv6Addr::from(octets)))
            }
            (TYPE_CNAME, _) => RecordData::Cname(read_name(buf, start)?.0),
            (t, _) => RecordData::Other(t),
        };
        answers.push(Record { name, ttl, data });
    }
    Ok(Response { id, rcode: (flags & 0x000f) as u8, truncated: flags & 0x0200 != 0, question, answers })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response to `query` with the given records (name pointer to the question).
    fn answer(query: &[u8], rcode: u8, records: &[(u16, &[u8])]) -> Vec<u8> {
        let mut out = query.to_vec();
        out[2] |= 0x80;
        out[3] = 0x80 | rcode;
        out[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
        out[10..12].copy_from_slice(&[0, 0]);
        // Drop an OPT record from the copied query.
        let qend = 12 + read_name(query, 12).unwrap().1 - 12 + 4;
        out.truncate(qend);
        for (t, data) in records {
            out.extend_from_slice(&[0xc0, 12]);
            out.extend_from_slice(&t.to_be_bytes());
            out.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            out.extend_from_slice(&(data.len() as u16).to_be_bytes());
            out.extend_from_slice(data);
        }
        out
    }

    #[test]
    fn query_layout() {
        let q = encode_query(0x1234, "web.example.", TYPE_A, 512).unwrap();
        assert_eq!(&q[..12], &[0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&q[12..], b"\x03web\x07example\x00\x00\x01\x00\x01");
        let e = encode_query(1, "a", TYPE_AAAA, 1232).unwrap();
        assert_eq!(e[11], 1);
        assert_eq!(&e[e.len() - 11..e.len() - 6], &[0, 0, 41, 0x04, 0xd0]);
        assert!(encode_query(1, &"x".repeat(64), TYPE_A, 512).is_none());
        assert!(encode_query(1, "a..b", TYPE_A, 512).is_none());
    }

    #[test]
    fn addresses_and_rcodes() {
        let q = encode_query(7, "Web", TYPE_A, 1232).unwrap();
        let r = parse_response(&answer(&q, 0, &[(TYPE_A, &[10, 0, 0, 1]), (TYPE_A, &[10, 0, 0, 2]), (TYPE_AAAA, &[0; 16])])).unwrap();
        assert_eq!((r.id, r.rcode), (7, RCODE_NOERROR));
        assert_eq!(r.question, Some(("web".into(), TYPE_A)));
        let ips: Vec<IpAddr> = vec!["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()];
        assert_eq!(r.addresses("web", TYPE_A), ips);
        assert_eq!(r.addresses("web", TYPE_AAAA), vec![IpAddr::V6(Ipv6Addr::UNSPECIFIED)]);
        let nx = parse_response(&answer(&q, RCODE_NXDOMAIN, &[])).unwrap();
        assert_eq!(nx.rcode, RCODE_NXDOMAIN);
        assert!(nx.addresses("web", TYPE_A).is_empty());
        assert_eq!(parse_response(&q), Err(Invalid::NotResponse));
        assert_eq!(parse_response(&answer(&q, 0, &[(TYPE_A, &[1, 2, 3, 4])])[..30]), Err(Invalid::Short));
    }

    #[test]
    fn cname_chain() {
        let q = encode_query(9, "www", TYPE_A, 512).unwrap();
        // www CNAME web (pointer to "www"'s position would be the same name: build by hand).
        let mut r = answer(&q, 0, &[(TYPE_CNAME, b"\x03web\x00")]);
        let web_at = r.len() - 5;
        r[7] = 2;
        r.extend_from_slice(&[0xc0, web_at as u8, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 192, 0, 2, 7]);
        let resp = parse_response(&r).unwrap();
        assert_eq!(resp.addresses("www", TYPE_A), vec!["192.0.2.7".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn pointer_loops_are_refused() {
        let mut buf = vec![0u8; 12];
        buf[2] = 0x80;
        buf[5] = 1;
        buf.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(parse_response(&buf), Err(Invalid::BadName));
    }
}
