//! Plain-old-data structs: the byte views of the ABI's C structs.
//!
//! Every struct in `native::types` and `linux::types` is `#[repr(C)]` with its
//! padding spelled out as fields, so viewing it as bytes reads no
//! uninitialised memory. `pod!` checks the expected size at compile time.

/// A `#[repr(C)]` struct with no implicit padding, valid for any bit pattern.
///
/// # Safety
/// Implement only through `pod!`, which checks the size against the C layout;
/// the struct must have no implicit padding and only integer fields.
pub unsafe trait Pod: Copy + Default + 'static {
    fn as_bytes(&self) -> &[u8] {
        // SAFETY: Pod types have no padding and are plain integers.
        unsafe { core::slice::from_raw_parts(self as *const Self as *const u8, core::mem::size_of::<Self>()) }
    }

    fn as_bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above; every bit pattern is a valid value.
        unsafe { core::slice::from_raw_parts_mut(self as *mut Self as *mut u8, core::mem::size_of::<Self>()) }
    }

    /// Reads a value from the front of `bytes`, or `None` if it is too short.
    fn read_from(bytes: &[u8]) -> Option<Self> {
        let mut v = Self::default();
        let n = core::mem::size_of::<Self>();
        v.as_bytes_mut().copy_from_slice(bytes.get(..n)?);
        Some(v)
    }
}

/// Declares `Pod` for a struct and checks its size against the C ABI.
#[macro_export]
macro_rules! pod {
    ($($t:ty = $size:expr;)*) => {$(
        const _: () = assert!(core::mem::size_of::<$t>() == $size);
        // SAFETY: size checked above; fields are integers with explicit padding.
        unsafe impl $crate::pod::Pod for $t {}
    )*};
}

pod! {
    i16 = 2;
    u16 = 2;
    i32 = 4;
    u32 = 4;
    i64 = 8;
    u64 = 8;
}
