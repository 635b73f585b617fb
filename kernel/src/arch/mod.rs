//! Hardware access: the one module of the kernel that contains `unsafe`.
//!
//! Everything above `arch` is safe Rust and reaches the hardware through the wrappers
//! here; the crate root denies `unsafe_code` and only this module is exempt. Each
//! architecture lives in its own directory and is re-exported here, so nothing outside
//! `arch` names an architecture.

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use self::x86_64::*;
