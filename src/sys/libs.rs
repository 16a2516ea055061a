//! The objects mapped in the process, for the CLI's `show libs`: the program and the
//! shared libraries the dynamic linker loaded, each with the address range its
//! loadable segments span.

use std::ffi::{c_int, c_void, CStr};

/// One object: `[start, end)` and its path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedObject {
    pub start: usize,
    pub end: usize,
    pub path: String,
}

/// The program first, then the libraries in the dynamic linker's order; objects
/// without a file (the vDSO) are left out.
pub fn loaded_objects() -> Vec<LoadedObject> {
    let mut out: Vec<LoadedObject> = Vec::new();
    // SAFETY: `collect` reads only the `dl_phdr_info` it is handed during the call and
    // pushes into `out`, which outlives `dl_iterate_phdr`; it does not unwind.
    unsafe { libc::dl_iterate_phdr(Some(collect), (&mut out as *mut Vec<LoadedObject>).cast::<c_void>()) };
    let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default();
    for o in out.iter_mut().filter(|o| o.path.is_empty()) {
        o.path.clone_from(&exe);
    }
    out.retain(|o| o.path.starts_with('/'));
    out
}

unsafe extern "C" fn collect(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> c_int {
    // SAFETY: the dynamic linker hands a valid `dl_phdr_info` for the duration of the
    // call, whose `dlpi_phdr` points at `dlpi_phnum` program headers and whose name is
    // a NUL-terminated string (or null); `data` is the `Vec` of `loaded_objects`.
    let (info, out) = unsafe { (&*info, &mut *data.cast::<Vec<LoadedObject>>()) };
    let phdrs = if info.dlpi_phdr.is_null() {
        &[][..]
    } else {
        // SAFETY: see above.
        unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) }
    };
    let (mut start, mut end) = (usize::MAX, 0usize);
    for ph in phdrs.iter().filter(|ph| ph.p_type == libc::PT_LOAD) {
        let s = (info.dlpi_addr as usize).wrapping_add(ph.p_vaddr as usize);
        start = start.min(s);
        end = end.max(s.wrapping_add(ph.p_memsz as usize));
    }
    let path = if info.dlpi_name.is_null() {
        String::new()
    } else {
        // SAFETY: see above.
        unsafe { CStr::from_ptr(info.dlpi_name) }.to_string_lossy().into_owned()
    };
    if start < end {
        out.push(LoadedObject { start, end, path });
    }
    0
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_program_and_libc_are_listed() {
        let objs = super::loaded_objects();
        assert!(objs[0].path == std::env::current_exe().unwrap().display().to_string(), "{objs:?}");
        assert!(objs.iter().any(|o| o.path.contains("libc.so")), "{objs:?}");
        assert!(objs.iter().all(|o| o.start < o.end));
    }
}
