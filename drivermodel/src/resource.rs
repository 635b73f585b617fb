//! Typed hardware resources a device describes: I/O port ranges, MMIO ranges, interrupts
//! (a flat line number, or a controller and its specifier cells) and kinds the crate does
//! not know. Properties live in [`property`](crate::property).
//!
//! Each type has one checking constructor (`new`), after which it is trusted: a range is
//! never empty and never wraps around its address space, a specifier has at most
//! [`Interrupt::MAX_CELLS`] cells.
//!
//! Nothing here is tied to an architecture: addresses are `u64` physical addresses, and
//! an [`Interrupt`] means what its controller's binding says (one PLIC source number on
//! RISC-V, three GIC cells on Arm). Claims (who owns which range) are the kernel's
//! business; [`Error::ResourceBusy`] is how its claim code reports a conflict.
//!
//! ```
//! use drivermodel::{DeviceBuilder, DeviceModel};
//! use drivermodel::resource::{Controller, Interrupt, MmioRange, OtherResource, Resource};
//!
//! let model = DeviceModel::new();
//! let plic = model.add_device(DeviceBuilder::new("c000000.plic"))?;
//! let uart = model.add_device(
//!     DeviceBuilder::new("10000000.serial")
//!         .resource(Resource::Mmio(MmioRange::new(0x1000_0000, 0x100)?))
//!         .resource(Resource::Interrupt(Interrupt::new(Some(Controller::of(&plic)), &[10])?))
//!         .resource(Resource::Other(OtherResource::new("dma-channel", 3, 1)?)),
//! )?;
//! let interrupt = uart.interrupt(0).unwrap();
//! assert_eq!(interrupt.cells(), [10]);
//! assert!(interrupt.controller().unwrap().device().unwrap().same_as(&plic));
//! assert_eq!(uart.resources()[1].to_string(), "interrupt <0xa> on c000000.plic");
//! # drop((uart, plic));
//! # Ok::<(), drivermodel::Error>(())
//! ```

#![forbid(unsafe_code)]

use alloc::sync::{Arc, Weak};

use core::fmt;

use crate::device::{ARef, Device};
use crate::error::{Error, Result};

/// A range of x86-style I/O ports, `start .. start + length`.
///
/// # Invariants
///
/// `length > 0` and `start + length <= 0x1_0000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IoPortRange {
    start: u16,
    length: u16,
}

impl IoPortRange {
    /// A port range.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidResource`] if `length` is 0 or the range goes past port 0xffff.
    pub const fn new(start: u16, length: u16) -> Result<Self> {
        if length == 0 {
            return Err(Error::InvalidResource {
                reason: "empty I/O port range",
            });
        }
        if start as u32 + length as u32 > 0x1_0000 {
            return Err(Error::InvalidResource {
                reason: "I/O port range past 0xffff",
            });
        }
        // INVARIANT: checked just above.
        Ok(Self { start, length })
    }

    /// The first port.
    pub const fn start(&self) -> u16 {
        self.start
    }

    /// How many ports.
    pub const fn length(&self) -> u16 {
        self.length
    }

    /// Whether `port` lies in the range.
    pub const fn contains(&self, port: u16) -> bool {
        port >= self.start && (port - self.start) < self.length
    }
}

/// A range of memory-mapped I/O, `start .. start + length` in physical addresses.
///
/// # Invariants
///
/// `length > 0` and `start + length` does not overflow `u64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MmioRange {
    start: u64,
    length: u64,
}

impl MmioRange {
    /// An MMIO range.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidResource`] if `length` is 0 or `start + length` overflows.
    pub const fn new(start: u64, length: u64) -> Result<Self> {
        if length == 0 {
            return Err(Error::InvalidResource {
                reason: "empty MMIO range",
            });
        }
        if start.checked_add(length).is_none() {
            return Err(Error::InvalidResource {
                reason: "MMIO range wraps around",
            });
        }
        // INVARIANT: checked just above.
        Ok(Self { start, length })
    }

    /// The first physical address.
    pub const fn start(&self) -> u64 {
        self.start
    }

