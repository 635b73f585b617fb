//! Devices: counted objects with a registration and, at times, a binding.
//!
//! # Three lifetimes
//!
//! A device has three lifetimes that never stand in for one another:
//!
//! - **Object** — a reference count. [`ARef<Device>`] is a counted reference (`Clone`
//!   increments, `Drop` decrements). The last drop runs the final devres pass (anything
//!   added after delete), then the release hook given with
//!   [`DeviceBuilder::on_release`], then frees the object. A child holds a counted
//!   reference on its parent for the child's whole object lifetime, so `parent()` is
//!   always valid.
//! - **Registration** — from [`DeviceModel::add_device`](crate::DeviceModel::add_device) to
//!   delete. The add returns a [`Registration`]; dropping it (or
//!   [`Registration::delete`]) deletes the device, in this order:
//!   1. mark it **dead**: from then on no probe starts (explicit [`bind`] and
//!      [`bind_driver`] fail with [`Error::DeviceDeleted`]; deferred retries and newly
//!      registered drivers skip it) and it leaves the deferred-device set;
//!   2. **unbind** it if bound (waiting for a probe in flight first); the driver's remove
//!      may delete children the driver owns;
//!   3. purge its device links and **release its devres**, newest first, even when no
//!      driver was ever bound;
//!   4. **leave the bus** and the registry, unless registered children remain (see
//!      below).
//!
//!   While registered, the model itself holds one counted reference.
//! - **Binding** — from a successful probe to unbind. The driver's state lives exactly this
//!   long; devres taken during it is released at its end.
//!
//! ```
//! use drivermodel::{ARef, DeviceBuilder, DeviceModel, faux};
//!
//! let model = DeviceModel::new();
//! // Registration and binding begin together for a faux device.
//! let registration = faux::Registration::new(&model, "virtual0", None)?;
//! let object: ARef<drivermodel::Device> = registration.device().to_ref();
//! assert!(object.is_registered() && object.is_bound());
//! drop(registration); // ends the binding, then the registration...
//! assert!(!object.is_registered() && !object.is_bound());
//! assert_eq!(model.counts().devices, 1); // ...but not the object
//! drop(object); // the last reference: release
//! assert!(model.is_quiescent());
//! # Ok::<(), drivermodel::Error>(())
//! ```
//!
//! # Children first
//!
//! A parent leaves the registry only after its children. Deleting a parent runs steps 1
//! to 3 at once, so children its driver owns (deleted by the driver's remove) are gone by
//! step 4. If registered children still remain there, the parent stays registered as
//! **delete-pending**: dead, without driver or devres, refusing new children (with
//! [`Error::ParentDeleted`]); its deletion completes (step 4, and its
//! [`Removed`](crate::event::EventKind::Removed) event) when its last child is deleted,
//! on the thread that deletes that child. [`Registration::delete`] reports this case as
//! [`Error::HasChildren`]. Nothing in that completion waits: a delete-pending device has
//! no binding and can start none.
//!
//! [`bind`]: crate::DeviceModel::bind
//! [`bind_driver`]: crate::DeviceModel::bind_driver

#![forbid(unsafe_code)]

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::fmt;
use core::marker::PhantomData;
use core::ops::Deref;
use core::sync::atomic::Ordering;

use portable_atomic::AtomicU64;

use crate::context::{Context, Normal};
use crate::counters::Counters;
use crate::devres;
use crate::driver::ErasedDriver;
use crate::error::{Error, Result};
use crate::model::DeviceModel;
use crate::property::{
    self, Cells, Cells64, Encoder, Properties, Property, PropertyValue, StringList,
};
pub use crate::registration::Registration;
use crate::registry::Shared;
use crate::resource::{Interrupt, IoPortRange, Irq, MmioRange, Resource};

/// A device. `Device` alone means `Device<Normal>`; see [`context`](crate::context) for
/// what the other contexts prove.
///
/// # Invariants
///
/// `repr(transparent)` over `Inner` for every `Ctx`, so references can be cast between
/// contexts (done only in [`context`](crate::context)). Every `Device` lives inside the
/// `Arc` made by `Device::create`.
#[repr(transparent)]
pub struct Device<Ctx: Context = Normal> {
    inner: Inner,
    context: PhantomData<Ctx>,
}

