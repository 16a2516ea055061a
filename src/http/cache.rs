//! HAProxy's small object cache: the `cache <name>` sections, `http-request cache-use`
//! and `http-response cache-store` (doc/cache.md).
//!
//! The pieces, each usable alone:
//! - **policy** ([`request_policy`], [`response_policy`], [`freshness`]): what HAProxy
//!   2.6 serves and stores, from the request and response heads only;
//! - **storage** ([`Store`]): objects by key, their variants (`Vary`), least recently
//!   used first out, bounded by `total-max-size` counted in 1 KiB blocks as HAProxy
//!   counts them;
//! - **the transaction's part** ([`TxnCache`]): `cache-use` looks up and answers,
//!   `cache-store` starts a [`Pending`] object that the stream feeds with the response
//!   body as it forwards it ([`on_body`]): nothing waits for the body to be stored.
//!
//! Caches are process-wide (one mutex each), as HAProxy's shared-memory caches are
//! shared by its threads: [`install`] creates them once at start-up.
//!
//! Times are Unix seconds: freshness is counted in whole seconds, as HAProxy does.

use super::txn::Txn;
use super::{BodyFraming, Headers, Method, Request, Response, TargetForm, Version};
use crate::config::model::CacheSection;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

/// HAProxy's cache block: sizes are counted in blocks of this many bytes.
pub const BLOCK: usize = 1024;

/// The server name logged for a response served from a cache (HAProxy's).
pub const LOG_SERVER_NAME: &str = "<CACHE>";

/// The bookkeeping of one object in a [`Store`] beyond the object itself: the
/// nodes of its map, LRU and variant entries (an upper estimate).
const STORE_OVERHEAD: usize = 256;

/// The largest age HAProxy keeps (`CACHE_ENTRY_MAX_AGE`, 2^31 - 1 seconds).
const MAX_AGE_SECS: u64 = 2_147_483_647;

/// The request headers `Vary` may name with `process-vary on` (HAProxy 2.6's list);
/// any other name makes the response not cacheable.
const VARY_HEADERS: [&str; 3] = ["accept-encoding", "referer", "origin"];

/// A cache's settings, from its section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub name: String,
    /// `total-max-size` in blocks.
    pub blocks: usize,
    /// `max-object-size` in bytes (resolved: a 256th of the total by default).
    pub max_object: usize,
    /// `max-age` in seconds.
    pub max_age: u64,
    pub process_vary: bool,
    pub max_secondary: usize,
}

impl Settings {
    pub fn from_section(c: &CacheSection) -> Settings {
        let total = c.total_max_size_mb as usize * 1024 * 1024;
        let max_object = match c.max_object_size {
            0 => total / 256,
            n => usize::try_from(n).unwrap_or(usize::MAX),
        };
        Settings {
            name: c.name.clone(),
            blocks: total / BLOCK,
            max_object,
            max_age: u64::from(c.max_age),
            process_vary: c.process_vary,
            max_secondary: c.max_secondary_entries as usize,
        }
    }
}

// ---- Policy --------------------------------------------------------------------

/// What HAProxy allows for a request: answering it from the cache, and storing its
/// response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestPolicy {
    pub serve: bool,
    pub store: bool,
}

/// HAProxy 2.6's rules for a request: only HTTP/1.1 `GET` (stored and served) and
/// `HEAD` (served); never with `Authorization`; `Cache-Control: no-cache` or
/// `max-age=0` (or `Pragma: no-cache` without `Cache-Control`) skip the lookup,
/// `no-store` the storage.
pub fn request_policy(req: &Request) -> RequestPolicy {
    let method_ok = matches!(req.line.method, Method::Get | Method::Head);
    let mut p = RequestPolicy { serve: method_ok, store: req.line.method == Method::Get };
    if req.line.version != Version::Http11 || req.headers.contains("authorization") {
        return RequestPolicy { serve: false, store: false };
    }
    let mut cc_found = false;
    for v in req.headers.list("cache-control") {
        cc_found = true;
        if starts_with_ci(v, b"no-cache") || starts_with_ci(v, b"max-age=0") {
            p.serve = false;
        } else if starts_with_ci(v, b"no-store") {
            p.store = false;
        }
    }
    if !cc_found && req.headers.list("pragma").any(|v| starts_with_ci(v, b"no-cache")) {
        p.serve = false;
    }
    p
}

