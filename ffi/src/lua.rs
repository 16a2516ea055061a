//! lua.h: the core API.
//!
//! Declarations follow the header's sections. Functions documented with **Raises** may
//! `longjmp` (error or yield); call them only under `lua_pcall`/`lua_resume`, from frames that
//! hold no value with a destructor (see `doc/lua-ffi.md`, rules L1-L3). The others never raise,
//! given enough stack room.
use std::os::raw::{c_char, c_int, c_uchar, c_ushort, c_void};

/// Opaque Lua state (a thread).
#[repr(C)]
pub struct lua_State {
    _private: [u8; 0],
    _pin: std::marker::PhantomData<(*mut u8, std::marker::PhantomPinned)>,
}

/// Opaque `CallInfo` (only pointed to by `lua_Debug`).
#[repr(C)]
pub struct CallInfo {
    _private: [u8; 0],
}

pub type lua_Number = f64;
pub type lua_Integer = i64;
pub type lua_Unsigned = u64;
pub type lua_KContext = isize;
pub type lua_CFunction = unsafe extern "C-unwind" fn(L: *mut lua_State) -> c_int;
pub type lua_KFunction =
    unsafe extern "C-unwind" fn(L: *mut lua_State, status: c_int, ctx: lua_KContext) -> c_int;
pub type lua_Reader = unsafe extern "C-unwind" fn(
    L: *mut lua_State,
    ud: *mut c_void,
    sz: *mut usize,
) -> *const c_char;
pub type lua_Writer = unsafe extern "C-unwind" fn(
    L: *mut lua_State,
    p: *const c_void,
    sz: usize,
    ud: *mut c_void,
) -> c_int;
/// The allocator never unwinds: it is plain `extern "C"`.
pub type lua_Alloc = unsafe extern "C" fn(
    ud: *mut c_void,
    ptr: *mut c_void,
    osize: usize,
    nsize: usize,
) -> *mut c_void;
pub type lua_WarnFunction =
    unsafe extern "C" fn(ud: *mut c_void, msg: *const c_char, tocont: c_int);
/// Hooks may raise (`lua_error`) or yield (count/line events only).
pub type lua_Hook = unsafe extern "C-unwind" fn(L: *mut lua_State, ar: *mut lua_Debug);

// Version.
pub const LUA_VERSION_MAJOR: &str = "5";
pub const LUA_VERSION_MINOR: &str = "4";
pub const LUA_VERSION_NUM: lua_Number = 504.0;

/// Option for multiple returns in `lua_pcall` and `lua_call`.
pub const LUA_MULTRET: c_int = -1;

// Pseudo-indices (LUAI_MAXSTACK is 1000000 in the default luaconf.h).
pub const LUAI_MAXSTACK: c_int = 1_000_000;
pub const LUA_REGISTRYINDEX: c_int = -LUAI_MAXSTACK - 1000;
/// `lua_upvalueindex` macro.
#[inline(always)]
pub const fn lua_upvalueindex(i: c_int) -> c_int {
    LUA_REGISTRYINDEX - i
}

// Thread status.
pub const LUA_OK: c_int = 0;
pub const LUA_YIELD: c_int = 1;
pub const LUA_ERRRUN: c_int = 2;
pub const LUA_ERRSYNTAX: c_int = 3;
pub const LUA_ERRMEM: c_int = 4;
pub const LUA_ERRERR: c_int = 5;

// Basic types.
pub const LUA_TNONE: c_int = -1;
pub const LUA_TNIL: c_int = 0;
pub const LUA_TBOOLEAN: c_int = 1;
pub const LUA_TLIGHTUSERDATA: c_int = 2;
pub const LUA_TNUMBER: c_int = 3;
pub const LUA_TSTRING: c_int = 4;
pub const LUA_TTABLE: c_int = 5;
pub const LUA_TFUNCTION: c_int = 6;
pub const LUA_TUSERDATA: c_int = 7;
pub const LUA_TTHREAD: c_int = 8;
pub const LUA_NUMTYPES: c_int = 9;

