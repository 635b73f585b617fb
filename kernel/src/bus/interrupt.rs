//! Interrupt domains: which devicetree interrupts are the kernel's interrupt lines.
//!
//! A devicetree device's interrupts are [`Interrupt`] resources naming their controller
//! and the controller's specifier cells; the kernel's interrupt layer (`arch::irq`)
//! numbers lines of its own. The driver of the controller the kernel programs (the PLIC
//! on riscv64) registers that controller here as the kernel's domain while it is bound,
//! and an interrupt of that controller with a one-cell specifier is line `cells[0]`
//! (Linux's one-cell `irq_domain` translation). A board device's interrupts are plain
//! [`Irq`] lines already.

use drivermodel::Device;
use drivermodel::resource::{Controller, Interrupt, Irq, Resource};
use spin::Mutex;

use crate::arch;

/// The controller whose specifiers are kernel lines, while its driver is bound.
static DOMAIN: Mutex<Option<Controller>> = Mutex::new(None);

/// The kernel's interrupt domain, registered; dropping it unregisters it.
#[derive(Debug)]
pub struct Domain(());

impl Drop for Domain {
    fn drop(&mut self) {
        let old = arch::without_interrupts(|| DOMAIN.lock().take());
        drop(old);
    }
}

/// Why a domain could not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainTaken;

impl core::fmt::Display for DomainTaken {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.write_str("another interrupt controller is the kernel's domain")
    }
}

/// Makes `controller`'s interrupts the kernel's lines until the returned value drops.
///
/// # Errors
///
/// [`DomainTaken`] if another controller is registered.
pub fn register(controller: &Device) -> Result<Domain, DomainTaken> {
    arch::without_interrupts(|| {
        let mut domain = DOMAIN.lock();
        if domain.is_some() {
            return Err(DomainTaken);
        }
        *domain = Some(Controller::of(controller));
        Ok(Domain(()))
    })
}

/// The kernel line of `interrupt`, if its controller is the registered domain and its
/// specifier is one cell.
pub fn line(interrupt: &Interrupt) -> Option<Irq> {
    let controller = interrupt.controller()?;
    let ours = arch::without_interrupts(|| DOMAIN.lock().as_ref() == Some(controller));
    match interrupt.cells() {
        [line] if ours => Some(Irq(*line)),
        _ => None,
    }
}

/// The kernel line of `device`'s `index`-th interrupt: its `index`-th [`Irq`] resource,
/// or, for a device without any, its `index`-th [`Interrupt`] translated by [`line()`].
pub fn irq(device: &Device, index: usize) -> Option<Irq> {
    let has_lines = device
        .resources()
        .iter()
        .any(|resource| matches!(resource, Resource::Irq(_)));
    if has_lines {
        device.irq(index)
    } else {
        device.interrupt(index).and_then(line)
    }
}

/// Whether `line` is one of `device`'s interrupts (a plain line or a translated one).
pub fn describes(device: &Device, line: Irq) -> bool {
    device.resources().iter().any(|resource| match resource {
        Resource::Irq(own) => *own == line,
        Resource::Interrupt(interrupt) => self::line(interrupt) == Some(line),
        _ => false,
    })
}
