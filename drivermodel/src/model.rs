//! The device model: one instance holds buses, drivers and devices, and is the only way
//! to register them. There is no global state; create as many models as you like.
//!
//! # Locks
//!
//! A model is `Send + Sync`. Its locks, always taken in this order (a lock is never
//! taken while a later one is held):
//!
//! 1. the model's **registry** lock (buses, drivers, devices, names, the match index,
//!    links);
//! 2. a device's **state** lock (registration and binding state);
//! 3. leaves, under which nothing else is taken: a device's **devres** lock, the
//!    **subscribers** lock, the **deferred-device set**, a driver's **bound list** and a
//!    binding's **driver-state** slot.
//!
//! At most one device's state lock is held at a time.
//!
//! No lock is held while the model calls code that is not its own: bus `match_id` /
//! `id_key` / `device_keys`, driver `probe` / `unbind` / `Drop`, the drop of driver
//! state, devres actions and values, release hooks and event subscribers. So a probe
//! may add child devices, register drivers, bind other devices or use devres.
//!
//! Transitions of one device are serialised by its binding state, not by a lock held
//! across the probe: an explicit bind or unbind of a device that is being probed or
//! unbound fails with [`Error::Busy`], while a delete or a driver unregistration waits
//! (spinning) for the transition to finish. Consequently a callback must not delete or
//! unbind the device it is called for, nor unregister its own driver.
//!
//! # Cost
//!
//! Matching, binding and naming do not slow down as a model grows. Drivers sit in a
//! slab indexed by the low bits of their key (one array access); the match index is a
//! flat open-addressing table whose entries carry the driver handle, and the per-driver
//! binding bookkeeping lives in the driver's own allocation, so binding a device to one
//! of 100,000 drivers reads one index slot and that driver, nothing else per driver.
//! Device names are found through a hash table of weak references, and deferred retries
//! visit only the deferred devices. A registered device costs about 210 bytes of heap
//! (object, name and registry entries; `cargo bench -p drivermodel --bench heap`).
//!
//! # Counters
//!
//! [`DeviceModel::counts`] reports live device objects, registered devices, bindings,
//! devres nodes and registered drivers; [`DeviceModel::is_quiescent`] says whether the
//! first four are zero, which every test can assert at its end.

#![forbid(unsafe_code)]

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::string::ToString;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::TypeId;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crate::bus::{Bus, EntryRef, ErasedBus, MatchIndex, MatchKey, fit_canonical, push_canonical};
use crate::device::{self, ARef, Device, DeviceBuilder, Lifecycle};
use crate::driver::{self, Adapter, Driver, DriverInfo, ErasedDriver};
use crate::error::{Error, Result};
use crate::event::{Event, EventKind, Subscribers, Subscription};
use crate::faux;

/// Live-object counters, shared by the model and its devices, and the devices' way back
/// to the model (weak: devices never keep a model alive).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) devices: AtomicUsize,
    pub(crate) registered: AtomicUsize,
    pub(crate) bindings: AtomicUsize,
    pub(crate) devres_nodes: AtomicUsize,
    pub(crate) drivers: AtomicUsize,
    /// Registered devices with a deferral reason.
    pub(crate) deferred: AtomicUsize,
    /// The source of devres node tags.
    pub(crate) next_tag: AtomicU64,
    pub(crate) model: Weak<Shared>,
}

/// A snapshot of a model's live-object counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Device objects not yet released (registered or not).
    pub devices: usize,
    /// Devices added and not yet deleted.
    pub registered_devices: usize,
    /// Devices bound to a driver.
    pub bindings: usize,
    /// devres nodes on all device lists (group markers included).
    pub devres_nodes: usize,
    /// Drivers registered by users (the built-in faux driver is not counted).
    pub drivers: usize,
}

impl Counts {
    /// No device object, binding or devres node is alive.
    pub fn is_quiescent(&self) -> bool {
        self.devices == 0
            && self.registered_devices == 0
            && self.bindings == 0
            && self.devres_nodes == 0
    }
}

pub(crate) struct BusEntry {
    /// Shared with the devices on the bus.
    pub(crate) name: device::BusName,
    type_id: TypeId,
    pub(crate) object: Arc<dyn ErasedBus>,
    /// Device names, hashed, to keys.
    pub(crate) names: NameIndex,
    /// Driver names to keys.
    pub(crate) drivers: BTreeMap<String, u64>,
    pub(crate) index: MatchIndex<Arc<dyn ErasedDriver>>,
}

pub(crate) struct DriverRecord {
    /// Its key in the [`DriverTable`].
    pub(crate) key: u64,
    pub(crate) bus: usize,
    pub(crate) name: String,
    pub(crate) object: Arc<dyn ErasedDriver>,
    /// The index key of each ID table entry, computed once at registration.
    keys: Vec<Option<MatchKey>>,
    builtin: bool,
}

