//! The shmif bus end to end on real files: two handles on one file acting
//! as two interfaces, wrapping the ring, slow readers, wake-ups across
//! threads, and files that are not buses or hold malformed records.

use rump_abi::native::errno::{EINVAL, EMSGSIZE};
use rump_kernel::net::shmif::*;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A host temp path, removed when dropped (even when a test fails).
struct TmpPath(PathBuf);

impl TmpPath {
    fn new(tag: &str) -> TmpPath {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("rump-shmif-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        TmpPath(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TmpPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A broadcast frame of `len` bytes carrying `seq`, with a body derived
/// from it so that any torn or misplaced byte shows.
fn frame(seq: u32, len: usize) -> Vec<u8> {
    assert!(len >= 18);
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[0xb2, 0xa0, 1, 2, 3, 4, 0x88, 0xb5]);
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend((f.len()..len).map(|i| (i as u32).wrapping_mul(31).wrapping_add(seq) as u8));
    f
}

fn seq_of(f: &Frame) -> u32 {
    u32::from_be_bytes([f.data[14], f.data[15], f.data[16], f.data[17]])
}

fn drain(bus: &Bus, r: &mut BusReader) -> Vec<Frame> {
    std::iter::from_fn(|| r.next(bus)).collect()
}

/// Sizes that do not divide the ring, so records straddle its end at
/// varying points (header split, data split, exact fit).
fn size_for(seq: u32) -> usize {
    [60, 1514, 98, 777, 1000, 18, 1513, 342][seq as usize % 8]
}

fn file_header(path: &Path) -> BusHeaderRepr {
    let bytes = std::fs::read(path).unwrap();
    BusHeaderRepr::parse(&BusHeader::new_checked(&bytes[..]).unwrap()).unwrap()
}

#[test]
fn a_new_bus_has_netbsds_initial_header() {
    let t = TmpPath::new("init");
    let bus = Bus::open(t.path()).unwrap();
    assert_eq!(bus.path(), t.path());
    let meta = std::fs::metadata(t.path()).unwrap();
    assert_eq!(meta.len(), BUS_SIZE as u64);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777 & !0o022, 0o644 & !0o022);
    let h = file_header(t.path());
    assert_eq!(h, BusHeaderRepr { version: 3, gen: 0, first: DATA_SIZE as u32, last: 0, lock: 0, spare: 0 });
    let raw = std::fs::read(t.path()).unwrap();
    assert_eq!(&raw[0..4], &0xca11d054u32.to_ne_bytes());

    bus.send(7, &frame(1, 60), 1, 2).unwrap();
    let h = file_header(t.path());
    // The first record goes after the zero-length one at 0; nothing has
    // been overwritten, so `first` keeps NetBSD's "empty" value.
    assert_eq!((h.last, h.first, h.gen, h.spare), (24, DATA_SIZE as u32, 0, 1));
    let raw = std::fs::read(t.path()).unwrap();
    let rec = RecordRepr::parse(&RecordHeader::new_checked(&raw[32 + 24..]).unwrap()).unwrap();
    assert_eq!(rec, RecordRepr { len: 60, sec: 1, usec: 2, sender: 7 });
    assert_eq!(&raw[32 + 48..32 + 48 + 60], &frame(1, 60)[..]);
    assert_eq!(&raw[32..32 + 24], &[0; 24], "the zero-length record NetBSD readers skip");
}

#[test]
fn two_interfaces_exchange_frames_in_order() {
    let t = TmpPath::new("pair");
    let a = Bus::open(t.path()).unwrap();
    let b = Bus::open(t.path()).unwrap();
    let (ida, idb) = (random_sender(), random_sender());
    assert_ne!(ida, idb);
    let mut ra = a.reader();
    let mut rb = b.reader();
    for i in 0..20u32 {
        a.send(ida, &frame(i, size_for(i)), 1000 + i, i * 7).unwrap();
    }
    b.send(idb, &frame(99, 64), 5, 6).unwrap();
    let got = drain(&b, &mut rb);
    assert_eq!(got.len(), 21);
    for (i, f) in got[..20].iter().enumerate() {
        let i = i as u32;
        assert_eq!(f, &Frame { sender: ida, sec: 1000 + i, usec: i * 7, data: frame(i, size_for(i)) });
    }
    assert_eq!(got[20], Frame { sender: idb, sec: 5, usec: 6, data: frame(99, 64) });
    // Both ends see everything, their own frames included: dropping those
    // is the interface's job.
    assert_eq!(drain(&a, &mut ra), got);
    assert_eq!((rb.errors(), rb.lost(), ra.errors(), ra.lost()), (0, 0, 0, 0));
    assert!(rb.next(&b).is_none());
}

#[test]
fn a_late_reader_sees_only_new_frames_and_from_start_sees_all() {
    let t = TmpPath::new("late");
    let a = Bus::open(t.path()).unwrap();
    for i in 0..3 {
        a.send(1, &frame(i, 100), 0, 0).unwrap();
    }
    let b = Bus::open(t.path()).unwrap();
    let mut r = b.reader();
    assert!(r.next(&b).is_none());
    a.send(1, &frame(3, 100), 0, 0).unwrap();
    a.send(1, &frame(4, 100), 0, 0).unwrap();
    let seqs: Vec<u32> = drain(&b, &mut r).iter().map(seq_of).collect();
    assert_eq!(seqs, [3, 4]);

    let mut all = b.reader_from_start();
    let seqs: Vec<u32> = drain(&b, &mut all).iter().map(seq_of).collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4]);
    assert_eq!(all.errors(), 0, "the empty bus's zero-length record is not an error");
}

