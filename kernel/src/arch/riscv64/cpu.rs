//! The other harts: start-up through SBI HSM, the hart's number in `tp`, IPIs through SBI.
//!
//! # Start-up
//!
//! QEMU's `virt` starts every hart in OpenSBI; only the boot hart enters `_start`, the
//! others wait, stopped, for an HSM `hart_start`. [`start_others`] asks OpenSBI about
//! hart ids `0..MAX_CPUS` (`hart_get_status`: an id that does not exist is an error) and
//! starts each stopped hart, one at a time, at `riscv_hart_start` with a per-hart start
//! block as the opaque argument (`a1`; `a0` is the hart id): the block holds the top of
//! a fresh stack and the hart's number. The entry masks the hart's interrupt sources,
//! sets its stack and `tp`, and calls `hart_entry`, which installs the trap vector,
//! enables the supervisor software interrupt (the IPI) and calls the kernel's per-CPU
//! main function (the work queue's idle loop). A hart that does not come up within a
//! second is reported and left out. The handshake with the boot hart, the CPU table, the
//! calls and wake-ups are the shared `arch::cross_cpu`'s; this file sends
//! their interrupts.
//!
//! # A started hart that enters `_start`
//!
//! The OpenSBI that QEMU 7.2 ships marks the hart "start pending" before it stores the
//! start address. A hart that is still on its way into OpenSBI's wait (late, on a busy
//! host) sees "start pending" at once and jumps to the address it had: the kernel's
//! `_start`, with the devicetree in `a1`. Let through, it would zero `.bss` and take the
//! boot stack from the running boot hart. So `_start` holds a lottery
//! (`BOOT_LOTTERY`): the first hart boots, any later one goes to `riscv_stray_hart`,
//! which touches no memory but `HART_BLOCKS`: it waits there for the start block
//! [`start_others`] published for its hart id and continues at `riscv_hart_start` as
//! if OpenSBI had sent it there.
//!
//! # CPU numbers
//!
//! The CPU's number lives in `tp` (the kernel has no thread-local storage, and the trap entry
//! saves and restores `tp`), set by `init_boot_hart` on the boot hart and by the start
//! block on the others; [`current`] reads it.
//!
//! # IPIs
//!
//! Every IPI is a supervisor software interrupt sent through the SBI IPI extension to
//! the hart (the CPU's hardware id); its handler clears `sip.SSIP` and then does what
//! is pending for this hart: the call waiting in its slot ([`call_on`]), or nothing (a
//! wake-up, [`wake`]). [`stop_others`] sets the stop flag and
//! sends an IPI; the handler then halts the hart for good. S-mode has no NMI, so a hart
//! that keeps interrupts off does not stop; leaving QEMU (SBI system reset or the
//! `sifive,test` finisher) ends every hart anyway.

use alloc::boxed::Box;
use core::arch::global_asm;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

pub use super::super::cpu_error::{CallError, StartError};
use super::super::cross_cpu;
pub use super::super::cross_cpu::{
    call_on, call_on_others, calls, online, stop_others, wake, wakeups,
};
use super::{sbi, trap};
use crate::println;

/// The most CPUs the kernel runs (and the hart ids it asks OpenSBI about).
pub const MAX_CPUS: usize = 16;

/// Each hart's stack (the boot hart keeps the boot stack).
const STACK_SIZE: usize = 64 * 1024;

/// `sie.SSIE`: supervisor software interrupt enable.
const SIE_SSIE: u64 = 1 << 1;

/// A starting hart's stack top and number, read by `riscv_hart_start` (field offsets
/// are used by the assembly).
#[repr(C)]
#[derive(Debug)]
struct StartBlock {
    stack_top: AtomicU64,
    cpu: AtomicU64,
}

/// `_start`'s lottery: 1 until the first hart takes it (swapping in 0). Not zero at
/// first, so it lives in `.data`: the winner zeroes `.bss` after drawing.
#[unsafe(no_mangle)]
pub(super) static BOOT_LOTTERY: AtomicU32 = AtomicU32::new(1);

/// Per hart id, the address of the start block [`start_one`] gave it (0: none yet), for
/// a started hart that entered `_start` instead of `riscv_hart_start`.
static HART_BLOCKS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

static START_BLOCKS: [StartBlock; MAX_CPUS] = [const {
    StartBlock {
        stack_top: AtomicU64::new(0),
        cpu: AtomicU64::new(0),
    }
}; MAX_CPUS];

global_asm!(
    ".section .text",
    ".balign 4",
    ".global riscv_hart_start",
    "riscv_hart_start:",
    "csrw sie, zero",
    "li t0, 1 << 13",
    "csrs sstatus, t0",
    "ld sp, 0(a1)",
    "ld tp, 8(a1)",
    "mv a1, tp",
    "call {entry}",
    "1:",
    "wfi",
    "j 1b",
    entry = sym hart_entry,
);

// The lottery's loser (see the module docs): `a0` = hart id. Waits, without a stack, for
// the hart's start block, then enters as a started hart.
global_asm!(
    ".section .text",
    ".balign 4",
    ".global riscv_stray_hart",
    "riscv_stray_hart:",
    "csrw sie, zero",
    "li t0, {max}",
    "bgeu a0, t0, 3f",
    "la t0, {blocks}",
    "slli t1, a0, 3",
    "add t0, t0, t1",
    "1:",
    "ld a1, 0(t0)",
    "bnez a1, 2f",
    "nop",
    "j 1b",
    "2:",
    "fence r, rw",
    "la t0, riscv_hart_start",
    "jr t0",
    "3:",
    "wfi",
    "j 3b",
    max = const MAX_CPUS,
    blocks = sym HART_BLOCKS,
);

