//! Letting go of the program text an idle server no longer runs.
//!
//! Start-up and a node's configuration run much of the server's code
//! (argument parsing, the boot, ifconfig and route calls), and Linux maps
//! each file page a process touches plus its neighbours (fault-around,
//! 64 KiB at a time), so a server at rest would keep about 4 MB of
//! program and library text mapped that it does not run again. The pages
//! are the page cache's, one copy shared by every server; the mappings
//! are each process's resident set. Once the kernel has had no call for a
//! while, `release` drops this process's mappings of every read-only,
//! never-written segment (text, read-only data) of the program and its
//! libraries; code that runs again is mapped again from the page cache on
//! its first use (a minor fault, no read). Writable segments, relocated
//! read-only data (RELRO) and anonymous memory are left alone.

use std::ffi::CStr;

/// Drops this process's mappings of the never-written segments of every
/// loaded object; the bytes released.
pub fn release() -> usize {
    let mut released = 0usize;
    // SAFETY: the callback only reads the program headers it is given.
    unsafe { libc::dl_iterate_phdr(Some(release_object), (&mut released as *mut usize).cast()) };
    released
}

/// `dl_iterate_phdr`'s callback: one loaded object.
unsafe extern "C" fn release_object(info: *mut libc::dl_phdr_info, _size: usize, released: *mut libc::c_void) -> i32 {
    // SAFETY: dl_iterate_phdr passes a valid info for the duration of the call.
    let info = unsafe { &*info };
    // The vDSO is the kernel's, not a file's: nothing to map again.
    // SAFETY: dlpi_name is a NUL-terminated string ("" for the program).
    if !info.dlpi_name.is_null() && unsafe { CStr::from_ptr(info.dlpi_name) }.to_bytes().starts_with(b"linux-vdso") {
        return 0;
    }
    // SAFETY: dlpi_phdr points at dlpi_phnum program headers.
    let headers = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
    let page = page_size();
    for h in headers.iter().filter(|h| h.p_type == libc::PT_LOAD && h.p_flags & libc::PF_W == 0) {
        // A segment's pages are its own mapping: the loader maps each
        // segment with its own protection, page-aligned.
        let start = (info.dlpi_addr as usize + h.p_vaddr as usize) & !(page - 1);
        let end = (info.dlpi_addr as usize + (h.p_vaddr + h.p_filesz) as usize).next_multiple_of(page);
        // SAFETY: a private, read-only file mapping never written to: its
        // pages come back unchanged from the file on their next use.
        if unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) } == 0 {
            // SAFETY: the callback's data is the counter `release` passed.
            unsafe { *released.cast::<usize>() += end - start };
        }
    }
    0
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}
