//! x86_64 hardware access: the one module of the kernel that contains `unsafe`.
//!
//! Everything above `arch` (boot orchestration, the test framework, drivers later) is
//! safe Rust and reaches the hardware through the wrappers here; the crate root denies
//! `unsafe_code` and only this module is exempt. Map:
//!
//! - [`boot`]: PVH note and the 32-bit trampoline into long mode; [`entry`]: first Rust code;
//! - [`pvh`]: the start-info block (command line, memory map);
//! - [`gdt`], [`idt`]: segments, TSS with the double-fault IST stack, exception stubs;
//! - [`paging`]: identity map and the stack guard page;
//! - [`platform`]: what the shared arch code and the kernel's bring-up need from here;
//! - [`apic`], [`time`]: interrupt controllers, timer ticks, the TSC clock;
//! - [`irq`]: device interrupt lines through the I/O APIC, one owned handler each;
//!   [`acpi`]: the MADT's I/O APIC and ISA overrides;
//! - [`smp`]: the other CPUs (start-up trampoline, per-CPU data, IPIs, stopping them);
//! - [`serial`], [`vga`], [`qemu`]: console output and leaving QEMU.

// The shared arch files, under the names this directory's files use for them.
use super::{fault, io};

pub mod acpi;
pub mod apic;
pub mod boot;
pub mod entry;
pub mod gdt;
pub mod idt;
pub mod irq;
pub mod paging;
pub mod pat;
pub mod platform;
pub mod pvh;
pub mod qemu;
pub mod serial;
pub mod smp;
pub mod time;
pub mod vga;

pub use qemu::{ExitCode, exit_qemu};
pub use vga::write_banner;

/// The architecture's name, as `boot --arch` spells it.
pub const NAME: &str = "x86_64";

/// How the kernel runs here, for the banner.
pub const DESCRIPTION: &str = "x86_64, PVH, long mode";

/// What the firmware hands the first Rust code: the PVH start-info address.
pub type Handoff = u32;

/// The interface's trap names for the IDT's exceptions and faults.
pub mod trap {
    pub use super::idt::{Exception, Fault, breakpoint_count, nmi_count};

    impl Exception {
        /// The exception [`super::invalid_instruction`] raises: #UD.
        pub const ILLEGAL_INSTRUCTION: Self = Self::InvalidOpcode;
    }

    impl Fault {
        /// The faulting address, if this is a fault on a memory access (a page fault).
        pub fn memory_address(&self) -> Option<u64> {
            if self.exception == Exception::PageFault {
                self.address
            } else {
                None
            }
        }

        /// For a double fault, whether its handler ran on the double-fault IST stack;
        /// `None` for any other fault.
        pub fn double_fault_on_own_stack(&self) -> Option<bool> {
            (self.exception == Exception::DoubleFault)
                .then(|| super::gdt::double_fault_stack().contains(&self.handler_stack))
        }
    }
}

/// The interface's periodic timer: the local APIC timer.
pub mod timer {
    pub use super::apic::{tick_hz, ticks};
}

/// The interface's CPUs: the local APICs' IPIs.
pub mod cpu {
    pub use super::smp::{
        CallError, MAX_CPUS, StartError, call_on, call_on_others, calls, current, online,
        start_others, stop_others, wake, wakeups,
    };
}

/// The interface's memory-type control for framebuffers: the PAT.
pub use self::pat as cache;

/// The unmapped page below the boot stack, if the architecture keeps one.
pub fn stack_guard_page() -> Option<u64> {
    Some(paging::guard_page())
}

/// Halts with interrupts disabled, forever.
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}

/// Resets the machine at once, the way a triple fault does (for tests of the runner):
/// with an empty IDT, an exception cannot be delivered, nor can the double fault that
/// follows. Under QEMU's `-no-reboot`, QEMU exits with status 0.
pub fn reset_machine() -> ! {
    let empty = x86_64::structures::DescriptorTablePointer {
        limit: 0,
        base: x86_64::VirtAddr::zero(),
    };
    x86_64::instructions::interrupts::disable();
    // SAFETY: loading an empty IDT only makes every later interrupt or exception a triple
    // fault, which is what this function is for; `int3` raises one at once.
    unsafe {
        x86_64::instructions::tables::lidt(&empty);
        core::arch::asm!("int3", options(nomem, nostack));
    }
    halt_forever()
}

/// Idles with interrupts enabled, forever (timer interrupts keep arriving).
pub fn idle_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::enable_and_hlt();
    }
}

/// Enables interrupts.
pub fn enable_interrupts() {
    x86_64::instructions::interrupts::enable();
}

/// Disables interrupts on this CPU.
pub fn disable_interrupts() {
    x86_64::instructions::interrupts::disable();
}

/// Whether interrupts are enabled on this CPU.
pub fn interrupts_enabled() -> bool {
    x86_64::instructions::interrupts::are_enabled()
}

/// Runs `function` with interrupts disabled (restoring the previous state after).
pub fn without_interrupts<R>(function: impl FnOnce() -> R) -> R {
    x86_64::instructions::interrupts::without_interrupts(function)
}

/// Waits for the next interrupt with interrupts enabled.
pub fn wait_for_interrupt() {
    x86_64::instructions::interrupts::enable_and_hlt();
}

/// Executes `int3`; the handler counts it and returns.
pub fn breakpoint() {
    x86_64::instructions::interrupts::int3();
}

/// Reads one byte at `address` (a volatile load): a test helper for provoking faults.
///
/// Memory safety does not depend on `address`: the load is done by `asm!`, not as a Rust
/// memory access, and only yields a `u8`. An unmapped or non-canonical address faults
/// (see [`super::fault`]). Reading a device register may have side effects on that device,
/// which is why this is only meant for tests, on RAM or unmapped addresses.
pub fn probe_read(address: u64) -> u8 {
    // SAFETY: a single byte load through `asm!` is not a Rust memory access, so even an
    // address that aliases Rust objects does not cause undefined behaviour; an unmapped
    // address raises a page fault, handled by the IDT.
    unsafe {
        let value: u8;
        core::arch::asm!("mov {value}, byte ptr [{address}]", address = in(reg) address, value = out(reg_byte) value, options(nostack, readonly, preserves_flags));
        value
    }
}

/// Executes `ud2`, raising an invalid-opcode fault (for tests).
pub fn invalid_instruction() {
    // SAFETY: `ud2` only raises #UD; the handler never returns to it (it ends the boot).
    unsafe { core::arch::asm!("ud2", options(nomem, nostack)) };
}
