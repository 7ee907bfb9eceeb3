//! NETLINK_SOCK_DIAG.
use super::{Answer, Failure, Request};
use crate::Cx;
use rump_abi::native::errno::EOPNOTSUPP;

pub fn handle(_cx: &mut Cx, _req: &Request) -> Result<Answer, Failure> {
    Err(EOPNOTSUPP.into())
}
