//! The syscall tables end to end: the parser's error reports, what it accepts,
//! the emitter's dispatch macro, and the generated `native::sys` /
//! `linux::sys` API.

#[path = "../codegen/emit.rs"]
mod emit;
#[path = "../codegen/master.rs"]
mod master;

use std::cell::Cell;
use std::mem::size_of;

use master::{Kind, Marshal as M};
use rump_abi::{linux, native, Errno, Marshal, Slots, SysResult, Syscall};

fn parse(text: &str) -> Result<master::Table, master::ParseError> {
    master::parse("t.master", text)
}

/// Parses `text`, expecting an error on `line` whose message contains `what`.
fn fails(text: &str, line: usize, what: &str) {
    let e = match parse(text) {
        Ok(_) => panic!("parsed without error:\n{text}"),
        Err(e) => e,
    };
    let shown = e.to_string();
    assert_eq!(shown, format!("t.master:{}: {}", e.line, e.msg));
    assert_eq!((e.file.as_str(), e.line), ("t.master", line), "{shown}");
    assert!(e.msg.contains(what), "`{shown}` does not say `{what}`");
}

const CLOSE: &str = "6\tSTD\tRUMP\t{ int|sys||close(int fd); }\n";

#[test]
fn error_non_numeric_number() {
    fails("3x STD { int|sys||dup(int fd); }\n", 1, "syscall number `3x` is not a decimal number");
    fails(&format!("{CLOSE}\n; comment\n\tSTD {{ int|sys||dup(int fd); }}\n"), 4, "`STD` is not a decimal");
}

#[test]
fn error_numbers_out_of_order_or_duplicated() {
    fails(&format!("{CLOSE}5 STD {{ int|sys||dup(int fd); }}\n"), 2, "syscall number 5 out of order (after 6)");
    fails(&format!("{CLOSE}6 STD {{ int|sys||dup(int fd); }}\n"), 2, "duplicate syscall number 6");
}

#[test]
fn error_unknown_type_keyword() {
    fails(&format!("{CLOSE}7 STDD {{ int|sys||dup(int fd); }}\n"), 2, "unknown syscall type `STDD`");
    fails("7 COMPAT_ { int|sys||dup(int fd); }\n", 1, "unknown syscall type `COMPAT_`");
    fails("7 RUMP { int|sys||dup(int fd); }\n", 1, "unknown syscall type `RUMP`");
}

#[test]
fn error_missing_braces_or_semicolon() {
    fails("7 STD RUMP int|sys||dup(int fd);\n", 1, "expected `{` before `int|sys||dup(int`");
    fails("7 STD RUMPP { int|sys||dup(int fd); }\n", 1, "expected `{` before `RUMPP`");
    fails("7 STD RUMP\n", 1, "missing `{ prototype; }` after `STD`");
    fails("7 STD { int|sys||dup(int fd);\n", 1, "missing `}`");
    fails("7 STD { int|sys||dup(int fd) }\n", 1, "missing `;` before `}`");
    fails("7 STD { int|sys||dup(int fd; }\n", 1, "missing `)`");
    fails("7 STD { int|sys|dup(int fd); }\n", 1, "prototype needs 4 `|`-separated fields");
    fails("7 STD { int|sys||dup(int fd); } two words\n", 1, "unexpected text after `}`");
}

#[test]
fn error_unknown_c_type() {
    fails("7 STD { int|sys||dup(fd_t fd); }\n", 1, "unknown C type `fd_t`");
    fails("7 STD { int|sys||dup(unsigned char c); }\n", 1, "unknown C type `unsigned char`");
    fails("7 STD { wat|sys||dup(int fd); }\n", 1, "unknown C type `wat`");
    fails("7 STD { int|sys||dup(struct stat st); }\n", 1, "`struct stat` cannot be passed by value");
    fails("7 STD { int|sys||dup(int fd[2]); }\n", 1, "unexpected `[`");
    fails("7 STD { int|sys||dup(int); }\n", 1, "needs a type and a name");
}