/// The registered drivers: a slab, so that finding a driver by key on the match and
/// probe paths is one array access however many drivers there are.
///
/// A key is `registration sequence << SLOT_BITS | slot`: keys are never reused and
/// compare in registration order (which breaks match-score ties), while slots are
/// reused after an unregistration.
#[derive(Default)]
pub(crate) struct DriverTable {
    slots: Vec<Option<DriverRecord>>,
    free: Vec<usize>,
    next_sequence: u64,
}

impl DriverTable {
    const SLOT_BITS: u32 = 24;

    fn slot(key: u64) -> usize {
        (key & ((1 << Self::SLOT_BITS) - 1)) as usize
    }

    pub(crate) fn get(&self, key: u64) -> Option<&DriverRecord> {
        self.slots
            .get(Self::slot(key))?
            .as_ref()
            .filter(|record| record.key == key)
    }

    pub(crate) fn get_mut(&mut self, key: u64) -> Option<&mut DriverRecord> {
        self.slots
            .get_mut(Self::slot(key))?
            .as_mut()
            .filter(|record| record.key == key)
    }

    /// Files the record made by `make` from its new key.
    fn insert(&mut self, make: impl FnOnce(u64) -> DriverRecord) -> Result<u64> {
        let slot = match self.free.pop() {
            Some(slot) => {
                fit_canonical(&mut self.free);
                slot
            }
            None if self.slots.len() < 1 << Self::SLOT_BITS => {
                push_canonical(&mut self.slots, None);
                self.slots.len() - 1
            }
            None => return Err(Error::OutOfMemory),
        };
        let key = self.next_sequence << Self::SLOT_BITS | slot as u64;
        self.next_sequence += 1;
        self.slots[slot] = Some(make(key));
        Ok(key)
    }

    /// Takes the record out. Trailing empty slots are dropped (and leave the free list),
    /// and both vectors are kept at their canonical capacity, so the table's storage
    /// returns to what it was before the matching registration.
    fn remove(&mut self, key: u64) -> Option<DriverRecord> {
        self.get(key)?;
        let slot = Self::slot(key);
        let record = self.slots[slot].take();
        if slot + 1 == self.slots.len() {
            while self.slots.last().is_some_and(Option::is_none) {
                self.slots.pop();
            }
            let length = self.slots.len();
            self.free.retain(|&free| free < length);
            fit_canonical(&mut self.slots);
            fit_canonical(&mut self.free);
        } else {
            push_canonical(&mut self.free, slot);
        }
        record
    }

    /// Every driver, in registration order.
    pub(crate) fn values(&self) -> Vec<&DriverRecord> {
        let mut records: Vec<&DriverRecord> = self.slots.iter().flatten().collect();
        records.sort_unstable_by_key(|record| record.key);
        records
    }
}

/// A registered device: just the model's counted reference (its bus and parent are
/// read from the device, its child count is in its state), to keep the registry small.
pub(crate) struct DeviceRecord {
    pub(crate) device: ARef<Device>,
}

impl DeviceRecord {
    pub(crate) fn parent(&self) -> Option<u64> {
        self.device.parent().map(|parent| parent.inner().key)
    }
}

/// Device names of one namespace: an open-addressing hash table (linear probing, at
/// most three quarters full) of weak references to the devices, so the index keeps no
/// copy of the names and costs 8 to 16 bytes per device. A lookup hashes the name once
/// and compares it with the names of the devices in its probe run. Weak, because the
/// registry's one counted reference per device is in `Registry::devices`; every indexed
/// device is registered, so every upgrade succeeds.
#[derive(Default)]
pub(crate) struct NameIndex {
    slots: Vec<Option<Weak<Device>>>,
    length: usize,
}

impl NameIndex {
    fn home(name: &str, slot_count: usize) -> usize {
        // Fibonacci hashing of the name's FNV-1a hash.
        let hash = MatchKey::from_name(name)
            .value()
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let bits = slot_count.trailing_zeros();
        if bits == 0 {
            0
        } else {
            (hash >> (64 - bits)) as usize
        }
    }

    /// The home slot of an indexed device (`None` cannot happen: see the type docs).
    fn home_of(slot: &Weak<Device>, slot_count: usize) -> Option<usize> {
        slot.upgrade()
            .map(|device| Self::home(device.name(), slot_count))
    }

