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
//! - [`linker`]: symbols from the linker script (image end, test section);
//! - [`heap`]: the global allocator; [`recover`]: resuming after a panic/fault in tests;
//! - [`apic`], [`time`]: interrupt controllers, timer ticks, the TSC clock;
//! - [`irq`]: device interrupt lines through the I/O APIC, one owned handler each;
//!   [`acpi`]: the MADT's I/O APIC and ISA overrides;
//! - [`io`]: owned I/O port and MMIO windows, claimed exclusively;
//! - [`serial`], [`vga`], [`qemu`]: console output and leaving QEMU.

pub mod acpi;
pub mod apic;
pub mod boot;
pub mod entry;
pub mod gdt;
pub mod heap;
pub mod idt;
pub mod io;
pub mod irq;
pub mod linker;
pub mod paging;
pub mod pat;
pub mod pvh;
pub mod qemu;
pub mod recover;
pub mod serial;
pub mod time;
pub mod vga;

pub use qemu::{ExitCode, exit_qemu};

/// Halts with interrupts disabled, forever.
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
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
/// (see [`recover`]). Reading a device register may have side effects on that device,
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
pub fn invalid_opcode() {
    // SAFETY: `ud2` only raises #UD; the handler never returns to it (it resumes a
    // guarded call or exits QEMU).
    unsafe { core::arch::asm!("ud2", options(nomem, nostack)) };
}