/// The fields of a device, shared by all contexts.
///
/// Kept small (a registered device should cost well under 256 bytes of heap): rarely
/// used parts live in an optional [`Description`] box.
pub(crate) struct Inner {
    pub(crate) key: u64,
    name: Box<str>,
    /// Shared with the bus entry: no allocation per device, and a thin pointer.
    bus: Option<BusName>,
    parent: Option<ARef<Device>>,
    description: Option<Box<Description>>,
    /// Lock order: after the model's registry lock, before the leaf locks. It also
    /// guards the devres list.
    pub(crate) state: spin::Mutex<State>,
    /// New at every probe start (the model's bind sequence number, which also orders the
    /// driver's bound list); tells bindings apart for [`crate::Devres`].
    /// 64 bits because [`Devres::access`](crate::Devres::access) relies on it for
    /// soundness: a 32-bit count could wrap within minutes of rebinding while an old
    /// `Devres` still lives. `portable_atomic` where the target has no 64-bit atomics.
    pub(crate) generation: AtomicU64,
    /// The live-object counters and the way back to the model.
    pub(crate) counters: Arc<Counters>,
    this: Weak<Device>,
}

/// A bus name as devices share it with their bus entry (an `Arc<String>` rather than an
/// `Arc<str>`: a thin pointer saves 8 bytes per device).
pub(crate) type BusName = Arc<String>;

/// The parts of a device most devices do not have. Bus data (for example a PCI
/// function's IDs) is the common one, so it sits first and the rest is boxed again: a
/// device with only bus data pays for this small box and its data.
struct Description {
    data: Option<Box<dyn Any + Send + Sync>>,
    rest: Option<Box<Rare>>,
}

/// The parts of a [`Description`] that even devices with bus data rarely have.
struct Rare {
    resources: Vec<Resource>,
    properties: Properties,
    release: spin::Mutex<Option<Box<dyn FnOnce() + Send>>>,
    devres_capacity: Option<usize>,
}

/// Where a device is in its registration lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    /// Added and live.
    Registered,
    /// Dead (unbound, devres released) and waiting for its children: it leaves the
    /// registry with the last of them.
    DeletePending,
    /// Deletion in progress (dead: no new probe may start), or completing.
    Deleting,
    /// Deleted.
    Deleted,
}

/// Where a device is in its binding lifetime, with the driver it is being bound to,
/// bound to or unbound from. `State` keeps it packed (the driver beside a [`Phase`]
/// byte): [`State::binding`] reads it, [`State::replace_binding`] changes it.
pub(crate) enum Binding<H = DriverHandle> {
    Unbound,
    Probing {
        driver: H,
    },
    /// The driver's state is in the handle (keeps this enum, and so every device, small).
    Bound {
        driver: H,
    },
    Unbinding {
        driver: H,
    },
    /// Bound, with the driver's state lent to a power-management callback (only
    /// [`power`](crate::power) lends it).
    Calling {
        driver: H,
    },
}

/// The tag of a [`Binding`], as `State` stores it (one byte beside the other small
/// fields, where the enum's own tag would take a word).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Unbound,
    Probing,
    Bound,
    Unbinding,
    Calling,
}

/// A device's binding state, as reported by [`Device::binding_state`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BindingState {
    /// No driver.
    Unbound,
    /// A driver's probe is running.
    Probing {
        /// The driver name.
        driver: String,
    },
    /// Bound to a driver.
    Bound {
        /// The driver name.
        driver: String,
    },
    /// An unbind is running.
    Unbinding {
        /// The driver name.
        driver: String,
    },
}

impl<H> Binding<H> {
    pub(crate) fn in_transition(&self) -> bool {
        matches!(
            self,
            Self::Probing { .. } | Self::Unbinding { .. } | Self::Calling { .. }
        )
    }

    /// The tag and the driver, apart.
    fn split(self) -> (Phase, Option<H>) {
        match self {
            Self::Unbound => (Phase::Unbound, None),
            Self::Probing { driver } => (Phase::Probing, Some(driver)),
            Self::Bound { driver } => (Phase::Bound, Some(driver)),
            Self::Unbinding { driver } => (Phase::Unbinding, Some(driver)),
            Self::Calling { driver } => (Phase::Calling, Some(driver)),
        }
    }

    /// Puts a tag and a driver back together (no driver: unbound).
    fn join(phase: Phase, driver: Option<H>) -> Self {
        let Some(driver) = driver else {
            return Self::Unbound;
        };
        match phase {
            Phase::Unbound => Self::Unbound,
            Phase::Probing => Self::Probing { driver },
            Phase::Bound => Self::Bound { driver },
            Phase::Unbinding => Self::Unbinding { driver },
            Phase::Calling => Self::Calling { driver },
        }
    }
}

