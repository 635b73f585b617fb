//! The early console: the SBI firmware's console (OpenSBI drives the `virt` UART).
//!
//! It is the fallback for the boot log and the shell while no driver owns a UART, as COM1
//! is on x86_64. One `ecall` per byte is slow but needs nothing from the kernel.

use core::fmt::{self, Write};

use spin::Mutex;

use super::sbi;

/// The SBI console as a `fmt::Write` sink.
#[derive(Debug)]
struct SbiConsole;

impl Write for SbiConsole {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            if byte == b'\n' {
                sbi::console_putchar(b'\r');
            }
            sbi::console_putchar(byte);
        }
        Ok(())
    }
}

/// Serialises writers so lines do not interleave.
static CONSOLE: Mutex<SbiConsole> = Mutex::new(SbiConsole);

/// Nothing to set up: OpenSBI initialised the UART.
pub fn init() {}

/// Writes formatted text, with interrupts off.
pub fn write_fmt(arguments: fmt::Arguments<'_>) {
    super::without_interrupts(|| {
        let _ = CONSOLE.lock().write_fmt(arguments);
    });
}

/// A received byte, if one is waiting.
pub fn try_read_byte() -> Option<u8> {
    sbi::console_getchar()
}

/// Writes even if the console lock is held (panic and fault paths).
pub fn emergency_write(arguments: fmt::Arguments<'_>) {
    let _ = SbiConsole.write_fmt(arguments);
}