    pub(crate) fn find(&self, name: &str) -> Option<ARef<Device>> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut position = Self::home(name, self.slots.len());
        while let Some(slot) = &self.slots[position] {
            if let Some(device) = slot.upgrade()
                && device.name() == name
            {
                return Some(ARef(device));
            }
            position = (position + 1) & mask;
        }
        None
    }

    fn insert(&mut self, device: &ARef<Device>) {
        if (self.length + 1) * 4 > self.slots.len() * 3 {
            let new_count = (self.slots.len() * 2).max(16);
            let mut slots = Vec::new();
            slots.resize_with(new_count, || None);
            for slot in core::mem::replace(&mut self.slots, slots)
                .into_iter()
                .flatten()
            {
                if let Some(device) = slot.upgrade() {
                    self.place(device.name(), slot);
                }
            }
        }
        self.place(device.name(), Arc::downgrade(&device.0));
        self.length += 1;
    }

    fn place(&mut self, name: &str, slot: Weak<Device>) {
        let mask = self.slots.len() - 1;
        let mut position = Self::home(name, self.slots.len());
        while self.slots[position].is_some() {
            position = (position + 1) & mask;
        }
        self.slots[position] = Some(slot);
    }

    fn remove(&mut self, device: &Device) {
        if self.slots.is_empty() {
            return;
        }
        let mask = self.slots.len() - 1;
        let mut hole = Self::home(device.name(), self.slots.len());
        loop {
            match &self.slots[hole] {
                None => return,
                Some(slot) if core::ptr::eq(slot.as_ptr(), device) => break,
                Some(_) => hole = (hole + 1) & mask,
            }
        }
        self.length -= 1;
        // Shift the rest of the probe run back (no tombstones).
        let mut next = (hole + 1) & mask;
        while let Some(slot) = &self.slots[next] {
            let home = Self::home_of(slot, self.slots.len()).unwrap_or(next);
            if (next.wrapping_sub(home) & mask) >= (next.wrapping_sub(hole) & mask) {
                self.slots[hole] = self.slots[next].take();
                hole = next;
            }
            next = (next + 1) & mask;
        }
        self.slots[hole] = None;
    }
}

/// Everything under the registry lock.
#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) buses: Vec<BusEntry>,
    /// Names of bus-less devices.
    pub(crate) root_names: NameIndex,
    /// Registered devices in registration order.
    pub(crate) devices: BTreeMap<u64, DeviceRecord>,
    pub(crate) drivers: DriverTable,
    pub(crate) links: crate::link::Links,
    next_device: u64,
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
    pub(crate) subscribers: Subscribers,
    /// Keys of the registered devices with a deferral reason, in registration order, so
    /// a retry visits only them. A leaf lock (taken under a device's state lock).
    pub(crate) deferred: spin::Mutex<BTreeSet<u64>>,
    /// Bumped by every successful bind (the deferred-probe trigger).
    pub(crate) deferred_generation: AtomicU64,
    /// A thread is running the deferred retry loop.
    pub(crate) retrying: AtomicBool,
    pub(crate) probes_in_flight: AtomicUsize,
    pub(crate) debug_reprobe: AtomicBool,
}

/// A driver model instance. Cloning gives another handle to the same model.
///
/// ```
/// use drivermodel::{Bus, Device, DeviceBuilder, DeviceModel, Driver, IdEntry, Match};
/// use drivermodel::context::Core;
///
/// struct Platform;
/// impl Bus for Platform {
///     type Id = &'static str;
///     fn name(&self) -> &str { "platform" }
///     fn match_id(&self, device: &Device, id: &&'static str) -> Match {
///         if device.name().starts_with(*id) { Match::Yes { score: 1 } } else { Match::No }
///     }
/// }
///
/// struct Uart { table: [IdEntry<&'static str, u32>; 1] }
/// impl Driver for Uart {
///     type Bus = Platform;
///     type IdInfo = u32;     // per-ID data: the FIFO depth
///     type State = u32;      // per-device state, dropped at unbind
///     fn name(&self) -> &str { "uart" }
///     fn id_table(&self) -> &[IdEntry<&'static str, u32>] { &self.table }
///     fn probe(&self, device: &Device<Core>, fifo: &u32) -> drivermodel::Result<u32> {
///         device.devres().add_action(|| { /* undo the setup */ })?;
///         Ok(*fifo)
///     }
/// }
///
/// let model = DeviceModel::new();
/// model.register_bus(Platform)?;
/// let driver = model.register_driver(Uart { table: [IdEntry::new("uart", 16)] })?;
/// let uart = model.add_device(DeviceBuilder::new("uart0").bus("platform"))?;
/// assert_eq!(uart.driver_name().as_deref(), Some("uart"));
/// model.unbind(&uart)?;                 // remove = drop of the state, then devres
/// assert!(!uart.is_bound());
/// model.bind(&uart)?;
/// drop(driver);                         // unregister: unbinds uart0
/// assert!(!uart.is_bound());
/// drop(uart);                           // delete
/// assert!(model.is_quiescent());
/// # Ok::<(), drivermodel::Error>(())
/// ```
#[derive(Clone)]
pub struct DeviceModel {
    shared: Arc<Shared>,
}

