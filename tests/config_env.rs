//! Environment variables in addresses outside double quotes: HAProxy 2.6 expands `$NAME`
//! and `${NAME}` in `bind` and `server` addresses wherever they stand, and configurations
//! written for containers rely on it (`bind *:$PORT`, `server s ${HOST}:80`,
//! `$REGION.$APP.internal:5433`). Both proxies run the same file with the same environment.

mod common;

use common::*;
use std::time::Duration;

#[test]
fn bind_and_server_addresses_expand_unquoted_variables_as_in_haproxy() {
    let backend = Backend::http(b"through");
    for bin in moonproxy_and_haproxy() {
        let fe = free_port();
        let mut proxy = ProxyBuilder::new(
            "defaults\n mode http\n timeout client 5s\n timeout server 5s\n timeout connect 5s\n\
             frontend f\n bind $MP_T_HOST:$MP_T_PORT\n default_backend b\n\
             backend b\n server s ${MP_T_HOST}:$MP_T_BE$MP_T_UNSET\n",
        )
        .bin(&bin)
        .env("MP_T_HOST", "127.0.0.1")
        .env("MP_T_PORT", &fe.to_string())
        .env("MP_T_BE", &backend.port().to_string())
        .spawn();
        let up = wait_until(Duration::from_secs(10), || is_listening(fe) || proxy.try_exit_status().is_some());
        assert!(up && is_listening(fe), "{} did not listen on $MP_T_PORT: {:?}", bin.display(), proxy.lines());
        let r = Client::connect(fe).http_get("/");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"through"[..]), "{}", bin.display());
        proxy.stop();
    }
}

#[test]
fn an_unset_variable_leaves_the_port_missing_in_both() {
    for bin in moonproxy_and_haproxy() {
        let out = ProxyBuilder::new(
            "defaults\n mode http\n timeout client 5s\n timeout server 5s\n timeout connect 5s\n\
             frontend f\n bind 127.0.0.1:$MP_T_NOT_SET_ANYWHERE\n",
        )
        .bin(&bin)
        .flags(["-c"])
        .run();
        assert_ne!(out.code(), Some(0), "{} accepted a bind without a port", bin.display());
        assert!(out.stderr.contains(":7]"), "{}: the line is named:\n{}", bin.display(), out.stderr);
    }
}