/// Minimum Lua stack available to a C function.
pub const LUA_MINSTACK: c_int = 20;

// Predefined values in the registry.
pub const LUA_RIDX_MAINTHREAD: lua_Integer = 1;
pub const LUA_RIDX_GLOBALS: lua_Integer = 2;
pub const LUA_RIDX_LAST: lua_Integer = LUA_RIDX_GLOBALS;

/// `LUA_EXTRASPACE` of luaconf.h: `sizeof(void *)`.
pub const LUA_EXTRASPACE: usize = std::mem::size_of::<*mut c_void>();
/// `LUA_IDSIZE` of luaconf.h.
pub const LUA_IDSIZE: usize = 60;

// Comparison and arithmetic operators.
pub const LUA_OPADD: c_int = 0;
pub const LUA_OPSUB: c_int = 1;
pub const LUA_OPMUL: c_int = 2;
pub const LUA_OPMOD: c_int = 3;
pub const LUA_OPPOW: c_int = 4;
pub const LUA_OPDIV: c_int = 5;
pub const LUA_OPIDIV: c_int = 6;
pub const LUA_OPBAND: c_int = 7;
pub const LUA_OPBOR: c_int = 8;
pub const LUA_OPBXOR: c_int = 9;
pub const LUA_OPSHL: c_int = 10;
pub const LUA_OPSHR: c_int = 11;
pub const LUA_OPUNM: c_int = 12;
pub const LUA_OPBNOT: c_int = 13;
pub const LUA_OPEQ: c_int = 0;
pub const LUA_OPLT: c_int = 1;
pub const LUA_OPLE: c_int = 2;

// Garbage-collection options.
pub const LUA_GCSTOP: c_int = 0;
pub const LUA_GCRESTART: c_int = 1;
pub const LUA_GCCOLLECT: c_int = 2;
pub const LUA_GCCOUNT: c_int = 3;
pub const LUA_GCCOUNTB: c_int = 4;
pub const LUA_GCSTEP: c_int = 5;
pub const LUA_GCSETPAUSE: c_int = 6;
pub const LUA_GCSETSTEPMUL: c_int = 7;
pub const LUA_GCISRUNNING: c_int = 9;
pub const LUA_GCGEN: c_int = 10;
pub const LUA_GCINC: c_int = 11;

// Debug API: event codes and masks.
pub const LUA_HOOKCALL: c_int = 0;
pub const LUA_HOOKRET: c_int = 1;
pub const LUA_HOOKLINE: c_int = 2;
pub const LUA_HOOKCOUNT: c_int = 3;
pub const LUA_HOOKTAILCALL: c_int = 4;
pub const LUA_MASKCALL: c_int = 1 << LUA_HOOKCALL;
pub const LUA_MASKRET: c_int = 1 << LUA_HOOKRET;
pub const LUA_MASKLINE: c_int = 1 << LUA_HOOKLINE;
pub const LUA_MASKCOUNT: c_int = 1 << LUA_HOOKCOUNT;

/// Activation record for the debug API (`struct lua_Debug` of lua.h 5.4).
#[repr(C)]
pub struct lua_Debug {
    pub event: c_int,
    /// (n)
    pub name: *const c_char,
    /// (n) 'global', 'local', 'field', 'method'
    pub namewhat: *const c_char,
    /// (S) 'Lua', 'C', 'main', 'tail'
    pub what: *const c_char,
    /// (S)
    pub source: *const c_char,
    /// (S)
    pub srclen: usize,
    /// (l)
    pub currentline: c_int,
    /// (S)
    pub linedefined: c_int,
    /// (S)
    pub lastlinedefined: c_int,
    /// (u) number of upvalues
    pub nups: c_uchar,
    /// (u) number of parameters
    pub nparams: c_uchar,
    /// (u)
    pub isvararg: c_char,
    /// (t)
    pub istailcall: c_char,
    /// (r) index of first value transferred
    pub ftransfer: c_ushort,
    /// (r) number of transferred values
    pub ntransfer: c_ushort,
    /// (S)
    pub short_src: [c_char; LUA_IDSIZE],
    // Private part.
    i_ci: *mut CallInfo,
}

