//! The faux bus: virtual devices that are always bound.
//!
//! Every [`DeviceModel`] has a bus named `"faux"` with exactly one driver,
//! `"faux_driver"`, that matches every faux device and probes synchronously. A
//! [`Registration`] is therefore **either a bound device or an error**, never a
//! half-bound device: if the probe fails, the device is deleted again before `new`
//! returns, and nothing stays registered.
//!
//! Because manual bind and unbind are refused for the faux driver, that driver is never
//! unregistered, and the only way to delete a faux device is to drop its registration
//! (a parent's deletion waits for its children), a live `Registration` proves the device
//! is bound: [`Registration::device`] returns a [`Device<Bound>`] reference, so virtual
//! drivers use [`Devres`](crate::Devres) and devres groups like real ones. Dropping the
//! registration destroys the device: delete (unbind, devres release) and put.
//!
//! A faux device can describe itself like any other: [`Registration::builder`] takes a
//! parent, properties, resources and a probe function (a RAM disk shows its size, a
//! virtual display its modes), and `new` / `with_probe` are its shorthands.
//!
//! ```
//! use drivermodel::{DeviceModel, Error, faux};
//!
//! let model = DeviceModel::new();
//! let failed = faux::Registration::with_probe(&model, "vkms", None, |_device| {
//!     Err(Error::driver("no memory for planes"))
//! });
//! assert!(failed.is_err());
//! assert!(model.find_device(Some("faux"), "vkms").is_none());
//!
//! let vkms = faux::Registration::new(&model, "vkms", None)?;
//! assert!(vkms.device().is_bound());
//! assert!(model.unbind(vkms.device()).is_err()); // manual unbind refused
//! drop(vkms);
//! assert!(model.is_quiescent());
//! # Ok::<(), drivermodel::Error>(())
//! ```

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;

use crate::binding::Request;
use crate::bus::{Bus, IdEntry, Match};
use crate::context::{Bound, Context, Core};
use crate::device::{self, Device, DeviceBuilder};
use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::model::DeviceModel;
use crate::property::PropertyValue;
use crate::resource::Resource;

/// The faux bus name.
pub const BUS_NAME: &str = "faux";
/// The faux driver name.
pub const DRIVER_NAME: &str = "faux_driver";

type ProbeFunction = Box<dyn Fn(&Device<Core>) -> Result<()> + Send + Sync>;

/// Per-device data: the optional probe callback of the creator.
struct FauxData {
    probe: Option<ProbeFunction>,
}

pub(crate) struct FauxBus;

impl Bus for FauxBus {
    type Id = ();

    fn name(&self) -> &str {
        BUS_NAME
    }

    fn match_id(&self, _device: &Device, _id: &()) -> Match {
        Match::Yes { score: 1 }
    }
}

pub(crate) struct FauxDriver;

static FAUX_TABLE: [IdEntry<(), ()>; 1] = [IdEntry::new((), ())];

impl Driver for FauxDriver {
    type Bus = FauxBus;
    type IdInfo = ();
    type State = ();

    fn name(&self) -> &str {
        DRIVER_NAME
    }

    fn id_table(&self) -> &[IdEntry<(), ()>] {
        &FAUX_TABLE
    }

    fn probe(&self, device: &Device<Core>, _info: &()) -> Result<()> {
        let probe = device
            .data::<FauxData>()
            .and_then(|data| data.probe.as_ref());
        match probe {
            Some(probe) => probe(device),
            None => Ok(()),
        }
    }

    fn allows_manual_bind(&self) -> bool {
        false
    }
}

/// A live, bound faux device (re-exported as [`FauxRegistration`](crate::FauxRegistration);
/// not to be confused with [`device::Registration`] nor
/// [`driver::Registration`](crate::driver::Registration), which it combines: it holds a
/// device registration, on the always-registered faux driver). Dropping it deletes the
/// device.
///
/// # Invariants
///
/// The device is bound to the faux driver for as long as this value lives: it was bound
/// when `new` returned, the faux driver refuses manual unbind and is never unregistered,
/// the inner [`device::Registration`] (the only way to delete the device) is private,
/// and a parent's deletion waits until this child is deleted. Later features that can
/// force an unbind (device links, debug re-probe after creation) must exclude faux
/// devices to keep this true.
pub struct Registration {
    registration: device::Registration,
}

impl Registration {
    /// Creates a bound faux device named `name`.
    ///
    /// # Errors
    ///
    /// As [`DeviceModel::add_device`]; nothing stays registered.
    pub fn new(model: &DeviceModel, name: &str, parent: Option<&Device>) -> Result<Self> {
        Self::create(model, name, parent, None)
    }

