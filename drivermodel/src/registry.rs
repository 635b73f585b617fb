//! The registry core: what a model holds under its registry lock, and the state shared
//! by all handles to one model. The lock order is in the [`model`](crate::model) docs.

#![forbid(unsafe_code)]

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::TypeId;
use core::sync::atomic::{AtomicBool, AtomicUsize};

use crate::bus::{ErasedBus, MatchIndex};
use crate::counters::Counters;
use crate::device::{self, ARef, Device};
use crate::driver::ErasedDriver;
use crate::driver_names::DriverNames;
use crate::driver_table::DriverTable;
use crate::error::{Error, Result};
use crate::event::EventKind;
#[cfg(feature = "events")]
use crate::event::{Event, Subscribers};
use crate::key_map::{KeyMap, Keyed, KeyedVec};
use crate::name_index::NameIndex;

/// A registered bus.
pub(crate) struct BusEntry {
    /// Shared with the devices on the bus.
    pub(crate) name: device::BusName,
    pub(crate) type_id: TypeId,
    pub(crate) object: Arc<dyn ErasedBus>,
    /// Device names, hashed, to keys.
    pub(crate) names: NameIndex,
    /// Driver names to keys.
    pub(crate) drivers: DriverNames,
    pub(crate) index: MatchIndex<Arc<dyn ErasedDriver>>,
}

/// A registered device: just the model's counted reference (its key, bus and parent
/// are read from the device, its child count is in its state), to keep the registry
/// small: one pointer per device.
pub(crate) struct DeviceRecord {
    pub(crate) device: ARef<Device>,
}

impl Keyed for DeviceRecord {
    fn key(&self) -> u64 {
        self.device.inner().key
    }
}

impl DeviceRecord {
    pub(crate) fn parent(&self) -> Option<u64> {
        self.device.parent().map(|parent| parent.inner().key)
    }
}

/// Everything under the registry lock.
#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) buses: Vec<BusEntry>,
    /// Names of bus-less devices.
    pub(crate) root_names: NameIndex,
    /// Registered devices in registration order.
    pub(crate) devices: KeyedVec<DeviceRecord>,
    pub(crate) drivers: DriverTable,
    #[cfg(feature = "links")]
    pub(crate) links: crate::link::Links,
    pub(crate) next_device: u64,
    pub(crate) next_sequence: u64,
}

impl Registry {
    pub(crate) fn bus_index(&self, name: &str) -> Option<usize> {
        self.buses.iter().position(|bus| bus.name.as_str() == name)
    }

    /// The index of `device`'s bus.
    pub(crate) fn bus_of(&self, device: &Device) -> Option<usize> {
        let name = device.inner().bus()?;
        self.buses
            .iter()
            .position(|bus| Arc::ptr_eq(&bus.name, name))
    }
}

/// The state shared by all handles to one model.
pub(crate) struct Shared {
    pub(crate) registry: spin::Mutex<Registry>,
    pub(crate) counters: Arc<Counters>,
    #[cfg(feature = "events")]
    pub(crate) subscribers: Subscribers,
    /// The state changes with events in flight, for snapshots (`event`).
    #[cfg(feature = "events")]
    pub(crate) pairs: crate::event::Pairs,
    /// Keys of the registered devices with a deferral reason, in registration order, so
    /// a retry visits only them. A leaf lock (taken under a device's state lock).
    pub(crate) deferred: spin::Mutex<KeyMap<()>>,
    /// Bumped by every successful bind (the deferred-probe trigger). Only compared for
    /// "changed since I looked", so pointer width is enough: a false "unchanged" would
    /// need exactly a multiple of 2^32 binds between two loads of one retry pass.
    pub(crate) deferred_generation: AtomicUsize,
    /// A thread is running the deferred retry loop.
    pub(crate) retrying: AtomicBool,
    pub(crate) probes_in_flight: AtomicUsize,
    #[cfg(feature = "debug-reprobe")]
    pub(crate) debug_reprobe: AtomicBool,
    /// The executor, the probe-type policy and the queued works.
    #[cfg(feature = "async-probe")]
    pub(crate) async_probe: crate::async_probe::Settings,
}

impl Shared {
    /// Files a bus (the type-erased part of `register_bus`, one copy for every bus type).
    pub(crate) fn file_bus(
        &self,
        name: &str,
        type_id: TypeId,
        object: Arc<dyn ErasedBus>,
    ) -> Result<()> {
        let name: device::BusName = Arc::new(name.into());
        let mut registry = self.registry.lock();
        if registry
            .buses
            .iter()
            .any(|entry| entry.name == name || entry.type_id == type_id)
        {
            drop(registry);
            return Err(Error::BusExists {
                bus: crate::error::owned(&name),
            });
        }
        registry.buses.push(BusEntry {
            name,
            type_id,
            object,
            names: NameIndex::default(),
            drivers: DriverNames::default(),
            index: MatchIndex::default(),
        });
        Ok(())
    }

    pub(crate) fn check_own(&self, device: &Device) -> Result<()> {
        if device.inner().belongs_to(self) {
            Ok(())
        } else {
            Err(Error::ForeignDevice {
                device: crate::error::owned(device.name()),
            })
        }
    }

    /// Tells the subscribers (without the `events` feature: nothing to do).
    #[cfg(not(feature = "events"))]
    #[inline(always)]
    pub(crate) fn notify(&self, _kind: EventKind, _device: &Device, _driver: Option<&str>) {}

    /// Tells the subscribers, if there are any.
    #[cfg(feature = "events")]
    pub(crate) fn notify(&self, kind: EventKind, device: &Device, driver: Option<&str>) {
        if self.subscribers.is_empty() {
            return;
        }
        self.subscribers.notify(&Event {
            kind,
            path: device.path(),
            bus: device.bus_name().map(alloc::string::String::from),
            driver: driver.map(alloc::string::String::from),
        });
    }
}
