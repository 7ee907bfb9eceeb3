//! The generated tables and the dispatch agree: every call a table marks
//! `RUMP` has a handler, and every other number returns ENOSYS.

use rump_abi::{Errno, Slots, SyscallDesc};
use rump_kernel::cred::Cred;
use rump_kernel::proc::Emulation;
use rump_kernel::{Config, Kernel};

fn walk(emul: Emulation, table: &[SyscallDesc], nsysent: usize, enosys: Errno) {
    let k = Kernel::boot(Config::default()).unwrap();
    let p = k.spawn(emul, Cred::root(), "walker").unwrap();
    let implemented = table.iter().filter(|d| d.implemented).count();
    let mut unimplemented = 0;
    // One past the table and a far-off number are covered too.
    for num in (0..nsysent as u32 + 1).chain([100_000, u32::MAX]) {
        let desc = table.iter().find(|d| d.num == num);
        if desc.is_some_and(|d| d.implemented) {
            continue;
        }
        let slots: Slots = [0; 8];
        assert_eq!(rump_abi::Syscall::syscall(&p, num, &slots), Err(enosys), "{emul:?} call {num} {desc:?}");
        unimplemented += 1;
    }
    println!(
        "{emul:?}: {} calls declared, {implemented} implemented, {unimplemented} other numbers checked to return ENOSYS",
        table.len()
    );
    assert!(implemented > 60);
}

#[test]
fn native_table_walk() {
    use rump_abi::native::sys::{NSYSENT, SYSCALLS};
    walk(Emulation::Native, SYSCALLS, NSYSENT, rump_abi::native::errno::ENOSYS);
}

#[test]
fn linux_table_walk() {
    use rump_abi::linux::sys::{NSYSENT, SYSCALLS};
    walk(Emulation::Linux, SYSCALLS, NSYSENT, rump_abi::linux::errno::ENOSYS);
}
