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
//! Input is never lost silently. A receiver with flow control stops taking bytes when
//! the ring is full ([`input_room`], [`throttle_input`]) and is resumed through
//! [`Sink::resume_input`] when the shell has drained half of it; the 16550 driver does
//! this, so a paste waits in the UART's FIFO and the sender rather than overflowing.
//! Where bytes are lost anyway (a receiver without flow control, a UART overrun), the
//! ring records an [`Input::Lost`] mark at that point, and the shell refuses the line
//! the loss fell in. [`input_statistics`] counts both.
//!
//! Nothing here allocates: sinks are `Arc`s cloned under a lock, the ring is static.
//!
//! With several CPUs, each [`write_fmt`] call's text comes out whole: a console-wide
//! writer lock (`Writer`) is held across it. Its holder's CPU re-enters it freely (an
//! interrupt handler that prints in the middle of its own CPU's line interleaves with
//! it, as on one CPU, rather than deadlocking); another CPU waits with interrupts on.
//! See [`crate::sync`] for the kernel's lock rules.
//!
//! # Holding a driver's device from the console
//!
//! The sink list is a global, so a sink must not own its device: no counted device
//! reference, no `Devres`, no `Arc` of a port that holds one (each would keep the device
//! object alive from here, and a write after unbind would have to find out on its own).
//! A driver's sink holds a [`drivermodel::DriverData`] of its binding's state instead
//! (the 16550's does): it keeps nothing alive, a write runs while the binding is alive
//! and holds the unbind off for that short time, and after the binding ended the write
//! fails and the console falls back to the early port. The driver still unregisters its
//! sink at unbind (a devres value), so a rebind can register again.

use alloc::sync::Arc;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

pub use kernel_core::shell::line::Input;

use crate::arch::{self, serial};
use crate::text::FixedString;

/// A console output device. See the [module docs](self) for how a driver's sink reaches
/// its device.
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

    /// The console has room for input again after [`throttle_input`]: a receiver that
    /// held bytes back takes them again. Called on the serial sink only.
    fn resume_input(&self) {}
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

/// Bytes handed to the serial sink per interrupts-off section.
const SERIAL_PIECE: usize = 8;

/// Expands `\n` to `\r\n` into a small buffer and hands it to the sink in pieces.
struct SinkWriter<'a> {
    sink: &'a dyn Sink,
    /// Write each piece with interrupts off (the serial sink: its transmit lock must not
    /// be re-entered by an interrupt), rather than with them on (a display: drawing a
    /// line takes milliseconds, and the UART's receive FIFO overruns in about 1.4 ms).
    quiet: bool,
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
        let written = if self.quiet {
            // Eight bytes at a time: 0.7 ms at 115200 baud on a real UART, so a receive
            // interrupt waits less than half the 1.4 ms its FIFO lasts.
            bytes
                .chunks(SERIAL_PIECE)
                .all(|piece| quietly(|| self.sink.write_bytes(piece)))
        } else {
            self.sink.write_bytes(bytes)
        };
        if written {
            if self.sink.replaces_early_port() {
                SINK_BYTES.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
            Ok(())
        } else {
            Err(fmt::Error)
        }
    }
}

/// The longest stretch, in counter cycles, that console output kept interrupts off.
static LONGEST_QUIET: AtomicU64 = AtomicU64::new(0);
/// Interrupts-off sections of console output, and their cycles in all.
static QUIET_SECTIONS: AtomicU64 = AtomicU64::new(0);
static QUIET_CYCLES: AtomicU64 = AtomicU64::new(0);

/// Runs `function` with interrupts off and records how long that took (a diagnostic for
/// [`longest_interrupts_off_micros`]).
fn quietly<R>(function: impl FnOnce() -> R) -> R {
    arch::without_interrupts(|| {
        let start = arch::time::counter();
        let result = function();
        let cycles = arch::time::counter().wrapping_sub(start);
        LONGEST_QUIET.fetch_max(cycles, Ordering::Relaxed);
        QUIET_SECTIONS.fetch_add(1, Ordering::Relaxed);
        QUIET_CYCLES.fetch_add(cycles, Ordering::Relaxed);
        result
    })
}

