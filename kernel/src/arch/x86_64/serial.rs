//! COM1 (16550 UART at I/O port `0x3F8`): polled output for the early console.
//!
//! This is the console used before (and independently of) the driver model: the boot log,
//! KTAP output and panic messages all go through it. Output is polled (wait for the
//! transmit holding register to empty, then write), so it works with interrupts off and
//! from exception handlers.
//!
//! Writers take [`CONSOLE`]'s lock with interrupts disabled. The panic and fault paths
//! use [`emergency_write`], which bypasses the lock: a panic may happen while the lock is
//! held, and interleaved bytes beat a deadlock.

use core::fmt::{self, Write};

use spin::Mutex;
use x86_64::instructions::interrupts;
use x86_64::instructions::port::Port;

/// Base I/O port of COM1.
const COM1: u16 = 0x3F8;

/// Register offsets from the base port (16550 datasheet).
mod regs {
    /// Transmit holding (write) / receive buffer (read); divisor low when DLAB=1.
    pub const DATA: u16 = 0;
    /// Interrupt enable; divisor high when DLAB=1.
    pub const INTERRUPT_ENABLE: u16 = 1;
    /// FIFO control (write).
    pub const FIFO_CONTROL: u16 = 2;
    /// Line control: word length, parity, stop bits, DLAB.
    pub const LINE_CONTROL: u16 = 3;
    /// Modem control: DTR, RTS, OUT2.
    pub const MODEM_CONTROL: u16 = 4;
    /// Line status; bit 5 = transmit holding register empty.
    pub const LINE_STATUS: u16 = 5;
    /// Line status bit: the transmitter can take another byte.
    pub const LINE_STATUS_THR_EMPTY: u8 = 1 << 5;
    /// Line status bit: a received byte is waiting.
    pub const LINE_STATUS_DATA_READY: u8 = 1 << 0;
}

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

    fn write_register(&self, offset: u16, value: u8) {
        let mut port = Port::<u8>::new(self.base + offset);
        // SAFETY: by the type invariant the port belongs to the UART; writing its
        // registers has no effect on memory.
        unsafe { port.write(value) };
    }

    fn read_register(&self, offset: u16) -> u8 {
        let mut port = Port::<u8>::new(self.base + offset);
        // SAFETY: as in `write_register`; reading LSR has no side effects that matter here.
        unsafe { port.read() }
    }

    /// Programs 115200 baud, 8N1, FIFOs on, no interrupts.
    fn init(&self) {
        self.write_register(regs::INTERRUPT_ENABLE, 0x00);
        self.write_register(regs::LINE_CONTROL, 0x80); // DLAB on
        self.write_register(regs::DATA, 0x01); // divisor 1 = 115200 baud
        self.write_register(regs::INTERRUPT_ENABLE, 0x00);
        self.write_register(regs::LINE_CONTROL, 0x03); // 8N1, DLAB off
        self.write_register(regs::FIFO_CONTROL, 0xC7); // enable + clear, 14-byte threshold
        self.write_register(regs::MODEM_CONTROL, 0x03); // DTR + RTS
    }

    fn write_byte(&self, byte: u8) {
        while self.read_register(regs::LINE_STATUS) & regs::LINE_STATUS_THR_EMPTY == 0 {
            core::hint::spin_loop();
        }
        self.write_register(regs::DATA, byte);
    }
}

impl SerialPort {
    fn try_read_byte(&self) -> Option<u8> {
        (self.read_register(regs::LINE_STATUS) & regs::LINE_STATUS_DATA_READY != 0)
            .then(|| self.read_register(regs::DATA))
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
