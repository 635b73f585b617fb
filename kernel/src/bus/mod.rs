//! The kernel's buses, and how a bound driver claims its device's resources.
//!
//! - [`platform`]: legacy devices from a static board table, matched by name, and the
//!   devicetree's devices, matched by `compatible`;
//! - [`interrupt`]: which devicetree interrupts are the kernel's interrupt lines;
//! - [`virtio`]: the devicetree's virtio-mmio slots and what they hold;
//! - [`pci`]: configuration-space enumeration, BARs, ID-table matching;
//! - the faux bus is drivermodel's own (`drivermodel::faux`).
//!
//! # Resource ownership
//!
//! A driver claims the I/O ports, MMIO ranges and interrupt lines of the device it is
//! bound to through [`Claim`], implemented for `Device<Bound>`: the proof that the
//! binding is alive. A claim must lie inside a resource the device describes, and is
//! refused if any part of it is held by someone else ([`Error::Claim`] names the owner;
//! a probe that passes it on with `?` fails with the typed
//! [`drivermodel::Error::ResourceBusy`], naming the resource and its holder).
//! The claimed window is returned as a [`Devres`]: it is revoked, and the range released,
//! when the binding ends (unbind, failed probe, device delete), newest first, whatever the
//! driver does.

pub mod interrupt;
pub mod pci;
pub mod platform;
pub mod virtio;

use alloc::format;
use core::fmt;

use drivermodel::context::Bound;
use drivermodel::device::BindingState;
use drivermodel::resource::{IoPortRange, Irq, MmioRange, Resource};
use drivermodel::{Device, Devres};

use crate::arch::io::{self, ClaimError, MmioWindow, PortWindow, Span};
use crate::arch::irq::{self, Handler, IrqError, IrqLine};
use crate::text::FixedString;

/// Why a bus operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The range is held by someone else (or invalid, or not device memory).
    Claim(ClaimError),
    /// The range is not among the device's resources.
    NotDescribed {
        /// What was asked for.
        requested: Span,
    },
    /// The interrupt line could not be taken.
    Irq(IrqError),
    /// The device has no such BAR, or it is not of the asked kind.
    NoSuchBar {
        /// The BAR index.
        index: u8,
    },
    /// The device is not a PCI function.
    NotPci,
    /// The PCI configuration ports are not available.
    NoConfigSpace,
    /// No board-table entry of this name.
    UnknownBoardDevice,
    /// No registered device of this name on the bus.
    NoSuchDevice,
    /// The bus is not set up.
    NotInitialized,
    /// The device model refused.
    Model(drivermodel::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Claim(error) => write!(formatter, "{error}"),
            Self::NotDescribed { requested } => {
                write!(formatter, "{requested}: not a resource of this device")
            }
            Self::Irq(error) => write!(formatter, "{error}"),
            Self::NoSuchBar { index } => write!(formatter, "no usable BAR {index}"),
            Self::NotPci => write!(formatter, "not a PCI device"),
            Self::NoConfigSpace => write!(formatter, "PCI configuration space not available"),
            Self::UnknownBoardDevice => write!(formatter, "no such device in the board table"),
            Self::NoSuchDevice => write!(formatter, "no such device on the bus"),
            Self::NotInitialized => write!(formatter, "the bus is not set up"),
            Self::Model(error) => write!(formatter, "{error}"),
        }
    }
}

impl core::error::Error for Error {}

impl From<ClaimError> for Error {
    fn from(error: ClaimError) -> Self {
        Self::Claim(error)
    }
}

impl From<IrqError> for Error {
    fn from(error: IrqError) -> Self {
        Self::Irq(error)
    }
}

impl From<drivermodel::Error> for Error {
    fn from(error: drivermodel::Error) -> Self {
        Self::Model(error)
    }
}

impl From<Error> for drivermodel::Error {
    /// A conflict (ports, MMIO, an interrupt line held by someone else) becomes
    /// [`drivermodel::Error::ResourceBusy`] naming the resource and its holder, so a
    /// refused probe or bind says who holds what; other failures keep their message.
    fn from(error: Error) -> Self {
        match error {
            Error::Model(error) => error,
            Error::Claim(ClaimError::Conflict {
                requested, owner, ..
            }) => match span_resource(requested) {
                Some(resource) => drivermodel::Error::resource_busy(resource, owner.as_str()),
                None => drivermodel::Error::driver(format!("{error}")),
            },
            Error::Irq(IrqError::Busy { line, owner }) => {
                drivermodel::Error::resource_busy(Resource::Irq(Irq(line)), owner.as_str())
            }
            other => drivermodel::Error::driver(format!("{other}")),
        }
    }
}

