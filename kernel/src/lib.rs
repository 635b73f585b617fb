//! A toy x86_64 kernel that boots under QEMU through PVH and tests itself in place.
//!
//! `arch` owns all `unsafe` (the crate denies `unsafe_code` elsewhere); the rest is safe
//! Rust on top of it. The binary (`src/main.rs`) and every test kernel
//! (`tests/*.rs`) link this library and name their main function with
//! [`entry_point!`] (or [`test_main!`]).

#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

#[expect(unsafe_code, reason = "arch is the one module that owns unsafe")]
pub mod arch;
pub mod cmdline;
pub mod init;
pub mod memory;
mod panic;
pub mod print;
pub mod test;
pub mod text;

pub use init::BootInfo;
