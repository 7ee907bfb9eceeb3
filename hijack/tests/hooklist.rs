//! The list of hooked symbols (`hooks::entry`, the `rumphijack_hooks`
//! section of the built library) against what it describes: the symbols
//! the library really exports, the glibc calls real tools make
//! (`census.md`), and the raw-syscall routing table generated from the
//! Linux `syscalls.master`.

mod support;

use rump_abi::linux::sys::RAW_ROUTES;
use rump_abi::RawArg;
use std::collections::{BTreeMap, BTreeSet};

/// The glibc functions the census (the reference `census.md`,
/// "Per-tool results", the logger's "Sym" column, glibc 2.36) saw tools
/// make on files, fds and sockets, which must reach the kernel when their
/// object is the kernel's. Left out: calls on the library's cookie streams
/// (fread_unlocked, fwrite_unlocked, fileno, fclose, __getdelim, fgets,
/// fscanf, feof), and what stays the host's by design (getpwuid,
/// getgrgid, getservbyname, gethostbyaddr_r, __fdelt_chk's bounds check,
/// _exit, the capability and timer calls).
const CENSUS: &[(&str, &[&str])] = &[
    ("cat", &["open", "fstat", "posix_fadvise", "copy_file_range", "close"]),
    ("dash `cat < F`", &["open64", "fcntl", "dup2", "close", "vfork", "execve", "wait3"]),
    ("head", &["open", "read", "close"]),
    (
        "ls -la, ls -R",
        &["opendir", "readdir", "closedir", "dirfd", "statx", "readlink", "getxattr", "lgetxattr", "isatty"],
    ),
    ("cp", &["open", "openat", "fstat", "fstatat", "ioctl", "copy_file_range", "posix_fadvise", "lseek", "close"]),
    ("mv", &["renameat2"]),
    (
        "rm -r, find, du, grep -r",
        &[
            "openat",
            "fdopendir",
            "readdir",
            "closedir",
            "fstatat",
            "lstat",
            "fstatfs",
            "fcntl",
            "unlinkat",
            "fchdir",
            "lseek",
            "read",
        ],
    ),
    ("mkdir -p", &["mkdir", "chdir", "__open_2", "fchdir", "umask", "close"]),
    ("touch, dd", &["open", "dup2", "futimens", "lseek", "read", "write", "close"]),
    (
        "tar cf",
        &[
            "creat",
            "__openat_2",
            "fstat",
            "fstatat",
            "fdopendir",
            "readdir",
            "closedir",
            "readlinkat",
            "read",
            "write",
            "fcntl",
        ],
    ),
    (
        "tar xf",
        &[
            "open",
            "openat",
            "__openat_2",
            "mkdirat",
            "symlinkat",
            "unlinkat",
            "fchmod",
            "fchown",
            "fchownat",
            "fchmodat",
            "futimens",
            "utimensat",
        ],
    ),
    ("sha256sum, wc", &["fopen", "posix_fadvise", "lseek", "open", "read", "close"]),
    ("ln -s, readlink", &["symlinkat", "readlink"]),
    ("df", &["canonicalize_file_name", "stat", "open", "fstat", "statvfs", "fopen"]),
    ("sh -c, bash", &["open64", "open", "fcntl", "dup2", "write", "read", "lseek", "isatty", "close"]),
    (
        "python3",
        &[
            "open64",
            "fstat64",
            "isatty",
            "lseek64",
            "read",
            "close",
            "opendir",
            "readdir64",
            "closedir",
            "stat64",
            "fopen64",
        ],
    ),
    ("ifconfig, route, netstat", &["socket", "ioctl", "access", "fopen64"]),
    ("ip, ss", &["socket", "setsockopt", "bind", "getsockname", "send", "sendmsg", "recvmsg"]),
    (
        "ping",
        &[
            "socket",
            "setsockopt",
            "connect",
            "getsockname",
            "sendto",
            "recvmsg",
            "getsockopt",
            "close",
            "getaddrinfo",
            "getnameinfo",
        ],
    ),
    (
        "curl",
        &[
            "socket",
            "socketpair",
            "fcntl",
            "setsockopt",
            "connect",
            "poll",
            "getsockopt",
            "getpeername",
            "getsockname",
            "send",
            "recv",
            "close",
        ],
    ),
    (
        "python3 http.server",
        &[
            "socket",
            "setsockopt",
            "bind",
            "listen",
            "getsockname",
            "poll",
            "accept4",
            "recv",
            "send",
            "shutdown",
            "close",
        ],
    ),
    (
        "nc, socat",
        &[
            "socket",
            "connect",
            "bind",
            "listen",
            "accept4",
            "setsockopt",
            "poll",
            "select",
            "read",
            "write",
            "shutdown",
            "getsockopt",
            "getaddrinfo",
            "getnameinfo",
            "fork",
            "socketpair",
            "recv",
        ],
    ),
    ("getent ahosts", &["getaddrinfo", "freeaddrinfo"]),
];

