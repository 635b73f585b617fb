//! Drivers: the [`Driver`] trait and the registration handle that unregisters in `Drop`.
//!
//! A driver is a value. [`Driver::probe`] receives the device as a [`Device<Core>`] and the
//! `info` of the ID table entry that matched, and returns the driver's **per-device
//! state**. The core keeps that state exactly as long as the binding lasts: at unbind it
//! first calls [`Driver::unbind`] (which still sees the bound device and the state), then
//! drops the state. *Remove is `Drop`.* A failed probe returns an error and no state, so
//! there is nothing to remove; the core releases whatever devres the probe took.
//!
//! [`DeviceModel::register_driver`](crate::DeviceModel::register_driver) returns a
//! [`Registration`]; dropping it unregisters the driver and unbinds its devices, newest
//! bound first.

#![forbid(unsafe_code)]

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::{Any, TypeId};
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::bus::{Bus, EntryRef, ErasedBus, IdEntry, Match, MatchKey};
use crate::capacity::{fit_canonical, push_canonical};
use crate::context::Core;
use crate::device::{self, ARef, Device};
use crate::driver_table::DriverRecord;
use crate::error::{Error, Result};
use crate::registry::{Registry, Shared};

/// A device driver for one bus.
///
/// Callbacks run without any lock of the model held: a probe may add child devices,
/// register drivers or bind other devices. It must not unbind or delete the device it is
/// probing, nor unregister its own driver (that waits for the probe to end: a deadlock).
pub trait Driver: Send + Sync + 'static {
    /// The bus this driver serves; it must be registered before the driver.
    type Bus: Bus;
    /// Per-ID data handed to [`probe`](Self::probe).
    type IdInfo: Send + Sync + 'static;
    /// Per-device state, alive exactly as long as the binding. Dropping it is the
    /// driver's "remove".
    type State: Send + 'static;

    /// The driver name, unique on its bus.
    fn name(&self) -> &str;

    /// The ID table. It must not change while the driver is registered (it is indexed at
    /// registration).
    fn id_table(&self) -> &[IdEntry<<Self::Bus as Bus>::Id, Self::IdInfo>];

    /// Binds the driver to `device`: set the device up and return the state.
    ///
    /// Devres taken here (actions, allocations, [`Devres`](crate::Devres)) is released,
    /// newest first, when the binding ends, or right after this returns an error.
    ///
    /// # Errors
    ///
    /// Any error fails the probe; [`Error::Deferred`] (made with
    /// [`Error::defer`](crate::Error::defer)) means "not yet" and records the reason.
    fn probe(&self, device: &Device<Core>, info: &Self::IdInfo) -> Result<Self::State>;

    /// Teardown that needs the bound device; runs before `state` is dropped and before
    /// the device's devres is released. The default does nothing.
    fn unbind(&self, device: &Device<Core>, state: &mut Self::State) {
        let _ = (device, state);
    }

    /// Suspends the device ([`DeviceModel::suspend_all`](crate::DeviceModel::suspend_all)).
    /// The default does nothing.
    ///
    /// # Errors
    ///
    /// A failure stops the suspend: what was already suspended is resumed.
    fn suspend(&self, device: &Device<Core>, state: &mut Self::State) -> Result<()> {
        let _ = (device, state);
        Ok(())
    }

    /// Resumes the device ([`DeviceModel::resume_all`](crate::DeviceModel::resume_all)).
    /// The default does nothing.
    ///
    /// # Errors
    ///
    /// Reported by `resume_all`, which still resumes the other devices.
    fn resume(&self, device: &Device<Core>, state: &mut Self::State) -> Result<()> {
        let _ = (device, state);
        Ok(())
    }

    /// Quiesces the device for power-off or reboot
    /// ([`DeviceModel::shutdown_all`](crate::DeviceModel::shutdown_all)). The default
    /// does nothing.
    fn shutdown(&self, device: &Device<Core>, state: &mut Self::State) {
        let _ = (device, state);
    }

    /// The ID data [`probe`](Self::probe) receives when the device's
    /// [driver override](crate::DeviceModel::set_driver_override) forces this driver onto
    /// a device that none of its IDs matches (Linux's probe then sees no ID). `None`, the
    /// default, means the driver cannot be bound without an ID match: such an override
    /// then binds nothing ([`Error::NoMatch`]).
    fn override_info(&self) -> Option<&Self::IdInfo> {
        None
    }

    /// Whether explicit [`DeviceModel::bind`](crate::DeviceModel::bind) /
    /// [`unbind`](crate::DeviceModel::unbind) calls may bind or unbind this driver (the
    /// faux driver says no). Automatic binding and teardown are not affected.
    fn allows_manual_bind(&self) -> bool {
        true
    }

    /// Whether this driver's automatic probes may run asynchronously, on the kernel's
    /// executor (Linux's `probe_type`). The default, [`ProbeType::Default`], leaves it
    /// to the model's policy. Only the `async-probe` feature acts on it (see
    /// `async_probe`); without the feature every probe is synchronous.
    fn probe_type(&self) -> ProbeType {
        ProbeType::Default
    }
}