/// The driver a device is being bound to, bound to, or unbound from (shared, so the
/// binding state stays small and cheap to clone).
pub(crate) type DriverHandle = Arc<Handle>;

/// See [`DriverHandle`].
///
/// It names the driver by its object alone: the driver key and the binding's place in
/// the driver's bound list (the device's generation) are not repeated here, so a bound
/// device pays for three fields.
pub(crate) struct Handle {
    pub(crate) object: Arc<dyn ErasedDriver>,
    /// The driver's per-device state while bound: filed by a successful probe, lent out
    /// to power callbacks and taken by the unbind. Its lock is a leaf for the core, which
    /// takes it only with the gate shut; a [`DriverData`](crate::DriverData) access holds
    /// it while its closure runs.
    pub(crate) state: spin::Mutex<Option<Box<dyn Any + Send>>>,
    /// Counts the [`DriverData`](crate::DriverData) accesses in flight; shut while the
    /// state is not filed or lent out, and for good when the binding ends.
    pub(crate) gate: crate::drvdata::Gate,
}

impl Handle {
    /// Whether the binding is with `object` (a registered driver's object: unique while
    /// registered, and kept alive by every handle naming it).
    pub(crate) fn is(&self, object: &dyn ErasedDriver) -> bool {
        core::ptr::addr_eq(Arc::as_ptr(&self.object), object)
    }
}

/// The mutable part of a device, under its state lock.
///
/// Packed into four words: a pointer, two boxes and the small fields together (the
/// `heap` bench counts it once per device).
pub(crate) struct State {
    /// The driver of the binding (`None` exactly when `phase` is `Unbound`).
    driver: Option<DriverHandle>,
    /// Deferral reason and driver override, boxed because they are rare.
    policy: Option<Box<Policy>>,
    /// Registered children (maintained under the registry lock).
    pub(crate) children: u32,
    pub(crate) lifecycle: Lifecycle,
    phase: Phase,
    /// The devres list ([`devres`](crate::devres) owns it; boxed on first use).
    pub(crate) devres: devres::Store,
    /// `SUSPENDED` and `ANNOUNCING`.
    flags: u8,
    /// Asynchronous probe works queued for the device and not yet done
    /// ([`async_probe`](crate::async_probe); a `u8` fits beside the other small fields:
    /// at the limit, the next probe runs synchronously).
    #[cfg(feature = "async-probe")]
    pub(crate) queued: u8,
}

/// The bound driver's suspend succeeded and no resume or unbind followed (set and
/// cleared by [`power`](crate::power)).
const SUSPENDED: u8 = 1;
/// A probe or unbind has published its outcome and is sending its closing event
/// (`Bound`, `NotBound`, `Unbound`): the device is still in transition until it is sent,
/// so its next transition's events come after it.
const ANNOUNCING: u8 = 2;

#[derive(Default)]
struct Policy {
    /// Why the last probe or match deferred, cleared by a successful bind.
    deferred: Option<Box<str>>,
    /// When set, only the driver of this name may bind.
    driver_override: Option<Box<str>>,
    /// Automatic probing is off ([`DeviceBuilder::autoprobe`]): only an explicit bind
    /// binds the device.
    manual_only: bool,
}

impl State {
    pub(crate) fn deferred(&self) -> Option<&str> {
        self.policy.as_ref()?.deferred.as_deref()
    }

    pub(crate) fn set_deferred(&mut self, reason: Option<&str>) {
        self.update_policy(|policy| policy.deferred = reason.map(Box::from));
    }

    pub(crate) fn driver_override(&self) -> Option<&str> {
        self.policy.as_ref()?.driver_override.as_deref()
    }

    pub(crate) fn set_driver_override(&mut self, driver: Option<&str>) {
        self.update_policy(|policy| policy.driver_override = driver.map(Box::from));
    }

    /// Whether automatic probing is off for the device.
    pub(crate) fn manual_only(&self) -> bool {
        self.policy
            .as_ref()
            .is_some_and(|policy| policy.manual_only)
    }

    /// Whether a transition is running: a probe, an unbind or a power callback, or the
    /// announcement that ends one.
    pub(crate) fn in_transition(&self) -> bool {
        self.binding().in_transition() || self.announcing()
    }

    /// Where the device is in its binding lifetime.
    pub(crate) fn binding(&self) -> Binding<&DriverHandle> {
        Binding::join(self.phase, self.driver.as_ref())
    }

