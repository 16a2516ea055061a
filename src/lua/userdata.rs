//! Typed userdata and generation handles (`doc/lua-ffi.md` section 9).
//!
//! A class is a `static Class<T>`; its metatable lives in the registry under the static's
//! address. A userdata block holds a `Payload<T>`: the class identity, an `alive` flag and
//! the Rust value, dropped by `__gc` only. Objects that stand for reactor things (streams,
//! sockets…) hold a [`Handle`] checked against the state's [`HandleTable`] on every call.
use lua54_sys as ffi;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::os::raw::{c_int, c_void};

use super::callback::{self, RustFunction};

/// A userdata class: its name (`__name`, error messages) and its methods (`__index`).
///
/// `tostring()` gives what HAProxy prints for its classes, `HAProxy class <name>`
/// ([`Printed::Class`]), unless the class says otherwise.
pub struct Class<T: 'static> {
    pub name: &'static str,
    pub methods: &'static [(&'static std::ffi::CStr, &'static RustFunction)],
    printed: Printed,
    _type: PhantomData<fn() -> T>,
}

/// What `tostring()` gives for the objects of a class, as in HAProxy 2.6.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Printed {
    /// `HAProxy class <name>` (most classes).
    Class,
    /// `<name> object: 0x...` (HAProxy's `Concat`).
    Object,
    /// `userdata: 0x...`, as a userdata without a metatable prints (HAProxy's
    /// `core.parse_addr` results).
    Userdata,
}

impl<T: 'static> Class<T> {
    pub const fn new(
        name: &'static str,
        methods: &'static [(&'static std::ffi::CStr, &'static RustFunction)],
    ) -> Self {
        Class {
            name,
            methods,
            printed: Printed::Class,
            _type: PhantomData,
        }
    }

    /// The class with another `tostring()` text.
    pub const fn printed_as(mut self, printed: Printed) -> Self {
        self.printed = printed;
        self
    }

    fn key(&'static self) -> *const c_void {
        (self as *const Class<T>).cast()
    }

}

#[repr(C)]
struct Payload<T> {
    class: *const c_void,
    alive: bool,
    value: MaybeUninit<T>,
}

/// Creates (once) and pushes the class metatable. **Raises** (memory).
unsafe fn push_metatable<T: 'static>(l: *mut ffi::lua_State, class: &'static Class<T>) {
    // SAFETY: protected context (caller); at most 3 slots in use beyond the caller's.
    unsafe {
        if ffi::lua_rawgetp(l, ffi::LUA_REGISTRYINDEX, class.key()) == ffi::LUA_TTABLE {
            return;
        }
        ffi::lua_pop(l, 1);
        ffi::lua_createtable(l, 0, 4);
        ffi::lua_createtable(l, 0, class.methods.len() as c_int);
        for (name, f) in class.methods {
            callback::push_function(l, f);
            ffi::lua_setfield(l, -2, name.as_ptr());
        }
        ffi::lua_setfield(l, -2, c"__index".as_ptr());
        ffi::lua_pushboolean(l, 0);
        ffi::lua_setfield(l, -2, c"__metatable".as_ptr());
        ffi::lua_pushlstring(l, class.name.as_ptr().cast(), class.name.len());
        ffi::lua_setfield(l, -2, c"__name".as_ptr());
        ffi::lua_pushcfunction(l, gc::<T>);
        ffi::lua_setfield(l, -2, c"__gc".as_ptr());
        callback::push_function(l, &TOSTRING);
        ffi::lua_setfield(l, -2, c"__tostring".as_ptr());
        // The text `tostring()` starts with, from static parts (no Rust value with a
        // destructor lives across these raising calls, rule L1).
        let (first, second) = match class.printed {
            Printed::Class => ("HAProxy class ", class.name),
            Printed::Object => (class.name, " object: "),
            Printed::Userdata => ("userdata: ", ""),
        };
        ffi::lua_pushlstring(l, first.as_ptr().cast(), first.len());
        ffi::lua_pushlstring(l, second.as_ptr().cast(), second.len());
        ffi::lua_concat(l, 2);
        ffi::lua_rawsetp(l, -2, tostring_key());
        if class.printed != Printed::Class {
            ffi::lua_pushboolean(l, 1);
            ffi::lua_rawsetp(l, -2, address_key());
        }
        ffi::lua_pushvalue(l, -1);
        ffi::lua_rawsetp(l, ffi::LUA_REGISTRYINDEX, class.key());
    }
}

/// Registry-unique keys of the metatable entries `__tostring` reads (raw, light
/// userdata keys: reading them never raises).
static TOSTRING_KEY: u8 = 0;
static ADDRESS_KEY: u8 = 0;

fn tostring_key() -> *mut c_void {
    std::ptr::addr_of!(TOSTRING_KEY).cast_mut().cast()
}

fn address_key() -> *mut c_void {
    std::ptr::addr_of!(ADDRESS_KEY).cast_mut().cast()
}

/// `__tostring` of every class: the text stored in the metatable, and the object's
/// address for the classes printed with it.
static TOSTRING: RustFunction = RustFunction::new("__tostring", |ctx| {
    ctx.reserve(3)?;
    let l = ctx.raw();
    let mut text = Vec::new();
    let mut address = None;
    // SAFETY: non-raising calls only (rule L3): lua_getmetatable, lua_pushlightuserdata,
    // raw gets, lua_tolstring on a string, lua_topointer, lua_pop; three slots reserved.
    // The bytes are copied before the string is popped.
    unsafe {
        if ffi::lua_getmetatable(l, 1) != 0 {
            ffi::lua_pushlightuserdata(l, tostring_key());
            if ffi::lua_rawget(l, -2) == ffi::LUA_TSTRING {
                let mut len = 0;
                let p = ffi::lua_tolstring(l, -1, &mut len);
                text.extend_from_slice(std::slice::from_raw_parts(p.cast::<u8>(), len));
            }
            ffi::lua_pop(l, 1);
            ffi::lua_pushlightuserdata(l, address_key());
            if ffi::lua_rawget(l, -2) == ffi::LUA_TBOOLEAN {
                address = Some(ffi::lua_topointer(l, 1));
            }
            ffi::lua_pop(l, 2);
        }
    }
    if let Some(p) = address {
        text.extend_from_slice(format!("{p:p}").as_bytes());
    }
    ctx.push_bytes(&text)?;
    Ok(1)
});

