//! The kernel-lock watchdog: a call that holds the virtual CPU for over a
//! period is noticed (and logged with its pid and syscall), once; calls
//! that sleep properly are not. The watchdog runs only while calls are
//! made: an idle kernel is at rest, and the next call wakes it.

use rump_abi::native::sys::SYS_open;
use rump_abi::usermem::{LocalMemory, UserMemory};
use rump_abi::{Errno, UserAddr};
use rump_kernel::cred::Cred;
use rump_kernel::proc::Emulation;
use rump_kernel::watchdog::PERIOD;
use rump_kernel::{Config, Kernel};

/// The caller's memory, but reading a string takes 2.5 periods: the call
/// holds the kernel meanwhile, as a server's call waiting for a slow
/// client's copy reply does.
struct SlowMemory;

impl UserMemory for SlowMemory {
    fn copy_in(&self, addr: UserAddr, buf: &mut [u8]) -> Result<(), Errno> {
        LocalMemory.copy_in(addr, buf)
    }

    fn copy_out(&self, addr: UserAddr, data: &[u8]) -> Result<(), Errno> {
        LocalMemory.copy_out(addr, data)
    }

    fn copy_in_str(&self, addr: UserAddr, max: usize) -> Result<Vec<u8>, Errno> {
        std::thread::sleep(PERIOD * 5 / 2);
        LocalMemory.copy_in_str(addr, max)
    }
}

#[test]
fn a_call_holding_the_kernel_too_long_is_noticed_once() {
    let k = Kernel::boot(Config::default()).unwrap();
    let p = k.spawn(Emulation::Native, Cred::root(), "slow").unwrap();
    let path = c"/missing";
    let args = [path.as_ptr() as u64, 0, 0, 0, 0, 0, 0, 0];
    let _ = p.syscall_with(SYS_open, &args, &SlowMemory);
    assert_eq!(k.long_holds(), 1);
    // A quick call after it is not counted.
    let _ = p.syscall_with(SYS_open, &args, &LocalMemory);
    std::thread::sleep(PERIOD + PERIOD / 4);
    assert_eq!(k.long_holds(), 1);
}

#[test]
fn the_watchdog_rests_with_an_idle_kernel_and_wakes_for_the_next_call() {
    let k = Kernel::boot(Config::default()).unwrap();
    assert!(k.at_rest(), "no call yet, no watchdog");
    let p = k.spawn(Emulation::Native, Cred::root(), "slow").unwrap();
    let path = c"/missing";
    let args = [path.as_ptr() as u64, 0, 0, 0, 0, 0, 0, 0];
    let _ = p.syscall_with(SYS_open, &args, &LocalMemory);
    assert!(!k.at_rest(), "a call starts the watchdog");
    std::thread::sleep(PERIOD * 4);
    assert!(k.at_rest(), "no call for a few periods: the watchdog has ended");
    // Started again by this call, it still sees the call hold the kernel.
    let _ = p.syscall_with(SYS_open, &args, &SlowMemory);
    assert_eq!(k.long_holds(), 1);
}
