//! The main-job demo until the hijack library lands: boot a rump kernel in
//! this process, act as a Linux program on it, and print each call with what
//! the kernel answered — the same calls `mkdir`, `echo >`, `cat`, `ls`,
//! `ln -s`, `stat` and a shell pipe make.

use rump_abi::linux::errno;
use rump_abi::linux::sys::*;
use rump_abi::linux::types::stat;
use rump_abi::Errno;
use rump_kernel::cred::Cred;
use rump_kernel::proc::Emulation;
use rump_kernel::{Config, Kernel, Process};
use std::ffi::CString;

fn c(s: &str) -> CString {
    CString::new(s).expect("no NUL in demo strings")
}

/// Prints one call and its outcome the way strace would.
fn show<T: std::fmt::Display>(call: &str, r: Result<T, Errno>) -> Option<T> {
    match r {
        Ok(v) => {
            println!("  {call} = {v}");
            Some(v)
        }
        Err(e) => {
            println!("  {call} = -1 {}", errno::name(e).unwrap_or("?"));
            None
        }
    }
}

fn write_file(p: &Process, path: &str, text: &str) {
    let Some(fd) = show(
        &format!("openat(AT_FDCWD, {path:?}, O_WRONLY|O_CREAT|O_TRUNC, 0644)"),
        rump_sys_openat(p, -100, c(path).as_ptr(), 0o1101, 0o644),
    ) else {
        return;
    };
    show(
        &format!("write({fd}, {text:?}, {})", text.len()),
        rump_sys_write(p, fd as u32, text.as_ptr().cast(), text.len()),
    );
    show(&format!("close({fd})"), rump_sys_close(p, fd as u32));
}

fn cat(p: &Process, path: &str) {
    let Some(fd) =
        show(&format!("openat(AT_FDCWD, {path:?}, O_RDONLY)"), rump_sys_openat(p, -100, c(path).as_ptr(), 0, 0))
    else {
        return;
    };
    let mut buf = [0u8; 256];
    if let Some(n) = show(&format!("read({fd}, buf, 256)"), rump_sys_read(p, fd as u32, buf.as_mut_ptr().cast(), 256)) {
        print!("    | {}", String::from_utf8_lossy(&buf[..n as usize]));
    }
    show(&format!("close({fd})"), rump_sys_close(p, fd as u32));
}

fn ls(p: &Process, path: &str) {
    let Some(fd) = show(
        &format!("openat(AT_FDCWD, {path:?}, O_RDONLY|O_DIRECTORY)"),
        rump_sys_openat(p, -100, c(path).as_ptr(), 0o200000, 0),
    ) else {
        return;
    };
    let mut buf = [0u8; 4096];
    if let Some(n) =
        show(&format!("getdents64({fd}, buf, 4096)"), rump_sys_getdents64(p, fd as u32, buf.as_mut_ptr().cast(), 4096))
    {
        let mut off = 0;
        let mut names = Vec::new();
        while off < n as usize {
            let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
            let name = &buf[off + 19..off + reclen];
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            names.push(String::from_utf8_lossy(&name[..end]).into_owned());
            off += reclen;
        }
        names.sort();
        println!("    | {}", names.join("  "));
    }
    show(&format!("close({fd})"), rump_sys_close(p, fd as u32));
}

fn main() {
    let t = std::time::Instant::now();
    let kernel = Kernel::boot(Config::default()).expect("boot");
    println!("booted a rump kernel in {:?}: tmpfs on /, devfs on /dev", t.elapsed());
    let p = kernel.spawn(Emulation::Linux, Cred::root(), "demo").expect("spawn");

    println!("\n$ mkdir -p /home/demo && cd /home/demo");
    show("mkdir(\"/home\", 0755)", rump_sys_mkdir(&p, c("/home").as_ptr(), 0o755));
    show("mkdir(\"/home/demo\", 0755)", rump_sys_mkdir(&p, c("/home/demo").as_ptr(), 0o755));
    show("chdir(\"/home/demo\")", rump_sys_chdir(&p, c("/home/demo").as_ptr()));

    println!("\n$ echo 'hello from a rump kernel' > hello.txt; cat hello.txt");
    write_file(&p, "hello.txt", "hello from a rump kernel\n");
    cat(&p, "hello.txt");

    println!("\n$ ln -s hello.txt link; cat link; ls");
    show("symlink(\"hello.txt\", \"link\")", rump_sys_symlink(&p, c("hello.txt").as_ptr(), c("link").as_ptr()));
    cat(&p, "link");
    ls(&p, ".");

    println!("\n$ stat hello.txt");
    let mut st = stat::default();
    if show(
        "newfstatat(AT_FDCWD, \"hello.txt\", &st, 0)",
        rump_sys_newfstatat(&p, -100, c("hello.txt").as_ptr(), &mut st, 0),
    )
    .is_some()
    {
        println!("    | size {} mode {:o} links {} inode {}", st.st_size, st.st_mode, st.st_nlink, st.st_ino);
    }

    println!("\n$ cat missing; rmdir /home");
    cat(&p, "missing");
    show("rmdir(\"/home\")", rump_sys_rmdir(&p, c("/home").as_ptr()));

    println!("\n$ echo piped | cat   (a pipe inside the kernel)");
    let mut fds = [0i32; 2];
    if show("pipe2(fds, 0)", rump_sys_pipe2(&p, fds.as_mut_ptr(), 0)).is_some() {
        let [r, w] = fds;
        show(&format!("write({w}, \"piped\\n\", 6)"), rump_sys_write(&p, w as u32, b"piped\n".as_ptr().cast(), 6));
        show(&format!("close({w})"), rump_sys_close(&p, w as u32));
        let mut buf = [0u8; 64];
        if let Some(n) = show(&format!("read({r}, buf, 64)"), rump_sys_read(&p, r as u32, buf.as_mut_ptr().cast(), 64))
        {
            print!("    | {}", String::from_utf8_lossy(&buf[..n as usize]));
        }
        show(&format!("read({r}, buf, 64)"), rump_sys_read(&p, r as u32, buf.as_mut_ptr().cast(), 64));
    }

    println!("\n$ head -c 8 /dev/urandom | wc -c");
    let fd = show(
        "openat(AT_FDCWD, \"/dev/urandom\", O_RDONLY)",
        rump_sys_openat(&p, -100, c("/dev/urandom").as_ptr(), 0, 0),
    );
    if let Some(fd) = fd {
        let mut buf = [0u8; 8];
        show(&format!("read({fd}, buf, 8)"), rump_sys_read(&p, fd as u32, buf.as_mut_ptr().cast(), 8));
    }

    let mut cwd = [0u8; 64];
    if let Some(n) = show("getcwd(buf, 64)", rump_sys_getcwd(&p, cwd.as_mut_ptr().cast(), 64)) {
        println!("    | {}", String::from_utf8_lossy(&cwd[..n as usize - 1]));
    }
    println!("\nnothing above touched the host file system.");
}
