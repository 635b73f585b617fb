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
//! # The queue, and who runs a work
//!
//! Every asynchronous attach goes into the model's queue first, and the executor is
//! handed a [`Work`], a claim on that entry. Each entry is **claimed exactly once**:
//! by the executor running (or dropping) its work, or by a thread that waits for it
//! and runs it itself. A claimed entry leaves the queue; a work whose entry a waiter
//! took does nothing when it runs. Entries are claimed oldest first, and the queue
//! frees its memory whenever it empties.
//!
//! # What the waits do
//!
//! A wait for queued works does not rely on an executor to get to them (the executor
//! may be the waiting thread's own queue, which runs only once that thread stops
//! waiting): it runs them, or cancels them where they would do nothing anyway.
//!
//! - [`wait_for_probes`](crate::DeviceModel::wait_for_probes) **runs** every queued work
//!   on the calling thread, oldest first, then waits until no work is queued or running
//!   (and no probe or retry, as always). Works queued meanwhile it runs too.
//! - [`wait_for_probe`](crate::DeviceModel::wait_for_probe) **runs** the queued works
//!   of that device only, then waits for its probe in flight. Called from another
//!   device's probe (a consumer waiting for its supplier), it probes that one device
//!   inside the probe, as a probe that adds a child probes the child: no lock of the
//!   model is held across a driver callback, so this only deadlocks where two probes
//!   wait for each other, which deadlocks anyway.
//! - A **device delete** **cancels** the device's queued works once the device is
//!   dead (they would find it dead and do nothing; cancelling lets go of their
//!   references to it at once). A work an executor claimed just before finds it dead
//!   itself (Linux's async helper checks `dead` the same way). A probe already running
//!   is waited for, as for any probe in flight.
//! - A **driver unregistration** marks the driver leaving, **cancels** its queued works
//!   (they would skip it), then waits (through the [`wait`] hook, point
//!   [`Probes`](crate::wait::WaitPoint::Probes)) for those an executor claimed
//!   meanwhile, then unbinds as usual, waiting for probes in flight. So after it returns
//!   no work holds the driver, and it never waits for a work that has not started: a
//!   work may unregister another asynchronous driver.
//! - [`DeviceModel::run_queued_probes`] runs every queued work on the calling thread
//!   and waits for nothing.
//!
//! Cancelling and running happen outside the wait hook's prepare/wait window, so the
//! hook's rules hold: the hook itself never calls back into the model. A driver
//! callback must still not call `wait_for_probes` (the work it runs in counts as one
//! not done), nor unregister its own driver.
//!
//! # The executor hook
//!
//! An [`Executor`] is asked to [`spawn`](Executor::spawn) a [`Work`]. It **may** run it
//! later on any thread or CPU (a work queue, a thread pool, an interrupt-free kernel
//! thread), run it at once on the calling thread (the probe is then synchronous), or
//! refuse it by giving it back (the model then runs it at once). It may drop an accepted
//! work without running it (at shutdown, say): that cancels the probe, and the waits above
//! count it as done. Or it may [leave it queued](Work::leave_queued) and instead wake a
//! thread that calls [`DeviceModel::run_queued_probes`]: a kernel that does this needs
//! no memory per work (the kernel's executor does it, so that every CPU probes,
//! including the one that waits). It **must not** block waiting for a work (it is
//! called from registrations, device adds and other works, perhaps on the thread that
//! would run it), must not call into a model from `spawn` itself other than by running
//! the work, and should see that every accepted work runs eventually (a work left
//! queued runs at the latest when someone waits for it). `spawn` is called with no
//! lock of the model held.
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
use alloc::vec::Vec;
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

/// One asynchronous attach, handed to an [`Executor`]: a claim on one entry of the
/// model's queue. Run it with [`run`](Self::run); dropping it without running cancels
/// it; [`leave_queued`](Self::leave_queued) leaves it to the model's waiters. If a
/// waiter ran or cancelled the entry first, all three do nothing.
pub struct Work {
    /// `None` once given up ([`leave_queued`](Self::leave_queued)).
    shared: Option<Arc<Shared>>,
    ticket: u64,
}