/// Why a response is not stored (unit tests and debugging).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Status,
    /// `Cache-Control: private|no-cache|no-store|max-age=0|s-maxage=0`, `Pragma: no-cache`.
    Directive,
    /// Neither an expiration time (`max-age`, `s-maxage`, `Expires`) nor a validator
    /// (`ETag`, `Last-Modified`).
    NoFreshness,
    /// `Vary` without `process-vary`, or naming a header HAProxy does not vary on.
    Vary,
    /// `Set-Cookie` (a deviation: HAProxy 2.6 stores it, doc/cache.md).
    SetCookie,
    /// `Content-Length` above `max-object-size`.
    TooLarge,
    /// A body delimited by the connection's close.
    Framing,
}

/// HAProxy 2.6's rules for a response to a storable request (see [`Refusal`]).
pub fn response_policy(res: &Response, settings: &Settings) -> Result<(), Refusal> {
    if res.line.status != 200 {
        return Err(Refusal::Status);
    }
    let h = &res.headers;
    if h.contains("vary") && (!settings.process_vary || vary_names(h).is_none()) {
        return Err(Refusal::Vary);
    }
    if h.list("pragma").any(|v| v.eq_ignore_ascii_case(b"no-cache")) {
        return Err(Refusal::Directive);
    }
    let mut fresh = false;
    for v in h.list("cache-control") {
        let lower = v.to_ascii_lowercase();
        let refused = matches!(lower.as_slice(), b"private" | b"no-cache" | b"no-store" | b"max-age=0" | b"s-maxage=0")
            || lower.starts_with(b"no-cache=\"set-cookie")
            || lower.starts_with(b"private=");
        if refused {
            return Err(Refusal::Directive);
        }
        fresh |= lower.starts_with(b"max-age") || lower.starts_with(b"s-maxage");
    }
    fresh |= h.get("expires").and_then(parse_http_date).is_some();
    if !fresh && !h.contains("etag") && !h.contains("last-modified") {
        return Err(Refusal::NoFreshness);
    }
    if h.contains("set-cookie") {
        return Err(Refusal::SetCookie);
    }
    match res.framing {
        BodyFraming::ContentLength(n) if n as usize > settings.max_object => Err(Refusal::TooLarge),
        BodyFraming::UntilClose => Err(Refusal::Framing),
        _ => Ok(()),
    }
}

/// How long a response stays fresh from now, in seconds: `s-maxage`, else `max-age`,
/// else `Expires` minus `Date` (or now), else the cache's `max-age`; never more than
/// the cache's `max-age`.
pub fn freshness(h: &Headers, cache_max_age: u64, now: u64) -> u64 {
    let directive = |name: &[u8]| {
        h.list("cache-control").find_map(|v| {
            let (k, n) = split_eq(v)?;
            k.eq_ignore_ascii_case(name).then(|| std::str::from_utf8(n).ok()?.trim_matches('"').parse::<u64>().ok())?
        })
    };
    let own = directive(b"s-maxage").or_else(|| directive(b"max-age")).or_else(|| {
        let expires = parse_http_date(h.get("expires")?)?;
        let date = h.get("date").and_then(parse_http_date).unwrap_or(now);
        Some(expires.saturating_sub(date))
    });
    own.unwrap_or(cache_max_age).min(cache_max_age)
}

fn split_eq(v: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = v.iter().position(|&b| b == b'=')?;
    Some((super::trim_ows(&v[..i]), super::trim_ows(&v[i + 1..])))
}