/// Pushes a new userdata of `class` holding the value taken from `*value`. **Raises**
/// (memory) before the value is taken: on error it stays in `*value`. Returns 1.
///
/// # Safety
/// Protected context (or no memory limit); `value` points at a `Some`.
pub(crate) unsafe fn push<T: 'static>(
    l: *mut ffi::lua_State,
    class: &'static Class<T>,
    value: *mut Option<T>,
) -> c_int {
    const {
        assert!(
            std::mem::align_of::<Payload<T>>() <= 8,
            "userdata blocks are 8-aligned"
        )
    };
    // SAFETY: the block is fresh and large enough for Payload<T>; the value moves in with no
    // raising call in between; setmetatable never raises.
    unsafe {
        push_metatable(l, class);
        let block =
            ffi::lua_newuserdatauv(l, std::mem::size_of::<Payload<T>>(), 0).cast::<Payload<T>>();
        let v = (*value).take().expect("userdata value present");
        block.write(Payload {
            class: class.key(),
            alive: true,
            value: MaybeUninit::new(v),
        });
        ffi::lua_rotate(l, -2, 1);
        ffi::lua_setmetatable(l, -2);
    }
    1
}

/// The value of the userdata at `n` if it is a live object of `class`. Never raises.
///
/// # Safety
/// `l` is valid; the returned borrow must not outlive the value's presence on the stack.
pub(crate) unsafe fn check<'a, T: 'static>(
    l: *mut ffi::lua_State,
    n: c_int,
    class: &'static Class<T>,
) -> Option<&'a T> {
    // SAFETY: type check first; the class key identifies blocks we created as Payload<T>
    // (a userdata of another class or made by a C module has a different or no key: its first
    // word is compared only if its metatable is ours).
    unsafe {
        if ffi::lua_type(l, n) != ffi::LUA_TUSERDATA || ffi::lua_checkstack(l, 2) == 0 {
            return None;
        }
        if ffi::lua_getmetatable(l, n) == 0 {
            return None;
        }
        ffi::lua_rawgetp(l, ffi::LUA_REGISTRYINDEX, class.key());
        let same = ffi::lua_rawequal(l, -1, -2) != 0;
        ffi::lua_pop(l, 2);
        if !same {
            return None;
        }
        // A script with the debug library can put our metatable on a foreign userdata: check
        // the block's size before reading it, then the class key inside.
        if ffi::lua_rawlen(l, n) as usize != std::mem::size_of::<Payload<T>>() {
            return None;
        }
        let p = &*ffi::lua_touserdata(l, n).cast::<Payload<T>>();
        if p.class != class.key() || !p.alive {
            return None;
        }
        Some(p.value.assume_init_ref())
    }
}

/// `__gc`: drops the Rust value, once (rule U3).
unsafe extern "C-unwind" fn gc<T: 'static>(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua with the userdata at index 1.
    unsafe { gc_body::<T>(l) }
}

/// `extern "C"`: a panicking `Drop` aborts instead of unwinding into the collector.
unsafe extern "C" fn gc_body<T: 'static>(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: __gc of our metatable only reaches Payload<T> blocks; the alive flag makes a
    // second call (resurrection) harmless.
    unsafe {
        let p = ffi::lua_touserdata(l, 1).cast::<Payload<T>>();
        if !p.is_null() && (*p).alive {
            (*p).alive = false;
            (*p).value.assume_init_drop();
        }
    }
    0
}

/// A reference to a reactor object: slot key plus generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handle {
    pub key: u32,
    pub generation: u32,
}

/// Live generations of handle keys. Removing a handle bumps its key's generation, so every
/// userdata still holding it becomes invalid at once.
#[derive(Debug, Default)]
pub struct HandleTable {
    generations: Vec<u32>,
    live: Vec<bool>,
    free: Vec<u32>,
}

impl HandleTable {
    /// A new live handle.
    pub fn insert(&mut self) -> Handle {
        if let Some(key) = self.free.pop() {
            self.live[key as usize] = true;
            return Handle {
                key,
                generation: self.generations[key as usize],
            };
        }
        let key = self.generations.len() as u32;
        self.generations.push(0);
        self.live.push(true);
        Handle { key, generation: 0 }
    }

    /// Invalidates `h`; false if it was not live.
    pub fn remove(&mut self, h: Handle) -> bool {
        if !self.is_live(h) {
            return false;
        }
        let k = h.key as usize;
        self.live[k] = false;
        self.generations[k] = self.generations[k].wrapping_add(1);
        self.free.push(h.key);
        true
    }

    pub fn is_live(&self, h: Handle) -> bool {
        let k = h.key as usize;
        k < self.live.len() && self.live[k] && self.generations[k] == h.generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations() {
        let mut t = HandleTable::default();
        let a = t.insert();
        assert!(t.is_live(a));
        assert!(t.remove(a));
        assert!(!t.is_live(a));
        assert!(!t.remove(a));
        let b = t.insert();
        assert_eq!(b.key, a.key);
        assert_ne!(b.generation, a.generation);
        assert!(t.is_live(b) && !t.is_live(a));
    }
}
