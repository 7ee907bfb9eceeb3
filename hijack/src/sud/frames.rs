//! Where an object's functions start and end, from its unwind tables: the
//! sorted search table of `.eh_frame_hdr` (`PT_GNU_EH_FRAME`) gives each
//! function's first address and its frame description entry (FDE), whose
//! range gives the end. Compilers emit these for every function (C and
//! Rust alike, stripped or not); hand-written assembly without CFI
//! directives has none, and then nothing is known here.
//!
//! Only the layout linkers write is read: a table of 4-byte entries
//! relative to the header (`DW_EH_PE_datarel | sdata4`), FDEs whose
//! address is 4 bytes relative to itself (`pcrel | sdata4`). That the FDE
//! says the same start as the table is checked, which confirms its
//! encoding without reading its CIE.

/// `PT_GNU_EH_FRAME`.
pub const PT_GNU_EH_FRAME: u32 = 0x6474_e550;

/// `DW_EH_PE_datarel | DW_EH_PE_sdata4`, the search table's encoding.
const TABLE_ENCODING: u8 = 0x3b;

/// The function holding `addr`, `[start, end)`, by the search table of
/// the `.eh_frame_hdr` at `hdr`.
///
/// # Safety
/// `hdr` is the mapped `.eh_frame_hdr` of a loaded object.
pub unsafe fn function_at(hdr: usize, addr: usize) -> Option<(usize, usize)> {
    let read_i32 = |at: usize| {
        // SAFETY: inside the object's mapped unwind data, as the caller says.
        unsafe { std::ptr::read_unaligned(at as *const i32) }
    };
    // SAFETY: the header's first four bytes.
    let [version, ptr_enc, count_enc, table_enc] = unsafe { *(hdr as *const [u8; 4]) };
    // The eh_frame pointer and the count: 4 bytes each in the forms read.
    let four = |enc: u8| matches!(enc & 0x0f, 0x03 | 0x0b);
    if version != 1 || table_enc != TABLE_ENCODING || !four(ptr_enc) || !four(count_enc) {
        return None;
    }
    let count = read_i32(hdr + 8) as usize;
    let table = hdr + 12;
    let start_of = |i: usize| hdr.wrapping_add_signed(read_i32(table + i * 8) as isize);
    // The last entry starting at or before `addr`.
    let (mut lo, mut hi) = (0usize, count);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if start_of(mid) <= addr {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let i = lo.checked_sub(1)?;
    let start = start_of(i);
    let fde = hdr.wrapping_add_signed(read_i32(table + i * 8 + 4) as isize);
    // length (4; 0xffffffff would be the 64-bit form), CIE pointer (4),
    // then the start, pc-relative, and the length of the range.
    if read_i32(fde) == -1 || fde.wrapping_add(8).wrapping_add_signed(read_i32(fde + 8) as isize) != start {
        return None;
    }
    let end = start + read_i32(fde + 12) as u32 as usize;
    (addr < end).then_some((start, end))
}

/// Every function the search table at `hdr` describes (for tests).
///
/// # Safety
/// As for [`function_at`].
#[cfg(test)]
pub unsafe fn functions(hdr: usize) -> Vec<(usize, usize)> {
    // SAFETY: as the caller says; the count and the table as `function_at` reads them.
    unsafe {
        let count = std::ptr::read_unaligned((hdr + 8) as *const i32) as usize;
        (0..count)
            .filter_map(|i| {
                let start =
                    hdr.wrapping_add_signed(std::ptr::read_unaligned((hdr + 12 + i * 8) as *const i32) as isize);
                function_at(hdr, start)
            })
            .collect()
    }
}