    /// Sets the binding and returns the old one (to be dropped with no lock held).
    pub(crate) fn replace_binding(&mut self, binding: Binding) -> Binding {
        let (phase, driver) = binding.split();
        let old = Binding::join(self.phase, core::mem::replace(&mut self.driver, driver));
        self.phase = phase;
        old
    }

    /// Puts back a binding taken out with `replace_binding(Binding::Unbound)` (so there
    /// is no old one to drop under the lock).
    pub(crate) fn restore_binding(&mut self, binding: Binding) {
        debug_assert!(self.driver.is_none(), "the binding was taken out first");
        let (phase, driver) = binding.split();
        self.driver = driver;
        self.phase = phase;
    }

    /// See [`SUSPENDED`].
    pub(crate) fn suspended(&self) -> bool {
        self.flags & SUSPENDED != 0
    }

    pub(crate) fn set_suspended(&mut self, suspended: bool) {
        self.set_flag(SUSPENDED, suspended);
    }

    /// See [`ANNOUNCING`].
    pub(crate) fn announcing(&self) -> bool {
        self.flags & ANNOUNCING != 0
    }

    pub(crate) fn set_announcing(&mut self, announcing: bool) {
        self.set_flag(ANNOUNCING, announcing);
    }

    fn set_flag(&mut self, flag: u8, on: bool) {
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }

    fn update_policy(&mut self, change: impl FnOnce(&mut Policy)) {
        let mut policy = self.policy.take().unwrap_or_default();
        change(&mut policy);
        if policy.deferred.is_some() || policy.driver_override.is_some() || policy.manual_only {
            self.policy = Some(policy);
        }
    }
}

impl Device {
    /// Makes the object (not yet registered).
    pub(crate) fn create(
        builder: DeviceBuilder,
        key: u64,
        bus: Option<BusName>,
        counters: Arc<Counters>,
    ) -> ARef<Device> {
        counters.devices.fetch_add(1, Ordering::Relaxed);
        let rare = (!builder.resources.is_empty()
            || !builder.properties.is_empty()
            || builder.release.is_some()
            || builder.devres_capacity.is_some())
        .then(|| {
            Box::new(Rare {
                resources: builder.resources,
                properties: builder.properties.finish(),
                release: spin::Mutex::new(builder.release),
                devres_capacity: builder.devres_capacity,
            })
        });
        let description = (builder.data.is_some() || rare.is_some()).then(|| {
            Box::new(Description {
                data: builder.data,
                rest: rare,
            })
        });
        let arc = Arc::new_cyclic(|this| Device {
            inner: Inner {
                key,
                name: builder.name.into_boxed_str(),
                bus,
                parent: builder.parent,
                description,
                state: spin::Mutex::new(State {
                    driver: None,
                    policy: (!builder.autoprobe).then(|| {
                        Box::new(Policy {
                            manual_only: true,
                            ..Policy::default()
                        })
                    }),
                    children: 0,
                    lifecycle: Lifecycle::Registered,
                    phase: Phase::Unbound,
                    devres: devres::Store::new(),
                    flags: 0,
                    #[cfg(feature = "async-probe")]
                    queued: 0,
                }),
                generation: AtomicU64::new(0),
                counters,
                this: this.clone(),
            },
            context: PhantomData,
        });
        ARef(arc)
    }
}

impl<Ctx: Context> Device<Ctx> {
    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }
}

impl Inner {
    /// A weak reference to the device object (it does not keep the object alive).
    pub(crate) fn weak(&self) -> Weak<Device> {
        self.this.clone()
    }

    /// The model, if it still exists.
    pub(crate) fn model(&self) -> Option<Arc<Shared>> {
        self.counters.model.upgrade()
    }

    /// Whether the device belongs to `model`.
    pub(crate) fn belongs_to(&self, model: &Shared) -> bool {
        core::ptr::eq(self.counters.model.as_ptr(), model)
    }

    /// The bus name, shared with the bus entry.
    pub(crate) fn bus(&self) -> Option<&BusName> {
        self.bus.as_ref()
    }

    /// The rarely used parts of the description.
    fn rare(&self) -> Option<&Rare> {
        self.description.as_ref()?.rest.as_deref()
    }

    /// The devres capacity limit, if any.
    pub(crate) fn devres_capacity(&self) -> Option<usize> {
        self.rare()?.devres_capacity
    }
}

