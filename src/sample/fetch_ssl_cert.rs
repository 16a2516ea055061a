//! The certificate fetches of HAProxy 2.6: `ssl_c_*` (the client's certificate on a
//! `bind ... ssl verify optional|required` line), `ssl_f_*` (the certificate this
//! frontend presented) and `ssl_s_*` (the server's, on `server ... ssl` connections:
//! in response rules and logs). Read with [`crate::tls::x509`] from the DER rustls
//! gives ([`crate::tls::details::Details`]); printed as HAProxy prints them with
//! OpenSSL. No certificate: no sample, as in HAProxy.
//!
//! `ssl_c_verify`, `ssl_c_err`, `ssl_c_ca_err`, `ssl_c_ca_err_depth` report an error
//! that `ca-ignore-err`/`crt-ignore-err` forgave (0 when the certificate verified).

use super::args::{Arg, ArgSpec, ArgType};
use super::fetch::Fetch;
use super::{Sample, SampleCtx, SampleType};
use crate::tls::x509::{Cert, DnSelect, Which};
use crate::tls::TlsInfo;
use rustls::pki_types::CertificateDer;
use std::sync::Arc;

use SampleType as T;

fn no_check(_: &mut [Arg]) -> Result<(), String> {
    Ok(())
}

macro_rules! fetch {
    ($name:expr, $out:expr, $run:expr) => {
        Fetch { name: $name, args: ArgSpec::NONE, out: $out, check: no_check, run: $run, all: None, visit: None }
    };
    ($name:expr, $args:expr, $out:expr, $check:expr, $run:expr) => {
        Fetch { name: $name, args: $args, out: $out, check: $check, run: $run, all: None, visit: None }
    };
}

/// `([<entry>[,<occ>[,<format>]]])` of the DN fetches.
const DN_ARGS: ArgSpec = ArgSpec { types: &[ArgType::Str, ArgType::Int, ArgType::Str], mandatory: 0 };

/// Which certificate a fetch reads.
#[derive(Clone, Copy)]
enum Whose {
    /// The client's (`ssl_c_*`).
    Client,
    /// The one this frontend presented (`ssl_f_*`).
    Front,
    /// The server's (`ssl_s_*`).
    Server,
}

/// The DER certificate `whose` names, if the connection has one.
fn der(cx: &dyn SampleCtx, whose: Whose) -> Option<&CertificateDer<'static>> {
    match whose {
        Whose::Client => cx.tls()?.details.peer_chain.first(),
        Whose::Front => cx.tls()?.details.local_cert.as_ref(),
        Whose::Server => cx.server_tls()?.details.peer_chain.first(),
    }
}

