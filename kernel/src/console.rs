//! The kernel console: where `print!` goes and where typed bytes come from.
//!
//! Output goes to every registered [`Sink`] (up to [`SINK_CAPACITY`]): the 16550 driver
//! registers one when it binds, a display console may register another. While no sink
//! that [replaces the early port](Sink::replaces_early_port) is registered, output also
//! goes to the early serial port in [`arch::serial`]: the boot log before the UART
//! driver binds, and the fallback after it unbinds, so the serial log never stops.
//! Input bytes are pushed by a driver's receive interrupt into a fixed ring
//! ([`push_input`]) and taken by the shell ([`read_input`]); with no early-port-replacing
//! sink registered, [`read_input`] polls the early port instead, so the shell keeps
//! working while the UART driver is unbound.
//!
//! Nothing here allocates: sinks are `Arc`s cloned under a lock, the ring is static.

use alloc::sync::Arc;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use crate::arch::{self, serial};
use crate::text::FixedString;

/// A console output device.
pub trait Sink: Send + Sync {
    /// The sink's name (its device), for reports.
    fn name(&self) -> &str;

    /// Writes `text` (`\n` already expanded to `\r\n`). Returns `false` if the device
    /// is gone.
    fn write_bytes(&self, text: &[u8]) -> bool;

    /// Whether this sink is the serial console itself, so the early port must stay
    /// quiet while it is registered (the UART driver: yes; a display: no).
    fn replaces_early_port(&self) -> bool {
        false
    }
}

/// How many sinks can be registered at once.
pub const SINK_CAPACITY: usize = 4;

type Sinks = [Option<Arc<dyn Sink>>; SINK_CAPACITY];

static SINKS: Mutex<Sinks> = Mutex::new([const { None }; SINK_CAPACITY]);
/// Bytes written through early-port-replacing sinks since boot.
static SINK_BYTES: AtomicU64 = AtomicU64::new(0);

/// A registered sink; dropping it unregisters it.
#[derive(Debug)]
pub struct Registration {
    slot: usize,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let old = arch::without_interrupts(|| SINKS.lock()[self.slot].take());
        drop(old);
    }
}

/// Why a sink could not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegisterError {
    /// [`SINK_CAPACITY`] sinks are registered.
    Full,
    /// A sink that replaces the early port is registered already (there is one serial
    /// console).
    SerialTaken,
}

impl fmt::Display for RegisterError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full => write!(
                formatter,
                "{SINK_CAPACITY} console sinks registered already"
            ),
            Self::SerialTaken => formatter.write_str("a serial console is registered already"),
        }
    }
}

impl core::error::Error for RegisterError {}

/// Adds `sink` to the console.
///
/// # Errors
///
/// [`RegisterError`].
pub fn register(sink: Arc<dyn Sink>) -> Result<Registration, RegisterError> {
    arch::without_interrupts(|| {
        let mut sinks = SINKS.lock();
        if sink.replaces_early_port()
            && sinks
                .iter()
                .flatten()
                .any(|other| other.replaces_early_port())
        {
            return Err(RegisterError::SerialTaken);
        }
        let (slot, entry) = sinks
            .iter_mut()
            .enumerate()
            .find(|(_, entry)| entry.is_none())
            .ok_or(RegisterError::Full)?;
        *entry = Some(sink);
        Ok(Registration { slot })
    })
}

/// The name of the registered serial (early-port-replacing) sink, if any.
pub fn sink_name() -> Option<FixedString<32>> {
    let sinks = arch::without_interrupts(|| SINKS.lock().clone());
    sinks
        .iter()
        .flatten()
        .find(|sink| sink.replaces_early_port())
        .map(|sink| FixedString::from_fmt(format_args!("{}", sink.name())))
}

/// Bytes written through the serial sink since boot.
pub fn sink_bytes() -> u64 {
    SINK_BYTES.load(Ordering::Relaxed)
}

/// Expands `\n` to `\r\n` into a small buffer and hands it to the sink in pieces.
struct SinkWriter<'a> {
    sink: &'a dyn Sink,
}

impl Write for SinkWriter<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut buffer = [0_u8; 64];
        let mut length = 0;
        for byte in text.bytes() {
            if length + 2 > buffer.len() {
                self.flush(&buffer[..length])?;
                length = 0;
            }
            if byte == b'\n' {
                buffer[length] = b'\r';
                length += 1;
            }
            buffer[length] = byte;
            length += 1;
        }
        self.flush(&buffer[..length])
    }
}

impl SinkWriter<'_> {
    fn flush(&mut self, bytes: &[u8]) -> fmt::Result {
        if self.sink.write_bytes(bytes) {
            if self.sink.replaces_early_port() {
                SINK_BYTES.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
            Ok(())
        } else {
            Err(fmt::Error)
        }
    }
}

/// Writes formatted text to the console; used by [`crate::print!`].
pub fn write_fmt(arguments: fmt::Arguments<'_>) {
    arch::without_interrupts(|| {
        let sinks = SINKS.lock().clone();
        let mut serial_done = false;
        for sink in sinks.iter().flatten() {
            let written = SinkWriter { sink: &**sink }.write_fmt(arguments).is_ok();
            // A serial sink whose device went away mid-line leaves the line to the
            // early port.
            serial_done |= written && sink.replaces_early_port();
        }
        if !serial_done {
            serial::write_fmt(arguments);
        }
    });
}

/// Capacity of the input ring.
const INPUT_CAPACITY: usize = 256;

struct InputRing {
    bytes: [u8; INPUT_CAPACITY],
    head: usize,
    length: usize,
    dropped: u64,
}

static INPUT: Mutex<InputRing> = Mutex::new(InputRing {
    bytes: [0; INPUT_CAPACITY],
    head: 0,
    length: 0,
    dropped: 0,
});

/// Queues a received byte (from a console driver's receive interrupt). A full ring drops
/// the byte.
pub fn push_input(byte: u8) {
    arch::without_interrupts(|| {
        let mut ring = INPUT.lock();
        if ring.length == INPUT_CAPACITY {
            ring.dropped += 1;
            return;
        }
        let tail = (ring.head + ring.length) % INPUT_CAPACITY;
        ring.bytes[tail] = byte;
        ring.length += 1;
    });
}

/// The next typed byte: from the ring, or, with no console driver registered, polled
/// from the early port.
pub fn read_input() -> Option<u8> {
    if let Some(byte) = read_queued_input() {
        return Some(byte);
    }
    let serial_registered = arch::without_interrupts(|| {
        SINKS
            .lock()
            .iter()
            .flatten()
            .any(|sink| sink.replaces_early_port())
    });
    if serial_registered {
        None
    } else {
        serial::try_read_byte()
    }
}

/// Takes the next queued byte only (no polling of the early port).
pub fn read_queued_input() -> Option<u8> {
    arch::without_interrupts(|| {
        let mut ring = INPUT.lock();
        (ring.length > 0).then(|| {
            let byte = ring.bytes[ring.head];
            ring.head = (ring.head + 1) % INPUT_CAPACITY;
            ring.length -= 1;
            byte
        })
    })
}
