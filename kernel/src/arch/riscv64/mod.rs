//! riscv64 on QEMU `virt` under OpenSBI: S-mode, no paging (physical = virtual).
//!
//! OpenSBI (`-bios default`) enters [`boot`] at 0x80200000 with `a0` = hart id and
//! `a1` = the flattened devicetree. Map:
//!
//! - [`boot`]: `_start` (stack, `.bss`, the entry timestamp) and the first Rust code;
//! - [`devicetree`]: the early read of the devicetree (memory, bootargs, timebase, exit
//!   device, PCI I/O window), copied out before the heap; the device model populates
//!   every device from the same blob later (`crate::bus::platform::populate`);
//! - [`platform`]: bring-up for `crate::init` and what the shared arch code needs;
//! - [`sbi`]: calls into OpenSBI (timer, console, system reset, hart start, IPIs);
//! - [`trap`]: `stvec`, the trap frame, exceptions and faults (a fault ends the boot
//!   through the shared `arch::fault`);
//! - [`time`], [`timer`]: the `time` CSR as the clock, the SBI timer as the tick;
//! - [`irq`]: device interrupt lines through the PLIC (a devicetree driver), one owned
//!   handler each;
//! - [`serial`]: the early console (SBI); [`cache`]: no memory types without paging;
//!   [`qemu`]: leaving QEMU through the `sifive,test` finisher (a devicetree driver);
//! - [`cpu`]: the other harts (SBI HSM start-up, the CPU number in `tp`, IPIs through
//!   SBI).
//!
//! The hart id is kept, the PLIC context is derived from it, and the trap path keeps no
//! global state besides counters. Device interrupts and the timer go to the boot hart.

// The shared arch files, under the names this directory's files use for them.
use super::{fault, io};

pub mod boot;
pub mod cache;
pub mod cpu;
pub mod devicetree;
pub mod irq;
pub mod platform;
pub mod qemu;
pub mod sbi;
pub mod serial;
pub mod time;
pub mod timer;
pub mod trap;

pub use qemu::{ExitCode, exit_qemu};

/// The architecture's name, as `boot --arch` spells it.
pub const NAME: &str = "riscv64";

/// How the kernel runs here, for the banner.
pub const DESCRIPTION: &str = "riscv64, OpenSBI, S-mode";

/// What OpenSBI hands the first Rust code.
#[derive(Debug, Clone, Copy)]
pub struct Handoff {
    /// The boot hart's id (`a0`).
    pub hart_id: u64,
    /// Physical address of the flattened devicetree (`a1`).
    pub devicetree: u64,
}

/// `sstatus.SIE`: supervisor interrupts enabled.
const SSTATUS_SIE: u64 = 1 << 1;

fn read_sstatus() -> u64 {
    let value: u64;
    // SAFETY: reading a CSR has no side effects.
    unsafe { core::arch::asm!("csrr {0}, sstatus", out(reg) value, options(nomem, nostack)) };
    value
}

/// Halts with interrupts disabled, forever.
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: clearing SIE and waiting touch no memory. `wfi` may return on a pending
        // interrupt even with SIE clear; the loop waits again.
        unsafe {
            core::arch::asm!("csrci sstatus, 2", "wfi", options(nomem, nostack));
        }
    }
}

/// Idles with interrupts enabled, forever (timer interrupts keep arriving).
pub fn idle_forever() -> ! {
    loop {
        wait_for_interrupt();
    }
}

/// Enables interrupts.
pub fn enable_interrupts() {
    // SAFETY: setting SIE only lets enabled interrupts in; the trap vector is installed
    // by `platform::early_init` before anything calls this.
    unsafe { core::arch::asm!("csrsi sstatus, 2", options(nomem, nostack)) };
}

/// Disables interrupts on this hart.
pub fn disable_interrupts() {
    // SAFETY: clearing SIE touches no memory.
    unsafe { core::arch::asm!("csrci sstatus, 2", options(nomem, nostack)) };
}

/// Whether interrupts are enabled on this hart.
pub fn interrupts_enabled() -> bool {
    read_sstatus() & SSTATUS_SIE != 0
}

/// Runs `function` with interrupts disabled (restoring the previous state after).
pub fn without_interrupts<R>(function: impl FnOnce() -> R) -> R {
    let was_enabled = read_sstatus() & SSTATUS_SIE != 0;
    // SAFETY: clearing SIE touches no memory.
    unsafe { core::arch::asm!("csrci sstatus, 2", options(nomem, nostack)) };
    let result = function();
    if was_enabled {
        enable_interrupts();
    }
    result
}

/// Waits for the next interrupt, then returns with interrupts enabled.
///
/// `wfi` wakes on a pending, enabled interrupt even while `sstatus.SIE` is clear, so
/// waiting with SIE clear and enabling after cannot miss an interrupt that arrives in
/// between (the riscv form of x86's `sti; hlt`).
pub fn wait_for_interrupt() {
    // SAFETY: see above; the handler runs once SIE is set.
    unsafe {
        core::arch::asm!(
            "csrci sstatus, 2",
            "wfi",
            "csrsi sstatus, 2",
            options(nomem, nostack)
        );
    }
}

/// Executes `ebreak`; the handler counts it and returns past it.
pub fn breakpoint() {
    // SAFETY: the trap handler counts the breakpoint and skips the instruction.
    unsafe { core::arch::asm!("ebreak", options(nomem, nostack)) };
}

/// Reads one byte at `address` (a volatile load): a test helper for provoking faults.
///
/// Memory safety does not depend on `address`: the load is done by `asm!`, not as a Rust
/// memory access, and only yields a `u8`. An address with neither RAM nor a device raises
/// a load access fault (see [`super::fault`]). Reading a device register may have side effects
/// on that device, which is why this is only meant for tests.
pub fn probe_read(address: u64) -> u8 {
    let value: u8;
    // SAFETY: a single byte load through `asm!` is not a Rust memory access; a bad
    // address raises an access fault, handled by the trap vector.
    unsafe {
        core::arch::asm!("lbu {value}, 0({address})", address = in(reg) address, value = out(reg) value, options(nostack, readonly));
    }
    value
}

/// Executes `unimp`, raising an illegal-instruction fault (for tests).
pub fn invalid_instruction() {
    // SAFETY: `unimp` only raises an illegal-instruction exception; the handler never
    // returns to it (it ends the boot).
    unsafe { core::arch::asm!("unimp", options(nomem, nostack)) };
}

/// Resets the machine at once through SBI system reset (for tests of the runner); under
/// QEMU's `-no-reboot`, QEMU exits with status 0.
pub fn reset_machine() -> ! {
    sbi::reboot();
    halt_forever()
}

/// No guard page: the kernel runs without paging.
pub fn stack_guard_page() -> Option<u64> {
    None
}

/// No text-mode screen on `virt`: the banner goes nowhere (the display shows the test
/// pattern once a display driver binds).
pub fn write_banner(_row: usize, _text: &str) {}
