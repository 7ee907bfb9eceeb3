//! placeholder
pub fn site(_uc: &libc::ucontext_t) {}
