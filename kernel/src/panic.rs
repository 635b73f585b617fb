//! The panic handler: report over serial and exit QEMU with the failure code.
//!
//! In a test kernel, a panic inside a running test goes to [`crate::test::panicked`]
//! first, which judges it against the test's expectation, reports the test and ends the
//! boot (the host boots the kernel again for the tests after it). The target has no
//! unwinding (`panic = abort`), and nothing jumps out of the panicking frames either: no
//! code runs on the state the panic left behind, except these reports.
//!
//! With several CPUs, a panic on any of them is handled on that CPU the same way: the
//! test framework judges it against the running test (whichever CPU runs the test), the
//! report goes out through the lock-free `emergency_write` (a stopped or busy CPU may
//! hold the console lock), and leaving QEMU (`arch::exit_qemu`) first stops every other
//! CPU (`arch::cpu::stop_others`: an NMI on x86_64, an IPI on riscv64). Until then
//! another CPU may still print; its lines stay whole (see [`crate::sync`]), but the
//! panic report may land between them.

use core::panic::PanicInfo;

use crate::arch::{self, ExitCode};
use crate::text::FixedString;

/// Capacity of a recorded panic message.
const MESSAGE_CAPACITY: usize = 256;

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    let message = FixedString::<MESSAGE_CAPACITY>::from_fmt(format_args!("{}", info.message()));
    let location = match info.location() {
        Some(location) => FixedString::<128>::from_fmt(format_args!(
            "{}:{}:{}",
            location.file(),
            location.line(),
            location.column()
        )),
        None => FixedString::from_fmt(format_args!("<unknown>")),
    };
    crate::test::panicked(message.as_str(), location.as_str());
    arch::serial::emergency_write(format_args!(
        "\nkernel: panicked at {location}: {message}\n"
    ));
    arch::exit_qemu(ExitCode::Failure)
}