/// The longest time console output kept interrupts off since boot or the last
/// [`reset_interrupts_off`], in microseconds.
pub fn longest_interrupts_off_micros() -> u64 {
    arch::time::cycles_to_micros(LONGEST_QUIET.load(Ordering::Relaxed))
}

/// How many interrupts-off sections console output had since the last
/// [`reset_interrupts_off`], and their mean length in microseconds (the longest one on a
/// loaded host is often a host preemption; the mean shows the typical cost).
pub fn interrupts_off_sections() -> (u64, u64) {
    let sections = QUIET_SECTIONS.load(Ordering::Relaxed);
    let cycles = QUIET_CYCLES.load(Ordering::Relaxed);
    (
        sections,
        arch::time::cycles_to_micros(cycles / sections.max(1)),
    )
}

/// Starts a new [`longest_interrupts_off_micros`] measurement.
pub fn reset_interrupts_off() {
    LONGEST_QUIET.store(0, Ordering::Relaxed);
    QUIET_SECTIONS.store(0, Ordering::Relaxed);
    QUIET_CYCLES.store(0, Ordering::Relaxed);
}

/// The console-wide writer lock (see the module docs): the number of the CPU holding it
/// plus one, or 0.
struct Writer;

static WRITER: AtomicU64 = AtomicU64::new(0);

impl Writer {
    /// Takes the writer lock, or re-enters it on the CPU that holds it (`None`: nothing
    /// to release).
    fn lock() -> Option<Self> {
        let me = arch::cpu::current() as u64 + 1;
        if WRITER.load(Ordering::Acquire) == me {
            return None;
        }
        while WRITER
            .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        Some(Self)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        WRITER.store(0, Ordering::Release);
    }
}

/// Writes formatted text to the console; used by [`crate::print!`].
///
/// Interrupts stay on except for short sections: copying the sink list, and each piece
/// of at most 8 bytes handed to the serial sink. Display sinks draw with interrupts on,
/// after the serial sink, so that the UART's receive interrupt keeps taking input while
/// a line is drawn ([`longest_interrupts_off_micros`] measures what is left). A display
/// sink must therefore not wait for a lock an interrupted writer may hold (the log
/// client's sink drops text when its console is busy).
pub fn write_fmt(arguments: fmt::Arguments<'_>) {
    let _writer = Writer::lock();
    let sinks = quietly(|| SINKS.lock().clone());
    let mut serial_done = false;
    for sink in sinks
        .iter()
        .flatten()
        .filter(|sink| sink.replaces_early_port())
    {
        // A serial sink whose device went away mid-line leaves the line to the early
        // port.
        serial_done |= SinkWriter {
            sink: &**sink,
            quiet: true,
        }
        .write_fmt(arguments)
        .is_ok();
    }
    if !serial_done {
        serial::write_fmt(arguments);
    }
    for sink in sinks
        .iter()
        .flatten()
        .filter(|sink| !sink.replaces_early_port())
    {
        // A display that is gone drops the line; the serial log has it.
        let _ = SinkWriter {
            sink: &**sink,
            quiet: false,
        }
        .write_fmt(arguments);
    }
}

/// Capacity of the input ring, in entries (bytes and loss marks).
pub const INPUT_CAPACITY: usize = 1024;

/// The receive ring.
///
/// # Invariants
///
/// The ring is full only when its newest entry is an [`Input::Lost`]: the last free slot
/// is kept for the mark, so a loss is always recorded where it happened, and further
/// losses add to that mark's count.
struct InputRing {
    entries: [Input; INPUT_CAPACITY],
    head: usize,
    length: usize,
    statistics: InputStatistics,
    /// The receiver was asked to hold input back ([`throttle_input`]).
    throttled: bool,
}

