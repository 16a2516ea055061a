//! What a Rust function called from Lua reaches of the running process.
//!
//! Lua runs only when the reactor resumes a coroutine (a task today; a stream's actions,
//! fetches and services, and CLI commands with issue 6). Around each resume the runtime
//! *enters* a [`Host`] ([`enter`]): the reactor's context (poll registry, timers, run
//! queue, the iteration's clock) and a [`WorldView`] of the proxies, servers and maps. A
//! callback reaches it with [`with_host`]. Outside a resume (while `lua-load` bodies run,
//! in unit tests) there is none: `with_host` returns `None` and the callback raises the
//! error HAProxy raises in that phase.
//!
//! The host is reached through a thread-local pointer, valid exactly while [`enter`]'s
//! closure runs (a guard restores the previous value even if the closure unwinds).
//! [`with_host`] takes the pointer out while its closure runs, so no two `&mut Host`
//! exist at once even if that closure ends up calling Lua again (it then sees no host).

use crate::reactor::Ctx;
use std::cell::Cell;
use std::ptr::NonNull;

/// The process as Lua sees it: proxies, servers, maps, process information. The runtime
/// implements it over its tables (`runtime::lua`); each part of the Lua API adds the
/// methods it needs, with a default that says "not available" so test hosts stay short.
pub trait WorldView {
    /// Names of the proxies, in configuration order (`core.proxies` keys).
    fn proxy_names(&self) -> Vec<String> {
        Vec::new()
    }

    /// The proxies and the server pool themselves, for the sample fetches that read
    /// proxy and server state (`be_id`, `srv_conn`, `queue`...:
    /// `crate::sample::fetch_proxy`). `None`: not available.
    fn proxies(&self) -> Option<(&[crate::stream::proxy::ProxyRt], &dyn crate::stream::ServerPool)> {
        None
    }

    /// A stats table (`Proxy.get_stats`, `Server.get_stats`, `Listener.get_stats`):
    /// HAProxy's `show stat` field names with the non-empty values. `None`: unknown.
    fn stats(&self, _of: StatsOf, _now: std::time::Instant) -> Option<Vec<(&'static str, Field)>> {
        None
    }

    /// The `show info` fields read from the runtime's tables (`core.get_info` adds the
    /// process's own: name, version, pid, uptime...).
    fn info(&self, _now: std::time::Instant) -> Vec<(&'static str, Field)> {
        Vec::new()
    }

    /// What `Server.get_weight/get_maxconn/get_addr/is_draining` read.
    fn server(&self, _proxy: usize, _server: usize) -> Option<ServerView> {
        None
    }

    /// Asks for what needs the streams or the listeners (`Server.shut_sess`,
    /// `Proxy.pause`...), done once the resume is over; `false`: not available.
    fn defer(&mut self, _what: Deferred) -> bool {
        false
    }

    /// Applies a `Server` method's change (arguments already checked); `Err` is raised.
    fn server_op(&mut self, _cx: &mut Ctx<'_>, _proxy: usize, _server: usize, _op: ServerOp) -> Result<(), String> {
        Err("not available here".into())
    }
}

/// What a script asks that the world does once the resume is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deferred {
    /// Kill streams (`Server.shut_sess`, `Proxy.shut_bcksess`).
    Kill(Sessions),
    /// `Proxy.pause`, `resume`, `stop` on a proxy (index from 0).
    Proxy(usize, ProxyOp),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyOp {
    Pause,
    Resume,
    Stop,
}

/// Streams to kill (`Server.shut_sess`, `Proxy.shut_bcksess`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sessions {
    /// Those on server `.1` of backend `.0`.
    Server(usize, usize),
    /// Those on the backup servers of a backend.
    Backup(usize),
}

/// Whose stats a stats table shows (proxy and server/listener indexes, from 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatsOf {
    /// Its `BACKEND` row when it has the backend capability, else its `FRONTEND` row.
    Proxy(usize),
    Server(usize, usize),
    Listener(usize, usize),
}

/// A value of a stats or info table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    Int(i64),
    Str(String),
}

