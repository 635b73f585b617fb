//! A toy x86_64 kernel that boots under QEMU through PVH and tests itself in place.
//!
//! `arch` owns all `unsafe` (the crate denies `unsafe_code` elsewhere); the rest is safe
//! Rust on top of it. The binary (`src/main.rs`) and every test kernel
//! (`tests/*.rs`) link this library and name their main function with
//! [`entry_point!`] (or [`test_main!`]).
//!
//! - [`arch`]: boot trampoline, descriptor tables, paging, heap allocator, interrupts,
//!   timer and TSC, serial, QEMU exit, where a fault ends the boot;
//! - [`init`]: bring-up order and boot-phase timings; [`BootInfo`];
//! - [`cmdline`]: kernel options; [`memory`]: memory map and heap region choice;
//! - [`devices`]: the kernel's `drivermodel` instance ([`devices::model`]), its event log
//!   and report; [`bus`]: the platform and PCI buses and resource claims; [`drivers`]:
//!   the built-in drivers; [`console`]: where output goes and input comes from;
//!   [`shell`]: the serial shell, the kernel's stand-in for sysfs;
//! - [`drm`]: the display subsystem; [`demo`]: the boot demo, a user of it beside the
//!   drivers; [`counters`]: every live-object counter, read by the shell and the tests;
//! - [`mod@test`]: the in-kernel test framework (KTAP, leak probes, `kernel_test!`, the
//!   restart after a test that ends the boot);
//! - [`work`]: per-CPU work queues, what the other CPUs run; [`sync`]: the
//!   interrupt-safe spin lock and the rules for locks, interrupts and several CPUs;
//! - [`mod@print`]: `print!`/`println!` and `entry_point!`; [`text`]: heap-free strings;
//! - `panic`: the panic handler.
//!
//! Boot log contract (the host tool relies on it): one line
//! `kernel: boot timings (TSC <MHz> MHz): entry->kmain <us> us, ->heap ready <us> us,
//! -><phase> <us> us` (phase `boot complete` for the binary, `tests started` for test
//! kernels), then, for the binary only, exactly one line starting with
//! `kernel: boot complete`.

#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

#[expect(unsafe_code, reason = "arch is the one module that owns unsafe")]
pub mod arch;
pub mod bus;
pub mod cmdline;
pub mod console;
pub mod counters;
pub mod demo;
pub mod devices;
pub mod drivers;
pub mod drm;
pub mod init;
pub mod memory;
mod panic;
pub mod print;
pub mod shell;
pub mod sync;
pub mod test;
pub mod text;
pub mod work;

pub use init::BootInfo;
