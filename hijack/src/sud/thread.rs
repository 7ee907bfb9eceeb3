//! Threads made by `pthread_create` start armed: the start routine is
//! wrapped so the new thread arms itself before the program's code runs
//! (under `syscalls=auto` while nothing armed the process yet, it only
//! sets its selector, for `arm_others` to find it right).
//! Threads of the library itself (its start routine lies in this library)
//! stay unarmed: their syscalls are the library's own. A program's thread
//! started from a foreign thread drops the GS tag it inherited
//! (`foreign::not_foreign`); threads made by raw `clone` are `process`'s
//! and `foreign`'s.

use super::gate;
use libc::{c_int, c_void, pthread_attr_t, pthread_t};

crate::real_fns! {
    fn pthread_create(t: *mut pthread_t, attr: *const pthread_attr_t, start: extern "C" fn(*mut c_void) -> *mut c_void, arg: *mut c_void) -> c_int;
}

type Start = extern "C" fn(*mut c_void) -> *mut c_void;

#[no_mangle]
pub unsafe extern "C" fn pthread_create(
    t: *mut pthread_t,
    attr: *const pthread_attr_t,
    start: Start,
    arg: *mut c_void,
) -> c_int {
    if super::mode() == crate::config::Syscalls::Libc || super::in_library(start as usize) {
        return unsafe { real::pthread_create(t, attr, start, arg) };
    }
    let job = Box::into_raw(Box::new((start, arg)));
    let r = unsafe { real::pthread_create(t, attr, armed_start, job.cast()) };
    if r != 0 {
        // SAFETY: the thread was not made; the job is still ours.
        drop(unsafe { Box::from_raw(job) });
    }
    r
}

extern "C" fn armed_start(job: *mut c_void) -> *mut c_void {
    // SAFETY: the box made by pthread_create above, handed over once.
    let (start, arg) = *unsafe { Box::from_raw(job.cast::<(Start, *mut c_void)>()) };
    super::foreign::not_foreign();
    gate::set_selector(gate::BLOCK);
    if super::on() {
        let _ = super::arm_thread();
    }
    start(arg)
}
