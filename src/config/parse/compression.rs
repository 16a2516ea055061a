//! HTTP compression keywords: `compression algo|type|offload` and `filter compression`
//! in proxies, `tune.comp.maxlevel`, `maxcomprate`, `maxcompcpuusage`, `maxzlibmem` and
//! `tune.zlib.*` in `global`. The runtime side is `crate::http::compress`.
//!
//! Messages are worded as HAProxy 2.6 words them. Like HAProxy, repeated
//! `compression algo` / `compression type` lines add to what the section has (including
//! what it inherited from `defaults`).

use super::{atoi, expect_args, Line, Parser};
use crate::config::keywords::Section;
use crate::config::model::{Compression, CompressionAlgo};

/// `compression algo <algo>...`, `compression type <mime>...`, `compression offload`.
pub fn compression(p: &mut Parser, l: &Line) -> Result<(), String> {
    let section = p.draft().section;
    match l.arg(1) {
        "algo" => {
            if l.arg(2).is_empty() {
                return Err("'compression' expects <algorithm>.".into());
            }
            let mut algos = Vec::new();
            for name in &l.args[2..] {
                match CompressionAlgo::from_name(name) {
                    Some(a) => algos.push(a),
                    None => return Err(format!("'compression' : '{name}' is not a supported algorithm.")),
                }
            }
            settings(p).algos.extend(algos);
        }
        "type" => {
            if l.arg(2).is_empty() {
                return Err("'compression' expects <type>.".into());
            }
            let types = l.args[2..].to_vec();
            settings(p).types.extend(types);
        }
        "offload" => {
            // HAProxy ignores further words here.
            if section == Section::Defaults {
                p.warn(&l.loc, "'compression' : 'offload' ignored in 'defaults' section.");
                return Ok(());
            }
            settings(p).offload = true;
        }
        _ => return Err("'compression' expects 'algo', 'type' or 'offload'".into()),
    }
    Ok(())
}

/// The section's compression settings, created on first use.
fn settings(p: &mut Parser) -> &mut Compression {
    p.draft().proxy.compression.get_or_insert_with(Compression::default)
}

/// `filter compression` is accepted: the compression of the `compression` lines is the
/// only native filter, so its place in a filter chain does not matter. `filter
/// lua.<name> [args...]` declares a Lua filter (`crate::stream::filter`); `filter cache
/// <name>` and `filter fcgi-app <name>` the filters `cache-use`/`cache-store` and
/// `use-fcgi-app` imply; `filter spoe` an SPOE engine (`crate::spoe`); `filter trace` is
/// accepted without effect. HAProxy 2.6 has no other (`bwlim-*` came with 2.7): any
/// other name is an unknown keyword.
pub fn filter(p: &mut Parser, l: &Line) -> Result<(), String> {
    match l.arg(1) {
        "" => Err(format!("missing argument for 'filter' in {}.", p.draft().describe())),
        "compression" => match l.args.get(2) {
            Some(extra) => Err(format!("'filter compression' : unknown keyword '{extra}'.")),
            None => Ok(()),
        },
        lua if lua.starts_with("lua.") => {
            // Checked against `core.register_filter` once the Lua files ran
            // (`crate::lua::api::filter::resolve`).
            let conf = crate::config::model::LuaFilterConf {
                name: lua["lua.".len()..].to_string(),
                args: l.args[2..].to_vec(),
                location: l.loc.clone(),
            };
            p.draft().proxy.lua_filters.push(conf);
            Ok(())
        }
        "cache" => match (l.args.get(2), l.args.get(3)) {
            (None, _) => Err("'filter' : 'cache : expects a <name> argument'".into()),
            (_, Some(extra)) => Err(format!("'filter cache' : unknown keyword '{extra}'.")),
            (Some(name), None) => {
                let r = crate::config::model::NamedRef { name: name.clone(), location: l.loc.clone() };
                p.draft().proxy.cache_filters.push(r);
                Ok(())
            }
        },
        // What `use-fcgi-app` declares implicitly, written out (to place it among other
        // filters, which moonproxy's single native filter chain does not need).
        "fcgi-app" => match (l.args.get(2), l.args.get(3)) {
            (None, _) => Err("'filter' : 'fcgi-app : expects a <name> argument'".into()),
            (_, Some(extra)) => Err(format!("'filter fcgi-app' : unknown keyword '{extra}'.")),
            (Some(name), None) => {
                p.draft().proxy.use_fcgi_app = Some(name.clone());
                Ok(())
            }
        },
        "spoe" => spoe(p, l),
        "trace" => trace(p, l),
        other => Err(format!("'filter' : unknown keyword '{other}'.")),
    }
}

