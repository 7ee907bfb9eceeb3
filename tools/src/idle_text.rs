//! Letting go of the program text an idle server no longer runs.
//!
//! Start-up and a node's configuration run much of the server's code
//! (argument parsing, the boot, ifconfig and route calls), and Linux maps
//! each file page a process touches plus its neighbours (fault-around,
//! 64 KiB at a time), so a server at rest would keep about 4 MB of
//! program and library text mapped that it does not run again. The pages
//! are the page cache's, one copy shared by every server; the mappings
//! are each process's resident set. Once the kernel is at rest (no call
//! for a while), `AtRest` drops this process's mappings of every
//! read-only, never-written segment (text, read-only data) of the program
//! and its libraries; code that runs again is mapped again from the page
//! cache on its first use (a minor fault, no read). Writable segments,
//! relocated read-only data (RELRO) and anonymous memory are left alone,
//! but for the heap's free pages, which malloc gives back.

use std::time::{Duration, Instant};

/// How long the kernel must be at rest with no call before a release:
/// past its watchdog's own idle time, so that a server just started and
/// about to be configured (a node of `rumpctl net up`) is not released
/// only to map its text again for the configuration calls.
const SETTLE: Duration = Duration::from_secs(2);

/// While the kernel stays at rest, how often the text is released again,
/// dropping what one-off work mapped meanwhile (a handshake deadline's
/// check, a thread's exit, the looks themselves).
pub const AGAIN: Duration = Duration::from_secs(30);

/// Decides when to release, from looks at the kernel.
#[derive(Default)]
pub struct AtRest {
    /// The call count since the kernel was seen at rest, and since when.
    resting: Option<(u64, Instant)>,
    /// The call count at the last release, and when.
    released: Option<(u64, Instant)>,
}

impl AtRest {
    /// One look: `rest` is the kernel's call count if it is at rest. At
    /// rest for `SETTLE` with no call, the kernel's own threads have
    /// settled too, and the text is released (the bytes, if it was); and
    /// again every `AGAIN` while the kernel stays at rest. The caller
    /// looks next after `AGAIN` when this released (so that its own looks
    /// map nothing again meanwhile), sooner otherwise.
    pub fn look(&mut self, rest: Option<u64>) -> Option<usize> {
        let Some(calls) = rest else {
            self.resting = None;
            return None;
        };
        let since = match self.resting {
            Some((c, since)) if c == calls => since,
            _ => self.resting.insert((calls, Instant::now())).1,
        };
        if since.elapsed() < SETTLE {
            return None;
        }
        if self.released.is_some_and(|(c, at)| c == calls && at.elapsed() < AGAIN) {
            return None;
        }
        self.released = Some((calls, Instant::now()));
        Some(release())
    }
}

/// Room for the segments of the program and its libraries.
const MAX_SEGMENTS: usize = 64;

/// The never-written segments found, as page-aligned (start, length).
struct Segments {
    found: [(usize, usize); MAX_SEGMENTS],
    count: usize,
    page: usize,
}

/// Drops this process's mappings of the never-written segments of every
/// loaded object; the bytes released.
fn release() -> usize {
    // A debugger's breakpoints are private copies of text pages: dropping
    // them would silently take the breakpoints out.
    if traced() {
        return 0;
    }
    // The heap's free pages go too (start-up's and configuration's
    // garbage), while libc's text is still mapped.
    // SAFETY: malloc_trim has no preconditions.
    unsafe { libc::malloc_trim(0) };
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    let mut segs = Segments { found: [(0, 0); MAX_SEGMENTS], count: 0, page };
    // SAFETY: the callback only reads the program headers it is given.
    unsafe { libc::dl_iterate_phdr(Some(find_segments), (&mut segs as *mut Segments).cast()) };
    let mut released = 0;
    // Raw system calls, not libc's wrapper: the wrapper's page would be
    // mapped again as soon as libc's text went, and 64 KiB around it.
    for &(start, len) in &segs.found[..segs.count] {
        if madvise_dontneed(start, len) {
            released += len;
        }
    }
    released
}

/// Whether a debugger (or any tracer) is attached to this process.
fn traced() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let tracer = status.lines().find_map(|l| l.strip_prefix("TracerPid:"));
    tracer.is_some_and(|pid| pid.trim() != "0")
}

/// `dl_iterate_phdr`'s callback: one loaded object's read-only segments.
unsafe extern "C" fn find_segments(info: *mut libc::dl_phdr_info, _size: usize, segs: *mut libc::c_void) -> i32 {
    // SAFETY: dl_iterate_phdr passes a valid info for the duration of the
    // call, and `segs` is the `Segments` that `release` passed.
    let (info, segs) = unsafe { (&*info, &mut *segs.cast::<Segments>()) };
    // The vDSO is the kernel's, not a file's: nothing to map again.
    // SAFETY: dlpi_name is a NUL-terminated string ("" for the program).
    if !info.dlpi_name.is_null()
        && unsafe { std::ffi::CStr::from_ptr(info.dlpi_name) }.to_bytes().starts_with(b"linux-vdso")
    {
        return 0;
    }
    // SAFETY: dlpi_phdr points at dlpi_phnum program headers.
    let headers = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
    for h in headers.iter().filter(|h| h.p_type == libc::PT_LOAD && h.p_flags & libc::PF_W == 0) {
        if segs.count == MAX_SEGMENTS {
            return 1;
        }
        // A segment's pages are its own mapping: the loader maps each
        // segment with its own protection, page-aligned.
        let start = (info.dlpi_addr as usize + h.p_vaddr as usize) & !(segs.page - 1);
        let end = (info.dlpi_addr as usize + (h.p_vaddr + h.p_filesz) as usize).next_multiple_of(segs.page);
        segs.found[segs.count] = (start, end - start);
        segs.count += 1;
    }
    0
}

/// madvise(MADV_DONTNEED) by the system call itself; whether it worked.
fn madvise_dontneed(start: usize, len: usize) -> bool {
    let ret: isize;
    // SAFETY: a private, read-only file mapping never written to: its pages
    // come back unchanged from the file on their next use. The syscall
    // instruction clobbers rcx and r11 and touches no memory of ours.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") libc::SYS_madvise as isize => ret,
            in("rdi") start,
            in("rsi") len,
            in("rdx") libc::MADV_DONTNEED as isize,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret == 0
}