    /// The length in bytes.
    pub const fn length(&self) -> u64 {
        self.length
    }

    /// One past the last address.
    pub const fn end(&self) -> u64 {
        self.start + self.length
    }
}

/// An interrupt line number in the platform's one flat numbering (a PC's ISA line or
/// GSI). An interrupt that belongs to a controller is an [`Interrupt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Irq(pub u32);

/// The interrupt controller an [`Interrupt`] belongs to (its devicetree
/// `interrupt-parent`): a name, and the controller's device when it has one.
///
/// Two controllers are equal when their names are equal and they name the same device
/// (or both none).
#[derive(Clone)]
pub struct Controller {
    name: Arc<str>,
    device: Weak<Device>,
}

impl Controller {
    /// A controller known by name only (for example a CPU-local interrupt controller
    /// that has no device).
    pub fn named(name: &str) -> Self {
        Self {
            name: name.into(),
            device: Weak::new(),
        }
    }

    /// The controller `device`, named by its device name. The reference is weak: it
    /// does not keep the controller alive.
    pub fn of(device: &Device) -> Self {
        Self {
            name: device.name().into(),
            device: device.downgrade(),
        }
    }

    /// The name: the controller's device name, or the name it was given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The controller's device, if it has one and it still exists.
    pub fn device(&self) -> Option<ARef<Device>> {
        self.device.upgrade().map(ARef)
    }
}

impl PartialEq for Controller {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Weak::ptr_eq(&self.device, &other.device)
    }
}

impl Eq for Controller {}

impl fmt::Debug for Controller {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_tuple("Controller")
            .field(&self.name)
            .finish()
    }
}

/// An interrupt of a device: its controller and the specifier cells that controller's
/// binding defines (a devicetree `interrupts` entry). The kernel maps it to a line of
/// its own (Linux's IRQ domains); the crate only describes it.
///
/// # Invariants
///
/// `count <= MAX_CELLS`, and the cells past `count` are zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupt {
    controller: Option<Controller>,
    cells: [u32; Interrupt::MAX_CELLS],
    count: u8,
}

impl Interrupt {
    /// The longest specifier (`#interrupt-cells`) an interrupt can carry.
    pub const MAX_CELLS: usize = 4;

    /// An interrupt of `controller` (`None`: the platform's default controller) with the
    /// specifier `cells`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidResource`] if there are more than [`MAX_CELLS`](Self::MAX_CELLS)
    /// cells.
    pub fn new(controller: Option<Controller>, cells: &[u32]) -> Result<Self> {
        if cells.len() > Self::MAX_CELLS {
            return Err(Error::InvalidResource {
                reason: "interrupt specifier longer than 4 cells",
            });
        }
        let mut stored = [0; Self::MAX_CELLS];
        stored[..cells.len()].copy_from_slice(cells);
        // INVARIANT: checked just above; the rest stays zero.
        Ok(Self {
            controller,
            cells: stored,
            count: cells.len() as u8,
        })
    }

    /// The controller, or `None` for the platform's default one.
    pub fn controller(&self) -> Option<&Controller> {
        self.controller.as_ref()
    }

    /// The specifier cells.
    pub fn cells(&self) -> &[u32] {
        &self.cells[..usize::from(self.count)]
    }
}

/// A resource of a kind the crate does not know (a DMA channel, a bus number range, a
/// clock ID): a kind name and a range of numbers, `start .. start + length`.
///
/// # Invariants
///
/// `length > 0` and `start + length` does not overflow `u64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OtherResource {
    kind: &'static str,
    start: u64,
    length: u64,
}

impl OtherResource {
    /// A resource of `kind` covering `start .. start + length`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidResource`] if `length` is 0 or the range overflows.
    pub const fn new(kind: &'static str, start: u64, length: u64) -> Result<Self> {
        if length == 0 {
            return Err(Error::InvalidResource {
                reason: "empty resource range",
            });
        }
        if start.checked_add(length).is_none() {
            return Err(Error::InvalidResource {
                reason: "resource range wraps around",
            });
        }
        // INVARIANT: checked just above.
        Ok(Self {
            kind,
            start,
            length,
        })
    }