/// `filter spoe [engine <name>] config <file>`: the SPOE file's scope is read now, its
/// errors reported at their own lines (`crate::spoe::conf`).
fn spoe(p: &mut Parser, l: &Line) -> Result<(), String> {
    let (mut engine, mut file) = (None, None);
    let mut i = 2;
    while i < l.args.len() {
        let value = l.args.get(i + 1).map(String::as_str);
        match (l.arg(i), value) {
            ("engine", Some(v)) if !v.is_empty() => engine = Some(v.to_string()),
            ("config", Some(v)) if !v.is_empty() => file = Some(v.to_string()),
            ("engine" | "config", _) => return Err(format!("'filter' : ''spoe' : '{}' option without value'", l.arg(i))),
            (other, _) => return Err(format!("'filter' : 'unknown keyword '{other}''")),
        }
        i += 2;
    }
    let Some(file) = file else {
        return Err("'filter' : ''spoe' : missing config file'".into());
    };
    let conf = match crate::spoe::conf::read(&file, engine.as_deref(), &p.env, p.config.global.bufsize, &l.loc) {
        Ok(c) => c,
        Err(refused) => {
            for d in refused.alerts {
                p.push(d);
            }
            return Err(format!("'filter' : '{}'", refused.filter_error));
        }
    };
    // Two engines of the same name are refused after parsing (`crate::spoe::conf::check`).
    p.draft().proxy.spoe_filters.push(conf);
    Ok(())
}

/// `filter trace [name <name>] [random-parsing] [random-forwarding] [hexdump]`:
/// checked as HAProxy 2.6 checks it, then accepted without effect, with a warning.
///
/// HAProxy's trace filter is a tool for its own filter API: it prints on stderr each
/// callback HAProxy makes to a filter (attach, `channel_start_analyze`, `http_headers`,
/// `http_payload` with HTX offsets and lengths...), and its `random-*` options change
/// how much of the data HAProxy parses and forwards at once, to exercise that API.
/// moonproxy's streams have no such callbacks (its filters are `compression`, `cache`
/// and Lua's, over buffers of its own), so lines in HAProxy's form would describe
/// events that did not happen. What users add it for, seeing a stream's steps while
/// debugging, `-d` and the log already show.
fn trace(p: &mut Parser, l: &Line) -> Result<(), String> {
    let mut words = l.args[2..].iter();
    while let Some(w) = words.next() {
        match w.as_str() {
            "name" => {
                if words.next().is_none() {
                    return Err("'filter' : ''trace' : 'name' option without value'".into());
                }
            }
            "random-parsing" | "random-forwarding" | "hexdump" => {}
            other => return Err(format!("'filter trace' : unknown keyword '{other}'.")),
        }
    }
    p.warn(&l.loc, "'filter trace' has no effect in moonproxy: its streams have none of the filter callbacks HAProxy's trace filter prints (see doc/http.md). Ignored.");
    Ok(())
}

/// `tune.comp.maxlevel <1..9>`.
pub fn maxlevel(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_max_args(l, 1)?;
    let level = l.arg(1).parse::<u32>().ok().filter(|n| (1..=9).contains(n));
    let Some(level) = level else {
        return Err("'tune.comp.maxlevel' expects a numeric value between 1 and 9".into());
    };
    p.config.global.compression.maxlevel = level;
    Ok(())
}

/// `maxcomprate <kB/s>` (recorded).
pub fn maxcomprate(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(1).is_empty() {
        return Err("'maxcomprate' expects an integer argument in kb/s.".into());
    }
    expect_max_args(l, 1)?;
    p.config.global.compression.maxcomprate = u32::try_from(atoi(l.arg(1)).max(0)).unwrap_or(u32::MAX);
    Ok(())
}

/// `maxcompcpuusage <0..100>` (recorded).
pub fn maxcompcpuusage(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_max_args(l, 1)?;
    let pct = atoi(l.arg(1));
    if l.arg(1).is_empty() || !(0..=100).contains(&pct) {
        return Err("'maxcompcpuusage' expects an integer argument between 0 and 100.".into());
    }
    p.config.global.compression.maxcompcpuusage = pct as u32;
    Ok(())
}

/// `maxzlibmem <MB>` (recorded).
pub fn maxzlibmem(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(1).is_empty() {
        return Err("'maxzlibmem' expects an integer argument.".into());
    }
    expect_max_args(l, 1)?;
    p.config.global.compression.maxzlibmem = u64::try_from(atoi(l.arg(1)).max(0)).unwrap_or(0);
    Ok(())
}

/// `tune.zlib.memlevel <1..9>` and `tune.zlib.windowsize <8..15>` (recorded; HAProxy
/// builds with zlib have them, builds with libslz such as Debian's do not).
pub fn zlib(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_max_args(l, 1)?;
    let kw = l.arg(0);
    let (range, field) = match kw {
        "tune.zlib.memlevel" => (1..=9, &mut p.config.global.compression.zlib_memlevel),
        _ => (8..=15, &mut p.config.global.compression.zlib_windowsize),
    };
    match l.arg(1).parse::<u32>().ok().filter(|n| range.contains(n)) {
        Some(n) => *field = n,
        None => return Err(format!("'{kw}' expects a numeric value between {} and {}.", range.start(), range.end())),
    }
    Ok(())
}

/// At most `n` arguments (HAProxy's message for one too many).
fn expect_max_args(l: &Line, n: usize) -> Result<(), String> {
    if l.args.len() > n + 1 {
        return expect_args(l, n, "");
    }
    Ok(())
}
