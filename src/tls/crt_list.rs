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
//! A line's `[...]` options (`alpn`, `verify`, `ca-file`, `ca-verify-file`,
//! `no-ca-names`, `crl-file`, `ssl-min-ver`, `ssl-max-ver`, `ciphers`, `ciphersuites`,
//! `curves`, `ecdhe`) override the bind line's for that certificate: the bind then has
//! one rustls config per such line, chosen by the client's SNI once its ClientHello is
//! read (see [`super::SniConfigs`]). `allow-0rtt` is accepted with no effect and `npn`
//! refused, as on bind lines.

use super::certs::CrtSpec;
use super::BindTlsOpts;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    /// The bind line's options with this line's on top.
    pub fn apply_to(&self, bind: &BindTlsOpts) -> BindTlsOpts {
        let (mut o, line) = (bind.clone(), &self.opts);
        o.crt_list_opts.clear();
        for kw in &self.set {
            match kw.as_str() {
                "alpn" => o.alpn = line.alpn.clone(),
                "verify" => o.verify = line.verify.clone(),
                "ca-file" => o.ca_file = line.ca_file.clone(),
                "ca-verify-file" => o.ca_verify_file = line.ca_verify_file.clone(),
                "no-ca-names" => o.no_ca_names = line.no_ca_names,
                "ciphers" => o.suites.ciphers = line.suites.ciphers.clone(),
                "ciphersuites" => o.suites.ciphersuites = line.suites.ciphersuites.clone(),
                "curves" => o.suites.curves = line.suites.curves.clone(),
                "ecdhe" => o.suites.ecdhe = line.suites.ecdhe.clone(),
                "crl-file" => o.crl_file = line.crl_file.clone(),
                "ssl-min-ver" => o.versions.min = line.versions.min,
                "ssl-max-ver" => o.versions.max = line.versions.max,
                _ => {}
            }
        }
        o
    }
}

/// Reads a crt-list file: the certificates (with their filters), in order, and the
/// lines carrying options. `base`: `crt-base`. `first`: how many lines with options
/// the bind line has already (from earlier crt-lists): a certificate's
/// [`CrtSpec::config`] counts from there. `option`: the bind line's option parser (as
/// [`super::parse::bind_option`]), used for the bracketed options.
pub fn read(
    path: &Path,
    base: Option<&PathBuf>,
    first: usize,
    mut option: impl FnMut(&mut BindTlsOpts, &str, &str) -> Option<Result<usize, String>>,
) -> Result<(Vec<CrtSpec>, Vec<LineOpts>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("'crt-list' : cannot open file '{}' : {}", path.display(), crate::listener::strerror(&e)))?;
    let mut crts = Vec::new();
    let mut with_opts = Vec::new();
    let list: Arc<str> = path.display().to_string().into();
    let mut shown = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let place = format!("{}:{}", path.display(), n + 1);
        let (crt, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        // The bind line's config unless the line has options.
        let mut config = 0;
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
        let mut opts_text = String::new();
        if let Some(opts) = opts {
            let words: Vec<&str> = opts.split_whitespace().collect();
            if !words.is_empty() {
                // HAProxy prints the options each followed by a blank: `[alpn h2 ]`.
                opts_text = format!("[{}]", words.iter().map(|w| format!("{w} ")).collect::<String>());
            }
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
                config = first + with_opts.len();
            }
        }
        let crt = match base {
            Some(b) if !crt.starts_with('/') => b.join(crt),
            _ => PathBuf::from(crt),
        };
        let filters: Vec<String> = filters.split_whitespace().map(str::to_string).collect();
        shown.push(super::crt_list_store::Line { crt: crt.display().to_string(), opts: opts_text, filters: filters.clone(), number: n + 1 });
        crts.push(CrtSpec { path: crt, filters, config, list: Some(list.clone()) });
    }
    super::crt_list_store::record(&list, shown);
    Ok((crts, with_opts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(text: &str) -> Result<(Vec<CrtSpec>, Vec<LineOpts>), String> {
        let path = std::env::temp_dir().join(format!("moonproxy-crt-list-{}-{}", std::process::id(), text.len()));
        std::fs::write(&path, text).unwrap();
        let g = super::super::parse::GlobalTls::default();
        let r = read(&path, Some(&PathBuf::from("/certs")), 0, |o, kw, v| super::super::parse::bind_option(o, &g, kw, v));
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
        assert_eq!(crts.iter().map(|c| c.config).collect::<Vec<_>>(), [0, 1, 0, 2], "the lines with options have their own config");
        // The line's ALPN replaces the bind line's; ciphers and curves change nothing.
        let bind = BindTlsOpts { alpn: vec!["http/1.1".into()], verify: Some("optional".into()), ..BindTlsOpts::default() };
        let o = opts[0].apply_to(&bind);
        assert_eq!((o.alpn, o.verify), (vec!["h2".to_string(), "http/1.1".to_string()], Some("optional".to_string())));
        assert_eq!(opts[1].apply_to(&bind).alpn, ["http/1.1"]);
    }

    #[test]
    fn bad_lines_get_haproxys_messages() {
        assert_eq!(read_text("a.pem [alpn h2 bogus] x.test\n").unwrap_err(), "'crt-list' : parsing [LIST:1]: unknown ssl keyword bogus");
        assert!(read_text("a.pem [ssl-min-ver TLSv1.4]\n").unwrap_err().contains("unknown ssl/tls version"));
        let missing = read(Path::new("/nonexistent/list"), None, 0, |_, _, _| None).unwrap_err();
        assert_eq!(missing, "'crt-list' : cannot open file '/nonexistent/list' : No such file or directory");
    }
}
