//! One test per rule of `doc/lua-ffi.md`: errors and panics in Rust callbacks, allocation
//! failures, stale userdata, registry growth, preemption and budgets.
use moonproxy::lua::{
    maxmem_bytes, CallCtx, Class, Handle, Limits, LuaError, Preempt, Resume, RustFunction, State,
    Task, TimeoutKind, Value, WaitReason,
};
use std::os::raw::c_int;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn run_task(state: &State, code: &str, limits: Limits) -> (Task, Resume) {
    let mut task = Task::new(state, limits).unwrap();
    task.load(code.as_bytes(), "t.lua").unwrap();
    let r = task.resume(0);
    (task, r)
}

fn finished_str(r: &Resume) -> String {
    match r {
        Resume::Finished(v) => v
            .iter()
            .map(|v| format!("{v:?}"))
            .collect::<Vec<_>>()
            .join(","),
        other => panic!("expected Finished, got {other:?}"),
    }
}

// --- Rule 2: an error in a Rust callback ---------------------------------------------------

fn fails(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let n = ctx.integer(1)?;
    let owned = format!("boom {n}"); // a String live in the callback: dropped before lua_error
    let _v: Vec<u8> = Vec::with_capacity(64);
    Err(LuaError::runtime(owned))
}
static FAILS: RustFunction = RustFunction::new("fails", fails);

#[test]
fn callback_error_has_position_and_traceback_and_state_survives() {
    let state = State::new().unwrap();
    state.set_global_function("fails", &FAILS).unwrap();
    // Caught by the script: message with the caller's position.
    let r = state
        .exec(
            b"local ok, e = pcall(function() local r = fails(7) return r end) return ok, e",
            "a.lua",
        )
        .unwrap();
    assert_eq!(
        r,
        vec![
            Value::Boolean(false),
            Value::String(b"a.lua:1: boom 7".to_vec())
        ]
    );
    // Called directly by pcall (a C function), there is no position, as with luaL_error.
    let r = state
        .exec(b"local ok, e = pcall(fails, 7) return e", "a.lua")
        .unwrap();
    assert_eq!(r, vec![Value::String(b"boom 7".to_vec())]);
    // Argument errors are worded as Lua's.
    let r = state
        .exec(b"local ok, e = pcall(fails, 'x') return e", "a.lua")
        .unwrap();
    assert_eq!(
        r[0].as_str().unwrap(),
        "bad argument #1 to 'fails' (number expected, got string)"
    );
    // Uncaught in a task: Error with message and traceback.
    let code = "local function inner() fails(3) end\ninner()";
    let (_t, r) = run_task(&state, code, Limits::default());
    match r {
        Resume::Error { message, traceback } => {
            assert_eq!(message, "t.lua:1: boom 3");
            assert!(
                traceback.contains("t.lua:1: in") && traceback.contains("inner"),
                "{traceback}"
            );
        }
        other => panic!("{other:?}"),
    }
    // The state keeps working.
    let (_t, r) = run_task(&state, "return 1 + 1", Limits::default());
    assert_eq!(finished_str(&r), "Integer(2)");
}

// --- Rule P1: a panic in a Rust callback ----------------------------------------------------

fn panics(_ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let _owned = String::from("dropped by the unwind");
    panic!("callback exploded");
}
static PANICS: RustFunction = RustFunction::new("panics", panics);