/// Runs `f` on the parsed certificate.
fn with_cert(cx: &dyn SampleCtx, whose: Whose, f: impl FnOnce(&Cert<'_>) -> Option<Sample>) -> Option<Sample> {
    f(&Cert::parse(der(cx, whose)?.as_ref())?)
}

/// Compiles the DN arguments into a [`DnSelect`] (kept as the first argument): an
/// entry name selects that entry (occurrence 1 by default) and the format is then
/// ignored, as in HAProxy; the format may be `rfc2253` or empty.
fn check_dn(a: &mut [Arg]) -> Result<(), String> {
    let format = a.get(2).and_then(Arg::str).unwrap_or("");
    if !format.is_empty() && format != "rfc2253" {
        return Err("only rfc2253 or a blank value are currently supported as the format argument.".into());
    }
    let sel = match a.first().and_then(Arg::str) {
        Some(entry) if !entry.is_empty() => DnSelect::Entry(entry.to_string(), a.get(1).and_then(Arg::int).unwrap_or(1)),
        _ if format == "rfc2253" => DnSelect::Rfc2253,
        _ => DnSelect::OneLine,
    };
    if let Some(first) = a.first_mut() {
        *first = Arg::Data(Arc::new(sel));
    }
    Ok(())
}

/// The DN `which` of the certificate, as the compiled arguments select.
fn dn(a: &[Arg], cx: &dyn SampleCtx, whose: Whose, which: Which) -> Option<Sample> {
    let sel = match a.first() {
        Some(Arg::Data(d)) => d.downcast_ref::<DnSelect>()?.clone(),
        _ => DnSelect::OneLine,
    };
    with_cert(cx, whose, |c| Some(Sample::Str(c.dn(which, &sel)?)))
}

/// The DER certificates of a chain, one after the other.
fn chain(certs: &[CertificateDer<'static>]) -> Sample {
    Sample::Bin(certs.iter().flat_map(|c| c.as_ref().iter().copied()).collect())
}

/// The client's chain as OpenSSL's server side gives it (`SSL_get_peer_cert_chain`):
/// without the client's own certificate, and none on a resumed session.
fn client_chain(cx: &dyn SampleCtx) -> Option<Sample> {
    let tls = cx.tls()?;
    if tls.resumed || tls.details.peer_chain.is_empty() {
        return None;
    }
    Some(chain(&tls.details.peer_chain[1..]))
}

/// The verification note of the client certificate (zero without one).
fn verify(cx: &dyn SampleCtx, f: impl FnOnce(&TlsInfo) -> i64) -> Option<Sample> {
    Some(Sample::Sint(f(cx.tls()?)))
}

/// The fetches on one certificate, for each prefix (same names after it).
macro_rules! cert_fetches {
    ($p:literal, $whose:expr) => {
        [
            fetch!(concat!($p, "der"), T::Bin, |_, cx| Some(Sample::Bin(der(cx, $whose)?.as_ref().to_vec()))),
            fetch!(concat!($p, "i_dn"), DN_ARGS, T::Str, check_dn, |a, cx| dn(a, cx, $whose, Which::Issuer)),
            fetch!(concat!($p, "key_alg"), T::Str, |_, cx| with_cert(cx, $whose, |c| Some(Sample::str(c.key_alg()?)))),
            fetch!(concat!($p, "notafter"), T::Str, |_, cx| with_cert(cx, $whose, |c| Some(Sample::Str(c.not_after()?)))),
            fetch!(concat!($p, "notbefore"), T::Str, |_, cx| with_cert(cx, $whose, |c| Some(Sample::Str(c.not_before()?)))),
            fetch!(concat!($p, "s_dn"), DN_ARGS, T::Str, check_dn, |a, cx| dn(a, cx, $whose, Which::Subject)),
            fetch!(concat!($p, "serial"), T::Bin, |_, cx| with_cert(cx, $whose, |c| Some(Sample::Bin(c.serial.to_vec())))),
            fetch!(concat!($p, "sha1"), T::Bin, |_, cx| Some(Sample::Bin(crate::tls::x509::sha1(der(cx, $whose)?.as_ref())))),
            fetch!(concat!($p, "sig_alg"), T::Str, |_, cx| with_cert(cx, $whose, |c| Some(Sample::str(c.sig_alg()?)))),
            fetch!(concat!($p, "version"), T::Sint, |_, cx| with_cert(cx, $whose, |c| Some(Sample::Sint(c.version)))),
        ]
    };
}

static CLIENT: [Fetch; 10] = cert_fetches!("ssl_c_", Whose::Client);
static FRONT: [Fetch; 10] = cert_fetches!("ssl_f_", Whose::Front);
static SERVER: [Fetch; 10] = cert_fetches!("ssl_s_", Whose::Server);

/// The fetches of this module not made by [`cert_fetches`].
pub static FETCHES: &[Fetch] = &[
    fetch!("ssl_c_ca_err", T::Sint, |_, cx| verify(cx, |t| if t.details.verify.depth > 0 { t.details.verify.id } else { 0 })),
    fetch!("ssl_c_ca_err_depth", T::Sint, |_, cx| verify(cx, |t| t.details.verify.depth)),
    fetch!("ssl_c_chain_der", T::Bin, |_, cx| client_chain(cx)),
    fetch!("ssl_c_err", T::Sint, |_, cx| verify(cx, |t| if t.details.verify.depth == 0 { t.details.verify.id } else { 0 })),
    fetch!("ssl_c_verify", T::Sint, |_, cx| verify(cx, |t| t.details.verify.id)),
    fetch!("ssl_s_chain_der", T::Bin, |_, cx| {
        let chain_certs = &cx.server_tls()?.details.peer_chain;
        (!chain_certs.is_empty()).then(|| chain(chain_certs))
    }),
];

/// Every fetch of this module (for the tables that list them all).
pub fn all() -> impl Iterator<Item = &'static Fetch> {
    CLIENT.iter().chain(FRONT.iter()).chain(SERVER.iter()).chain(FETCHES.iter())
}

/// The fetch named `name`.
pub fn lookup(name: &str) -> Option<&'static Fetch> {
    if !name.starts_with("ssl_") {
        return None;
    }
    all().find(|f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dn_arguments_compile_as_haproxy_reads_them() {
        let sel = |args: Vec<Arg>| {
            let mut a = args;
            check_dn(&mut a).map(|_| match a.first() {
                Some(Arg::Data(d)) => d.downcast_ref::<DnSelect>().unwrap().clone(),
                _ => DnSelect::OneLine,
            })
        };
        assert_eq!(sel(vec![]), Ok(DnSelect::OneLine));
        assert_eq!(sel(vec![Arg::Str("CN".into())]), Ok(DnSelect::Entry("CN".into(), 1)));
        assert_eq!(sel(vec![Arg::Str("OU".into()), Arg::Int(-1)]), Ok(DnSelect::Entry("OU".into(), -1)));
        assert_eq!(sel(vec![Arg::Str(String::new()), Arg::Int(0), Arg::Str("rfc2253".into())]), Ok(DnSelect::Rfc2253));
        assert_eq!(sel(vec![Arg::Str("CN".into()), Arg::Int(1), Arg::Str("rfc2253".into())]), Ok(DnSelect::Entry("CN".into(), 1)));
        assert!(sel(vec![Arg::Str(String::new()), Arg::Int(0), Arg::Str("ldap".into())]).unwrap_err().starts_with("only rfc2253"));
    }

    #[test]
    fn every_prefix_has_its_fetches() {
        for name in ["ssl_c_der", "ssl_f_s_dn", "ssl_s_version", "ssl_c_ca_err_depth", "ssl_s_chain_der"] {
            assert_eq!(lookup(name).map(|f| f.name), Some(name));
        }
        assert!(lookup("ssl_f_chain_der").is_none(), "HAProxy has no ssl_f_chain_der");
    }
}
