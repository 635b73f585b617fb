//! Device interrupt lines through the PLIC, one owned handler each.
//!
//! The PLIC routes source `n` to the boot hart's S-mode context (`2 * hart + 1` on QEMU
//! `virt`) when its priority is non-zero and its enable bit is set; the hart claims a
//! pending source, runs its handler and completes it. [`IrqLine`] is the token of an
//! installed handler, as on x86_64: dropping it disables the source and drops the
//! handler.
//!
//! The PLIC is a devicetree device with a driver, [`Plic`]: its probe claims the
//! registers, programs the PLIC (base and source count from the node's `reg` and
//! `riscv,ndev`) and registers it as the kernel's interrupt domain
//! (`crate::bus::interrupt`), so a node's `interrupts = <10>` on it is line 10. The
//! devicetree's links make every device whose interrupt parent it is probe after it.
//! Until it binds, and after it unbinds, there are no lines ([`request`] refuses).

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};

use drivermodel::context::Core;
use drivermodel::{Device, Devres, Driver, IdEntry};
use spin::Mutex;

use super::io::{MmioWindow, Owner};
use super::without_interrupts;
use crate::bus::Claim;
use crate::bus::interrupt::Domain;
use crate::bus::platform::Platform;

/// Sources this kernel can own (`virt` has 95, numbered from 1).
pub const LINES: u32 = 128;

/// Register offsets (the PLIC specification).
mod regs {
    /// Source priorities, one word per source.
    pub const PRIORITY: u64 = 0x0;
    /// Enable bits, 0x80 bytes per context.
    pub const ENABLE: u64 = 0x2000;
    /// Per-context threshold, then claim/complete at +4; 0x1000 bytes per context.
    pub const CONTEXT: u64 = 0x20_0000;
}

/// `sie.SEIE`: supervisor external interrupt enable.
const SIE_SEIE: u64 = 1 << 9;

/// A handler for one line, called in interrupt context with interrupts off.
pub type Handler = Arc<dyn Fn() + Send + Sync>;

static HANDLERS: [Mutex<Option<Handler>>; LINES as usize] =
    [const { Mutex::new(None) }; LINES as usize];
static OWNERS: [Mutex<Option<Owner>>; LINES as usize] =
    [const { Mutex::new(None) }; LINES as usize];

/// The PLIC base (0 before [`init`]) and source count.
static BASE: AtomicU64 = AtomicU64::new(0);
static SOURCES: AtomicU64 = AtomicU64::new(0);
/// The boot hart's S-mode context.
static CONTEXT: AtomicU64 = AtomicU64::new(1);

fn register(offset: u64) -> Option<*mut u32> {
    match BASE.load(Ordering::Relaxed) {
        0 => None,
        base => Some((base + offset) as *mut u32),
    }
}

fn write(offset: u64, value: u32) {
    if let Some(register) = register(offset) {
        // SAFETY: `register` is inside the PLIC's window (from the devicetree), device
        // memory that no Rust object lives in.
        unsafe { register.write_volatile(value) };
    }
}

fn read(offset: u64) -> u32 {
    // SAFETY: as in `write`.
    register(offset).map_or(0, |register| unsafe { register.read_volatile() })
}

fn context_offset() -> u64 {
    CONTEXT.load(Ordering::Relaxed)
}

fn set_enabled(line: u32, enabled: bool) {
    let offset = regs::ENABLE + 0x80 * context_offset() + u64::from(line / 32) * 4;
    let bit = 1 << (line % 32);
    without_interrupts(|| {
        let old = read(offset);
        write(offset, if enabled { old | bit } else { old & !bit });
    });
}

/// Sets up the PLIC at `base` with `sources` sources for hart `hart_id`: every source
/// disabled, threshold 0; then enables external interrupts in `sie`. The caller owns the
/// PLIC's registers (the driver's claimed window) until [`shutdown`].
fn init(base: u64, sources: u32, hart_id: u64) {
    BASE.store(base, Ordering::Relaxed);
    SOURCES.store(u64::from(sources.min(LINES - 1)), Ordering::Relaxed);
    CONTEXT.store(2 * hart_id + 1, Ordering::Relaxed);
    for line in 1..=sources.min(LINES - 1) {
        set_enabled(line, false);
        write(regs::PRIORITY + u64::from(line) * 4, 0);
    }
    write(regs::CONTEXT + 0x1000 * context_offset(), 0);
    // SAFETY: enabling external interrupts; the trap vector dispatches them here.
    unsafe { core::arch::asm!("csrs sie, {0}", in(reg) SIE_SEIE, options(nomem, nostack)) };
}