unsafe extern "C" {
    /// The assembly entry above.
    fn riscv_hart_start();
}

/// Records the boot hart as CPU 0 (`tp` = 0). Called first thing in the Rust entry.
pub(super) fn init_boot_hart(hart_id: u64) {
    // SAFETY: `tp` is the kernel's CPU number register (see the module docs): nothing
    // else uses it, and the trap entry saves and restores it.
    unsafe { core::arch::asm!("mv tp, zero", options(nomem, nostack)) };
    cross_cpu::boot_cpu_is(hart_id);
}

/// This CPU's number (0 is the boot hart).
pub fn current() -> usize {
    let cpu: usize;
    // SAFETY: reading `tp`, set before any code on this hart can call this.
    unsafe {
        core::arch::asm!("mv {0}, tp", out(reg) cpu, options(nomem, nostack, preserves_flags))
    };
    cpu
}

/// Starts every other hart OpenSBI reports stopped (see the module docs); each runs
/// `main(cpu)` once it is up. Returns how many CPUs are up, the boot hart included.
/// Called once, on the boot hart, after the heap and the clock are up.
///
/// # Errors
///
/// [`StartError::NoProcessorList`] when the firmware lacks the HSM extension.
pub fn start_others(main: fn(usize) -> !) -> Result<usize, StartError> {
    cross_cpu::set_main(main);
    // The boot hart takes IPIs too (calls from the others, wake-ups).
    // SAFETY: enabling the software interrupt source only lets IPIs in; the trap vector
    // is installed.
    unsafe { core::arch::asm!("csrs sie, {0}", in(reg) SIE_SSIE, options(nomem, nostack)) };
    if !sbi::has_hart_state_management() {
        return Err(StartError::NoProcessorList);
    }
    let boot_hart = cross_cpu::hardware_id(0).unwrap_or(0);
    for hart in 0..MAX_CPUS as u64 {
        if hart == boot_hart || sbi::hart_status(hart) != Some(sbi::HART_STOPPED) {
            continue;
        }
        let cpu = online();
        if cpu >= MAX_CPUS {
            break;
        }
        if !start_one(cpu, hart) {
            println!("kernel: hart {hart} did not start; left out");
        }
    }
    Ok(online())
}

/// Starts hart `hart` as CPU `cpu`; whether it came up.
fn start_one(cpu: usize, hart: u64) -> bool {
    let stack: &'static mut [u8] = Box::leak(alloc::vec![0_u8; STACK_SIZE].into_boxed_slice());
    let top = (stack.as_ptr() as u64 + STACK_SIZE as u64) & !0xf;
    let block = &START_BLOCKS[cpu];
    block.stack_top.store(top, Ordering::Relaxed);
    block.cpu.store(cpu as u64, Ordering::Relaxed);
    let entry = riscv_hart_start as *const () as u64;
    cross_cpu::start(cpu, hart, || {
        // For the hart if it comes in through `_start` (see the module docs): it runs
        // from here on, so not before `start` recorded it. `hart` is below MAX_CPUS (the
        // ids asked about).
        if let Some(slot) = HART_BLOCKS.get(hart as usize) {
            slot.store(core::ptr::from_ref(block) as u64, Ordering::Release);
        }
        sbi::hart_start(hart, entry, core::ptr::from_ref(block) as u64)
    })
}

/// The first Rust code on a started hart, on its own stack with `tp` set.
extern "C" fn hart_entry(_hart: u64, cpu: u64) -> ! {
    trap::init();
    // SAFETY: as in `start_others`.
    unsafe { core::arch::asm!("csrs sie, {0}", in(reg) SIE_SSIE, options(nomem, nostack)) };
    cross_cpu::entered(cpu as usize)
}

/// Sends the call's software interrupt to hart `hardware_id`.
pub(in crate::arch) fn send_call(hardware_id: u64) {
    sbi::send_ipi(hardware_id);
}

/// Sends the wake-up's software interrupt to hart `hardware_id`.
pub(in crate::arch) fn send_wake(hardware_id: u64) {
    sbi::send_ipi(hardware_id);
}

/// Sends the stop's software interrupt to every other hart that is up.
pub(in crate::arch) fn send_stop_to_others() {
    let me = current();
    for cpu in (0..online()).filter(|&cpu| cpu != me) {
        if let Some(hart) = cross_cpu::hardware_id(cpu) {
            sbi::send_ipi(hart);
        }
    }
}

/// The supervisor software interrupt's handler (called from the trap handler).
pub(super) fn software_interrupt() {
    // SAFETY: clearing `sip.SSIP` acknowledges this hart's IPI; it touches no memory.
    unsafe { core::arch::asm!("csrc sip, {0}", in(reg) SIE_SSIE, options(nomem, nostack)) };
    if cross_cpu::stopping() {
        super::halt_forever();
    }
    if !cross_cpu::run_pending_call() {
        cross_cpu::count_wakeup();
    }
}
