//! CLI commands registered by `core.register_cli`, run as tasks of [`LuaRt`].
//!
//! A command is a coroutine of the `AppletTCP` wrapper (`lua::api::applet_tcp`):
//! `wrapper(fn, txn, words...)`, `txn` a `TXN` of a handle of its own, so `fn` is called
//! as HAProxy 2.6 calls it, `fn(applet, word1, ..., wordN)`. It runs from the run queue
//! and the timers like any task (it may sleep, yield and use sockets); after each resume
//! its CLI session is woken, takes what the command sent ([`LuaRt::cli_poll`]) and, once
//! the command ended, ends the answer. A command that fails is reported as HAProxy
//! reports it (`Lua cli '<lua.cli.w1.w2>': [state-id 0] runtime error: ...`); what it
//! sent before stays in the answer.
use super::{LuaRt, Running};
use crate::lua::api::applet_tcp;
use crate::lua::api::socket::{self, Waiter};
use crate::lua::{Handle, Value};
use crate::cli_socket::{LuaTaskLine, LuaTaskState};
use crate::reactor::{Ctx, Key, Kind};
use std::time::Instant;

/// What ties a task to the CLI session that started it.
pub(super) struct CliTask {
    /// The CLI session (a [`Kind::Cli`] key), woken after each resume.
    pub session: Key,
    /// The applet's handle: its bytes in `applet_tcp`'s `TcpIo`.
    pub handle: Handle,
    /// HAProxy's name for its errors: `<lua.cli.w1.w2>`.
    pub name: String,
}

impl LuaRt {
    /// The registered command named by the first words of `words`: its index and how
    /// many words name it.
    pub fn cli_find(&self, words: &[String]) -> Option<usize> {
        let reg = self.engine.registered();
        reg.clis.iter().position(|c| words.len() >= c.words.len() && c.words.iter().zip(words).all(|(k, w)| k == w))
    }

    /// The usages of the registered commands, as `help` lists them.
    pub fn cli_usages(&self) -> Vec<String> {
        self.engine.registered().clis.iter().map(|c| c.usage.clone()).collect()
    }

    /// Starts command `index` for the CLI session `session` with the words typed and what
    /// the client sent after them (`eof`: nothing more will come). The task is queued.
    pub fn cli_start(&mut self, cx: &mut Ctx<'_>, session: Key, index: usize, words: &[String], input: Vec<u8>) -> Result<Key, String> {
        let state = self.engine.state();
        let handle = state.handles().insert();
        let started = (|| {
            let txn = crate::lua::api::txn::new_txn(state, handle)?;
            let mut task = crate::lua::Task::new(state, self.engine.task_limits())?;
            applet_tcp::push_wrapper(state, &mut task)?;
            let name = {
                let reg = self.engine.registered();
                let def = reg.clis.get(index).ok_or_else(|| crate::lua::LuaError::message("no such command"))?;
                task.push_function(&def.func)?;
                format!("<lua.cli.{}>", def.words.join("."))
            };
            task.push_function(&txn)?;
            for w in words {
                task.push_value(&Value::String(w.as_bytes().to_vec()))?;
            }
            Ok::<_, crate::lua::LuaError>((task, name))
        })();
        let (task, name) = match started {
            Ok(t) => t,
            Err(e) => {
                state.handles().remove(handle);
                return Err(e.to_string());
            }
        };
        applet_tcp::with_io(handle, |io| {
            io.input = input;
            io.eof = true;
        });
        let nargs = 2 + words.len() as i32;
        let cli = Some(CliTask { session, handle, name });
        let Some(key) = self.tasks.insert(Running { task, nargs, sleep: None, io: false, cli, started: cx.now }) else {
            applet_tcp::forget(handle);
            self.engine.state().handles().remove(handle);
            return Err("too many tasks".into());
        };
        cx.wake.push(Kind::Reserved, key);
        Ok(key)
    }

    /// Whether task `key` is a CLI command that yielded in a `send` beyond
    /// `applet_tcp::OUTPUT_MAX` bytes not taken: it waits for its session to take them.
    pub(super) fn cli_waits_for_room(&self, key: Key) -> bool {
        let Some(c) = self.tasks.get(key).and_then(|r| r.cli.as_ref()) else { return false };
        applet_tcp::with_io(c.handle, |io| io.want == Some(applet_tcp::Want::Room))
    }

    /// What command `key` sent since the last call (the session wrote everything before:
    /// a command waiting for room runs again); once it ended, also the input it did not
    /// read (`Some`), and it is forgotten.
    pub fn cli_poll(&mut self, cx: &mut Ctx<'_>, key: Key) -> (Vec<u8>, Option<Vec<u8>>) {
        let handle = match self.tasks.get(key).and_then(|r| r.cli.as_ref()) {
            Some(c) => c.handle,
            None => match self.cli_ended.iter().position(|(k, _)| *k == key) {
                Some(i) => {
                    let (_, h) = self.cli_ended.swap_remove(i);
                    let (out, unread) = applet_tcp::with_io(h, |io| (std::mem::take(&mut io.output), std::mem::take(&mut io.input)));
                    applet_tcp::forget(h);
                    return (out, Some(unread));
                }
                None => return (Vec::new(), Some(Vec::new())),
            },
        };
        let (out, room) = applet_tcp::with_io(handle, |io| {
            let room = io.want == Some(applet_tcp::Want::Room);
            if room {
                io.want = None;
            }
            (std::mem::take(&mut io.output), room)
        });
        if room {
            cx.wake.push(Kind::Reserved, key);
        }
        (out, None)
    }

    /// The live tasks and CLI commands (`show lua tasks`), in the table's order.
    pub fn task_lines(&self, now: Instant) -> Vec<LuaTaskLine> {
        self.tasks
            .iter()
            .map(|(key, r)| {
                let state = if r.io {
                    LuaTaskState::Socket
                } else if let Some(at) = r.sleep {
                    LuaTaskState::Sleeping(at.saturating_duration_since(now))
                } else {
                    LuaTaskState::Runnable
                };
                let (kind, name) = match &r.cli {
                    Some(c) => ("cli", c.name.clone()),
                    None => ("task", format!("#{}", key.slot)),
                };
                LuaTaskLine {
                    kind,
                    name,
                    state,
                    age: now.saturating_duration_since(r.started),
                    cpu: r.task.ctx().run_time(),
                    at: crate::lua::stats::task_location(&r.task),
                    stream: None,
                }
            })
            .collect()
    }

    /// The session of command `key` closed: the command stops, and the sockets it left
    /// open are closed (as when a task ends).
    pub fn cli_abort(&mut self, cx: &mut Ctx<'_>, key: Key) {
        if let Some(r) = self.tasks.remove(key) {
            if let Some(c) = r.cli {
                applet_tcp::forget(c.handle);
                self.engine.state().handles().remove(c.handle);
            }
            drop(r.task);
            if socket::coroutine_ended(Waiter::Task(key)) {
                self.engine.state().collect_garbage();
            }
            socket::reap(Some(cx.registry));
        } else if let Some(i) = self.cli_ended.iter().position(|(k, _)| *k == key) {
            let (_, h) = self.cli_ended.swap_remove(i);
            applet_tcp::forget(h);
        }
    }

    /// A CLI task ended (the task is removed): its output waits for its session.
    pub(super) fn cli_ended(&mut self, cx: &mut Ctx<'_>, key: Key, cli: CliTask) {
        self.engine.state().handles().remove(cli.handle);
        self.cli_ended.push((key, cli.handle));
        cx.wake.push(Kind::Cli, cli.session);
    }
}
