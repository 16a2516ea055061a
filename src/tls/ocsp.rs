//! OCSP stapling: HAProxy's `<crt>.ocsp` files. A bind certificate `site.pem` with a
//! `site.pem.ocsp` beside it (a DER OCSPResponse, as `openssl ocsp -respout` writes
//! it) has that response stapled to the handshakes of clients asking for the
//! certificate status (rustls serves it from `CertifiedKey::ocsp`, in TLS 1.2 and 1.3).
//!
//! The file is read once at start. As HAProxy does, a response that cannot be parsed
//! or whose status is not `successful` is ignored with a warning, and the certificate
//! is served without it; a file that exists but cannot be read is an error. Unlike
//! HAProxy, moonproxy does not check that the response is about this certificate
//! (HAProxy matches its certificate ID against the certificate and its issuer).

use std::path::{Path, PathBuf};

/// The OCSP response file of a certificate file: `<crt>.ocsp`.
pub fn sibling(crt: &Path) -> PathBuf {
    let mut p = crt.as_os_str().to_owned();
    p.push(".ocsp");
    PathBuf::from(p)
}

/// What the `.ocsp` file beside a certificate gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Loaded {
    /// No such file: nothing to staple.
    Absent,
    /// A successful response, stapled as it is.
    Staple(Vec<u8>),
    /// A response HAProxy would ignore, with its warning's reason.
    Ignored(&'static str),
}

/// Reads the `.ocsp` file of the certificate file `crt`.
pub fn load(crt: &Path) -> Result<Loaded, String> {
    let path = sibling(crt);
    let der = match std::fs::read(&path) {
        Ok(der) => der,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Loaded::Absent),
        Err(e) => return Err(format!("unable to load OCSP response from file '{}' : {}.", path.display(), crate::listener::strerror(&e))),
    };
    Ok(match check(&der) {
        Ok(()) => Loaded::Staple(der),
        Err(reason) => Loaded::Ignored(reason),
    })
}

/// HAProxy's warning for an ignored response.
pub fn warning(reason: &str) -> String {
    format!("Loading: {reason}. Content will be ignored.")
}

/// Checks the outer shape of an OCSPResponse (RFC 6960 4.2.1):
/// `SEQUENCE { responseStatus ENUMERATED, responseBytes [0] EXPLICIT SEQUENCE OPTIONAL }`,
/// the status `successful` (0) with its response bytes. The response itself (its
/// signature, its certificate ID) is not checked.
fn check(der: &[u8]) -> Result<(), &'static str> {
    const UNPARSABLE: &str = "Unable to parse OCSP response";
    let (body, rest) = tlv(der, 0x30).ok_or(UNPARSABLE)?;
    if !rest.is_empty() {
        return Err(UNPARSABLE);
    }
    let (status, body) = tlv(body, 0x0a).ok_or(UNPARSABLE)?;
    if status.len() != 1 {
        return Err(UNPARSABLE);
    }
    if status[0] != 0 {
        return Err("OCSP response status not successful");
    }
    let (bytes, rest) = tlv(body, 0xa0).ok_or(UNPARSABLE)?;
    if !rest.is_empty() || tlv(bytes, 0x30).is_none_or(|(_, r)| !r.is_empty()) {
        return Err(UNPARSABLE);
    }
    Ok(())
}

/// One DER element with tag `tag` at the start of `der`: its contents and what follows.
fn tlv(der: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = der.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, &b| acc << 8 | b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A successful response wrapping `inner` as its (unchecked) BasicOCSPResponse.
    fn response(inner: &[u8]) -> Vec<u8> {
        let oid = [0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];
        let mut octets = vec![0x04, inner.len() as u8];
        octets.extend_from_slice(inner);
        let mut seq = vec![0x30, (oid.len() + octets.len()) as u8];
        seq.extend_from_slice(&oid);
        seq.extend_from_slice(&octets);
        let mut bytes = vec![0xa0, seq.len() as u8];
        bytes.extend_from_slice(&seq);
        let mut body = vec![0x0a, 0x01, 0x00];
        body.extend_from_slice(&bytes);
        let mut out = vec![0x30, body.len() as u8];
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn accepts_a_successful_response_and_names_what_haproxy_ignores() {
        assert_eq!(check(&response(b"basic")), Ok(()));
        assert_eq!(check(&[0x30, 0x03, 0x0a, 0x01, 0x01]), Err("OCSP response status not successful"));
        assert_eq!(check(b"junk\n"), Err("Unable to parse OCSP response"));
        assert_eq!(check(b""), Err("Unable to parse OCSP response"));
        assert_eq!(check(&[0x30, 0x03, 0x0a, 0x01, 0x00]), Err("Unable to parse OCSP response"), "successful needs its bytes");
        let mut trailing = response(b"x");
        trailing.push(0);
        assert_eq!(check(&trailing), Err("Unable to parse OCSP response"));
        assert_eq!(tlv(&[0x30, 0x82, 0x00, 0x01, 0xff], 0x30), Some((&[0xff][..], &[][..])), "long-form length");
    }

    #[test]
    fn the_file_sits_beside_the_certificate() {
        assert_eq!(sibling(Path::new("/etc/haproxy/site.pem")), PathBuf::from("/etc/haproxy/site.pem.ocsp"));
        assert_eq!(load(Path::new("/nonexistent/site.pem")), Ok(Loaded::Absent));
    }
}
