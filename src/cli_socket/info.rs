//! `show info [typed|json|float]`: HAProxy 2.6's process fields, by name, position and
//! tags, in its order. Fields about features moonproxy does not have (SSL, pipes,
//! compression, peers, pools) are present with 0, as HAProxy prints them when unused.

use super::Exec;
use std::time::UNIX_EPOCH;

struct Info {
    pos: u32,
    name: &'static str,
    /// Origin, nature and scope letters (as in `show stat typed`).
    tags: &'static str,
    ty: &'static str,
    /// What `show info desc` appends.
    desc: &'static str,
}

/// HAProxy 2.6's `show info` fields (positions 45, 46 and 51 are not printed by it).
static FIELDS: &[Info] = &[
    Info { pos: 0, name: "Name", tags: "POS", ty: "str", desc: "Product name" },
    Info { pos: 1, name: "Version", tags: "POS", ty: "str", desc: "Product version" },
    Info { pos: 2, name: "Release_date", tags: "POS", ty: "str", desc: "Date of latest source code update" },
    Info { pos: 3, name: "Nbthread", tags: "CGS", ty: "u32", desc: "Number of started threads (global.nbthread)" },
    Info { pos: 4, name: "Nbproc", tags: "CGS", ty: "u32", desc: "Number of started worker processes (historical, always 1)" },
    Info { pos: 5, name: "Process_num", tags: "KGP", ty: "u32", desc: "Relative worker process number (1)" },
    Info { pos: 6, name: "Pid", tags: "SGP", ty: "u32", desc: "This worker process identifier for the system" },
    Info { pos: 7, name: "Uptime", tags: "MDP", ty: "str", desc: "How long ago this worker process was started (days+hours+minutes+seconds)" },
    Info { pos: 8, name: "Uptime_sec", tags: "MDP", ty: "u32", desc: "How long ago this worker process was started (seconds)" },
    Info { pos: 9, name: "Memmax_MB", tags: "CLP", ty: "u32", desc: "Worker process's hard limit on memory usage in MB (-m on command line)" },
    Info { pos: 10, name: "PoolAlloc_MB", tags: "MGP", ty: "u32", desc: "Amount of memory allocated in pools (in MB)" },
    Info { pos: 11, name: "PoolUsed_MB", tags: "MGP", ty: "u32", desc: "Amount of pool memory currently used (in MB)" },
    Info { pos: 12, name: "PoolFailed", tags: "MCP", ty: "u32", desc: "Number of failed pool allocations since this worker was started" },
    Info { pos: 13, name: "Ulimit-n", tags: "CLP", ty: "u32", desc: "Hard limit on the number of per-process file descriptors" },
    Info { pos: 14, name: "Maxsock", tags: "CLP", ty: "u32", desc: "Hard limit on the number of per-process sockets" },
    Info { pos: 15, name: "Maxconn", tags: "CLP", ty: "u32", desc: "Hard limit on the number of per-process connections (configured or imposed by Ulimit-n)" },
    Info { pos: 16, name: "Hard_maxconn", tags: "CLP", ty: "u32", desc: "Hard limit on the number of per-process connections (imposed by Memmax_MB or Ulimit-n)" },
    Info { pos: 17, name: "CurrConns", tags: "MGP", ty: "u32", desc: "Current number of connections on this worker process" },
    Info { pos: 18, name: "CumConns", tags: "MCP", ty: "u32", desc: "Total number of connections on this worker process since started" },
    Info { pos: 19, name: "CumReq", tags: "MCP", ty: "u32", desc: "Total number of requests on this worker process since started" },
    Info { pos: 20, name: "MaxSslConns", tags: "MMP", ty: "u32", desc: "Hard limit on the number of per-process SSL endpoints (front+back), 0=unlimited" },
    Info { pos: 21, name: "CurrSslConns", tags: "MGP", ty: "u32", desc: "Current number of SSL endpoints on this worker process (front+back)" },
    Info { pos: 22, name: "CumSslConns", tags: "MCP", ty: "u32", desc: "Total number of SSL endpoints on this worker process since started (front+back)" },
    Info { pos: 23, name: "Maxpipes", tags: "CLP", ty: "u32", desc: "Hard limit on the number of pipes for splicing, 0=unlimited" },
    Info { pos: 24, name: "PipesUsed", tags: "MGP", ty: "u32", desc: "Current number of pipes in use in this worker process" },
    Info { pos: 25, name: "PipesFree", tags: "MGP", ty: "u32", desc: "Current number of allocated and available pipes in this worker process" },
    Info { pos: 26, name: "ConnRate", tags: "MRP", ty: "u32", desc: "Number of front connections created on this worker process over the last second" },
    Info { pos: 27, name: "ConnRateLimit", tags: "CLP", ty: "u32", desc: "Hard limit for ConnRate (global.maxconnrate)" },
    Info { pos: 28, name: "MaxConnRate", tags: "MMP", ty: "u32", desc: "Highest ConnRate reached on this worker process since started (in connections per second)" },
    Info { pos: 29, name: "SessRate", tags: "MRP", ty: "u32", desc: "Number of sessions created on this worker process over the last second" },
    Info { pos: 30, name: "SessRateLimit", tags: "CLP", ty: "u32", desc: "Hard limit for SessRate (global.maxsessrate)" },
    Info { pos: 31, name: "MaxSessRate", tags: "MRP", ty: "u32", desc: "Highest SessRate reached on this worker process since started (in sessions per second)" },
    Info { pos: 32, name: "SslRate", tags: "MRP", ty: "u32", desc: "Number of SSL connections created on this worker process over the last second" },
    Info { pos: 33, name: "SslRateLimit", tags: "CLP", ty: "u32", desc: "Hard limit for SslRate (global.maxsslrate)" },
    Info { pos: 34, name: "MaxSslRate", tags: "MMP", ty: "u32", desc: "Highest SslRate reached on this worker process since started (in connections per second)" },
    Info { pos: 35, name: "SslFrontendKeyRate", tags: "MGP", ty: "u32", desc: "Number of SSL keys created on frontends in this worker process over the last second" },
    Info { pos: 36, name: "SslFrontendMaxKeyRate", tags: "MMP", ty: "u32", desc: "Highest SslFrontendKeyRate reached on this worker process since started (in SSL keys per second)" },
    Info { pos: 37, name: "SslFrontendSessionReuse_pct", tags: "MGP", ty: "u32", desc: "Percent of frontend SSL connections which did not require a new key" },
    Info { pos: 38, name: "SslBackendKeyRate", tags: "MRP", ty: "u32", desc: "Number of SSL keys created on backends in this worker process over the last second" },
    Info { pos: 39, name: "SslBackendMaxKeyRate", tags: "MMP", ty: "u32", desc: "Highest SslBackendKeyRate reached on this worker process since started (in SSL keys per second)" },
    Info { pos: 40, name: "SslCacheLookups", tags: "MCP", ty: "u32", desc: "Total number of SSL session ID lookups in the SSL session cache on this worker since started" },
    Info { pos: 41, name: "SslCacheMisses", tags: "MCP", ty: "u32", desc: "Total number of SSL session ID lookups that didn't find a session in the SSL session cache on this worker since started" },
    Info { pos: 42, name: "CompressBpsIn", tags: "MRP", ty: "u32", desc: "Number of bytes submitted to the HTTP compressor in this worker process over the last second" },
    Info { pos: 43, name: "CompressBpsOut", tags: "MRP", ty: "u32", desc: "Number of bytes emitted by the HTTP compressor in this worker process over the last second" },
    Info { pos: 44, name: "CompressBpsRateLim", tags: "CLP", ty: "u32", desc: "Limit of CompressBpsOut beyond which HTTP compression is automatically disabled" },
    Info { pos: 47, name: "Tasks", tags: "MGP", ty: "u32", desc: "Total number of tasks in the current worker process (active + sleeping)" },
    Info { pos: 48, name: "Run_queue", tags: "MGP", ty: "u32", desc: "Total number of active tasks+tasklets in the current worker process" },
    Info { pos: 49, name: "Idle_pct", tags: "MaP", ty: "u32", desc: "Percentage of last second spent waiting in the current worker thread" },
    Info { pos: 50, name: "node", tags: "COS", ty: "str", desc: "Node name (global.node)" },
    Info { pos: 52, name: "Stopping", tags: "MGP", ty: "u32", desc: "1 if the worker process is currently stopping, otherwise zero" },
    Info { pos: 53, name: "Jobs", tags: "MGP", ty: "u32", desc: "Current number of active jobs on the current worker process (frontend connections, master connections, listeners)" },
    Info { pos: 54, name: "Unstoppable Jobs", tags: "MGP", ty: "u32", desc: "Current number of unstoppable jobs on the current worker process (master connections)" },
    Info { pos: 55, name: "Listeners", tags: "MGP", ty: "u32", desc: "Current number of active listeners on the current worker process" },
    Info { pos: 56, name: "ActivePeers", tags: "MGP", ty: "u32", desc: "Current number of verified active peers connections on the current worker process" },
    Info { pos: 57, name: "ConnectedPeers", tags: "MGP", ty: "u32", desc: "Current number of peers having passed the connection step on the current worker process" },
    Info { pos: 58, name: "DroppedLogs", tags: "MGP", ty: "u32", desc: "Total number of dropped logs for current worker process since started" },
    Info { pos: 59, name: "BusyPolling", tags: "MGP", ty: "u32", desc: "1 if busy-polling is currently in use on the worker process, otherwise zero (config.busy-polling)" },
    Info { pos: 60, name: "FailedResolutions", tags: "MGP", ty: "u32", desc: "Total number of failed DNS resolutions in current worker process since started" },
    Info { pos: 61, name: "TotalBytesOut", tags: "MGP", ty: "u64", desc: "Total number of bytes emitted by current worker process since started" },
    Info { pos: 62, name: "TotalSplicdedBytesOut", tags: "MGP", ty: "u64", desc: "Total number of bytes emitted by current worker process through a kernel pipe since started" },
    Info { pos: 63, name: "BytesOutRate", tags: "MRP", ty: "u64", desc: "Number of bytes emitted by current worker process over the last second" },
    Info { pos: 64, name: "DebugCommandsIssued", tags: "MGP", ty: "u32", desc: concat!("Number of debug commands issued on this process (anything > 0 is un", "safe)") },
    Info { pos: 65, name: "CumRecvLogs", tags: "MCP", ty: "u32", desc: "Total number of log messages received by log-forwarding listeners on this worker process since started" },
    Info { pos: 66, name: "Build info", tags: "POS", ty: "str", desc: "Build info" },
    Info { pos: 67, name: "Memmax_bytes", tags: "CLP", ty: "u32", desc: "Worker process's hard limit on memory usage in byes (-m on command line)" },
    Info { pos: 68, name: "PoolAlloc_bytes", tags: "MGP", ty: "u64", desc: "Amount of memory allocated in pools (in bytes)" },
    Info { pos: 69, name: "PoolUsed_bytes", tags: "MGP", ty: "u64", desc: "Amount of pool memory currently used (in bytes)" },
    Info { pos: 70, name: "Start_time_sec", tags: "MDP", ty: "u32", desc: "Start time in seconds" },
    Info { pos: 71, name: "Tainted", tags: "SGP", ty: "str", desc: "Experimental features used" },
];

