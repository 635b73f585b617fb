//! Traps: the `stvec` entry, the trap frame, exceptions and faults.
//!
//! One entry point in direct mode saves every integer register, `sstatus` and `sepc` on
//! the current stack (there are no user mode and no separate trap stacks: a trap always
//! comes from the kernel), then calls `trap_handler`. Interrupts (the `scause` top bit)
//! go to the timer, the PLIC or (software interrupts: IPIs) [`super::cpu`]; a breakpoint is counted and skipped; every other
//! exception becomes a [`Fault`] for [`super::fault::end_boot`], which lets the test
//! framework judge it and ends the boot, as on x86_64.
//!
//! The kernel uses no floating point, so the trap path saves no FP registers (`sstatus.FS`
//! is set to "initial" by `_start` only because the target's code may assume it).

use core::arch::global_asm;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use super::{fault, irq, timer};

/// Bytes the entry reserves: x0..x31 (x0's slot unused), `sstatus`, `sepc`.
const FRAME_SIZE: usize = 34 * 8;

global_asm!(
    ".section .text",
    ".balign 4",
    ".global riscv_trap_entry",
    "riscv_trap_entry:",
    "addi sp, sp, -{frame}",
    "sd x1, 8(sp)",
    "sd x3, 24(sp)",
    "sd x4, 32(sp)",
    "sd x5, 40(sp)",
    "sd x6, 48(sp)",
    "sd x7, 56(sp)",
    "sd x8, 64(sp)",
    "sd x9, 72(sp)",
    "sd x10, 80(sp)",
    "sd x11, 88(sp)",
    "sd x12, 96(sp)",
    "sd x13, 104(sp)",
    "sd x14, 112(sp)",
    "sd x15, 120(sp)",
    "sd x16, 128(sp)",
    "sd x17, 136(sp)",
    "sd x18, 144(sp)",
    "sd x19, 152(sp)",
    "sd x20, 160(sp)",
    "sd x21, 168(sp)",
    "sd x22, 176(sp)",
    "sd x23, 184(sp)",
    "sd x24, 192(sp)",
    "sd x25, 200(sp)",
    "sd x26, 208(sp)",
    "sd x27, 216(sp)",
    "sd x28, 224(sp)",
    "sd x29, 232(sp)",
    "sd x30, 240(sp)",
    "sd x31, 248(sp)",
    "addi t0, sp, {frame}",
    "sd t0, 16(sp)",
    "csrr t0, sstatus",
    "sd t0, 256(sp)",
    "csrr t0, sepc",
    "sd t0, 264(sp)",
    "mv a0, sp",
    "call {handler}",
    "ld t0, 256(sp)",
    "csrw sstatus, t0",
    "ld t0, 264(sp)",
    "csrw sepc, t0",
    "ld x1, 8(sp)",
    "ld x3, 24(sp)",
    "ld x4, 32(sp)",
    "ld x5, 40(sp)",
    "ld x6, 48(sp)",
    "ld x7, 56(sp)",
    "ld x8, 64(sp)",
    "ld x9, 72(sp)",
    "ld x10, 80(sp)",
    "ld x11, 88(sp)",
    "ld x12, 96(sp)",
    "ld x13, 104(sp)",
    "ld x14, 112(sp)",
    "ld x15, 120(sp)",
    "ld x16, 128(sp)",
    "ld x17, 136(sp)",
    "ld x18, 144(sp)",
    "ld x19, 152(sp)",
    "ld x20, 160(sp)",
    "ld x21, 168(sp)",
    "ld x22, 176(sp)",
    "ld x23, 184(sp)",
    "ld x24, 192(sp)",
    "ld x25, 200(sp)",
    "ld x26, 208(sp)",
    "ld x27, 216(sp)",
    "ld x28, 224(sp)",
    "ld x29, 232(sp)",
    "ld x30, 240(sp)",
    "ld x31, 248(sp)",
    "addi sp, sp, {frame}",
    "sret",
    frame = const FRAME_SIZE,
    handler = sym trap_handler,
);

unsafe extern "C" {
    /// The assembly entry above.
    fn riscv_trap_entry();
}

/// The registers saved by the trap entry; field offsets are used by the assembly.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TrapFrame {
    /// x0..x31 as they were at the trap (x0 reads as 0; x2 is the interrupted `sp`).
    pub registers: [u64; 32],
    /// `sstatus` at the trap.
    pub sstatus: u64,
    /// `sepc`: the trapping instruction (restored on return).
    pub sepc: u64,
}

/// The synchronous exceptions, by `scause` code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exception {
    /// Code 0.
    InstructionMisaligned,
    /// Code 1.
    InstructionAccessFault,
    /// Code 2.
    IllegalInstruction,
    /// Code 3 (`ebreak`).
    Breakpoint,
    /// Code 4.
    LoadMisaligned,
    /// Code 5: a load from an address with neither RAM nor a device.
    LoadAccessFault,
    /// Code 6.
    StoreMisaligned,
    /// Code 7.
    StoreAccessFault,
    /// Code 8.
    UserEnvironmentCall,
    /// Code 9.
    SupervisorEnvironmentCall,
    /// Code 12.
    InstructionPageFault,
    /// Code 13.
    LoadPageFault,
    /// Code 15.
    StorePageFault,
    /// Any other code.
    Other(u64),
}

