//! COM1 (16550 UART at I/O port `0x3F8`): polled output for the early console.
//!
//! This is the console used before (and independently of) the driver model: the boot log,
//! KTAP output and panic messages all go through it. Output is polled (wait for the
//! transmit holding register to empty, then write), so it works with interrupts off and
//! from exception handlers.
//!
//! The register map and the programming sequence are the driver's too
//! (`kernel_core::uart16550`); only the access (port I/O at a fixed base) is this file's.
//!
//! Writers take [`CONSOLE`]'s lock with interrupts disabled. The panic and fault paths
//! use [`emergency_write`], which bypasses the lock: a panic may happen while the lock is
//! held, and interleaved bytes beat a deadlock.

use core::fmt::{self, Write};

use kernel_core::uart16550 as regs;
use spin::Mutex;
use x86_64::instructions::interrupts;
use x86_64::instructions::port::Port;

/// Base I/O port of COM1.
const COM1: u16 = 0x3F8;

/// A polled 16550 UART at a fixed port base.
///
/// # Invariants
///
/// `base` is the base of a 16550-compatible UART's eight I/O ports.
#[derive(Debug)]
pub struct SerialPort {
    base: u16,
}

impl SerialPort {
    /// COM1, as every PC-compatible QEMU machine provides it.
    const fn com1() -> Self {
        // INVARIANT: 0x3F8 is COM1 on the PC platform (q35, pc, microvm all have it).
        Self { base: COM1 }
    }

    /// Programs 115200 baud, 8N1, FIFOs on, no interrupts (DTR and RTS, no OUT2).
    fn init(&self) {
        regs::program_115200_8n1(self, regs::MCR_DTR | regs::MCR_RTS);
    }

    fn write_byte(&self, byte: u8) {
        // The early console waits as long as it takes, as before: it has nowhere else
        // to send the byte.
        while !regs::write_byte_polled(self, byte, u32::MAX) {}
    }

    fn try_read_byte(&self) -> Option<u8> {
        regs::try_read_byte(self)
    }
}

impl regs::Registers for SerialPort {
    fn read(&self, index: u16) -> Option<u8> {
        if index >= regs::REGISTER_COUNT {
            return None;
        }
        let mut port = Port::<u8>::new(self.base + index);
        // SAFETY: by the type invariant and the check above, the port is one of the
        // UART's eight; reading a UART register has no effect on memory.
        Some(unsafe { port.read() })
    }

    fn write(&self, index: u16, value: u8) -> bool {
        if index >= regs::REGISTER_COUNT {
            return false;
        }
        let mut port = Port::<u8>::new(self.base + index);
        // SAFETY: as in `read`; writing a UART register has no effect on memory.
        unsafe { port.write(value) };
        true
    }
}

impl Write for SerialPort {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            if byte == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(byte);
        }
        Ok(())
    }
}

/// The early console.
pub static CONSOLE: Mutex<SerialPort> = Mutex::new(SerialPort::com1());

/// Initializes COM1. Called once, first thing in the Rust entry.
pub fn init() {
    CONSOLE.lock().init();
}

/// Writes formatted text to the console; used by [`crate::print!`].
pub fn write_fmt(arguments: fmt::Arguments<'_>) {
    interrupts::without_interrupts(|| {
        // Writing to the UART cannot fail.
        let _ = CONSOLE.lock().write_fmt(arguments);
    });
}

/// Polls COM1 for a received byte: the input path while no UART driver is bound.
pub fn try_read_byte() -> Option<u8> {
    interrupts::without_interrupts(|| CONSOLE.lock().try_read_byte())
}

/// Writes to COM1 without taking the console lock: for panic and fault reports only.
pub fn emergency_write(arguments: fmt::Arguments<'_>) {
    let _ = SerialPort::com1().write_fmt(arguments);
}
