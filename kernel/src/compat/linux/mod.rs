//! The Linux x86-64 emulation (being written).

use crate::Cx;
use rump_abi::linux::errno::ENOSYS;
use rump_abi::{Slots, SysResult};

pub fn dispatch(_cx: &mut Cx, _num: u32, _args: &Slots) -> SysResult {
    Err(ENOSYS)
}
