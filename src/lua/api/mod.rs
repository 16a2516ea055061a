//! The Lua-visible HAProxy API (HAProxy's hlua_fcn.c and hlua.c counterparts).
//!
//! - [`core`]: the `core` table, `lua-load`, `register_*`, tasks, logs, sleeps.
//! - [`concat`]: the Concat class (`core.concat()`).
//! - [`text`]: `core.tokenize` and other string helpers.
//! - [`addr`]: `core.parse_addr`, `core.match_addr`.
//! - [`regex`]: the Regex class.
//! - [`certcache`]: the CertCache class (certificates replaced at run time).
//! - [`world`]: `core.proxies/frontends/backends`, Proxy, Server, Listener, `core.get_info`, dates.
//! - [`map`]: the Map class and `core.set_map`, `del_map`, `add_acl`, `del_acl`.
//! - [`blocking`]: detection of blocking calls (`io.*`, `os.execute`, `print`...) at run time.
//! - [`socket`]: `core.tcp()` and the Socket class on the reactor.
//! - [`txn`]: the `TXN` class (with `txn.http`, `txn.f`, `txn.sf`) of Lua actions.
//! - [`applet`]: the `AppletHTTP` class of Lua services.
//! - [`httpclient`]: `core.httpclient()` and the HTTPClient class, over [`socket`].
pub mod addr;
pub mod applet;
pub mod applet_tcp;
pub mod blocking;
pub mod certcache;
pub mod channel;
pub mod concat;
pub mod core;
pub mod fetches;
pub mod filter;
pub mod filter_msg;
pub mod httpclient;
pub mod map;
pub mod regex;
pub mod socket;
pub mod stktable;
pub mod text;
pub mod txn;
pub mod txn_extra;
pub mod world;