impl lua_Debug {
    /// An all-zero record, ready for `lua_getstack`.
    pub const fn zeroed() -> Self {
        lua_Debug {
            event: 0,
            name: std::ptr::null(),
            namewhat: std::ptr::null(),
            what: std::ptr::null(),
            source: std::ptr::null(),
            srclen: 0,
            currentline: 0,
            linedefined: 0,
            lastlinedefined: 0,
            nups: 0,
            nparams: 0,
            isvararg: 0,
            istailcall: 0,
            ftransfer: 0,
            ntransfer: 0,
            short_src: [0; LUA_IDSIZE],
            i_ci: std::ptr::null_mut(),
        }
    }
}

// State manipulation.
unsafe extern "C-unwind" {
    /// Returns null when the first allocation fails.
    pub fn lua_newstate(f: lua_Alloc, ud: *mut c_void) -> *mut lua_State;
    /// Runs pending finalizers; their errors become warnings.
    pub fn lua_close(L: *mut lua_State);
    /// **Raises** (memory): pushes the new thread.
    pub fn lua_newthread(L: *mut lua_State) -> *mut lua_State;
    /// Closes the thread's to-be-closed variables (protected) and resets it; returns a status.
    pub fn lua_closethread(L: *mut lua_State, from: *mut lua_State) -> c_int;
    pub fn lua_atpanic(L: *mut lua_State, panicf: lua_CFunction) -> Option<lua_CFunction>;
    pub fn lua_version(L: *mut lua_State) -> lua_Number;
}

// Basic stack manipulation.
unsafe extern "C-unwind" {
    pub fn lua_absindex(L: *mut lua_State, idx: c_int) -> c_int;
    pub fn lua_gettop(L: *mut lua_State) -> c_int;
    /// Raising the top fills with nil; lowering it may run `__close` (**Raises** then).
    pub fn lua_settop(L: *mut lua_State, idx: c_int);
    pub fn lua_pushvalue(L: *mut lua_State, idx: c_int);
    pub fn lua_rotate(L: *mut lua_State, idx: c_int, n: c_int);
    pub fn lua_copy(L: *mut lua_State, fromidx: c_int, toidx: c_int);
    /// Never raises in 5.4: returns 0 when the stack cannot grow.
    pub fn lua_checkstack(L: *mut lua_State, n: c_int) -> c_int;
    pub fn lua_xmove(from: *mut lua_State, to: *mut lua_State, n: c_int);
}

// Access functions (stack -> C).
unsafe extern "C-unwind" {
    pub fn lua_isnumber(L: *mut lua_State, idx: c_int) -> c_int;
    pub fn lua_isstring(L: *mut lua_State, idx: c_int) -> c_int;
    pub fn lua_iscfunction(L: *mut lua_State, idx: c_int) -> c_int;
    pub fn lua_isinteger(L: *mut lua_State, idx: c_int) -> c_int;
    pub fn lua_isuserdata(L: *mut lua_State, idx: c_int) -> c_int;
    pub fn lua_type(L: *mut lua_State, idx: c_int) -> c_int;
    pub fn lua_typename(L: *mut lua_State, tp: c_int) -> *const c_char;
    pub fn lua_tonumberx(L: *mut lua_State, idx: c_int, isnum: *mut c_int) -> lua_Number;
    pub fn lua_tointegerx(L: *mut lua_State, idx: c_int, isnum: *mut c_int) -> lua_Integer;
    pub fn lua_toboolean(L: *mut lua_State, idx: c_int) -> c_int;
    /// **Raises** (memory) when it converts a number in place to a string.
    pub fn lua_tolstring(L: *mut lua_State, idx: c_int, len: *mut usize) -> *const c_char;
    pub fn lua_rawlen(L: *mut lua_State, idx: c_int) -> lua_Unsigned;
    pub fn lua_tocfunction(L: *mut lua_State, idx: c_int) -> Option<lua_CFunction>;
    pub fn lua_touserdata(L: *mut lua_State, idx: c_int) -> *mut c_void;
    pub fn lua_tothread(L: *mut lua_State, idx: c_int) -> *mut lua_State;
    pub fn lua_topointer(L: *mut lua_State, idx: c_int) -> *const c_void;
}

