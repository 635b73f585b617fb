//! The periodic tick: the SBI timer, re-armed one period ahead on every interrupt.
//!
//! The deadline advances by whole periods from the previous deadline (not from "now"), so
//! the tick rate does not drift with interrupt latency; when the kernel fell behind by
//! more than a period (a busy TCG host), the missed periods are skipped, not replayed.

use core::sync::atomic::{AtomicU64, Ordering};

use super::{sbi, time};

/// `sie.STIE`: supervisor timer interrupt enable.
const SIE_STIE: u64 = 1 << 5;

static TICKS: AtomicU64 = AtomicU64::new(0);
static TICK_HZ: AtomicU64 = AtomicU64::new(0);
static PERIOD: AtomicU64 = AtomicU64::new(0);
static DEADLINE: AtomicU64 = AtomicU64::new(0);

/// Starts the tick at `hz` (the clock's frequency must be known).
pub fn init(hz: u32) {
    let hz = u64::from(hz.max(1));
    let period = (time::counter_hz() / hz).max(1);
    TICK_HZ.store(hz, Ordering::Relaxed);
    PERIOD.store(period, Ordering::Relaxed);
    let deadline = time::counter() + period;
    DEADLINE.store(deadline, Ordering::Relaxed);
    sbi::set_timer(deadline);
    // SAFETY: enabling the timer interrupt source; the trap vector handles it.
    unsafe { core::arch::asm!("csrs sie, {0}", in(reg) SIE_STIE, options(nomem, nostack)) };
}

/// Called by the trap handler for the supervisor timer interrupt.
pub(super) fn interrupt() {
    TICKS.fetch_add(1, Ordering::Relaxed);
    let period = PERIOD.load(Ordering::Relaxed);
    let now = time::counter();
    let mut deadline = DEADLINE.load(Ordering::Relaxed) + period;
    if deadline <= now {
        deadline = now + period;
    }
    DEADLINE.store(deadline, Ordering::Relaxed);
    sbi::set_timer(deadline);
}

/// Timer interrupts handled so far.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// The tick rate in Hz (0 before [`init`]).
pub fn tick_hz() -> u64 {
    TICK_HZ.load(Ordering::Relaxed)
}
