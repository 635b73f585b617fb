//! `_start`, where OpenSBI enters the kernel, and the first Rust code.
//!
//! `_start` (in `.text.boot`, at 0x80200000) runs with `a0` = hart id, `a1` = the
//! devicetree, interrupts off and no stack. It reads the `time` CSR first (the "entry"
//! timestamp), masks every S-mode interrupt source, lets FP state be "initial" (the
//! target's code may use FP registers), sets up the boot stack from the linker script,
//! zeroes `.bss`, stores the timestamp, and calls `kernel_entry` with `a0`/`a1`
//! untouched. Only the boot hart should come here (QEMU starts the others parked in
//! OpenSBI; [`super::cpu`] starts them through SBI HSM at an entry of their own), but a
//! started hart can arrive here too (an OpenSBI race, see [`super::cpu`]): the first
//! instructions draw a lottery, and only its winner goes on; any later hart leaves for
//! `riscv_stray_hart` before touching memory.

use core::arch::global_asm;

use super::Handoff;
use crate::init::BootInfo;

/// The `time` CSR at the first instruction of `_start`.
#[unsafe(no_mangle)]
pub(super) static mut ENTRY_COUNTER: u64 = 0;

global_asm!(
    ".section .text.boot, \"ax\"",
    ".global _start",
    "_start:",
    "rdtime t2",
    "csrw sie, zero",
    "la t0, BOOT_LOTTERY",
    // Module-level assembly does not see the target's `a` extension in every build
    // (release builds refuse the AMO without it): say so here.
    ".option push",
    ".option arch, +a",
    "amoswap.w.aqrl t1, zero, (t0)",
    ".option pop",
    "bnez t1, 4f",
    "la t0, riscv_stray_hart",
    "jr t0",
    "4:",
    "li t0, 1 << 13",
    "csrs sstatus, t0",
    ".option push",
    ".option norelax",
    "la sp, __boot_stack_top",
    ".option pop",
    "la t0, __bss_start",
    "la t1, __bss_end",
    "1:",
    "bgeu t0, t1, 2f",
    "sd zero, 0(t0)",
    "addi t0, t0, 8",
    "j 1b",
    "2:",
    "la t0, ENTRY_COUNTER",
    "sd t2, 0(t0)",
    "call {entry}",
    "3:",
    "wfi",
    "j 3b",
    entry = sym kernel_entry,
);

unsafe extern "Rust" {
    /// Defined exactly once per kernel image by [`crate::entry_point!`].
    fn kernel_main(boot: &'static BootInfo) -> !;
}

/// Rust entry point, called by `_start` with OpenSBI's `a0`/`a1`.
extern "C" fn kernel_entry(hart_id: u64, devicetree: u64) -> ! {
    super::cpu::init_boot_hart(hart_id);
    let boot = crate::init::start(Handoff {
        hart_id,
        devicetree,
    });
    // SAFETY: `entry_point!` defines `kernel_main` with exactly this signature (it
    // type-checks the user's function against it); the link fails if it is missing.
    unsafe { kernel_main(boot) }
}
