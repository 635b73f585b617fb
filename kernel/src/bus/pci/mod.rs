//! The PCI bus: enumeration, devices per function, ID-table matching, and the bus API a
//! bound driver uses.
//!
//! - [`regs`]: the configuration-space register map; [`config`]: raw access through the
//!   0xCF8/0xCFC ports or an ECAM window (owned by the bus); [`enumerate`]: the scan;
//!   [`bar`]: BAR sizing and assignment; [`capability`]: the capabilities list;
//!   [`host`]: the devicetree's generic ECAM host bridge as a platform driver.
//!
//! # Devices
//!
//! [`init`] scans every bus and adds one device per function, named like Linux's
//! (`0000:00:1f.2`), on bus `pci`, below the root device `pci0000:00` (or below the
//! bridge it sits behind). Its resources are its BARs (MMIO or I/O ranges, in BAR order)
//! and its legacy interrupt line if firmware routed one; its [`Function`] (IDs, class,
//! BARs with their indices, capabilities) is the device's data, read with [`function`].
//!
//! # Matching
//!
//! A driver's ID table holds [`Id`]s: an exact vendor/device pair (score 2, indexed) or a
//! class code under a mask (score 1, unindexed), so an exact entry beats a class entry.
//!
//! # The bound-device API
//!
//! A driver wraps its `&Device<Bound>` in a [`PciDevice`] to enable I/O, memory decoding
//! and bus mastering ([`PciDevice::enable`]; the previous command register is restored
//! when the binding ends), claim a BAR ([`PciDevice::claim_memory_bar`],
//! [`PciDevice::claim_io_bar`]; released with the binding), read configuration space and
//! find capabilities.
//!
//! ```ignore
//! fn probe(&self, device: &Device<Core>, _info: &()) -> drivermodel::Result<State> {
//!     let pci = PciDevice::new(device)?;
//!     pci.enable(Command::MEMORY)?;
//!     let framebuffer = pci.claim_memory_bar(0)?;   // Devres<MmioWindow>
//!     let registers = pci.claim_memory_bar(2)?;
//!     Ok(State { framebuffer, registers })
//! }
//! ```

pub mod bar;
pub mod capability;
pub mod config;
pub mod enumerate;
pub mod host;
pub mod regs;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::vec::Vec;
use core::fmt::{self, Write};

use drivermodel::bus::{Bus, KeySet, Match, MatchKey};
use drivermodel::context::Bound;
use drivermodel::device::Registration;
use drivermodel::resource::{IoPortRange, Irq, MmioRange, Resource};
use drivermodel::{Device, DeviceBuilder, DeviceModel, Devres};
use spin::Mutex;

pub use self::bar::Bar;
pub use self::capability::Capability;
pub use self::config::{Address, ConfigAccess};
pub use self::enumerate::Function;
pub use self::regs::Command;
use super::{Claim, Error, Result};
use crate::arch::{
    self,
    io::{MmioWindow, PortWindow},
};
use crate::println;

/// The bus name.
pub const BUS_NAME: &str = "pci";
/// The root device (the host bridge's domain 0).
pub const ROOT_NAME: &str = "pci0000:00";

/// One ID table entry of a PCI driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Id {
    /// An exact vendor and device ID.
    Device {
        /// Vendor ID.
        vendor: u16,
        /// Device ID.
        device: u16,
    },
    /// A class code (`base << 16 | sub << 8 | interface`) compared under `mask`.
    Class {
        /// The class code.
        class: u32,
        /// Which bits to compare.
        mask: u32,
    },
}

impl Id {
    /// An exact vendor/device entry.
    pub const fn device(vendor: u16, device: u16) -> Self {
        Self::Device { vendor, device }
    }

    /// A class entry: `class` compared under `mask`.
    pub const fn class(class: u32, mask: u32) -> Self {
        Self::Class { class, mask }
    }

    /// Whether this ID describes `function`, and how specifically.
    pub fn matches(&self, function: &Function) -> Match {
        match *self {
            Self::Device { vendor, device } => {
                if function.vendor == vendor && function.device == device {
                    Match::Yes { score: 2 }
                } else {
                    Match::No
                }
            }
            Self::Class { class, mask } => {
                if function.class & mask == class & mask {
                    Match::Yes { score: 1 }
                } else {
                    Match::No
                }
            }
        }
    }
}