impl Device {
    /// The device name, unique on its bus (or among bus-less devices).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The bus name, or `None` for bus-less (root and virtual) devices.
    pub fn bus_name(&self) -> Option<&str> {
        self.inner.bus.as_deref().map(String::as_str)
    }

    /// The parent device.
    pub fn parent(&self) -> Option<&Device> {
        self.inner.parent.as_deref()
    }

    /// The path in the device tree, unique among registered devices:
    /// `<parent's path>/<name>` for a device with a parent, `/devices/<bus>/<name>` for a
    /// bus device without one and `/devices/<name>` for a root device. See
    /// [`tree`](crate::tree#paths) for the rule and what happens to names that would
    /// collide.
    pub fn path(&self) -> String {
        crate::tree::path_of(self)
    }

    /// The hardware resources, in the order given at build time.
    pub fn resources(&self) -> &[Resource] {
        self.inner.rare().map_or(&[], |rare| &rare.resources)
    }

    /// The `index`-th I/O port range.
    pub fn io_ports(&self, index: usize) -> Option<IoPortRange> {
        self.resources()
            .iter()
            .filter_map(|resource| match resource {
                Resource::IoPorts(range) => Some(*range),
                _ => None,
            })
            .nth(index)
    }

    /// The `index`-th MMIO range.
    pub fn mmio(&self, index: usize) -> Option<MmioRange> {
        self.resources()
            .iter()
            .filter_map(|resource| match resource {
                Resource::Mmio(range) => Some(*range),
                _ => None,
            })
            .nth(index)
    }

    /// The `index`-th interrupt that names its controller (see
    /// [`Interrupt`]).
    pub fn interrupt(&self, index: usize) -> Option<&Interrupt> {
        self.resources()
            .iter()
            .filter_map(|resource| match resource {
                Resource::Interrupt(interrupt) => Some(interrupt),
                _ => None,
            })
            .nth(index)
    }

    /// A weak reference to this device (for properties and resources that name it).
    pub(crate) fn downgrade(&self) -> Weak<Device> {
        self.inner.this.clone()
    }

    /// The `index`-th interrupt line.
    pub fn irq(&self, index: usize) -> Option<Irq> {
        self.resources()
            .iter()
            .filter_map(|resource| match resource {
                Resource::Irq(irq) => Some(*irq),
                _ => None,
            })
            .nth(index)
    }