impl Exception {
    /// The exception [`super::invalid_instruction`] raises.
    pub const ILLEGAL_INSTRUCTION: Self = Self::IllegalInstruction;

    /// The exception for `scause` code `code`.
    pub const fn from_code(code: u64) -> Self {
        match code {
            0 => Self::InstructionMisaligned,
            1 => Self::InstructionAccessFault,
            2 => Self::IllegalInstruction,
            3 => Self::Breakpoint,
            4 => Self::LoadMisaligned,
            5 => Self::LoadAccessFault,
            6 => Self::StoreMisaligned,
            7 => Self::StoreAccessFault,
            8 => Self::UserEnvironmentCall,
            9 => Self::SupervisorEnvironmentCall,
            12 => Self::InstructionPageFault,
            13 => Self::LoadPageFault,
            15 => Self::StorePageFault,
            other => Self::Other(other),
        }
    }

    /// Whether `stval` holds the faulting address.
    const fn reports_address(self) -> bool {
        matches!(
            self,
            Self::InstructionMisaligned
                | Self::InstructionAccessFault
                | Self::LoadMisaligned
                | Self::LoadAccessFault
                | Self::StoreMisaligned
                | Self::StoreAccessFault
                | Self::InstructionPageFault
                | Self::LoadPageFault
                | Self::StorePageFault
        )
    }
}

impl fmt::Display for Exception {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Other(code) => write!(formatter, "exception {code}"),
            known => write!(formatter, "{known:?}"),
        }
    }
}

/// A CPU fault as the handler saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// Which exception.
    pub exception: Exception,
    /// The trapping instruction (`sepc`).
    pub sepc: u64,
    /// `stval`: the faulting address or instruction bits, per exception.
    pub stval: u64,
}

impl Fault {
    /// The faulting address, if this is a fault on a memory access.
    pub fn memory_address(&self) -> Option<u64> {
        matches!(
            self.exception,
            Exception::LoadAccessFault
                | Exception::StoreAccessFault
                | Exception::LoadPageFault
                | Exception::StorePageFault
        )
        .then_some(self.stval)
    }

    /// Always `None`: riscv has no double fault.
    pub fn double_fault_on_own_stack(&self) -> Option<bool> {
        None
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} at sepc {:#x}", self.exception, self.sepc)?;
        if self.exception.reports_address() {
            write!(formatter, ", address {:#x}", self.stval)?;
        } else {
            write!(formatter, ", stval {:#x}", self.stval)?;
        }
        Ok(())
    }
}

/// Number of `ebreak` breakpoints handled so far.
static BREAKPOINTS: AtomicU64 = AtomicU64::new(0);

/// How many breakpoint exceptions have been handled (and returned from).
pub fn breakpoint_count() -> u64 {
    BREAKPOINTS.load(Ordering::Relaxed)
}

/// Non-maskable interrupts seen: always 0, since riscv's resumable NMIs are taken in
/// M-mode (by the firmware), never in S-mode.
pub fn nmi_count() -> u64 {
    0
}

/// `scause` codes of the interrupts handled.
const SUPERVISOR_SOFTWARE: u64 = 1;
const SUPERVISOR_TIMER: u64 = 5;
const SUPERVISOR_EXTERNAL: u64 = 9;

/// Installs the trap entry in `stvec` (direct mode).
pub fn init() {
    let entry = riscv_trap_entry as *const () as usize;
    // SAFETY: the entry is 4-byte aligned (`.balign 4`), so the mode bits are 0 (direct),
    // and it saves and restores everything the interrupted code can observe.
    unsafe { core::arch::asm!("csrw stvec, {0}", in(reg) entry, options(nomem, nostack)) };
}

fn read_cause() -> (u64, u64) {
    let (cause, value): (u64, u64);
    // SAFETY: reading trap CSRs has no side effects.
    unsafe {
        core::arch::asm!("csrr {0}, scause", "csrr {1}, stval", out(reg) cause, out(reg) value, options(nomem, nostack));
    }
    (cause, value)
}

/// The Rust side of every trap.
extern "C" fn trap_handler(frame: &mut TrapFrame) {
    let (cause, stval) = read_cause();
    if cause >> 63 == 1 {
        match cause & !(1 << 63) {
            SUPERVISOR_SOFTWARE => super::cpu::software_interrupt(),
            SUPERVISOR_TIMER => timer::interrupt(),
            SUPERVISOR_EXTERNAL => irq::dispatch(),
            other => {
                super::serial::emergency_write(format_args!("kernel: spurious interrupt {other}\n"))
            }
        }
        return;
    }
    let exception = Exception::from_code(cause);
    if exception == Exception::Breakpoint {
        BREAKPOINTS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `sepc` is the `ebreak` just executed, in the kernel's text.
        let low_bits = unsafe { (frame.sepc as *const u16).read_volatile() };
        // A 32-bit instruction has its two low bits set; `c.ebreak` is 16 bits.
        frame.sepc += if low_bits & 3 == 3 { 4 } else { 2 };
        return;
    }
    fault::end_boot(Fault {
        exception,
        sepc: frame.sepc,
        stval,
    });
}