/// A field's value.
enum V {
    Str(String),
    Int(u64),
    /// Seconds with microseconds (`float`; an integer otherwise).
    Secs(f64),
}

fn value(exec: &Exec<'_>, name: &str) -> V {
    let p = exec.host.process();
    let now = exec.host.now();
    let (started, started_wall) = exec.shared.started;
    let up = now.saturating_duration_since(started);
    let proxies = exec.host.proxies();
    let fe = || proxies.iter().filter(|p| p.cap.frontend);
    let listeners = (p.listeners + exec.shared.sockets.len()) as u64;
    match name {
        "Name" => V::Str("moonproxy".into()),
        "Version" | "Build info" => V::Str(crate::version::VERSION.into()),
        "Release_date" => V::Str(String::new()),
        "Nbthread" => V::Int(u64::from(p.nbthread.max(1))),
        "Nbproc" | "Process_num" => V::Int(1),
        "Pid" => V::Int(u64::from(std::process::id())),
        "Uptime" => {
            let s = up.as_secs();
            V::Str(format!("{}d {}h{:02}m{:02}s", s / 86400, s / 3600 % 24, s / 60 % 60, s % 60))
        }
        "Uptime_sec" => V::Secs(up.as_secs_f64()),
        "Start_time_sec" => V::Secs(started_wall.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())),
        "Ulimit-n" | "Maxsock" => V::Int(nofile()),
        "Maxconn" => V::Int(u64::from(p.maxconn)),
        "Hard_maxconn" => V::Int(u64::from(p.hard_maxconn)),
        "CurrConns" => V::Int(u64::from(p.actconn)),
        // The CLI's own connections count, as in HAProxy (its sockets are listeners of
        // its `GLOBAL` frontend).
        "CumConns" => V::Int(fe().map(|p| p.cum_fe).sum::<u64>() + exec.shared.accepted + p.cum_conns_elsewhere),
        // HAProxy counts each CLI connection as a request too (it is a stream).
        "CumReq" => V::Int(fe().map(|p| p.counters.fe.req_tot).sum::<u64>() + exec.shared.accepted + p.cum_req_elsewhere),
        "Idle_pct" => V::Int(100),
        "node" => V::Str(std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_default()),
        "Stopping" => V::Int(u64::from(p.stopping)),
        "Jobs" => V::Int(u64::from(p.actconn) + listeners + exec.shared.cli_sessions.len() as u64),
        "Listeners" => V::Int(listeners),
        "CumRecvLogs" => V::Int(crate::log::forward::received_total()),
        "Tainted" => V::Str(if exec.shared.tainted { "0x1" } else { "0" }.into()),
        _ => V::Int(0),
    }
}