#[test]
fn error_annotation_names_unknown_argument() {
    let text = "; a comment\n4 STD { ssize_t|sys||write(int fd, \\\n\t_In_reads_bytes_(len) const void *buf, size_t nbyte); }\n";
    // Reported on the line the entry starts on.
    fails(text, 2, "annotation `_In_reads_bytes_` names unknown argument `len`");
    fails("4 STD { int|sys||w(int PAD, _In_reads_bytes_(PAD) const void *buf); }\n", 1, "names unknown argument `PAD`");
    fails("4 STD { int|sys||w(_Out_writes_(n) int *a, int *n); }\n", 1, "`n` is a pointer, not a size");
}

#[test]
fn error_annotation_on_non_pointer() {
    fails("5 STD { int|sys||open(_In_z_ int path); }\n", 1, "annotation `_In_z_` on non-pointer argument `path`");
    fails("5 STD { int|sys||x(int fd, _In_ int PAD); }\n", 1, "annotation on a PAD argument");
}

#[test]
fn error_unknown_annotation() {
    fails("5 STD { int|sys||open(_In_maybe_ const char *path); }\n", 1, "unknown annotation `_In_maybe_`");
    fails("5 STD { int|sys||open(_In_z_opt_ const char *path); }\n", 1, "unknown annotation `_In_z_opt_`");
}

#[test]
fn error_annotation_misuse() {
    fails("5 STD { int|sys||f(_In_z_ const void *p); }\n", 1, "`_In_z_` needs a `char *`");
    fails("5 STD { int|sys||f(_Out_ void *p); }\n", 1, "`_Out_` needs a pointer to a sized type, not `void *`");
    fails("5 STD { int|sys||f(_In_iov_(n) const char *p, int n); }\n", 1, "needs a `struct iovec *`");
    fails(
        "5 STD { int|sys||f(_Out_writes_bytes_to_(n, ret) char *p, int n); }\n",
        1,
        "second parameter must be `return`",
    );
    fails("5 STD { int|sys||f(_In_reads_bytes_() char *p, int n); }\n", 1, "takes 1 parameter(s), found 0");
    fails("5 STD { int|sys||f(_In_reads_(0) int *p); }\n", 1, "needs a positive count");
}

#[test]
fn error_rump_without_prototype() {
    fails(&format!("{CLOSE}11 OBSOL RUMP execv\n"), 2, "`RUMP` on a line without a prototype");
    fails("12 UNIMPL RUMP\n", 1, "`RUMP` on a line without a prototype");
    fails("12 IGNORED RUMP\n", 1, "`RUMP` on a line without a prototype");
    fails("12 IGNORED RUMP { int|sys||x(void); }\n", 1, "`RUMP` on an IGNORED line");
}

#[test]
fn error_too_many_arguments() {
    let nine = "int a, int b, int c, int d, int e, int f, int g, int h, int i";
    fails(&format!("1 STD {{ int|sys||nine({nine}); }}\n"), 1, "too many arguments: 9 slots, at most 8");
    // PAD takes a slot too.
    let t = parse("1 STD { int|sys||seven(int a, int b, int c, int PAD, int d, int e, int f); }\n").unwrap();
    let e = t.check_max_args(6).unwrap_err();
    assert_eq!(e.to_string(), "t.master:1: too many arguments: 7 slots, at most 6");
}

#[test]
fn error_unterminated_continuation() {
    fails(
        &format!("{CLOSE}7 STD {{ int|sys||dup( \\\n\tint fd); }} \\\n"),
        3,
        "`\\` continues past the end of the file",
    );
}

#[test]
fn error_name_collisions() {
    fails(
        "3 STD { int|sys||read(int fd); }\n4 STD { int|sys||read(int fd); }\n",
        2,
        "handler `sys_read` also comes from line 1",
    );
    fails(
        "3 STD { int|sys||read(int fd); }\n4 STD { int|sys||get(int fd); } read\n",
        2,
        "constant `SYS_read` also comes from line 1",
    );
    fails(
        "3 STD RUMP { int|sys||read(int fd); }\n4 NODEF RUMP { int|alt||read(int fd); }\n",
        2,
        "`rump_sys_read` also comes from line 1",
    );
    fails("3 STD { int|sys||f(int a, char *a); }\n", 1, "duplicate argument name `a`");
}