// Comparison and arithmetic.
unsafe extern "C-unwind" {
    /// **Raises** (metamethods, errors).
    pub fn lua_arith(L: *mut lua_State, op: c_int);
    pub fn lua_rawequal(L: *mut lua_State, idx1: c_int, idx2: c_int) -> c_int;
    /// **Raises** (metamethods).
    pub fn lua_compare(L: *mut lua_State, idx1: c_int, idx2: c_int, op: c_int) -> c_int;
}

// Push functions (C -> stack).
unsafe extern "C-unwind" {
    pub fn lua_pushnil(L: *mut lua_State);
    pub fn lua_pushnumber(L: *mut lua_State, n: lua_Number);
    pub fn lua_pushinteger(L: *mut lua_State, n: lua_Integer);
    /// **Raises** (memory).
    pub fn lua_pushlstring(L: *mut lua_State, s: *const c_char, len: usize) -> *const c_char;
    /// **Raises** (memory).
    pub fn lua_pushstring(L: *mut lua_State, s: *const c_char) -> *const c_char;
    /// **Raises** (memory).
    pub fn lua_pushfstring(L: *mut lua_State, fmt: *const c_char, ...) -> *const c_char;
    /// **Raises** (memory) when `n > 0` (a closure is allocated); `n == 0` pushes a light C function.
    pub fn lua_pushcclosure(L: *mut lua_State, f: lua_CFunction, n: c_int);
    pub fn lua_pushboolean(L: *mut lua_State, b: c_int);
    pub fn lua_pushlightuserdata(L: *mut lua_State, p: *mut c_void);
    pub fn lua_pushthread(L: *mut lua_State) -> c_int;
}

// Get functions (Lua -> stack).
unsafe extern "C-unwind" {
    /// **Raises** (metamethods).
    pub fn lua_getglobal(L: *mut lua_State, name: *const c_char) -> c_int;
    /// **Raises** (metamethods).
    pub fn lua_gettable(L: *mut lua_State, idx: c_int) -> c_int;
    /// **Raises** (metamethods, memory for the key string).
    pub fn lua_getfield(L: *mut lua_State, idx: c_int, k: *const c_char) -> c_int;
    /// **Raises** (metamethods).
    pub fn lua_geti(L: *mut lua_State, idx: c_int, n: lua_Integer) -> c_int;
    pub fn lua_rawget(L: *mut lua_State, idx: c_int) -> c_int;
    pub fn lua_rawgeti(L: *mut lua_State, idx: c_int, n: lua_Integer) -> c_int;
    pub fn lua_rawgetp(L: *mut lua_State, idx: c_int, p: *const c_void) -> c_int;
    /// **Raises** (memory).
    pub fn lua_createtable(L: *mut lua_State, narr: c_int, nrec: c_int);
    /// **Raises** (memory).
    pub fn lua_newuserdatauv(L: *mut lua_State, sz: usize, nuvalue: c_int) -> *mut c_void;
    pub fn lua_getmetatable(L: *mut lua_State, objindex: c_int) -> c_int;
    pub fn lua_getiuservalue(L: *mut lua_State, idx: c_int, n: c_int) -> c_int;
}