#[test]
fn callback_panic_is_caught_and_cannot_be_swallowed_by_pcall() {
    let state = State::new().unwrap();
    state.set_global_function("panics", &PANICS).unwrap();
    let code = "local ok = pcall(panics)\nlocal n = 0\nfor i = 1, 10 do n = n + i end\nreturn 'swallowed', n";
    let (_t, r) = run_task(&state, code, Limits::default());
    match r {
        Resume::Panic(msg) => assert!(
            msg.contains("callback exploded") && msg.contains("'panics'"),
            "{msg}"
        ),
        other => panic!("expected Panic, got {other:?}"),
    }
    // Inside a script coroutine, caught by pcall in both: still reported.
    let code = "local co = coroutine.wrap(function() pcall(panics) return 1 end)\npcall(co)\nreturn 'swallowed'";
    let (_t, r) = run_task(&state, code, Limits::default());
    assert!(matches!(r, Resume::Panic(_)), "{r:?}");
    // On the main thread (a lua-load body), even through a script coroutine and two pcalls.
    let e = state.exec(
        b"pcall(coroutine.wrap(function() pcall(panics) end)) return 'swallowed'",
        "body.lua",
    );
    assert!(matches!(e, Err(LuaError::Panic(_))), "{e:?}");
    // On the main thread (a lua-load body): reported as LuaError::Panic.
    let e = state
        .exec(b"pcall(panics) return 'swallowed'", "body.lua")
        .unwrap_err();
    assert!(
        matches!(e, LuaError::Panic(ref m) if m.contains("callback exploded")),
        "{e:?}"
    );
    // The state is still usable, on both paths.
    assert_eq!(
        state.exec(b"return 40 + 2", "b.lua").unwrap(),
        vec![Value::Integer(42)]
    );
    let (_t, r) = run_task(&state, "return 'ok'", Limits::default());
    assert_eq!(finished_str(&r), "String([111, 107])");
}

// --- Rule M1: allocation failure under maxmem ----------------------------------------------

fn big_string(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let n = ctx.integer(1)? as usize;
    let data = vec![b'x'; n];
    ctx.push_bytes(&data)?; // fails with LuaError::Memory under the limit
    Ok(1)
}
static BIG_STRING: RustFunction = RustFunction::new("big_string", big_string);

#[test]
fn allocation_failure_fails_only_the_running_call() {
    let state = State::new().unwrap();
    state
        .set_global_function("big_string", &BIG_STRING)
        .unwrap();
    let base = state.memory().current;
    state.set_memory_limit(base + maxmem_bytes(1));
    // In the middle of an API call made by a Rust callback: the script sees the error.
    let r = state
        .exec(
            b"local ok, e = pcall(big_string, 4 * 1024 * 1024) return ok, e",
            "m.lua",
        )
        .unwrap();
    assert_eq!(r[0], Value::Boolean(false));
    assert!(
        r[1].as_str().unwrap().contains("not enough memory"),
        "{r:?}"
    );
    // Uncaught in a task, the callback's allocation failure is reported as NoMem.
    let (_t, r) = run_task(
        &state,
        "return big_string(4 * 1024 * 1024)",
        Limits::default(),
    );
    assert_eq!(r, Resume::NoMem);
    // Small allocations still work.
    assert_eq!(
        state.exec(b"return #big_string(1000)", "m.lua").unwrap(),
        vec![Value::Integer(1000)]
    );
    // A task growing a table past the limit ends with NoMem; the next one runs.
    let mut task = Task::new(&state, Limits::default()).unwrap();
    task.load(b"local t = {} for i = 1, 1e8 do t[i] = i end", "m.lua")
        .unwrap();
    let r = loop {
        match task.resume(0) {
            Resume::Yield(WaitReason::Forced) => continue,
            other => break other,
        }
    };
    assert_eq!(r, Resume::NoMem);
    drop(task);
    state.collect_garbage();
    let (_t, r) = run_task(
        &state,
        "local t = {} for i = 1, 100 do t[i] = i end return #t",
        Limits::default(),
    );
    assert_eq!(finished_str(&r), "Integer(100)");
    let m = state.memory();
    assert!(m.peak <= m.limit, "{m:?}");
}

// --- Rule U2/U3: userdata holding a handle --------------------------------------------------

static OBJ_GET: RustFunction = RustFunction::new("get", obj_get);
static OBJ: Class<Handle> = Class::new("Obj", &[(c"get", &OBJ_GET)]);

