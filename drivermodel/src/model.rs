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
//! 2. a device's **state** lock (registration and binding state, and the device's
//!    **devres** list: held for a list change, nothing else is taken under it then);
//! 3. leaves, under which nothing else is taken: the **subscribers** lock, the **deferred-device set**, a driver's **bound list**, a
//!    binding's **driver-state** slot and the **executor** slot
//!    (`async_probe`, feature `async-probe`).
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
//! (through the [`wait`](crate::wait) hook: spinning unless the kernel installed one) for
//! the transition to finish. Consequently a callback must not delete or
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

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::TypeId;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::binding::Request;
use crate::bus::Bus;
use crate::counters::Counters;
pub use crate::counters::Counts;
use crate::device::{self, ARef, Device, DeviceBuilder, Lifecycle};
use crate::driver::{self, Driver, DriverInfo};
use crate::error::{Error, Result};
#[cfg(feature = "events")]
use crate::event::{Event, Subscribers, Subscription};
use crate::faux;
use crate::key_map::KeyMap;
use crate::registry::{Registry, Shared};

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
            #[cfg(feature = "events")]
            subscribers: Subscribers::default(),
            #[cfg(feature = "events")]
            pairs: crate::event::Pairs::default(),
            deferred: spin::Mutex::new(KeyMap::new()),
            deferred_generation: AtomicUsize::new(0),
            retrying: AtomicBool::new(false),
            probes_in_flight: AtomicUsize::new(0),
            #[cfg(feature = "debug-reprobe")]
            debug_reprobe: AtomicBool::new(false),
            #[cfg(feature = "async-probe")]
            async_probe: Default::default(),
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
        // The name is copied in `file_bus` (one copy of that code for every bus type).
        let object = Arc::new(bus);
        self.shared
            .file_bus(object.name(), TypeId::of::<B>(), object.clone())
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
            let _ = self.shared.attach(&device, Request::added());
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
    /// the driver of that name may bind it, automatically or explicitly, and it may bind
    /// even without an ID match (the bus can refuse; see [`binding`](crate::binding) for
    /// the rule). It does not unbind a bound device, nor bind an unbound one by itself.
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
                bus: String::clone(&registry.buses[record.bus].name),
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
            .map(|bus| String::clone(&bus.name))
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

    /// Waits until no probe and no deferred retry is running on any thread, and (with
    /// `async-probe`) no asynchronous probe is queued or running, through the
    /// [`wait`](crate::wait) hook (spinning unless the kernel installed one). With
    /// `async-probe` it first runs the queued asynchronous probes on the calling thread
    /// (see [`async_probe`](crate::async_probe)), so call it with no lock held that a
    /// probe may take. Calling it from a driver callback deadlocks.
    pub fn wait_for_probes(&self) {
        self.shared.wait_for_probes();
    }

    /// Waits until no probe of `device` is running (Linux's wait for one device's probe,
    /// not [`wait_for_probes`](Self::wait_for_probes)' wait for all of them), through
    /// the [`wait`](crate::wait) hook, and returns where the device then is: bound, or
    /// unbound because the probe failed or deferred. It returns at once if no probe of
    /// the device is running. With `async-probe`, it first runs the asynchronous probes
    /// queued for the device on the calling thread (so right after an add that queued
    /// one, it returns once that probe ran; from another device's probe, that probe
    /// probes this device inside it). Calling it from that device's own probe
    /// deadlocks.
    ///
    /// # Errors
    ///
    /// [`Error::ForeignDevice`].
    pub fn wait_for_probe(&self, device: &Device) -> Result<device::BindingState> {
        self.shared.check_own(device)?;
        Ok(self.shared.wait_for_probe(device))
    }

    #[cfg(feature = "debug-reprobe")]
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

    #[cfg(feature = "events")]
    /// Calls `subscriber` for every later event, until the subscription drops. See
    /// [`event`](crate::event) for the order.
    pub fn subscribe(&self, subscriber: impl Fn(&Event) + Send + Sync + 'static) -> Subscription {
        let id = self.shared.subscribers.add(Arc::new(subscriber));
        Subscription {
            model: Arc::downgrade(&self.shared),
            id,
        }
    }

    #[cfg(feature = "events")]
    /// The registered devices as they are now, in registration order, and a
    /// subscription that calls `subscriber` for every later event: no event of a change
    /// the snapshot shows is delivered, and none after it is missed (see
    /// [`event`](crate::event#starting-from-a-snapshot) for how, and for the wait this
    /// may take). Must not be called from a subscriber or a driver callback (a
    /// deadlock).
    pub fn subscribe_with_snapshot(
        &self,
        subscriber: impl Fn(&Event) + Send + Sync + 'static,
    ) -> (Vec<crate::event::DeviceSnapshot>, Subscription) {
        let (snapshot, id) = self.shared.snapshot_and_subscribe(Arc::new(subscriber));
        let subscription = Subscription {
            model: Arc::downgrade(&self.shared),
            id,
        };
        (snapshot, subscription)
    }
}