#[test]
fn error_second_preamble_separator() {
    fails("#include <x>\n%%\n6 STD { int|sys||close(int fd); }\n%%\n", 4, "second `%%` separator");
}

#[test]
fn accepts_the_netbsd_format() {
    let text = "\
#include \"preamble: anything goes ( {\"
%%
; comment
#if 0

0\tINDIR\t\t{ int|sys||syscall(int code, ... int arg); }
1 STD { void|sys||exit(int rval); }
7 COMPAT_50 MODULAR compat_50 \\
\t{ int|sys||wait4(pid_t pid, int *status); }
8 COMPAT_43 { int|sys||creat(_In_z_ const char *path, mode_t mode); } ocreat
11 OBSOL execv
12 UNIMPL
13 IGNORED nothing to do
20 NOERR RUMP { pid_t|sys||getpid(void); }
21 NODEF RUMP { int|sys||hidden(); }
22 NOARGS RUMP { int|sys||raw(int a); }
59 STD { int|sys||execve(const char *path, char * const *argp, char **envp); }
173 STD RUMP { ssize_t|sys||pread(int fd, _Out_writes_bytes_to_(nbyte, return) void *buf, \\
\t\tsize_t nbyte, int PAD, off_t offset); }
197 STD { void *|sys||mmap(void *addr, size_t len, long PAD, off_t pos); }
209 STD RUMP { int|sys||poll(_Inout_updates_(nfds) struct pollfd *fds, u_int nfds, int type); }
439 STD RUMP { int|sys|50|stat(_In_z_ const char *path, _Out_ struct stat *ub); }
460 STD RUMP { int|sys|90|stat(const char *path, _Out_writes_(2) struct stat *ub); }
467 STD { int|sys||utimensat(int fd, _In_reads_(2) const struct timespec *tptr, \\
\t_In_iov_(fd) struct iovec *iov, _Inout_ int *io); }
";
    let t = parse(text).unwrap();
    let nums: Vec<u32> = t.entries.iter().map(|e| e.number).collect();
    assert_eq!(nums, [0, 1, 7, 8, 11, 12, 13, 20, 21, 22, 59, 173, 197, 209, 439, 460, 467]);
    let at = |n: u32| t.entries.iter().find(|e| e.number == n).unwrap();

    // Line numbers are physical, counting the preamble.
    assert_eq!(at(0).line, 6);
    assert_eq!(at(8).line, 10);
    assert_eq!(at(173).line, 18);

    assert_eq!(at(0).kind, Kind::Indir);
    assert_eq!(at(0).args_struct(), None);
    assert_eq!(at(7).kind, Kind::Compat("50".into()));
    assert_eq!(at(7).modular.as_deref(), Some("compat_50"));
    assert_eq!(at(7).sys_ident().as_deref(), Some("compat_50_wait4"));
    assert_eq!(at(7).handler().as_deref(), Some("compat_50_sys_wait4"));
    assert_eq!(at(8).sys_ident().as_deref(), Some("compat_43_ocreat"));
    assert_eq!(at(8).visible_name(), Some("ocreat"));
    assert_eq!(at(11).comment, "execv");
    assert!(at(12).proto.is_none() && at(13).proto.is_none());
    assert_eq!(at(13).kind, Kind::Ignored);
    assert!(at(20).rump);
    assert_eq!(at(21).sys_ident(), None);
    assert!(at(21).proto.as_ref().unwrap().args.is_empty());
    assert_eq!(at(22).args_struct(), None);
    assert_eq!(at(439).sys_ident().as_deref(), Some("__stat50"));
    assert_eq!(at(439).handler().as_deref(), Some("sys___stat50"));
    assert_eq!(at(439).args_struct().as_deref(), Some("sys___stat50_args"));

    let marshal = |n: u32| -> Vec<M> { at(n).proto.as_ref().unwrap().args.iter().map(|a| a.marshal).collect() };
    assert_eq!(marshal(173), [M::Value, M::OutBytesToRet { len: 2 }, M::Value, M::Pad, M::Value]);
    assert_eq!(marshal(197), [M::Opaque, M::Value, M::Pad, M::Value]);
    assert_eq!(marshal(209), [M::InOutArray { count: 1 }, M::Value, M::Value]);
    assert_eq!(marshal(439), [M::InStr, M::Out { elems: 1 }]);
    assert_eq!(marshal(460), [M::Opaque, M::Out { elems: 2 }]);
    assert_eq!(marshal(467), [M::Value, M::In { elems: 2 }, M::InIov { count: 0 }, M::InOut { elems: 1 }]);
    let texts: Vec<&str> = at(59).proto.as_ref().unwrap().args.iter().map(|a| a.ctext.as_str()).collect();
    assert_eq!(texts, ["const char *", "char *const *", "char **"]);
    assert_eq!(at(197).proto.as_ref().unwrap().ret_text, "void *");

    // The newest version of a name gets the typed call.
    let calls: Vec<(u32, Option<&str>)> = t.typed_calls().iter().map(|e| (e.number, e.visible_name())).collect();
    assert_eq!(
        calls,
        [
            (20, Some("getpid")),
            (21, Some("hidden")),
            (22, Some("raw")),
            (173, Some("pread")),
            (209, Some("poll")),
            (460, Some("stat"))
        ]
    );
}

