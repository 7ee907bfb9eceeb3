//! Classic BPF (`struct sock_filter` programs, SO_ATTACH_FILTER), checked
//! when attached as Linux's `bpf_check_classic` does and interpreted on
//! each packet: what `tcpdump 'icmp or arp'` compiles runs here.

use rump_abi::native::errno::EINVAL;
use rump_abi::Errno;

/// `struct sock_filter`: opcode, jump offsets if true / false, constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// Linux's BPF_MAXINSNS and BPF_MEMWORDS.
const MAX_INSNS: usize = 4096;
const MEMWORDS: usize = 16;

// Instruction classes and fields (linux/bpf_common.h).
const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const ST: u16 = 0x02;
const STX: u16 = 0x03;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const MISC: u16 = 0x07;
const W: u16 = 0x00;
const H: u16 = 0x08;
const B: u16 = 0x10;
const IMM: u16 = 0x00;
const ABS: u16 = 0x20;
const IND: u16 = 0x40;
const MEM: u16 = 0x60;
const LEN: u16 = 0x80;
const MSH: u16 = 0xa0;
const X: u16 = 0x08;
const A: u16 = 0x10;

/// A program from the bytes of `len` sock_filter entries, refused (EINVAL)
/// as Linux refuses: empty or too long, an unknown opcode, a jump past the
/// end, a scratch slot out of range, or not ending in a return.
pub fn parse(bytes: &[u8]) -> Result<Vec<Insn>, Errno> {
    let prog: Vec<Insn> = bytes
        .chunks_exact(8)
        .map(|c| Insn {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    if prog.is_empty() || prog.len() > MAX_INSNS {
        return Err(EINVAL);
    }
    for (pc, i) in prog.iter().enumerate() {
        let rest = prog.len() - pc - 1;
        let ok = match i.code & 0x07 {
            LD | LDX => match i.code & 0xe0 {
                MEM => (i.k as usize) < MEMWORDS,
                IMM | ABS | IND | LEN | MSH => true,
                _ => false,
            },
            ST | STX => (i.k as usize) < MEMWORDS,
            ALU => {
                let op = i.code & 0xf0;
                op <= 0xa0 && !(i.code & X == 0 && matches!(op, 0x30 | 0x90) && i.k == 0)
            }
            JMP if i.code & 0xf0 == 0x00 => (i.k as usize) <= rest,
            JMP => matches!(i.code & 0xf0, 0x10..=0x40) && (i.jt as usize) <= rest && (i.jf as usize) <= rest,
            RET => true,
            MISC => matches!(i.code, 0x07 | 0x87),
            _ => false,
        };
        if !ok {
            return Err(EINVAL);
        }
    }
    match prog.last() {
        Some(i) if i.code & 0x07 == RET => Ok(prog),
        _ => Err(EINVAL),
    }
}

/// What a program may ask of a packet besides its bytes: Linux's
/// ancillary loads (SKF_AD_*, at SKF_AD_OFF) and the link-layer header a
/// SOCK_DGRAM packet socket's packets start after (SKF_LL_OFF).
#[derive(Clone, Copy, Default)]
pub struct Ancillary<'a> {
    /// The ethertype (host order), sll_pkttype, the interface, its ARPHRD.
    pub protocol: u16,
    pub pkttype: u8,
    pub ifindex: u32,
    pub hatype: u16,
    /// The packet from its link-layer header on (the packet itself when
    /// it starts there).
    pub link: &'a [u8],
}

/// The negative offsets of linux/filter.h.
const SKF_AD_OFF: u32 = -0x1000i32 as u32;
const SKF_NET_OFF: u32 = -0x10_0000i32 as u32;
const SKF_LL_OFF: u32 = -0x20_0000i32 as u32;
const SKF_AD_PROTOCOL: u32 = 0;
const SKF_AD_PKTTYPE: u32 = 4;
const SKF_AD_IFINDEX: u32 = 8;
const SKF_AD_HATYPE: u32 = 28;
/// SO_BPF_EXTENSIONS: the ancillary loads past Linux's first ones
/// (which are answered) that are, counted as Linux's SKF_AD_MAX counts
/// them: none, so libpcap filters VLAN tags itself.
pub const EXTENSIONS: u32 = 0;

/// A load at `at` (absolute or indexed): from the packet, its link-layer
/// header (SKF_LL_OFF), its network header (SKF_NET_OFF, where a packet
/// here starts) or an ancillary value; None is out of bounds.
fn load_at(p: &[u8], anc: &Ancillary, at: u32, size: u16) -> Option<u32> {
    if at >= SKF_AD_OFF {
        return match at - SKF_AD_OFF {
            SKF_AD_PROTOCOL => Some(u32::from(anc.protocol)),
            SKF_AD_PKTTYPE => Some(u32::from(anc.pkttype)),
            SKF_AD_IFINDEX => Some(anc.ifindex),
            SKF_AD_HATYPE => Some(u32::from(anc.hatype)),
            _ => None,
        };
    }
    if (SKF_LL_OFF..SKF_NET_OFF).contains(&at) {
        return load(anc.link, at - SKF_LL_OFF, size);
    }
    if (SKF_NET_OFF..SKF_AD_OFF).contains(&at) {
        return load(p, at - SKF_NET_OFF, size);
    }
    load(p, at, size)
}

fn load(p: &[u8], at: u32, size: u16) -> Option<u32> {
    let at = at as usize;
    Some(match size {
        W => u32::from_be_bytes(p.get(at..at.checked_add(4)?)?.try_into().ok()?),
        H => u16::from_be_bytes(p.get(at..at.checked_add(2)?)?.try_into().ok()?) as u32,
        _ => *p.get(at)? as u32,
    })
}

/// Runs `prog` on `pkt` (`wire_len` bytes long on the wire): the number
/// of bytes to keep, 0 to drop. A load past the end drops the packet.
pub fn run(prog: &[Insn], pkt: &[u8], wire_len: u32, anc: &Ancillary) -> u32 {
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; MEMWORDS];
    let mut pc = 0;
    while let Some(i) = prog.get(pc) {
        pc += 1;
        let src = if i.code & X != 0 { x } else { i.k };
        match i.code & 0x07 {
            LD => {
                a = match i.code & 0xe0 {
                    IMM => i.k,
                    LEN => wire_len,
                    MEM => mem[i.k as usize % MEMWORDS],
                    ABS => match load_at(pkt, anc, i.k, i.code & 0x18) {
                        Some(v) => v,
                        None => return 0,
                    },
                    _ => match load_at(pkt, anc, x.wrapping_add(i.k), i.code & 0x18) {
                        Some(v) => v,
                        None => return 0,
                    },
                }
            }
            LDX => {
                x = match i.code & 0xe0 {
                    IMM => i.k,
                    LEN => wire_len,
                    MEM => mem[i.k as usize % MEMWORDS],
                    _ => match load(pkt, i.k, B) {
                        Some(v) => (v & 0x0f) * 4,
                        None => return 0,
                    },
                }
            }
            ST => mem[i.k as usize % MEMWORDS] = a,
            STX => mem[i.k as usize % MEMWORDS] = x,
            ALU => {
                a = match i.code & 0xf0 {
                    0x00 => a.wrapping_add(src),
                    0x10 => a.wrapping_sub(src),
                    0x20 => a.wrapping_mul(src),
                    0x30 if src == 0 => return 0,
                    0x30 => a / src,
                    0x40 => a | src,
                    0x50 => a & src,
                    0x60 => a.checked_shl(src).unwrap_or(0),
                    0x70 => a.checked_shr(src).unwrap_or(0),
                    0x80 => a.wrapping_neg(),
                    0x90 if src == 0 => return 0,
                    0x90 => a % src,
                    _ => a ^ src,
                }
            }
            JMP => {
                let taken = match i.code & 0xf0 {
                    0x00 => {
                        pc += i.k as usize;
                        continue;
                    }
                    0x10 => a == src,
                    0x20 => a > src,
                    0x30 => a >= src,
                    _ => a & src != 0,
                };
                pc += if taken { i.jt } else { i.jf } as usize;
            }
            RET => return if i.code & 0x18 == A { a } else { i.k },
            _ => {
                if i.code & 0x80 != 0 {
                    a = x;
                } else {
                    x = a;
                }
            }
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prog(insns: &[(u16, u8, u8, u32)]) -> Vec<u8> {
        insns
            .iter()
            .flat_map(|&(c, t, f, k)| [c.to_ne_bytes().as_slice(), &[t, f], &k.to_ne_bytes()].concat())
            .collect()
    }

    #[test]
    fn ethertype_filter_keeps_arp_only() {
        // ldh [12]; jeq #0x806, keep, drop; ret #262144; ret #0
        let p = parse(&prog(&[(0x28, 0, 0, 12), (0x15, 0, 1, 0x806), (0x06, 0, 0, 262144), (0x06, 0, 0, 0)])).unwrap();
        let mut arp = vec![0u8; 42];
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        let mut ip = arp.clone();
        ip[12..14].copy_from_slice(&[0x08, 0x00]);
        let anc = Ancillary::default();
        assert_eq!(run(&p, &arp, 42, &anc), 262144);
        assert_eq!(run(&p, &ip, 42, &anc), 0);
        assert_eq!(run(&p, &arp[..10], 42, &anc), 0, "a load past the end drops");
    }

    #[test]
    fn ancillary_loads_answer_for_cooked_packets() {
        // ldh #proto; jeq #0x800, keep, drop; ret #96; ret #0
        let p =
            parse(&prog(&[(0x28, 0, 0, SKF_AD_OFF), (0x15, 0, 1, 0x800), (0x06, 0, 0, 96), (0x06, 0, 0, 0)])).unwrap();
        let ip = Ancillary { protocol: 0x800, ..Ancillary::default() };
        let arp = Ancillary { protocol: 0x806, ..Ancillary::default() };
        assert_eq!(run(&p, &[0x45; 20], 20, &ip), 96);
        assert_eq!(run(&p, &[0; 28], 28, &arp), 0);
        // ldb [SKF_NET_OFF + 9] reads the packet itself.
        let proto = parse(&prog(&[(0x30, 0, 0, SKF_NET_OFF + 9), (0x16, 0, 0, 0)])).unwrap();
        let mut v4 = [0u8; 20];
        v4[9] = 1;
        assert_eq!(run(&proto, &v4, 20, &ip), 1);
    }

    #[test]
    fn bad_programs_are_einval() {
        assert_eq!(parse(&[]), Err(EINVAL));
        assert_eq!(parse(&prog(&[(0x28, 0, 0, 12)])), Err(EINVAL), "no return at the end");
        assert_eq!(parse(&prog(&[(0x15, 5, 0, 1), (0x06, 0, 0, 0)])), Err(EINVAL), "jump past the end");
        assert_eq!(parse(&prog(&[(0x60, 0, 0, 16), (0x06, 0, 0, 0)])), Err(EINVAL), "scratch slot 16");
    }
}
