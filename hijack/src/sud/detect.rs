//! `syscalls=auto`: whether a process has code making system calls of its
//! own, so that only Syscall User Dispatch can see them.
//!
//! An object is looked at once, when the constructor runs (the program
//! and its libraries) or when `dlopen` (hooked here) has loaded it. It
//! needs dispatch when it
//! - is Go (a `Go` build-id note): Go's runtime makes every call itself;
//! - has glibc's inline form, `mov $nr,%eax; syscall` (`b8 imm32 0f 05`),
//!   in an executable segment, and not every such site could be rewritten
//!   ahead (`rewrite::ahead`): where all could, the object's calls reach
//!   the library by their stubs and dispatch, with the slow kernel entry
//!   it gives every call of the process, is not armed for it.
//!
//! libc, ld.so, the vDSO and this library are not looked at: libc's
//! functions are hooked by name, and the other three make only calls of
//! their own. A `syscall` instruction in any other form (the number taken
//! from memory or another register) is not recognised; `syscalls=all`
//! covers those.

use libc::{c_char, c_int, c_void, dl_phdr_info};
use std::ffi::CStr;
use std::sync::Mutex;

/// One loaded object, as `dl_iterate_phdr` describes it.
pub struct Object<'a>(&'a dl_phdr_info);

impl Object<'_> {
    fn name(&self) -> &[u8] {
        let p = self.0.dlpi_name;
        // SAFETY: ld.so's NUL-terminated name (empty for the program).
        if p.is_null() {
            b""
        } else {
            unsafe { CStr::from_ptr(p) }.to_bytes()
        }
    }

    fn headers(&self) -> &[libc::Elf64_Phdr] {
        let (p, n) = (self.0.dlpi_phdr, self.0.dlpi_phnum as usize);
        // SAFETY: ld.so's `n` program headers of this object.
        if p.is_null() {
            &[]
        } else {
            unsafe { std::slice::from_raw_parts(p, n) }
        }
    }

    /// Its mapped segments of type `kind` (whose flags have all of
    /// `flags`): `[start, end)` addresses.
    fn segments(&self, kind: u32, flags: u32) -> impl Iterator<Item = (usize, usize)> + '_ {
        let base = self.0.dlpi_addr as usize;
        self.headers()
            .iter()
            .filter(move |ph| ph.p_type == kind && ph.p_flags & flags == flags)
            .map(move |ph| (base + ph.p_vaddr as usize, base + ph.p_vaddr as usize + ph.p_memsz as usize))
    }

    /// Its executable (and readable) load segments.
    pub fn text(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.segments(libc::PT_LOAD, libc::PF_X | libc::PF_R)
    }

    /// Its executable load segments with their protection as `PROT_*`.
    pub fn text_with_prot(&self) -> impl Iterator<Item = (usize, usize, u32)> + '_ {
        let base = self.0.dlpi_addr as usize;
        self.headers().iter().filter(|ph| ph.p_type == libc::PT_LOAD && ph.p_flags & libc::PF_X != 0).map(move |ph| {
            let prot = [(libc::PF_R, libc::PROT_READ), (libc::PF_W, libc::PROT_WRITE), (libc::PF_X, libc::PROT_EXEC)]
                .iter()
                .filter(|(pf, _)| ph.p_flags & pf != 0)
                .fold(0, |acc, (_, prot)| acc | *prot as u32);
            (base + ph.p_vaddr as usize, base + ph.p_vaddr as usize + ph.p_memsz as usize, prot)
        })
    }

    /// Its `.eh_frame_hdr`, where it has one.
    pub fn eh_frame_hdr(&self) -> Option<usize> {
        self.segments(super::frames::PT_GNU_EH_FRAME, 0).next().map(|(start, _)| start)
    }

    /// Whether it is the program itself (ld.so names it "").
    pub fn is_program(&self) -> bool {
        self.name().is_empty()
    }

    /// Where it is loaded: its addresses are its file's plus this.
    pub fn base(&self) -> usize {
        self.0.dlpi_addr as usize
    }

    /// Whether it is Go (its build-id note).
    pub fn is_go(&self) -> bool {
        self.segments(libc::PT_NOTE, 0).any(|(s, e)| has_go_note(s, e))
    }

    fn file_name(&self) -> &[u8] {
        let name = self.name();
        name.rsplit(|&b| b == b'/').next().unwrap_or(name)
    }

    /// Whether its syscall sites may be rewritten (`rewrite`): not this
    /// library, the vDSO or Go code.
    pub fn rewritable(&self) -> bool {
        !(self.file_name().starts_with(b"linux-vdso") || self.text().any(|(s, _)| super::in_library(s)) || self.is_go())
    }

    /// Why this object makes system calls of its own, if it does.
    fn own_syscalls(&self) -> Option<&'static str> {
        if self.is_go() {
            return Some("Go code");
        }
        // SAFETY: a mapped, readable segment of a loaded object.
        let inline =
            self.text().any(|(s, e)| has_inline_syscall(unsafe { std::slice::from_raw_parts(s as *const u8, e - s) }));
        inline.then_some(INLINE)
    }

    /// Whether it is the C library.
    pub fn is_libc(&self) -> bool {
        self.file_name().starts_with(b"libc.so")
    }

    /// Whether it is one of the objects whose calls are never looked for.
    fn exempt(&self) -> bool {
        let file = self.file_name();
        self.is_libc()
            || file.starts_with(b"ld-linux")
            || file.starts_with(b"linux-vdso")
            || self.text().any(|(s, _)| super::in_library(s))
    }
}