    /// The property `name`, borrowed from the device's property buffer (see
    /// [`property`] for the typed reads).
    pub fn property(&self, name: &str) -> Option<Property<'_>> {
        self.inner.rare()?.properties.get(name)
    }

    /// All properties, in the order they were set.
    pub fn properties(&self) -> impl Iterator<Item = Property<'_>> {
        self.inner
            .rare()
            .into_iter()
            .flat_map(|rare| rare.properties.iter())
    }

    /// The property `name` or the [`PropertyError::Missing`](property::PropertyError)
    /// error.
    fn require(&self, name: &str) -> Result<Property<'_>> {
        self.property(name).ok_or_else(|| Error::Property {
            property: name.into(),
            problem: property::PropertyError::Missing,
        })
    }

    /// Whether the flag `name` is set: present and not a stored `false` (Linux's
    /// `of_property_read_bool`: a devicetree flag is an empty property).
    pub fn read_bool(&self, name: &str) -> bool {
        self.property(name)
            .is_some_and(|property| !matches!(property.value(), property::Value::Bool(false)))
    }

    /// The property `name` as exactly one `u32`.
    ///
    /// # Errors
    ///
    /// [`Error::Property`] when it is missing, of another type, or not exactly one cell.
    pub fn read_u32(&self, name: &str) -> Result<u32> {
        self.require(name)?.as_u32()
    }

    /// The property `name` as exactly one `u64` (a devicetree value of two cells).
    ///
    /// # Errors
    ///
    /// [`Error::Property`] when it is missing, of another type, or not exactly one
    /// number.
    pub fn read_u64(&self, name: &str) -> Result<u64> {
        self.require(name)?.as_u64()
    }

    /// The property `name` as `u32` cells, read in place.
    ///
    /// # Errors
    ///
    /// [`Error::Property`] when it is missing, of another type, or its length is not a
    /// multiple of 4.
    pub fn read_u32_array(&self, name: &str) -> Result<Cells<'_>> {
        self.require(name)?.as_u32_array()
    }

    /// The `index`-th cell of the property `name`.
    ///
    /// # Errors
    ///
    /// As [`read_u32_array`](Self::read_u32_array), and
    /// [`PropertyError::OutOfRange`](property::PropertyError::OutOfRange) past its end.
    pub fn read_u32_at(&self, name: &str, index: usize) -> Result<u32> {
        let cells = self.read_u32_array(name)?;
        cells.get(index).ok_or_else(|| Error::Property {
            property: name.into(),
            problem: property::PropertyError::OutOfRange {
                index,
                count: cells.len(),
            },
        })
    }

    /// The property `name` as `u64` numbers, read in place.
    ///
    /// # Errors
    ///
    /// [`Error::Property`] when it is missing, of another type, or its length is not a
    /// multiple of 8.
    pub fn read_u64_array(&self, name: &str) -> Result<Cells64<'_>> {
        self.require(name)?.as_u64_array()
    }

    /// The property `name` as one string (the first of a list).
    ///
    /// # Errors
    ///
    /// [`Error::Property`] when it is missing, of another type, empty, not
    /// NUL-terminated or not UTF-8.
    pub fn read_string(&self, name: &str) -> Result<&str> {
        self.require(name)?.as_str()
    }

    /// The property `name` as a string list.
    ///
    /// # Errors
    ///
    /// [`Error::Property`] when it is missing, of another type, not NUL-terminated or
    /// not UTF-8.
    pub fn read_strings(&self, name: &str) -> Result<StringList<'_>> {
        self.require(name)?.as_strings()
    }

    /// The `index`-th reference of the property `name`: the device and its argument
    /// cells.
    ///
    /// # Errors
    ///
    /// [`Error::Property`] when it is missing, not a reference list, `index` is out of
    /// range, or the target is gone.
    pub fn read_reference(&self, name: &str, index: usize) -> Result<property::Reference<'_>> {
        self.require(name)?.reference(index)
    }

    /// The bus-specific data given with [`DeviceBuilder::data`], if it is a `T`.
    pub fn data<T: Any>(&self) -> Option<&T> {
        self.inner
            .description
            .as_ref()?
            .data
            .as_ref()?
            .downcast_ref()
    }

    /// Whether the device is registered: added, and not yet out of the registry. A
    /// delete-pending device (dead, waiting for its children: see the
    /// [module docs](self#children-first)) is still registered; a device whose deletion
    /// has started otherwise is not.
    pub fn is_registered(&self) -> bool {
        matches!(
            self.inner.state.lock().lifecycle,
            Lifecycle::Registered | Lifecycle::DeletePending
        )
    }

    /// Whether a driver is bound (a probe in progress does not count).
    pub fn is_bound(&self) -> bool {
        matches!(
            self.inner.state.lock().binding(),
            Binding::Bound { .. } | Binding::Calling { .. }
        )
    }

    /// The name of the bound driver.
    pub fn driver_name(&self) -> Option<String> {
        match self.inner.state.lock().binding() {
            Binding::Bound { driver, .. } | Binding::Calling { driver } => {
                Some(driver.object.name().into())
            }
            _ => None,
        }
    }

    /// Where the device is in its binding lifetime, with the driver's name.
    pub fn binding_state(&self) -> BindingState {
        let state = self.inner.state.lock();
        let name = |driver: &DriverHandle| String::from(driver.object.name());
        match state.binding() {
            Binding::Unbound => BindingState::Unbound,
            Binding::Probing { driver } => BindingState::Probing {
                driver: name(driver),
            },
            Binding::Bound { driver, .. } => BindingState::Bound {
                driver: name(driver),
            },
            Binding::Unbinding { driver } => BindingState::Unbinding {
                driver: name(driver),
            },
            Binding::Calling { driver } => BindingState::Bound {
                driver: name(driver),
            },
        }
    }

    /// Whether the device is suspended: its driver's suspend succeeded in
    /// [`DeviceModel::suspend_all`](crate::DeviceModel::suspend_all) and neither a resume
    /// nor an unbind has happened since.
    pub fn is_suspended(&self) -> bool {
        self.inner.state.lock().suspended()
    }

    /// Why the last attempt to bind this device deferred, until a bind succeeds.
    pub fn deferred_reason(&self) -> Option<String> {
        self.inner.state.lock().deferred().map(String::from)
    }

    /// The device's devres list.
    pub fn devres(&self) -> devres::List<'_> {
        devres::List::new(self)
    }

    /// A new counted reference.
    pub fn to_ref(&self) -> ARef<Device> {
        // Every device lives in the `Arc` made by `create` (type invariant) and `self`
        // proves a strong reference exists, so the upgrade cannot fail.
        match self.inner.this.upgrade() {
            Some(arc) => ARef(arc),
            None => unreachable!("a borrowed device has a live strong reference"),
        }
    }

    /// The model this device belongs to, if it still exists.
    pub fn model(&self) -> Option<DeviceModel> {
        self.inner.model().map(DeviceModel::from_shared)
    }

    /// Whether `self` and `other` are the same device object.
    pub fn same_as(&self, other: &Device) -> bool {
        core::ptr::eq(&self.inner, &other.inner)
    }
}