/// How a driver wants its automatic probes run: see [`Driver::probe_type`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ProbeType {
    /// As the model's policy says (synchronous unless the kernel changed it).
    #[default]
    Default,
    /// Always on the thread that registers the driver or adds the device (Linux's
    /// `PROBE_FORCE_SYNCHRONOUS`): the registration or add returns after the probe.
    Synchronous,
    /// On the kernel's executor when it has one (Linux's `PROBE_PREFER_ASYNCHRONOUS`):
    /// the registration or add returns without waiting for the probe.
    Asynchronous,
}

/// The entry index of a bind forced by a driver override without an ID match: the bus
/// decides with [`Bus::match_override`], the probe gets [`Driver::override_info`].
pub(crate) const OVERRIDE_ENTRY: usize = usize::MAX;

/// The type-erased face of a registered driver, stored in the model and in bound devices.
pub(crate) trait ErasedDriver: Send + Sync {
    fn name(&self) -> &str;
    fn entry_count(&self) -> usize;
    fn entry_key(&self, entry: usize) -> Option<MatchKey>;
    fn match_entry(&self, device: &Device, entry: usize) -> Match;
    fn probe(&self, device: &Device<Core>, entry: usize) -> Result<Box<dyn Any + Send>>;
    fn unbind(&self, device: &Device<Core>, state: Box<dyn Any + Send>);
    #[cfg(feature = "power")]
    fn power(
        &self,
        device: &Device<Core>,
        state: &mut (dyn Any + Send),
        operation: crate::power::Operation,
    ) -> Result<()>;
    fn allows_manual_bind(&self) -> bool;
    #[cfg(feature = "async-probe")]
    fn probe_type(&self) -> ProbeType;
    fn bindings(&self) -> &Bindings;
    /// The type of [`Driver::State`] and its name, for [`DriverData`](crate::DriverData).
    fn state_type(&self) -> (TypeId, &'static str);
}

/// A driver together with its bus and its bindings, as the model stores it.
pub(crate) struct Adapter<D: Driver> {
    pub(crate) driver: D,
    pub(crate) bus: Arc<D::Bus>,
    pub(crate) bindings: Bindings,
}

/// What the model tracks per registered driver on the bind and unbind paths. It lives
/// in the driver's own allocation, which matching reads anyway, so binding a device to
/// one of 100,000 drivers touches no other per-driver memory.
#[derive(Default)]
pub(crate) struct Bindings {
    /// Unregistration started: no new probe may start (set under the registry lock).
    dying: AtomicBool,
    /// Devices being probed by or bound to this driver. Changed and read only under the
    /// model's registry lock; the lock here is a leaf that only provides mutability.
    pub(crate) bound: spin::Mutex<BoundList>,
    /// Asynchronous probe works queued for this driver and not yet done
    /// ([`async_probe`](crate::async_probe)); its unregistration waits for zero.
    #[cfg(feature = "async-probe")]
    pub(crate) queued: core::sync::atomic::AtomicUsize,
}

impl Bindings {
    pub(crate) fn is_dying(&self) -> bool {
        self.dying.load(Ordering::Acquire)
    }

