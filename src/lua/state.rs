//! The owner of the main `lua_State` and the protection helpers (`doc/lua-ffi.md` sections 1
//! and 4).
//!
//! [`State`] is a cheap handle (`Rc`) on the main thread; tasks and registry references hold a
//! clone, so the `lua_State` is closed only after the last of them is gone. Everything the
//! Lua-side code needs to find from any thread (allocator counters, the running task, the abort
//! record, the unref queue, handle generations, the preemption mode) lives in one `Shared`
//! block, which is also the allocator's `ud`: `lua_getallocf` leads back to it from any
//! `lua_State` of the state.
use super::alloc::{self, Allocator, MemoryStats};
use super::callback::{self, RustFunction};
use super::error::{LuaError, TimeoutKind};
use super::hook::{self, Preempt};
use super::task::TaskCtx;
use super::userdata::HandleTable;
use lua54_sys as ffi;
use std::cell::{Cell, RefCell, RefMut};
use std::ffi::CString;
use std::os::raw::{c_char, c_int, c_void};
use std::rc::Rc;

/// Why a running Lua execution must end, whatever the script does (`pcall` cannot stop it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AbortKind {
    Timeout(TimeoutKind),
    Panic,
}

/// State-wide data reachable from any thread of the state (see the module docs).
/// `repr(C)` with the allocator first: the allocator's `ud` is a pointer to this block.
#[repr(C)]
pub(crate) struct Shared {
    pub(crate) alloc: Allocator,
    /// Set while an execution is being aborted (rule P1, section 8 of the contract).
    pub(crate) abort: Cell<Option<AbortKind>>,
    /// The message of a caught panic, for the report.
    pub(crate) panic_msg: RefCell<Option<String>>,
    /// The task being resumed, or null (main-thread code).
    pub(crate) running_task: Cell<*const TaskCtx>,
    /// Registry references dropped by Rust, released at the next [`State::drain`].
    pub(crate) unref_queue: RefCell<Vec<c_int>>,
    pub(crate) handles: RefCell<HandleTable>,
    pub(crate) preempt: Cell<Preempt>,
}

impl Shared {
    /// Records an abort; the first one wins.
    pub(crate) fn set_abort(&self, kind: AbortKind) {
        if self.abort.get().is_none() {
            self.abort.set(Some(kind));
        }
    }

    /// Takes the abort record, turned into the error to report.
    pub(crate) fn take_abort(&self) -> Option<LuaError> {
        let kind = self.abort.take()?;
        Some(match kind {
            AbortKind::Timeout(k) => LuaError::Timeout(k),
            AbortKind::Panic => LuaError::Panic(
                self.panic_msg
                    .borrow_mut()
                    .take()
                    .unwrap_or_else(|| "unknown panic".into()),
            ),
        })
    }
}

/// Finds the `Shared` block of the state `l` belongs to.
///
/// # Safety
/// `l` is a thread of a state created by [`State::new`].
pub(crate) unsafe fn shared_of<'a>(l: *mut ffi::lua_State) -> &'a Shared {
    let mut ud: *mut c_void = std::ptr::null_mut();
    // SAFETY: lua_getallocf only reads the global state; the ud is our Shared block, which
    // outlives every thread of the state.
    unsafe {
        ffi::lua_getallocf(l, &mut ud);
        &*ud.cast::<Shared>()
    }
}

pub(crate) struct Inner {
    pub(crate) main: *mut ffi::lua_State,
    pub(crate) shared: Box<Shared>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // SAFETY: the last handle is gone: no task, reference or callback uses the state any
        // more. lua_close runs the finalizers (their errors become warnings) and frees
        // everything through our allocator, whose block (`shared`) is dropped after this.
        unsafe { ffi::lua_close(self.main) }
    }
}

/// A value copied out of Lua.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Boolean(bool),
    Integer(i64),
    Number(f64),
    String(Vec<u8>),
    /// Any other type, by name (`table`, `function`, `userdata`, `thread`…).
    Other(&'static str),
}

impl Value {
    /// The string, if this is a valid UTF-8 string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }
}

