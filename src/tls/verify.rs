//! Certificate verification beyond rustls's defaults, as HAProxy's options ask:
//!
//! - [`ServerVerifier`]: `verify required` on a server line. The name checked is the SNI
//!   sent, else `verifyhost`, else none (the chain only), as HAProxy does.
//! - [`ClientVerifier`]: client certificates on a bind line; `ca-ignore-err` /
//!   `crt-ignore-err` forgive the errors whose OpenSSL id is listed.
//! - Both trust a certificate that is itself in `ca-file`, as OpenSSL does
//!   (`openssl req -x509` makes self-signed certificates marked as CAs, which webpki
//!   alone refuses as an end entity); their validity dates are checked apart
//!   ([`super::validity`]), as OpenSSL checks a trust anchor's.
//! - [`load_crls`]: `crl-file`, revocation lists checked by webpki for the whole chain
//!   (HAProxy sets OpenSSL's `CRL_CHECK | CRL_CHECK_ALL`); a certificate whose issuer has
//!   no list in the file is refused, as OpenSSL refuses it ("unable to get CRL").

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};
use std::path::Path;
use std::sync::Arc;

/// The revocation lists of a PEM file (`crl-file`). A file holding none is accepted
/// (OpenSSL accepts it too) and then checks nothing.
pub fn load_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, String> {
    let data = std::fs::read(path).map_err(|_| format!("'crl-file' : unable to load {}", path.display()))?;
    CertificateRevocationListDer::pem_slice_iter(&data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("'crl-file' : unable to load {}", path.display()))
}

/// `verify required` on a server line (see the module doc): rustls checks the chain
/// against `ca-file` (and `crl-file`), and the name when there is one to check. A
/// certificate listed in `ca-file` is trusted as it is (its name is still checked).
#[derive(Debug)]
pub struct ServerVerifier {
    pub inner: Arc<rustls::client::WebPkiServerVerifier>,
    /// `verifyhost`: the name checked when no SNI was sent.
    pub verifyhost: Option<ServerName<'static>>,
    /// The `ca-file` certificates.
    pub anchors: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(&self, ee: &CertificateDer<'_>, im: &[CertificateDer<'_>], name: &ServerName<'_>, ocsp: &[u8], now: UnixTime) -> Result<ServerCertVerified, Error> {
        // No SNI sent: the connection's name is the server's address (a placeholder).
        let (name, placeholder) = match (name, &self.verifyhost) {
            (ServerName::IpAddress(_), Some(host)) => (host, false),
            (ServerName::IpAddress(_), None) => (name, true),
            _ => (name, false),
        };
        let result = if self.anchors.iter().any(|a| a.as_ref() == ee.as_ref()) {
            super::validity::check(ee.as_ref(), unix_secs(now)).map_err(Error::InvalidCertificate)?;
            let cert = webpki::EndEntityCert::try_from(ee).map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
            cert.verify_is_valid_for_subject_name(name).map(|_| ServerCertVerified::assertion()).map_err(|_| Error::InvalidCertificate(CertificateError::NotValidForName))
        } else {
            self.inner.verify_server_cert(ee, im, name, ocsp, now)
        };
        match result {
            Err(Error::InvalidCertificate(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. })) if placeholder => Ok(ServerCertVerified::assertion()),
            r => r,
        }
    }
    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `now` as rustls gives it, in seconds since the epoch.
fn unix_secs(now: UnixTime) -> i64 {
    i64::try_from(now.as_secs()).unwrap_or(i64::MAX)
}

/// OpenSSL verification error ids (`X509_V_ERR_*`), as `ca-ignore-err` and
/// `crt-ignore-err` list them: `all`, or ids between 1 and 94 as HAProxy 2.6 takes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum IgnoreErr {
    #[default]
    Nothing,
    All,
    Ids(Vec<u32>),
}

/// The highest id HAProxy 2.6 accepts.
const MAX_ERROR_ID: u32 = 94;