fn starts_with_ci(v: &[u8], prefix: &[u8]) -> bool {
    v.len() >= prefix.len() && v[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// The request headers a response varies on (lower case, sorted), `None` when it
/// names one HAProxy cannot vary on (or `*`).
fn vary_names(h: &Headers) -> Option<Vec<&'static str>> {
    let mut names = Vec::new();
    for v in h.list("vary") {
        let known = VARY_HEADERS.iter().find(|n| v.eq_ignore_ascii_case(n.as_bytes()))?;
        if !names.contains(known) {
            names.push(*known);
        }
    }
    names.sort_unstable();
    Some(names)
}

/// The secondary key of a request for a response varying on `names`: each named
/// header's values, normalised for `accept-encoding` (tokens lower-cased and sorted).
fn secondary_key(req: &Headers, names: &[&str]) -> Vec<u8> {
    let mut key = Vec::new();
    for name in names {
        key.extend_from_slice(name.as_bytes());
        key.push(b'=');
        if *name == "accept-encoding" {
            let mut tokens: Vec<Vec<u8>> = req
                .list(name)
                .map(|t| t.split(|&b| b == b';').next().map(super::trim_ows).unwrap_or_default().to_ascii_lowercase())
                .collect();
            tokens.sort();
            tokens.dedup();
            key.extend_from_slice(&tokens.join(&b","[..]));
        } else {
            let values: Vec<&[u8]> = req.get_all(name).collect();
            key.extend_from_slice(&values.join(&b","[..]));
        }
        key.push(0);
    }
    key
}

/// The primary key of a request, as HAProxy builds it: the host (`Host`, or the
/// authority of an absolute target) and the path with its query.
pub fn primary_key(req: &Request) -> String {
    let line = &req.line;
    let host = line
        .authority()
        .map(str::to_string)
        .or_else(|| req.headers.get("host").map(|h| String::from_utf8_lossy(h).into_owned()))
        .unwrap_or_default();
    let pathq = match line.form {
        TargetForm::Absolute => {
            let after = &line.target[line.target.find("://").map_or(0, |i| i + 3)..];
            &after[after.find(['/', '?']).unwrap_or(after.len())..]
        }
        _ => line.target.as_str(),
    };
    format!("{host}{pathq}")
}

/// A 32-bit FNV-1a hash: the `hash:` column of `show cache`.
pub fn hash32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

fn hash64(bytes: &[u8]) -> u64 {
    if bytes.is_empty() {
        return 0;
    }
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

// ---- Conditional requests ------------------------------------------------------

/// Whether a request's validators let the cache answer `304 Not Modified` for
/// `object`: `If-None-Match` (weak comparison, `*`) decides when present; otherwise
/// `If-Modified-Since` against the object's `Last-Modified`, else its `Date`, else
/// the time it was stored.
pub fn not_modified(req: &Headers, object: &Object) -> bool {
    if req.contains("if-none-match") {
        let Some(etag) = object.headers.get("etag") else { return false };
        let etag = weak(etag);
        return req.list("if-none-match").any(|t| t == b"*" || weak(t) == etag);
    }
    let Some(since) = req.get("if-modified-since").and_then(parse_http_date) else { return false };
    let last = object
        .headers
        .get("last-modified")
        .and_then(parse_http_date)
        .or_else(|| object.headers.get("date").and_then(parse_http_date))
        .unwrap_or(object.stored_at);
    last <= since
}

fn weak(tag: &[u8]) -> &[u8] {
    tag.strip_prefix(b"W/").unwrap_or(tag)
}

/// An HTTP date (IMF-fixdate, RFC 850 or asctime) as Unix seconds.
pub fn parse_http_date(v: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(v).ok()?.trim();
    let words: Vec<&str> = s.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    let (day, month, year, time) = match words.as_slice() {
        // Sun, 06 Nov 1994 08:49:37 GMT
        [_, d, m, y, t, "GMT"] if y.len() == 4 => (d.parse().ok()?, *m, y.parse().ok()?, *t),
        // Sunday, 06-Nov-94 08:49:37 GMT
        [_, dmy, t, "GMT"] => {
            let mut p = dmy.split('-');
            let (d, m, y) = (p.next()?, p.next()?, p.next()?);
            let y: i64 = y.parse().ok()?;
            (d.parse().ok()?, m, if y < 70 { 2000 + y } else { 1900 + y }, *t)
        }
        // Sun Nov  6 08:49:37 1994
        [_, m, d, t, y] => (d.parse().ok()?, *m, y.parse().ok()?, *t),
        _ => return None,
    };
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let mut t = time.split(':').map(|x| x.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    if !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    u64::try_from(days * 86400 + hh * 3600 + mm * 60 + ss).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The current time in Unix seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

// ---- Storage -------------------------------------------------------------------

/// A stored response: its head (without the hop-by-hop fields and `Age`) and its body
/// as it came on the wire (framed as its `Content-Length` or `Transfer-Encoding`
/// says, so it is sent back as it came).
#[derive(Debug)]
pub struct Object {
    pub status: u16,
    pub reason: Vec<u8>,
    pub headers: Headers,
    pub body: Vec<u8>,
    /// The response's own `Age` when it was stored.
    pub age: u64,
    pub stored_at: u64,
    /// Unix second after which it is not served.
    pub expire: u64,
    /// The secondary key's hash (`vary:` in `show cache`), 0 without `Vary`.
    pub vary: u64,
}

impl Object {
    /// Bytes held: what `show cache` reports and the blocks are counted from.
    pub fn size(&self) -> usize {
        self.reason.len() + self.headers.wire_len() + self.body.len() + 16
    }

    /// What it holds in memory, allocations and bookkeeping included (the key is kept
    /// three times by [`Store`]): the blocks it takes are counted from this, so the
    /// memory of a cache stays within `total-max-size`.
    pub fn footprint(&self, key: usize) -> usize {
        let headers: usize = self.headers.iter().map(|h| std::mem::size_of::<super::Header>() + h.name.capacity() + h.value.capacity()).sum();
        std::mem::size_of::<Object>() + self.reason.capacity() + self.body.capacity() + headers + 3 * key + STORE_OVERHEAD
    }

    /// The 1 KiB blocks it takes in its cache (`key`: the length of its full key).
    pub fn blocks(&self, key: usize) -> usize {
        self.footprint(key).div_ceil(BLOCK).max(1)
    }

    /// The response served for it at `now`: the stored head, `age`, and the body
    /// unless `head_only` (`HEAD`, or a `304` when `not_modified`).
    pub fn response(&self, now: u64, not_modified: bool, head_only: bool) -> Vec<u8> {
        let age = (now.saturating_sub(self.stored_at) + self.age).min(MAX_AGE_SECS);
        let mut out = Vec::with_capacity(self.size() + 32);
        if not_modified {
            out.extend_from_slice(b"HTTP/1.1 304 Not Modified\r\n");
        } else {
            out.extend_from_slice(format!("HTTP/1.1 {} ", self.status).as_bytes());
            out.extend_from_slice(&self.reason);
            out.extend_from_slice(b"\r\n");
        }
        self.headers.write_to(&mut out);
        out.extend_from_slice(format!("age: {age}\r\n\r\n").as_bytes());
        if !(head_only || not_modified) {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// One cache's objects. `entries` is keyed by (primary key, secondary key); `lru` orders
/// them by last use, oldest first.
#[derive(Debug, Default)]
pub struct Store {
    entries: HashMap<(String, Vec<u8>), Slot>,
    lru: BTreeMap<u64, (String, Vec<u8>)>,
    /// The variants each primary key has (`Vary`), and the headers they vary on.
    variants: HashMap<String, (Vec<&'static str>, usize)>,
    tick: u64,
    used_blocks: usize,
}

#[derive(Debug)]
struct Slot {
    object: Arc<Object>,
    tick: u64,
    blocks: usize,
}

impl Store {
    /// The fresh object for `key` whose variant matches the request's headers, marked
    /// as just used; an expired one is dropped.
    pub fn lookup(&mut self, key: &str, req: &Headers, now: u64) -> Option<Arc<Object>> {
        let names = match self.variants.get(key) {
            Some((names, _)) => names.clone(),
            None => Vec::new(),
        };
        let full = (key.to_string(), secondary_key(req, &names));
        let slot = self.entries.get_mut(&full)?;
        if slot.object.expire <= now {
            self.remove(&full);
            return None;
        }
        self.tick += 1;
        self.lru.remove(&slot.tick);
        slot.tick = self.tick;
        self.lru.insert(self.tick, full.clone());
        Some(slot.object.clone())
    }

    /// Stores `object` under `key`/`secondary`, evicting the least recently used
    /// objects to make room. False when it cannot be stored (larger than the cache, or
    /// too many variants already).
    pub fn insert(&mut self, key: String, names: Vec<&'static str>, secondary: Vec<u8>, object: Object, settings: &Settings) -> bool {
        let blocks = object.blocks(key.len() + secondary.len());
        if blocks > settings.blocks {
            return false;
        }
        let full = (key, secondary);
        self.remove(&full);
        if let Some((known, count)) = self.variants.get(&full.0) {
            if *known != names {
                // The resource now varies otherwise: its old variants go.
                let stale: Vec<_> = self.entries.keys().filter(|k| k.0 == full.0).cloned().collect();
                for k in stale {
                    self.remove(&k);
                }
            } else if *count >= settings.max_secondary && !names.is_empty() {
                return false;
            }
        }
        while self.used_blocks + blocks > settings.blocks {
            let Some((_, oldest)) = self.lru.first_key_value() else { break };
            let oldest = oldest.clone();
            self.remove(&oldest);
        }
        self.tick += 1;
        self.used_blocks += blocks;
        self.lru.insert(self.tick, full.clone());
        let v = self.variants.entry(full.0.clone()).or_insert((names, 0));
        v.1 += 1;
        self.entries.insert(full, Slot { object: Arc::new(object), tick: self.tick, blocks });
        true
    }

    /// Drops every variant of `key` (a successful state-changing method on it: RFC 9111 §4.4).
    pub fn invalidate(&mut self, key: &str) {
        let stale: Vec<_> = self.entries.keys().filter(|k| k.0 == key).cloned().collect();
        for k in stale {
            self.remove(&k);
        }
    }

    fn remove(&mut self, full: &(String, Vec<u8>)) {
        let Some(slot) = self.entries.remove(full) else { return };
        self.lru.remove(&slot.tick);
        self.used_blocks -= slot.blocks;
        if let Some(v) = self.variants.get_mut(&full.0) {
            v.1 -= 1;
            if v.1 == 0 {
                self.variants.remove(&full.0);
            }
        }
    }

    pub fn used_blocks(&self) -> usize {
        self.used_blocks
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every object with its primary key and its blocks, for `show cache`.
    fn objects(&self) -> impl Iterator<Item = (&str, &Arc<Object>, usize)> {
        self.entries.iter().map(|(k, s)| (k.0.as_str(), &s.object, s.blocks))
    }
}

/// One `cache` section at run time.
#[derive(Debug)]
pub struct Cache {
    pub settings: Settings,
    store: Mutex<Store>,
}

impl Cache {
    pub fn new(settings: Settings) -> Cache {
        Cache { settings, store: Mutex::new(Store::default()) }
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        // A panic while holding the lock leaves a consistent store (every change
        // is made whole before the guard drops).
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The process's caches, by name (created once: every thread uses the same).
static CACHES: OnceLock<Mutex<Vec<Arc<Cache>>>> = OnceLock::new();

fn caches() -> std::sync::MutexGuard<'static, Vec<Arc<Cache>>> {
    CACHES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner())
}

/// Creates the caches of the configuration not created yet (threads 2..N find them).
pub fn install(sections: &[CacheSection]) {
    let mut all = caches();
    for s in sections {
        if !all.iter().any(|c| c.settings.name == s.name) {
            all.push(Arc::new(Cache::new(Settings::from_section(s))));
        }
    }
}

/// The cache named `name`.
pub fn find(name: &str) -> Option<Arc<Cache>> {
    caches().iter().find(|c| c.settings.name == name).cloned()
}

// ---- The transaction's part ----------------------------------------------------

/// What the cache knows of one transaction (in [`Txn`]).
#[derive(Debug, Default)]
pub struct TxnCache {
    /// The cache that answered (`res.cache_hit`, `res.cache_name`).
    pub hit: Option<Arc<str>>,
    /// What `cache-use` found: sent once the rest of the request rules let the
    /// request through ([`after_request_rules`]).
    answer: Option<Vec<u8>>,
    /// A response being stored while it is forwarded.
    pending: Option<Box<Pending>>,
}

impl TxnCache {
    /// Whether a response is being stored (the stream feeds it [`on_body`]).
    pub fn storing(&self) -> bool {
        self.pending.is_some()
    }
}

/// A response on its way into a cache.
#[derive(Debug)]
struct Pending {
    cache: Arc<Cache>,
    key: String,
    names: Vec<&'static str>,
    secondary: Vec<u8>,
    object: Object,
}

/// `http-request cache-use <name>`: finds the stored response for this request, if
/// the request may be answered from the cache and a fresh object is there (a `304`
/// when the request's validators match it). As in HAProxy the rules go on: the answer
/// is sent when they are over ([`after_request_rules`]); a later `deny` wins.
pub fn cache_use(name: &str, txn: &mut Txn) {
    if txn.cache.hit.is_some() {
        return;
    }
    if let Some(answer) = lookup(name, txn) {
        txn.cache = TxnCache { hit: Some(Arc::from(name)), answer: Some(answer), pending: None };
    }
}

fn lookup(name: &str, txn: &Txn) -> Option<Vec<u8>> {
    let req = txn.req.as_ref()?;
    if !request_policy(req).serve {
        return None;
    }
    let cache = find(name)?;
    let now = unix_now();
    let object = cache.store().lookup(&primary_key(req), &req.headers, now)?;
    let head_only = req.line.method == Method::Head;
    Some(object.response(now, not_modified(&req.headers, &object), head_only))
}

/// The stream's hook after a proxy's `http-request` rules ended with `verdict`: the
/// answer `cache-use` found, to send instead of going on (`Continue`). Another
/// verdict (`deny`, `return` ...) drops it; while the rules wait it is kept.
pub fn after_request_rules(cache: &mut TxnCache, verdict: &super::rules::Verdict) -> Option<Vec<u8>> {
    use super::rules::Verdict;
    match verdict {
        Verdict::Continue => cache.answer.take(),
        Verdict::Yield(_) | Verdict::Lua(_) | Verdict::Spoe(_) | Verdict::Resolve(_) | Verdict::EarlyHint(_) => None,
        _ => {
            if cache.answer.take().is_some() {
                cache.hit = None;
            }
            None
        }
    }
}

/// `http-response cache-store <name>`: when the request and the response may be
/// stored, the response head is kept and its body will follow ([`on_body`]). A
/// successful state-changing request (`POST`, `PUT`, `DELETE`...: RFC 9111 §4.4) drops what is stored for
/// its URL instead.
pub fn cache_store(name: &str, txn: &mut Txn) {
    // Not what came from a cache, nor a body the proxy compresses on the way out.
    if txn.cache.hit.is_some() || txn.cache.pending.is_some() || txn.comp.active.is_some() {
        return;
    }
    let (Some(req), Some(res), Some(cache)) = (txn.req.as_ref(), txn.res.as_ref(), find(name)) else { return };
    let safe = matches!(req.line.method, Method::Get | Method::Head | Method::Options | Method::Trace);
    if !safe && (200..400).contains(&res.line.status) {
        cache.store().invalidate(&primary_key(req));
        return;
    }
    if !request_policy(req).store || response_policy(res, &cache.settings).is_err() {
        return;
    }
    let now = unix_now();
    let age = res.headers.get("age").and_then(|a| std::str::from_utf8(a).ok()?.trim().parse::<u64>().ok()).unwrap_or(0).min(MAX_AGE_SECS);
    let lifetime = freshness(&res.headers, cache.settings.max_age, now);
    let names = vary_names(&res.headers).unwrap_or_default();
    let res_framing = res.framing;
    let secondary = secondary_key(&req.headers, &names);
    let mut headers = res.headers.clone();
    for hop in ["connection", "keep-alive", "proxy-connection", "age"] {
        headers.del(hop);
    }
    let object = Object {
        status: res.line.status,
        reason: res.line.reason.clone(),
        headers,
        body: Vec::new(),
        age,
        stored_at: now,
        expire: (now + lifetime).saturating_sub(age),
        vary: hash64(&secondary),
    };
    let key = primary_key(req);
    // As HAProxy: the server's `Age` is taken out of the response it forwards too.
    if let Some(res) = txn.res.as_mut() {
        res.headers.del("age");
    }
    if object.size() > cache.settings.max_object {
        return;
    }
    let mut object = object;
    if let BodyFraming::ContentLength(n) = res_framing {
        // The whole body at once: no reallocation while it comes.
        object.body.reserve_exact(n as usize);
    }
    txn.cache.pending = Some(Box::new(Pending { key, names, secondary, object, cache }));
}

/// The stream's hook: `bytes` of the response body (as on the wire) were forwarded;
/// `done` when the response ended. The object is stored once whole; it is dropped
/// when it outgrows `max-object-size`.
pub fn on_body(cache: &mut TxnCache, bytes: &[u8], done: bool) {
    let Some(p) = cache.pending.as_mut() else { return };
    if p.object.size() + bytes.len() > p.cache.settings.max_object {
        cache.pending = None;
        return;
    }
    p.object.body.extend_from_slice(bytes);
    if done {
        let mut p = cache.pending.take().expect("checked above");
        // Growing by doubling may have left up to half of it unused.
        p.object.body.shrink_to_fit();
        let settings = &p.cache.settings;
        p.cache.store().insert(p.key, p.names, p.secondary, p.object, settings);
    }
}

// ---- show cache ----------------------------------------------------------------

/// `show cache`: each cache, then its objects in hash order, as HAProxy 2.6 prints
/// them (addresses are those of moonproxy's structures).
pub fn show() -> String {
    let now = unix_now();
    let mut out = String::new();
    for cache in caches().iter() {
        let store = cache.store();
        let free = cache.settings.blocks - store.used_blocks().min(cache.settings.blocks);
        out.push_str(&format!(
            "{:p}: {} (shctx:{:p}, available blocks:{})\n",
            Arc::as_ptr(cache),
            cache.settings.name,
            &cache.store,
            free
        ));
        let mut rows: Vec<(u32, &Arc<Object>, usize)> = store.objects().map(|(k, o, b)| (hash32(k.as_bytes()), o, b)).collect();
        rows.sort_by_key(|(h, o, _)| (*h, o.vary));
        for (hash, o, blocks) in rows {
            out.push_str(&format!(
                "{:p} hash:{hash} vary:0x{:016x} size:{} ({} blocks), refcount:{}, expire:{}\n",
                Arc::as_ptr(o),
                o.vary,
                o.size(),
                blocks,
                Arc::strong_count(o) - 1,
                o.expire as i64 - now as i64
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests;
