//! The crt-lists the bind lines loaded, for the CLI: each list's lines as `show ssl
//! crt-list` prints them, and the certificate choosers ([`SniResolver`]) of the bind
//! lines using it, which `add ssl crt-list` and `del ssl crt-list` change from the
//! next handshake on (established connections keep their certificate).
//!
//! A line added at run time takes the certificate of a file the process knows
//! ([`super::cert_store`]: one a bind line loaded, or one made with `new ssl cert`
//! and committed), its SNI filters if any, and the bind line's settings: the `[...]`
//! options of an added line are not applied (doc/tls.md).

use super::certs::SniResolver;
use std::sync::{Arc, Mutex, Weak};

/// One line of a crt-list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// The certificate file, as loaded (after `crt-base`).
    pub crt: String,
    /// The bracketed options as HAProxy prints them (`[alpn h2 ]`), or empty.
    pub opts: String,
    pub filters: Vec<String>,
    /// Its line in the file; lines added at run time number on from the last one.
    pub number: usize,
}

impl Line {
    /// The line as `show ssl crt-list` prints it (`-n`: with its number).
    pub fn show(&self, numbered: bool) -> String {
        let mut out = self.crt.clone();
        if numbered {
            out.push_str(&format!(":{}", self.number));
        }
        for part in std::iter::once(&self.opts).filter(|o| !o.is_empty()).chain(&self.filters) {
            out.push(' ');
            out.push_str(part);
        }
        out
    }
}

struct List {
    path: Arc<str>,
    lines: Vec<Line>,
    resolvers: Vec<Weak<SniResolver>>,
}

static LISTS: Mutex<Vec<List>> = Mutex::new(Vec::new());

fn lists() -> std::sync::MutexGuard<'static, Vec<List>> {
    LISTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The lines of crt-list `path`, as read; recorded once (the first bind line to read it).
pub fn record(path: &Arc<str>, lines: Vec<Line>) {
    let mut all = lists();
    if !all.iter().any(|l| l.path == *path) {
        all.push(List { path: path.clone(), lines, resolvers: Vec::new() });
    }
}

/// A bind line's certificate chooser serves crt-list `path`.
pub fn attach(path: &str, resolver: &Arc<SniResolver>) {
    if let Some(l) = lists().iter_mut().find(|l| &*l.path == path) {
        l.resolvers.retain(|w| w.strong_count() > 0);
        l.resolvers.push(Arc::downgrade(resolver));
    }
}

/// Every crt-list, in the order they were read.
pub fn names() -> Vec<Arc<str>> {
    lists().iter().map(|l| l.path.clone()).collect()
}

/// The lines of crt-list `path` (`None`: no such list).
pub fn lines(path: &str) -> Option<Vec<Line>> {
    lists().iter().find(|l| &*l.path == path).map(|l| l.lines.clone())
}

/// `add ssl crt-list <list> <crt> [<filters>]`. `Err`: HAProxy's reason, after
/// "Can't edit the crt-list: ".
pub fn add(path: &str, crt: &str, filters: &[String]) -> Result<(), String> {
    let mut all = lists();
    let Some(list) = all.iter_mut().find(|l| &*l.path == path) else { return Err(format!("crt-list '{path}' does not exist!")) };
    let slot = super::cert_store::slot_for_list(crt)?;
    let number = list.lines.iter().map(|l| l.number).max().unwrap_or(0) + 1;
    list.lines.push(Line { crt: crt.to_string(), opts: String::new(), filters: filters.to_vec(), number });
    for r in list.resolvers.iter().filter_map(Weak::upgrade) {
        r.add_line(&list.path, crt, slot.clone(), filters);
    }
    Ok(())
}

/// `del ssl crt-list <list> <crt>`. `Err`: HAProxy's reason, after "Can't delete the
/// entry: ".
pub fn del(path: &str, crt: &str) -> Result<(), String> {
    let mut all = lists();
    let Some(list) = all.iter_mut().find(|l| &*l.path == path) else { return Err(format!("crt-list '{path}' does not exist!")) };
    let Some(i) = list.lines.iter().position(|l| l.crt == crt) else {
        return Err(format!("certificate '{crt}' can't be found in crt-list '{path}'!"));
    };
    let resolvers: Vec<Arc<SniResolver>> = list.resolvers.iter().filter_map(Weak::upgrade).collect();
    if resolvers.iter().any(|r| r.is_default(path, crt)) {
        return Err(format!("certificate '{crt}' cannot be deleted, it is used as default certificate by the following frontends:"));
    }
    list.lines.remove(i);
    for r in &resolvers {
        if let Some(slot) = r.remove_line(path, crt) {
            // The certificate stays known (`show ssl cert`, `add ssl crt-list` again)
            // until `del ssl cert`.
            super::cert_store::keep(crt, slot);
        }
    }
    Ok(())
}