/// Copies the value at `idx` without raising.
///
/// # Safety
/// `l` is valid and `idx` acceptable.
pub(crate) unsafe fn read_value(l: *mut ffi::lua_State, idx: c_int) -> Value {
    // SAFETY: every call here is non-raising (lua_tolstring is applied to strings only).
    unsafe {
        match ffi::lua_type(l, idx) {
            ffi::LUA_TNONE | ffi::LUA_TNIL => Value::Nil,
            ffi::LUA_TBOOLEAN => Value::Boolean(ffi::lua_toboolean(l, idx) != 0),
            ffi::LUA_TNUMBER => {
                if ffi::lua_isinteger(l, idx) != 0 {
                    Value::Integer(ffi::lua_tointegerx(l, idx, std::ptr::null_mut()))
                } else {
                    Value::Number(ffi::lua_tonumberx(l, idx, std::ptr::null_mut()))
                }
            }
            ffi::LUA_TSTRING => Value::String(string_bytes(l, idx).to_vec()),
            ffi::LUA_TTABLE => Value::Other("table"),
            ffi::LUA_TFUNCTION => Value::Other("function"),
            ffi::LUA_TUSERDATA | ffi::LUA_TLIGHTUSERDATA => Value::Other("userdata"),
            _ => Value::Other("thread"),
        }
    }
}

/// The bytes of the string at `idx`, valid while it stays on the stack (rule S3).
///
/// # Safety
/// The value at `idx` is a string.
pub(crate) unsafe fn string_bytes<'a>(l: *mut ffi::lua_State, idx: c_int) -> &'a [u8] {
    let mut len = 0;
    // SAFETY: on a string value lua_tolstring neither converts nor allocates.
    unsafe {
        let p = ffi::lua_tolstring(l, idx, &mut len);
        std::slice::from_raw_parts(p.cast::<u8>(), len)
    }
}

/// Describes the error object at the top of `l` as a message (without raising).
///
/// # Safety
/// `l` is valid with at least one value.
pub(crate) unsafe fn error_message(l: *mut ffi::lua_State) -> String {
    // SAFETY: non-raising reads.
    unsafe {
        match read_value(l, -1) {
            Value::String(b) => String::from_utf8_lossy(&b).into_owned(),
            Value::Integer(i) => i.to_string(),
            Value::Number(n) => n.to_string(),
            Value::Nil => "(error object is a nil value)".into(),
            Value::Boolean(_) => "(error object is a boolean value)".into(),
            Value::Other(t) => format!("(error object is a {t} value)"),
        }
    }
}

/// Pops the error object left by a failed `lua_pcall` and turns it into a [`LuaError`].
///
/// # Safety
/// `l` holds the error object on top.
pub(crate) unsafe fn pop_error(l: *mut ffi::lua_State, status: c_int) -> LuaError {
    // SAFETY: non-raising reads, then lowering the top.
    let msg = unsafe { error_message(l) };
    // SAFETY: the error object is on top.
    unsafe { ffi::lua_pop(l, 1) };
    // SAFETY: l belongs to one of our states.
    if let Some(abort) = unsafe { shared_of(l) }.take_abort() {
        return abort;
    }
    match status {
        ffi::LUA_ERRMEM => LuaError::Memory,
        ffi::LUA_ERRSYNTAX => LuaError::Syntax(msg),
        _ => LuaError::Runtime(msg),
    }
}

/// Runs raw Lua API code under `lua_pcall` (rule L2): `f` receives `l` with the `nargs`
/// values pushed before the call, and returns how many of its pushed values are results
/// (`nresults` of them are kept, as for `lua_pcall`).
///
/// `F: Copy` guarantees the closure's captures have no destructor; its body must hold only
/// `Copy` locals and must not panic (a panic there aborts the process, see `run_raw`).
///
/// # Safety
/// `l` is a valid thread of one of our states, not running, with `nargs` values on top.
pub(crate) unsafe fn protect<F>(
    l: *mut ffi::lua_State,
    nargs: c_int,
    nresults: c_int,
    f: F,
) -> Result<(), LuaError>
where
    F: FnOnce(*mut ffi::lua_State) -> c_int + Copy,
{
    // SAFETY: forwarded contract.
    let status = unsafe { pcall_raw(l, nargs, nresults, f) };
    if status == ffi::LUA_OK {
        Ok(())
    } else if status == -1 {
        Err(LuaError::Memory)
    } else {
        // SAFETY: the failed pcall left the error object on top.
        Err(unsafe { pop_error(l, status) })
    }
}