impl IgnoreErr {
    /// Parses `all` or `10,23,...` (HAProxy's message for a bad id: a word that is
    /// not a number counts as `0`, as `atoi` reads it).
    pub fn parse(kw: &str, list: &str) -> Result<IgnoreErr, String> {
        if list == "all" {
            return Ok(IgnoreErr::All);
        }
        let mut ids = Vec::new();
        for word in list.split(',') {
            let digits: String = word.chars().take_while(char::is_ascii_digit).collect();
            let id = digits.parse::<u32>().unwrap_or(0);
            if !(1..=MAX_ERROR_ID).contains(&id) {
                return Err(format!("'{kw}' : ID '{id}' out of range (1..{MAX_ERROR_ID}) in error IDs list '{list}'"));
            }
            ids.push(id);
        }
        Ok(IgnoreErr::Ids(ids))
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, IgnoreErr::Nothing)
    }

    /// Both lists together: rustls reports one error for the whole chain without the
    /// depth it was found at, so `ca-ignore-err` (depth > 0) and `crt-ignore-err`
    /// (depth 0) cannot be told apart (doc/tls.md).
    pub fn union(&self, other: &IgnoreErr) -> IgnoreErr {
        match (self, other) {
            (IgnoreErr::All, _) | (_, IgnoreErr::All) => IgnoreErr::All,
            (IgnoreErr::Nothing, o) | (o, IgnoreErr::Nothing) => o.clone(),
            (IgnoreErr::Ids(a), IgnoreErr::Ids(b)) => IgnoreErr::Ids(a.iter().chain(b).copied().collect()),
        }
    }

    /// Whether the list forgives `e`.
    fn forgives(&self, e: &Error) -> bool {
        match self {
            IgnoreErr::Nothing => false,
            IgnoreErr::All => true,
            IgnoreErr::Ids(ids) => openssl_ids(e).iter().any(|id| ids.contains(id)),
        }
    }
}

/// The OpenSSL ids a rustls certificate error stands for. rustls's `UnknownIssuer`
/// covers several OpenSSL cases (no issuer, self-signed leaf, self-signed in chain),
/// any of which forgives it. Errors with no OpenSSL counterpart are forgiven by `all` only.
fn openssl_ids(e: &Error) -> &'static [u32] {
    use CertificateError as C;
    let Error::InvalidCertificate(c) = e else { return &[] };
    match c {
        // UNABLE_TO_GET_ISSUER_CERT, DEPTH_ZERO_SELF_SIGNED_CERT, SELF_SIGNED_CERT_IN_CHAIN,
        // UNABLE_TO_GET_ISSUER_CERT_LOCALLY, UNABLE_TO_VERIFY_LEAF_SIGNATURE
        C::UnknownIssuer => &[2, 18, 19, 20, 21],
        C::UnknownRevocationStatus => &[3],                      // UNABLE_TO_GET_CRL
        C::BadSignature => &[7],                                 // CERT_SIGNATURE_FAILURE
        C::NotValidYet | C::NotValidYetContext { .. } => &[9],   // CERT_NOT_YET_VALID
        C::Expired | C::ExpiredContext { .. } => &[10],          // CERT_HAS_EXPIRED
        C::ExpiredRevocationList | C::ExpiredRevocationListContext { .. } => &[12], // CRL_HAS_EXPIRED
        C::Revoked => &[23],                                     // CERT_REVOKED
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => &[26], // INVALID_PURPOSE
        _ => &[],
    }
}

/// The OpenSSL error id and depth HAProxy's `ssl_c_verify`, `ssl_c_err`,
/// `ssl_c_ca_err` and `ssl_c_ca_err_depth` would report for a rustls error (forgiven by
/// `ca-ignore-err`/`crt-ignore-err`) about the client certificate `ee` sent with
/// `intermediates` certificates. rustls does not say where in the chain it failed, so:
/// dates are blamed on the leaf when its own are out of range, else on its issuer; an
/// unknown issuer is the leaf's (18 when it signed itself, else 20) without
/// intermediates, else the last intermediate's (20); other errors are the leaf's.
/// Errors with no OpenSSL counterpart are `X509_V_ERR_UNSPECIFIED` (1).
fn openssl_verdict(e: &Error, ee: &[u8], intermediates: usize, now: i64) -> super::details::VerifyNote {
    use super::details::VerifyNote;
    use CertificateError as C;
    let leaf_dates = super::validity::check(ee, now).is_err();
    let note = |id, depth| VerifyNote { id, depth };
    let Error::InvalidCertificate(c) = e else { return note(1, 0) };
    match c {
        C::UnknownIssuer if intermediates > 0 => note(20, intermediates as i64),
        C::UnknownIssuer => {
            let self_signed = super::x509::Cert::parse(ee).is_some_and(|c| c.dn(super::x509::Which::Issuer, &super::x509::DnSelect::OneLine) == c.dn(super::x509::Which::Subject, &super::x509::DnSelect::OneLine));
            note(if self_signed { 18 } else { 20 }, 0)
        }
        C::NotValidYet | C::NotValidYetContext { .. } => note(9, i64::from(!leaf_dates)),
        C::Expired | C::ExpiredContext { .. } => note(10, i64::from(!leaf_dates)),
        other => {
            let Some(&id) = openssl_ids(&Error::InvalidCertificate(other.clone())).first() else { return note(1, 0) };
            note(i64::from(id), 0)
        }
    }
}

