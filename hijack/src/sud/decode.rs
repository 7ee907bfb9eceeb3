//! The length of an x86-64 instruction: enough decoding to walk a
//! function from its first byte and learn where its instructions start,
//! which is how a `mov $nr,%eax; syscall` found by scanning is known to be
//! code and not bytes inside other instructions (`rewrite::eager`).
//!
//! Covers the general-purpose, x87, SSE, VEX and EVEX encodings of 64-bit
//! mode. Anything it does not know (an opcode invalid in 64-bit mode, a
//! map it has no table for) is `None`: the caller then trusts nothing
//! after it.

/// What follows an opcode: a ModRM byte, and an immediate of which kind.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Imm {
    None,
    /// One byte.
    B,
    /// Two bytes.
    W,
    /// Two or four bytes by the operand size (four with REX.W too).
    Z,
    /// Two, four or eight bytes by the operand size (`mov r, imm`).
    V,
    /// `enter`: a word and a byte.
    WB,
    /// An absolute address: eight bytes, four with the address-size prefix.
    Addr,
}

/// The one-byte map: `(modrm, immediate)`, `None` where the byte is not
/// an opcode of 64-bit mode (prefixes are taken off before).
fn one_byte(op: u8) -> Option<(bool, Imm)> {
    use Imm::*;
    Some(match op {
        0x00..=0x3f => match op & 7 {
            0..=3 => (true, None),
            4 => (false, B),
            5 => (false, Z),
            _ => return Option::None,
        },
        0x50..=0x5f | 0x6c..=0x6f | 0x90..=0x99 | 0x9b..=0x9f | 0xa4..=0xa7 | 0xaa..=0xaf => (false, None),
        0x63 | 0x84..=0x8f | 0xd0..=0xd3 | 0xd8..=0xdf | 0xfe | 0xff => (true, None),
        0x68 => (false, Z),
        0x69 | 0x81 | 0xc7 => (true, Z),
        0x6a | 0x70..=0x7f | 0xa8 | 0xb0..=0xb7 | 0xcd | 0xe0..=0xe7 | 0xeb => (false, B),
        0x6b | 0x80 | 0x83 | 0xc0 | 0xc1 | 0xc6 => (true, B),
        0xa0..=0xa3 => (false, Addr),
        0xa9 => (false, Z),
        0xb8..=0xbf => (false, V),
        0xc2 | 0xca => (false, W),
        0xc3 | 0xc9 | 0xcb | 0xcc | 0xcf | 0xd7 | 0xec..=0xef | 0xf1 | 0xf4 | 0xf5 | 0xf8..=0xfd => (false, None),
        0xc8 => (false, WB),
        // call, jmp rel32: four bytes whatever the operand size.
        0xe8 | 0xe9 => (false, Imm::Z),
        // test/not/neg/mul/div: an immediate for /0 and /1 only.
        0xf6 | 0xf7 => (true, None),
        _ => return Option::None,
    })
}

/// The two-byte map (`0f xx`).
fn two_byte(op: u8) -> Option<(bool, Imm)> {
    use Imm::*;
    Some(match op {
        0x05..=0x09 | 0x0b | 0x0e | 0x30..=0x35 | 0x37 | 0x77 | 0xa0..=0xa2 | 0xa8..=0xaa | 0xc8..=0xcf => {
            (false, None)
        }
        0x0f | 0x70..=0x73 | 0xa4 | 0xac | 0xba | 0xc2 | 0xc4..=0xc6 => (true, B),
        0x80..=0x8f => (false, Z),
        0x00..=0x03 | 0x0d | 0x10..=0x23 | 0x28..=0x2f | 0x40..=0x6f | 0x74..=0x76 | 0x78 | 0x79 | 0x7c..=0x7f => {
            (true, None)
        }
        0x90..=0x9f | 0xa3 | 0xa5 | 0xab | 0xad..=0xc1 | 0xc3 | 0xc7 | 0xd0..=0xff => (true, None),
        _ => return Option::None,
    })
}

