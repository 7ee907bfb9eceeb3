//! The one form a hook is declared in, `hook!`: from one declaration come
//! the exported C symbol, its aliases (`open64` beside `open`) and fortify
//! variants (`__read_chk` beside `read`), the panic guard around the body,
//! and one record per exported symbol in the list of hooked symbols.
//!
//! The list is data in the library itself: records in the
//! `rumphijack_hooks` section, which `tests/hooklist.rs` reads from the
//! built `librumphijack.so` and checks against the library's exports, the
//! calls the census saw real tools make, and the raw-syscall routing
//! table (`rump_abi::linux::sys::RAW_ROUTES`).
//!
//! The wrapper leaves the Syscall User Dispatch selector as it finds it:
//! the body's host calls let themselves through (`real::*`, `guard`,
//! `host::sys`), and any other syscall the body makes is the library's own,
//! which the router passes on.

use crate::host::CRet;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// How a hooked call decides between the host and the kernel: by what
/// kind of argument (the raw-syscall table's notion for `Fd`, `Path` and
/// `Socket`), or by something the table has no word for.
#[derive(Clone, Copy)]
pub enum Kind {
    /// An fd argument (a rump fd goes to the kernel).
    Fd,
    /// A path, relative to the cwd or a dirfd argument.
    Path,
    /// A new socket's protocol family.
    Socket,
    /// Several fds at once: an array, a set or a range.
    Fds,
    /// A `DIR *` stream of this library's or the host's.
    Dir,
    /// The virtual working directory.
    Cwd,
    /// Process creation, exec, wait and process-wide state.
    Process,
    /// Name resolution on the kernel's network stack.
    Names,
    /// Network interfaces of the kernel's stack.
    Ifaces,
    /// Any system call, by number: the raw-syscall table decides.
    Raw,
}

impl Kind {
    /// The name the list records.
    const fn name(self) -> &'static str {
        match self {
            Kind::Fd => "fd",
            Kind::Path => "path",
            Kind::Socket => "socket",
            Kind::Fds => "fds",
            Kind::Dir => "dir",
            Kind::Cwd => "cwd",
            Kind::Process => "process",
            Kind::Names => "names",
            Kind::Ifaces => "ifaces",
            Kind::Raw => "raw",
        }
    }
}

/// One hooked symbol in the list: NUL-padded text fields, no pointers, so
/// the section reads the same in the file as in memory.
#[repr(C)]
pub struct Hooked {
    name: [u8; 48],
    family: [u8; 8],
    kind: [u8; 8],
}

impl Hooked {
    /// The record of symbol `name` declared in module `module` (its last
    /// path segment is the family: `io`, `meta`...).
    pub const fn new(name: &str, module: &str, kind: Kind) -> Hooked {
        let m = module.as_bytes();
        let mut start = m.len();
        while start > 0 && m[start - 1] != b':' {
            start -= 1;
        }
        Hooked { name: padded(name.as_bytes(), 0), family: padded(m, start), kind: padded(kind.name().as_bytes(), 0) }
    }
}

/// `s[from..]` NUL-padded to `N` bytes, with at least one NUL (a longer
/// text fails the build).
const fn padded<const N: usize>(s: &[u8], from: usize) -> [u8; N] {
    assert!(s.len() - from < N, "name too long for the list of hooked symbols");
    let mut out = [0u8; N];
    let mut i = from;
    while i < s.len() {
        out[i - from] = s[i];
        i += 1;
    }
    out
}

/// Runs a hook's body: a panic (a bug) becomes EIO and the C failure
/// value instead of unwinding into C, which would abort the program.
#[inline(always)]
pub fn run<T: CRet>(body: impl FnOnce() -> T) -> T {
    run_or(T::FAIL, body)
}

/// As `run`, for a function whose failure is a value of its own (an errno
/// value, an `EAI_*` code): a panic returns `fail`, errno EIO.
///
/// On a thread made by a raw `clone` (`sud::foreign`) the body runs on the
/// thread's own TLS block, and an errno it sets is then given to the
/// program's, on the FS the program runs on.
#[inline(always)]
pub fn run_or<T>(fail: T, body: impl FnOnce() -> T) -> T {
    use crate::sud::foreign;
    let entered = foreign::enter();
    if entered.is_none() {
        return run_here(fail, body);
    }
    // On the thread's block: the errno the body left there, 0 for none.
    let (r, errno) = foreign::apart(|| {
        crate::host::set_errno(0);
        let r = run_here(fail, body);
        (r, crate::host::errno())
    });
    foreign::leave(entered);
    if errno != 0 {
        crate::host::set_errno(errno);
    }
    r
}

