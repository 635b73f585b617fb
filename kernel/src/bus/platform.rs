//! The platform bus: the board's legacy devices from a static table, matched by name.
//!
//! Each [`BoardDevice`] becomes a device named `<name>.<instance>` (Linux's platform
//! naming, e.g. `uart16550.0`), a child of the bus-less root device `platform`, with its
//! I/O ports and interrupt line as resources. A driver's ID table lists names; a device
//! matches an ID equal to its name without the instance suffix.
//!
//! Platform devices can be deleted and re-added at runtime ([`delete`], [`add`]): the
//! kernel keeps their registrations here, and re-adding takes the description from the
//! board table again.

use alloc::vec::Vec;

use drivermodel::bus::{Bus, KeySet, Match, MatchKey};
use drivermodel::device::Registration;
use drivermodel::resource::{IoPortRange, Irq, Resource};
use drivermodel::{Device, DeviceBuilder, DeviceModel};
use spin::Mutex;

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
pub struct Platform;

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
        KeySet::one(MatchKey::from_name(match_name(device)))
    }

    fn match_id(&self, device: &Device, id: &&'static str) -> Match {
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

/// Registers the bus, the root device and every board device.
///
/// # Errors
///
/// [`Error::Model`] if the bus or the root device cannot be registered. A board device
/// that fails to register is reported and skipped.
pub fn init(model: &DeviceModel) -> Result<()> {
    model.register_bus(Platform)?;
    let root = model.add_device(DeviceBuilder::new(ROOT_NAME))?;
    arch::without_interrupts(|| REGISTRATIONS.lock().root = Some(root));
    for entry in BOARD {
        if let Err(error) = add(model, entry.name) {
            crate::println!("kernel: platform: {}: {error}", entry.name);
        }
    }
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
