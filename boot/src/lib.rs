//! `boot`: the host tool that builds the kernel, boots it under QEMU, runs the kernel
//! tests and takes screenshots.
//!
//! The pure parts ([`qemu`] command lines, [`accel`] choice, [`ktap`] parsing, cargo's
//! JSON in [`build`]) are unit tested in their files; [`runner`] and [`qmp`] drive
//! processes and sockets and are tested by booting the real kernel (`tests/`).
//!
//! The library entry point for tests is [`run_test_elf`]:
//!
//! ```no_run
//! let options = boot::Options::from_env()?; // BOOT_MACHINE, BOOT_BIOS, ...
//! let report = boot::run_test_elf("target/x86_64-unknown-none/debug/deps/heap-0123".as_ref(), &options)?;
//! assert!(report.passed(), "{}", report.summary());
//! # Ok::<(), boot::Error>(())
//! ```

pub mod accel;
pub mod build;
pub mod cli;
pub mod error;
pub mod ktap;
pub mod prereq;
pub mod qemu;
pub mod qmp;
pub mod runner;
mod session;

pub use error::{Error, Result};
pub use runner::{BootOptions, Options, TestReport, boot, run_test_elf};
