//! Hardware access: the one module of the kernel that contains `unsafe`.
//!
//! Everything above `arch` is safe Rust and reaches the hardware through the wrappers
//! here; the crate root denies `unsafe_code` and only this module is exempt. Each
//! architecture lives in its own directory (`x86_64/`, `riscv64/`) and is re-exported
//! here, so nothing outside `arch` names an architecture. Six files are shared by both:
//! [`io`] (owned port and MMIO windows), [`heap`] (the global allocator), [`linker`]
//! (linker-script symbols), [`fault`] (a CPU fault ends the boot, through the test
//! framework's handler in a test kernel) and `cross_cpu` (the CPU table, the start-up
//! handshake, the call-function mailbox, wake-ups and stopping: each architecture's
//! `cpu` re-exports them and only sends the interrupts); `clock` converts and waits on
//! each architecture's clock (its `time` re-exports those).
//!
//! # The interface each architecture provides
//!
//! - [`NAME`]; `Handoff`, what the firmware passes to the first Rust code;
//! - `platform`: `early_init(Handoff) -> Firmware` (console, traps, firmware tables
//!   copied out: before the heap) and `start_interrupts(timer_hz) -> clock Hz` (clock,
//!   periodic timer, interrupt controller); the identity-map limit `MAPPED_LIMIT`, the
//!   ports it keeps (`RESERVED_PORTS`), the firmware's `memory_map()`, raw `port`
//!   accessors; `pci_host()` (a host bridge it knows without a devicetree),
//!   `devicetree()` (the firmware's blob, if any) and `register_devicetree_drivers`
//!   (drivers of its own devicetree devices, such as its interrupt controller);
//! - `time`: `counter()`, `counter_hz()`, `entry_counter()`, `cycles_to_micros`,
//!   `micros_since_entry`, `busy_wait_micros`, `COUNTER_NAME`;
//! - `timer`: `ticks()`, `tick_hz()`; `irq`: device interrupt lines (`request`,
//!   `IrqLine`, `IrqError`, `Handler`);
//! - `trap`: `Exception` (with `ILLEGAL_INSTRUCTION`), `Fault` (with `memory_address`,
//!   `double_fault_on_own_stack`), `breakpoint_count`, `nmi_count`; the trap handler
//!   passes every fault (not a breakpoint, nor an NMI) to [`fault::end_boot`];
//! - `serial`: the early console (`write_fmt`, `try_read_byte`, `emergency_write`);
//!   `cache`: write-combining for framebuffers (`WRITE_COMBINING` says if it exists); `write_banner`; `ExitCode` (`Success`,
//!   `Failure`, `Continue`: a test ended the boot, boot again), `exit_qemu`;
//! - `cpu`: the CPUs (`start_others(main)`, `current()`, `online()`, `MAX_CPUS`, the
//!   wake-up IPI `wake`, the call-function IPI `call_on`/`call_on_others`, `stop_others`
//!   for the exit path, the counters `wakeups`/`calls`; errors `cpu_error`'s
//!   `StartError`, `CallError`);
//! - interrupt control (`enable_interrupts`, `disable_interrupts`, `interrupts_enabled`,
//!   `without_interrupts`, `wait_for_interrupt`, `halt_forever`, `idle_forever`) and the
//!   test helpers `breakpoint`, `probe_read`, `invalid_instruction`, `stack_guard_page`.

use crate::memory::MemoryRegion;

mod clock;
mod cpu_error;
mod cross_cpu;
pub mod fault;
pub mod heap;
pub mod io;
mod irq_error;
pub mod linker;

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use self::x86_64::*;

#[cfg(target_arch = "riscv64")]
mod riscv64;
#[cfg(target_arch = "riscv64")]
pub use self::riscv64::*;

#[cfg(target_arch = "riscv64")]
use self::riscv64::cpu as this_cpu;
/// The architecture's CPU module, for [`cross_cpu`]: its `current`, `MAX_CPUS` and the
/// interrupts it sends (`send_call`, `send_wake`, `send_stop_to_others`).
#[cfg(target_arch = "x86_64")]
use self::x86_64::smp as this_cpu;

/// `__on_arch!(ARCH, { yes }, { no })` expands `yes` when building for `ARCH`, else `no`:
/// how `#[only_on(ARCH)]` in [`crate::kernel_test!`] keeps code for one architecture out of
/// the other's build.
#[cfg(target_arch = "x86_64")]
#[doc(hidden)]
#[macro_export]
macro_rules! __on_arch {
    (x86_64, { $($yes:tt)* }, { $($no:tt)* }) => { $($yes)* };
    (riscv64, { $($yes:tt)* }, { $($no:tt)* }) => { $($no)* };
}

/// See the x86_64 definition.
#[cfg(target_arch = "riscv64")]
#[doc(hidden)]
#[macro_export]
macro_rules! __on_arch {
    (x86_64, { $($yes:tt)* }, { $($no:tt)* }) => { $($no)* };
    (riscv64, { $($yes:tt)* }, { $($no:tt)* }) => { $($yes)* };
}

/// What the early bring-up read from the firmware, copied out of its memory.
#[derive(Debug, Clone, Copy)]
pub struct Firmware {
    /// The kernel command line.
    pub command_line: &'static str,
    /// The memory map: RAM and everything else the firmware reports.
    pub memory_map: &'static [MemoryRegion],
}
