//! Device interrupts: legacy ISA lines routed through the I/O APIC, one handler per line.
//!
//! Why the I/O APIC and not the 8259: under qboot the 8259's output only reaches the CPU
//! through LINT0 programmed as ExtINT, which [`super::apic`] leaves masked; the I/O APIC
//! delivers the same way under SeaBIOS and qboot, on `q35` and `pc`.
//!
//! ISA line `n` arrives on vector [`VECTOR_BASE`]` + n`, delivered to this CPU. Where
//! the I/O APIC is and how each ISA line reaches it (input, polarity, trigger) come from
//! the MADT ([`super::acpi`]); without one, the PC defaults apply: the I/O APIC at
//! 0xFEC0_0000, line 0 on input 2, every other line on its own number, edge triggered,
//! active high. [`init`] checks the MADT's values first (an I/O APIC address aligned,
//! identity-mapped and outside RAM; every override's input one the I/O APIC has) and
//! replaces a bad one by its default with a message ([`acpi::Doubt`]).
//!
//! [`request`] returns an [`IrqLine`] token: while it lives, the line is unmasked and
//! calls its handler; dropping it masks the line and drops the handler. A line has at
//! most one owner.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::{Mutex, Once};
use x86_64::instructions::interrupts;

use super::acpi::{self, Doubt, IsaRoute};
use super::apic;
use super::io::Owner;

/// Vector of ISA line 0; line `n` uses `VECTOR_BASE + n`.
pub const VECTOR_BASE: u8 = 0x40;
/// Number of ISA lines.
pub const LINES: u8 = 16;

/// The I/O APIC's conventional MMIO base, used when the MADT gives none.
const DEFAULT_IO_APIC_BASE: u64 = 0xfec0_0000;

/// Bytes of the I/O APIC's register window (select and data).
const IO_APIC_WINDOW: u64 = 0x20;

/// The I/O APIC's MMIO base in use.
///
/// # Invariants
///
/// The PC default, or the MADT's base once [`init`] checked it with
/// [`acpi::check_register_window`] (16-byte aligned, identity-mapped, outside RAM).
static IO_APIC_BASE: AtomicU64 = AtomicU64::new(DEFAULT_IO_APIC_BASE);

/// The checked route of every ISA line, set by [`init`].
static ROUTES: Once<[IsaRoute; LINES as usize]> = Once::new();

fn io_apic_base() -> u64 {
    IO_APIC_BASE.load(Ordering::Relaxed)
}

/// The PC's route for ISA line `line`: line 0 on input 2, the others on their own.
const fn default_route(line: u8) -> IsaRoute {
    IsaRoute {
        gsi: if line == 0 { 2 } else { line as u32 },
        active_low: false,
        level: false,
    }
}

/// How ISA line `line` reaches the I/O APIC.
fn route_of(line: u8) -> IsaRoute {
    ROUTES
        .get()
        .and_then(|routes| routes.get(usize::from(line)).copied())
        .unwrap_or(default_route(line))
}

/// The I/O APIC base to use, given the MADT's (`None`: no MADT) and the memory map.
///
/// # Errors
///
/// [`Doubt::IoApicBase`] when the MADT's base fails [`acpi::check_register_window`]
/// (the caller uses the default).
pub fn checked_io_apic_base(
    madt: Option<u64>,
    memory: &[crate::memory::MemoryRegion],
) -> Result<u64, Doubt> {
    let Some(base) = madt else {
        return Ok(DEFAULT_IO_APIC_BASE);
    };
    acpi::check_register_window(base, IO_APIC_WINDOW, 16, memory)
        .map_err(|reason| Doubt::IoApicBase { base, reason })
}

/// ISA line `line`'s route from the MADT, if the I/O APIC (with `inputs` inputs) has
/// its input.
///
/// # Errors
///
/// [`Doubt::OverrideBeyondIoApic`] (the caller uses `default_route`).
pub fn checked_route(line: u8, route: IsaRoute, inputs: u32) -> Result<IsaRoute, Doubt> {
    if route.gsi < inputs {
        Ok(route)
    } else {
        Err(Doubt::OverrideBeyondIoApic {
            line,
            gsi: route.gsi,
            inputs,
        })
    }
}

/// I/O APIC registers (82093AA datasheet).
mod regs {
    /// Register select (MMIO offset).
    pub const SELECT: u64 = 0x00;
    /// Register data window (MMIO offset).
    pub const WINDOW: u64 = 0x10;
    /// Version register index: bits 16..24 hold the highest redirection entry.
    pub const VERSION: u32 = 0x01;
    /// Low half of redirection entry 0; entry `n` is at `0x10 + 2n`.
    pub const REDIRECTION_BASE: u32 = 0x10;
    /// Redirection entry bit: active-low polarity.
    pub const ACTIVE_LOW: u32 = 1 << 13;
    /// Redirection entry bit: level triggered.
    pub const LEVEL: u32 = 1 << 15;
    /// Redirection entry bit: masked.
    pub const MASKED: u32 = 1 << 16;
}

/// A handler for one line, called in interrupt context with interrupts off.
pub type Handler = Arc<dyn Fn() + Send + Sync>;

static HANDLERS: [Mutex<Option<Handler>>; LINES as usize] =
    [const { Mutex::new(None) }; LINES as usize];

/// Who holds each line (set and cleared with its handler), for conflict reports.
static OWNERS: [Mutex<Option<Owner>>; LINES as usize] =
    [const { Mutex::new(None) }; LINES as usize];