/// Why an object with glibc's inline form needs dispatch, unless its
/// sites could all be rewritten ahead (`rewrite::ahead`).
const INLINE: &str = "inline syscall instructions";

/// Calls `f` on each loaded object until it returns true.
pub fn each_object(mut f: impl FnMut(&Object) -> bool) {
    unsafe extern "C" fn visit(info: *mut dl_phdr_info, _: usize, data: *mut c_void) -> c_int {
        // SAFETY: ld.so's description of one object; `data` is the closure.
        let f = unsafe { &mut *(data as *mut &mut dyn FnMut(&Object) -> bool) };
        c_int::from(f(&Object(unsafe { &*info })))
    }
    let mut f: &mut dyn FnMut(&Object) -> bool = &mut f;
    // SAFETY: the callback only reads the headers.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&mut f as *mut &mut dyn FnMut(&Object) -> bool).cast()) };
}

/// The objects already looked at (their program headers' addresses).
static SEEN: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// Looks at the objects not seen before; says which one needs dispatch
/// and why, if one does.
pub fn loaded_objects() -> Option<String> {
    super::in_library(0);
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let mut found = None;
    each_object(|obj| {
        // Its program headers' address: mapped, so one object's only.
        let key = obj.headers().as_ptr() as usize;
        if seen.contains(&key) {
            return false;
        }
        seen.push(key);
        if obj.exempt() {
            return false;
        }
        let name = || {
            let name = String::from_utf8_lossy(obj.name()).into_owned();
            if name.is_empty() {
                "the program".into()
            } else {
                name
            }
        };
        found = match obj.own_syscalls() {
            Some(INLINE) if super::rewrite::ahead(obj) => {
                tracing::debug!(target: "rumphijack::sud", "inline syscall sites rewritten ahead in {}", name());
                None
            }
            why => why.map(|why| format!("{why} in {}", name())),
        };
        found.is_some()
    });
    found
}

/// Whether the notes in `[start, end)` include Go's build id (name "Go",
/// padded with NULs to 4 bytes by Go's linker; type 4).
fn has_go_note(start: usize, end: usize) -> bool {
    let mut p = start;
    while p + 12 <= end {
        // SAFETY: inside a mapped note segment; notes are 4-aligned.
        let [namesz, descsz, kind] = unsafe { *(p as *const [u32; 3]) };
        let name = p + 12;
        let size = (namesz as usize).next_multiple_of(4) + (descsz as usize).next_multiple_of(4);
        let next = name + size;
        if size > end - name {
            return false;
        }
        // SAFETY: `namesz` bytes inside the segment.
        if kind == 4
            && (namesz == 3 || namesz == 4)
            && unsafe { std::slice::from_raw_parts(name as *const u8, 3) } == b"Go\0"
        {
            return true;
        }
        p = next;
    }
    false
}

/// Whether `code` holds `mov $nr,%eax; syscall` with a plausible number.
pub fn has_inline_syscall(code: &[u8]) -> bool {
    memchr::memmem::find_iter(code, b"\x0f\x05").any(|i| inline_syscall_at(code, i).is_some())
}

/// The syscall number of the `b8 imm32 0f 05` ending at the `syscall`
/// at `code[i]`, if that is what precedes it.
pub fn inline_syscall_at(code: &[u8], i: usize) -> Option<u32> {
    let mov = code.get(i.checked_sub(5)?..i)?;
    let nr = u32::from_le_bytes([mov[1], mov[2], mov[3], mov[4]]);
    (mov[0] == 0xb8 && nr < 1024).then_some(nr)
}

crate::real_fns! {
    fn dlopen(file: *const c_char, mode: c_int) -> *mut c_void;
}

crate::hook! {
    /// `dlopen`: after the host's, an object that makes its own system
    /// calls arms the process (`syscalls=auto`).
    Process fn dlopen(file: *const c_char, mode: c_int) -> *mut c_void;
    {
        let h = unsafe { host!(file, mode) };
        if !h.is_null() && super::on() {
            crate::sud::gate::host_section(super::rewrite::note_objects);
        } else if !h.is_null() && super::mode() == crate::config::Syscalls::Auto {
            crate::sud::gate::host_section(|| {
                if let Some(why) = loaded_objects() {
                    super::arm_process(&why);
                }
            });
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_inline_form_is_recognised() {
        assert!(has_inline_syscall(b"\x90\xb8\x11\x00\x00\x00\x0f\x05\xc3"));
        assert_eq!(inline_syscall_at(b"\xb8\x27\x00\x00\x00\x0f\x05", 5), Some(39));
        // A number loaded otherwise, a large immediate, a bare syscall.
        assert!(!has_inline_syscall(b"\x48\x89\xf8\x0f\x05"));
        assert!(!has_inline_syscall(b"\xb8\x00\x00\x01\x00\x0f\x05"));
        assert!(!has_inline_syscall(b"\x0f\x05"));
    }
}
