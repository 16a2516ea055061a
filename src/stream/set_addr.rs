//! `set-src`, `set-dst`, `set-src-port` and `set-dst-port` (`http-request` and
//! `tcp-request connection|content`): the client connection's addresses as the stream
//! sees them from then on (`src`, `dst`, `src_port`, `dst_port`, the log's `%ci`/`%fi`,
//! `option forwardfor`, stick tables). The socket itself is not touched, as in HAProxy.

use crate::sample::{Expr, Sample, SampleType};
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Which address, and which part of it, an action rewrites.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrPart {
    Src,
    Dst,
    SrcPort,
    DstPort,
}

impl AddrPart {
    /// The part an action keyword rewrites, if it is one of the four.
    pub fn from_keyword(kw: &str) -> Option<AddrPart> {
        Some(match kw {
            "set-src" => AddrPart::Src,
            "set-dst" => AddrPart::Dst,
            "set-src-port" => AddrPart::SrcPort,
            "set-dst-port" => AddrPart::DstPort,
            _ => return None,
        })
    }

    /// Whether the action rewrites the source (else the destination).
    pub fn is_src(self) -> bool {
        matches!(self, AddrPart::Src | AddrPart::SrcPort)
    }
}

/// A compiled `set-src|set-dst|set-src-port|set-dst-port <expr>`.
#[derive(Debug)]
pub struct SetAddr {
    pub part: AddrPart,
    pub expr: Expr,
}

impl SetAddr {
    /// Parses the arguments after the keyword, with HAProxy 2.6's messages. Extra words
    /// are reported as `unexpected keyword 'x'` (the caller turns that into HAProxy's
    /// "expects either 'if' or 'unless'" message).
    pub fn parse(part: AddrPart, args: &[String]) -> Result<SetAddr, String> {
        let Some(text) = args.first() else { return Err("missing fetch method".into()) };
        let expr = Expr::parse(text).map_err(|e| e.to_string())?;
        if let Some(x) = args.get(1) {
            return Err(format!("unexpected keyword '{x}'"));
        }
        Ok(SetAddr { part, expr })
    }

    /// Applies the action's `value` (its expression's result, `None` when it found
    /// nothing) to the connection's `(src, dst)`.
    pub fn apply(&self, value: Option<Sample>, addrs: (&mut Option<SocketAddr>, &mut Option<SocketAddr>)) {
        let target = if self.part.is_src() { addrs.0 } else { addrs.1 };
        if let Some(v) = value {
            apply(self.part, v, target);
        }
    }
}

/// What HAProxy does with a sample: an address that does not cast to an IP (`set-src`)
/// or a port that does not cast to an integer (`set-src-port`) leaves the address as
/// it was. A new IP keeps the old port (0 when there was no address, e.g. a UNIX socket
/// client); a new port on a connection without an IP address sets `0.0.0.0:port`.
pub fn apply(part: AddrPart, value: Sample, addr: &mut Option<SocketAddr>) {
    match part {
        AddrPart::Src | AddrPart::Dst => {
            let ip = match value.cast(SampleType::Addr) {
                Some(Sample::Ipv4(a)) => IpAddr::V4(a),
                Some(Sample::Ipv6(a)) => IpAddr::V6(a),
                _ => return,
            };
            let port = addr.map_or(0, |a| a.port());
            *addr = Some(SocketAddr::new(ip, port));
        }
        AddrPart::SrcPort | AddrPart::DstPort => {
            let Some(port) = value.to_int() else { return };
            // The port field is 16 bits: HAProxy keeps the low ones.
            let port = port as u16;
            let ip = addr.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
            *addr = Some(SocketAddr::new(ip, port));
        }
    }
}

/// [`apply`] on addresses a sample context keeps in cells (the contexts of TCP rules,
/// whose [`crate::sample::SampleCtx::set_addr`] takes `&self`).
pub fn set_cell(part: AddrPart, value: Sample, (src, dst): (&Cell<Option<SocketAddr>>, &Cell<Option<SocketAddr>>)) {
    let cell = if part.is_src() { src } else { dst };
    let mut addr = cell.get();
    apply(part, value, &mut addr);
    cell.set(addr);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(part: AddrPart, v: Sample, from: Option<&str>) -> Option<String> {
        let mut a = from.map(|s| s.parse().unwrap());
        apply(part, v, &mut a);
        a.map(|a| a.to_string())
    }

    #[test]
    fn an_address_keeps_the_port_and_a_port_keeps_the_address() {
        let from = Some("127.0.0.1:4242");
        assert_eq!(set(AddrPart::Src, Sample::str("10.1.2.3"), from).unwrap(), "10.1.2.3:4242");
        assert_eq!(set(AddrPart::Src, Sample::str("2001:db8::1"), from).unwrap(), "[2001:db8::1]:4242");
        assert_eq!(set(AddrPart::Src, Sample::str("unknown"), from).unwrap(), "127.0.0.1:4242", "not an address: unchanged");
        assert_eq!(set(AddrPart::Src, Sample::Sint(0x0a000001), from).unwrap(), "10.0.0.1:4242");
        assert_eq!(set(AddrPart::SrcPort, Sample::Sint(8080), from).unwrap(), "127.0.0.1:8080");
        assert_eq!(set(AddrPart::SrcPort, Sample::Sint(65536 + 7), from).unwrap(), "127.0.0.1:7");
        assert_eq!(set(AddrPart::SrcPort, Sample::str("81"), from).unwrap(), "127.0.0.1:81");
        assert_eq!(set(AddrPart::SrcPort, Sample::Sint(9), None).unwrap(), "0.0.0.0:9", "no address: 0.0.0.0");
        assert_eq!(set(AddrPart::Dst, Sample::str("10.0.0.2"), None).unwrap(), "10.0.0.2:0");
    }

    #[test]
    fn parse_messages_are_haproxys() {
        let w = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(SetAddr::parse(AddrPart::Src, &[]).unwrap_err(), "missing fetch method");
        assert_eq!(SetAddr::parse(AddrPart::Src, &w(&["hdr(x)", "bar"])).unwrap_err(), "unexpected keyword 'bar'");
        assert!(SetAddr::parse(AddrPart::Src, &w(&["hdr(x-forwarded-for)"])).is_ok());
    }
}