fn obj_get(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let h = ctx.handle(1, &OBJ)?;
    ctx.push_integer(h.key as i64)?;
    Ok(1)
}

fn make_obj(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let key = ctx.integer(1)? as u32;
    let gen = ctx.integer(2)? as u32;
    ctx.push_userdata(
        &OBJ,
        Handle {
            key,
            generation: gen,
        },
    )?;
    Ok(1)
}
static MAKE_OBJ: RustFunction = RustFunction::new("make_obj", make_obj);

static DROPS: AtomicUsize = AtomicUsize::new(0);
struct Tracked;
impl Drop for Tracked {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::SeqCst);
    }
}
static TRACKED: Class<Tracked> = Class::new("Tracked", &[]);
fn make_tracked(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    ctx.push_userdata(&TRACKED, Tracked)?;
    Ok(1)
}
static MAKE_TRACKED: RustFunction = RustFunction::new("make_tracked", make_tracked);

#[test]
fn userdata_with_stale_handle_errors_and_gc_drops_rust_data() {
    let state = State::new().unwrap();
    state.set_global_function("make_obj", &MAKE_OBJ).unwrap();
    state
        .set_global_function("make_tracked", &MAKE_TRACKED)
        .unwrap();
    let h = state.handles().insert();
    let code = format!(
        "obj = make_obj({}, {}) return obj:get(), getmetatable(obj)",
        h.key, h.generation
    );
    let r = state.exec(code.as_bytes(), "u.lua").unwrap();
    assert_eq!(r, vec![Value::Integer(h.key as i64), Value::Boolean(false)]);
    // The object the handle stands for goes away; the script kept the userdata.
    assert!(state.handles().remove(h));
    let r = state
        .exec(
            b"local ok, e = pcall(function() return (obj:get()) end) return e",
            "u.lua",
        )
        .unwrap();
    assert_eq!(
        r[0].as_str().unwrap(),
        "u.lua:1: Obj object no longer valid"
    );
    // Wrong class / forged metatable are refused.
    let r = state
        .exec(b"local ok, e = pcall(obj.get, {}) return e", "u.lua")
        .unwrap();
    assert!(
        r[0].as_str().unwrap().contains("Obj expected, got table"),
        "{r:?}"
    );
    let r = state
        .exec(b"return pcall(setmetatable, obj, {})", "u.lua")
        .unwrap();
    assert_eq!(r[0], Value::Boolean(false));
    // __gc drops the Rust value exactly once.
    let before = DROPS.load(Ordering::SeqCst);
    state
        .exec(b"for i = 1, 10 do make_tracked() end", "g.lua")
        .unwrap();
    state.collect_garbage();
    assert_eq!(DROPS.load(Ordering::SeqCst) - before, 10);
}

// --- Rule R1/R2/C1/C4: registry size after many coroutines -----------------------------------

#[test]
fn registry_size_constant_after_100k_short_lived_coroutines() {
    let state = State::new().unwrap();
    // Not about preemption: on a loaded machine the timer could land inside one of the
    // 101,000 resumes and yield it (Forced) instead of letting it finish.
    state.set_preempt(Preempt::Off);
    let f = state.load(b"local a = ... return a", "short.lua").unwrap();
    let run = |n: usize| {
        for i in 0..n {
            let mut t = Task::new(&state, Limits::default()).unwrap();
            t.push_function(&f).unwrap();
            t.push_value(&Value::Integer(i as i64)).unwrap();
            assert_eq!(
                t.resume(1),
                Resume::Finished(vec![Value::Integer(i as i64)])
            );
            drop(t);
            if i % 1000 == 999 {
                state.drain();
            }
        }
        state.drain();
    };
    run(1000);
    state.collect_garbage();
    let (len, mem) = (state.registry_len(), state.memory().current);
    run(100_000);
    state.collect_garbage();
    assert_eq!(state.registry_len(), len);
    let grown = state.memory().current.saturating_sub(mem);
    assert!(grown < 64 * 1024, "memory grew by {grown} bytes");
}

