//! Where a CPU fault goes: it ends the boot. A test kernel's framework gets to judge it
//! first, against what the running test expects.
//!
//! The kernel never resumes the code that faulted, and never jumps out of its frames
//! (that would skip their destructors and leave their locks and half-done updates
//! behind). Each architecture's trap handler calls [`end_boot`] for every fault (every
//! exception but a breakpoint or an NMI, which return); `end_boot` hands the fault to
//! the handler installed with [`set_fault_handler`]. The test framework installs one
//! that reports the running test's result and ends the boot itself. Without a handler, or when the handler
//! returns (no test was running), the fault is reported on the console and QEMU exits
//! with the failure code. Shared by the architectures: only [`Fault`] differs.

use spin::Once;

use super::trap::Fault;
use super::{ExitCode, exit_qemu, serial};

/// The handler [`end_boot`] calls first.
static HANDLER: Once<fn(&Fault)> = Once::new();

/// Installs the handler that sees every fault before the boot ends (once; later calls
/// keep the first handler). It may end the boot itself; if it returns, [`end_boot`]
/// reports the fault and exits with the failure code.
pub fn set_fault_handler(handler: fn(&Fault)) {
    HANDLER.call_once(|| handler);
}

/// Ends the boot after a CPU fault: the installed handler first, else a report on the
/// console and QEMU's failure exit. Called by the architecture's trap handler.
pub fn end_boot(fault: Fault) -> ! {
    if let Some(handler) = HANDLER.get() {
        handler(&fault);
    }
    serial::emergency_write(format_args!("\nkernel: unhandled {fault}\n"));
    exit_qemu(ExitCode::Failure)
}