/// A bind's client certificate verifier: webpki's, except that a certificate listed in
/// `ca-file` is trusted as it is, and that refusals listed in `ca-ignore-err` /
/// `crt-ignore-err` are forgiven (the handshake goes on, as in HAProxy). The
/// signatures proving the client holds the key are always checked.
#[derive(Debug)]
pub struct ClientVerifier {
    pub inner: Arc<dyn ClientCertVerifier>,
    pub ignore: IgnoreErr,
    /// The `ca-file` certificates.
    pub anchors: Vec<CertificateDer<'static>>,
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }
    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }
    fn verify_client_cert(&self, ee: &CertificateDer<'_>, im: &[CertificateDer<'_>], now: UnixTime) -> Result<ClientCertVerified, Error> {
        let result = if self.anchors.iter().any(|a| a.as_ref() == ee.as_ref()) {
            super::validity::check(ee.as_ref(), unix_secs(now)).map(|_| ClientCertVerified::assertion()).map_err(Error::InvalidCertificate)
        } else {
            self.inner.verify_client_cert(ee, im, now)
        };
        match result {
            Err(e) if self.ignore.forgives(&e) => {
                ::log::debug!("client certificate error ignored (ca-ignore-err/crt-ignore-err): {e}");
                super::details::note_verify_error(ee.as_ref(), openssl_verdict(&e, ee.as_ref(), im.len(), unix_secs(now)));
                Ok(ClientCertVerified::assertion())
            }
            r => r,
        }
    }
    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_lists_parse_as_haproxy_and_map_rustls_errors() {
        assert_eq!(IgnoreErr::parse("ca-ignore-err", "all"), Ok(IgnoreErr::All));
        assert_eq!(IgnoreErr::parse("ca-ignore-err", "10,23"), Ok(IgnoreErr::Ids(vec![10, 23])));
        assert_eq!(
            IgnoreErr::parse("ca-ignore-err", "10,bogus").unwrap_err(),
            "'ca-ignore-err' : ID '0' out of range (1..94) in error IDs list '10,bogus'"
        );
        assert!(IgnoreErr::parse("crt-ignore-err", "95").is_err());
        let expired = Error::InvalidCertificate(CertificateError::Expired);
        let unknown = Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let ids = IgnoreErr::Ids(vec![10]);
        assert!(ids.forgives(&expired));
        assert!(!ids.forgives(&unknown));
        assert!(IgnoreErr::Ids(vec![18]).forgives(&unknown), "a self-signed leaf is OpenSSL's 18");
        assert!(IgnoreErr::All.forgives(&unknown));
        assert_eq!(IgnoreErr::Nothing.union(&ids), ids);
        assert_eq!(ids.union(&IgnoreErr::Ids(vec![23])), IgnoreErr::Ids(vec![10, 23]));
    }

    #[test]
    fn forgiven_errors_get_openssl_ids_and_depths() {
        use super::super::details::VerifyNote;
        let mut params = rcgen::CertificateParams::new(vec!["c.test".to_string()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2001, 1, 1);
        params.not_after = rcgen::date_time_ymd(2002, 1, 1);
        let leaf = params.self_signed(&rcgen::KeyPair::generate().unwrap()).unwrap();
        let der = leaf.der().as_ref();
        let now = super::super::validity::period(der).unwrap().1 + 10;
        let verdict = |e: CertificateError, im, now| openssl_verdict(&Error::InvalidCertificate(e), der, im, now);
        assert_eq!(verdict(CertificateError::Expired, 0, now), VerifyNote { id: 10, depth: 0 }, "the leaf's own dates are past");
        assert_eq!(verdict(CertificateError::Expired, 1, now - 100), VerifyNote { id: 10, depth: 1 }, "its dates are fine: the issuer's");
        assert_eq!(verdict(CertificateError::UnknownIssuer, 0, now), VerifyNote { id: 18, depth: 0 }, "self-signed");
        assert_eq!(verdict(CertificateError::UnknownIssuer, 2, now), VerifyNote { id: 20, depth: 2 });
        assert_eq!(verdict(CertificateError::Revoked, 0, now), VerifyNote { id: 23, depth: 0 });
        assert_eq!(verdict(CertificateError::BadEncoding, 0, now), VerifyNote { id: 1, depth: 0 }, "X509_V_ERR_UNSPECIFIED");
    }
}