    pub(crate) fn set_dying(&self) {
        self.dying.store(true, Ordering::Release);
    }
}

/// `(binding sequence, device key)` pairs in binding order (sequences only grow, so a
/// bind appends). The first is stored inline: most drivers bind one device, and then
/// bind and unbind touch no separate buffer.
///
/// # Invariants
///
/// `rest` is empty when `first` is `None`.
#[derive(Default)]
pub(crate) struct BoundList {
    first: Option<(u64, u64)>,
    rest: Vec<(u64, u64)>,
}

impl BoundList {
    pub(crate) fn push(&mut self, binding: (u64, u64)) {
        match self.first {
            // INVARIANT: `rest` is empty when `first` is `None`, so order is kept.
            None => self.first = Some(binding),
            Some(_) => push_canonical(&mut self.rest, binding),
        }
    }

    /// Forgets the binding `sequence`. The spill buffer shrinks with the list (and is
    /// freed when empty), so binding and unbinding a device leaves the heap where it was.
    pub(crate) fn remove(&mut self, sequence: u64) {
        if self.first.is_some_and(|(filed, _)| filed == sequence) {
            // INVARIANT: the oldest of `rest` moves up, or both are empty.
            self.first = (!self.rest.is_empty()).then(|| self.rest.remove(0));
        } else if let Ok(position) = self
            .rest
            .binary_search_by_key(&sequence, |(filed, _)| *filed)
        {
            self.rest.remove(position);
        }
        fit_canonical(&mut self.rest);
    }

    /// The newest binding.
    pub(crate) fn last(&self) -> Option<(u64, u64)> {
        self.rest.last().copied().or(self.first)
    }

    /// Oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.first.iter().chain(self.rest.iter()).copied()
    }

    pub(crate) fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none()
    }
}

impl<D: Driver> ErasedDriver for Adapter<D> {
    fn name(&self) -> &str {
        self.driver.name()
    }

    fn entry_count(&self) -> usize {
        self.driver.id_table().len()
    }

    fn entry_key(&self, entry: usize) -> Option<MatchKey> {
        let id = &self.driver.id_table().get(entry)?.id;
        self.bus.id_key(id)
    }

    fn match_entry(&self, device: &Device, entry: usize) -> Match {
        if entry == OVERRIDE_ENTRY {
            return match self.driver.override_info() {
                Some(_) => self.bus.match_override(device, self.driver.name()),
                None => Match::No,
            };
        }
        match self.driver.id_table().get(entry) {
            Some(entry) => self.bus.match_id(device, &entry.id),
            None => Match::No,
        }
    }

    fn probe(&self, device: &Device<Core>, entry: usize) -> Result<Box<dyn Any + Send>> {
        let info = if entry == OVERRIDE_ENTRY {
            self.driver.override_info()
        } else {
            self.driver.id_table().get(entry).map(|entry| &entry.info)
        };
        let Some(info) = info else {
            return Err(Error::no_match(device));
        };
        let state = self.driver.probe(device, info)?;
        Ok(Box::new(state))
    }

    fn unbind(&self, device: &Device<Core>, state: Box<dyn Any + Send>) {
        if let Ok(mut state) = state.downcast::<D::State>() {
            self.driver.unbind(device, &mut state);
            drop(state);
        }
    }

    #[cfg(feature = "power")]
    fn power(
        &self,
        device: &Device<Core>,
        state: &mut (dyn Any + Send),
        operation: crate::power::Operation,
    ) -> Result<()> {
        use crate::power::Operation;
        let Some(state) = state.downcast_mut::<D::State>() else {
            return Ok(());
        };
        match operation {
            Operation::Suspend => self.driver.suspend(device, state),
            Operation::Resume => self.driver.resume(device, state),
            Operation::Shutdown => {
                self.driver.shutdown(device, state);
                Ok(())
            }
        }
    }

    fn allows_manual_bind(&self) -> bool {
        self.driver.allows_manual_bind()
    }

    #[cfg(feature = "async-probe")]
    fn probe_type(&self) -> ProbeType {
        self.driver.probe_type()
    }

    fn bindings(&self) -> &Bindings {
        &self.bindings
    }

    fn state_type(&self) -> (TypeId, &'static str) {
        (TypeId::of::<D::State>(), core::any::type_name::<D::State>())
    }
}

/// A registered driver (re-exported as [`DriverRegistration`](crate::DriverRegistration);
/// not to be confused with [`device::Registration`] nor
/// [`faux::Registration`](crate::faux::Registration)). Dropping it unregisters the driver:
/// no new matches, then every device bound to it is unbound, newest bound first.
pub struct Registration<D: Driver> {
    pub(crate) model: Arc<Shared>,
    pub(crate) key: u64,
    pub(crate) adapter: Arc<Adapter<D>>,
}

