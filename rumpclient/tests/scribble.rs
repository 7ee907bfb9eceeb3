//! A client that scribbles on its own shared-memory channel: while one of
//! its threads makes honest calls, another writes garbage into every word
//! the server reads from the mapping (each slot's area and path words) and
//! into the areas' bytes, and posts garbage calls (random numbers, random
//! arguments, random area and path words) in slots the honest thread never
//! takes. The server trusts nothing there: it must neither crash nor
//! wedge. The scribbler's own calls may come back garbled; its honest
//! thread must still get answers, and another client must still be served.
//! (With `RUMP_TRANSPORT=socket` there is no channel to scribble on.)

mod support;

use rump_abi::linux::sys::*;
use rumpclient::client::Client;
use rumpclient::transport::shm;
use rumpclient::transport::shm::lane::{Area, INLINE_LEN, LANES, LANE_LEN};
use rumpclient::transport::shm::layout::{area_offset, mapping_len, Channel, DONE, FLAGS, POSTED, SLOTS};
use rumpclient::wire::handshake::Emulation;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::Rng;

/// Slots from here on are the scribbler's: the honest thread, one call at
/// a time, keeps to the first.
const GARBAGE_SLOTS: usize = SLOTS - 16;
const SCRATCH: usize = 64 << 10;

/// The addresses of this process's mappings of a channel (the client's
/// and, the server being in this process, the server's).
fn channel_mappings() -> Vec<usize> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines()
        .filter(|l| l.contains("rump-channel"))
        .filter_map(|l| {
            let (range, _) = l.split_once(' ')?;
            let (a, b) = range.split_once('-')?;
            let (a, b) = (usize::from_str_radix(a, 16).ok()?, usize::from_str_radix(b, 16).ok()?);
            (b - a >= mapping_len()).then_some(a)
        })
        .collect()
}

/// An argument word: small numbers (fds, lengths, flags), addresses in
/// the scratch buffer, or garbage no user address can be. (The server
/// runs in this process, so a call may reach no memory of ours but the
/// scratch buffer, whose overruns stop at its guard page.)
fn garbage_arg(g: &mut Rng, scratch: usize) -> u64 {
    match g.below(4) {
        0 => g.below(300) as u64,
        1 => (scratch + g.below(SCRATCH)) as u64,
        2 => 0,
        _ => g.next() | 1 << 63,
    }
}

/// `SCRATCH` bytes followed by a page nothing may touch, never unmapped
/// (garbage calls may write there until the end of the test).
fn guarded_scratch() -> usize {
    // SAFETY: a fresh private mapping, then a change to its own last page.
    unsafe {
        let at = libc::mmap(
            std::ptr::null_mut(),
            SCRATCH + 4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(at, libc::MAP_FAILED);
        assert_eq!(libc::mprotect(at.cast::<u8>().add(SCRATCH).cast(), 4096, libc::PROT_NONE), 0);
        at as usize
    }
}

#[test]
fn a_client_scribbling_on_its_channel_harms_only_itself() {
    let srv = support::start();
    let c = Arc::new(Client::connect(&srv.url, Emulation::Linux, "scribbler").unwrap());
    assert_eq!(c.shares_memory(), shm::wanted(), "the transport RUMP_TRANSPORT asks for");
    if !c.shares_memory() {
        return;
    }
    // One call first: the channel is mapped by now.
    rump_sys_getpid(&*c).unwrap();
    let bases = channel_mappings();
    assert!(!bases.is_empty(), "no channel mapping found in /proc/self/maps");
    // Calls the kernel may run with garbage and still return promptly:
    // no exit, no signal, no sleep on anything.
    let calls = [
        SYS_getpid,
        SYS_read,
        SYS_pread64,
        SYS_write,
        SYS_newfstatat,
        SYS_openat,
        SYS_readlinkat,
        SYS_getdents64,
        SYS_fstat,
        SYS_lseek,
        SYS_statx,
        SYS_mkdirat,
        SYS_unlinkat,
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let scribbler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let scratch = guarded_scratch();
            let mut g = Rng(0x9e37_79b9_7f4a_7c15);
            let (mut posted, mut answered) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                let base = bases[g.below(bases.len())];
                // SAFETY: a live mapping of `mapping_len()` bytes, reached
                // only through its atomics and raw byte writes.
                let ch = unsafe { Channel::at(base as *mut u8) };
                for slot in ch.slots {
                    slot.window.store(g.next(), Ordering::Relaxed);
                    slot.path.store(g.next(), Ordering::Relaxed);
                }
                // Bytes of an inline area or a lane.
                let (area, len) = match g.below(2) {
                    0 => (Area::Inline, INLINE_LEN),
                    _ => (Area::Lane(g.below(LANES)), LANE_LEN),
                };
                let at = base + area_offset(area, g.below(SLOTS)) + g.below(len - 8);
                // SAFETY: inside the mapping.
                unsafe { (at as *mut u64).write_unaligned(g.next()) };
                // A garbage call in one of the scribbler's slots.
                let i = GARBAGE_SLOTS + g.below(SLOTS - GARBAGE_SLOTS);
                let slot = &ch.slots[i];
                answered += u64::from(slot.state.load(Ordering::Acquire) & !FLAGS == DONE);
                slot.sysnum.store(calls[g.below(calls.len())], Ordering::Relaxed);
                slot.reqno.store(g.next(), Ordering::Relaxed);
                for a in &slot.args {
                    a.store(garbage_arg(&mut g, scratch), Ordering::Relaxed);
                }
                slot.state.store(POSTED, Ordering::Release);
                ch.header.posted[i / 64].fetch_or(1 << (i % 64), Ordering::SeqCst);
                ch.header.doorbell.fetch_add(1, Ordering::SeqCst);
                shm::futex::wake(&ch.header.doorbell, 1);
                posted += 1;
            }
            (posted, answered)
        })
    };
    // The honest thread: answers keep coming, whatever they say.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut answered = 0;
    let path = c"/";
    while Instant::now() < deadline {
        let mut st = std::mem::MaybeUninit::<rump_abi::linux::types::stat>::zeroed();
        let _ = rump_sys_newfstatat(&*c, -100, path.as_ptr(), st.as_mut_ptr(), 0);
        let _ = rump_sys_getpid(&*c);
        answered += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let (posted, garbage_answered) = scribbler.join().unwrap();
    assert!(
        posted > 1000 && garbage_answered > 100 && answered > 100,
        "posted {posted} garbage calls, {garbage_answered} seen answered; made {answered} honest pairs"
    );
    // Another client is served at once, and so is a new one of ours.
    let other = Client::connect(&srv.url, Emulation::Linux, "bystander").unwrap();
    assert!(rump_sys_getpid(&other).is_ok());
    let again = Client::connect(&srv.url, Emulation::Linux, "scribbler-again").unwrap();
    let mut st = std::mem::MaybeUninit::<rump_abi::linux::types::stat>::zeroed();
    assert_eq!(rump_sys_newfstatat(&again, -100, path.as_ptr(), st.as_mut_ptr(), 0), Ok(0));
}