// Set functions (stack -> Lua).
unsafe extern "C-unwind" {
    /// **Raises** (metamethods, memory).
    pub fn lua_setglobal(L: *mut lua_State, name: *const c_char);
    /// **Raises** (metamethods, memory).
    pub fn lua_settable(L: *mut lua_State, idx: c_int);
    /// **Raises** (metamethods, memory).
    pub fn lua_setfield(L: *mut lua_State, idx: c_int, k: *const c_char);
    /// **Raises** (metamethods, memory).
    pub fn lua_seti(L: *mut lua_State, idx: c_int, n: lua_Integer);
    /// **Raises** (memory, for a new key).
    pub fn lua_rawset(L: *mut lua_State, idx: c_int);
    /// **Raises** (memory, for a new key).
    pub fn lua_rawseti(L: *mut lua_State, idx: c_int, n: lua_Integer);
    /// **Raises** (memory, for a new key).
    pub fn lua_rawsetp(L: *mut lua_State, idx: c_int, p: *const c_void);
    pub fn lua_setmetatable(L: *mut lua_State, objindex: c_int) -> c_int;
    pub fn lua_setiuservalue(L: *mut lua_State, idx: c_int, n: c_int) -> c_int;
}

// 'load' and 'call' functions.
unsafe extern "C-unwind" {
    /// **Raises** (anything the callee raises).
    pub fn lua_callk(
        L: *mut lua_State,
        nargs: c_int,
        nresults: c_int,
        ctx: lua_KContext,
        k: Option<lua_KFunction>,
    );
    pub fn lua_pcallk(
        L: *mut lua_State,
        nargs: c_int,
        nresults: c_int,
        errfunc: c_int,
        ctx: lua_KContext,
        k: Option<lua_KFunction>,
    ) -> c_int;
    pub fn lua_load(
        L: *mut lua_State,
        reader: lua_Reader,
        dt: *mut c_void,
        chunkname: *const c_char,
        mode: *const c_char,
    ) -> c_int;
    pub fn lua_dump(
        L: *mut lua_State,
        writer: lua_Writer,
        data: *mut c_void,
        strip: c_int,
    ) -> c_int;
}

// Coroutine functions.
unsafe extern "C-unwind" {
    /// **Raises** (a yield) when called from a C function; returns normally from a hook.
    pub fn lua_yieldk(
        L: *mut lua_State,
        nresults: c_int,
        ctx: lua_KContext,
        k: Option<lua_KFunction>,
    ) -> c_int;
    pub fn lua_resume(
        L: *mut lua_State,
        from: *mut lua_State,
        narg: c_int,
        nres: *mut c_int,
    ) -> c_int;
    pub fn lua_status(L: *mut lua_State) -> c_int;
    pub fn lua_isyieldable(L: *mut lua_State) -> c_int;
}

// Warning-related functions.
unsafe extern "C-unwind" {
    pub fn lua_setwarnf(L: *mut lua_State, f: Option<lua_WarnFunction>, ud: *mut c_void);
    pub fn lua_warning(L: *mut lua_State, msg: *const c_char, tocont: c_int);
}

// Garbage collection.
unsafe extern "C-unwind" {
    /// `LUA_GCCOLLECT`/`LUA_GCSTEP` run finalizers (errors there become warnings).
    pub fn lua_gc(L: *mut lua_State, what: c_int, ...) -> c_int;
}

// Miscellaneous functions.
unsafe extern "C-unwind" {
    /// **Raises**, always: never returns.
    pub fn lua_error(L: *mut lua_State) -> !;
    /// **Raises** if the key is not in the table ("invalid key to 'next'").
    pub fn lua_next(L: *mut lua_State, idx: c_int) -> c_int;
    /// **Raises** (metamethods, memory).
    pub fn lua_concat(L: *mut lua_State, n: c_int);
    /// **Raises** (metamethods).
    pub fn lua_len(L: *mut lua_State, idx: c_int);
    pub fn lua_stringtonumber(L: *mut lua_State, s: *const c_char) -> usize;
    pub fn lua_getallocf(L: *mut lua_State, ud: *mut *mut c_void) -> lua_Alloc;
    pub fn lua_setallocf(L: *mut lua_State, f: lua_Alloc, ud: *mut c_void);
    /// **Raises** if the value has no `__close` metamethod.
    pub fn lua_toclose(L: *mut lua_State, idx: c_int);
    /// **Raises** (runs `__close`).
    pub fn lua_closeslot(L: *mut lua_State, idx: c_int);
}