#[test]
fn wrapping_the_ring_keeps_frames_intact_and_bumps_gen() {
    let t = TmpPath::new("wrap");
    let a = Bus::open(t.path()).unwrap();
    let b = Bus::open(t.path()).unwrap();
    let mut r = b.reader();
    let mut sent = 0usize;
    let mut seq = 0u32;
    let mut gens = Vec::new();
    while sent < 5 * BUS_SIZE {
        // Bursts of varying length, so the reader is sometimes several
        // records behind when a record straddles the ring's end.
        for _ in 0..(seq % 13 + 1) {
            let f = frame(seq, size_for(seq));
            a.send(42, &f, seq, seq ^ 0x5555).unwrap();
            sent += f.len() + RECORD_HEADER_LEN;
            seq += 1;
        }
        let got = drain(&b, &mut r);
        let first_seq = seq - got.len() as u32;
        for (k, f) in got.iter().enumerate() {
            let s = first_seq + k as u32;
            assert_eq!(f, &Frame { sender: 42, sec: s, usec: s ^ 0x5555, data: frame(s, size_for(s)) });
        }
        gens.push(file_header(t.path()).gen);
    }
    assert_eq!((r.errors(), r.lost()), (0, 0));
    let gen = file_header(t.path()).gen;
    assert!(gen >= 4, "gen {gen} after {sent} bytes");
    assert!(gens.windows(2).all(|w| w[1] >= w[0] && w[1] - w[0] <= 1));

    // After wrapping, the oldest frames still in the ring are a contiguous
    // run ending with the newest one.
    let mut old = b.reader_from_start();
    let tail = drain(&b, &mut old);
    assert_eq!((old.errors(), old.lost()), (0, 0));
    let bytes: usize = tail.iter().map(|f| f.data.len() + RECORD_HEADER_LEN).sum();
    assert!(bytes <= DATA_SIZE && bytes > DATA_SIZE - 2 * (MAX_FRAME + RECORD_HEADER_LEN), "{bytes}");
    for (k, f) in tail.iter().enumerate() {
        assert_eq!(seq_of(f), seq - tail.len() as u32 + k as u32);
        assert_eq!(f.data, frame(seq_of(f), size_for(seq_of(f))));
    }

    // The lock-free snapshot walks the same records.
    let snap = Snapshot::read(t.path()).unwrap().unwrap();
    let recs: Vec<Record> = snap.records().map(|r| r.unwrap()).collect();
    assert_eq!(recs.len(), tail.len());
    assert!(recs.iter().zip(&tail).all(|(r, f)| r.data == f.data && r.header.sender == 42));
    assert_eq!(recs.last().unwrap().offset, snap.header().last);
    assert_eq!(recs[0].offset, snap.header().first);
}

