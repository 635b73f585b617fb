//! Time: the `time` CSR as the clock, at the devicetree's `timebase-frequency`.
//!
//! Unlike the x86 TSC there is nothing to calibrate: the frequency is a fact of the
//! platform (10 MHz on QEMU `virt`). `_start` stores the counter at the kernel's very
//! first instruction ([`entry_counter`]); boot-phase timings are differences from there.

use core::sync::atomic::{AtomicU64, Ordering};

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

/// Converts a counter difference to microseconds (0 before [`init`]).
pub fn cycles_to_micros(cycles: u64) -> u64 {
    match counter_hz() {
        0 => 0,
        hz => (u128::from(cycles) * 1_000_000 / u128::from(hz)) as u64,
    }
}

/// Microseconds since the kernel's entry.
pub fn micros_since_entry() -> u64 {
    cycles_to_micros(counter().saturating_sub(entry_counter()))
}

/// Spins for `micros` microseconds of clock time.
///
/// # Panics
///
/// If the clock's frequency is not known yet.
pub fn busy_wait_micros(micros: u64) {
    let hz = counter_hz();
    assert!(hz != 0, "busy_wait_micros before the timebase is known");
    let cycles = (u128::from(micros) * u128::from(hz) / 1_000_000) as u64;
    let start = counter();
    while counter() - start < cycles {
        core::hint::spin_loop();
    }
}