// --- Section 8: preemption -------------------------------------------------------------------

fn assert_preempted(state: &State, code: &str) {
    let mut task = Task::new(state, Limits::default()).unwrap();
    task.load(code.as_bytes(), "loop.lua").unwrap();
    for _ in 0..3 {
        let start = Instant::now();
        let r = task.resume(0);
        assert_eq!(r, Resume::Yield(WaitReason::Forced), "{code}");
        // Not a speed assertion: an infinite loop only comes back through preemption; the
        // bound only keeps a broken build from hanging.
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}

#[test]
fn timer_preempts_a_tight_loop() {
    let state = State::new().unwrap();
    state.set_preempt(Preempt::Timer(Duration::from_millis(2)));
    assert_preempted(&state, "while true do end");
}

#[test]
fn timer_preempts_a_loop_inside_pcall() {
    let state = State::new().unwrap();
    assert_preempted(&state, "pcall(function() while true do end end)");
}

#[test]
fn timer_preempts_a_loop_inside_a_script_coroutine() {
    let state = State::new().unwrap();
    assert_preempted(&state, "coroutine.wrap(function() while true do end end)()");
    assert_preempted(
        &state,
        "local co = coroutine.create(function() local n = 0 while true do n = n + 1 end end)\n\
         local ok, e = coroutine.resume(co) error('resume returned: ' .. tostring(e))",
    );
    // Nested script coroutines.
    assert_preempted(
        &state,
        "coroutine.wrap(function() coroutine.wrap(function() while true do end end)() end)()",
    );
}

#[test]
fn count_mode_preempts_like_haproxy() {
    let state = State::new().unwrap();
    state.set_preempt(Preempt::Count(1000));
    assert_preempted(&state, "while true do end");
    assert_preempted(&state, "coroutine.wrap(function() while true do end end)()");
}

#[test]
fn script_coroutines_keep_their_semantics() {
    let state = State::new().unwrap();
    let code = "local gen = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) return b * 2 end)\n\
                local x = gen(1) local y = gen(10)\n\
                local co = coroutine.create(function() error('inner') end)\n\
                local ok, e = coroutine.resume(co)\n\
                local ok2, e2 = pcall(coroutine.wrap(function() error('wrapped') end))\n\
                return x, y, ok, e, coroutine.status(co), e2";
    let (_t, r) = run_task(&state, code, Limits::default());
    let Resume::Finished(v) = r else {
        panic!("{r:?}")
    };
    assert_eq!(v[0], Value::Integer(2));
    assert_eq!(v[1], Value::Integer(20));
    assert_eq!(v[2], Value::Boolean(false));
    assert_eq!(v[3].as_str().unwrap(), "t.lua:3: inner");
    assert_eq!(v[4].as_str().unwrap(), "dead");
    assert!(
        v[5].as_str().unwrap().ends_with("t.lua:5: wrapped"),
        "{v:?}"
    );
}

fn sleep_ms(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let ms = ctx.integer(1)?;
    ctx.yield_now(WaitReason::Sleep(
        Instant::now() + Duration::from_millis(ms as u64),
    ))?;
    Ok(0)
}
static SLEEP_MS: RustFunction = RustFunction::new("sleep_ms", sleep_ms);

#[test]
fn task_level_yield_passes_through_script_coroutines() {
    let state = State::new().unwrap();
    state.set_global_function("sleep_ms", &SLEEP_MS).unwrap();
    let code = "local f = coroutine.wrap(function() sleep_ms(5) coroutine.yield('inner') sleep_ms(1) return 'end' end)\n\
                local a = f() local b = f() return a, b";
    let mut task = Task::new(&state, Limits::default()).unwrap();
    task.load(code.as_bytes(), "s.lua").unwrap();
    assert!(matches!(
        task.resume(0),
        Resume::Yield(WaitReason::Sleep(_))
    ));
    assert!(matches!(
        task.resume(0),
        Resume::Yield(WaitReason::Sleep(_))
    ));
    assert_eq!(
        task.resume(0),
        Resume::Finished(vec![
            Value::String(b"inner".to_vec()),
            Value::String(b"end".to_vec())
        ])
    );
    // Outside a task (main thread), yielding is refused with an error.
    let r = state
        .exec(b"return pcall(function() sleep_ms(1) end)", "s.lua")
        .unwrap();
    assert_eq!(
        r[1].as_str().unwrap(),
        "s.lua:1: cannot yield outside a task"
    );
}

// --- Section 8: budgets -----------------------------------------------------------------------

#[test]
fn burst_budget_in_a_non_yieldable_call_is_not_catchable_by_pcall() {
    let state = State::new().unwrap();
    let limits = Limits {
        burst: Some(Duration::from_millis(20)),
        total: None,
    };
    let code = "for i = 1, 3 do\n\
                  pcall(table.sort, {3, 2, 1}, function(a, b) while true do end end)\n\
                end\n\
                return 'escaped'";
    let (_t, r) = run_task(&state, code, limits);
    assert_eq!(r, Resume::Timeout(TimeoutKind::Burst));
    // The state goes on.
    let (_t, r) = run_task(&state, "return pcall(error, 'x')", Limits::default());
    assert!(matches!(r, Resume::Finished(_)), "{r:?}");
}

#[test]
fn total_budget_ends_a_task_that_keeps_yielding() {
    let state = State::new().unwrap();
    let limits = Limits {
        burst: None,
        total: Some(Duration::from_millis(30)),
    };
    let mut task = Task::new(&state, limits).unwrap();
    task.load(b"while true do pcall(function() end) end", "t.lua")
        .unwrap();
    let mut n = 0;
    let r = loop {
        n += 1;
        match task.resume(0) {
            Resume::Yield(WaitReason::Forced) => continue,
            other => break other,
        }
    };
    assert_eq!(r, Resume::Timeout(TimeoutKind::Total));
    assert!(n > 1);
    assert!(task.is_done());
    assert!(
        matches!(task.resume(0), Resume::Error { .. }),
        "never resumed after the end"
    );
}

// --- Measurement (not a test): loop speed by preemption mode -----------------------------------

#[test]
#[ignore = "measurement: cargo test --release --test lua_safety -- --ignored --nocapture"]
fn measure_loop_speed_by_preemption_mode() {
    const LOOPS: i64 = 200_000_000;
    let code = format!("local x = 0 for i = 1, {LOOPS} do x = x + i end return x");
    // Three rounds, modes interleaved: the machine is shared, single runs are noisy.
    let modes = [
        ("no hook", Preempt::Off),
        ("count hook 1000", Preempt::Count(1000)),
        ("count hook 10000", Preempt::Count(10000)),
        ("timer 1 ms", Preempt::Timer(Duration::from_millis(1))),
    ];
    for (name, mode) in modes.iter().cycle().take(3 * modes.len()).copied() {
        let state = State::new().unwrap();
        state.set_preempt(mode);
        let mut task = Task::new(&state, Limits::default()).unwrap();
        task.load(code.as_bytes(), "bench.lua").unwrap();
        let start = thread_cpu_time();
        let mut yields = 0;
        loop {
            match task.resume(0) {
                Resume::Yield(_) => yields += 1,
                Resume::Finished(_) => break,
                other => panic!("{other:?}"),
            }
        }
        let secs = (thread_cpu_time() - start).as_secs_f64();
        println!(
            "{name:>18}: {:>7.1} M loops/s of CPU time, {yields} yields",
            LOOPS as f64 / secs / 1e6
        );
    }
}

#[test]
#[ignore = "measurement: cargo test --release --test lua_safety -- --ignored --nocapture"]
fn measure_preemption_latency() {
    // How long a resume of `while true do end` lasts before the forced yield (wall time).
    for (name, mode) in [
        ("count hook 1000", Preempt::Count(1000)),
        ("count hook 10000", Preempt::Count(10000)),
        ("timer 1 ms", Preempt::Timer(Duration::from_millis(1))),
        ("timer 2 ms", Preempt::Timer(Duration::from_millis(2))),
    ] {
        let state = State::new().unwrap();
        state.set_preempt(mode);
        let mut task = Task::new(&state, Limits::default()).unwrap();
        task.load(b"while true do end", "spin.lua").unwrap();
        let mut samples: Vec<Duration> = (0..200)
            .map(|_| {
                let start = Instant::now();
                assert_eq!(task.resume(0), Resume::Yield(WaitReason::Forced));
                start.elapsed()
            })
            .collect();
        samples.sort();
        println!(
            "{name:>18}: resume until preempted: median {:?}, p99 {:?}, max {:?}",
            samples[100], samples[198], samples[199]
        );
    }
}

/// CPU time of this thread (the machine is shared: wall time would measure the neighbours).
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

// --- Rules C2/C4/Y1 ---------------------------------------------------------------------------

#[test]
fn dropping_a_suspended_task_closes_it() {
    let state = State::new().unwrap();
    let mut task = Task::new(&state, Limits::default()).unwrap();
    // SAFETY: both threads are valid; task_of only reads the extra space.
    unsafe {
        assert!(
            moonproxy::lua::task::task_of(task.raw()).is_some(),
            "a task's thread is ours"
        );
        assert!(
            moonproxy::lua::task::task_of(state.raw()).is_none(),
            "the main thread is not a task"
        );
    }
    task.load(
        b"local x <close> = setmetatable({}, {__close = function() closed = true end})\ncoroutine.yield()",
        "c.lua",
    )
    .unwrap();
    assert_eq!(task.resume(0), Resume::Yield(WaitReason::Other));
    assert_eq!(
        state.exec(b"return closed", "c.lua").unwrap(),
        vec![Value::Nil]
    );
    drop(task);
    assert_eq!(
        state.exec(b"return closed", "c.lua").unwrap(),
        vec![Value::Boolean(true)]
    );
    assert_eq!(
        state.drain(),
        1,
        "the anchor is released at the next safe point"
    );
}

#[test]
fn yield_is_refused_where_lua_cannot_yield() {
    let state = State::new().unwrap();
    state.set_global_function("sleep_ms", &SLEEP_MS).unwrap();
    let (_t, r) = run_task(
        &state,
        "table.sort({2, 1}, function(a, b) sleep_ms(1) return a < b end)",
        Limits::default(),
    );
    match r {
        Resume::Error { message, .. } => assert!(
            message.ends_with("attempt to yield across a C-call boundary"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn preemption_still_works_in_a_forked_child() {
    // Daemon mode forks after the configuration (and maybe Lua) ran: the child must get a
    // timer of its own, the parent's does not exist there.
    let state = State::new().unwrap();
    assert_preempted(&state, "while true do end"); // creates this thread's timer
                                                   // SAFETY: the child only runs Lua (malloc is fork-safe in glibc) and leaves with _exit;
                                                   // the parent reaps it with a deadline.
    unsafe {
        let pid = libc::fork();
        assert!(pid >= 0);
        if pid == 0 {
            let mut task = Task::new(&state, Limits::default()).unwrap();
            task.load(b"while true do end", "child.lua").unwrap();
            let ok = task.resume(0) == Resume::Yield(WaitReason::Forced);
            libc::_exit(if ok { 0 } else { 1 });
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut status = 0;
        loop {
            let r = libc::waitpid(pid, &mut status, libc::WNOHANG);
            if r == pid {
                break;
            }
            if Instant::now() > deadline {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
                panic!("the forked child's loop was never preempted");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "status {status}"
        );
    }
}