// Debug API.
unsafe extern "C-unwind" {
    pub fn lua_getstack(L: *mut lua_State, level: c_int, ar: *mut lua_Debug) -> c_int;
    /// May push values (options 'f', 'L'): **Raises** (memory) with 'L'.
    pub fn lua_getinfo(L: *mut lua_State, what: *const c_char, ar: *mut lua_Debug) -> c_int;
    pub fn lua_getlocal(L: *mut lua_State, ar: *const lua_Debug, n: c_int) -> *const c_char;
    pub fn lua_setlocal(L: *mut lua_State, ar: *const lua_Debug, n: c_int) -> *const c_char;
    pub fn lua_getupvalue(L: *mut lua_State, funcindex: c_int, n: c_int) -> *const c_char;
    pub fn lua_setupvalue(L: *mut lua_State, funcindex: c_int, n: c_int) -> *const c_char;
    /// Callable from a signal handler (lua.c does so, see ldebug.c).
    pub fn lua_sethook(L: *mut lua_State, func: Option<lua_Hook>, mask: c_int, count: c_int);
    pub fn lua_gethook(L: *mut lua_State) -> Option<lua_Hook>;
    pub fn lua_gethookmask(L: *mut lua_State) -> c_int;
    pub fn lua_gethookcount(L: *mut lua_State) -> c_int;
}

// Macros.

/// `lua_getextraspace`: the `LUA_EXTRASPACE` bytes just before the state.
///
/// # Safety
/// `L` must be a valid state.
#[inline(always)]
pub unsafe fn lua_getextraspace(L: *mut lua_State) -> *mut c_void {
    // SAFETY: lstate.c allocates LX { lu_byte extra_[LUA_EXTRASPACE]; lua_State l; }, so the
    // extra space lies in the same allocation, right before L.
    unsafe { L.cast::<u8>().sub(LUA_EXTRASPACE).cast() }
}

/// # Safety
/// Valid state.
#[inline(always)]
pub unsafe fn lua_tonumber(L: *mut lua_State, i: c_int) -> lua_Number {
    // SAFETY: forwarded contract.
    unsafe { lua_tonumberx(L, i, std::ptr::null_mut()) }
}

/// # Safety
/// Valid state.
#[inline(always)]
pub unsafe fn lua_tointeger(L: *mut lua_State, i: c_int) -> lua_Integer {
    // SAFETY: forwarded contract.
    unsafe { lua_tointegerx(L, i, std::ptr::null_mut()) }
}

/// `lua_pop` macro.
///
/// # Safety
/// `L` must be a valid state with at least `n` values on its stack.
#[inline(always)]
pub unsafe fn lua_pop(L: *mut lua_State, n: c_int) {
    // SAFETY: forwarded contract.
    unsafe { lua_settop(L, -n - 1) }
}

/// **Raises** (memory).
///
/// # Safety
/// Valid state, protected context.
#[inline(always)]
pub unsafe fn lua_newtable(L: *mut lua_State) {
    // SAFETY: forwarded contract.
    unsafe { lua_createtable(L, 0, 0) }
}

/// Pushes a light C function (never raises).
///
/// # Safety
/// Valid state with a free slot.
#[inline(always)]
pub unsafe fn lua_pushcfunction(L: *mut lua_State, f: lua_CFunction) {
    // SAFETY: forwarded contract; with no upvalue nothing is allocated.
    unsafe { lua_pushcclosure(L, f, 0) }
}