/// Calls `hijack/src/sud/router.rs` dispatches before consulting the
/// table (signals, process creation, fd arrays and ranges, the cwd), so
/// the table's view of their arguments is not their route.
const ROUTED_BEFORE_TABLE: &[&str] = &[
    "rt_sigaction",
    "rt_sigprocmask",
    "fork",
    "vfork",
    "clone",
    "clone3",
    "execve",
    "execveat",
    "poll",
    "ppoll",
    "close_range",
    "getcwd",
];

/// The hook a raw syscall reaches, where the names differ (as the router's
/// `hook_name`).
fn hook_of(sys: &str) -> &str {
    match sys {
        "newfstatat" => "fstatat",
        "faccessat2" => "faccessat",
        other => other,
    }
}

/// A little-endian integer of `N` bytes at `at`.
fn le(b: &[u8], at: usize, n: usize) -> u64 {
    b[at..at + n].iter().rev().fold(0, |v, &x| v << 8 | x as u64)
}

/// An ELF64 section: type, file offset, size, linked section.
struct Section {
    name: String,
    kind: u32,
    offset: usize,
    size: usize,
    link: usize,
}

fn sections(elf: &[u8]) -> Vec<Section> {
    assert_eq!(&elf[..5], b"\x7fELF\x02", "not an ELF64 file");
    let (shoff, shentsize) = (le(elf, 0x28, 8) as usize, le(elf, 0x3a, 2) as usize);
    let (shnum, shstrndx) = (le(elf, 0x3c, 2) as usize, le(elf, 0x3e, 2) as usize);
    let raw: Vec<(u32, Section)> = (0..shnum)
        .map(|i| {
            let h = shoff + i * shentsize;
            let s = Section {
                name: String::new(),
                kind: le(elf, h + 4, 4) as u32,
                offset: le(elf, h + 0x18, 8) as usize,
                size: le(elf, h + 0x20, 8) as usize,
                link: le(elf, h + 0x28, 4) as usize,
            };
            (le(elf, h, 4) as u32, s)
        })
        .collect();
    let names = raw[shstrndx].1.offset;
    raw.into_iter().map(|(n, s)| Section { name: c_str(elf, names + n as usize), ..s }).collect()
}

/// The NUL-terminated text at `at`.
fn c_str(b: &[u8], at: usize) -> String {
    let end = b[at..].iter().position(|&c| c == 0).map_or(b.len(), |n| at + n);
    String::from_utf8_lossy(&b[at..end]).into_owned()
}