#[test]
fn a_reader_more_than_a_generation_behind_resyncs_and_counts_lost() {
    let t = TmpPath::new("slow");
    let a = Bus::open(t.path()).unwrap();
    let b = Bus::open(t.path()).unwrap();
    let mut r = b.reader();
    a.send(1, &frame(0, 60), 0, 0).unwrap();
    let mut seq = 1;
    let mut sent = 0;
    while sent < 2 * BUS_SIZE + 4096 {
        a.send(1, &frame(seq, size_for(seq)), 0, 0).unwrap();
        sent += size_for(seq) + RECORD_HEADER_LEN;
        seq += 1;
    }
    let got = drain(&b, &mut r);
    assert_eq!(r.lost(), 1);
    assert_eq!(r.errors(), 0);
    assert!(!got.is_empty() && (got.len() as u32) < seq);
    // What it gets after resyncing is the oldest intact run, in order.
    for (k, f) in got.iter().enumerate() {
        assert_eq!(seq_of(f), seq - got.len() as u32 + k as u32);
        assert_eq!(f.data, frame(seq_of(f), size_for(seq_of(f))));
    }
    // And it keeps up from there.
    a.send(1, &frame(seq, 80), 0, 0).unwrap();
    assert_eq!(r.next(&b).map(|f| seq_of(&f)), Some(seq));
    assert_eq!(r.lost(), 1);
}

/// An interface's reader passes over its own frames, and is not overrun
/// by them however many laps they make while it does not run; the frames
/// of others it still reads, in order, and a reader that does not skip
/// them sees its frames as before.
#[test]
fn a_reader_is_never_overrun_by_its_own_interface() {
    let t = TmpPath::new("own");
    let own = Bus::open(t.path()).unwrap();
    let other = Bus::open(t.path()).unwrap();
    let mut r = own.reader();
    let mut buf = Vec::new();
    assert!(r.next_into(&own, Some(1), &mut buf).is_none());
    let mut sent = 0;
    let mut seq = 0;
    while sent < 3 * BUS_SIZE {
        own.send(1, &frame(seq, size_for(seq)), 0, 0).unwrap();
        sent += size_for(seq) + RECORD_HEADER_LEN;
        seq += 1;
    }
    other.send(2, &frame(seq, 70), 0, 0).unwrap();
    own.send(1, &frame(seq + 1, 70), 0, 0).unwrap();
    other.send(2, &frame(seq + 2, 70), 0, 0).unwrap();
    let mut got = Vec::new();
    while let Some(rec) = r.next_into(&own, Some(1), &mut buf) {
        got.push((rec.sender, u32::from_be_bytes(buf[14..18].try_into().unwrap())));
    }
    assert_eq!(got, [(2, seq), (2, seq + 2)]);
    assert_eq!((r.lost(), r.errors()), (0, 0));
}

#[test]
fn a_reader_overrun_within_one_generation_resyncs_too() {
    let t = TmpPath::new("overrun");
    let a = Bus::open(t.path()).unwrap();
    let mut r = a.reader();
    // Just over a ring's worth: the writer is one generation ahead and
    // has overwritten the reader's position.
    let mut seq = 0;
    let mut sent = 0;
    while sent < DATA_SIZE + 3000 {
        a.send(1, &frame(seq, 1000), 0, 0).unwrap();
        sent += 1000 + RECORD_HEADER_LEN;
        seq += 1;
    }
    let got = drain(&a, &mut r);
    assert_eq!((r.lost(), r.errors()), (1, 0));
    assert_eq!(seq_of(got.last().unwrap()), seq - 1);
    assert!(seq_of(&got[0]) > 0);
}

