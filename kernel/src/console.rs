//! The kernel console: where `print!` goes and where typed bytes come from.
//!
//! Output goes to the registered console [`Sink`] (the 16550 driver registers one when it
//! binds), or, while none is registered, to the early serial port in [`arch::serial`]:
//! the boot log before the driver binds, and the fallback after it unbinds. Input bytes
//! are pushed by the sink's receive interrupt into a fixed ring ([`push_input`]) and
//! taken by the shell ([`read_input`]); with no sink registered, [`read_input`] polls the
//! early port instead, so the shell keeps working while the UART driver is unbound.
//!
//! Nothing here allocates: the sink is an `Arc` cloned under a lock, the ring is static.

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

    /// Writes `text` (`\n` already expanded to `\r\n`, see [`write_fmt`]). Returns
    /// `false` if the device is gone, so the caller falls back to the early port.
    fn write_bytes(&self, text: &[u8]) -> bool;
}

static SINK: Mutex<Option<Arc<dyn Sink>>> = Mutex::new(None);
/// Bytes written through a registered sink since boot.
static SINK_BYTES: AtomicU64 = AtomicU64::new(0);

/// A registered sink; dropping it unregisters it (output falls back to the early port).
#[derive(Debug)]
pub struct Registration {
    _private: (),
}

impl Drop for Registration {
    fn drop(&mut self) {
        let old = arch::without_interrupts(|| SINK.lock().take());
        drop(old);
    }
}

/// Another sink is registered already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

impl fmt::Display for Busy {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a console is registered already")
    }
}

impl core::error::Error for Busy {}

/// Makes `sink` the console.
///
/// # Errors
///
/// [`Busy`] if another sink is registered.
pub fn register(sink: Arc<dyn Sink>) -> Result<Registration, Busy> {
    arch::without_interrupts(|| {
        let mut slot = SINK.lock();
        if slot.is_some() {
            return Err(Busy);
        }
        *slot = Some(sink);
        Ok(Registration { _private: () })
    })
}

/// The registered sink's name, if any.
pub fn sink_name() -> Option<FixedString<32>> {
    let sink = arch::without_interrupts(|| SINK.lock().clone());
    sink.map(|sink| FixedString::from_fmt(format_args!("{}", sink.name())))
}

/// Bytes written through a registered sink since boot.
pub fn sink_bytes() -> u64 {
    SINK_BYTES.load(Ordering::Relaxed)
}

/// Expands `\n` to `\r\n` into a small buffer and hands it to the sink in pieces.
struct SinkWriter<'a> {
    sink: &'a dyn Sink,
    failed: bool,
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
            SINK_BYTES.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            Ok(())
        } else {
            self.failed = true;
            Err(fmt::Error)
        }
    }
}

/// Writes formatted text to the console; used by [`crate::print!`].
pub fn write_fmt(arguments: fmt::Arguments<'_>) {
    arch::without_interrupts(|| {
        let sink = SINK.lock().clone();
        match sink {
            Some(sink) => {
                let mut writer = SinkWriter {
                    sink: &*sink,
                    failed: false,
                };
                if writer.write_fmt(arguments).is_err() && writer.failed {
                    // The device went away mid-line: the rest goes to the early port.
                    serial::write_fmt(arguments);
                }
            }
            None => serial::write_fmt(arguments),
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
    let queued = arch::without_interrupts(|| {
        let mut ring = INPUT.lock();
        (ring.length > 0).then(|| {
            let byte = ring.bytes[ring.head];
            ring.head = (ring.head + 1) % INPUT_CAPACITY;
            ring.length -= 1;
            byte
        })
    });
    if queued.is_some() {
        return queued;
    }
    let registered = arch::without_interrupts(|| SINK.lock().is_some());
    if registered {
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