    /// Creates a bound faux device, running `probe` as its driver's probe (Linux's
    /// `faux_device_ops.probe`; it runs again in the debug re-probe mode). Devres it
    /// takes is released when the device goes.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new), or the error of `probe`; then the device has been deleted
    /// and nothing stays registered.
    pub fn with_probe(
        model: &DeviceModel,
        name: &str,
        parent: Option<&Device>,
        probe: impl Fn(&Device<Core>) -> Result<()> + Send + Sync + 'static,
    ) -> Result<Self> {
        Self::create(model, name, parent, Some(Box::new(probe)))
    }

    /// Starts describing a faux device named `name`: a parent, properties, resources and
    /// a probe function can be given before [`Builder::create`]. `new` and `with_probe`
    /// are shorthands for it.
    ///
    /// ```
    /// use drivermodel::faux;
    /// use drivermodel::DeviceModel;
    ///
    /// let model = DeviceModel::new();
    /// let ram0 = faux::Registration::builder("ram0")
    ///     .property("size", 1u64 << 20)
    ///     .probe(|device| {
    ///         // The properties are there when the probe runs.
    ///         assert_eq!(device.read_u64("size"), Ok(1 << 20));
    ///         Ok(())
    ///     })
    ///     .create(&model)?;
    /// assert_eq!(ram0.device().read_u64("size"), Ok(1 << 20));
    /// # Ok::<(), drivermodel::Error>(())
    /// ```
    pub fn builder(name: impl Into<String>) -> Builder {
        Builder {
            device: DeviceBuilder::new(name),
            probe: None,
        }
    }

    fn create(
        model: &DeviceModel,
        name: &str,
        parent: Option<&Device>,
        probe: Option<ProbeFunction>,
    ) -> Result<Self> {
        let mut builder = Self::builder(name);
        builder.probe = probe;
        if let Some(parent) = parent {
            builder = builder.parent(parent);
        }
        builder.create(model)
    }

    fn create_from(model: &DeviceModel, builder: DeviceBuilder) -> Result<Self> {
        let name = builder.name.clone();
        let registration = model.add_device_unbound(builder)?;
        match model.shared().attach(&registration, Request::automatic()) {
            Ok(()) if registration.is_bound() => {
                // INVARIANT: bound now; see the type invariant for why it stays bound.
                Ok(Self { registration })
            }
            Ok(()) => Err(Error::NotBound { device: name }),
            // `registration` drops here: delete (devres release) and put.
            Err(error) => Err(error),
        }
    }

    /// The device, with the proof that it is bound.
    pub fn device(&self) -> &Device<Bound> {
        // SAFETY: by the type invariant the device stays bound while `self` lives, and
        // the reference cannot outlive the borrow of `self`.
        unsafe { self.registration.assume_bound() }
    }
}

/// The description of a faux device to create, from [`Registration::builder`]: like a
/// [`DeviceBuilder`] without bus (always `"faux"`) nor bus data (the faux driver's).
pub struct Builder {
    device: DeviceBuilder,
    probe: Option<ProbeFunction>,
}

impl Builder {
    /// Sets the parent; the device will hold a counted reference on it.
    pub fn parent<Ctx: Context>(mut self, parent: &Device<Ctx>) -> Self {
        self.device = self.device.parent(parent);
        self
    }

    /// Sets a property (shown by the [`tree`](crate::tree)'s users, read with
    /// [`Device::property`]).
    pub fn property(mut self, name: &str, value: impl PropertyValue) -> Self {
        self.device = self.device.property(name, value);
        self
    }

    /// Adds a hardware resource.
    pub fn resource(mut self, resource: Resource) -> Self {
        self.device = self.device.resource(resource);
        self
    }

    /// The release hook, run once when the last counted reference is dropped. If the
    /// device's add fails, the hook is dropped without running (no object existed); if
    /// its probe fails, the object existed and the hook runs when the failed creation
    /// deletes it.
    pub fn on_release(mut self, release: impl FnOnce() + Send + 'static) -> Self {
        self.device = self.device.on_release(release);
        self
    }

    /// Runs `probe` as the faux driver's probe: see [`Registration::with_probe`].
    pub fn probe(
        mut self,
        probe: impl Fn(&Device<Core>) -> Result<()> + Send + Sync + 'static,
    ) -> Self {
        self.probe = Some(Box::new(probe));
        self
    }

    /// Creates the device, bound.
    ///
    /// # Errors
    ///
    /// As [`Registration::with_probe`]; nothing stays registered.
    pub fn create(self, model: &DeviceModel) -> Result<Registration> {
        let device = self
            .device
            .bus(BUS_NAME)
            .data(FauxData { probe: self.probe });
        Registration::create_from(model, device)
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("faux::Builder")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl AsRef<Device<Bound>> for Registration {
    fn as_ref(&self) -> &Device<Bound> {
        self.device()
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_tuple("faux::Registration")
            .field(&self.registration.device())
            .finish()
    }
}
