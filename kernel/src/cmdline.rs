//! The kernel command line (`-append`): the parser lives in [`kernel_core::cmdline`]
//! (pure, host-tested); the kernel re-exports it here. See that module for the syntax
//! and the options.

pub use kernel_core::cmdline::*;