/// [`protect`] without the error handling: returns the `lua_pcall` status and leaves the
/// results or the error object on the stack (-1: no stack room, nothing was run).
///
/// # Safety
/// As for [`protect`].
pub(crate) unsafe fn pcall_raw<F>(
    l: *mut ffi::lua_State,
    nargs: c_int,
    nresults: c_int,
    f: F,
) -> c_int
where
    F: FnOnce(*mut ffi::lua_State) -> c_int + Copy,
{
    // SAFETY: checkstack never raises; the pushes are a light C function and a light
    // userdata (no allocation); `f` outlives the pcall, which is the protection itself.
    unsafe {
        if ffi::lua_checkstack(l, 2) == 0 {
            return -1;
        }
        ffi::lua_pushcfunction(l, protect_trampoline::<F>);
        ffi::lua_pushlightuserdata(l, (&f as *const F).cast_mut().cast());
        ffi::lua_rotate(l, -(nargs + 2), 2);
        ffi::lua_pcall(l, nargs + 1, nresults, 0)
    }
}

/// The C function `protect` calls: it runs the closure through `run_raw`.
unsafe extern "C-unwind" fn protect_trampoline<F>(l: *mut ffi::lua_State) -> c_int
where
    F: FnOnce(*mut ffi::lua_State) -> c_int + Copy,
{
    // SAFETY: called by lua_pcall from `protect`, with the closure's address at index 1.
    unsafe { run_raw::<F>(l) }
}

/// Runs the closure. `extern "C"`: a panic cannot unwind out of it (it aborts), and Lua's
/// longjmp may cross it (a plain frame: only `Copy` locals).
unsafe extern "C" fn run_raw<F>(l: *mut ffi::lua_State) -> c_int
where
    F: FnOnce(*mut ffi::lua_State) -> c_int + Copy,
{
    // SAFETY: index 1 is the light userdata `protect` pushed, pointing at a live `F`; `F` is
    // Copy so reading it leaves the original usable and owns nothing.
    unsafe {
        let f = *ffi::lua_touserdata(l, 1).cast::<F>();
        ffi::lua_remove(l, 1);
        f(l)
    }
}

/// Restores the stack top of a thread when dropped (rule S2). Never keep one alive across a
/// raising call: guards belong to the Rust frame around `protect`, not inside it.
pub struct StackGuard {
    l: *mut ffi::lua_State,
    top: c_int,
}

impl StackGuard {
    /// Records the current top of `l`.
    ///
    /// # Safety
    /// `l` must stay valid for the guard's life, and the slots above the recorded top must
    /// not be to-be-closed variables (lowering the top would then run `__close`).
    pub unsafe fn new(l: *mut ffi::lua_State) -> Self {
        // SAFETY: lua_gettop never raises.
        let top = unsafe { ffi::lua_gettop(l) };
        StackGuard { l, top }
    }
}

impl Drop for StackGuard {
    fn drop(&mut self) {
        // SAFETY: valid per `new`'s contract; lowering the top over plain values never raises.
        unsafe { ffi::lua_settop(self.l, self.top) }
    }
}

/// Options for [`State::with_options`].
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Open the standard libraries (`tune.lua.openlibs`, all of them for now).
    pub openlibs: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { openlibs: true }
    }
}

/// The main Lua state (one per reactor thread). Cloning gives another handle on the same state.
#[derive(Clone)]
pub struct State {
    pub(crate) inner: Rc<Inner>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("memory", &self.memory())
            .finish()
    }
}

impl State {
    /// A state with the standard libraries and moonproxy's prelude (section 8 of the contract).
    pub fn new() -> Result<State, LuaError> {
        State::with_options(Options::default())
    }

    pub fn with_options(options: Options) -> Result<State, LuaError> {
        let shared = Box::new(Shared {
            alloc: Allocator::default(),
            abort: Cell::new(None),
            panic_msg: RefCell::new(None),
            running_task: Cell::new(std::ptr::null()),
            unref_queue: RefCell::new(Vec::new()),
            handles: RefCell::new(HandleTable::default()),
            preempt: Cell::new(Preempt::default()),
        });
        let ud = (&*shared as *const Shared).cast_mut().cast::<c_void>();
        // SAFETY: the allocator and its ud (the boxed Shared, stable address) outlive the state:
        // Inner closes the state before dropping `shared`.
        let main = unsafe { ffi::lua_newstate(alloc::lua_alloc, ud) };
        if main.is_null() {
            return Err(LuaError::Memory);
        }
        // SAFETY: fresh valid state. The extra space is written null (rule C2) before any
        // thread is created; lua_atpanic and lua_setwarnf never raise.
        unsafe {
            *ffi::lua_getextraspace(main).cast::<*mut c_void>() = std::ptr::null_mut();
            ffi::lua_atpanic(main, super::panic::at_panic);
            ffi::lua_setwarnf(main, Some(warn), std::ptr::null_mut());
        }
        let state = State {
            inner: Rc::new(Inner { main, shared }),
        };
        if options.openlibs {
            // SAFETY: luaL_openlibs raises on memory errors only; protected.
            unsafe {
                protect(main, 0, 0, |l| {
                    ffi::luaL_openlibs(l);
                    0
                })?;
            }
            hook::install_prelude(&state)?;
        }
        Ok(state)
    }

