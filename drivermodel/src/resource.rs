//! Typed hardware resources a device describes: I/O port ranges, MMIO ranges, IRQ lines.
//! Properties live in [`property`](crate::property).
//!
//! Each range type has one checking constructor (`new`), after which it is trusted:
//! a range is never empty and never wraps around its address space.

#![forbid(unsafe_code)]

use core::fmt;

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

/// An interrupt line number, as the platform numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Irq(pub u32);

/// One hardware resource of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resource {
    /// An I/O port range.
    IoPorts(IoPortRange),
    /// An MMIO range.
    Mmio(MmioRange),
    /// An interrupt line.
    Irq(Irq),
}

/// `io 0x3f8..0x400`, `mmio 0xfd000000..0xfe000000`, `irq 4` (end exclusive).
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
    fn mmio_ranges_are_checked() {
        assert!(MmioRange::new(0, 0).is_err());
        assert!(MmioRange::new(u64::MAX, 2).is_err());
        let range = MmioRange::new(0xfd00_0000, 0x100_0000).unwrap();
        assert_eq!(range.end(), 0xfe00_0000);
    }
}
