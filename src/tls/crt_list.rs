//! `crt-list <file>`: one certificate per line, as HAProxy reads it:
//!
//! ```text
//! <crtfile> [\[<sslbindconf> ...\]] [[!]<snifilter> ...]
//! ```
//!
//! Empty lines and `#` comments are skipped; relative paths start from `crt-base`. The
//! SNI filters choose the names the certificate is served for (see
//! [`super::certs::SniResolver`]).
//!
//! Deviation: rustls takes one configuration per bind line (ALPN, versions and client
//! verification are chosen before the SNI is known to the certificate resolver), so a
//! line's `[...]` options that would give this certificate its own `alpn`, `verify`,
//! `ca-file`, `crl-file`, `ssl-min-ver` or `ssl-max-ver` are refused unless they
//! repeat the bind line's; the OpenSSL-only ones (`ciphers`, `curves` ...) are accepted
//! with no effect, as on bind lines.

use super::certs::CrtSpec;
use super::BindTlsOpts;
use std::path::{Path, PathBuf};

/// HAProxy's `sslbindconf` keywords (allowed inside a line's brackets).
const LINE_KEYWORDS: &[&str] = &[
    "allow-0rtt",
    "alpn",
    "ca-file",
    "ca-verify-file",
    "ciphers",
    "ciphersuites",
    "crl-file",
    "curves",
    "ecdhe",
    "no-ca-names",
    "npn",
    "verify",
    "ssl-min-ver",
    "ssl-max-ver",
];

/// The `[...]` options of one crt-list line.
#[derive(Clone, Debug)]
pub struct LineOpts {
    /// `file:line`, for messages.
    pub place: String,
    /// The keywords the line sets.
    pub set: Vec<String>,
    /// Their values.
    pub opts: Box<BindTlsOpts>,
}

impl LineOpts {
    /// The line's options must repeat the bind line's (see the module doc).
    pub fn check_against(&self, bind: &BindTlsOpts) -> Result<(), String> {
        let line = &self.opts;
        for kw in &self.set {
            let same = match kw.as_str() {
                "alpn" => line.alpn == bind.alpn,
                "verify" => line.verify.as_deref().unwrap_or("none") == bind.verify.as_deref().unwrap_or("none"),
                "ca-file" => line.ca_file == bind.ca_file,
                "crl-file" => line.crl_file == bind.crl_file,
                "ssl-min-ver" => line.versions.min == bind.versions.min,
                "ssl-max-ver" => line.versions.max == bind.versions.max,
                _ => true,
            };
            if !same {
                return Err(format!(
                    "'crt-list' : parsing [{}]: '{kw}' differs from the bind line's, which moonproxy does not support: its TLS library (rustls) takes one configuration per bind line",
                    self.place
                ));
            }
        }
        Ok(())
    }
}