impl Default for DeviceModel {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for DeviceModel {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("DeviceModel")
            .field("counts", &self.counts())
            .finish_non_exhaustive()
    }
}

impl DeviceModel {
    /// An empty model with the built-in [`faux`] bus and its driver.
    pub fn new() -> Self {
        let shared = Arc::new_cyclic(|this| Shared {
            registry: spin::Mutex::new(Registry::default()),
            counters: Arc::new(Counters {
                model: this.clone(),
                ..Counters::default()
            }),
            subscribers: Subscribers::default(),
            deferred: spin::Mutex::new(BTreeSet::new()),
            deferred_generation: AtomicU64::new(0),
            retrying: AtomicBool::new(false),
            probes_in_flight: AtomicUsize::new(0),
            debug_reprobe: AtomicBool::new(false),
        });
        let model = Self { shared };
        let registered = model
            .register_bus(faux::FauxBus)
            .and_then(|()| model.shared.register_driver_inner(faux::FauxDriver, true));
        debug_assert!(registered.is_ok(), "a new model has no faux bus yet");
        if let Ok((key, _)) = registered {
            model.shared.attach_driver(key);
        }
        model
    }

    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Registers a bus. Buses stay registered for the model's lifetime.
    ///
    /// # Errors
    ///
    /// [`Error::BusExists`] if a bus of this name or this type is registered.
    pub fn register_bus<B: Bus>(&self, bus: B) -> Result<()> {
        let name: device::BusName = Arc::new(String::from(bus.name()));
        let mut registry = self.shared.registry.lock();
        let type_id = TypeId::of::<B>();
        if registry
            .buses
            .iter()
            .any(|entry| entry.name == name || entry.type_id == type_id)
        {
            drop(registry);
            return Err(Error::BusExists {
                bus: name.to_string(),
            });
        }
        registry.buses.push(BusEntry {
            name,
            type_id,
            object: Arc::new(bus),
            names: NameIndex::default(),
            drivers: BTreeMap::new(),
            index: MatchIndex::default(),
        });
        Ok(())
    }

    /// Registers a driver on its bus and binds it to every matching unbound device.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownBus`] if `D::Bus` is not registered, [`Error::DriverExists`] if
    /// the bus has a driver of this name.
    pub fn register_driver<D: Driver>(&self, driver: D) -> Result<driver::Registration<D>> {
        let (key, adapter) = self.shared.register_driver_inner(driver, false)?;
        let registration = driver::Registration {
            model: self.shared.clone(),
            key,
            adapter,
        };
        self.shared.attach_driver(key);
        Ok(registration)
    }

    /// Adds a device and, if it is on a bus, tries to bind it (a failed or deferred probe
    /// does not fail the add). Bus-less devices are root devices, or virtual children of
    /// their parent.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`], [`Error::UnknownBus`], [`Error::NameTaken`],
    /// [`Error::PathTaken`], [`Error::ForeignDevice`] or [`Error::ParentDeleted`] (for
    /// the parent). The device
    /// object is then never created and the release hook is dropped without running.
    pub fn add_device(&self, builder: DeviceBuilder) -> Result<device::Registration> {
        let device = self.shared.add_device(builder)?;
        if device.bus_name().is_some() {
            let _ = self.shared.attach(&device, Request::automatic());
        }
        Ok(device::Registration {
            device,
            model: self.shared.clone(),
        })
    }

    /// Adds a device without trying to bind it (used by [`faux`]).
    pub(crate) fn add_device_unbound(
        &self,
        builder: DeviceBuilder,
    ) -> Result<device::Registration> {
        let device = self.shared.add_device(builder)?;
        Ok(device::Registration {
            device,
            model: self.shared.clone(),
        })
    }

    /// Binds `device` to the best-matching driver.
    ///
    /// # Errors
    ///
    /// [`Error::ForeignDevice`], [`Error::DeviceDeleted`], [`Error::AlreadyBound`],
    /// [`Error::Busy`], [`Error::NoMatch`], [`Error::Deferred`],
    /// [`Error::ManualBindRefused`], [`Error::ResourcesPresent`], or the probe's error.
    pub fn bind(&self, device: &Device) -> Result<()> {
        self.shared.check_own(device)?;
        self.shared.attach(device, Request::manual(None))
    }

    /// Sets (`Some`) or clears (`None`) the driver override of `device`: while set, only
    /// the driver of that name may bind it, automatically or explicitly. It does not
    /// unbind a bound device.
    ///
    /// # Errors
    ///
    /// [`Error::ForeignDevice`], [`Error::DeviceDeleted`].
    pub fn set_driver_override(&self, device: &Device, driver: Option<&str>) -> Result<()> {
        self.shared.check_own(device)?;
        let mut state = device.inner().state.lock();
        if !matches!(
            state.lifecycle,
            Lifecycle::Registered | Lifecycle::DeletePending
        ) {
            drop(state);
            return Err(Error::deleted(device));
        }
        state.set_driver_override(driver);
        Ok(())
    }

