//! The platform bus: the board's legacy devices from a static table, matched by name,
//! and the devices of the firmware's devicetree, matched by `compatible`.
//!
//! Each [`BoardDevice`] becomes a device named `<name>.<instance>` (Linux's platform
//! naming, e.g. `uart16550.0`), a child of the bus-less root device `platform`, with its
//! I/O ports and interrupt line as resources. A driver's ID table lists names; a board
//! device matches an ID equal to its name without the instance suffix.
//!
//! # Devicetree devices
//!
//! On an architecture whose firmware passes a devicetree (`arch::platform::devicetree`),
//! [`populate`] hands the blob to drivermodel's devicetree platform, after every driver
//! is registered: one device per enabled node on this bus (`10000000.serial`, below
//! `soc`), with its `reg` as MMIO ranges, its interrupts naming their controller (see
//! [`super::interrupt`]), its properties, and device links from its phandle references,
//! so that a consumer (the UART) probes after its supplier (the interrupt controller).
//! Such a device matches the ID table by `compatible`, the node's first string beating
//! its later ones, as Linux's `of_match_table` does beside the name table: one driver
//! (the 16550) can list both a board name and a `compatible`. The population lives for
//! the kernel's lifetime.
//!
//! Platform devices can be deleted and re-added at runtime ([`delete`], [`add`]): the
//! kernel keeps their registrations here, and re-adding takes the description from the
//! board table again.

use alloc::vec::Vec;

use drivermodel::bus::{Bus, KeySet, Match, MatchKey};
use drivermodel::device::Registration;
use drivermodel::devicetree::{self, Population};
use drivermodel::resource::{IoPortRange, Irq, Resource};
use drivermodel::{Device, DeviceBuilder, DeviceModel, driver};
use spin::{Mutex, Once};

use super::pci::host::{self, EcamHost};
use super::virtio;
use super::{Error, Result};
use crate::arch;

/// The bus name.
pub const BUS_NAME: &str = "platform";
/// The name of the root device the platform devices hang below.
pub const ROOT_NAME: &str = "platform";

/// One legacy device of the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoardDevice {
    /// The device name, `<match name>.<instance>`.
    pub name: &'static str,
    /// What it is, for `show`.
    pub description: &'static str,
    /// First I/O port and count.
    pub ports: (u16, u16),
    /// Interrupt line.
    pub irq: u32,
}

/// The board's legacy devices, from the architecture: COM1, the PIT and the RTC on the PC;
/// none on riscv64 `virt`, whose devices come from the devicetree.
pub static BOARD: &[BoardDevice] = arch::platform::BOARD;

/// The platform bus type.
#[derive(Debug)]
pub struct Platform {
    /// How devicetree devices match (by `compatible`).
    devicetree: devicetree::Bus,
}

impl Platform {
    fn new() -> Self {
        Self {
            devicetree: devicetree::Bus::new(BUS_NAME),
        }
    }
}

/// The name a driver's ID must equal: the device name without its `.instance` suffix.
pub fn match_name(device: &Device) -> &str {
    let name = device.name();
    name.rsplit_once('.').map_or(name, |(base, _)| base)
}

impl Bus for Platform {
    type Id = &'static str;

    fn name(&self) -> &str {
        BUS_NAME
    }

    fn id_key(&self, id: &&'static str) -> Option<MatchKey> {
        Some(MatchKey::from_name(id))
    }

    fn device_keys(&self, device: &Device) -> KeySet {
        if devicetree::node(device).is_some() {
            return self.devicetree.device_keys(device);
        }
        KeySet::one(MatchKey::from_name(match_name(device)))
    }

    fn match_id(&self, device: &Device, id: &&'static str) -> Match {
        if devicetree::node(device).is_some() {
            return self.devicetree.match_id(device, id);
        }
        if match_name(device) == *id {
            Match::Yes { score: 1 }
        } else {
            Match::No
        }
    }
}

/// The root device and the registered platform devices.
struct Registrations {
    root: Option<Registration>,
    devices: Vec<Registration>,
}

static REGISTRATIONS: Mutex<Registrations> = Mutex::new(Registrations {
    root: None,
    devices: Vec::new(),
});