/// The soft `RLIMIT_NOFILE`, read from `/proc/self/limits` (0 if unreadable).
fn nofile() -> u64 {
    let text = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l["Max open files".len()..].split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn text(v: &V, float: bool) -> String {
    match v {
        V::Str(s) => s.clone(),
        V::Int(n) => n.to_string(),
        V::Secs(s) if float => format!("{s:.6}"),
        V::Secs(s) => (*s as u64).to_string(),
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `show info [typed|json|float|desc]*`.
pub fn show_info(exec: &mut Exec<'_>, args: &[String]) -> String {
    let has = |w: &str| args.iter().any(|a| a == w);
    let (typed, json, float, desc) = (has("typed"), has("json"), has("float"), has("desc"));
    let mut out = String::with_capacity(4096);
    if json {
        out.push('[');
    }
    for (i, f) in FIELDS.iter().enumerate() {
        let v = value(exec, f.name);
        if json {
            let (origin, nature, scope) = crate::stats::typed::tag_names(f.tags);
            let value = match (&v, f.ty) {
                (V::Str(s), _) => json_str(s),
                (v, _) => text(v, float),
            };
            if i > 0 {
                out.push(',');
            }
            out.push_str(&format!(
                "{{\"field\":{{\"pos\":{},\"name\":{}}},\"processNum\":1,\"tags\":{{\"origin\":\"{origin}\",\"nature\":\"{nature}\",\"scope\":\"{scope}\"}},\"value\":{{\"type\":\"{}\",\"value\":{value}}}}}",
                f.pos,
                json_str(f.name),
                f.ty
            ));
        } else if typed {
            out.push_str(&format!("{}.{}.1:{}:{}:{}", f.pos, f.name, f.tags, f.ty, text(&v, float)));
        } else {
            out.push_str(&format!("{}: {}", f.name, text(&v, float)));
        }
        if !json {
            if desc {
                out.push_str(&format!(":\"{}\"", f.desc));
            }
            out.push('\n');
        }
    }
    if json {
        out.push_str("]\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_increase_and_names_are_unique() {
        assert!(FIELDS.windows(2).all(|w| w[0].pos < w[1].pos));
        let mut names: Vec<_> = FIELDS.iter().map(|f| f.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), FIELDS.len());
        assert_eq!(FIELDS.last().unwrap().name, "Tainted");
    }

    #[test]
    fn limits_are_readable() {
        assert!(nofile() > 0);
    }
}
