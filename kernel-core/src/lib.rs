//! The kernel's hardware-free logic, built for the host as well as for the kernel target.
//!
//! Everything here is pure: no `unsafe`, no registers, no globals, no allocation that a
//! caller did not ask for. That is what lets it live outside the kernel crate (which only
//! links for bare-metal targets) and be tested by a plain `cargo test` on the host, in the
//! way Hubris keeps its `kerncore` apart from the kernel proper. The kernel re-exports or
//! wraps these modules; tests that need hardware stay kernel tests under QEMU.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod calibration;
pub mod cmdline;
pub mod display;
pub mod id_map;
pub mod pci_ranges;
pub mod shell;
pub mod uart16550;
pub mod virtio_mmio;
