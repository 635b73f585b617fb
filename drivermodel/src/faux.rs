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
use core::fmt;

use crate::bus::{Bus, IdEntry, Match};
use crate::context::{Bound, Core};
use crate::device::{self, Device, DeviceBuilder};
use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::model::{DeviceModel, Request};

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

/// A live, bound faux device. Dropping it deletes the device.
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

    fn create(
        model: &DeviceModel,
        name: &str,
        parent: Option<&Device>,
        probe: Option<ProbeFunction>,
    ) -> Result<Self> {
        let mut builder = DeviceBuilder::new(name)
            .bus(BUS_NAME)
            .data(FauxData { probe });
        if let Some(parent) = parent {
            builder = builder.parent(parent);
        }
        let registration = model.add_device_unbound(builder)?;
        match model.shared().attach(&registration, Request::automatic()) {
            Ok(()) if registration.is_bound() => {
                // INVARIANT: bound now; see the type invariant for why it stays bound.
                Ok(Self { registration })
            }
            Ok(()) => Err(Error::NotBound {
                device: name.into(),
            }),
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
