//! A test kit for kernels that use the crate: test your own drivers on the host.
//!
//! Enabled by the `testing` feature (off by default; add it to your
//! `[dev-dependencies]`). It gives:
//!
//! - a ready test bus, [`TestBus`], matching a device's `compatible` string property
//!   against [`TestId`]s, with [`device`] to build a device on it and [`model`] for a
//!   model with the bus registered;
//! - an ordered [`Log`] of what your callbacks did, of strings or of your own entry type,
//!   which can also log the model's events (`Log::subscribe`, with the `events` feature);
//! - a driver whose probe is a closure and whose every callback is logged,
//!   [`TestDriver`], for code that needs a bound device;
//! - leak assertions: [`assert_quiescent`] (no device object, binding or devres node
//!   left) and [`assert_counts_zero`] (every counter back to zero, drivers included),
//!   which show the counts and, with the `tree` feature, the tree when they fail;
//! - **fault injection**, per model, the way Linux's failslab and KUnit do it: make the
//!   Nth devres add, the Nth probe or the Nth managed allocation of a model fail
//!   ([`Faults`]), to run a driver's error paths.
//!
//! The fault points are compiled only with the feature: without it the crate has no
//! fault-injection code at all. Each model has its own [`Faults`] state (the crate has no
//! global state), so tests running in parallel do not disturb one another.
//!
//! # Fault points
//!
//! | [`FaultPoint`] | what fails | the error, unless set with [`Faults::fail_nth_with`] |
//! |---|---|---|
//! | [`DevresAdd`](FaultPoint::DevresAdd) | any node added to a devres list: an action, a managed allocation, a [`Devres`](crate::Devres), a group marker | [`Error::OutOfMemory`](crate::Error::OutOfMemory) |
//! | [`Probe`](FaultPoint::Probe) | a probe (the faux driver's too): the core fails it without calling the driver, and handles it like any failed probe (devres released, a `NotBound` event) | [`Error::OutOfMemory`](crate::Error::OutOfMemory) |
//! | [`Alloc`](FaultPoint::Alloc) | a managed allocation: [`devres::List::alloc`](crate::devres::List::alloc), [`alloc_keyed`](crate::devres::List::alloc_keyed), [`Devres::new`](crate::Devres::new) | [`Error::OutOfMemory`](crate::Error::OutOfMemory) |
//!
//! A managed allocation passes both its own point and the devres-add point.
//!
//! # Example: every failure path of a probe
//!
//! A driver whose probe takes three resources must leave nothing behind whichever of
//! them fails. Count the devres adds of one good probe, then fail each in turn:
//!
//! ```
//! use drivermodel::context::Core;
//! use drivermodel::testing::{self, FaultPoint, TestBus, TestId};
//! use drivermodel::{Device, Devres, Driver, IdEntry};
//!
//! struct Sensor { table: [IdEntry<TestId, ()>; 1] }
//! struct State { _registers: Devres<u32> }
//!
//! impl Driver for Sensor {
//!     type Bus = TestBus;
//!     type IdInfo = ();
//!     type State = State;
//!     fn name(&self) -> &str { "sensor" }
//!     fn id_table(&self) -> &[IdEntry<TestId, ()>] {
//!         &self.table
//!     }
//!     fn probe(&self, device: &Device<Core>, _: &()) -> drivermodel::Result<State> {
//!         device.devres().add_action(|| { /* power the sensor down */ })?;
//!         device.devres().alloc([0u8; 64])?; // a buffer
//!         Ok(State { _registers: Devres::new(device, 0x1000)? })
//!     }
//! }
//!
//! let model = testing::model();
//! let faults = testing::Faults::of(&model);
//! let driver = model.register_driver(Sensor {
//!     table: [IdEntry::new(TestId::exact("acme,sensor"), ())],
//! })?;
//!
//! // One good probe: how many devres adds does it make?
//! faults.count(FaultPoint::DevresAdd);
//! let sensor = model.add_device(testing::device("sensor0", "acme,sensor"))?;
//! assert!(sensor.is_bound());
//! let adds = faults.hits(FaultPoint::DevresAdd);
//! assert_eq!(adds, 3);
//! drop(sensor);
//!
//! // Fail each of them: the probe fails, and its devres is all released.
//! for n in 1..=adds {
//!     faults.fail_nth(FaultPoint::DevresAdd, n);
//!     let sensor = model.add_device(testing::device("sensor0", "acme,sensor"))?;
//!     assert!(!sensor.is_bound(), "add {n} failed, so the probe must fail");
//!     assert_eq!(faults.injected(FaultPoint::DevresAdd), 1);
//!     assert_eq!(sensor.devres().len(), 0);
//!     drop(sensor);
//! }
//! // And the probe itself.
//! faults.fail_nth(FaultPoint::Probe, 1);
//! let sensor = model.add_device(testing::device("sensor0", "acme,sensor"))?;
//! assert!(!sensor.is_bound());
//! drop(sensor);
//!
//! faults.clear();
//! drop(driver);
//! testing::assert_counts_zero(&model);
//! # Ok::<(), drivermodel::Error>(())
//! ```

#![forbid(unsafe_code)]

mod bus;
mod driver;
mod faults;
mod log;

pub use bus::{BUS, TestBus, TestId, device, model};
pub use driver::{TestDriver, TestState};
pub(crate) use faults::FaultState;
pub use faults::{FaultPoint, Faults};
pub use log::Log;

use alloc::string::String;

use crate::model::{Counts, DeviceModel};

/// Asserts that no device object, binding or devres node of `model` is alive
/// ([`DeviceModel::is_quiescent`]); registered drivers may remain.
///
/// # Panics
///
/// If one is, with the counts and the tree (with the `tree` feature) in the message.
#[track_caller]
pub fn assert_quiescent(model: &DeviceModel) {
    let counts = model.counts();
    assert!(
        counts.is_quiescent(),
        "the model is not quiescent: {counts:?}\n{}",
        listing(model)
    );
}

/// Asserts that every counter of `model` is back to zero: [`assert_quiescent`], and no
/// driver registered either.
///
/// # Panics
///
/// If one is not, with the counts and the tree (with the `tree` feature) in the message.
#[track_caller]
pub fn assert_counts_zero(model: &DeviceModel) {
    let counts = model.counts();
    assert!(
        counts == Counts::default(),
        "a counter is not zero: {counts:?}\n{}",
        listing(model)
    );
}

/// What is left in `model`, for a failed assertion: the [`tree`](crate::tree) when that
/// feature is on.
fn listing(model: &DeviceModel) -> String {
    #[cfg(feature = "tree")]
    let listing = model.tree();
    #[cfg(not(feature = "tree"))]
    let listing = {
        let _ = model;
        String::from("(the `tree` feature is off)")
    };
    listing
}
