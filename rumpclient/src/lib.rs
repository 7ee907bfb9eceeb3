//! The client side of remote rump kernels, starting with the wire layer.
//!
//! A remote kernel serves programs in other processes over a stream socket,
//! using NetBSD's sysproxy protocol (see `wire`) plus one extension of ours:
//! the marshaled syscall (`marshal`), whose request carries the call's
//! input buffers and whose reply carries its outputs, so that an annotated
//! call costs one round trip. `transport` holds the ways frames travel
//! (unix, tcp) and the shared-memory channel that carries a same-host
//! client's calls beside the socket. `frame` reads and writes whole frames,
//! `server` is the accept loop with a worker per call, `client` the
//! thread-safe connection a process's calls share (and `reaped` the
//! children it reaped whose kernel processes it has still to wait for),
//! `ownfd` where a client inside someone else's program keeps its
//! descriptors. Every parser bounds-checks what it reads and returns a
//! `WireError` instead of panicking, and no length read from the wire
//! sizes an allocation beyond the bytes received.

pub mod auth;
pub mod client;
pub mod frame;
pub mod marshal;
pub mod notify;
pub mod policy;
pub mod probe;
pub mod reaped;
pub mod selfmem;
pub mod serve;
pub mod server;
pub mod sock;
pub mod supervise;
pub mod transport;
pub mod url;
pub mod wire;

/// Where a client inside a program keeps its descriptors; the kernel's
/// own host descriptors (shared memory) live there too.
pub use rump_kernel::ownfd;

pub use marshal::{
    marshal, ClientCall, ClientMemory, MarshaledCall, MreplyPacket, MreplyRepr, MsyscallPacket, MsyscallRepr, OutRepr,
    SegmentRepr,
};
pub use wire::banner::BannerRepr;
pub use wire::error::ErrorCode;
pub use wire::handshake::{Emulation, ForkPacket, ForkRepr, HandshakeRepr, NameRepr};
pub use wire::header::{Class, FrameLen, HandshakeKind, HeaderPacket, HeaderRepr, MsgType, HEADER_LEN, MAX_FRAME};
pub use wire::syscall::{SyscallPacket, SyscallRepr, SyscallRespPacket, SyscallRespRepr};
pub use wire::WireError;
