//! Asynchronous probe (feature `async-probe`): probes that run on the kernel's executor,
//! so that registering a driver or adding a device returns before slow probes finish.
//!
//! # Who probes asynchronously
//!
//! A driver declares its [`ProbeType`] ([`Driver::probe_type`](crate::Driver::probe_type),
//! as Linux's `probe_type`): [`Synchronous`](ProbeType::Synchronous),
//! [`Asynchronous`](ProbeType::Asynchronous), or [`Default`](ProbeType::Default), which
//! the model's default policy decides
//! ([`DeviceModel::set_default_probe_type`], synchronous unless changed). A debug option,
//! [`DeviceModel::force_probe_type`] (Linux's `driver_async_probe=`), forces every
//! driver to one kind. A probe is asynchronous only if it is so decided **and** the
//! kernel has installed an executor ([`DeviceModel::set_executor`]); without one,
//! everything probes synchronously, as without the feature.
//!
//! Only the two automatic attaches go asynchronous:
//!
//! - **adding a device** whose best-matching driver is asynchronous: the add returns at
//!   once, and the work matches the device again (the drivers may have changed
//!   meanwhile) and probes the winner, falling through on "not my device" as usual;
//! - **registering an asynchronous driver**: the registration matches its devices on
//!   the calling thread and queues one work per matching device, so probes of many
//!   devices run in parallel on as many executor threads as the kernel gives.
//!
//! Explicit binds ([`bind`](crate::DeviceModel::bind),
//! [`bind_driver`](crate::DeviceModel::bind_driver)) return the probe's result and so
//! always probe on the calling thread; so does the faux bus (a faux registration returns
//! a bound device), and so do deferred retries, which run on the thread whose bind
//! triggered them (an executor thread when an asynchronous probe bound the supplier).
//!
//! # What the waits do
//!
//! - A **device delete** cancels a queued attach of that device: the work finds the
//!   device dead and does nothing (Linux's async helper checks `dead` the same way).
//!   A probe already running is waited for, as for any probe in flight. The work keeps
//!   a counted reference to the device until it has run or been dropped.
//! - A **driver unregistration** marks the driver leaving (queued works for it then skip
//!   without calling it), waits until each of its queued works has run or been dropped
//!   (through the [`wait`] hook, point
//!   [`Probes`](crate::wait::WaitPoint::Probes)), then unbinds as usual, waiting for
//!   probes in flight. So after it returns no work holds the driver.
//! - [`wait_for_probes`](crate::DeviceModel::wait_for_probes) also waits until no work
//!   is queued or running, and [`wait_for_probe`](crate::DeviceModel::wait_for_probe)
//!   until none is queued or running for that device.
//!
//! A driver callback that runs as a work must therefore not unregister an asynchronous
//! driver nor call `wait_for_probes`: on an executor whose queue that thread drains, the
//! wait would wait for itself.
//!
//! # The executor hook
//!
//! An [`Executor`] is asked to [`spawn`](Executor::spawn) a [`Work`]. It **may** run it
//! later on any thread or CPU (a work queue, a thread pool, an interrupt-free kernel
//! thread), run it at once on the calling thread (the probe is then synchronous), or
//! refuse it by giving it back (the model then runs it at once). It may drop an accepted
//! work without running it (at shutdown, say): that cancels the probe, and the waits above
//! count it as done. It **must not** block waiting for a work (it is called from
//! registrations, device adds and other works, perhaps on the thread that would run
//! it), must not call into a model from `spawn` itself other than by running the work,
//! and must run or drop every accepted work eventually: unregistrations and
//! `wait_for_probes` wait for it. `spawn` is called with no lock of the model held.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use drivermodel::async_probe::{Executor, Work};
//! use drivermodel::driver::ProbeType;
//! use drivermodel::testing::{self, TestBus, TestId};
//! use drivermodel::{Device, Driver, IdEntry, context::Core};
//!
//! /// Queues works; the test runs them when it likes.
//! #[derive(Default)]
//! struct Queue(Mutex<Vec<Work>>);
//! impl Executor for Queue {
//!     fn spawn(&self, work: Work) -> Result<(), Work> {
//!         self.0.lock().unwrap().push(work);
//!         Ok(())
//!     }
//! }
//!
//! struct Slow;
//! impl Driver for Slow {
//!     type Bus = TestBus;
//!     type IdInfo = ();
//!     type State = ();
//!     fn name(&self) -> &str { "slow" }
//!     fn id_table(&self) -> &[IdEntry<TestId, ()>] {
//!         static TABLE: [IdEntry<TestId, ()>; 1] = [IdEntry::new(TestId::Prefix(String::new()), ())];
//!         &TABLE
//!     }
//!     fn probe(&self, _: &Device<Core>, _: &()) -> drivermodel::Result<()> { Ok(()) }
//!     fn probe_type(&self) -> ProbeType { ProbeType::Asynchronous }
//! }
//!
//! let model = testing::model();
//! let queue = Arc::new(Queue::default());
//! model.set_executor(Some(queue.clone()));
//! let driver = model.register_driver(Slow)?;
//! let device = model.add_device(testing::device("sensor0", "acme,sensor"))?;
//! assert!(!device.is_bound()); // the add returned; the probe is queued
//! let works: Vec<Work> = std::mem::take(&mut *queue.0.lock().unwrap());
//! works.into_iter().for_each(Work::run);
//! assert!(device.is_bound());
//! drop((device, driver));
//! testing::assert_quiescent(&model);
//! # Ok::<(), drivermodel::Error>(())
//! ```