/// Disables external interrupts and every source, and forgets the PLIC: no lines until
/// the next [`init`].
fn shutdown() {
    // SAFETY: disabling external interrupts touches no memory.
    unsafe { core::arch::asm!("csrc sie, {0}", in(reg) SIE_SEIE, options(nomem, nostack)) };
    let sources = SOURCES.swap(0, Ordering::Relaxed) as u32;
    for line in 1..=sources {
        set_enabled(line, false);
    }
    BASE.store(0, Ordering::Relaxed);
}

/// The PLIC's driver name.
pub const PLIC_DRIVER: &str = "plic";

/// The PLIC driver (see the module docs).
#[derive(Debug)]
pub struct Plic;

static PLIC_IDS: [IdEntry<&str, ()>; 2] = [
    IdEntry::new("sifive,plic-1.0.0", ()),
    IdEntry::new("riscv,plic0", ()),
];

/// A bound PLIC: the kernel's interrupt domain while it lives.
#[derive(Debug)]
pub struct PlicBinding {
    _domain: Domain,
}

impl Driver for Plic {
    type Bus = Platform;
    type IdInfo = ();
    type State = PlicBinding;

    fn name(&self) -> &str {
        PLIC_DRIVER
    }

    fn id_table(&self) -> &[IdEntry<&'static str, ()>] {
        &PLIC_IDS
    }

    fn probe(&self, device: &Device<Core>, _info: &()) -> drivermodel::Result<PlicBinding> {
        let range = device
            .mmio(0)
            .ok_or_else(|| drivermodel::Error::driver("no PLIC registers (reg)"))?;
        let sources = device.read_u32("riscv,ndev")?;
        let hart_id = super::devicetree::facts().map_or(0, |facts| facts.hart_id);
        // Held for the binding: nobody else may map the PLIC's registers meanwhile.
        let window: Devres<MmioWindow> = device.claim_mmio(range)?;
        init(range.start(), sources, hart_id);
        device.devres().add_action_or_reset(move || {
            shutdown();
            drop(window);
        })?;
        let domain = crate::bus::interrupt::register(device)
            .map_err(|taken| drivermodel::Error::driver(alloc::format!("{taken}")))?;
        crate::println!("kernel: PLIC at {:#x}, {sources} sources", range.start());
        Ok(PlicBinding { _domain: domain })
    }
}

pub use super::super::irq_error::IrqError;

/// An owned, enabled interrupt line; dropping it disables the source and drops the
/// handler.
///
/// # Invariants
///
/// `HANDLERS[line]` holds this token's handler and nobody else's.
#[derive(Debug)]
pub struct IrqLine {
    line: u32,
}

impl IrqLine {
    /// The PLIC source number.
    pub fn line(&self) -> u32 {
        self.line
    }
}

/// Installs `handler` for PLIC source `line` and enables it.
///
/// # Errors
///
/// [`IrqError::InvalidLine`], [`IrqError::Busy`].
pub fn request(line: u32, handler: Handler) -> Result<IrqLine, IrqError> {
    request_as(line, handler, "kernel")
}

/// As [`request`], naming the owner for conflict reports.
///
/// # Errors
///
/// [`IrqError::InvalidLine`], [`IrqError::Busy`] (with the holder's name).
pub fn request_as(line: u32, handler: Handler, owner: &str) -> Result<IrqLine, IrqError> {
    if line == 0 || u64::from(line) > SOURCES.load(Ordering::Relaxed) {
        return Err(IrqError::InvalidLine { line });
    }
    let index = line as usize;
    without_interrupts(|| {
        let mut slot = HANDLERS[index].lock();
        let mut holder = OWNERS[index].lock();
        if slot.is_some() {
            return Err(IrqError::Busy {
                line,
                owner: holder.unwrap_or_else(|| Owner::from_ascii(b"?")),
            });
        }
        *slot = Some(handler);
        *holder = Some(Owner::from_fmt(format_args!("{owner}")));
        Ok(())
    })?;
    write(regs::PRIORITY + u64::from(line) * 4, 1);
    set_enabled(line, true);
    // INVARIANT: the handler was installed into an empty slot above.
    Ok(IrqLine { line })
}

impl Drop for IrqLine {
    fn drop(&mut self) {
        set_enabled(self.line, false);
        write(regs::PRIORITY + u64::from(self.line) * 4, 0);
        let index = self.line as usize;
        let handler = without_interrupts(|| {
            OWNERS[index].lock().take();
            HANDLERS[index].lock().take()
        });
        drop(handler);
    }
}

/// Called by the trap handler for a supervisor external interrupt: claims and completes
/// every pending source.
pub(super) fn dispatch() {
    let claim = regs::CONTEXT + 0x1000 * context_offset() + 4;
    loop {
        let line = read(claim);
        if line == 0 {
            return;
        }
        let handler = HANDLERS
            .get(line as usize)
            .and_then(|slot| slot.lock().clone());
        if let Some(handler) = handler {
            handler();
        }
        write(claim, line);
    }
}