    /// Binds `device` to the driver named `driver` on its bus, which must match it.
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind), and [`Error::DriverNotRegistered`].
    pub fn bind_driver(&self, device: &Device, driver: &str) -> Result<()> {
        self.shared.check_own(device)?;
        self.shared.attach(device, Request::manual(Some(driver)))
    }

    /// Unbinds `device` from its driver.
    ///
    /// # Errors
    ///
    /// [`Error::ForeignDevice`], [`Error::NotBound`], [`Error::Busy`] or
    /// [`Error::ManualBindRefused`].
    pub fn unbind(&self, device: &Device) -> Result<()> {
        self.shared.check_own(device)?;
        self.shared.release_driver(device, None, true)
    }

    /// The registered device named `name` on `bus` (`None`: among bus-less devices).
    pub fn find_device(&self, bus: Option<&str>, name: &str) -> Option<ARef<Device>> {
        let registry = self.shared.registry.lock();
        match bus {
            Some(bus) => registry.buses[registry.bus_index(bus)?].names.find(name),
            None => registry.root_names.find(name),
        }
    }

    /// The registered device at `path`, as [`Device::path`] writes it and the
    /// [`tree`](crate::tree) shows it (for example `/devices/platform/uart16550.0`; the
    /// rule is in [`tree`](crate::tree#paths)). Every registered device has its own path,
    /// so this finds each of them. A trailing `/` is accepted; anything else not of that
    /// form finds nothing, and so does a bus's directory (`/devices/faux`) unless a root
    /// device has that name.
    ///
    /// Walks down from the top: at each level, one hashed name lookup per namespace (the
    /// bus-less devices, then each bus; names are unique only per namespace), keeping
    /// the device whose parent is the one found a level up. Never a scan of every device.
    ///
    /// ```
    /// use drivermodel::{DeviceBuilder, DeviceModel, faux};
    ///
    /// let model = DeviceModel::new();
    /// let board = model.add_device(DeviceBuilder::new("board"))?;
    /// let display = faux::Registration::new(&model, "display", Some(&board))?;
    /// let found = model.find_by_path("/devices/board/display").expect("registered");
    /// assert!(found.same_as(display.device()));
    /// assert!(model.find_by_path("/devices/display").is_none());
    /// assert!(model.find_by_path("board/display").is_none());
    /// # Ok::<(), drivermodel::Error>(())
    /// ```
    pub fn find_by_path(&self, path: &str) -> Option<ARef<Device>> {
        crate::tree::find(&self.shared.registry.lock(), path)
    }

    /// Every registered device, in registration order.
    pub fn devices(&self) -> Vec<ARef<Device>> {
        let registry = self.shared.registry.lock();
        registry
            .devices
            .values()
            .map(|record| record.device.clone())
            .collect()
    }

    /// The registered children of `device`, in registration order.
    pub fn children(&self, device: &Device) -> Vec<ARef<Device>> {
        let registry = self.shared.registry.lock();
        let key = device.inner().key;
        registry
            .devices
            .values()
            .filter(|record| record.parent() == Some(key))
            .map(|record| record.device.clone())
            .collect()
    }

    /// Every registered driver (built-in ones included), in registration order.
    pub fn drivers(&self) -> Vec<DriverInfo> {
        let registry = self.shared.registry.lock();
        registry
            .drivers
            .values()
            .into_iter()
            .filter(|record| !record.object.bindings().is_dying())
            .map(|record| DriverInfo {
                bus: registry.buses[record.bus].name.to_string(),
                name: record.name.clone(),
                bound: record.object.bindings().bound.lock().len(),
            })
            .collect()
    }

    /// The bus names, in registration order.
    pub fn buses(&self) -> Vec<String> {
        let registry = self.shared.registry.lock();
        registry
            .buses
            .iter()
            .map(|bus| bus.name.to_string())
            .collect()
    }

    /// Registered devices whose last bind attempt deferred, with the reasons.
    pub fn deferred_devices(&self) -> Vec<(ARef<Device>, String)> {
        self.shared
            .deferred_snapshot()
            .into_iter()
            .filter_map(|device| {
                let reason = device.deferred_reason()?;
                Some((device, reason))
            })
            .collect()
    }

    /// Tries to bind every unbound registered device whose last attempt deferred.
    /// Returns how many got bound.
    pub fn retry_deferred(&self) -> usize {
        let mut bound = 0;
        for (device, _) in self.deferred_devices() {
            if !device.is_bound() && self.shared.attach(&device, Request::automatic()).is_ok() {
                bound += 1;
            }
        }
        bound
    }

    /// Spins until no probe and no deferred retry is running on any thread. Calling it
    /// from a driver callback deadlocks.
    pub fn wait_for_probes(&self) {
        while self.shared.probes_in_flight.load(Ordering::SeqCst) > 0
            || self.shared.retrying.load(Ordering::SeqCst)
        {
            core::hint::spin_loop();
        }
    }

    /// Turns the debug re-probe mode on or off: see [`binding`](crate::binding).
    pub fn set_debug_reprobe(&self, enabled: bool) {
        self.shared.debug_reprobe.store(enabled, Ordering::Relaxed);
    }

    /// A snapshot of the live-object counters.
    pub fn counts(&self) -> Counts {
        let counters = &self.shared.counters;
        Counts {
            devices: counters.devices.load(Ordering::Relaxed),
            registered_devices: counters.registered.load(Ordering::Relaxed),
            bindings: counters.bindings.load(Ordering::Relaxed),
            devres_nodes: counters.devres_nodes.load(Ordering::Relaxed),
            drivers: counters.drivers.load(Ordering::Relaxed),
        }
    }

    /// Whether no device object, binding or devres node is alive.
    pub fn is_quiescent(&self) -> bool {
        self.counts().is_quiescent()
    }

    /// Calls `subscriber` for every later event, until the subscription drops. See
    /// [`event`](crate::event) for the order.
    pub fn subscribe(&self, subscriber: impl Fn(&Event) + Send + Sync + 'static) -> Subscription {
        let id = self.shared.subscribers.add(Arc::new(subscriber));
        Subscription {
            model: Arc::downgrade(&self.shared),
            id,
        }
    }
}

