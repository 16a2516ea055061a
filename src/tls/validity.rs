//! A certificate's validity period, read from its DER encoding (and, by the same
//! walk, its subject's common name: [`subject_cn`]).
//!
//! webpki checks the dates of every certificate it verifies, but a certificate listed in
//! `ca-file` and served as it is (see [`super::verify`]) is trusted without webpki's path
//! building, so its dates are checked here: OpenSSL refuses an expired (or not yet valid)
//! certificate even when it is a trust anchor, and so does HAProxy.
//!
//! Only the path to `tbsCertificate.validity` is walked (RFC 5280 section 4.1): the
//! outer `Certificate` sequence, the `TBSCertificate` sequence, the optional `[0]`
//! version, the serial number, the signature algorithm, the issuer, then the validity
//! sequence of two times (`UTCTime` or `GeneralizedTime`, both in UTC).

/// One DER element: its tag, its contents, and what follows it.
pub(super) fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const VERSION: u8 = 0xa0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// The fields of a DER certificate's `tbsCertificate` that follow its version and
/// serial number (signature algorithm, issuer, validity, subject...).
fn after_serial(cert: &[u8]) -> Option<&[u8]> {
    let (SEQUENCE, cert, _) = element(cert)? else { return None };
    let (SEQUENCE, tbs, _) = element(cert)? else { return None };
    let (mut tag, _, mut rest) = element(tbs)?;
    if tag == VERSION {
        (tag, _, rest) = element(rest)?;
    }
    (tag == INTEGER).then_some(rest)
}

/// `notBefore` and `notAfter` of a DER certificate, in seconds since the Unix epoch;
/// `None` when the encoding is not one this walk understands.
pub fn period(cert: &[u8]) -> Option<(i64, i64)> {
    let rest = after_serial(cert)?;
    let (SEQUENCE, _, rest) = element(rest)? else { return None }; // signature algorithm
    let (SEQUENCE, _, rest) = element(rest)? else { return None }; // issuer
    let (SEQUENCE, validity, _) = element(rest)? else { return None };
    let (t1, not_before, rest) = element(validity)?;
    let (t2, not_after, _) = element(rest)?;
    Some((time(t1, not_before)?, time(t2, not_after)?))
}

/// The first common name (`CN`, OID 2.5.4.3) of a DER certificate's subject, as
/// OpenSSL's `X509_NAME_get_index_by_NID` finds it (`send-proxy-v2-ssl-cn`); `None`
/// without one. The walk goes past the validity to the subject `Name`, a sequence of
/// sets of (type, value) pairs.
pub fn subject_cn(cert: &[u8]) -> Option<String> {
    const SET: u8 = 0x31;
    const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
    let rest = after_serial(cert)?;
    let (SEQUENCE, _, rest) = element(rest)? else { return None }; // signature algorithm
    let (SEQUENCE, _, rest) = element(rest)? else { return None }; // issuer
    let (SEQUENCE, _, rest) = element(rest)? else { return None }; // validity
    let (SEQUENCE, mut rdns, _) = element(rest)? else { return None }; // subject
    while !rdns.is_empty() {
        let (SET, mut rdn, next) = element(rdns)? else { return None };
        rdns = next;
        while !rdn.is_empty() {
            let (SEQUENCE, pair, next) = element(rdn)? else { return None };
            rdn = next;
            let (0x06, oid, value) = element(pair)? else { return None };
            if oid == OID_CN {
                // UTF8String, PrintableString, IA5String ...: the bytes as they are.
                let (_, text, _) = element(value)?;
                return Some(String::from_utf8_lossy(text).into_owned());
            }
        }
    }
    None
}

/// A `UTCTime` (`YYMMDDHHMMSSZ`, years 1950-2049) or `GeneralizedTime`
/// (`YYYYMMDDHHMMSSZ`) as seconds since the epoch.
pub(super) fn time(tag: u8, text: &[u8]) -> Option<i64> {
    let digits = |s: &[u8]| -> Option<i64> {
        s.iter().try_fold(0i64, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0')))
    };
    let (year, rest) = match (tag, text.len()) {
        (UTC_TIME, 13) => {
            let yy = digits(&text[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        (GENERALIZED_TIME, 15) => (digits(&text[..4])?, &text[4..]),
        _ => return None,
    };
    if rest[10] != b'Z' {
        return None;
    }
    let (month, day) = (digits(&rest[0..2])?, digits(&rest[2..4])?);
    let (hour, min, sec) = (digits(&rest[4..6])?, digits(&rest[6..8])?, digits(&rest[8..10])?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3_600 + min * 60 + sec)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (March-based years, so that the
/// leap day ends the year).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // 0..=399
    let m = (month + 9) % 12; // March = 0
    let doy = (153 * m + 2) / 5 + day - 1; // 0..=365
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // 0..=146096
    era * 146_097 + doe - 719_468
}

/// The verdict of the dates at `now` (seconds since the epoch): the error OpenSSL
/// reports, as rustls names it. A certificate whose dates cannot be read is refused.
pub fn check(cert: &[u8], now: i64) -> Result<(), rustls::CertificateError> {
    match period(cert) {
        None => Err(rustls::CertificateError::BadEncoding),
        Some((not_before, _)) if now < not_before => Err(rustls::CertificateError::NotValidYet),
        Some((_, not_after)) if now > not_after => Err(rustls::CertificateError::Expired),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 11, 26), 20_783);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }

    #[test]
    fn both_time_encodings_read() {
        assert_eq!(time(UTC_TIME, b"700101000000Z"), Some(0));
        assert_eq!(time(UTC_TIME, b"491231235959Z"), Some(days_from_civil(2049, 12, 31) * 86_400 + 86_399));
        assert_eq!(time(GENERALIZED_TIME, b"20500101000000Z"), Some(days_from_civil(2050, 1, 1) * 86_400));
        assert_eq!(time(UTC_TIME, b"700101000000+0100"), None, "only UTC, as DER requires");
        assert_eq!(time(UTC_TIME, b"701301000000Z"), None);
    }

    #[test]
    fn the_subject_common_name_is_read() {
        let mut params = rcgen::CertificateParams::new(vec!["a.test".to_string()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::OrganizationName, "Org");
        params.distinguished_name.push(rcgen::DnType::CommonName, "client one");
        let key = rcgen::KeyPair::generate().unwrap();
        assert_eq!(subject_cn(params.clone().self_signed(&key).unwrap().der()).as_deref(), Some("client one"));
        params.distinguished_name = rcgen::DistinguishedName::new();
        assert_eq!(subject_cn(params.self_signed(&key).unwrap().der()), None);
    }

    #[test]
    fn a_generated_certificate_gives_back_its_dates() {
        let mut params = rcgen::CertificateParams::new(vec!["a.test".to_string()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2001, 2, 3);
        params.not_after = rcgen::date_time_ymd(2061, 4, 5);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let (nb, na) = period(cert.der()).expect("dates read");
        assert_eq!(nb, days_from_civil(2001, 2, 3) * 86_400);
        assert_eq!(na, days_from_civil(2061, 4, 5) * 86_400);
        assert_eq!(check(cert.der(), nb - 1), Err(rustls::CertificateError::NotValidYet));
        assert_eq!(check(cert.der(), nb), Ok(()));
        assert_eq!(check(cert.der(), na + 1), Err(rustls::CertificateError::Expired));
        assert_eq!(check(&[0x30, 0x03, 0x02, 0x01, 0x00], 0), Err(rustls::CertificateError::BadEncoding));
    }
}