#[test]
fn real_tables_parse() {
    let root = env!("CARGO_MANIFEST_DIR");
    for (file, max) in [("syscalls.master", 8), ("kernel/src/compat/linux/syscalls.master", 6)] {
        let text = std::fs::read_to_string(format!("{root}/{file}")).unwrap();
        let t = master::parse(file, &text).unwrap_or_else(|e| panic!("{e}"));
        t.check_max_args(max).unwrap();
        assert!(t.entries.iter().filter(|e| e.rump).count() > 70, "{file}");
    }
}

fn tiny_emit(text: &str) -> String {
    let t = parse(text).unwrap();
    emit::emit(&t, &emit::EmitOpts { table: "native", types: "crate::native::types", max_args: 8, raw_routes: false })
}

#[test]
fn emitted_dispatch_macro() {
    let out = tiny_emit(
        "1 STD { void|sys||exit(int rval); }
3 STD RUMP { ssize_t|sys||read(int fd, _Out_writes_bytes_to_(nbyte, return) void *buf, size_t nbyte); }
5 IGNORED
6 NOARGS RUMP { int|sys||raw(int a); }
7 STD RUMP { int|sys|50|stat(_In_z_ const char *path, _Out_ struct stat *ub); }
",
    );
    for want in [
        "#[macro_export]\nmacro_rules! native_sysent {\n    ($cx:ty, $h:path) => {{\n",
        "        use $h as handlers;\n",
        "        type Shim = fn(&mut $cx, &$crate::Slots) -> $crate::SysResult;\n",
        "        fn sys_read(cx: &mut $cx, s: &$crate::Slots) -> $crate::SysResult {\n            \
         handlers::sys_read(cx, $crate::native::sys::args::sys_read_args::from_slots(s))\n        }\n",
        "            handlers::sys_raw(cx, s)\n",
        "        #[allow(non_snake_case)] fn sys___stat50(cx: &mut $cx, s: &$crate::Slots)",
        "        let mut t: [Option<Shim>; $crate::native::sys::NSYSENT] = [None; $crate::native::sys::NSYSENT];\n        \
         t[3] = Some(sys_read);\n        t[5] = Some(ignored_call);\n        t[6] = Some(sys_raw);\n        \
         t[7] = Some(sys___stat50);\n        t\n    }};\n}\n",
        "pub const NSYSENT: usize = 8;",
        "pub const SYS___stat50: u32 = 7;",
    ] {
        assert!(out.contains(want), "missing:\n{want}\nin:\n{out}");
    }
    assert!(!out.contains("handlers::sys_exit"));
}