/// What an attach should do.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    /// An explicit user request: honours `allows_manual_bind`, reports errors.
    pub(crate) manual: bool,
    /// Only this driver.
    pub(crate) driver: Option<&'a str>,
}

impl<'a> Request<'a> {
    pub(crate) fn automatic() -> Self {
        Self {
            manual: false,
            driver: None,
        }
    }

    pub(crate) fn manual(driver: Option<&'a str>) -> Self {
        Self {
            manual: true,
            driver,
        }
    }
}

/// One candidate of a match: an ID table entry of a live driver.
#[derive(Clone)]
pub(crate) struct Candidate {
    pub(crate) entry: EntryRef,
    pub(crate) object: Arc<dyn ErasedDriver>,
}

impl Shared {
    pub(crate) fn check_own(&self, device: &Device) -> Result<()> {
        if device.inner().belongs_to(self) {
            Ok(())
        } else {
            Err(Error::ForeignDevice {
                device: device.name().into(),
            })
        }
    }

    pub(crate) fn notify(&self, kind: EventKind, device: &Device, driver: Option<&str>) {
        if self.subscribers.is_empty() {
            return;
        }
        self.subscribers.notify(&Event {
            kind,
            path: device.path(),
            bus: device.bus_name().map(String::from),
            driver: driver.map(String::from),
        });
    }