impl<Ctx: Context> fmt::Debug for Device<Ctx> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Device")
            .field("name", &self.inner.name)
            .field("bus", &self.inner.bus)
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The third devres pass: anything added after delete (or to a device that was
        // never registered). Nothing else can reach the device now.
        devres::release_all_nodes(self.state.get_mut().devres.take_all(), &self.counters);
        if let Some(description) = &mut self.description
            && let Some(rare) = &mut description.rest
            && let Some(release) = rare.release.get_mut().take()
        {
            release();
        }
        self.counters.devices.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A counted reference to a device: `Clone` takes a reference, `Drop` puts it; the last
/// put releases the device. Only [`Device<Normal>`](Device) can be counted, so a
/// bound-device proof can never be stored.
pub struct ARef<T>(pub(crate) Arc<T>);

impl<T> ARef<T> {
    /// How many counted references exist (for tests and diagnostics).
    pub fn count(this: &Self) -> usize {
        Arc::strong_count(&this.0)
    }

    /// Whether two references name the same object.
    pub fn ptr_eq(this: &Self, other: &Self) -> bool {
        Arc::ptr_eq(&this.0, &other.0)
    }
}

impl<T> Clone for ARef<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Deref for ARef<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: fmt::Debug> fmt::Debug for ARef<T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, formatter)
    }
}

impl<Ctx: Context> From<&Device<Ctx>> for ARef<Device> {
    fn from(device: &Device<Ctx>) -> Self {
        match device.inner.this.upgrade() {
            Some(arc) => ARef(arc),
            None => unreachable!("a borrowed device has a live strong reference"),
        }
    }
}

/// The description of a device to add.
///
/// ```
/// use drivermodel::{DeviceBuilder, DeviceModel};
/// use drivermodel::resource::{IoPortRange, Irq, Resource};
///
/// let model = DeviceModel::new();
/// let root = model.add_device(DeviceBuilder::new("board"))?;
/// let uart = model.add_device(
///     DeviceBuilder::new("uart0")
///         .parent(&root)
///         .resource(Resource::IoPorts(IoPortRange::new(0x3f8, 8)?))
///         .resource(Resource::Irq(Irq(4)))
///         .property("baud", 115_200u64),
/// )?;
/// assert_eq!(uart.path(), "/devices/board/uart0");
/// assert_eq!(uart.irq(0), Some(Irq(4)));
/// drop(uart);
/// drop(root);
/// assert!(model.is_quiescent());
/// # Ok::<(), drivermodel::Error>(())
/// ```
pub struct DeviceBuilder {
    pub(crate) name: String,
    pub(crate) bus: Option<String>,
    pub(crate) parent: Option<ARef<Device>>,
    resources: Vec<Resource>,
    properties: Encoder,
    data: Option<Box<dyn Any + Send + Sync>>,
    release: Option<Box<dyn FnOnce() + Send>>,
    devres_capacity: Option<usize>,
    autoprobe: bool,
}