/// Reads a crt-list file: the certificates (with their filters), in order, and the
/// lines carrying options. `base`: `crt-base`. `option`: the bind line's option
/// parser (as [`super::parse::bind_option`]), used for the bracketed options.
pub fn read(
    path: &Path,
    base: Option<&PathBuf>,
    mut option: impl FnMut(&mut BindTlsOpts, &str, &str) -> Option<Result<usize, String>>,
) -> Result<(Vec<CrtSpec>, Vec<LineOpts>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("'crt-list' : cannot open file '{}' : {}", path.display(), crate::listener::strerror(&e)))?;
    let mut crts = Vec::new();
    let mut with_opts = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let place = format!("{}:{}", path.display(), n + 1);
        let (crt, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim_start();
        // The bracketed options, then the filters.
        let (opts, filters) = match rest.strip_prefix('[') {
            Some(inner) => match inner.split_once(']') {
                Some((opts, filters)) => (Some(opts), filters),
                // HAProxy 2.6 takes an unclosed bracket as running to the end of the line.
                None => (Some(inner), ""),
            },
            None => (None, rest),
        };
        if let Some(opts) = opts {
            let words: Vec<&str> = opts.split_whitespace().collect();
            let mut line_opts = BindTlsOpts::default();
            let mut set = Vec::new();
            let mut i = 0;
            while i < words.len() {
                let kw = words[i];
                if !LINE_KEYWORDS.contains(&kw) {
                    return Err(format!("'crt-list' : parsing [{place}]: unknown ssl keyword {kw}"));
                }
                match option(&mut line_opts, kw, words.get(i + 1).copied().unwrap_or("")) {
                    Some(Ok(used)) => i += used,
                    Some(Err(e)) => return Err(format!("'crt-list' : parsing [{place}]: {e}")),
                    None => return Err(format!("'crt-list' : parsing [{place}]: '{kw}' is not supported by moonproxy")),
                }
                set.push(kw.to_string());
            }
            if !set.is_empty() {
                with_opts.push(LineOpts { place: place.clone(), set, opts: Box::new(line_opts) });
            }
        }
        let crt = match base {
            Some(b) if !crt.starts_with('/') => b.join(crt),
            _ => PathBuf::from(crt),
        };
        crts.push(CrtSpec { path: crt, filters: filters.split_whitespace().map(str::to_string).collect() });
    }
    Ok((crts, with_opts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(text: &str) -> Result<(Vec<CrtSpec>, Vec<LineOpts>), String> {
        let path = std::env::temp_dir().join(format!("moonproxy-crt-list-{}-{}", std::process::id(), text.len()));
        std::fs::write(&path, text).unwrap();
        let g = super::super::parse::GlobalTls::default();
        let r = read(&path, Some(&PathBuf::from("/certs")), |o, kw, v| super::super::parse::bind_option(o, &g, kw, v));
        std::fs::remove_file(&path).unwrap();
        r.map_err(|e| e.replace(&path.display().to_string(), "LIST"))
    }

    #[test]
    fn lines_give_certificates_filters_and_options() {
        let (crts, opts) = read_text(
            "cert1.pem !*\n# comment\n\ncert2.pem [alpn h2,http/1.1]\n/abs/certW.pem   *.domain.tld !secure.domain.tld\ncertS.pem [curves X25519 ciphers ECDHE-ECDSA-AES256-GCM-SHA384] secure.domain.tld\n",
        )
        .unwrap();
        let paths: Vec<_> = crts.iter().map(|c| c.path.display().to_string()).collect();
        assert_eq!(paths, ["/certs/cert1.pem", "/certs/cert2.pem", "/abs/certW.pem", "/certs/certS.pem"]);
        assert_eq!(crts[0].filters, ["!*"]);
        assert!(crts[1].filters.is_empty());
        assert_eq!(crts[2].filters, ["*.domain.tld", "!secure.domain.tld"]);
        assert_eq!(crts[3].filters, ["secure.domain.tld"]);
        assert_eq!(opts.len(), 2);
        assert!(opts[0].place.ends_with(":4"), "{}", opts[0].place);
        assert_eq!(opts[0].opts.alpn, ["h2", "http/1.1"]);
        // The same ALPN as the bind line passes; another is refused.
        let mut bind = BindTlsOpts { alpn: vec!["h2".into(), "http/1.1".into()], ..BindTlsOpts::default() };
        assert!(opts[0].check_against(&bind).is_ok());
        bind.alpn = vec!["http/1.1".into()];
        assert!(opts[0].check_against(&bind).unwrap_err().contains("'alpn' differs from the bind line's"));
        assert!(opts[1].check_against(&bind).is_ok(), "ciphers and curves have no effect");
    }

    #[test]
    fn bad_lines_get_haproxys_messages() {
        assert_eq!(read_text("a.pem [alpn h2 bogus] x.test\n").unwrap_err(), "'crt-list' : parsing [LIST:1]: unknown ssl keyword bogus");
        assert!(read_text("a.pem [ssl-min-ver TLSv1.4]\n").unwrap_err().contains("unknown ssl/tls version"));
        let missing = read(Path::new("/nonexistent/list"), None, |_, _, _| None).unwrap_err();
        assert_eq!(missing, "'crt-list' : cannot open file '/nonexistent/list' : No such file or directory");
    }
}