impl<D: Driver> Registration<D> {
    /// The driver.
    pub fn driver(&self) -> &D {
        &self.adapter.driver
    }

    /// The devices bound to this driver, oldest binding first.
    pub fn bound_devices(&self) -> Vec<ARef<Device>> {
        self.model.bound_devices(self.key)
    }

    /// Unregisters now (same as dropping).
    pub fn unregister(self) {
        drop(self);
    }
}

impl<D: Driver> Drop for Registration<D> {
    fn drop(&mut self) {
        self.model.unregister_driver(self.key);
    }
}

impl<D: Driver> fmt::Debug for Registration<D> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("driver::Registration")
            .field("name", &self.adapter.driver.name())
            .finish_non_exhaustive()
    }
}

/// A registered driver as listed by [`DeviceModel::drivers`](crate::DeviceModel::drivers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverInfo {
    /// Its bus.
    pub bus: String,
    /// Its name.
    pub name: String,
    /// How many devices it is bound to.
    pub bound: usize,
}

impl Shared {
    /// Makes the driver's adapter and files it (the generic half of a registration:
    /// the rest, [`file_driver`](Self::file_driver), is one copy for every driver type).
    pub(crate) fn register_driver_inner<D: Driver>(
        &self,
        driver: D,
        builtin: bool,
    ) -> Result<(u64, Arc<Adapter<D>>)> {
        let bus_type = TypeId::of::<D::Bus>();
        let bus_name = core::any::type_name::<D::Bus>();
        let bus = self.bus_object(bus_type).and_then(|object| {
            (object as Arc<dyn Any + Send + Sync>)
                .downcast::<D::Bus>()
                .ok()
        });
        let Some(bus) = bus else {
            return Err(Error::UnknownBus {
                bus: crate::error::owned(bus_name),
            });
        };
        let adapter = Arc::new(Adapter {
            driver,
            bus,
            bindings: Bindings::default(),
        });
        let key = self.file_driver(adapter.clone(), bus_type, bus_name, builtin)?;
        Ok((key, adapter))
    }

    /// The registered bus of type `bus_type`.
    fn bus_object(&self, bus_type: TypeId) -> Option<Arc<dyn ErasedBus>> {
        let registry = self.registry.lock();
        registry
            .buses
            .iter()
            .find(|bus| bus.type_id == bus_type)
            .map(|bus| bus.object.clone())
    }

    /// Files `object` in the driver table, its bus's driver names and match index.
    fn file_driver(
        &self,
        object: Arc<dyn ErasedDriver>,
        bus_type: TypeId,
        bus_name: &'static str,
        builtin: bool,
    ) -> Result<u64> {
        let name = String::from(object.name());
        // Bus code (`id_key`) runs here, before the lock.
        let count = object.entry_count();
        let mut keys: Vec<Option<MatchKey>> = Vec::with_capacity(count);
        for entry in 0..count {
            keys.push(object.entry_key(entry));
        }
        let mut registry = self.registry.lock();
        let Some(bus_index) = registry
            .buses
            .iter()
            .position(|bus| bus.type_id == bus_type)
        else {
            return Err(Error::UnknownBus {
                bus: crate::error::owned(bus_name),
            });
        };
        if registry.buses[bus_index]
            .drivers
            .get(&registry.drivers, &name)
            .is_some()
        {
            let bus = registry.buses[bus_index].name.clone();
            drop(registry);
            return Err(Error::DriverExists {
                bus: crate::error::owned(&bus),
                driver: name,
            });
        }
        let inserted = registry.drivers.insert(|key| DriverRecord {
            key,
            bus: bus_index,
            name,
            object,
            keys,
            builtin,
        });
        let key = match inserted {
            Ok(key) => key,
            Err(error) => {
                drop(registry);
                return Err(error);
            }
        };
        let Registry { buses, drivers, .. } = &mut *registry;
        if let Some(record) = drivers.get(key) {
            let bus = &mut buses[bus_index];
            bus.drivers.insert(drivers, key);
            for (entry, filed) in record.keys.iter().enumerate() {
                let entry = EntryRef { driver: key, entry };
                bus.index.insert(*filed, entry, record.object.clone());
            }
        }
        drop(registry);
        if !builtin {
            self.counters.drivers.fetch_add(1, Ordering::Relaxed);
        }
        Ok(key)
    }