/// A server's settings as `Server` methods read them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerView {
    pub weight: u32,
    pub maxconn: u32,
    /// `ip:port` as HAProxy's `get_addr` prints it.
    pub addr: String,
    /// The IP and port, where the address has them (`set_addr`'s messages).
    pub ip: Option<std::net::IpAddr>,
    pub port: Option<u16>,
    pub draining: bool,
}

/// A change asked by a `Server` method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerOp {
    /// `set_weight`: the new weight (0..=256).
    Weight(u32),
    /// `set_maxconn`: the new limit (0: none).
    Maxconn(u32),
    /// `set_addr`: the new IP and port (the port kept when not given).
    Addr(std::net::IpAddr, Option<u16>),
    Drain,
    Maint,
    Ready,
    /// `check_enable`, `check_disable`.
    CheckEnabled(bool),
    /// `check_force_up`, `check_force_nolb`, `check_force_down`.
    ForceUp,
    ForceNolb,
    ForceDown,
    /// `crate::dns`: into resolution maintenance with this reason (`None`: out of it;
    /// the name resolves again).
    Resolution { maint: Option<String>, fqdn: String },
}

/// The stream whose Lua code is running (an action today; fetches, converters and
/// services later), as the `TXN`, `HTTP` and `Fetches` classes see it
/// (`crate::lua::api::txn`). The stream implements it for the length of one resume
/// (`crate::stream::lua`), over the transaction and the variables it borrows.
pub trait StreamView {
    /// The identity of the stream's Lua context: a `TXN` object holding another handle
    /// (another stream's, or one whose stream ended) is refused.
    fn handle(&self) -> crate::lua::Handle;
    /// A variable of any scope (`proc`, `sess`, `txn`, `req`, `res`).
    fn var(&self, name: &crate::sample::VarName) -> Option<crate::sample::Sample>;
    fn set_var(&mut self, name: &crate::sample::VarName, value: crate::sample::Sample);
    fn unset_var(&mut self, name: &crate::sample::VarName);
    /// The HTTP transaction (`None` in TCP mode).
    fn txn(&mut self) -> Option<&mut crate::http::txn::Txn>;
    /// Evaluates a sample expression (a fetch and its converters) on the stream.
    fn eval(&self, expr: &crate::sample::Expr) -> Option<crate::sample::Sample>;
    /// Applies a native converter (`name` or `name(args)`) to `input` (`txn.c`,
    /// `txn.sc`); by default without the stream (variables unreachable).
    fn convert(
        &self,
        call: &str,
        input: crate::sample::Sample,
    ) -> Result<Option<crate::sample::Sample>, crate::sample::ParseError> {
        crate::sample::apply_converter(call, input, &crate::sample::TestCtx::default())
    }
    /// `txn:done()`: the stream stops processing and closes once the action returns.
    fn done(&mut self);
    /// `txn:done(reply)`: this complete HTTP/1.1 response is sent instead of forwarding
    /// the request (or the server's response), and the transaction ends.
    fn reply(&mut self, response: Vec<u8>);
    /// The stream's buffers for `txn.req`/`txn.res` (`Channel`); `None` on an HTTP
    /// stream, whose channels Lua may not manipulate (the default).
    fn channels(&mut self) -> Option<&mut dyn crate::lua::api::channel::ChannelIo> {
        None
    }
    /// The payload window of direction `res` while a Lua filter callback runs
    /// (`HTTPMessage`'s body functions, `crate::lua::api::filter_msg`); `None` elsewhere.
    fn filter_window(&mut self, _res: bool) -> Option<&mut crate::lua::api::filter_msg::BodyWindow> {
        None
    }
    /// The descriptor of the client connection, for `txn:set_tos()`/`txn:set_mark()`: by
    /// default the one of the stream being processed on this thread ([`client_scope`]).
    fn client_fd(&self) -> Option<std::os::fd::RawFd> {
        CLIENT_FD.with(std::cell::Cell::get)
    }
}

thread_local! {
    static CLIENT_FD: std::cell::Cell<Option<std::os::fd::RawFd>> = const { std::cell::Cell::new(None) };
}

/// Marks `fd` as the client connection of the stream this thread processes, until the
/// returned guard drops (the previous value comes back). The stream enters it around its
/// state machine, so its Lua code reaches the socket without the rule lists carrying it.
pub fn client_scope(fd: std::os::fd::RawFd) -> ClientScope {
    ClientScope(CLIENT_FD.with(|c| c.replace(Some(fd))))
}