impl DeviceBuilder {
    /// A bus-less device named `name` with no parent (a root device until `bus` or
    /// `parent` say otherwise).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            bus: None,
            parent: None,
            resources: Vec::new(),
            properties: Encoder::default(),
            data: None,
            release: None,
            devres_capacity: None,
            autoprobe: true,
        }
    }

    /// Puts the device on the bus of this name.
    pub fn bus(mut self, bus: impl Into<String>) -> Self {
        self.bus = Some(bus.into());
        self
    }

    /// Sets the parent; the device will hold a counted reference on it.
    pub fn parent<Ctx: Context>(mut self, parent: &Device<Ctx>) -> Self {
        self.parent = Some(parent.into());
        self
    }

    /// Adds a hardware resource.
    pub fn resource(mut self, resource: Resource) -> Self {
        self.resources.push(resource);
        self
    }

    /// Sets the property `name` (replacing one of the same name): `bool`, `u32`, `u64`,
    /// strings, string lists and number arrays (see
    /// [`PropertyValue`]). All of a device's properties share one allocation.
    pub fn property(mut self, name: &str, value: impl PropertyValue) -> Self {
        property::set_value(&mut self.properties, name, &value);
        self
    }

    /// Sets the property `name` to one reference to `target` with argument cells `args`
    /// (at most 255), read back with [`Device::read_reference`]. The reference is weak:
    /// it does not keep `target` alive.
    pub fn reference<Ctx: Context>(
        mut self,
        name: &str,
        target: &Device<Ctx>,
        args: &[u32],
    ) -> Self {
        self.properties
            .set_references(name, [(target.inner.this.clone(), args)]);
        self
    }

    /// Sets the property `name` to a list of references, each a target (`None`: not
    /// found, read back as [`PropertyError::Dangling`](property::PropertyError)) and its
    /// argument cells.
    pub fn references<'d>(
        mut self,
        name: &str,
        entries: impl IntoIterator<Item = (Option<&'d Device>, &'d [u32])>,
    ) -> Self {
        self.properties.set_references(
            name,
            entries.into_iter().map(|(target, args)| {
                (
                    target.map_or_else(Weak::new, |device| device.inner.this.clone()),
                    args,
                )
            }),
        );
        self
    }

    /// Sets the property `name` to untyped devicetree bytes (big-endian cells, strings
    /// with NULs), read as Linux reads an `of` property.
    pub fn raw_property(mut self, name: &str, bytes: &[u8]) -> Self {
        self.properties
            .set(name, property::PropertyKind::Raw, bytes);
        self
    }

    /// Attaches bus-specific data (for example a PCI function's IDs), read back with
    /// [`Device::data`].
    pub fn data<T: Any + Send + Sync>(mut self, data: T) -> Self {
        self.data = Some(Box::new(data));
        self
    }

    /// The release hook, run once when the last counted reference to the device object is
    /// dropped. If the add fails, no object is created and the hook is dropped without
    /// running.
    pub fn on_release(mut self, release: impl FnOnce() + Send + 'static) -> Self {
        self.release = Some(Box::new(release));
        self
    }

    /// Turns automatic probing on (the default) or off for this device (Linux's
    /// `drivers_autoprobe` and a device's `match` set to off). With it off, nothing binds
    /// the device by itself: not its add, not a driver registering, not a deferred retry
    /// nor an [`AUTOPROBE_CONSUMER`](crate::link::LinkFlags::AUTOPROBE_CONSUMER) link;
    /// only an explicit [`DeviceModel::bind`](crate::DeviceModel::bind) or
    /// [`bind_driver`](crate::DeviceModel::bind_driver) does, as often as asked. A bind
    /// that defers is then not retried automatically either.
    pub fn autoprobe(mut self, enabled: bool) -> Self {
        self.autoprobe = enabled;
        self
    }

    /// Limits the devres list to `capacity` nodes (group markers included); adding more
    /// fails with [`Error::DevresFull`]. Unlimited by default.
    pub fn devres_capacity(mut self, capacity: usize) -> Self {
        self.devres_capacity = Some(capacity);
        self
    }
}

impl fmt::Debug for DeviceBuilder {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("DeviceBuilder")
            .field("name", &self.name)
            .field("bus", &self.bus)
            .finish_non_exhaustive()
    }
}

impl Error {
    #[cold]
    #[inline(never)]
    pub(crate) fn deleted(device: &Device) -> Self {
        Self::DeviceDeleted {
            device: device.name().into(),
        }
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn no_match(device: &Device) -> Self {
        Self::NoMatch {
            device: device.name().into(),
        }
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn not_bound(device: &Device) -> Self {
        Self::NotBound {
            device: device.name().into(),
        }
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn busy(device: &Device) -> Self {
        Self::Busy {
            device: device.name().into(),
        }
    }
}

#[cfg(test)]
mod tests {
    /// The heap cost of a device is mostly this object: keep it small (see the `heap`
    /// bench; the target is well under 256 bytes per registered device, registry
    /// entries included).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn the_device_object_stays_small() {
        use core::mem::size_of;
        assert_eq!(size_of::<super::State>(), 32);
        assert!(
            size_of::<super::Inner>() <= 112,
            "{}",
            size_of::<super::Inner>()
        );
        assert_eq!(size_of::<super::Description>(), 24);
        // What binding adds (in its `Arc`): the driver object, its state, the gate.
        assert_eq!(size_of::<super::Handle>(), 48);
    }
}