    pub(crate) fn register_driver_inner<D: Driver>(
        &self,
        driver: D,
        builtin: bool,
    ) -> Result<(u64, Arc<Adapter<D>>)> {
        let name = String::from(driver.name());
        let bus_type = TypeId::of::<D::Bus>();
        let bus_object = {
            let registry = self.registry.lock();
            registry
                .buses
                .iter()
                .find(|bus| bus.type_id == bus_type)
                .map(|bus| bus.object.clone())
        };
        let Some(bus_object) = bus_object else {
            return Err(Error::UnknownBus {
                bus: String::from(core::any::type_name::<D::Bus>()),
            });
        };
        let any: Arc<dyn core::any::Any + Send + Sync> = bus_object;
        let Ok(bus) = any.downcast::<D::Bus>() else {
            return Err(Error::UnknownBus {
                bus: String::from(core::any::type_name::<D::Bus>()),
            });
        };
        let adapter = Arc::new(Adapter {
            driver,
            bus,
            bindings: driver::Bindings::default(),
        });
        // Bus code (`id_key`) runs here, before the lock.
        let keys: Vec<Option<MatchKey>> = (0..adapter.entry_count())
            .map(|entry| adapter.entry_key(entry))
            .collect();
        let object: Arc<dyn ErasedDriver> = adapter.clone();
        let mut registry = self.registry.lock();
        let Some(bus_index) = registry
            .buses
            .iter()
            .position(|bus| bus.type_id == bus_type)
        else {
            return Err(Error::UnknownBus {
                bus: String::from(core::any::type_name::<D::Bus>()),
            });
        };
        if registry.buses[bus_index].drivers.contains_key(&name) {
            let bus = registry.buses[bus_index].name.clone();
            drop(registry);
            return Err(Error::DriverExists {
                bus: bus.to_string(),
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
            bus.drivers.insert(record.name.clone(), key);
            for (entry, filed) in record.keys.iter().enumerate() {
                let entry = EntryRef { driver: key, entry };
                bus.index.insert(*filed, entry, record.object.clone());
            }
        }
        drop(registry);
        if !builtin {
            self.counters.drivers.fetch_add(1, Ordering::Relaxed);
        }
        Ok((key, adapter))
    }

    /// Unregisters a driver: no new matches, unbind its devices newest bound first, then
    /// forget it.
    pub(crate) fn unregister_driver(&self, key: u64) {
        // Step 1: no new probes, no new matches.
        {
            let mut registry = self.registry.lock();
            let Some(record) = registry.drivers.get_mut(key) else {
                return;
            };
            record.object.bindings().set_dying();
            let bus_index = record.bus;
            let keys = core::mem::take(&mut record.keys);
            let index = &mut registry.buses[bus_index].index;
            for filed in keys {
                index.remove_driver(filed, key);
            }
        }
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
                    // deletion has unbound it, so this only waits for that deletion.
                    core::hint::spin_loop();
                    continue;
                }
                break;
            };
            self.wait_for_transition(&device);
            let _ = self.release_driver(&device, Some(key), false);
            drop(device);
        }
        // Step 3: forget the driver; its last reference drops outside the lock.
        let record = {
            let mut registry = self.registry.lock();
            let record = registry.drivers.remove(key);
            if let Some(record) = &record {
                let names = &mut registry.buses[record.bus].drivers;
                names.remove(&record.name);
                if names.is_empty() {
                    // An emptied `BTreeMap` keeps its root node: give it back.
                    *names = BTreeMap::new();
                }
            }
            record
        };
        if let Some(record) = record
            && !record.builtin
        {
            self.counters.drivers.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The registered devices with a deferral reason, in registration order.
    pub(crate) fn deferred_snapshot(&self) -> Vec<ARef<Device>> {
        let registry = self.registry.lock();
        let keys: Vec<u64> = self.deferred.lock().iter().copied().collect();
        keys.iter()
            .filter_map(|key| registry.devices.get(key))
            .map(|record| record.device.clone())
            .collect()
    }

    /// Spins until `device` is neither probing nor unbinding.
    pub(crate) fn wait_for_transition(&self, device: &Device) {
        while device.inner().state.lock().binding.in_transition() {
            core::hint::spin_loop();
        }
    }

    /// The devices bound to a driver, oldest binding first.
    pub(crate) fn bound_devices(&self, key: u64) -> Vec<ARef<Device>> {
        let candidates: Vec<ARef<Device>> = {
            let registry = self.registry.lock();
            let Some(record) = registry.drivers.get(key) else {
                return Vec::new();
            };
            let bound = record.object.bindings().bound.lock();
            bound
                .iter()
                .filter_map(|(_, device)| registry.devices.get(&device))
                .map(|record| record.device.clone())
                .collect()
        };
        candidates
            .into_iter()
            .filter(|device| {
                matches!(
                    &device.inner().state.lock().binding,
                    device::Binding::Bound { driver, .. } if driver.key == key
                )
            })
            .collect()
    }

    /// Creates and registers a device object.
    fn add_device(&self, builder: DeviceBuilder) -> Result<ARef<Device>> {
        if builder.name.is_empty() || builder.name.contains('/') {
            return Err(Error::InvalidName { name: builder.name });
        }
        if let Some(parent) = &builder.parent {
            self.check_own(parent)?;
        }
        let mut registry = self.registry.lock();
        // Step 1: validate everything before creating the object.
        let checked = (|| {
            let bus = match &builder.bus {
                Some(name) => Some(
                    registry
                        .bus_index(name)
                        .ok_or_else(|| Error::UnknownBus { bus: name.clone() })?,
                ),
                None => None,
            };
            let names = match bus {
                Some(bus) => &registry.buses[bus].names,
                None => &registry.root_names,
            };
            if names.find(&builder.name).is_some() {
                return Err(Error::NameTaken {
                    bus: builder.bus.clone(),
                    name: builder.name.clone(),
                });
            }
            if let Some(parent) = &builder.parent {
                let lifecycle = parent.inner().state.lock().lifecycle;
                if lifecycle != Lifecycle::Registered {
                    return Err(Error::ParentDeleted {
                        parent: parent.name().into(),
                    });
                }
                if !registry.devices.contains_key(&parent.inner().key) {
                    return Err(Error::ParentDeleted {
                        parent: parent.name().into(),
                    });
                }
            }
            crate::tree::check_path_free(&registry, &builder.name, bus, builder.parent.as_deref())?;
            Ok(bus)
        })();
        let bus = match checked {
            Ok(bus) => bus,
            Err(error) => {
                drop(registry);
                // The builder (and the parent reference in it) drops with no lock held.
                drop(builder);
                return Err(error);
            }
        };
        // Step 2: create and file it.
        let key = registry.next_device;
        registry.next_device += 1;
        if let Some(parent) = &builder.parent {
            parent.inner().state.lock().children += 1;
        }
        let bus_name = bus.map(|bus| registry.buses[bus].name.clone());
        let device = Device::create(builder, key, bus_name, self.counters.clone());
        match bus {
            Some(bus) => registry.buses[bus].names.insert(&device),
            None => registry.root_names.insert(&device),
        }
        registry.devices.insert(
            key,
            DeviceRecord {
                device: device.clone(),
            },
        );
        drop(registry);
        self.counters.registered.fetch_add(1, Ordering::Relaxed);
        self.notify(EventKind::Add, &device, None);
        Ok(device)
    }

    /// Deletes a device (its registration ends): mark it dead, unbind it, release its
    /// devres, then leave the registry, unless registered children remain (then the
    /// device stays registered, delete-pending, until the last of them is deleted).
    pub(crate) fn delete_device(&self, device: &Device) -> Result<()> {
        self.check_own(device)?;
        // Step 1: mark it dead. From here no probe starts (every probe path checks the
        // lifecycle under the device's state lock), no child is added (child adds check
        // it under the registry lock, held here) and it leaves the deferred set.
        {
            let _registry = self.registry.lock();
            let mut state = device.inner().state.lock();
            match state.lifecycle {
                Lifecycle::Registered => {}
                Lifecycle::DeletePending => {
                    let children = state.children as usize;
                    return Err(Error::HasChildren {
                        device: device.name().into(),
                        children,
                    });
                }
                Lifecycle::Deleting | Lifecycle::Deleted => return Err(Error::deleted(device)),
            }
            state.lifecycle = Lifecycle::Deleting;
            self.record_deferral(device, &mut state, None);
        }
        self.notify(EventKind::Delete, device, None);
        // Step 2: unbind (waiting for a probe or an unbind in flight). The driver's
        // remove may delete children it owns; their deletions do not wait for this one.
        loop {
            self.wait_for_transition(device);
            let bound = matches!(
                device.inner().state.lock().binding,
                device::Binding::Bound { .. }
            );
            if !bound {
                break;
            }
            let _ = self.release_driver(device, None, false);
        }
        // Step 3: purge device links, release devres, bound or not.
        self.registry.lock().links.purge(device.inner().key);
        crate::devres::release_all(device);
        // Step 4: children first. Child deletions update `children` under the registry
        // lock, so the decision and the pending mark are atomic with respect to them.
        {
            let _registry = self.registry.lock();
            let mut state = device.inner().state.lock();
            let children = state.children as usize;
            if children > 0 {
                state.lifecycle = Lifecycle::DeletePending;
                return Err(Error::HasChildren {
                    device: device.name().into(),
                    children,
                });
            }
        }
        self.finish_delete(device);
        Ok(())
    }

    /// The rest of a delete once the device is dead, unbound, released and childless:
    /// leave the registry, then complete any parent whose deletion waited for it.
    fn finish_delete(&self, device: &Device) {
        let mut next = Some(device.to_ref());
        while let Some(device) = next.take() {
            next = self.finish_delete_one(&device);
        }
    }

    /// Leaves the registry. Returns the parent if this deletion completed its pending
    /// deletion (the parent is then marked `Deleting` again; it is unbound and has no
    /// transition, so completing it never waits for anything).
    fn finish_delete_one(&self, device: &Device) -> Option<ARef<Device>> {
        // Anything added to the devres list since step 3 (a delete-pending device).
        crate::devres::release_all(device);
        let (record, parent) = {
            let mut registry = self.registry.lock();
            let key = device.inner().key;
            let record = registry.devices.remove(&key);
            let mut parent_to_delete = None;
            if record.is_some() {
                match registry.bus_of(device) {
                    Some(bus) => registry.buses[bus].names.remove(device),
                    None => registry.root_names.remove(device),
                }
                if let Some(parent) = device.parent() {
                    let mut parent_state = parent.inner().state.lock();
                    parent_state.children -= 1;
                    // A pending parent is dead, unbound and released: only its
                    // registry entry waited for this child. (A parent still in steps 1
                    // to 3 of its delete is `Deleting`, and checks its children itself.)
                    if parent_state.children == 0
                        && parent_state.lifecycle == Lifecycle::DeletePending
                    {
                        parent_state.lifecycle = Lifecycle::Deleting;
                        parent_to_delete = Some(parent.to_ref());
                    }
                }
            }
            let mut state = device.inner().state.lock();
            state.lifecycle = Lifecycle::Deleted;
            self.record_deferral(device, &mut state, None);
            drop(state);
            (record, parent_to_delete)
        };
        self.counters.registered.fetch_sub(1, Ordering::Relaxed);
        self.notify(EventKind::Removed, device, None);
        // The registry's reference drops with no lock held.
        drop(record);
        parent
    }
}
