//! Frames arriving on a kernel's Ethernet interface (shmif0, 10.0.0.1/24,
//! with IPv6 link-local): Ethernet, ARP, IPv4, IPv6, ICMP, UDP and TCP
//! input through `link_input`, then the stack settled. Nothing may panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rump_abi::native::sys::{rump_sys_ioctl, rump_sys_socket};
use rump_kernel::cred::Cred;
use rump_kernel::net::iface::{IfAddr, IfIndex, IFF_UP};
use rump_kernel::proc::Emulation;
use rump_kernel::syscalls::ifconfig::{SIOCIFCREATE, SIOCSLINKSTR};
use rump_kernel::{Config, Kernel};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

/// One kernel for the whole run, its interface on a private bus file.
fn kernel() -> &'static (Kernel, IfIndex) {
    static K: OnceLock<(Kernel, IfIndex)> = OnceLock::new();
    K.get_or_init(|| {
        let k = Kernel::boot(Config::default()).unwrap();
        let p = k.spawn(Emulation::Native, Cred::root(), "fuzz").unwrap();
        let s = rump_sys_socket(&p, 2, 2, 0).unwrap();
        let mut ifr = [0u8; 144];
        ifr[..7].copy_from_slice(b"shmif0\0");
        rump_sys_ioctl(&p, s, SIOCIFCREATE as _, ifr.as_mut_ptr().cast()).unwrap();
        let bus = std::env::temp_dir().join(format!("rump-fuzz-link-{}", std::process::id()));
        let path = std::ffi::CString::new(bus.as_os_str().as_encoded_bytes()).unwrap();
        let mut drv = [0u8; 40];
        drv[..7].copy_from_slice(b"shmif0\0");
        drv[24..32].copy_from_slice(&(path.as_bytes_with_nul().len() as u64).to_ne_bytes());
        drv[32..40].copy_from_slice(&(path.as_ptr() as u64).to_ne_bytes());
        rump_sys_ioctl(&p, s, SIOCSLINKSTR as _, drv.as_mut_ptr().cast()).unwrap();
        let i = k.with_state(|st| {
            let i = st.net.ifaces.index_of("shmif0").unwrap();
            st.net.add_addr(i, IfAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 24)).unwrap();
            st.net.set_flags(i, IFF_UP).unwrap();
            i
        });
        (k, i)
    })
}

fuzz_target!(|data: &[u8]| {
    let (k, i) = kernel();
    k.with_state(|st| {
        st.net.link_input(*i, data);
        st.net_run();
    });
});
