//! The devicetree's generic PCI host bridge (`pci-host-ecam-generic`) as a platform
//! driver: the same PCI bus code as the PC's, reached through ECAM.
//!
//! Probe reads the bridge's node: its first `reg` entry is the ECAM window, and its
//! `ranges` ([`kernel_core::pci_ranges`]) give the 32-bit memory window (CPU address =
//! bus address) and the I/O window that BARs are assigned from, since no firmware
//! assigns them (QEMU `virt`). Port I/O reaches the I/O window through the
//! architecture's port accessors (`arch::platform::port`), which map port 0 to the
//! window's CPU address. Then the PCI bus code enumerates, below the bridge's device:
//! `/devices/soc/30000000.pci/pci0000:00/0000:00:01.0`.
//!
//! Remove (the drop of [`Host`]) deletes the functions, children first (their drivers
//! unbind), then releases the configuration space.

use alloc::vec::Vec;

use drivermodel::context::Core;
use drivermodel::device::Registration;
use drivermodel::{Device, DeviceModel, Driver, IdEntry};
use kernel_core::pci_ranges::{self, Space};

use super::{ConfigMechanism, HostBridge};
use crate::bus::platform::Platform;

/// The driver name.
pub const DRIVER_NAME: &str = "pci-host-ecam-generic";

/// The first I/O port BARs get: ports below stay free for legacy devices, as on the PC.
const FIRST_IO_PORT: u64 = 0x1000;

/// The driver.
#[derive(Debug)]
pub struct EcamHost;

static ID_TABLE: [IdEntry<&str, ()>; 1] = [IdEntry::new(DRIVER_NAME, ())];

/// A bound host bridge: the devices of its buses, root first.
pub struct Host {
    devices: Vec<Registration>,
}

impl core::fmt::Debug for Host {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("Host")
            .field("devices", &self.devices.len())
            .finish()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // Children (added after their parents) first.
        while let Some(registration) = self.devices.pop() {
            drop(registration);
        }
        super::detach();
    }
}

fn probe_error(message: &str) -> drivermodel::Error {
    drivermodel::Error::driver(message)
}

/// The host bridge `device`'s node describes.
fn describe(device: &Device<Core>) -> drivermodel::Result<HostBridge> {
    let ecam = device
        .mmio(0)
        .ok_or_else(|| probe_error("no ECAM window (reg)"))?;
    let ranges = device.read_u32_array("ranges")?;
    let cells: Vec<u32> = ranges.iter().collect();
    // The CPU side of `ranges` has the parent bus's address cells (2 when absent).
    let parent_cells = match device.parent() {
        Some(parent) => match parent.property("#address-cells") {
            Some(property) => property.as_u32()? as usize,
            None => 2,
        },
        None => 2,
    };
    let size_cells = device.read_u32("#size-cells")? as usize;
    let windows = || {
        pci_ranges::parse(&cells, parent_cells, size_cells)
            .map_err(|error| probe_error(&alloc::format!("{error}")))
    };
    let memory = pci_ranges::usable(windows()?, Space::Memory32)
        .ok_or_else(|| probe_error("no untranslated 32-bit memory window in ranges"))?;
    let io_end = pci_ranges::usable(windows()?, Space::Io)
        .map_or(0, |window| window.size.min(0x1_0000))
        .min(u64::from(crate::arch::platform::port_space()));
    Ok(HostBridge {
        config: ConfigMechanism::Ecam {
            start: ecam.start(),
            length: ecam.length(),
        },
        memory_window: memory.cpu_address..memory.cpu_address + memory.size,
        io_window: FIRST_IO_PORT..io_end.max(FIRST_IO_PORT),
    })
}

impl Driver for EcamHost {
    type Bus = Platform;
    type IdInfo = ();
    type State = Host;

    fn name(&self) -> &str {
        DRIVER_NAME
    }

    fn id_table(&self) -> &[IdEntry<&'static str, ()>] {
        &ID_TABLE
    }

    fn probe(&self, device: &Device<Core>, _info: &()) -> drivermodel::Result<Host> {
        let host = describe(device)?;
        let model: &DeviceModel = crate::devices::model();
        let devices = super::attach(model, &host, Some(device))?;
        Ok(Host { devices })
    }
}