#![forbid(unsafe_code)]

use alloc::sync::Arc;
use core::fmt;
use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use crate::binding::{Candidate, Request};
use crate::device::{ARef, Device};
use crate::driver::{ErasedDriver, ProbeType};
use crate::model::DeviceModel;
use crate::registry::Shared;
use crate::wait::{self, Channel, WaitPoint};

/// The kernel's way to run probe work elsewhere: see the [module docs](self) for what
/// `spawn` may and may not do.
pub trait Executor: Send + Sync {
    /// Runs `work` (by calling [`Work::run`]) later on any thread, or at once; or gives
    /// it back, and the model runs it at once.
    ///
    /// # Errors
    ///
    /// `Err(work)`: the executor cannot take it now (a full queue, say).
    fn spawn(&self, work: Work) -> Result<(), Work>;
}

/// One asynchronous attach, handed to an [`Executor`]. Run it with [`run`](Self::run);
/// dropping it without running cancels it.
pub struct Work {
    pending: Option<Pending>,
}

/// What a work does: attach `device` (match it again: the attach of a newly added
/// device), or probe it with `candidate` (a registration's probe).
struct Pending {
    shared: Arc<Shared>,
    device: ARef<Device>,
    candidate: Option<Candidate>,
}

impl Work {
    /// Runs the attach: matches and probes (or finds the device deleted or the driver
    /// leaving, and does nothing). Takes as long as the driver's probe.
    pub fn run(mut self) {
        if let Some(pending) = self.pending.take() {
            pending.finish(true);
        }
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        if let Some(pending) = self.pending.take() {
            pending.finish(false);
        }
    }
}

impl Pending {
    /// Runs the attach (`run`) or only cancels it, then counts the work done. Our
    /// references go before the counts say so: whoever waits for a count (a driver's
    /// unregistration, `wait_for_probes`) may then drop the last one itself.
    fn finish(self, run: bool) {
        let Self {
            shared,
            device,
            candidate,
        } = self;
        let driver = match candidate {
            None => {
                if run {
                    let _ = shared.attach(&device, Request::automatic());
                }
                None
            }
            Some(candidate) => {
                let driver = candidate.entry.driver;
                // A driver that is leaving is not called at all (its unregistration
                // waits for this work); `probe` checks again under the lock.
                if run && !candidate.object.bindings().is_dying() {
                    let _ = shared.probe(&device, candidate);
                }
                Some(driver)
            }
        };
        {
            let mut state = device.inner().state.lock();
            state.queued = state.queued.saturating_sub(1);
        }
        drop(device);
        if let Some(driver) = driver {
            let registry = shared.registry.lock();
            if let Some(record) = registry.drivers.get(driver) {
                let queued = &record.object.bindings().queued;
                queued.fetch_sub(1, Ordering::SeqCst);
            }
        }
        shared.async_probe.queued.fetch_sub(1, Ordering::SeqCst);
        // Wakes `wait_for_probe` (a transition wait) and the waits for queued works.
        shared.transition_ended();
        wait::wake(Channel::new(WaitPoint::Probes, &*shared));
    }
}

impl fmt::Debug for Work {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("Work").finish_non_exhaustive()
    }
}

/// The model's asynchronous-probe settings and its count of works not yet done.
#[derive(Default)]
pub(crate) struct Settings {
    executor: spin::Mutex<Option<Arc<dyn Executor>>>,
    /// What [`ProbeType::Default`] means (a [`ProbeType`] as `u8`).
    default: AtomicU8,
    /// The forced kind; `Default`: none.
    forced: AtomicU8,
    /// Works spawned and not yet run to the end or dropped.
    queued: AtomicUsize,
}

