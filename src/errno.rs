//! Error numbers as typed values.
//!
//! `Errno` carries a raw number whose meaning depends on the emulation that
//! produced it: kernel internals and native callers use NetBSD's values
//! (`native::errno`), Linux callers get Linux x86-64 values (`linux::errno`)
//! after the emulation translates them at its boundary. Both sets and the
//! mapping between them come from the one table below.

use core::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errno(pub i32);

impl Errno {
    pub fn raw(self) -> i32 {
        self.0
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Errno({})", self.0)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "errno {}", self.0)
    }
}

impl std::error::Error for Errno {}

macro_rules! errno_table {
    ($($name:ident = $native:literal, $linux:literal;)*) => {
        /// NetBSD's errno values: what the kernel uses inside.
        pub mod native_values {
            use super::Errno;
            $(pub const $name: Errno = Errno($native);)*
            /// The symbolic name of a native errno.
            pub fn name(e: Errno) -> Option<&'static str> {
                match e.0 { $($native => Some(stringify!($name)),)* _ => None }
            }
        }
        /// Linux x86-64 errno values.
        pub mod linux_values {
            use super::Errno;
            $(pub const $name: Errno = Errno($linux);)*
            /// The symbolic name of a Linux errno (first name for aliases).
            #[allow(unreachable_patterns)]
            pub fn name(e: Errno) -> Option<&'static str> {
                match e.0 { $($linux => Some(stringify!($name)),)* _ => None }
            }
        }
        /// Native → Linux. A native value Linux lacks becomes EINVAL.
        pub fn native_to_linux(e: Errno) -> Errno {
            match e.0 { $($native => Errno($linux),)* _ => Errno(22) }
        }
        /// Linux → native (first match for Linux aliases). Unknown → EINVAL.
        #[allow(unreachable_patterns)]
        pub fn linux_to_native(e: Errno) -> Errno {
            match e.0 { $($linux => Errno($native),)* _ => Errno(22) }
        }
    };
}

errno_table! {
    EPERM = 1, 1; ENOENT = 2, 2; ESRCH = 3, 3; EINTR = 4, 4; EIO = 5, 5;
    ENXIO = 6, 6; E2BIG = 7, 7; ENOEXEC = 8, 8; EBADF = 9, 9; ECHILD = 10, 10;
    EDEADLK = 11, 35; ENOMEM = 12, 12; EACCES = 13, 13; EFAULT = 14, 14;
    ENOTBLK = 15, 15; EBUSY = 16, 16; EEXIST = 17, 17; EXDEV = 18, 18;
    ENODEV = 19, 19; ENOTDIR = 20, 20; EISDIR = 21, 21; EINVAL = 22, 22;
    ENFILE = 23, 23; EMFILE = 24, 24; ENOTTY = 25, 25; ETXTBSY = 26, 26;
    EFBIG = 27, 27; ENOSPC = 28, 28; ESPIPE = 29, 29; EROFS = 30, 30;
    EMLINK = 31, 31; EPIPE = 32, 32; EDOM = 33, 33; ERANGE = 34, 34;
    EAGAIN = 35, 11; EINPROGRESS = 36, 115; EALREADY = 37, 114;
    ENOTSOCK = 38, 88; EDESTADDRREQ = 39, 89; EMSGSIZE = 40, 90;
    EPROTOTYPE = 41, 91; ENOPROTOOPT = 42, 92; EPROTONOSUPPORT = 43, 93;
    ESOCKTNOSUPPORT = 44, 94; EOPNOTSUPP = 45, 95; EPFNOSUPPORT = 46, 96;
    EAFNOSUPPORT = 47, 97; EADDRINUSE = 48, 98; EADDRNOTAVAIL = 49, 99;
    ENETDOWN = 50, 100; ENETUNREACH = 51, 101; ENETRESET = 52, 102;
    ECONNABORTED = 53, 103; ECONNRESET = 54, 104; ENOBUFS = 55, 105;
    EISCONN = 56, 106; ENOTCONN = 57, 107; ESHUTDOWN = 58, 108;
    ETOOMANYREFS = 59, 109; ETIMEDOUT = 60, 110; ECONNREFUSED = 61, 111;
    ELOOP = 62, 40; ENAMETOOLONG = 63, 36; EHOSTDOWN = 64, 112;
    EHOSTUNREACH = 65, 113; ENOTEMPTY = 66, 39; EUSERS = 68, 87;
    EDQUOT = 69, 122; ESTALE = 70, 116; EREMOTE = 71, 66; ENOLCK = 77, 37;
    ENOSYS = 78, 38; EIDRM = 82, 43; ENOMSG = 83, 42; EOVERFLOW = 84, 75;
    EILSEQ = 85, 84; ENOTSUP = 86, 95; ECANCELED = 87, 125; EBADMSG = 88, 74;
    ENODATA = 89, 61; ENOSR = 90, 63; ENOSTR = 91, 60; ETIME = 92, 62;
    EMULTIHOP = 94, 72; ENOLINK = 95, 67; EPROTO = 96, 71;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_linux() {
        for n in 1..=96 {
            let e = Errno(n);
            if native_values::name(e).is_some() && e != native_values::ENOTSUP {
                assert_eq!(linux_to_native(native_to_linux(e)), e, "{n}");
            }
        }
        assert_eq!(native_to_linux(native_values::ENOSYS).0, 38);
        assert_eq!(native_to_linux(native_values::ENOTSUP).0, 95);
    }
}