/// See [`client_scope`].
pub struct ClientScope(Option<std::os::fd::RawFd>);

impl Drop for ClientScope {
    fn drop(&mut self) {
        CLIENT_FD.with(|c| c.set(self.0));
    }
}

/// A world with nothing in it (tests, tools).
pub struct NoWorld;

impl WorldView for NoWorld {}

/// What a callback gets: the reactor and the world, borrowed for one resume; and the
/// stream when the resumed coroutine is a stream's.
pub struct Host<'h, 'r> {
    pub cx: &'h mut Ctx<'r>,
    pub world: &'h mut dyn WorldView,
    pub stream: Option<&'h mut dyn StreamView>,
}

/// The host of the resume in progress, lifetimes erased (see the module comment).
type Erased = NonNull<Host<'static, 'static>>;

thread_local! {
    static CURRENT: Cell<Option<Erased>> = const { Cell::new(None) };
}

/// Restores the previous host when [`enter`] or [`with_host`] ends, unwinding included.
struct Restore(Option<Erased>);

impl Drop for Restore {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

/// Runs `f` (a resume) with `host` reachable from the callbacks it makes.
pub fn enter<R>(host: &mut Host<'_, '_>, f: impl FnOnce() -> R) -> R {
    let ptr = NonNull::from(host).cast::<Host<'static, 'static>>();
    let _restore = Restore(CURRENT.with(|c| c.replace(Some(ptr))));
    f()
}

/// Runs `f` with the host of the resume in progress; `None` when there is none (or when
/// called from inside another `with_host`).
pub fn with_host<R>(f: impl for<'h, 'r> FnOnce(&mut Host<'h, 'r>) -> R) -> Option<R> {
    let ptr = CURRENT.with(|c| c.take())?;
    let _restore = Restore(Some(ptr));
    // `ptr` was made by `enter` from a `&mut Host` that outlives the closure `enter`
    // runs, and CURRENT holds it only during that closure (the Restore guard clears it on
    // every exit). `f` is generic over the lifetimes: it cannot keep what the host
    // borrows past its return.
    // SAFETY: we are inside `enter`'s closure (CURRENT was Some), so the Host is alive;
    // the pointer was taken out of CURRENT, so this is the only reference made from it.
    let host = unsafe { &mut *ptr.as_ptr() };
    Some(f(host))
}

/// Whether a host is entered (tests, assertions).
pub fn is_entered() -> bool {
    CURRENT.with(|c| c.get().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reactor::{Timers, WakeQueue};
    use std::time::Instant;

    struct Named;
    impl WorldView for Named {
        fn proxy_names(&self) -> Vec<String> {
            vec!["fe".into()]
        }
    }

    #[test]
    fn the_host_is_reachable_only_inside_enter_and_not_twice() {
        let poll = mio::Poll::new().unwrap();
        let (mut timers, mut wake) = (Timers::default(), WakeQueue::default());
        let mut cx = Ctx { registry: poll.registry(), timers: &mut timers, wake: &mut wake, now: Instant::now() };
        let mut world = Named;
        assert!(with_host(|_| ()).is_none());
        let mut host = Host { cx: &mut cx, world: &mut world, stream: None };
        let names = enter(&mut host, || {
            with_host(|h| {
                assert!(with_host(|_| ()).is_none(), "no second host from inside");
                h.world.proxy_names()
            })
        });
        assert_eq!(names, Some(vec!["fe".to_string()]));
        assert!(!is_entered());
    }

    #[test]
    fn a_panic_inside_enter_leaves_no_host_behind() {
        let poll = mio::Poll::new().unwrap();
        let (mut timers, mut wake) = (Timers::default(), WakeQueue::default());
        let mut cx = Ctx { registry: poll.registry(), timers: &mut timers, wake: &mut wake, now: Instant::now() };
        let mut world = NoWorld;
        let mut host = Host { cx: &mut cx, world: &mut world, stream: None };
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| enter(&mut host, || panic!("boom"))));
        assert!(r.is_err());
        assert!(!is_entered());
    }
}