impl Work {
    /// Runs the attach, unless a waiter claimed it first: matches and probes (or finds
    /// the device deleted or the driver leaving, and does nothing). Takes as long as the
    /// driver's probe.
    pub fn run(mut self) {
        if let Some(shared) = self.shared.take()
            && let Some(pending) = shared.claim(|queued| queued.ticket == self.ticket)
        {
            pending.finish(&shared, true);
        }
    }

    /// Gives the work up without running or cancelling it: the attach stays queued in
    /// the model until a thread that waits for it runs it (see the [module docs](self))
    /// or [`DeviceModel::run_queued_probes`] does. For an executor that, rather than
    /// keeping works, wakes a thread to run the model's queue.
    pub fn leave_queued(mut self) {
        self.shared = None;
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take()
            && let Some(pending) = shared.claim(|queued| queued.ticket == self.ticket)
        {
            pending.finish(&shared, false);
        }
    }
}

impl fmt::Debug for Work {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Work")
            .field("ticket", &self.ticket)
            .finish_non_exhaustive()
    }
}

/// One queued attach, in the model's queue until someone claims it: attach `device`
/// (match it again: the attach of a newly added device), or probe it with `candidate`
/// (a registration's probe).
pub(crate) struct Pending {
    ticket: u64,
    device: ARef<Device>,
    candidate: Option<Candidate>,
}

impl Pending {
    /// Runs the attach (`run`) or only cancels it, then counts the work done. Our
    /// references go before the counts say so: whoever waits for a count (a driver's
    /// unregistration, `wait_for_probes`) may then drop the last one itself.
    fn finish(self, shared: &Shared, run: bool) {
        let Self {
            device, candidate, ..
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
                // cancels its queued works); `probe` checks again under the lock.
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
        shared.works_changed();
    }

    fn is_for_device(&self, device: &Device) -> bool {
        core::ptr::eq::<Device>(&*self.device, device)
    }

    fn is_for_driver(&self, driver: u64) -> bool {
        self.candidate
            .as_ref()
            .is_some_and(|candidate| candidate.entry.driver == driver)
    }
}

/// The model's queue of attaches not claimed yet, oldest (lowest ticket) first.
#[derive(Default)]
struct Queue {
    next_ticket: u64,
    pending: Vec<Pending>,
}

/// The model's asynchronous-probe settings, its queue and its count of works not yet
/// done.
#[derive(Default)]
pub(crate) struct Settings {
    executor: spin::Mutex<Option<Arc<dyn Executor>>>,
    /// What [`ProbeType::Default`] means (a [`ProbeType`] as `u8`).
    default: AtomicU8,
    /// The forced kind; `Default`: none.
    forced: AtomicU8,
    /// Works queued and not claimed yet. A leaf lock: held only to push or take one.
    queue: spin::Mutex<Queue>,
    /// Works spawned and not yet run to the end or cancelled (queued or running).
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

    /// Runs the queued asynchronous probes that nobody has claimed yet on the calling
    /// thread, oldest first, until none is left (works queued meanwhile included), and
    /// returns how many it ran. Probes running elsewhere are not waited for. An executor
    /// that [leaves its works queued](Work::leave_queued) calls it from the threads it
    /// wakes; a kernel may also call it when a CPU idles. Call it with no lock held that
    /// a probe may take.
    pub fn run_queued_probes(&self) -> usize {
        let shared = self.shared();
        let mut ran = 0;
        while let Some(pending) = shared.claim(|_| true) {
            pending.finish(shared, true);
            ran += 1;
        }
        ran
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
        let ticket = {
            let mut queue = self.async_probe.queue.lock();
            let ticket = queue.next_ticket;
            queue.next_ticket += 1;
            queue.pending.push(Pending {
                ticket,
                device: device.to_ref(),
                candidate,
            });
            ticket
        };
        // A waiter may help with it now.
        self.works_changed();
        let work = Work {
            shared: Some(shared),
            ticket,
        };
        if let Err(work) = executor.spawn(work) {
            work.run();
        }
        Ok(())
    }

