//! The panic handler: report over serial and exit QEMU with the failure code.
//!
//! Inside a guarded call (a running kernel test) the panic is handed to
//! [`arch::recover`] instead, which resumes the test runner; the runner decides whether
//! the panic was expected. The target has no unwinding (`panic = abort`), so no
//! destructor of the panicking code runs either way.

use core::panic::PanicInfo;

use crate::arch::{self, ExitCode};
use crate::text::FixedString;

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    let message = FixedString::from_fmt(format_args!("{}", info.message()));
    let location = match info.location() {
        Some(location) => FixedString::from_fmt(format_args!(
            "{}:{}:{}",
            location.file(),
            location.line(),
            location.column()
        )),
        None => FixedString::from_fmt(format_args!("<unknown>")),
    };
    arch::recover::panic(message, location);
    arch::serial::emergency_write(format_args!(
        "\nkernel: panicked at {location}: {message}\n"
    ));
    arch::exit_qemu(ExitCode::Failure)
}