    /// The main thread, for raw API use by the rest of `crate::lua`.
    pub fn raw(&self) -> *mut ffi::lua_State {
        self.inner.main
    }

    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// Memory counters (current, peak, limit).
    pub fn memory(&self) -> MemoryStats {
        self.inner.shared.alloc.stats()
    }

    /// Sets the memory limit in bytes (0: none). See [`alloc::maxmem_bytes`] for
    /// `tune.lua.maxmem`'s megabytes.
    pub fn set_memory_limit(&self, bytes: usize) {
        self.inner.shared.alloc.set_limit(bytes);
    }

    /// How running tasks are preempted (section 8 of the contract).
    pub fn set_preempt(&self, preempt: Preempt) {
        self.inner.shared.preempt.set(preempt);
    }

    pub fn preempt(&self) -> Preempt {
        self.inner.shared.preempt.get()
    }

    /// The handle generations checked by userdata methods (rule U2).
    pub fn handles(&self) -> RefMut<'_, HandleTable> {
        self.inner.shared.handles.borrow_mut()
    }

    /// Compiles a chunk into a function kept in the registry.
    pub fn load(&self, chunk: &[u8], name: &str) -> Result<super::RegistryRef, LuaError> {
        let l = self.raw();
        // SAFETY: main thread between calls. load_chunk leaves the function on top on success.
        unsafe {
            let _guard = StackGuard::new(l);
            load_chunk(l, chunk, name)?;
            super::registry::RegistryRef::from_top(self, l)
        }
    }

    /// Runs a chunk on the main thread (like a `lua-load` body: no budget, no preemption) and
    /// returns its results.
    pub fn exec(&self, chunk: &[u8], name: &str) -> Result<Vec<Value>, LuaError> {
        let l = self.raw();
        // SAFETY: main thread between calls; the chunk runs under lua_pcall. The guard restores
        // the top once the results are copied.
        unsafe {
            let _guard = StackGuard::new(l);
            let base = ffi::lua_gettop(l);
            load_chunk(l, chunk, name)?;
            let status = ffi::lua_pcall(l, 0, ffi::LUA_MULTRET, 0);
            // A panic or timeout may have armed the re-raise hook on the main thread.
            ffi::lua_sethook(l, None, 0, 0);
            if status != ffi::LUA_OK {
                return Err(pop_error(l, status));
            }
            let top = ffi::lua_gettop(l);
            Ok((base + 1..=top).map(|i| read_value(l, i)).collect())
        }
    }

    /// Sets a global to a Rust function.
    pub fn set_global_function(
        &self,
        name: &str,
        f: &'static RustFunction,
    ) -> Result<(), LuaError> {
        let cname = CString::new(name).map_err(|_| LuaError::message("name contains NUL"))?;
        let cname = cname.as_ptr();
        // SAFETY: main thread between calls; the closure captures only Copy values (a C string
        // pointer that outlives the call, a &'static) and is run under protection.
        unsafe {
            protect(self.raw(), 0, 0, move |l| {
                callback::push_function(l, f);
                ffi::lua_setglobal(l, cname);
                0
            })
        }
    }

    /// Releases the registry references dropped since the last call (rule R2). Returns how
    /// many were released. Call it at a safe point (the reactor: once per loop iteration).
    pub fn drain(&self) -> usize {
        let ids = std::mem::take(&mut *self.inner.shared.unref_queue.borrow_mut());
        if ids.is_empty() {
            return 0;
        }
        let list: &[c_int] = &ids;
        // SAFETY: main thread between calls; the closure captures a slice of the Vec owned by
        // this frame (outside the protected call). luaL_unref only writes existing slots.
        let res = unsafe {
            protect(self.raw(), 0, 0, move |l| {
                for &id in list {
                    ffi::luaL_unref(l, ffi::LUA_REGISTRYINDEX, id);
                }
                0
            })
        };
        if let Err(e) = res {
            log::error!("Lua: releasing registry references failed: {e}");
        }
        ids.len()
    }

    /// The length of the registry's array part (references in use plus free slots): constant
    /// when references are released.
    pub fn registry_len(&self) -> usize {
        // SAFETY: lua_rawlen never raises.
        unsafe { ffi::lua_rawlen(self.raw(), ffi::LUA_REGISTRYINDEX) as usize }
    }

    /// Runs a full garbage collection (finalizers included).
    pub fn collect_garbage(&self) {
        // SAFETY: a full collection only raises if a finalizer's error handling runs out of
        // memory, which 5.4 turns into a warning; protected anyway.
        let _ = unsafe {
            protect(self.raw(), 0, 0, |l| {
                ffi::lua_gc(l, ffi::LUA_GCCOLLECT, 0);
                0
            })
        };
    }
}