fn encode(kind: ProbeType) -> u8 {
    match kind {
        ProbeType::Default => 0,
        ProbeType::Synchronous => 1,
        ProbeType::Asynchronous => 2,
    }
}

fn decode(raw: u8) -> ProbeType {
    match raw {
        1 => ProbeType::Synchronous,
        2 => ProbeType::Asynchronous,
        _ => ProbeType::Default,
    }
}

impl DeviceModel {
    /// Installs (`Some`) or removes (`None`) the executor that runs asynchronous probes.
    /// Without one, every probe is synchronous. Works already spawned are not affected.
    pub fn set_executor(&self, executor: Option<Arc<dyn Executor>>) {
        let old = core::mem::replace(&mut *self.shared().async_probe.executor.lock(), executor);
        // The old executor drops with no lock held.
        drop(old);
    }

    /// Sets what [`ProbeType::Default`] means for this model: `Asynchronous`, or
    /// `Synchronous` (the initial policy; `Default` means the same).
    pub fn set_default_probe_type(&self, kind: ProbeType) {
        let settings = &self.shared().async_probe;
        settings.default.store(encode(kind), Ordering::Relaxed);
    }

    /// Debug option: forces every driver to probe one way, whatever it declares
    /// (`Default`: no forcing, each driver decides). Applies to attaches that start
    /// afterwards.
    pub fn force_probe_type(&self, kind: ProbeType) {
        let settings = &self.shared().async_probe;
        settings.forced.store(encode(kind), Ordering::Relaxed);
    }
}

impl Shared {
    /// The executor to probe on, for a driver that declares `declared`, if its probe is
    /// asynchronous here.
    fn executor_for(&self, declared: ProbeType) -> Option<Arc<dyn Executor>> {
        let settings = &self.async_probe;
        let kind = match decode(settings.forced.load(Ordering::Relaxed)) {
            ProbeType::Default => match declared {
                ProbeType::Default => decode(settings.default.load(Ordering::Relaxed)),
                declared => declared,
            },
            forced => forced,
        };
        if kind != ProbeType::Asynchronous {
            return None;
        }
        settings.executor.lock().clone()
    }

    /// A device was added and `best` is its best-matching driver: if that driver probes
    /// asynchronously, queue the whole attach and return `true`.
    pub(crate) fn spawn_attach(&self, device: &Device, best: &dyn ErasedDriver) -> bool {
        self.spawn(device, best.probe_type(), None).is_ok()
    }

    /// A driver was registered and matches `device` with `candidate`: if the driver
    /// probes asynchronously, queue the probe and return `None`; otherwise give the
    /// candidate back to be probed here.
    pub(crate) fn spawn_probe(&self, device: &Device, candidate: Candidate) -> Option<Candidate> {
        let declared = candidate.object.probe_type();
        self.spawn(device, declared, Some(candidate))
            .err()
            .flatten()
    }

    /// Queues a work for `device` if a driver declaring `declared` probes asynchronously
    /// here; otherwise gives `candidate` back. A refused work runs here.
    fn spawn(
        &self,
        device: &Device,
        declared: ProbeType,
        candidate: Option<Candidate>,
    ) -> core::result::Result<(), Option<Candidate>> {
        let Some(executor) = self.executor_for(declared) else {
            return Err(candidate);
        };
        let Some(shared) = self.counters.model.upgrade() else {
            return Err(candidate);
        };
        {
            // A `u8` per device: at its limit, the probe runs synchronously.
            let mut state = device.inner().state.lock();
            let Some(queued) = state.queued.checked_add(1) else {
                return Err(candidate);
            };
            state.queued = queued;
        }
        self.async_probe.queued.fetch_add(1, Ordering::SeqCst);
        if let Some(candidate) = &candidate {
            let queued = &candidate.object.bindings().queued;
            queued.fetch_add(1, Ordering::SeqCst);
        }
        let work = Work {
            pending: Some(Pending {
                shared,
                device: device.to_ref(),
                candidate,
            }),
        };
        if let Err(work) = executor.spawn(work) {
            work.run();
        }
        Ok(())
    }

    /// Whether no work is queued or running.
    pub(crate) fn no_work_queued(&self) -> bool {
        self.async_probe.queued.load(Ordering::SeqCst) == 0
    }

    /// Waits (through the [`wait`] hook) until no work for `driver` is queued or
    /// running; `driver` is leaving, so no new work for it is queued.
    pub(crate) fn wait_for_driver_works(&self, driver: &dyn ErasedDriver) {
        wait::wait_until(Channel::new(WaitPoint::Probes, self), || {
            driver.bindings().queued.load(Ordering::SeqCst) == 0
        });
    }
}
