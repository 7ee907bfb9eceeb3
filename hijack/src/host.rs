//! The way back to the host: the next definition of a hooked libc function
//! (`dlsym(RTLD_NEXT)`), errno, and the glue that turns a `Result` into a C
//! return value.
//!
//! Inside a hook, a call to a libc function this library also defines would
//! come back to the hook; host work therefore goes through `real_fns!`
//! pointers, through `libc::syscall` (not hooked), or through libc
//! functions we never define.

use rump_abi::Errno;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Declares, inside the invoking module, functions that call the next
/// definition of each named libc symbol (the host's), resolved once.
///
/// ```ignore
/// real_fns! { fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t; }
/// // later: real::read(fd, buf, n)
/// ```
#[macro_export]
macro_rules! real_fns {
    ($(fn $name:ident($($arg:ident: $t:ty),* $(,)?) -> $r:ty;)*) => {
        #[allow(dead_code, non_snake_case, clippy::missing_safety_doc)]
        pub(crate) mod real {
            #[allow(unused_imports)]
            use libc::*;
            $(
                pub unsafe fn $name($($arg: $t),*) -> $r {
                    static PTR: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
                    let f = $crate::host::resolve(&PTR, concat!(stringify!($name), "\0"));
                    // SAFETY: the symbol is libc's function of this signature.
                    let f: unsafe extern "C" fn($($t),*) -> $r = unsafe { std::mem::transmute(f) };
                    // The host's function runs with its syscalls let through.
                    $crate::sud::gate::host_section(|| unsafe { f($($arg),*) })
                }
            )*
        }
    };
}

/// The address of the next definition of `name` (NUL-terminated), cached
/// in `slot`. A libc without the symbol is a broken installation: say so
/// and stop rather than jump to NULL.
pub fn resolve(slot: &std::sync::atomic::AtomicUsize, name: &'static str) -> usize {
    use std::sync::atomic::Ordering;
    let f = slot.load(Ordering::Relaxed);
    if f != 0 {
        return f;
    }
    // SAFETY: a NUL-terminated name.
    let f = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast()) } as usize;
    if f == 0 {
        let msg = format!("rumphijack: libc has no {}\n", name.trim_end_matches('\0'));
        // SAFETY: writing a buffer to stderr.
        unsafe { libc::syscall(libc::SYS_write, 2, msg.as_ptr(), msg.len()) };
        unsafe { libc::abort() };
    }
    slot.store(f, Ordering::Relaxed);
    f
}

pub fn errno() -> i32 {
    // SAFETY: libc's thread-local errno.
    unsafe { *libc::__errno_location() }
}

pub fn set_errno(e: i32) {
    // SAFETY: libc's thread-local errno.
    unsafe { *libc::__errno_location() = e };
}

/// Gives errno back the value `saved` read earlier, writing it only if it
/// changed: a thread made by a raw clone without TLS of its own shares
/// this thread's errno, and writing back an unchanged value could undo
/// what that thread's own call set meanwhile.
pub fn restore_errno(saved: i32) {
    if errno() != saved {
        set_errno(saved);
    }
}

/// A C return type and its failure value.
pub trait CRet: Copy {
    const FAIL: Self;
}

macro_rules! c_ret {
    ($($t:ty = $v:expr),*) => { $(impl CRet for $t { const FAIL: Self = $v; })* };
}
c_ret!(i32 = -1, i64 = -1, isize = -1, u32 = u32::MAX, () = ());

impl<T> CRet for *mut T {
    const FAIL: Self = std::ptr::null_mut();
}

impl<T> CRet for *const T {
    const FAIL: Self = std::ptr::null();
}

/// Runs a hook body: an error sets errno and returns the C failure value;
/// a panic (a bug) is reported and becomes EIO instead of unwinding into C.
/// On success errno is left as the program had it, whatever the library
/// did on the way (a host call of its own that failed, say).
pub fn guard<T: CRet>(body: impl FnOnce() -> Result<T, Errno>) -> T {
    let saved = errno();
    match crate::sud::gate::host_section(|| catch_unwind(AssertUnwindSafe(body))) {
        Ok(Ok(v)) => {
            restore_errno(saved);
            v
        }
        Ok(Err(e)) => {
            set_errno(e.0);
            T::FAIL
        }
        Err(_) => {
            set_errno(libc::EIO);
            T::FAIL
        }
    }
}

/// A host call's result as a `Result`, reading errno on failure.
pub fn check<T: CRet + PartialEq>(r: T) -> Result<T, Errno> {
    if r == T::FAIL {
        Err(Errno(errno()))
    } else {
        Ok(r)
    }
}

/// A raw host syscall returning a Result (for the library's own plumbing),
/// made through the gate so that it is never caught.
pub fn sys(n: libc::c_long, a: [usize; 4]) -> Result<i64, Errno> {
    // SAFETY: the caller passes arguments valid for syscall `n`.
    let r = unsafe { crate::sud::gate::syscall(n, [a[0], a[1], a[2], a[3], 0, 0]) };
    if r < 0 {
        Err(Errno(-r as i32))
    } else {
        Ok(r as i64)
    }
}
