//! moonproxy: a TCP and HTTP/1.1 reverse proxy and load balancer driven by HAProxy's
//! configuration language and scriptable with HAProxy's Lua API.
//!
//! # Map
//!
//! Data path (see `doc/architecture.md` and `doc/lifetime-of-a-stream.md`):
//! [`reactor`] (mio poll, timers, run queue) → [`listener`] (accept) → [`stream`]
//! (one per client connection, a state machine) → [`backend`] (server selection, queue,
//! connect, retries, health checks) → forwarding through the stream's channels →
//! termination code and [`log`] line → slab removal.
//!
//! Configuration: [`config`] (lexer, `.if` conditions, keyword table, typed model) is
//! read once by `main.rs` and turned into the runtime by [`runtime`].
//!
//! Operations: [`cli_socket`] (the stats socket CLI, `doc/cli.md`); [`master`]
//! (master-worker mode: `-W`, reloads, the master CLI, `doc/operations.md`).
//!
//! Statistics: [`stats`] (per-frontend/backend/server counters, HAProxy's `show stat`
//! rows and formats, the stats page; see `doc/stats.md`).
//!
//! Unsafe code lives only in the `ffi` crate, [`lua`] and [`sys`].

pub mod backend;
pub mod cli;
pub mod cli_socket;
pub mod config;
pub mod diag;
pub mod dns;
pub mod http;
pub mod listener;
pub mod log;
pub mod lua;
pub mod master;
pub mod reactor;
pub mod runtime;
pub mod sample;
pub mod spoe;
pub mod stats;
pub mod stick;
pub mod peers;
pub mod proxy_protocol;
pub mod stream;
pub mod tls;
pub mod varint;
pub mod sys;
pub mod version;