const fn device_key(vendor: u16, device: u16) -> MatchKey {
    MatchKey::new(((vendor as u64) << 16) | device as u64)
}

/// The PCI bus type.
#[derive(Debug)]
pub struct Pci;

impl Bus for Pci {
    type Id = Id;

    fn name(&self) -> &str {
        BUS_NAME
    }

    fn id_key(&self, id: &Id) -> Option<MatchKey> {
        match *id {
            Id::Device { vendor, device } => Some(device_key(vendor, device)),
            Id::Class { .. } => None,
        }
    }

    fn device_keys(&self, device: &Device) -> KeySet {
        match function(device) {
            Some(function) => KeySet::one(device_key(function.vendor, function.device)),
            None => KeySet::new(),
        }
    }

    fn match_id(&self, device: &Device, id: &Id) -> Match {
        match function(device) {
            Some(function) => id.matches(function),
            None => Match::No,
        }
    }
}

/// The PCI function behind `device`, if it is a PCI device.
pub fn function(device: &Device) -> Option<&Function> {
    device.data::<Function>()
}

/// The device name of a function: `0000:bb:dd.f`.
pub fn device_name(address: Address) -> alloc::string::String {
    format!("0000:{address}")
}

/// How the platform reaches configuration space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigMechanism {
    /// The 0xCF8/0xCFC ports (the PC).
    Ports,
    /// An ECAM window (a devicetree's `pci-host-ecam-generic`).
    Ecam {
        /// Physical address of bus 0's configuration space.
        start: u64,
        /// Bytes of the window (1 MiB per bus).
        length: u64,
    },
}

/// The host bridge as the architecture describes it: configuration access, and the
/// windows BARs are assigned from when firmware left them at zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostBridge {
    /// Configuration access.
    pub config: ConfigMechanism,
    /// Memory BAR window (CPU address = bus address).
    pub memory_window: core::ops::Range<u64>,
    /// I/O BAR window (port numbers).
    pub io_window: core::ops::Range<u64>,
}

/// The root device and one registration per function, kept for the kernel's lifetime.
static REGISTRATIONS: Mutex<Vec<Registration>> = Mutex::new(Vec::new());

/// The attached host bridge.
static HOST: Mutex<Option<HostBridge>> = Mutex::new(None);

/// The host bridge the bus is attached to (the architecture's, or the devicetree's
/// through its driver), if any.
pub fn host_bridge() -> Option<HostBridge> {
    arch::without_interrupts(|| HOST.lock().clone())
}

/// Forgets the host bridge and releases its configuration space (its driver unbound).
fn detach() {
    arch::without_interrupts(|| HOST.lock().take());
    config::uninstall();
}

/// Registers the bus and, where the architecture knows its host bridge (the PC), claims
/// configuration space, enumerates and adds a device per function (see the module docs).
/// A devicetree's host bridge is enumerated by its driver instead ([`host`]).
///
/// # Errors
///
/// [`Error::Claim`] if the configuration space is taken, [`Error::Model`] if the bus
/// or the root device cannot be registered.
pub fn init(model: &DeviceModel) -> Result<()> {
    model.register_bus(Pci)?;
    let Some(host) = arch::platform::pci_host() else {
        return Ok(());
    };
    let registrations = attach(model, &host, None)?;
    arch::without_interrupts(|| REGISTRATIONS.lock().extend(registrations));
    Ok(())
}

