//! HAProxy's one-line traceback (`hlua_traceback(L, ", ")`), rebuilt from Lua's
//! `luaL_traceback` text: `[C]: in global 'error', t.lua:2: in function line 2`.

/// Turns `stack traceback:\n\t[C]: in function 'error'\n\tt.lua:2: in function <t.lua:1>`
/// into HAProxy's shape. Lua 5.4 names global functions `function 'name'` (HAProxy prints
/// `global 'name'`) and anonymous ones `function <file:line>` (HAProxy: `function line N`);
/// other entries (`in main chunk`, `in method 'x'`, `in local 'f'`...) are kept; tail calls
/// become ` ...`.
pub fn haproxy_traceback(lua: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    for line in lua.lines().map(str::trim) {
        if line.is_empty() || line == "stack traceback:" {
            continue;
        }
        if line.starts_with("(...tail calls...)") {
            if let Some(last) = parts.last_mut() {
                last.push_str(" ...");
            }
            continue;
        }
        let converted = if let Some((at, what)) = line.split_once(": in ") {
            let what = if let Some(name) = what.strip_prefix("function '") {
                format!("global '{name}")
            } else if let Some(rest) = what.strip_prefix("function <") {
                let n = rest.trim_end_matches('>').rsplit(':').next().unwrap_or("?");
                format!("function line {n}")
            } else {
                what.to_string()
            };
            format!("{at}: in {what}")
        } else {
            line.to_string()
        };
        parts.push(converted);
    }
    parts.join(", ")
}


/// HAProxy's ` from <traceback>` after an error message, or nothing without a traceback.
/// `wrapped`: the function was called through one of our Lua wrappers (actions, fetches,
/// converters), whose tail call is not the script's and is left out.
pub fn from_clause(traceback: &str, wrapped: bool) -> String {
    let tb = traceback.trim_end();
    let tb = if wrapped { tb.strip_suffix("(...tail calls...)").unwrap_or(tb) } else { tb };
    let tb = haproxy_traceback(tb);
    if tb.is_empty() {
        String::new()
    } else {
        format!(" from {tb}")
    }
}

/// The message of a Lua error as HAProxy prints it: an error object that is not a string
/// (`error({})`, `error()`) is an "unknown runtime error".
pub fn error_message(message: String) -> String {
    if message.starts_with("(error object is a") {
        "unknown runtime error".to_string()
    } else {
        message
    }
}

/// HAProxy's report of a Lua error, after `Lua <kind> '<name>': `: `[state-id 0] runtime
/// error: <message> from <traceback>`, or, for an error object that is not a string
/// (`error({})`, `error()`), `[state-id 0] unknown runtime error from <traceback>`
/// (compared with HAProxy 2.6 for tasks and CLI commands, whose resume path actions,
/// fetches and services share). `wrapped`: as for [`from_clause`].
pub fn runtime_error(message: String, traceback: &str, wrapped: bool) -> String {
    let from = from_clause(traceback, wrapped);
    if message.starts_with("(error object is a") {
        format!("[state-id 0] unknown runtime error{from}")
    } else {
        format!("[state-id 0] runtime error: {message}{from}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_of_haproxy() {
        let lua = "stack traceback:\n\t[C]: in function 'error'\n\t/tmp/t.lua:2: in function </tmp/t.lua:2>\n\t(...tail calls...)";
        assert_eq!(
            haproxy_traceback(lua),
            "[C]: in global 'error', /tmp/t.lua:2: in function line 2 ..."
        );
        assert_eq!(
            haproxy_traceback("stack traceback:\n\tx.lua:1: in main chunk"),
            "x.lua:1: in main chunk"
        );
    }
}
