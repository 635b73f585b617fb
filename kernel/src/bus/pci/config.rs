//! Configuration-space access: function addresses, the [`ConfigAccess`] trait, and the
//! port-I/O implementation (mechanism #1: address at 0xCF8, data at 0xCFC).
//!
//! Enumeration, BAR sizing and capability parsing are written against [`ConfigAccess`],
//! so tests can run them on a made-up configuration space; the kernel's one real
//! [`PortConfig`] owns the 0xCF8..0xD00 port window and is reached through
//! [`with_config`].

use core::fmt;

use spin::Mutex;

use super::regs;
use crate::arch::{self, io};

/// A function's address: bus, device (0..32), function (0..8).
///
/// # Invariants
///
/// `device < 32` and `function < 8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    bus: u8,
    device: u8,
    function: u8,
}

impl Address {
    /// An address, if `device < 32` and `function < 8`.
    pub const fn new(bus: u8, device: u8, function: u8) -> Option<Self> {
        if device < 32 && function < 8 {
            // INVARIANT: checked just above.
            Some(Self {
                bus,
                device,
                function,
            })
        } else {
            None
        }
    }

    /// The bus number.
    pub const fn bus(self) -> u8 {
        self.bus
    }

    /// The device number.
    pub const fn device(self) -> u8 {
        self.device
    }

    /// The function number.
    pub const fn function(self) -> u8 {
        self.function
    }

    /// The value for the configuration address port, for the dword holding `offset`.
    const fn config_address(self, offset: u8) -> u32 {
        regs::CONFIG_ENABLE
            | (self.bus as u32) << 16
            | (self.device as u32) << 11
            | (self.function as u32) << 8
            | (offset as u32 & 0xfc)
    }
}

impl fmt::Display for Address {
    /// `bb:dd.f`, as lspci writes it.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{:02x}:{:02x}.{}",
            self.bus, self.device, self.function
        )
    }
}

/// Reads and writes of one configuration space (dword granularity; the narrower
/// accessors are built on it).
pub trait ConfigAccess {
    /// Reads the dword at `offset & !3`.
    fn read_u32(&self, address: Address, offset: u8) -> u32;

    /// Writes the dword at `offset & !3`.
    fn write_u32(&self, address: Address, offset: u8, value: u32);

    /// Reads the 16-bit value at `offset` (which must be even).
    fn read_u16(&self, address: Address, offset: u8) -> u16 {
        (self.read_u32(address, offset) >> ((offset & 2) * 8)) as u16
    }

    /// Reads the byte at `offset`.
    fn read_u8(&self, address: Address, offset: u8) -> u8 {
        (self.read_u32(address, offset) >> ((offset & 3) * 8)) as u8
    }

    /// Writes the 16-bit value at `offset` (read-modify-write of its dword; `offset`
    /// must be even).
    fn write_u16(&self, address: Address, offset: u8, value: u16) {
        let shift = (offset & 2) * 8;
        let old = self.read_u32(address, offset);
        let new = (old & !(0xffff << shift)) | (u32::from(value) << shift);
        self.write_u32(address, offset, new);
    }

    /// Writes the byte at `offset` (read-modify-write of its dword).
    fn write_u8(&self, address: Address, offset: u8, value: u8) {
        let shift = (offset & 3) * 8;
        let old = self.read_u32(address, offset);
        let new = (old & !(0xff << shift)) | (u32::from(value) << shift);
        self.write_u32(address, offset, new);
    }
}

/// The configuration space through the 0xCF8/0xCFC ports.
#[derive(Debug)]
pub struct PortConfig {
    ports: io::PortWindow,
}

impl PortConfig {
    /// Claims the configuration ports.
    ///
    /// # Errors
    ///
    /// The claim's error if someone holds them.
    pub fn claim() -> Result<Self, io::ClaimError> {
        let ports = io::claim_ports(regs::CONFIG_ADDRESS_PORT, regs::CONFIG_PORTS, "pci bus")?;
        Ok(Self { ports })
    }
}

impl ConfigAccess for PortConfig {
    fn read_u32(&self, address: Address, offset: u8) -> u32 {
        // The window is the eight configuration ports, so the offsets are inside it.
        let _ = self.ports.write_u32(0, address.config_address(offset));
        self.ports
            .read_u32(regs::CONFIG_DATA_OFFSET)
            .unwrap_or(u32::MAX)
    }

    fn write_u32(&self, address: Address, offset: u8, value: u32) {
        let _ = self.ports.write_u32(0, address.config_address(offset));
        let _ = self.ports.write_u32(regs::CONFIG_DATA_OFFSET, value);
    }
}

static CONFIG: Mutex<Option<PortConfig>> = Mutex::new(None);

/// Installs the kernel's configuration space (once, at PCI bring-up).
pub(super) fn install(config: PortConfig) {
    arch::without_interrupts(|| *CONFIG.lock() = Some(config));
}

/// Runs `function` on the configuration space, with interrupts off and the address/data
/// pair locked; `None` before PCI bring-up.
pub fn with_config<R>(function: impl FnOnce(&PortConfig) -> R) -> Option<R> {
    arch::without_interrupts(|| CONFIG.lock().as_ref().map(function))
}