/// Installs `host`'s configuration access, enumerates its buses (assigning the BARs
/// firmware left at zero from its windows) and adds the root device (below `parent`)
/// and one device per function. Returns the registrations, root first.
///
/// # Errors
///
/// [`Error::Claim`] if the configuration space is taken, [`Error::NoConfigSpace`],
/// [`Error::Model`] if the root device cannot be registered.
pub(crate) fn attach(
    model: &DeviceModel,
    host: &HostBridge,
    parent: Option<&Device>,
) -> Result<Vec<Registration>> {
    config::install(match host.config {
        ConfigMechanism::Ports => config::HostConfig::Ports(config::PortConfig::claim()?),
        ConfigMechanism::Ecam { start, length } => {
            config::HostConfig::Ecam(config::EcamConfig::claim(start, length)?)
        }
    });
    let functions = config::with_config(|config| {
        let mut allocator = bar::Allocator::new(host.memory_window.clone(), host.io_window.clone());
        enumerate::reserve_assigned(config, &mut allocator);
        enumerate::scan(config, &mut allocator)
    })
    .ok_or(Error::NoConfigSpace)?;
    let mut root = DeviceBuilder::new(ROOT_NAME);
    if let Some(parent) = parent {
        root = root.parent(parent);
    }
    arch::without_interrupts(|| *HOST.lock() = Some(host.clone()));
    let root = match model.add_device(root) {
        Ok(root) => root,
        Err(error) => {
            detach();
            return Err(error.into());
        }
    };
    let root_device = root.device().clone();
    let mut devices: BTreeMap<Address, drivermodel::ARef<Device>> = BTreeMap::new();
    let mut registrations = Vec::from([root]);
    for function in functions {
        let parent = match function.parent.and_then(|parent| devices.get(&parent)) {
            Some(parent) => parent.clone(),
            None => root_device.clone(),
        };
        let address = function.address;
        match model.add_device(builder(function, &parent)) {
            Ok(registration) => {
                devices.insert(address, registration.device().clone());
                registrations.push(registration);
            }
            Err(error) => println!("kernel: pci: {address}: {error}"),
        }
    }
    Ok(registrations)
}

fn builder(function: Function, parent: &Device) -> DeviceBuilder {
    let mut builder = DeviceBuilder::new(device_name(function.address))
        .bus(BUS_NAME)
        .parent(parent)
        .property("vendor", u64::from(function.vendor))
        .property("device", u64::from(function.device))
        .property("class", u64::from(function.class));
    for bar in &function.bars {
        if bar.address == 0 {
            continue;
        }
        let resource = if bar.kind.is_memory() {
            MmioRange::new(bar.address, bar.size).map(Resource::Mmio)
        } else {
            u16::try_from(bar.address)
                .ok()
                .zip(u16::try_from(bar.size).ok())
                .map_or(
                    Err(drivermodel::Error::InvalidResource {
                        reason: "I/O BAR beyond port 0xffff",
                    }),
                    |(start, length)| IoPortRange::new(start, length),
                )
                .map(Resource::IoPorts)
        };
        if let Ok(resource) = resource {
            builder = builder.resource(resource);
        }
    }
    let (pin, line) = function.interrupt;
    if pin != 0 && line != 0 && line < 16 {
        builder = builder.resource(Resource::Irq(Irq(u32::from(line))));
    }
    builder.data(function)
}

/// A bound PCI device: the bus API for its driver.
#[derive(Debug, Clone, Copy)]
pub struct PciDevice<'a> {
    device: &'a Device<Bound>,
    function: &'a Function,
}

impl<'a> PciDevice<'a> {
    /// Wraps a bound device.
    ///
    /// # Errors
    ///
    /// [`Error::NotPci`] if it is not a PCI function.
    pub fn new(device: &'a Device<Bound>) -> Result<Self> {
        let function = function(device).ok_or(Error::NotPci)?;
        Ok(Self { device, function })
    }

