//! The capabilities list: a chain of `(id, next)` headers in configuration space, starting
//! at the capabilities pointer when the status register says the list exists.
//!
//! The walk is bounded (at most 48 entries: the 192 bytes after the header hold no more)
//! and stops at a pointer below 0x40, so a corrupt or looping list cannot hang it.

use alloc::vec::Vec;
use core::fmt;

use super::config::{Address, ConfigAccess};
use super::regs;

/// The most capabilities the 192 device-specific bytes can hold.
const MAX_CAPABILITIES: usize = 48;

/// One capability: its ID and where its header is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capability {
    /// The capability ID (see [`regs::capability`]).
    pub id: u8,
    /// Offset of its header in configuration space.
    pub offset: u8,
}

impl Capability {
    /// A short name for the ID.
    pub const fn name(&self) -> &'static str {
        match self.id {
            regs::capability::POWER_MANAGEMENT => "power-management",
            regs::capability::MSI => "msi",
            regs::capability::VENDOR => "vendor",
            regs::capability::EXPRESS => "pci-express",
            regs::capability::MSI_X => "msi-x",
            regs::capability::SATA => "sata",
            _ => "other",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{}({:#04x})@{:#04x}",
            self.name(),
            self.id,
            self.offset
        )
    }
}

/// Reads the capabilities list of the function at `address`.
pub fn read(config: &impl ConfigAccess, address: Address) -> Vec<Capability> {
    let mut capabilities = Vec::new();
    if config.read_u16(address, regs::STATUS) & regs::STATUS_CAPABILITIES == 0 {
        return capabilities;
    }
    let mut offset = config.read_u8(address, regs::CAPABILITIES_POINTER) & 0xfc;
    while offset >= 0x40 && capabilities.len() < MAX_CAPABILITIES {
        let id = config.read_u8(address, offset);
        capabilities.push(Capability { id, offset });
        offset = config.read_u8(address, offset + 1) & 0xfc;
    }
    capabilities
}