impl InputRing {
    fn push(&mut self, input: Input) {
        let newest = (self.head + self.length + INPUT_CAPACITY - 1) % INPUT_CAPACITY;
        match input {
            Input::Byte(_) if self.length < INPUT_CAPACITY - 1 => {
                self.statistics.received += 1;
            }
            Input::Byte(_) | Input::Lost { .. } if self.length == INPUT_CAPACITY => {
                // INVARIANT: full, so the newest entry is a loss mark; count into it.
                let count = match input {
                    Input::Lost { count } => count.max(1),
                    Input::Byte(_) => 1,
                };
                self.statistics.dropped += u64::from(count);
                if let Input::Lost { count: total } = &mut self.entries[newest] {
                    *total = total.saturating_add(count);
                }
                return;
            }
            Input::Byte(_) => {
                // INVARIANT: the last free slot takes the mark, not the byte.
                self.statistics.dropped += 1;
                return self.append(Input::Lost { count: 1 });
            }
            Input::Lost { count } => self.statistics.dropped += u64::from(count.max(1)),
        }
        self.append(input);
    }

    fn append(&mut self, input: Input) {
        let tail = (self.head + self.length) % INPUT_CAPACITY;
        self.entries[tail] = input;
        self.length += 1;
    }

    fn pop(&mut self) -> Option<Input> {
        (self.length > 0).then(|| {
            let input = self.entries[self.head];
            self.head = (self.head + 1) % INPUT_CAPACITY;
            self.length -= 1;
            input
        })
    }
}

/// What the receive path did since boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InputStatistics {
    /// Bytes queued for the shell.
    pub received: u64,
    /// Bytes lost: the ring was full, or a receiver reported an overrun.
    pub dropped: u64,
    /// Times a receiver was told to hold input back because the ring was full.
    pub throttled: u64,
}

static INPUT: Mutex<InputRing> = Mutex::new(InputRing {
    entries: [Input::Byte(0); INPUT_CAPACITY],
    head: 0,
    length: 0,
    statistics: InputStatistics {
        received: 0,
        dropped: 0,
        throttled: 0,
    },
    throttled: false,
});

/// Queues a received byte (from a console driver's receive interrupt). A full ring drops
/// the byte and records the loss at this point of the input (the shell refuses the line
/// it fell in). A receiver with flow control checks [`input_room`] first.
pub fn push_input(byte: u8) {
    arch::without_interrupts(|| INPUT.lock().push(Input::Byte(byte)));
}

/// Records that a receiver lost `count` bytes here (a UART overrun: at least one).
pub fn push_lost_input(count: u32) {
    arch::without_interrupts(|| INPUT.lock().push(Input::Lost { count }));
}

/// How many more bytes the ring takes without a loss.
pub fn input_room() -> usize {
    arch::without_interrupts(|| (INPUT_CAPACITY - 1).saturating_sub(INPUT.lock().length))
}

/// A receiver stopped taking bytes because [`input_room`] was 0 (it left them in its
/// FIFO, which holds the sender back). When the shell has taken half the ring, the
/// console calls the serial sink's [`Sink::resume_input`].
pub fn throttle_input() {
    arch::without_interrupts(|| {
        let mut ring = INPUT.lock();
        ring.throttled = true;
        ring.statistics.throttled += 1;
    });
}

/// The receive path's counters since boot.
pub fn input_statistics() -> InputStatistics {
    arch::without_interrupts(|| INPUT.lock().statistics)
}

/// The next input: from the ring, or, with no console driver registered, polled from
/// the early port.
pub fn read_input() -> Option<Input> {
    if let Some(input) = read_queued_input() {
        return Some(input);
    }
    if serial_sink().is_some() {
        None
    } else {
        serial::try_read_byte().map(Input::Byte)
    }
}

/// The registered serial (early-port-replacing) sink.
fn serial_sink() -> Option<Arc<dyn Sink>> {
    arch::without_interrupts(|| {
        SINKS
            .lock()
            .iter()
            .flatten()
            .find(|sink| sink.replaces_early_port())
            .cloned()
    })
}

/// Takes the next queued input only (no polling of the early port). A throttled
/// receiver is resumed once half the ring is free.
pub fn read_queued_input() -> Option<Input> {
    let (input, resume) = arch::without_interrupts(|| {
        let mut ring = INPUT.lock();
        let input = ring.pop();
        let resume = ring.throttled && ring.length <= INPUT_CAPACITY / 2;
        if resume {
            ring.throttled = false;
        }
        (input, resume)
    });
    if resume && let Some(sink) = serial_sink() {
        sink.resume_input();
    }
    input
}