fn run_here<T>(fail: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| {
        crate::host::set_errno(libc::EIO);
        fail
    })
}

/// glibc's report of a fortify check that failed (a buffer smaller than
/// the length given); it does not return.
pub fn chk_fail() -> ! {
    extern "C" {
        fn __chk_fail() -> !;
    }
    // SAFETY: glibc's fortify failure report; it does not return.
    unsafe { __chk_fail() }
}

/// Puts symbol `name` in the list of hooked symbols with route `kind`,
/// for an entry point `hook!` cannot declare (a naked one, or one defined
/// in another module).
#[macro_export]
macro_rules! hooked {
    ($($name:ident: $kind:ident),* $(,)?) => {
        $(const _: () = {
            #[used]
            #[link_section = "rumphijack_hooks"]
            static RECORD: $crate::hooks::entry::Hooked =
                $crate::hooks::entry::Hooked::new(stringify!($name), module_path!(), $crate::hooks::entry::Kind::$kind);
        };)*
    };
}

/// Declares hooks. Each declaration
///
/// ```ignore
/// hook! {
///     /// docs
///     Fd fn pread | pread64 (fd: c_int, buf: *mut c_void, n: size_t, off: off_t) -> ssize_t;
///         chk __pread_chk | __pread64_chk (buflen: size_t) if n > buflen;
///     {
///         by_fd!(fd, |k, r| ..., unsafe { host!(fd, buf, n, off) })
///     }
/// }
/// ```
///
/// exports `pread` and each `|` alias with that signature, and (with a
/// `chk` line) each fortify variant with the extra arguments appended,
/// which calls `__chk_fail` when the condition holds and otherwise runs
/// the same body. Inside the body `host!(args)` calls the host's
/// definition of the symbol being run, as the module's `real_fns!`
/// declares it: `real::pread64(fd, buf, n, off)` in `pread64`,
/// `real::__pread_chk(fd, buf, n, off, buflen)` in `__pread_chk`. The
/// arguments are written out because a body may pass others (`by_path!`
/// hands the host the path it resolved). The body runs under
/// `entry::run` (or `run_or(value, ...)` with `-> T [panic = value]`), and
/// each symbol is recorded in the list with its route kind (`Fd`,
/// `Path`... see `entry::Kind`).
#[macro_export]
macro_rules! hook {
    () => {};
    (
        $(#[$m:meta])*
        $kind:ident fn $name:ident $(| $alias:ident)* ($($arg:ident: $t:ty),* $(,)?) $(-> $ret:ty)? $([panic = $fail:expr])?;
        $(chk $chk:ident $(| $chk_alias:ident)* ($($carg:ident: $ct:ty),*) if $cond:expr;)?
        $body:block
        $($rest:tt)*
    ) => {
        // `($)` hands the nested `host!` definition a `$` of its own.
        $crate::hook!(@decl ($)
            {[$(#[$m])*] $kind ($($arg: $t),*) ($($ret)?) [$($fail)?] $body}
            [$name $($alias)*]
            $([$chk $($chk_alias)*] ($($carg: $ct),*) [$cond])?
        );
        $crate::hook!($($rest)*);
    };
    // Each name of one declaration: the plain ones, then the fortify ones.
    (@decl ($d:tt) $decl:tt [$($name:ident)*] $([$($chk:ident)*] $extra:tt [$cond:expr])?) => {
        $($crate::hook!(@one ($d) $name () [] $decl);)*
        $($($crate::hook!(@one ($d) $chk $extra [$cond] $decl);)*)?
    };
    (@one ($d:tt) $name:ident ($($carg:ident: $ct:ty),*) [$($cond:expr)?]
        {[$($m:tt)*] $kind:ident ($($arg:ident: $t:ty),*) ($($ret:ty)?) [$($fail:expr)?] $body:block}
    ) => {
        $($m)*
        #[no_mangle]
        pub unsafe extern "C" fn $name($($arg: $t,)* $($carg: $ct),*) $(-> $ret)? {
            $(if $cond {
                $crate::hooks::entry::chk_fail();
            })?
            #[allow(unused_macros)]
            macro_rules! host {
                ($d($d a:expr),* $d(,)?) => { real::$name($d($d a,)* $($carg),*) };
            }
            $crate::hook!(@run [$($fail)?] || $body)
        }
        $crate::hooked!($name: $kind);
    };
    (@run [] $body:expr) => { $crate::hooks::entry::run($body) };
    (@run [$fail:expr] $body:expr) => { $crate::hooks::entry::run_or($fail, $body) };
}