macro_rules! type_predicates {
    ($($name:ident => $t:ident),* $(,)?) => {$(
        /// # Safety
        /// Valid state.
        #[inline(always)]
        pub unsafe fn $name(L: *mut lua_State, n: c_int) -> bool {
            // SAFETY: forwarded contract.
            unsafe { lua_type(L, n) == $t }
        }
    )*};
}
type_predicates! {
    lua_isfunction => LUA_TFUNCTION,
    lua_istable => LUA_TTABLE,
    lua_islightuserdata => LUA_TLIGHTUSERDATA,
    lua_isnil => LUA_TNIL,
    lua_isboolean => LUA_TBOOLEAN,
    lua_isthread => LUA_TTHREAD,
    lua_isnone => LUA_TNONE,
}

/// # Safety
/// Valid state.
#[inline(always)]
pub unsafe fn lua_isnoneornil(L: *mut lua_State, n: c_int) -> bool {
    // SAFETY: forwarded contract.
    unsafe { lua_type(L, n) <= 0 }
}

/// # Safety
/// Valid state with a free slot.
#[inline(always)]
pub unsafe fn lua_pushglobaltable(L: *mut lua_State) {
    // SAFETY: forwarded contract; a raw get never raises.
    unsafe {
        lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    }
}

/// `lua_tostring` macro (**Raises** (memory) when converting a number).
///
/// # Safety
/// `L` must be a valid state and `idx` an acceptable index.
#[inline(always)]
pub unsafe fn lua_tostring(L: *mut lua_State, idx: c_int) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { lua_tolstring(L, idx, std::ptr::null_mut()) }
}

/// # Safety
/// Valid state and index.
#[inline(always)]
pub unsafe fn lua_insert(L: *mut lua_State, idx: c_int) {
    // SAFETY: forwarded contract.
    unsafe { lua_rotate(L, idx, 1) }
}

/// # Safety
/// Valid state and index.
#[inline(always)]
pub unsafe fn lua_remove(L: *mut lua_State, idx: c_int) {
    // SAFETY: forwarded contract.
    unsafe {
        lua_rotate(L, idx, -1);
        lua_pop(L, 1);
    }
}

/// # Safety
/// Valid state and index.
#[inline(always)]
pub unsafe fn lua_replace(L: *mut lua_State, idx: c_int) {
    // SAFETY: forwarded contract.
    unsafe {
        lua_copy(L, -1, idx);
        lua_pop(L, 1);
    }
}

/// `lua_call` macro (**Raises**).
///
/// # Safety
/// Valid state holding the function and its arguments; protected context.
#[inline(always)]
pub unsafe fn lua_call(L: *mut lua_State, nargs: c_int, nresults: c_int) {
    // SAFETY: forwarded contract.
    unsafe { lua_callk(L, nargs, nresults, 0, None) }
}

/// `lua_pcall` macro.
///
/// # Safety
/// `L` must be a valid state holding the function and its `nargs` arguments.
#[inline(always)]
pub unsafe fn lua_pcall(L: *mut lua_State, nargs: c_int, nresults: c_int, errfunc: c_int) -> c_int {
    // SAFETY: forwarded contract; pcall catches errors raised by the callee.
    unsafe { lua_pcallk(L, nargs, nresults, errfunc, 0, None) }
}

/// `lua_yield` macro (**Raises** a yield from a C function; returns from a hook).
///
/// # Safety
/// Valid, yieldable state; no frame with destructors between here and the resume.
#[inline(always)]
pub unsafe fn lua_yield(L: *mut lua_State, nresults: c_int) -> c_int {
    // SAFETY: forwarded contract.
    unsafe { lua_yieldk(L, nresults, 0, None) }
}

/// **Raises** (memory).
///
/// # Safety
/// Valid state, protected context.
#[inline(always)]
pub unsafe fn lua_newuserdata(L: *mut lua_State, sz: usize) -> *mut c_void {
    // SAFETY: forwarded contract.
    unsafe { lua_newuserdatauv(L, sz, 1) }
}