/// The functions the library exports: defined, global or weak, default
/// visibility, in the dynamic symbol table.
fn exported_functions(elf: &[u8], secs: &[Section]) -> BTreeSet<String> {
    const SHT_DYNSYM: u32 = 11;
    let dynsym = secs.iter().find(|s| s.kind == SHT_DYNSYM).expect("a .dynsym");
    let strtab = secs[dynsym.link].offset;
    (0..dynsym.size / 24)
        .map(|i| dynsym.offset + i * 24)
        .filter(|&e| {
            let (info, other, shndx) = (elf[e + 4], elf[e + 5], le(elf, e + 6, 2));
            let is_func = matches!(info & 0xf, 2 | 10);
            let global = matches!(info >> 4, 1 | 2);
            is_func && global && other & 3 == 0 && shndx != 0
        })
        .map(|e| c_str(elf, strtab + le(elf, e, 4) as usize))
        .collect()
}

/// The list: symbol → (family, kind), from the `rumphijack_hooks` records
/// (48-byte name, 8-byte family, 8-byte kind, each NUL-padded).
fn hook_list(elf: &[u8], secs: &[Section]) -> BTreeMap<String, (String, String)> {
    let s = secs.iter().find(|s| s.name == "rumphijack_hooks").expect("the library has no list of hooked symbols");
    assert_eq!(s.size % 64, 0, "list records are 64 bytes");
    let mut list = BTreeMap::new();
    for r in (s.offset..s.offset + s.size).step_by(64) {
        let (name, family, kind) = (c_str(elf, r), c_str(elf, r + 48), c_str(elf, r + 56));
        assert!(list.insert(name.clone(), (family, kind)).is_none(), "{name} is listed twice");
    }
    list
}

fn library() -> (BTreeSet<String>, BTreeMap<String, (String, String)>) {
    let elf = std::fs::read(support::library()).expect("read librumphijack.so");
    let secs = sections(&elf);
    (exported_functions(&elf, &secs), hook_list(&elf, &secs))
}

#[test]
fn the_list_is_what_the_library_exports() {
    let (exports, list) = library();
    let unlisted: Vec<_> = exports.iter().filter(|e| !list.contains_key(*e)).collect();
    let missing: Vec<_> = list.keys().filter(|n| !exports.contains(*n)).collect();
    assert!(unlisted.is_empty(), "exported but not in the list of hooked symbols: {unlisted:?}");
    assert!(missing.is_empty(), "listed but not exported: {missing:?}");
}

#[test]
fn calls_the_census_saw_tools_make_are_hooked() {
    let (_, list) = library();
    let missing: Vec<String> = CENSUS
        .iter()
        .flat_map(|(tool, calls)| {
            calls.iter().filter(|c| !list.contains_key(**c)).map(move |c| format!("{c} ({tool})"))
        })
        .collect();
    assert!(missing.is_empty(), "calls real tools make that nothing hooks: {missing:?}");
}

#[test]
fn the_list_routes_as_the_raw_syscall_table() {
    let (_, list) = library();
    let mut compared = 0;
    let mut disagree = Vec::new();
    for r in RAW_ROUTES.iter().filter(|r| !ROUTED_BEFORE_TABLE.contains(&r.name)) {
        let Some((_, kind)) = list.get(hook_of(r.name)) else { continue };
        let table: BTreeSet<&str> = r
            .args
            .iter()
            .filter_map(|a| match a {
                RawArg::Fd => Some("fd"),
                RawArg::Path | RawArg::PathAt(_) => Some("path"),
                RawArg::Family => Some("socket"),
                RawArg::Other => None,
            })
            .collect();
        // A call the table routes by an argument is routed by one of those
        // arguments in the list too; a call the table has no route for is
        // listed with a route the table has no word for.
        let by_argument = matches!(kind.as_str(), "fd" | "path" | "socket");
        let table_routes = !table.is_empty();
        if by_argument != table_routes || (by_argument && !table.contains(kind.as_str())) {
            disagree.push(format!("{}: list {kind}, table {table:?}", r.name));
        }
        compared += 1;
    }
    assert!(compared >= 80, "only {compared} calls are in both the list and the table");
    assert!(disagree.is_empty(), "the list and the raw-syscall table route differently: {disagree:?}");
}
