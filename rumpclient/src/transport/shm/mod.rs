//! The shared-memory transport: calls between a client and a kernel on the
//! same host travel through a mapping both share, not the socket.
//!
//! Negotiation. After its handshake a client on a unix connection sends a
//! SHMCHAN request naming the address of a random cookie in its memory.
//! The server reads the cookie from the client's memory (so it knows the
//! peer pid is the caller and that it may reach that memory), makes a
//! region of shared kernel memory (`rump_kernel::shm`) and passes its fd
//! with the reply (SCM_RIGHTS). Any refusal leaves the client on the
//! socket, which stays in any case for liveness (a hang-up is how either
//! side learns the other died), descriptor passing, cancels, and the
//! requests that have no slot form (fork, exec, mmap, registering a
//! thread's readiness eventfd).
//!
//! The mapping (`layout`): a header with a doorbell futex and a bitmap of
//! posted slots, then `SLOTS` slots of one call each: the syscall number,
//! its argument words, and the result. A client thread takes a free slot
//! for one call (`client`), posts it and rings the doorbell; a server
//! thread claims it, runs the call as the client's process and completes
//! it (`server`). Pointers stay the caller's: the kernel reaches the
//! caller's buffers in place through `peer::PeerMemory`, so a read's data
//! goes from the file's pages into the caller's buffer with one copy (and
//! a write's the other way) and nothing is marshaled. A large read or
//! write instead moves its data through a lane of the mapping, by memcpy
//! on both sides (`lane`).
//!
//! Readiness. A poll-like call posted for a wait beside host fds arms the
//! calling thread's record instead of sleeping in the kernel, and the
//! kernel tells the thread through the record and its eventfd (`ready`).
//!
//! Waiting. Both sides spin briefly, with a budget that follows how long
//! waits turned out to be (`spin`), then sleep on a futex. A server thread
//! that sleeps in the kernel (a pipe read, accept, poll) hands the
//! doorbell to another thread first, so one blocked call never stalls the
//! client's others; no server thread spins on behalf of a client that has
//! nothing posted.
//!
//! `RUMP_TRANSPORT=socket` keeps every call on the socket.

pub mod client;
pub mod futex;
pub mod lane;
pub mod layout;
pub mod peer;
pub mod ready;
pub mod server;
pub mod spin;

/// Whether this process asks for shared memory where it can
/// (`RUMP_TRANSPORT`: `shm`, the default, or `socket`).
pub fn wanted() -> bool {
    std::env::var("RUMP_TRANSPORT").map_or(true, |v| v != "socket")
}