#[test]
fn wait_is_woken_by_a_send_from_another_handle_and_times_out() {
    let t = TmpPath::new("wait");
    let a = Bus::open(t.path()).unwrap();
    let b = Arc::new(Bus::open(t.path()).unwrap());

    // Timeout with nothing sent.
    let mut r = b.reader();
    assert!(r.next(&b).is_none());
    let t0 = Instant::now();
    b.wait(&r, Duration::from_millis(60));
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_millis(55) && waited < Duration::from_secs(2), "{waited:?}");

    // A blocked waiter is woken by a send from the other handle.
    let (tx, rx) = std::sync::mpsc::channel();
    let b2 = b.clone();
    let waiter = std::thread::spawn(move || {
        let mut r = b2.reader();
        assert!(r.next(&b2).is_none());
        tx.send(()).unwrap();
        b2.wait(&r, Duration::from_secs(30));
        let woke = Instant::now();
        (woke, r.next(&b2))
    });
    rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let sent = Instant::now();
    a.send(9, &frame(1, 60), 0, 0).unwrap();
    let (woke, f) = waiter.join().unwrap();
    let latency = woke.saturating_duration_since(sent);
    assert!(latency < Duration::from_millis(500), "woken after {latency:?}");
    assert_eq!(f.map(|f| f.sender), Some(9));

    // A reader that has just returned a frame does not sleep.
    assert_eq!(drain(&b, &mut r).len(), 1);
    a.send(9, &frame(2, 60), 0, 0).unwrap();
    assert!(r.next(&b).is_some());
    let t0 = Instant::now();
    b.wait(&r, Duration::from_secs(30));
    assert!(t0.elapsed() < Duration::from_secs(1));
    // Nor one that missed a send between its look and its wait.
    assert!(r.next(&b).is_none());
    a.send(9, &frame(3, 60), 0, 0).unwrap();
    let t0 = Instant::now();
    b.wait(&r, Duration::from_secs(30));
    assert!(t0.elapsed() < Duration::from_secs(1));

    // NetBSD's wake-up wrote the version through the file.
    let raw = std::fs::read(t.path()).unwrap();
    assert_eq!(&raw[4..8], &3u32.to_ne_bytes());
}

