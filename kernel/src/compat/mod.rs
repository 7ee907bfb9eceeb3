//! Foreign ABIs the kernel emulates. A process's emulation decides which
//! table its calls go through; each emulation translates numbers, flags,
//! structs and errno values to the native ones in one place.

pub mod linux;