#[test]
fn emitted_structs_and_calls() {
    let out = tiny_emit(
        "2 STD RUMP { off_t|sys||lseek(int fd, int PAD, off_t offset, int whence, u_long type, size_t k); }
3 STD RUMP { void|sys||sync(void); }
",
    );
    for want in [
        "    pub struct sys_lseek_args {\n        pub fd: i32,\n        pub offset: i64,\n        pub whence: i32,\n        \
         pub type_: u64,\n        pub k: usize,\n    }\n",
        "                fd: s[0] as i32,\n                offset: s[2] as i64,\n                whence: s[3] as i32,\n                \
         type_: s[4],\n                k: s[5] as usize,\n",
        "pub fn rump_sys_lseek(k: &(impl crate::Syscall + ?Sized), fd: i32, offset: i64, whence: i32, type_: u64, k_: usize) \
         -> Result<i64, crate::Errno> {\n    \
         k.syscall(SYS_lseek, &[fd as i64 as u64, 0, offset as u64, whence as i64 as u64, type_, k_ as u64, 0, 0])\n}\n",
        "pub struct sys_sync_args {\n    }",
        "pub fn from_slots(_s: &crate::Slots) -> Self {",
        "pub fn rump_sys_sync(k: &(impl crate::Syscall + ?Sized)) -> Result<(), crate::Errno> {\n    \
         k.syscall(SYS_sync, &[0, 0, 0, 0, 0, 0, 0, 0]).map(|_| ())\n}\n",
        "crate::ArgDesc { name: \"type\", ctype: \"u_long\", marshal: crate::Marshal::Value },",
    ] {
        assert!(out.contains(want), "missing:\n{want}\nin:\n{out}");
    }
}

/// Records the last call and answers with a fixed result.
struct Mock {
    last: Cell<(u32, Slots)>,
    ret: SysResult,
}

impl Mock {
    fn new(ret: SysResult) -> Mock {
        Mock { last: Cell::new((u32::MAX, [0; 8])), ret }
    }
}

impl Syscall for Mock {
    fn syscall(&self, num: u32, args: &Slots) -> SysResult {
        self.last.set((num, *args));
        self.ret
    }
}

#[test]
fn native_numbers_and_lookup() {
    use native::sys::*;
    assert_eq!(SYS_read, 3);
    assert_eq!(SYS_openat, 468);
    assert_eq!(SYS___stat50, 439);
    assert_eq!(SYS___getdents30, 390);
    assert_eq!(SYS___getcwd, 296);
    assert_eq!(SYS_compat_43_ocreat, 8);
    assert_eq!(NSYSENT, 473);
    assert_eq!(name(439), Some("stat"));
    assert_eq!(name(14), None);
    assert_eq!(desc(11), None, "OBSOL lines have no descriptor");

    let read = desc(3).unwrap();
    assert_eq!((read.name, read.handler, read.implemented, read.nargs()), ("read", "sys_read", true, 3));
    let kinds: Vec<Marshal> = read.args.iter().map(|a| a.marshal).collect();
    assert_eq!(kinds, [Marshal::Value, Marshal::OutBytesToRet { len: 2 }, Marshal::Value]);
    assert_eq!(read.args[1].ctype, "void *");

    let m = |n: u32, i: usize| desc(n).unwrap().args[i].marshal;
    assert_eq!(m(4, 1), Marshal::InBytes { len: 2 });
    assert_eq!(m(5, 0), Marshal::InStr);
    assert_eq!(m(54, 2), Marshal::Opaque);
    assert_eq!(m(121, 1), Marshal::InIov { count: 2 });
    assert_eq!(m(173, 3), Marshal::Pad);
    assert_eq!(m(209, 0), Marshal::InOutArray { count: 1, size: 8 });
    assert_eq!(m(439, 1), Marshal::Out { size: size_of::<native::types::stat>() });
    assert_eq!(m(453, 0), Marshal::Out { size: 8 });
    assert_eq!(m(435, 1), Marshal::InArray { count: 2, size: 40 });
    assert_eq!(m(435, 3), Marshal::OutArray { count: 4, size: 40 });
    assert_eq!(m(467, 2), Marshal::In { size: 2 * size_of::<native::types::timespec>() });

    assert!(!desc(SYS_kill).unwrap().implemented);
    assert!(!desc(SYS_compat_50_wait4).unwrap().implemented);
    assert!(SYSCALLS.windows(2).all(|w| w[0].num < w[1].num));
    assert_eq!(SYSCALLS.last().unwrap().num as usize + 1, NSYSENT);
}