/// The device-model resource a claim span names (`None` only for an invalid span, which
/// a conflict never has).
fn span_resource(span: Span) -> Option<Resource> {
    match span {
        Span::Ports { start, length } => {
            IoPortRange::new(start, length).ok().map(Resource::IoPorts)
        }
        Span::Memory { start, length } => MmioRange::new(start, length).ok().map(Resource::Mmio),
    }
}

/// The result type of bus operations.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Claims on a bound device's resources, released with the binding (see the module docs).
pub trait Claim {
    /// Claims I/O ports `range`, which must lie in one of the device's port resources.
    ///
    /// # Errors
    ///
    /// [`Error::NotDescribed`], [`Error::Claim`] (held by another owner, named),
    /// [`Error::Model`] if the devres node cannot be added.
    fn claim_io(&self, range: IoPortRange) -> Result<Devres<PortWindow>>;

    /// Claims MMIO `range`, which must lie in one of the device's MMIO resources.
    ///
    /// # Errors
    ///
    /// As [`claim_io`](Self::claim_io).
    fn claim_mmio(&self, range: MmioRange) -> Result<Devres<MmioWindow>>;

    /// Takes interrupt line `irq`, which must be one of the device's (a board line, or a
    /// devicetree interrupt of the kernel's domain, see [`interrupt`]), with `handler`
    /// (called in interrupt context). The line is masked and the handler dropped when the
    /// binding ends.
    ///
    /// # Errors
    ///
    /// [`Error::Irq`]: `InvalidLine` for a line the device does not describe (or no ISA
    /// line), `Busy` for a line someone else holds; [`Error::Model`] if the devres node
    /// cannot be added.
    fn request_irq(&self, irq: Irq, handler: Handler) -> Result<Devres<IrqLine>>;
}

/// `driver device` for the claim table, e.g. `uart16550 uart16550.0`.
fn owner_of(device: &Device) -> FixedString<64> {
    let driver = match device.binding_state() {
        BindingState::Bound { driver }
        | BindingState::Probing { driver }
        | BindingState::Unbinding { driver } => driver,
        _ => "?".into(),
    };
    FixedString::from_fmt(format_args!("{driver} {}", device.name()))
}

impl Claim for Device<Bound> {
    fn claim_io(&self, range: IoPortRange) -> Result<Devres<PortWindow>> {
        let requested = Span::Ports {
            start: range.start(),
            length: range.length(),
        };
        let described = self.resources().iter().any(|resource| match resource {
            Resource::IoPorts(own) => {
                own.start() <= range.start()
                    && u32::from(range.start()) + u32::from(range.length())
                        <= u32::from(own.start()) + u32::from(own.length())
            }
            _ => false,
        });
        if !described {
            return Err(Error::NotDescribed { requested });
        }
        let window = io::claim_ports(range.start(), range.length(), owner_of(self).as_str())?;
        Ok(Devres::new(self, window)?)
    }

    fn claim_mmio(&self, range: MmioRange) -> Result<Devres<MmioWindow>> {
        let requested = Span::Memory {
            start: range.start(),
            length: range.length(),
        };
        let described = self.resources().iter().any(|resource| match resource {
            Resource::Mmio(own) => own.start() <= range.start() && range.end() <= own.end(),
            _ => false,
        });
        if !described {
            return Err(Error::NotDescribed { requested });
        }
        let window = io::claim_mmio(range.start(), range.length(), owner_of(self).as_str())?;
        Ok(Devres::new(self, window)?)
    }

    fn request_irq(&self, line: Irq, handler: Handler) -> Result<Devres<IrqLine>> {
        if !interrupt::describes(self, line) {
            return Err(Error::Irq(IrqError::InvalidLine { line: line.0 }));
        }
        let line = irq::request_as(line.0, handler, owner_of(self).as_str())?;
        Ok(Devres::new(self, line)?)
    }
}
