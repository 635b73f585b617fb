//! virtio-mmio slots: a platform driver for the devicetree's `virtio,mmio` nodes, and a
//! `virtio` bus for what they hold. No virtio device drivers exist: the point is that
//! the slots and their device IDs appear in the tree.
//!
//! The transport driver's probe claims the slot's registers, checks the identification
//! ones ([`kernel_core::virtio_mmio`]: the magic, version 1 or 2) and adds one child device
//! on the [`BUS_NAME`] bus, `virtioN` below the slot, whose properties say what the slot
//! holds (`device-id`, `device`, `version`, `vendor-id`; `device-id=0x0 device="empty"`
//! for an empty slot). Linux skips empty slots; here they are listed, which is what
//! makes the eight slots of QEMU `virt` visible. Remove (the drop of [`Slot`]) deletes
//! the child and frees its number.

use core::sync::atomic::{AtomicU32, Ordering};

use drivermodel::bus::{Bus, KeySet, Match, MatchKey};
use drivermodel::context::Core;
use drivermodel::device::Registration;
use drivermodel::{Device, DeviceBuilder, Devres, Driver, IdEntry};
use kernel_core::virtio_mmio as regs;

use super::Claim;
use super::platform::Platform;
use crate::arch::io::MmioWindow;

/// The bus the slots' devices are on.
pub const BUS_NAME: &str = "virtio";
/// The transport driver's name.
pub const DRIVER_NAME: &str = "virtio-mmio";

/// The virtio bus: devices match a driver's device IDs (there are no drivers yet).
#[derive(Debug)]
pub struct Virtio;

impl Bus for Virtio {
    type Id = u32;

    fn name(&self) -> &str {
        BUS_NAME
    }

    fn id_key(&self, id: &u32) -> Option<MatchKey> {
        Some(MatchKey::new(u64::from(*id)))
    }

    fn device_keys(&self, device: &Device) -> KeySet {
        match device.read_u64("device-id") {
            Ok(id) => KeySet::one(MatchKey::new(id)),
            Err(_) => KeySet::new(),
        }
    }

    fn match_id(&self, device: &Device, id: &u32) -> Match {
        match device.read_u64("device-id") {
            Ok(found) if found == u64::from(*id) && found != 0 => Match::Yes { score: 1 },
            _ => Match::No,
        }
    }
}

/// The virtio-mmio transport driver.
#[derive(Debug)]
pub struct Transport;

static ID_TABLE: [IdEntry<&str, ()>; 1] = [IdEntry::new("virtio,mmio", ())];

/// The numbers `virtioN` in use (bit N).
static NUMBERS: AtomicU32 = AtomicU32::new(0);

/// Takes the lowest free number, `None` when all 32 are in use.
fn take_number() -> Option<u32> {
    let mut used = NUMBERS.load(Ordering::Relaxed);
    loop {
        let number = (!used).trailing_zeros();
        if number >= u32::BITS {
            return None;
        }
        match NUMBERS.compare_exchange_weak(
            used,
            used | 1 << number,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return Some(number),
            Err(now) => used = now,
        }
    }
}

/// A bound slot: the device of what it holds, and that device's number.
pub struct Slot {
    child: Option<Registration>,
    number: u32,
    _registers: Devres<MmioWindow>,
}

impl core::fmt::Debug for Slot {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("Slot")
            .field("number", &self.number)
            .finish_non_exhaustive()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        drop(self.child.take());
        NUMBERS.fetch_and(!(1 << self.number), Ordering::Relaxed);
    }
}

fn probe_error(message: &str) -> drivermodel::Error {
    drivermodel::Error::driver(message)
}

impl Driver for Transport {
    type Bus = Platform;
    type IdInfo = ();
    type State = Slot;

    fn name(&self) -> &str {
        DRIVER_NAME
    }

    fn id_table(&self) -> &[IdEntry<&'static str, ()>] {
        &ID_TABLE
    }

    fn probe(&self, device: &Device<Core>, _info: &()) -> drivermodel::Result<Slot> {
        let range = device
            .mmio(0)
            .filter(|range| range.length() >= regs::IDENTIFICATION_LENGTH)
            .ok_or_else(|| probe_error("no virtio-mmio registers (reg)"))?;
        // The whole slot, held while bound: nobody else maps its registers meanwhile.
        let window = device.claim_mmio(range)?;
        let read = |offset| {
            window
                .try_access_with(|window| window.read_u32(offset).ok())
                .flatten()
                .ok_or_else(|| probe_error("virtio-mmio registers unreadable"))
        };
        let slot = regs::Slot::new(
            read(regs::MAGIC)?,
            read(regs::VERSION)?,
            read(regs::DEVICE_ID)?,
            read(regs::VENDOR_ID)?,
        )
        .map_err(|error| probe_error(&alloc::format!("{error}")))?;
        let number = take_number().ok_or_else(|| probe_error("32 virtio devices exist"))?;
        let mut state = Slot {
            child: None,
            number,
            _registers: window,
        };
        let child = DeviceBuilder::new(alloc::format!("virtio{number}"))
            .bus(BUS_NAME)
            .parent(device)
            .property("device-id", u64::from(slot.device_id))
            .property("device", slot.kind())
            .property("version", u64::from(slot.version))
            .property("vendor-id", u64::from(slot.vendor_id));
        state.child = Some(crate::devices::model().add_device(child)?);
        Ok(state)
    }
}