#[test]
fn native_typed_calls_fill_slots() {
    use native::sys::*;
    let k = Mock::new(Ok(5));
    let mut buf = [0u8; 16];
    let r = rump_sys_pread(&k, 3, buf.as_mut_ptr().cast(), 16, 1 << 40);
    assert_eq!(r, Ok(5isize));
    let addr = buf.as_mut_ptr() as u64;
    assert_eq!(k.last.get(), (SYS_pread, [3, addr, 16, 0, 1 << 40, 0, 0, 0]));

    // Negative values are sign-extended, PAD slots are zero.
    assert_eq!(rump_sys_lseek(&k, -100, -1, 2), Ok(5i64));
    assert_eq!(k.last.get(), (199, [(-100i64) as u64, 0, u64::MAX, 2, 0, 0, 0, 0]));

    // The unversioned name calls the newest version.
    let mut st = native::types::stat::default();
    rump_sys_stat(&k, c"/x".as_ptr(), &mut st).unwrap();
    assert_eq!(k.last.get().0, 439);
    assert_eq!(k.last.get().1[1], &mut st as *mut _ as u64);

    assert_eq!(rump_sys_sync(&k), Ok(()));
    assert_eq!(rump_sys_getpid(&k), Ok(5));

    let e = Mock::new(Err(native::errno::ENOENT));
    assert_eq!(rump_sys_unlink(&e, c"/nope".as_ptr()), Err(native::errno::ENOENT));
    assert_eq!(e.last.get().0, SYS_unlink);
}

#[test]
fn linux_numbers_and_calls() {
    use linux::sys::*;
    assert_eq!(SYS_read, 0);
    assert_eq!(SYS_openat, 257);
    assert_eq!(SYS_newfstatat, 262);
    assert_eq!(SYS_faccessat2, 439);
    assert_eq!(NSYSENT, 442);
    assert_eq!(desc(257).unwrap().handler, "linux_sys_openat");
    assert!(SYSCALLS.iter().all(|d| d.nargs() <= 6));
    assert_eq!(desc(SYS_socket).unwrap().args[1].name, "type");
    let m = |n: u32, i: usize| desc(n).unwrap().args[i].marshal;
    assert_eq!(m(SYS_statx, 4), Marshal::Out { size: size_of::<linux::types::statx>() });
    assert_eq!(m(SYS_ppoll, 2), Marshal::InOut { size: 16 });
    assert_eq!(m(SYS_ppoll, 3), Marshal::InBytes { len: 4 });
    assert_eq!(m(SYS_getcwd, 0), Marshal::OutBytesToRet { len: 1 });
    assert_eq!(m(SYS_epoll_wait, 1), Marshal::OutArray { count: 2, size: 12 });
    assert_eq!(m(SYS_epoll_ctl, 3), Marshal::In { size: 12 });

    let k = Mock::new(Ok(4));
    let fd = rump_sys_openat(&k, -100, c"/rump/x".as_ptr(), 0o1101, 0o644);
    assert_eq!(fd, Ok(4));
    let (num, s) = k.last.get();
    assert_eq!((num, s[0], s[2], s[3], &s[4..]), (257, (-100i64) as u64, 0o1101, 0o644, &[0u64; 4][..]));

    let args = args::linux_sys_openat_args::from_slots(&s);
    assert_eq!((args.dfd, args.flags, args.mode), (-100, 0o1101, 0o644));
    assert_eq!(args.filename, rump_abi::UserAddr(s[1]));
    let sock = args::linux_sys_socket_args::from_slots(&[2, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!((sock.family, sock.type_, sock.protocol), (2, 1, 0));
    assert_eq!(Errno(2), linux::errno::ENOENT);
}