/// The devices populated from the devicetree, for the kernel's lifetime.
static POPULATION: Mutex<Option<Population>> = Mutex::new(None);
/// The devicetree's PCI host bridge driver.
static ECAM_HOST: Once<driver::Registration<EcamHost>> = Once::new();
/// The devicetree's virtio-mmio transport driver.
static VIRTIO_MMIO: Once<driver::Registration<virtio::Transport>> = Once::new();

/// Registers the bus, the root device and every board device.
///
/// # Errors
///
/// [`Error::Model`] if the bus or the root device cannot be registered. A board device
/// that fails to register is reported and skipped.
pub fn init(model: &DeviceModel) -> Result<()> {
    model.register_bus(Platform::new())?;
    let root = model.add_device(DeviceBuilder::new(ROOT_NAME))?;
    arch::without_interrupts(|| REGISTRATIONS.lock().root = Some(root));
    for entry in BOARD {
        if let Err(error) = add(model, entry.name) {
            crate::println!("kernel: platform: {}: {error}", entry.name);
        }
    }
    Ok(())
}

/// Populates the bus from the firmware's devicetree, if it passed one (see the module
/// docs): call it once every driver is registered. The architecture's own devicetree
/// drivers (its interrupt controller, ...) are registered first. Suppliers that no
/// driver binds stop holding their consumers back ([`Population::relax`]).
///
/// # Errors
///
/// [`Error::Model`] with the devicetree platform's error (a malformed blob names the
/// node); nothing stays populated then.
pub fn populate(model: &DeviceModel) -> Result<()> {
    let Some(blob) = arch::platform::devicetree() else {
        return Ok(());
    };
    arch::platform::register_devicetree_drivers(model);
    match model.register_driver(EcamHost) {
        Ok(registration) => {
            ECAM_HOST.call_once(|| registration);
        }
        Err(error) => crate::println!("kernel: {}: {error}", host::DRIVER_NAME),
    }
    match model
        .register_bus(virtio::Virtio)
        .and_then(|()| model.register_driver(virtio::Transport))
    {
        Ok(registration) => {
            VIRTIO_MMIO.call_once(|| registration);
        }
        Err(error) => crate::println!("kernel: {}: {error}", virtio::DRIVER_NAME),
    }
    // Probes run inside, with no lock of ours held.
    let mut population = devicetree::populate(model, blob, BUS_NAME)?;
    population.relax(model);
    arch::without_interrupts(|| *POPULATION.lock() = Some(population));
    Ok(())
}

fn builder(entry: &BoardDevice, root: &Device) -> Result<DeviceBuilder> {
    let ports = IoPortRange::new(entry.ports.0, entry.ports.1)?;
    Ok(DeviceBuilder::new(entry.name)
        .bus(BUS_NAME)
        .parent(root)
        .resource(Resource::IoPorts(ports))
        .resource(Resource::Irq(Irq(entry.irq)))
        .property("description", entry.description))
}

/// Adds the board device `name` (again); it binds if a driver matches.
///
/// # Errors
///
/// [`Error::UnknownBoardDevice`] if the board table has no such device,
/// [`Error::Model`] (`NameTaken` if it is registered already).
pub fn add(model: &DeviceModel, name: &str) -> Result<()> {
    let entry = BOARD
        .iter()
        .find(|entry| entry.name == name)
        .ok_or(Error::UnknownBoardDevice)?;
    let root = arch::without_interrupts(|| {
        REGISTRATIONS
            .lock()
            .root
            .as_ref()
            .map(|root| root.device().clone())
    })
    .ok_or(Error::NotInitialized)?;
    // The add probes with no lock of ours held.
    let registration = model.add_device(builder(entry, &root)?)?;
    arch::without_interrupts(|| REGISTRATIONS.lock().devices.push(registration));
    Ok(())
}

/// Deletes the platform device `name`: unbind (the driver's remove, then its devres),
/// devres release, leave the bus.
///
/// # Errors
///
/// [`Error::NoSuchDevice`] if no platform device of that name is registered;
/// [`Error::Model`] if the model refuses.
pub fn delete(name: &str) -> Result<()> {
    let registration = arch::without_interrupts(|| {
        let mut registrations = REGISTRATIONS.lock();
        let position = registrations
            .devices
            .iter()
            .position(|registration| registration.name() == name)?;
        Some(registrations.devices.swap_remove(position))
    });
    match registration {
        // Deleted with no lock of ours held: the driver's remove may print.
        Some(registration) => Ok(registration.delete()?),
        None => Err(Error::NoSuchDevice),
    }
}