/// The immediate of a VEX or EVEX instruction of `map` (1: `0f`, 2:
/// `0f38`, 3: `0f3a`, 5 and 6: FP16's).
fn vex_imm(map: u8, op: u8) -> Option<Imm> {
    match map {
        1 if matches!(op, 0x70..=0x73 | 0xc2 | 0xc4..=0xc6) => Some(Imm::B),
        1 | 2 | 5 | 6 => Some(Imm::None),
        3 => Some(Imm::B),
        _ => None,
    }
}

/// The length of the instruction at the start of `code`, if it is one
/// this knows and it fits.
pub fn length(code: &[u8]) -> Option<usize> {
    let (mut i, mut opsize16, mut addr32, mut rex_w) = (0usize, false, false, false);
    loop {
        match *code.get(i)? {
            0x66 => opsize16 = true,
            0x67 => addr32 = true,
            0xf0 | 0xf2 | 0xf3 | 0x26 | 0x2e | 0x36 | 0x3e | 0x64 | 0x65 => {}
            // REX counts only right before the opcode.
            b @ 0x40..=0x4f if !matches!(code.get(i + 1), Some(0x40..=0x4f)) => {
                rex_w = b & 8 != 0;
                i += 1;
                break;
            }
            0x40..=0x4f => {}
            _ => break,
        }
        rex_w = false;
        i += 1;
        if i >= 15 {
            return None;
        }
    }
    let op = *code.get(i)?;
    i += 1;
    let (modrm, imm) = match op {
        0x0f => {
            let op2 = *code.get(i)?;
            i += 1;
            match op2 {
                0x38 => {
                    i += 1;
                    (true, Imm::None)
                }
                0x3a => {
                    i += 1;
                    (true, Imm::B)
                }
                _ => two_byte(op2)?,
            }
        }
        0xc4 | 0xc5 | 0x62 => {
            // VEX (3 or 2 bytes with c4/c5) or EVEX (4 with 62); then the
            // opcode, and a ModRM except for vzeroupper/vzeroall.
            let (map, prefix_len) = match op {
                0xc4 => (*code.get(i)? & 0x1f, 2),
                0xc5 => (1, 1),
                _ => (*code.get(i)? & 0x07, 3),
            };
            i += prefix_len;
            let op3 = *code.get(i)?;
            i += 1;
            let imm = vex_imm(map, op3)?;
            (!(map == 1 && op3 == 0x77 && op != 0x62), imm)
        }
        0xf6 | 0xf7 => {
            let reg = (*code.get(i)? >> 3) & 7;
            let imm = match (reg, op) {
                (0 | 1, 0xf6) => Imm::B,
                (0 | 1, _) => Imm::Z,
                _ => Imm::None,
            };
            (true, imm)
        }
        _ => one_byte(op)?,
    };
    if modrm {
        let m = *code.get(i)?;
        i += 1;
        let (mode, rm) = (m >> 6, m & 7);
        if mode != 3 && rm == 4 {
            let sib = *code.get(i)?;
            i += 1;
            if mode == 0 && sib & 7 == 5 {
                i += 4;
            }
        }
        i += match (mode, rm) {
            (0, 5) => 4,
            (1, _) => 1,
            (2, _) => 4,
            _ => 0,
        };
    }
    i += match imm {
        Imm::None => 0,
        Imm::B => 1,
        Imm::W => 2,
        Imm::Z if opsize16 && !matches!(op, 0xe8 | 0xe9 | 0x0f) => 2,
        Imm::Z => 4,
        Imm::V if rex_w => 8,
        Imm::V if opsize16 => 2,
        Imm::V => 4,
        Imm::WB => 3,
        Imm::Addr if addr32 => 4,
        Imm::Addr => 8,
    };
    (i <= 15 && i <= code.len()).then_some(i)
}

#[cfg(test)]
mod tests {
    use super::length;