    /// The function's IDs, class, BARs and capabilities.
    pub fn function(&self) -> &'a Function {
        self.function
    }

    /// The device.
    pub fn device(&self) -> &'a Device<Bound> {
        self.device
    }

    /// Sets `bits` in the command register (I/O decoding, memory decoding, bus
    /// mastering). The previous value is restored when the binding ends.
    ///
    /// # Errors
    ///
    /// [`Error::NoConfigSpace`], or [`Error::Model`] if the restoring devres action
    /// cannot be added (the command register is then restored at once).
    pub fn enable(&self, bits: Command) -> Result<()> {
        let address = self.function.address;
        let previous = config::with_config(|config| {
            let previous = config.read_u16(address, regs::COMMAND);
            config.write_u16(address, regs::COMMAND, previous | bits.bits());
            previous
        })
        .ok_or(Error::NoConfigSpace)?;
        self.device.devres().add_action_or_reset(move || {
            config::with_config(|config| config.write_u16(address, regs::COMMAND, previous));
        })?;
        Ok(())
    }

    /// The command register now.
    ///
    /// # Errors
    ///
    /// [`Error::NoConfigSpace`].
    pub fn command(&self) -> Result<Command> {
        self.config_read_u16(regs::COMMAND)
            .map(Command::from_bits_truncate)
    }

    /// Reads a byte of the function's configuration space.
    ///
    /// # Errors
    ///
    /// [`Error::NoConfigSpace`].
    pub fn config_read_u8(&self, offset: u8) -> Result<u8> {
        let address = self.function.address;
        config::with_config(|config| config.read_u8(address, offset)).ok_or(Error::NoConfigSpace)
    }

    /// Reads a 16-bit value of the function's configuration space.
    ///
    /// # Errors
    ///
    /// [`Error::NoConfigSpace`].
    pub fn config_read_u16(&self, offset: u8) -> Result<u16> {
        let address = self.function.address;
        config::with_config(|config| config.read_u16(address, offset & !1))
            .ok_or(Error::NoConfigSpace)
    }

    /// Reads a dword of the function's configuration space.
    ///
    /// # Errors
    ///
    /// [`Error::NoConfigSpace`].
    pub fn config_read_u32(&self, offset: u8) -> Result<u32> {
        let address = self.function.address;
        config::with_config(|config| config.read_u32(address, offset)).ok_or(Error::NoConfigSpace)
    }

    /// The first capability with `id`.
    pub fn find_capability(&self, id: u8) -> Option<Capability> {
        self.function
            .capabilities
            .iter()
            .copied()
            .find(|capability| capability.id == id)
    }

    /// Claims memory BAR `index`, whole.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchBar`] if there is no assigned memory BAR `index`; the claim's
    /// errors (see [`Claim::claim_mmio`]).
    pub fn claim_memory_bar(&self, index: u8) -> Result<Devres<MmioWindow>> {
        let bar = self
            .function
            .bar(index)
            .filter(|bar| bar.kind.is_memory() && bar.address != 0)
            .ok_or(Error::NoSuchBar { index })?;
        self.device
            .claim_mmio(MmioRange::new(bar.address, bar.size)?)
    }

    /// Claims I/O BAR `index`, whole.
    ///
    /// # Errors
    ///
    /// As [`claim_memory_bar`](Self::claim_memory_bar), with [`Claim::claim_io`].
    pub fn claim_io_bar(&self, index: u8) -> Result<Devres<PortWindow>> {
        let bar = self
            .function
            .bar(index)
            .filter(|bar| !bar.kind.is_memory() && bar.address != 0)
            .ok_or(Error::NoSuchBar { index })?;
        let start = u16::try_from(bar.address).map_err(|_| Error::NoSuchBar { index })?;
        let length = u16::try_from(bar.size).map_err(|_| Error::NoSuchBar { index })?;
        self.device.claim_io(IoPortRange::new(start, length)?)
    }
}

/// A short name for a class code.
pub const fn class_name(class_code: u16) -> &'static str {
    match class_code {
        regs::class::HOST_BRIDGE => "host bridge",
        regs::class::ISA_BRIDGE => "ISA bridge",
        regs::class::PCI_BRIDGE => "PCI bridge",
        regs::class::VGA => "VGA controller",
        regs::class::DISPLAY_OTHER => "display controller",
        0x0100 => "SCSI controller",
        0x0101 => "IDE controller",
        0x0106 => "SATA controller",
        0x0200 => "ethernet controller",
        0x0680 => "bridge",
        0x0c05 => "SMBus controller",
        _ => "device",
    }
}

/// Writes one `lspci`-style line per PCI device of `model` (with its BARs, capabilities
/// and driver).
///
/// # Errors
///
/// Only `out`'s errors.
pub fn list(model: &DeviceModel, out: &mut dyn Write) -> fmt::Result {
    for device in model.devices() {
        let Some(function) = function(&device) else {
            continue;
        };
        writeln!(
            out,
            "{} {:04x}: {:04x}:{:04x} (rev {:02x}) {} driver={}",
            function.address,
            function.class_code(),
            function.vendor,
            function.device,
            function.revision,
            class_name(function.class_code()),
            device.driver_name().as_deref().unwrap_or("-")
        )?;
        for bar in &function.bars {
            writeln!(out, "    {bar}")?;
        }
        if let Some((memory, io)) = &function.bridge_windows {
            writeln!(
                out,
                "    windows (programmed by kernel): memory {:#x}..{:#x}, io {:#x}..{:#x}",
                memory.start, memory.end, io.start, io.end
            )?;
        }
        if !function.capabilities.is_empty() {
            write!(out, "    capabilities:")?;
            for capability in &function.capabilities {
                write!(out, " {capability}")?;
            }
            writeln!(out)?;
        }
    }
    Ok(())
}