    /// The kind, as the kernel named it.
    pub const fn kind(&self) -> &'static str {
        self.kind
    }

    /// The first number.
    pub const fn start(&self) -> u64 {
        self.start
    }

    /// How many numbers.
    pub const fn length(&self) -> u64 {
        self.length
    }

    /// One past the last number.
    pub const fn end(&self) -> u64 {
        self.start + self.length
    }
}

/// One hardware resource of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resource {
    /// An I/O port range.
    IoPorts(IoPortRange),
    /// An MMIO range.
    Mmio(MmioRange),
    /// An interrupt line in the platform's flat numbering.
    Irq(Irq),
    /// An interrupt of a named controller, with its specifier cells.
    Interrupt(Interrupt),
    /// A resource of a kind the crate does not know.
    Other(OtherResource),
}

/// `io 0x3f8..0x400`, `mmio 0xfd000000..0xfe000000`, `irq 4`,
/// `interrupt <0xa> on c000000.plic`, `dma-channel 0x3..0x4` (ends exclusive).
impl fmt::Display for Resource {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IoPorts(range) => write!(
                formatter,
                "io {:#x}..{:#x}",
                range.start(),
                u32::from(range.start()) + u32::from(range.length())
            ),
            Self::Mmio(range) => write!(formatter, "mmio {:#x}..{:#x}", range.start(), range.end()),
            Self::Irq(irq) => write!(formatter, "irq {}", irq.0),
            Self::Interrupt(interrupt) => {
                formatter.write_str("interrupt <")?;
                for (index, cell) in interrupt.cells().iter().enumerate() {
                    let space = if index == 0 { "" } else { " " };
                    write!(formatter, "{space}{cell:#x}")?;
                }
                formatter.write_str(">")?;
                match interrupt.controller() {
                    Some(controller) => write!(formatter, " on {}", controller.name()),
                    None => Ok(()),
                }
            }
            Self::Other(other) => write!(
                formatter,
                "{} {:#x}..{:#x}",
                other.kind(),
                other.start(),
                other.end()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_are_checked() {
        assert!(IoPortRange::new(0x3f8, 0).is_err());
        assert!(IoPortRange::new(0xfff0, 0x11).is_err());
        let range = IoPortRange::new(0xfff0, 0x10).unwrap();
        assert!(range.contains(0xffff));
        assert!(!range.contains(0xffef));
    }

    #[test]
    fn interrupts_carry_their_specifier() {
        assert!(Interrupt::new(None, &[1, 2, 3, 4, 5]).is_err());
        let gic = Interrupt::new(Some(Controller::named("gic")), &[0, 1, 4]).unwrap();
        assert_eq!(gic.cells(), [0, 1, 4]);
        assert_eq!(gic.controller().map(Controller::name), Some("gic"));
        assert!(gic.controller().unwrap().device().is_none());
        assert_ne!(
            gic,
            Interrupt::new(Some(Controller::named("gic")), &[0, 1]).unwrap()
        );
        assert_ne!(
            gic,
            Interrupt::new(Some(Controller::named("plic")), &[0, 1, 4]).unwrap()
        );
        assert_eq!(
            alloc::format!("{}", Resource::Interrupt(gic)),
            "interrupt <0x0 0x1 0x4> on gic"
        );
    }

    #[test]
    fn other_resources_are_checked() {
        assert!(OtherResource::new("bus", 0, 0).is_err());
        assert!(OtherResource::new("bus", u64::MAX, 1).is_err());
        let buses = OtherResource::new("bus", 0, 256).unwrap();
        assert_eq!(
            alloc::format!("{}", Resource::Other(buses)),
            "bus 0x0..0x100"
        );
    }

    #[test]
    fn mmio_ranges_are_checked() {
        assert!(MmioRange::new(0, 0).is_err());
        assert!(MmioRange::new(u64::MAX, 2).is_err());
        let range = MmioRange::new(0xfd00_0000, 0x100_0000).unwrap();
        assert_eq!(range.end(), 0xfe00_0000);
    }
}
