//! Transports: how a client's calls reach a server.
pub mod shm;
