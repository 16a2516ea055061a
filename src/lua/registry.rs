//! Owning registry references with deferred release (`doc/lua-ffi.md` section 6).
use super::error::LuaError;
use super::state::{self, Inner, State};
use lua54_sys as ffi;
use std::os::raw::c_int;
use std::rc::Rc;

/// A value anchored in the registry (`luaL_ref`). Dropping it never calls Lua: the id goes on
/// the state's deferred-unref queue, released by [`State::drain`].
pub struct RegistryRef {
    id: c_int,
    inner: Rc<Inner>,
}

impl std::fmt::Debug for RegistryRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RegistryRef({})", self.id)
    }
}

impl RegistryRef {
    /// Pops the value on top of `l` into the registry.
    ///
    /// # Safety
    /// `l` is a non-running thread of `state` with a value on top.
    pub(crate) unsafe fn from_top(
        state: &State,
        l: *mut ffi::lua_State,
    ) -> Result<RegistryRef, LuaError> {
        let mut id: c_int = ffi::LUA_NOREF;
        let out: *mut c_int = &mut id;
        // SAFETY: luaL_ref allocates (raises on memory errors): protected; the closure writes
        // through a raw pointer to this frame's local, which outlives the call.
        unsafe {
            state::protect(l, 1, 0, move |l| {
                *out = ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX);
                0
            })?;
        }
        Ok(RegistryRef {
            id,
            inner: state.inner.clone(),
        })
    }

    /// The reference number (`LUA_REFNIL` for nil).
    pub fn id(&self) -> c_int {
        self.id
    }

    /// Pushes the value on `l` (a thread of the same state). Never raises.
    ///
    /// # Safety
    /// `l` is a thread of this reference's state with a free stack slot.
    pub unsafe fn push(&self, l: *mut ffi::lua_State) {
        // SAFETY: a raw get never raises; LUA_REFNIL reads registry[-1], which is nil, but say
        // so explicitly.
        unsafe {
            if self.id == ffi::LUA_REFNIL {
                ffi::lua_pushnil(l);
            } else {
                ffi::lua_rawgeti(l, ffi::LUA_REGISTRYINDEX, self.id as ffi::lua_Integer);
            }
        }
    }
}

impl Drop for RegistryRef {
    fn drop(&mut self) {
        if self.id >= 0 {
            self.inner.shared.unref_queue.borrow_mut().push(self.id);
        }
    }
}

impl RegistryRef {
    /// Wraps an id obtained by `luaL_ref` on `state`'s registry.
    pub(crate) fn from_id(state: &State, id: c_int) -> RegistryRef {
        RegistryRef {
            id,
            inner: state.inner.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_defers_and_drain_releases() {
        let state = State::new().unwrap();
        let f = state.load(b"return 1", "t").unwrap();
        assert!(f.id() > 0);
        let id = f.id();
        drop(f);
        assert_eq!(*state.shared().unref_queue.borrow(), vec![id]);
        assert_eq!(state.drain(), 1);
        assert!(state.shared().unref_queue.borrow().is_empty());
        // The released slot is reused by the next reference.
        let g = state.load(b"return 2", "t").unwrap();
        assert_eq!(g.id(), id);
    }

    #[test]
    fn nil_reference() {
        let state = State::new().unwrap();
        let l = state.raw();
        // SAFETY: main thread between calls; one slot pushed.
        let r = unsafe {
            ffi::lua_pushnil(l);
            RegistryRef::from_top(&state, l).unwrap()
        };
        assert_eq!(r.id(), ffi::LUA_REFNIL);
        drop(r);
        assert!(
            state.shared().unref_queue.borrow().is_empty(),
            "LUA_REFNIL is never unref'd"
        );
    }
}
