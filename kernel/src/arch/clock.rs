//! Conversions and waits on the architecture's clock, the same on every architecture:
//! each `time` module provides `counter()`, `counter_hz()` and `entry_counter()` (the
//! TSC calibrated against the PIT on x86_64, the `time` CSR at the devicetree's
//! timebase on riscv64) and re-exports these.

use super::time::{counter, counter_hz, entry_counter};

/// Converts a clock difference to microseconds (0 before the clock's frequency is known).
pub fn cycles_to_micros(cycles: u64) -> u64 {
    match counter_hz() {
        0 => 0,
        hz => (u128::from(cycles) * 1_000_000 / u128::from(hz)) as u64,
    }
}

/// Microseconds since the kernel's first instruction.
pub fn micros_since_entry() -> u64 {
    cycles_to_micros(counter().saturating_sub(entry_counter()))
}

/// Spins for `micros` microseconds of clock time.
///
/// # Panics
///
/// If the clock's frequency is not known yet (on x86_64: before the TSC calibration).
pub fn busy_wait_micros(micros: u64) {
    let hz = counter_hz();
    assert!(
        hz != 0,
        "busy_wait_micros before the clock's frequency is known"
    );
    let cycles = (u128::from(micros) * u128::from(hz) / 1_000_000) as u64;
    let start = counter();
    while counter() - start < cycles {
        core::hint::spin_loop();
    }
}