    /// Takes the oldest queued work that `pick` accepts out of the queue: the caller now
    /// runs or cancels it. Frees the queue's memory when it empties (a burst of probes
    /// leaves nothing behind).
    fn claim(&self, mut pick: impl FnMut(&Pending) -> bool) -> Option<Pending> {
        let mut queue = self.async_probe.queue.lock();
        let index = queue.pending.iter().position(&mut pick)?;
        let pending = queue.pending.remove(index);
        if queue.pending.is_empty() {
            queue.pending = Vec::new();
        }
        Some(pending)
    }

    /// Whether a queued work that `pick` accepts is waiting to be claimed.
    fn has_claimable(&self, pick: impl FnMut(&Pending) -> bool) -> bool {
        self.async_probe.queue.lock().pending.iter().any(pick)
    }

    /// A work was queued, run or cancelled: wake the waits for queued works
    /// (`wait_for_probe` is a transition wait).
    fn works_changed(&self) {
        self.transition_ended();
        wait::wake(Channel::new(WaitPoint::Probes, self));
    }

    /// Waits (through the [`wait`] hook, on `channel`) until `done`, running on this
    /// thread every queued work that `pick` accepts before each round of waiting: the
    /// waiter helps rather than waiting for an executor that may be this very thread.
    fn help_until(
        &self,
        channel: Channel,
        mut pick: impl FnMut(&Pending) -> bool,
        mut done: impl FnMut() -> bool,
    ) {
        loop {
            while let Some(pending) = self.claim(&mut pick) {
                pending.finish(self, true);
            }
            // Outside the hook's prepare-to-wait window, no probe runs: a round ends
            // as soon as there is work to claim again.
            let mut claimable = false;
            wait::wait_until(channel, || {
                claimable = self.has_claimable(&mut pick);
                claimable || done()
            });
            if !claimable {
                return;
            }
        }
    }

    /// `wait_for_probes`' wait: runs every queued work on this thread, then waits until
    /// `done` (no work queued or running, and `done`'s own conditions).
    pub(crate) fn wait_for_probes_helping(&self, mut done: impl FnMut() -> bool) {
        self.help_until(
            Channel::new(WaitPoint::Probes, self),
            |_| true,
            || self.async_probe.queued.load(Ordering::SeqCst) == 0 && done(),
        );
    }

    /// `wait_for_probe`'s wait: runs `device`'s queued works (only its: the caller may
    /// be inside another device's probe) on this thread, then waits until `done`.
    pub(crate) fn wait_for_probe_helping(&self, device: &Device, done: impl FnMut() -> bool) {
        self.help_until(
            Channel::new(WaitPoint::Transition, self),
            |pending| pending.is_for_device(device),
            done,
        );
    }

    /// A device is dead: cancel its queued works (they would find it dead; cancelling
    /// drops their references to it now). A work already claimed finds it dead itself.
    pub(crate) fn cancel_device_works(&self, device: &Device) {
        while let Some(pending) = self.claim(|pending| pending.is_for_device(device)) {
            pending.finish(self, false);
        }
    }

    /// `driver` (key `key`) is leaving, so no new work for it is queued: cancel its
    /// queued works (they would skip it), then wait (through the [`wait`] hook) until
    /// none that an executor claimed meanwhile is still running.
    pub(crate) fn wait_for_driver_works(&self, key: u64, driver: &dyn ErasedDriver) {
        while let Some(pending) = self.claim(|pending| pending.is_for_driver(key)) {
            pending.finish(self, false);
        }
        wait::wait_until(Channel::new(WaitPoint::Probes, self), || {
            driver.bindings().queued.load(Ordering::SeqCst) == 0
        });
    }
}