#[test]
fn concurrent_writers_and_readers_never_tear_frames() {
    // Each thread has its own handle (its own mapping of the file), as
    // interfaces in different processes would.
    let t = TmpPath::new("stress");
    let _create = Bus::open(t.path()).unwrap();
    const WRITERS: u64 = 4;
    const FRAMES: u32 = 1500;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let bus = Bus::open(t.path()).unwrap();
            let done = done.clone();
            std::thread::spawn(move || {
                let mut r = bus.reader_from_start();
                let mut next_seq = [0u32; WRITERS as usize];
                let mut got = 0u64;
                loop {
                    let finished = done.load(Ordering::SeqCst);
                    while let Some(f) = r.next(&bus) {
                        let w = (f.sender - 1) as usize;
                        let s = seq_of(&f);
                        assert_eq!(f.data, frame(s, size_for(s)), "torn frame from {w}");
                        assert_eq!((f.sec, f.usec), (s, w as u32));
                        assert!(s >= next_seq[w], "writer {w}: {s} after {}", next_seq[w]);
                        next_seq[w] = s + 1;
                        got += 1;
                    }
                    if finished {
                        break;
                    }
                    bus.wait(&r, Duration::from_millis(20));
                }
                (got, r.lost(), r.errors())
            })
        })
        .collect();
    let writers: Vec<_> = (1..=WRITERS)
        .map(|id| {
            let bus = Bus::open(t.path()).unwrap();
            std::thread::spawn(move || {
                for s in 0..FRAMES {
                    bus.send(id, &frame(s, size_for(s)), s, id as u32 - 1).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    for r in readers {
        let (got, lost, errors) = r.join().unwrap();
        assert_eq!(errors, 0);
        if lost == 0 {
            assert_eq!(got, WRITERS * FRAMES as u64);
        }
        assert!(got > 0);
    }
}

#[test]
fn files_that_are_not_buses_are_einval_and_left_alone() {
    let t = TmpPath::new("garbage");
    // Deterministic noise whose first word is no magic.
    let mut x = 0x1234_5678_9abc_def0u64;
    let noise: Vec<u8> = (0..BUS_SIZE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(t.path(), &noise).unwrap();
    assert_eq!(Bus::open(t.path()).unwrap_err(), EINVAL);
    assert_eq!(std::fs::read(t.path()).unwrap(), noise);

    let mut hdr = [0u8; HEADER_LEN];
    let good = BusHeaderRepr::new();
    type Spoil = fn(&mut BusHeader<&mut [u8]>);
    let cases: [(&str, Spoil); 6] = [
        ("magic", |h| h.set_magic(0xdeadbeef)),
        ("swapped", |h| h.set_magic(0xca11d054u32.swap_bytes())),
        ("version", |h| h.set_version(2)),
        ("first", |h| h.set_first(DATA_SIZE as u32 + 1)),
        ("last", |h| h.set_last(DATA_SIZE as u32)),
        ("no magic, not zero", |h| {
            h.set_magic(0);
            h.set_gen(5)
        }),
    ];
    for (what, spoil) in cases {
        let mut h = BusHeader::new_unchecked(&mut hdr[..]);
        good.emit(&mut h);
        spoil(&mut h);
        let mut bytes = vec![0u8; BUS_SIZE];
        bytes[..HEADER_LEN].copy_from_slice(&hdr);
        std::fs::write(t.path(), &bytes).unwrap();
        assert_eq!(Bus::open(t.path()).unwrap_err(), EINVAL, "{what}");
        assert_eq!(std::fs::read(t.path()).unwrap(), bytes, "{what}: file changed");
        assert!(Snapshot::from_bytes(bytes).is_err(), "{what}");
    }
    assert_eq!(BusHeader::new_checked(&[0u8; 31][..]).unwrap_err(), BadBus::Short(31));
}

#[test]
fn short_files_are_einval_unless_all_zeros() {
    // Documented choice: a short file with a magic is refused, not grown.
    let t = TmpPath::new("short");
    let mut bytes = vec![0u8; 100];
    BusHeaderRepr::new().emit(&mut BusHeader::new_unchecked(&mut bytes[..]));
    std::fs::write(t.path(), &bytes).unwrap();
    assert_eq!(Bus::open(t.path()).unwrap_err(), EINVAL);
    assert_eq!(std::fs::read(t.path()).unwrap(), bytes);
    assert!(matches!(Snapshot::read(t.path()).unwrap(), Err(BadBus::Short(100))));

    // Empty and all-zero short files are new buses.
    for len in [0usize, 4096] {
        std::fs::write(t.path(), vec![0u8; len]).unwrap();
        let bus = Bus::open(t.path()).unwrap();
        assert_eq!(std::fs::metadata(t.path()).unwrap().len(), BUS_SIZE as u64);
        bus.send(1, &frame(0, 60), 0, 0).unwrap();
        assert_eq!(bus.reader_from_start().next(&bus).map(|f| f.data), Some(frame(0, 60)));
    }

    // A directory or a FIFO is no bus either, and opening one does not hang.
    let dir = std::env::temp_dir();
    assert!(Bus::open(&dir).is_err());
    let fifo = TmpPath::new("fifo");
    let c = std::ffi::CString::new(fifo.path().to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    assert_eq!(Bus::open(fifo.path()).unwrap_err(), EINVAL);
    assert!(matches!(Snapshot::read(fifo.path()).unwrap(), Err(BadBus::NotRegular)));
}

#[test]
fn a_bus_netbsd_attached_to_but_never_sent_on_is_accepted() {
    // NetBSD's attach writes the magic and first but not the version.
    let t = TmpPath::new("netbsd");
    let mut bytes = vec![0u8; BUS_SIZE];
    let mut h = BusHeader::new_unchecked(&mut bytes[..]);
    h.set_magic(0xca11d054);
    h.set_first(DATA_SIZE as u32);
    std::fs::write(t.path(), &bytes).unwrap();
    let bus = Bus::open(t.path()).unwrap();
    let mut r = bus.reader();
    bus.send(3, &frame(0, 60), 0, 0).unwrap();
    assert_eq!(r.next(&bus).map(|f| f.sender), Some(3));
    assert_eq!(file_header(t.path()).version, 3);
}

/// Writes a record length into the ring through the file, as another
/// (broken or hostile) process might.
fn poke_len(path: &Path, ring_off: u32, len: u32) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(&len.to_ne_bytes(), (HEADER_LEN as u32 + ring_off) as u64).unwrap();
}

#[test]
fn malformed_records_are_skipped_and_counted_and_later_frames_arrive() {
    let t = TmpPath::new("bad");
    let a = Bus::open(t.path()).unwrap();
    let b = Bus::open(t.path()).unwrap();
    let mut r = b.reader();
    let mut r2 = b.reader();

    // A length no frame has, in a record that is not the newest.
    a.send(1, &frame(0, 60), 0, 0).unwrap();
    let off0 = file_header(t.path()).last;
    a.send(1, &frame(1, 60), 0, 0).unwrap();
    poke_len(t.path(), off0, 0xffff_ff00);
    assert_eq!(r.next(&b).map(|f| seq_of(&f)), Some(1));
    assert_eq!(r.errors(), 1);
    a.send(1, &frame(2, 60), 0, 0).unwrap();
    assert_eq!(r.next(&b).map(|f| seq_of(&f)), Some(2));
    assert!(r.next(&b).is_none());

    // The snapshot reports it where it is.
    let snap = Snapshot::read(t.path()).unwrap().unwrap();
    let bad: Vec<_> = snap.records().filter_map(Result::err).collect();
    assert_eq!(bad, [RecordError { offset: off0, error: BadRecord::Length(0xffff_ff00) }]);

    // A plausible length that runs past the newest record.
    a.send(1, &frame(3, 60), 0, 0).unwrap();
    let off3 = file_header(t.path()).last;
    a.send(1, &frame(4, 60), 0, 0).unwrap();
    poke_len(t.path(), off3, 1400);
    assert_eq!(r.next(&b).map(|f| seq_of(&f)), Some(4));
    assert_eq!(r.errors(), 2);

    // The newest record itself: writers and readers agree on where the
    // next one goes.
    a.send(1, &frame(5, 60), 0, 0).unwrap();
    let off5 = file_header(t.path()).last;
    poke_len(t.path(), off5, 4000);
    assert!(r.next(&b).is_none());
    assert_eq!(r.errors(), 3);
    for s in 6..10 {
        a.send(1, &frame(s, 200), 0, 0).unwrap();
    }
    let seqs: Vec<u32> = drain(&b, &mut r).iter().map(seq_of).collect();
    assert_eq!(seqs, [6, 7, 8, 9]);

    // A runt (shorter than an Ethernet header) is skipped and counted.
    a.send(1, &frame(10, 60), 0, 0).unwrap();
    let off10 = file_header(t.path()).last;
    a.send(1, &frame(11, 60), 0, 0).unwrap();
    poke_len(t.path(), off10, 5);
    // 5 bytes leave the chain pointing into frame 10's body, where the
    // next "record" is garbage; the reader must get past it either way.
    let seqs: Vec<u32> = drain(&b, &mut r).iter().map(seq_of).collect();
    assert_eq!(seqs.last(), Some(&11));
    assert!(r.errors() >= 4);

    // A reader that meets the first bad record only now cannot follow the
    // chain past it, so it resyncs at the newest record.
    let seqs: Vec<u32> = drain(&b, &mut r2).iter().map(seq_of).collect();
    assert_eq!((seqs, r2.errors(), r2.lost()), (vec![11], 1, 0));

    // Sending over the damage for a few laps heals the ring.
    for s in 0..3000 {
        a.send(1, &frame(s, size_for(s)), 0, 0).unwrap();
    }
    let mut r3 = b.reader_from_start();
    drain(&b, &mut r3);
    assert_eq!((r3.errors(), r3.lost()), (0, 0));
}

#[test]
fn a_hostile_header_never_panics() {
    let t = TmpPath::new("hostile");
    let bus = Bus::open(t.path()).unwrap();
    let mut r = bus.reader();
    bus.send(1, &frame(0, 60), 0, 0).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(t.path()).unwrap();
    let values = [0u32, 1, 23, 24, DATA_SIZE as u32 - 1, DATA_SIZE as u32, DATA_SIZE as u32 + 1, u32::MAX];
    for (i, &v) in values.iter().enumerate() {
        for (field, at) in [("first", 16u64), ("last", 20)] {
            f.write_all_at(&v.to_ne_bytes(), at).unwrap();
            f.write_all_at(&(i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_ne_bytes(), 8).unwrap();
            // Whatever the header says, nothing panics or reads out of
            // bounds, and send either works or says EINVAL.
            let _ = drain(&bus, &mut r);
            let _ = drain(&bus, &mut bus.reader_from_start());
            match bus.send(1, &frame(1, 100), 0, 0) {
                Ok(()) | Err(EINVAL) => {}
                Err(e) => panic!("{field}={v}: {e:?}"),
            }
            if let Ok(s) = Snapshot::read(t.path()).unwrap() {
                let _ = s.records().count();
            }
        }
    }
}

#[test]
fn frame_sizes_are_checked() {
    let t = TmpPath::new("sizes");
    let bus = Bus::open(t.path()).unwrap();
    assert_eq!(bus.send(1, &vec![0xff; MAX_FRAME + 1], 0, 0), Err(EMSGSIZE));
    assert_eq!(bus.send(1, &vec![0xff; 9000], 0, 0), Err(EMSGSIZE));
    assert_eq!(bus.send(1, &[], 0, 0), Err(EINVAL));
    let mut r = bus.reader();
    bus.send(1, &frame(0, MAX_FRAME), 0, 0).unwrap();
    assert_eq!(r.next(&bus).map(|f| f.data.len()), Some(MAX_FRAME));
}

#[test]
fn accepts_filters_by_destination() {
    let me = [0xb2, 0xa0, 1, 2, 3, 4];
    let to = |dst: [u8; 6]| {
        let mut f = dst.to_vec();
        f.extend_from_slice(&[0xb2, 0xa0, 9, 9, 9, 9, 0x08, 0x00]);
        f
    };
    assert!(accepts(me, false, &to(me)));
    assert!(accepts(me, false, &to([0xff; 6])));
    assert!(accepts(me, false, &to([0x33, 0x33, 0, 0, 0, 1])));
    assert!(accepts(me, false, &to([0x01, 0x00, 0x5e, 0, 0, 1])));
    assert!(!accepts(me, false, &to([0xb2, 0xa0, 1, 2, 3, 5])));
    assert!(accepts(me, true, &to([0xb2, 0xa0, 1, 2, 3, 5])));
    assert!(!accepts(me, true, &to(me)[..13]));
}

#[test]
fn random_ids_and_macs() {
    let m = random_mac();
    assert_eq!(&m[..2], &[0xb2, 0xa0]);
    let macs: std::collections::HashSet<[u8; 6]> = (0..64).map(|_| random_mac()).collect();
    assert!(macs.len() > 60);
    let ids: std::collections::HashSet<u64> = (0..64).map(|_| random_sender()).collect();
    assert_eq!(ids.len(), 64);
    assert!(!ids.contains(&0));
}

/// Sends `seq` from `bus` until it gets through or 3 s pass (a broken bus
/// looks at its file again every `CHECK_PERIOD`).
fn send_when_usable(bus: &Bus, sender: u64, seq: u32) {
    let start = Instant::now();
    while bus.send(sender, &frame(seq, 64), 0, 0).is_err() {
        assert!(start.elapsed() < Duration::from_secs(3), "the bus did not recover");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Drains `r` until a frame with `seq` arrives (3 s at most).
fn receive(bus: &Bus, r: &mut BusReader, seq: u32) {
    let start = Instant::now();
    while !drain(bus, r).iter().any(|f| seq_of(f) == seq) {
        assert!(start.elapsed() < Duration::from_secs(3), "frame {seq} never arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `truncate -s 0 BUS` under attached interfaces used to SIGBUS-kill
/// every process attached. Now both ends stop, count one fault, and
/// carry on over the emptied file, which becomes a new bus.
#[test]
fn a_truncated_bus_file_kills_nobody_and_recovers() {
    let t = TmpPath::new("truncate");
    let (a, b) = (Bus::open(t.path()).unwrap(), Bus::open(t.path()).unwrap());
    let (ida, idb) = (random_sender(), random_sender());
    let mut rb = b.reader();
    a.send(ida, &frame(1, 64), 0, 0).unwrap();
    receive(&b, &mut rb, 1);
    std::fs::OpenOptions::new().write(true).open(t.path()).unwrap().set_len(0).unwrap();
    // Both ends touch the mapping past the file's end now.
    let _ = a.send(ida, &frame(2, 64), 0, 0);
    let _ = drain(&b, &mut rb);
    send_when_usable(&a, ida, 3);
    receive(&b, &mut rb, 3);
    send_when_usable(&b, idb, 4);
    assert!(a.faults() + b.faults() >= 1, "the breakage was counted");
    assert_eq!(std::fs::metadata(t.path()).unwrap().len(), BUS_SIZE as u64);
}

/// A bad magic or impossible offsets stop the bus only until the header
/// is good again; no restart is needed.
#[test]
fn a_scribbled_header_stops_the_bus_until_it_is_repaired() {
    let t = TmpPath::new("scribble");
    let (a, b) = (Bus::open(t.path()).unwrap(), Bus::open(t.path()).unwrap());
    let ida = random_sender();
    let mut rb = b.reader();
    let file = std::fs::OpenOptions::new().write(true).open(t.path()).unwrap();
    for (at, bad) in [(0u64, 0xdead_beefu32), (16, u32::MAX), (20, u32::MAX)] {
        let good = std::fs::read(t.path()).unwrap()[..HEADER_LEN].to_vec();
        file.write_at(&bad.to_ne_bytes(), at).unwrap();
        std::thread::sleep(CHECK_PERIOD * 2);
        assert!(a.send(ida, &frame(10, 64), 0, 0).is_err(), "a send on a bad header at {at}");
        file.write_at(&good, 0).unwrap();
        send_when_usable(&a, ida, at as u32);
        receive(&b, &mut rb, at as u32);
    }
    assert!(a.faults() >= 3);
}

/// A bus file replaced under the interfaces (a new file renamed over the
/// path) is followed: both ends move to it, and a replacement that is not
/// a bus stops them until a bus is there again.
#[test]
fn a_replaced_bus_file_is_followed() {
    let t = TmpPath::new("replace");
    let (a, b) = (Bus::open(t.path()).unwrap(), Bus::open(t.path()).unwrap());
    let ida = random_sender();
    let mut rb = b.reader();
    let junk = TmpPath::new("junk");
    std::fs::write(junk.path(), b"not a bus").unwrap();
    std::fs::rename(junk.path(), t.path()).unwrap();
    std::thread::sleep(CHECK_PERIOD * 2);
    assert!(a.send(ida, &frame(6, 64), 0, 0).is_err(), "a send on a file that is not a bus");
    let next = TmpPath::new("replacement");
    std::fs::write(next.path(), b"").unwrap();
    std::fs::rename(next.path(), t.path()).unwrap();
    std::thread::sleep(CHECK_PERIOD * 2);
    send_when_usable(&a, ida, 7);
    receive(&b, &mut rb, 7);
    // The frame is in the new file.
    assert!(Snapshot::read(t.path()).unwrap().unwrap().records().any(|r| r.is_ok_and(|r| r.header.sender == ida)));
}

/// A reader that never falls a ring behind loses nothing, however the
/// records straddle the ring's end and wherever it stands when it looks:
/// the writer runs ahead by up to nearly a ring, in random bursts, over
/// many laps.
#[test]
fn a_reader_less_than_a_ring_behind_is_never_overrun() {
    let t = TmpPath::new("behind");
    let (writer, reading) = (Bus::open(t.path()).unwrap(), Bus::open(t.path()).unwrap());
    let mut r = reading.reader();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut seq, mut expect, mut buf) = (0u32, 0u32, Vec::new());
    while seq < 20_000 {
        // Bytes ahead of the reader: a burst that keeps it within a ring.
        let room = DATA_SIZE - 2 * (1514 + RECORD_HEADER_LEN);
        let mut ahead = 0;
        let burst = next() % 700;
        for _ in 0..burst {
            let len = size_for((next() % 8) as u32);
            if ahead + len + RECORD_HEADER_LEN > room {
                break;
            }
            writer.send(1, &frame(seq, len), 0, 0).unwrap();
            ahead += len + RECORD_HEADER_LEN;
            seq += 1;
        }
        while let Some(_rec) = r.next_into(&reading, Some(2), &mut buf) {
            assert_eq!(u32::from_be_bytes(buf[14..18].try_into().unwrap()), expect, "frames in order, none missed");
            expect += 1;
        }
        assert_eq!((r.lost(), r.errors()), (0, 0), "after {seq} frames");
    }
    assert_eq!(expect, seq);
}
