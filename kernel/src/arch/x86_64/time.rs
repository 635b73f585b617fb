//! Time: the TSC as the clock, calibrated against the PIT.
//!
//! The TSC is read with `rdtsc`; its frequency is measured once at boot against PIT
//! channel 2, gated on through port `0x61` and read back by polling (latch + read). This
//! needs no interrupts, so it works under every QEMU firmware. Under TCG on a loaded host
//! the virtual CPU can stall for tens of milliseconds anywhere, and the 16-bit PIT wraps
//! every 55 ms, so the calibration takes several short rounds ([`ROUND_MICROS`] each) and
//! lets `kernel_core::calibration` reject the disturbed ones (a slow reading, a step
//! between readings or a round long enough to hide a wrap) and take the median of the
//! others, within a bound on the number of rounds. The chosen figure, the rounds kept and their spread
//! go to the boot log in one line.
//!
//! The trampoline stores the TSC at its very first instruction ([`entry_tsc`]); boot-phase
//! timings are TSC differences from there.

use core::sync::atomic::{AtomicU64, Ordering};

pub use super::super::clock::{busy_wait_micros, cycles_to_micros, micros_since_entry};

use kernel_core::calibration::{Calibration, Meter, Reading, Round, Rounds};
use x86_64::instructions::port::Port;

use crate::println;

/// The PIT's input clock in Hz.
const PIT_HZ: u64 = 1_193_182;
/// One calibration round's window: far below the PIT's wrap (55 ms), as
/// `kernel_core::calibration` needs, and long against a reading (about a microsecond).
pub const ROUND_MICROS: u64 = 2_000;
/// Counter readings before calibration gives up on a PIT that does not count (a reading
/// takes about a microsecond under TCG, so this is seconds, far beyond the window).
const MAX_POLLS: u32 = 5_000_000;

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

/// The clock's name in the boot log.
pub const COUNTER_NAME: &str = "TSC";

/// Frequencies a calibrated TSC can plausibly have.
pub const PLAUSIBLE_HZ: core::ops::RangeInclusive<u64> = 100_000_000..=20_000_000_000;

/// The interface's clock: the TSC.
pub fn counter() -> u64 {
    rdtsc()
}

/// The clock's frequency in Hz (0 before calibration).
pub fn counter_hz() -> u64 {
    tsc_hz()
}

/// The clock at the first instruction of the kernel.
pub fn entry_counter() -> u64 {
    entry_tsc()
}

/// The PIT channel 2 ports.
struct Pit {
    /// System control port B: bit 0 gates channel 2, bit 1 drives the speaker.
    control: Port<u8>,
    /// Mode/command register.
    command: Port<u8>,
    /// Channel 2 data.
    channel2: Port<u8>,
}

/// One reading of the PIT counter with the TSC around it.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// TSC just before the read.
    before: u64,
    /// TSC just after it: the count was latched in between.
    after: u64,
    /// Channel 2's count (counting down).
    count: u16,
}

impl Pit {
    fn new() -> Self {
        Self {
            control: Port::new(0x61),
            command: Port::new(0x43),
            channel2: Port::new(0x42),
        }
    }

    /// Starts channel 2 counting down from 0xffff (55 ms) in mode 0, speaker off.
    fn start(&mut self) {
        // SAFETY: ports 0x61 (system control port B), 0x43 (PIT command) and 0x42 (PIT
        // channel 2) only control the PIT and the speaker gate; no memory is touched.
        unsafe {
            let value = self.control.read();
            self.control.write((value & !0x02) | 0x01);
            // Channel 2, lobyte/hibyte, mode 0, binary.
            self.command.write(0b1011_0000);
            self.channel2.write(0xff);
            self.channel2.write(0xff);
        }
    }

    /// Latches and reads channel 2's count, timing the read with the TSC.
    fn sample(&mut self) -> Sample {
        let before = rdtsc();
        // SAFETY: as in `start`; the latch command freezes the count for the two reads.
        let count = unsafe {
            self.command.write(0b1000_0000);
            let low = self.channel2.read();
            let high = self.channel2.read();
            u16::from_le_bytes([low, high])
        };
        let after = rdtsc();
        Sample {
            before,
            after,
            count,
        }
    }
}

/// One calibration round (see `kernel_core::calibration`).
///
/// Rather than trusting that a poll notices the end of the window in time, both ends of
/// the window are actual readings of the PIT counter, each bracketed by TSC reads; the
/// elapsed PIT ticks are what was read, not what was intended. Every reading goes to the
/// [`Meter`], which keeps the longest step between two (a stall long enough to hide a wrap
/// of the counter shows there).
///
/// `None` if the counter did not advance through the window within [`MAX_POLLS`]
/// readings (no PIT, or channel 2 not gated on).
fn measure_round(pit: &mut Pit) -> Option<Round> {
    let window_ticks = PIT_HZ * ROUND_MICROS / 1_000_000;
    let first = pit.sample();
    let reading = |sample: Sample| Reading {
        before: sample.before,
        after: sample.after,
        ticks: u64::from(first.count.wrapping_sub(sample.count)),
    };
    let mut meter = Meter::new(window_ticks, reading(first));
    for _ in 0..MAX_POLLS {
        if let Some(round) = meter.add(reading(pit.sample())) {
            return Some(round);
        }
        core::hint::spin_loop();
    }
    None
}

/// The PIT does not count: the TSC cannot be calibrated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PitNotCounting;

impl core::fmt::Display for PitNotCounting {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.write_str("PIT channel 2 does not count: cannot calibrate the TSC")
    }
}

impl core::error::Error for PitNotCounting {}

/// Calibrates the TSC against the PIT (see the module docs), prints the result in one
/// line and returns the frequency in Hz.
///
/// # Errors
///
/// [`PitNotCounting`] when the machine has no working PIT channel 2 (a hang otherwise).
pub fn calibrate() -> Result<u64, PitNotCounting> {
    let mut pit = Pit::new();
    pit.start();
    let mut rounds = Rounds::new();
    while !rounds.is_done() {
        rounds.push(measure_round(&mut pit).ok_or(PitNotCounting)?);
    }
    let chosen = rounds.choose(PIT_HZ).ok_or(PitNotCounting)?;
    report(&chosen);
    let hz = chosen.hz.max(1);
    TSC_HZ.store(hz, Ordering::Relaxed);
    Ok(hz)
}

/// The calibration's boot-log line.
fn report(chosen: &Calibration) {
    let quality = if chosen.disturbed {
        "every round disturbed: the least disturbed one"
    } else {
        "median of the undisturbed"
    };
    println!(
        "kernel: TSC {}.{:03} MHz against the PIT: {quality}, {} of {} rounds of {} us, spread {} ppm",
        chosen.hz / 1_000_000,
        (chosen.hz / 1_000) % 1_000,
        chosen.kept,
        chosen.rounds,
        ROUND_MICROS,
        chosen.spread_ppm()
    );
}

/// The calibrated TSC frequency in Hz (0 before calibration).
pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}
