//! Servers added and removed at run time, and their connections: `add server`,
//! `del server`, `enable agent`, `disable agent`, `show servers conn`. What they
//! change on every thread is in `runtime/world/dynamic.rs`.

use super::Exec;
use crate::http::persist::DynamicCookieOp;

/// `<backend>/<server>` split, the backend looked up (`Err`: HAProxy's answer).
fn backend_and_name<'a>(exec: &Exec<'_>, arg: Option<&'a String>) -> Result<(usize, &'a str), String> {
    let Some((b, s)) = arg.and_then(|a| a.split_once('/')) else { return Err("Require 'backend/server'.".into()) };
    match exec.host.proxies().iter().position(|p| p.name == b && p.cap.backend) {
        Some(be) if exec.host.backend(be).is_some() => Ok((be, s)),
        _ => Err("No such backend.".into()),
    }
}

/// `add server <backend>/<server> <addr> [args]*`. As in HAProxy 2.6, the errors
/// found before the server's words are read end without the empty line.
pub fn add_server(exec: &mut Exec<'_>, args: &[String]) -> String {
    let (be, name) = match backend_and_name(exec, args.first()) {
        Ok(x) => x,
        Err(e) => return exec.err(e),
    };
    if !exec.host.backend(be).is_some_and(|b| b.allows_dynamic_servers()) {
        return exec.err("Backend must use a dynamic load balancing to support dynamic servers.");
    }
    match exec.host.add_server(be, name, &args[1..]) {
        Ok(()) => exec.info("New server registered.\n"),
        Err(e) => exec.err(format!("{e}\n")),
    }
}

/// `del server <backend>/<server>`. HAProxy 2.6 answers it, success or not, without
/// the empty line that ends other answers.
pub fn del_server(exec: &mut Exec<'_>, args: &[String]) -> String {
    let (be, name) = match backend_and_name(exec, args.first()) {
        Ok(x) => x,
        Err(e) => return exec.err(e),
    };
    let Some(srv) = exec.host.backend(be).and_then(|b| b.server_by_name(name)) else { return exec.err("No such server.") };
    match exec.host.del_server(be, srv.0) {
        Ok(()) => exec.info("Server deleted."),
        Err(e) => exec.err(e),
    }
}

/// `enable agent <backend>/<server>`, `disable agent <backend>/<server>`.
fn set_agent(exec: &mut Exec<'_>, args: &[String], enabled: bool) -> String {
    let (be, name) = match backend_and_name(exec, args.first()) {
        Ok(x) => x,
        Err(e) => return exec.err(format!("{e}\n")),
    };
    let Some(srv) = exec.host.backend(be).and_then(|b| b.server_by_name(name)) else { return exec.err("No such server.\n") };
    let configured = exec.host.backend(be).is_some_and(|b| b.server(srv).tuning().agent.enabled);
    if enabled && !configured {
        return exec.err("Agent was not configured on this server, cannot enable.\n");
    }
    exec.host.set_agent(be, srv.0, enabled);
    String::new()
}

pub fn enable_agent(exec: &mut Exec<'_>, args: &[String]) -> String {
    set_agent(exec, args, true)
}

pub fn disable_agent(exec: &mut Exec<'_>, args: &[String]) -> String {
    set_agent(exec, args, false)
}

/// `show servers conn [<backend>]`: HAProxy 2.6's header and one line per server. The
/// per-thread idle counts are this thread's connections (the CLI's, thread 1) then 0
/// for the others; `used_max` and `need_est` (HAProxy's estimates between two purges)
/// are the connections in use now.
pub fn show_servers_conn(exec: &mut Exec<'_>, args: &[String]) -> String {
    let proxies = exec.host.proxies();
    let only = match args.first() {
        Some(name) => match proxies.iter().position(|p| (&p.name == name || format!("#{}", p.uuid) == *name) && p.cap.backend) {
            Some(i) => Some(i),
            None => return exec.err("Can't find backend.\n"),
        },
        None => None,
    };
    let threads = crate::runtime::threads::local().map_or(1, |l| l.threads());
    let mut out = format!(
        "# bkname/svname bkid/svid addr port - purge_delay used_cur used_max need_est unsafe_nb safe_nb idle_lim idle_cur idle_per_thr[{threads}]\n"
    );
    let pool = exec.host.pool();
    for (be, p) in proxies.iter().enumerate().filter(|(i, p)| p.cap.backend && !p.declared_disabled && only.is_none_or(|o| o == *i)) {
        let Some(b) = exec.host.backend(be) else { continue };
        for (id, s) in b.iter_servers() {
            let (ip, port) = crate::lua::api::world::ip_port(s.addr());
            let addr = ip.filter(|ip| !ip.is_unspecified()).map_or_else(|| "-".to_string(), |ip| ip.to_string());
            let conf = exec.host.idle_conf(be, id.0);
            let used = pool.server_conns(be, id.0);
            let idle = pool.idle_conns(be, id.0);
            let limit = conf.max_conn.map_or(-1, i64::from);
            out.push_str(&format!(
                "{}/{} {}/{} {addr} {} - {} {used} {used} {used} {idle} 0 {limit} {idle}",
                p.name,
                s.name(),
                p.uuid,
                s.puid(),
                port.unwrap_or(0),
                conf.purge_delay.as_millis(),
            ));
            // HAProxy keeps per-thread idle lists only for servers that may keep idle
            // connections.
            if limit != 0 {
                out.push_str(&format!(" {idle}"));
                for _ in 1..threads {
                    out.push_str(" 0");
                }
            }
            out.push('\n');
        }
    }
    out
}

/// `enable|disable dynamic-cookie backend <b>`, `set dynamic-cookie-key backend <b> <k>`
/// (`args`: the words after `backend`).
fn dynamic_cookie(exec: &mut Exec<'_>, args: &[String], op: impl FnOnce(Option<&String>) -> Option<DynamicCookieOp>) -> String {
    let Some(name) = args.first() else { return exec.err("A backend name is expected.\n") };
    let Some(be) = exec.host.proxies().iter().position(|p| &p.name == name && p.cap.backend) else { return exec.err("No such backend.\n") };
    let Some(op) = op(args.get(1)) else { return exec.err("String value expected.\n") };
    exec.host.dynamic_cookie(be, op);
    String::new()
}

pub fn enable_dynamic_cookie(exec: &mut Exec<'_>, args: &[String]) -> String {
    dynamic_cookie(exec, args, |_| Some(DynamicCookieOp::Enable(true)))
}

pub fn disable_dynamic_cookie(exec: &mut Exec<'_>, args: &[String]) -> String {
    dynamic_cookie(exec, args, |_| Some(DynamicCookieOp::Enable(false)))
}

pub fn set_dynamic_cookie_key(exec: &mut Exec<'_>, args: &[String]) -> String {
    dynamic_cookie(exec, args, |key| key.map(|k| DynamicCookieOp::Key(k.clone())))
}