    #[test]
    fn lengths_of_common_instructions() {
        let cases: &[&[u8]] = &[
            b"\xb8\x6e\x00\x00\x00",                     // mov eax, 110
            b"\x0f\x05",                                 // syscall
            b"\x48\xb8\x01\x02\x03\x04\x05\x06\x07\x08", // movabs rax, imm64
            b"\x41\xb8\x01\x00\x00\x00",                 // mov r8d, 1
            b"\x48\x89\xe5",                             // mov rbp, rsp
            b"\x48\x8d\x05\x00\x10\x00\x00",             // lea rax, [rip+0x1000]
            b"\x48\x8b\x44\x24\x08",                     // mov rax, [rsp+8]
            b"\x48\x8b\x84\x24\x00\x01\x00\x00",         // mov rax, [rsp+0x100]
            b"\xc7\x44\x24\xb8\x6e\x03\x00\x00",         // mov dword [rsp-0x48], 0x36e
            b"\x66\x0f\x6f\x04\x24",                     // movdqa xmm0, [rsp]
            b"\xc5\xf9\x6f\x04\x24",                     // vmovdqa xmm0, [rsp]
            b"\xc4\xe3\x79\x0f\xc1\x08",                 // vpalignr xmm0, xmm0, xmm1, 8
            b"\x62\xf1\x7d\x48\x6f\x44\x24\x01",         // vmovdqa32 zmm0, [rsp+64]
            b"\xc5\xf8\x77",                             // vzeroupper
            b"\xf3\x0f\x1e\xfa",                         // endbr64
            b"\x0f\x84\x00\x01\x00\x00",                 // je rel32
            b"\x75\x4b",                                 // jne rel8
            b"\xe8\x00\x00\x00\x00",                     // call rel32
            b"\xf6\x40\x08\x01",                         // test byte [rax+8], 1
            b"\xf7\xd8",                                 // neg eax
            b"\x66\x2e\x0f\x1f\x84\x00\x00\x00\x00\x00", // nopw cs:[rax+rax]
            b"\x66\x41\x81\xf8\x34\x12",                 // cmp r8w, 0x1234
            b"\xf0\x48\x0f\xb1\x0a",                     // lock cmpxchg [rdx], rcx
            b"\x0f\x3a\x0f\xc1\x08",                     // palignr mm0, mm1, 8
            b"\xc3",                                     // ret
        ];
        for code in cases {
            assert_eq!(length(code), Some(code.len()), "{code:02x?}");
        }
        // Invalid in 64-bit mode, or cut short.
        assert_eq!(length(b"\x06"), None);
        assert_eq!(length(b"\xb8\x00\x00"), None);
    }

    /// Decoding each function of the loaded objects (this test program's
    /// Rust, libc's hand-written SSE, AVX2 and AVX-512 string functions,
    /// ld.so) from its first byte meets its last byte exactly: the lengths
    /// agree with the compilers' and the assemblers'.
    #[test]
    fn every_loaded_function_decodes_to_its_end() {
        let mut hdrs = Vec::new();
        let mut libc = false;
        crate::sud::detect::each_object(|obj| {
            libc |= obj.is_libc() && obj.eh_frame_hdr().is_some();
            hdrs.extend(obj.eh_frame_hdr());
            false
        });
        assert!(libc, "libc's unwind tables");
        // SAFETY: the objects' mapped unwind tables.
        let functions: Vec<_> = hdrs.into_iter().flat_map(|h| unsafe { crate::sud::frames::functions(h) }).collect();
        assert!(functions.len() > 10000, "{} functions", functions.len());
        let mut off = Vec::new();
        for &(start, end) in &functions {
            let mut at = start;
            while at < end {
                // SAFETY: inside libc's text.
                let code = unsafe { std::slice::from_raw_parts(at as *const u8, (end - at).min(15)) };
                match length(code) {
                    Some(n) => at += n,
                    None => break,
                }
            }
            if at != end {
                off.push(format!("{:#x} (+{:#x})", start, at - start));
            }
        }
        assert!(off.is_empty(), "{} of {} functions: {:?}", off.len(), functions.len(), &off[..off.len().min(20)]);
    }
}
