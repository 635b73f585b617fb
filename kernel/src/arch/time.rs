//! Time: the TSC as the clock, calibrated against the PIT.
//!
//! The TSC is read with `rdtsc`; its frequency is measured once at boot by letting PIT
//! channel 2 count down 10 ms in mode 0 and polling its output on port `0x61` bit 5. This
//! needs no interrupts, so it works before the IDT is even set up and under every QEMU
//! firmware. The best (shortest) of a few rounds is kept, to drop rounds where the
//! emulator was descheduled.
//!
//! The trampoline stores the TSC at its very first instruction ([`entry_tsc`]); boot-phase
//! timings are TSC differences from there.

use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::instructions::port::Port;

/// The PIT's input clock in Hz.
const PIT_HZ: u64 = 1_193_182;
/// Calibration window.
const CALIBRATION_MICROS: u64 = 10_000;

/// Calibrated TSC frequency in Hz (0 before [`calibrate`]).
static TSC_HZ: AtomicU64 = AtomicU64::new(0);

/// Reads the time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` has no side effects; the TSC is always available on x86_64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The TSC value at the first instruction of the PVH entry.
pub fn entry_tsc() -> u64 {
    // SAFETY: written once by the trampoline before any Rust code ran; only read since.
    unsafe { (&raw const super::boot::ENTRY_TSC).read() }
}

/// Measures one PIT window of [`CALIBRATION_MICROS`] in TSC cycles.
fn measure_window() -> u64 {
    let latch = PIT_HZ * CALIBRATION_MICROS / 1_000_000;
    let mut control = Port::<u8>::new(0x61);
    let mut command = Port::<u8>::new(0x43);
    let mut channel2 = Port::<u8>::new(0x42);
    // SAFETY: ports 0x61 (system control port B), 0x43 (PIT command) and 0x42 (PIT
    // channel 2) only control the PIT and the speaker gate; no memory is touched.
    unsafe {
        // Gate channel 2 on, speaker off.
        let value = control.read();
        control.write((value & !0x02) | 0x01);
        // Channel 2, lobyte/hibyte, mode 0 (interrupt on terminal count), binary.
        command.write(0b1011_0000);
        channel2.write((latch & 0xff) as u8);
        channel2.write((latch >> 8) as u8);
    }
    let start = rdtsc();
    // SAFETY: as above; reading port B has no side effects.
    while unsafe { control.read() } & 0x20 == 0 {
        core::hint::spin_loop();
    }
    rdtsc() - start
}

/// Calibrates the TSC against the PIT; returns the frequency in Hz.
pub fn calibrate() -> u64 {
    let best = (0..3).map(|_| measure_window()).min().unwrap_or(0).max(1);
    let hz = best * 1_000_000 / CALIBRATION_MICROS;
    TSC_HZ.store(hz, Ordering::Relaxed);
    hz
}

/// The calibrated TSC frequency in Hz (0 before calibration).
pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Converts a TSC difference to microseconds (0 before calibration).
pub fn cycles_to_micros(cycles: u64) -> u64 {
    match tsc_hz() {
        0 => 0,
        hz => (u128::from(cycles) * 1_000_000 / u128::from(hz)) as u64,
    }
}

/// Microseconds since the PVH entry.
pub fn micros_since_entry() -> u64 {
    cycles_to_micros(rdtsc().saturating_sub(entry_tsc()))
}

/// Spins for `micros` microseconds of TSC time.
///
/// # Panics
///
/// If the TSC is not calibrated yet.
pub fn busy_wait_micros(micros: u64) {
    let hz = tsc_hz();
    assert!(hz != 0, "busy_wait_micros before TSC calibration");
    let cycles = (u128::from(micros) * u128::from(hz) / 1_000_000) as u64;
    let start = rdtsc();
    while rdtsc() - start < cycles {
        core::hint::spin_loop();
    }
}
