//! Configuration-space access: function addresses, the [`ConfigAccess`] trait, and its
//! two implementations: port I/O (mechanism #1: address at 0xCF8, data at 0xCFC, the PC)
//! and ECAM (memory-mapped, 4 KiB per function, `pci-host-ecam-generic` on riscv64
//! `virt`).
//!
//! Enumeration, BAR sizing and capability parsing are written against [`ConfigAccess`],
//! so tests can run them on a made-up configuration space; the kernel's one real
//! [`HostConfig`] owns the port or memory window and is reached through [`with_config`].

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

/// The configuration space through an ECAM window: function `bb:dd.f` at
/// `bus << 20 | device << 15 | function << 12`, buses from 0.
#[derive(Debug)]
pub struct EcamConfig {
    window: io::MmioWindow,
}

impl EcamConfig {
    /// Claims the ECAM window `start .. start + length`.
    ///
    /// # Errors
    ///
    /// The claim's error (taken, RAM, empty).
    pub fn claim(start: u64, length: u64) -> Result<Self, io::ClaimError> {
        let window = io::claim_mmio(start, length, "pci bus (ECAM)")?;
        Ok(Self { window })
    }

    fn offset(address: Address, offset: u8) -> u64 {
        u64::from(address.bus) << 20
            | u64::from(address.device) << 15
            | u64::from(address.function) << 12
            | u64::from(offset & 0xfc)
    }
}

impl ConfigAccess for EcamConfig {
    fn read_u32(&self, address: Address, offset: u8) -> u32 {
        // A bus past the window reads as "no function", like an empty slot.
        self.window
            .read_u32(Self::offset(address, offset))
            .unwrap_or(u32::MAX)
    }

    fn write_u32(&self, address: Address, offset: u8, value: u32) {
        let _ = self.window.write_u32(Self::offset(address, offset), value);
    }
}

/// The kernel's configuration space: whichever mechanism the platform has.
#[derive(Debug)]
pub enum HostConfig {
    /// The 0xCF8/0xCFC ports.
    Ports(PortConfig),
    /// An ECAM window.
    Ecam(EcamConfig),
}

impl ConfigAccess for HostConfig {
    fn read_u32(&self, address: Address, offset: u8) -> u32 {
        match self {
            Self::Ports(ports) => ports.read_u32(address, offset),
            Self::Ecam(ecam) => ecam.read_u32(address, offset),
        }
    }

    fn write_u32(&self, address: Address, offset: u8, value: u32) {
        match self {
            Self::Ports(ports) => ports.write_u32(address, offset, value),
            Self::Ecam(ecam) => ecam.write_u32(address, offset, value),
        }
    }
}

static CONFIG: Mutex<Option<HostConfig>> = Mutex::new(None);

/// Installs the kernel's configuration space (once, at PCI bring-up).
pub(super) fn install(config: HostConfig) {
    arch::without_interrupts(|| *CONFIG.lock() = Some(config));
}

/// Removes the configuration space (its host bridge is gone), releasing its claim.
pub(super) fn uninstall() {
    let old = arch::without_interrupts(|| CONFIG.lock().take());
    drop(old);
}

/// Runs `function` on the configuration space, with interrupts off and the address/data
/// pair locked; `None` before PCI bring-up.
pub fn with_config<R>(function: impl FnOnce(&HostConfig) -> R) -> Option<R> {
    arch::without_interrupts(|| CONFIG.lock().as_ref().map(function))
}