/// Serialises register-select/window pairs.
static IO_APIC: Mutex<()> = Mutex::new(());

fn read_register(index: u32) -> u32 {
    let base = io_apic_base();
    let _guard = IO_APIC.lock();
    // SAFETY: by `IO_APIC_BASE`'s invariant `base` is the PC default or a MADT base
    // checked to be 16-byte aligned, identity-mapped and outside every RAM region, so the
    // window is device memory that no Rust object lives in; the lock keeps the
    // select/window pair together.
    unsafe {
        ((base + regs::SELECT) as *mut u32).write_volatile(index);
        ((base + regs::WINDOW) as *const u32).read_volatile()
    }
}

fn write_register(index: u32, value: u32) {
    let base = io_apic_base();
    let _guard = IO_APIC.lock();
    // SAFETY: as in `read_register`.
    unsafe {
        ((base + regs::SELECT) as *mut u32).write_volatile(index);
        ((base + regs::WINDOW) as *mut u32).write_volatile(value);
    }
}

fn set_entry(input: u32, low: u32, destination: u8) {
    let index = regs::REDIRECTION_BASE + 2 * input;
    write_register(index, regs::MASKED);
    write_register(index + 1, u32::from(destination) << 24);
    write_register(index, low);
}

/// Checks the MADT's values, then masks every I/O APIC input. Called once at boot,
/// after [`apic::init`].
pub fn init() {
    let report = |doubt: Doubt| {
        super::serial::write_fmt(format_args!("kernel: {doubt}\n"));
    };
    let routing = acpi::interrupt_routing();
    let memory = super::platform::memory_map().unwrap_or(&[]);
    let base = checked_io_apic_base(routing.map(|routing| routing.io_apic_base), memory)
        .unwrap_or_else(|doubt| {
            report(doubt);
            DEFAULT_IO_APIC_BASE
        });
    // INVARIANT: checked by `checked_io_apic_base`, or the default.
    IO_APIC_BASE.store(base, Ordering::Relaxed);
    let entries = (read_register(regs::VERSION) >> 16) & 0xff;
    let inputs = entries + 1;
    ROUTES.call_once(|| {
        core::array::from_fn(|line| {
            let line = line as u8;
            let route = routing.map_or(default_route(line), |routing| {
                routing.isa[usize::from(line)]
            });
            checked_route(line, route, inputs).unwrap_or_else(|doubt| {
                report(doubt);
                default_route(line)
            })
        })
    });
    for input in 0..=entries.min(23) {
        set_entry(input, regs::MASKED, 0);
    }
}

pub use super::super::irq_error::IrqError;

/// An owned, unmasked interrupt line; dropping it masks the line and drops the handler.
///
/// # Invariants
///
/// `HANDLERS[line]` holds this token's handler and nobody else's.
#[derive(Debug)]
pub struct IrqLine {
    line: u8,
}

impl IrqLine {
    /// The ISA line number.
    pub fn line(&self) -> u8 {
        self.line
    }
}

/// Installs `handler` for ISA line `line` and unmasks it.
///
/// # Errors
///
/// [`IrqError::InvalidLine`], [`IrqError::Busy`].
pub fn request(line: u32, handler: Handler) -> Result<IrqLine, IrqError> {
    request_as(line, handler, "kernel")
}

/// As [`request`], naming the owner for conflict reports (for example
/// `"uart16550 uart16550.0"`).
///
/// # Errors
///
/// [`IrqError::InvalidLine`], [`IrqError::Busy`] (with the holder's name).
pub fn request_as(line: u32, handler: Handler, owner: &str) -> Result<IrqLine, IrqError> {
    let Ok(line) = u8::try_from(line) else {
        return Err(IrqError::InvalidLine { line });
    };
    if line >= LINES || line == 2 {
        return Err(IrqError::InvalidLine { line: line.into() });
    }
    interrupts::without_interrupts(|| {
        let mut slot = HANDLERS[usize::from(line)].lock();
        let mut holder = OWNERS[usize::from(line)].lock();
        if slot.is_some() {
            return Err(IrqError::Busy {
                line: line.into(),
                owner: holder.unwrap_or_else(|| Owner::from_ascii(b"?")),
            });
        }
        *slot = Some(handler);
        *holder = Some(Owner::from_fmt(format_args!("{owner}")));
        Ok(())
    })?;
    let route = route_of(line);
    let mut low = u32::from(VECTOR_BASE + line);
    if route.active_low {
        low |= regs::ACTIVE_LOW;
    }
    if route.level {
        low |= regs::LEVEL;
    }
    set_entry(route.gsi, low, apic::local_apic_id());
    // INVARIANT: the handler was installed into an empty slot above.
    Ok(IrqLine { line })
}

impl Drop for IrqLine {
    fn drop(&mut self) {
        set_entry(route_of(self.line).gsi, regs::MASKED, 0);
        let handler = interrupts::without_interrupts(|| {
            OWNERS[usize::from(self.line)].lock().take();
            HANDLERS[usize::from(self.line)].lock().take()
        });
        drop(handler);
    }
}

/// Called by the IDT dispatcher for vectors `VECTOR_BASE..VECTOR_BASE + LINES`.
pub(super) fn dispatch(line: u8) {
    let handler = HANDLERS
        .get(usize::from(line))
        .and_then(|slot| slot.lock().clone());
    if let Some(handler) = handler {
        handler();
    }
    apic::end_of_interrupt();
}