/// Loads a chunk onto `l` (`lua_load` runs the parser in protected mode and returns a status).
///
/// # Safety
/// `l` is a valid thread of ours, not running.
pub(crate) unsafe fn load_chunk(
    l: *mut ffi::lua_State,
    chunk: &[u8],
    name: &str,
) -> Result<(), LuaError> {
    let cname = CString::new(format!("@{name}"))
        .map_err(|_| LuaError::message("chunk name contains NUL"))?;
    // SAFETY: lua_load is self-protected (luaD_protectedparser) and only pushes the function or
    // the error object; checkstack reserves the slot.
    unsafe {
        if ffi::lua_checkstack(l, 1) == 0 {
            return Err(LuaError::Memory);
        }
        let status = ffi::luaL_loadbufferx(
            l,
            chunk.as_ptr().cast::<c_char>(),
            chunk.len(),
            cname.as_ptr(),
            c"t".as_ptr(),
        );
        if status != ffi::LUA_OK {
            return Err(pop_error(l, status));
        }
    }
    Ok(())
}

/// Lua warnings (`warn()`, errors in finalizers) go to the log.
unsafe extern "C" fn warn(_ud: *mut c_void, msg: *const c_char, _tocont: c_int) {
    // SAFETY: Lua passes a NUL-terminated message.
    let msg = unsafe { std::ffi::CStr::from_ptr(msg) }.to_string_lossy();
    if !msg.starts_with('@') {
        log::warn!("Lua warning: {msg}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_guard_restores_the_top() {
        let state = State::new().unwrap();
        let l = state.raw();
        // SAFETY: main thread between calls; plain values pushed within LUA_MINSTACK.
        unsafe {
            let top = ffi::lua_gettop(l);
            {
                let _g = StackGuard::new(l);
                ffi::lua_pushinteger(l, 1);
                ffi::lua_pushinteger(l, 2);
            }
            assert_eq!(ffi::lua_gettop(l), top);
        }
    }

    #[test]
    fn protect_reports_errors_and_keeps_results() {
        let state = State::new().unwrap();
        let l = state.raw();
        // SAFETY: main thread between calls; the closures only make API calls.
        unsafe {
            let _g = StackGuard::new(l);
            protect(l, 0, 1, |l| {
                ffi::lua_pushinteger(l, 7);
                1
            })
            .unwrap();
            assert_eq!(read_value(l, -1), Value::Integer(7));
            let e = protect(l, 0, 0, |l| {
                ffi::lua_pushstring(l, c"raised".as_ptr());
                ffi::lua_error(l)
            })
            .unwrap_err();
            assert_eq!(e, LuaError::Runtime("raised".into()));
        }
    }

    #[test]
    fn prelude_wraps_the_coroutine_library_and_main_extra_space_is_null() {
        let state = State::new().unwrap();
        let r = state.exec(b"return debug.getinfo(coroutine.resume, 'S').what, debug.getinfo(coroutine.wrap, 'S').what", "p").unwrap();
        assert_eq!(
            r,
            vec![
                Value::String(b"Lua".to_vec()),
                Value::String(b"Lua".to_vec())
            ]
        );
        // SAFETY: reading the main thread's extra space.
        assert!(unsafe { (*ffi::lua_getextraspace(state.raw()).cast::<*mut c_void>()).is_null() });
        // Without the standard libraries there is no prelude, and nothing breaks.
        let bare = State::with_options(Options { openlibs: false }).unwrap();
        assert_eq!(
            bare.exec(b"return 1", "p").unwrap(),
            vec![Value::Integer(1)]
        );
    }
}