    /// Unregisters a driver: no new matches, unbind its devices newest bound first, then
    /// forget it.
    pub(crate) fn unregister_driver(&self, key: u64) {
        // Step 1: no new probes, no new matches.
        let object;
        {
            let mut registry = self.registry.lock();
            let Some(record) = registry.drivers.get_mut(key) else {
                return;
            };
            record.object.bindings().set_dying();
            object = record.object.clone();
            let bus_index = record.bus;
            let keys = core::mem::take(&mut record.keys);
            let index = &mut registry.buses[bus_index].index;
            for filed in keys {
                index.remove_driver(filed, key);
            }
        }
        // Asynchronous probes queued for it: cancel them, and wait until none that
        // was running holds it.
        #[cfg(feature = "async-probe")]
        self.wait_for_driver_works(key, &*object);
        // Step 2: unbind every device, newest bound first, waiting for probes in flight.
        loop {
            let newest = {
                let registry = self.registry.lock();
                let Some(record) = registry.drivers.get(key) else {
                    return;
                };
                let newest = record.object.bindings().bound.lock().last();
                newest
                    .and_then(|(_, device)| registry.devices.get(&device))
                    .map(|record| record.device.clone())
            };
            let Some(device) = newest else {
                let stuck = {
                    let registry = self.registry.lock();
                    registry
                        .drivers
                        .get(key)
                        .is_some_and(|record| !record.object.bindings().bound.lock().is_empty())
                };
                if stuck {
                    // Defensive: a bound device always stays in the registry until its
                    // deletion has unbound it, so this only waits for that deletion
                    // (whose unbind ends a transition).
                    crate::wait::wait_until(
                        crate::wait::Channel::new(crate::wait::WaitPoint::Transition, self),
                        || {
                            let registry = self.registry.lock();
                            registry.drivers.get(key).is_none_or(|record| {
                                record.object.bindings().bound.lock().is_empty()
                            })
                        },
                    );
                    continue;
                }
                break;
            };
            self.wait_for_transition(&device);
            let _ = self.release_driver(&device, Some(&*object), false);
            drop(device);
        }
        // Step 3: forget the driver; its last reference drops outside the lock.
        let record = {
            let mut registry = self.registry.lock();
            let record = registry.drivers.remove(key);
            if let Some(record) = &record {
                let Registry { buses, drivers, .. } = &mut *registry;
                buses[record.bus]
                    .drivers
                    .remove(drivers, record.key, &record.name);
            }
            record
        };
        if let Some(record) = record
            && !record.builtin
        {
            self.counters.drivers.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The devices bound to a driver, oldest binding first.
    pub(crate) fn bound_devices(&self, key: u64) -> Vec<ARef<Device>> {
        let (object, candidates): (_, Vec<ARef<Device>>) = {
            let registry = self.registry.lock();
            let Some(record) = registry.drivers.get(key) else {
                return Vec::new();
            };
            let bound = record.object.bindings().bound.lock();
            let devices = bound
                .iter()
                .filter_map(|(_, device)| registry.devices.get(&device))
                .map(|record| record.device.clone())
                .collect();
            (record.object.clone(), devices)
        };
        candidates
            .into_iter()
            .filter(|device| {
                matches!(
                    device.inner().state.lock().binding(),
                    device::Binding::Bound { driver, .. } if driver.is(&*object)
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::BoundList;

    #[test]
    fn bound_list_keeps_binding_order_through_removals() {
        let mut list = BoundList::default();
        assert!(list.is_empty() && list.last().is_none());
        for sequence in 1..=5 {
            list.push((sequence, sequence * 10));
        }
        list.remove(1); // the inline first: the oldest of the rest moves up
        list.remove(4);
        list.remove(99); // unknown: nothing
        assert_eq!(list.iter().collect::<Vec<_>>(), [(2, 20), (3, 30), (5, 50)]);
        assert_eq!((list.len(), list.last()), (3, Some((5, 50))));
        for sequence in [2, 3, 5] {
            list.remove(sequence);
        }
        assert_eq!((list.is_empty(), list.len()), (true, 0));
        list.push((6, 60));
        assert_eq!(list.iter().collect::<Vec<_>>(), [(6, 60)]);
    }
}
