//! Time: the `time` CSR as the clock, at the devicetree's `timebase-frequency`.
//!
//! Unlike the x86 TSC there is nothing to calibrate: the frequency is a fact of the
//! platform (10 MHz on QEMU `virt`). `_start` stores the counter at the kernel's very
//! first instruction ([`entry_counter`]); boot-phase timings are differences from there.

use core::sync::atomic::{AtomicU64, Ordering};

pub use super::super::clock::{busy_wait_micros, cycles_to_micros, micros_since_entry};

/// The clock's name in the boot log.
pub const COUNTER_NAME: &str = "time CSR";

/// Frequencies a riscv timebase can plausibly have.
pub const PLAUSIBLE_HZ: core::ops::RangeInclusive<u64> = 1_000_000..=1_000_000_000;

/// The timebase frequency in Hz (0 before [`init`]).
static HZ: AtomicU64 = AtomicU64::new(0);

/// Sets the clock's frequency (from the devicetree).
pub fn init(hz: u64) {
    HZ.store(hz, Ordering::Relaxed);
}

/// Reads the `time` CSR.
pub fn counter() -> u64 {
    let value: u64;
    // SAFETY: reading `time` has no side effects (OpenSBI lets S-mode read it).
    unsafe { core::arch::asm!("rdtime {0}", out(reg) value, options(nomem, nostack)) };
    value
}

/// The clock's frequency in Hz (0 before [`init`]).
pub fn counter_hz() -> u64 {
    HZ.load(Ordering::Relaxed)
}

/// The counter at the kernel's first instruction.
pub fn entry_counter() -> u64 {
    // SAFETY: written once by `_start` before any Rust code ran; only read since.
    unsafe { (&raw const super::boot::ENTRY_COUNTER).read() }
}
