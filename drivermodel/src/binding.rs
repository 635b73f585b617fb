//! Binding: matching a device to a driver, the probe flow and the unbind flow.
//!
//! # When binding happens
//!
//! - **A device is added** on a bus: its bus gives the device's index keys, the model
//!   collects the ID table entries filed under them (plus the unindexed ones), asks the
//!   bus about each, and probes the best match.
//! - **A driver is registered**: every unbound device on its bus is matched against that
//!   driver's table alone, in registration order, and probed on a match.
//! - **Explicitly**, with [`DeviceModel::bind`](crate::DeviceModel::bind),
//!   [`bind_driver`](crate::DeviceModel::bind_driver) and
//!   [`unbind`](crate::DeviceModel::unbind); drivers may refuse these
//!   ([`Driver::allows_manual_bind`](crate::Driver::allows_manual_bind)).
//!
//! With the `async-probe` feature the first two may run on the kernel's executor instead
//! of the calling thread (`async_probe`: for asynchronous drivers, once the kernel has
//! installed an executor).
//!
//! Matching: the highest [`Match::Yes`] score wins, ties go to the older driver. If any
//! candidate answers [`Match::Defer`], the attempt defers (the best driver may be the one
//! that cannot decide yet).
//!
//! **"Not my device" falls through.** A probe that returns [`Error::NoDevice`] (Linux
//! `-ENODEV` / `-ENXIO`, made with [`Error::no_device`]) makes the core try the next
//! matching driver in score order (each driver once); its devres is released and a
//! [`NotBound`](crate::event::EventKind::NotBound) event names it, as for any failed
//! probe, and the device is not marked deferred. Any other probe error (or success) ends
//! the attempt there. If every matching driver says "not mine", the attempt returns the
//! last driver's `NoDevice` and the device stays unbound.
//!
//! **Driver override** ([`DeviceModel::set_driver_override`](crate::DeviceModel::set_driver_override)):
//! while set, only the named driver may bind the device, automatically or explicitly,
//! and it may bind **even if none of its IDs matches**, as in Linux: the bus still has
//! its say through [`Bus::match_override`](crate::Bus::match_override) (which accepts by
//! default and may refuse), and the probe receives the driver's
//! [`Driver::override_info`](crate::Driver::override_info) (a driver without one cannot
//! be forced: [`Error::NoMatch`]). An ID of that driver that does match is preferred,
//! with its own data. Clearing the override restores normal matching.
//!
//! # Deferred probe
//!
//! A match answering [`Match::Defer`] or a probe returning [`Error::Deferred`] records the
//! reason on the device ([`Device::deferred_reason`](crate::Device::deferred_reason),
//! [`DeviceModel::deferred_devices`](crate::DeviceModel::deferred_devices)) and files it
//! in the model's set of deferred devices. **Every successful bind retries all deferred
//! devices** (only them: the set, not a scan of every device), in registration order,
//! until a pass binds nothing more. A
//! probe that defers while some other bind completed during it triggers a retry itself,
//! so a supplier that binds while its consumer is probing is never missed.
//! [`DeviceModel::retry_deferred`](crate::DeviceModel::retry_deferred) retries by hand and
//! [`DeviceModel::wait_for_probes`](crate::DeviceModel::wait_for_probes) waits until no
//! probe and no retry is running.
//!
//! # Debug re-probe
//!
//! With [`DeviceModel::set_debug_reprobe`](crate::DeviceModel::set_debug_reprobe) on,
//! every successful probe is followed by a full unbind and a second probe (events: bind,
//! bound, unbind, unbound, bind, bound), so teardown bugs show up in ordinary tests.
//!
//! # The probe flow
//!
//! 1. Claim, under the registry and device locks: every supplier of a managed
//!    [device link](crate::link) is bound (otherwise the probe defers at once, without
//!    events), the driver is registered and not leaving, the device is registered and
//!    unbound, **its devres list is empty**
//!    (otherwise [`Error::ResourcesPresent`]); the device becomes *probing* (no other
//!    transition can start), gets a new binding generation, and joins the driver's list.
//! 2. Event [`Bind`](crate::event::EventKind::Bind).
//! 3. Call [`Driver::probe`](crate::Driver::probe) with no lock held, with a
//!    [`Device<Core>`](crate::context::Core) proof.
//! 4. On failure: release the devres the probe took, newest first (the driver's remove
//!    is never called: there is no state to drop), mark the device unbound, record a
//!    deferral reason if the error was [`Error::Deferred`], event
//!    [`NotBound`](crate::event::EventKind::NotBound), return the error.
//! 5. On success: store the state, mark the device bound, count the binding, event
//!    [`Bound`](crate::event::EventKind::Bound).
//!
//! # The unbind flow
//!
//! 1. Claim: the device is bound (else [`Error::NotBound`]); it becomes *unbinding*.
//! 2. (Consumers linked to the device are unbound here.) Event
//!    [`Unbind`](crate::event::EventKind::Unbind).
//! 3. [`Driver::unbind`](crate::Driver::unbind) with the still-bound device, then the
//!    driver's state is dropped (remove = `Drop`).
//! 4. The devres list is released, newest first: every [`Devres`](crate::Devres) of the
//!    binding is revoked here, and its value dropped, even if another thread is dropping
//!    that `Devres` at the same time (this step then waits for that drop to finish).
//! 5. (Link cleanup.) The driver is cleared: the device is unbound.
//! 6. Event [`Unbound`](crate::event::EventKind::Unbound).
//!
//! A failed probe, step by step:
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use drivermodel::{DeviceModel, Error, faux};
//!
//! let model = DeviceModel::new();
//! let log = Arc::new(Mutex::new(Vec::new()));
//! let probe_log = log.clone();
//! let result = faux::Registration::with_probe(&model, "gpu", None, move |device| {
//!     let (first, second) = (probe_log.clone(), probe_log.clone());
//!     device.devres().add_action(move || first.lock().unwrap().push("unmap"))?;
//!     device.devres().add_action(move || second.lock().unwrap().push("free irq"))?;
//!     Err(Error::driver("firmware missing"))
//! });
//! assert_eq!(result.unwrap_err(), Error::driver("firmware missing"));
//! // Released newest first; no remove ran, nothing is left.
//! assert_eq!(*log.lock().unwrap(), ["free irq", "unmap"]);
//! assert!(model.is_quiescent());
//! ```

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use crate::bus::{self, EntryRef, Match};
use crate::device::{ARef, Binding, Device, DriverHandle, Handle, Lifecycle, State};
use crate::devres;
use crate::driver::{ErasedDriver, OVERRIDE_ENTRY};
use crate::error::{Error, Result};
use crate::event::EventKind;
#[cfg(feature = "power")]
use crate::power::Operation;
use crate::registry::Shared;
use crate::sort;
use crate::wait::{self, Channel, WaitPoint};

/// What an attach should do.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    /// An explicit user request: honours `allows_manual_bind`, reports errors.
    pub(crate) manual: bool,
    /// Only this driver.
    pub(crate) driver: Option<&'a str>,
    /// The first attach of a newly added device: may go asynchronous
    /// ([`async_probe`](crate::async_probe)) if its best driver probes so.
    #[cfg(feature = "async-probe")]
    pub(crate) added: bool,
}

impl<'a> Request<'a> {
    pub(crate) fn automatic() -> Self {
        Self {
            manual: false,
            driver: None,
            #[cfg(feature = "async-probe")]
            added: false,
        }
    }

    /// The attach of a device that was just added.
    pub(crate) fn added() -> Self {
        Self {
            #[cfg(feature = "async-probe")]
            added: true,
            ..Self::automatic()
        }
    }

    pub(crate) fn manual(driver: Option<&'a str>) -> Self {
        Self {
            manual: true,
            driver,
            #[cfg(feature = "async-probe")]
            added: false,
        }
    }
}

/// One candidate of a match: an ID table entry of a live driver.
pub(crate) type Candidate = bus::Candidate<Arc<dyn ErasedDriver>>;

/// The outcome of matching one device against candidates.
enum Outcome {
    /// The matching drivers, best first (one candidate per driver): probed in this order
    /// while a probe answers [`Error::NoDevice`].
    Bind(Vec<Candidate>),
    Defer(&'static str),
    NoMatch,
}

impl Shared {
    /// Matches `device` and probes the winner.
    pub(crate) fn attach(&self, device: &Device, request: Request<'_>) -> Result<()> {
        // Which bus, and which candidates.
        let bus_object = {
            let registry = self.registry.lock();
            if !registry.devices.contains_key(&device.inner().key) {
                return Err(Error::deleted(device));
            }
            match registry.bus_of(device) {
                Some(bus) => registry.buses[bus].object.clone(),
                None => {
                    return Err(Error::no_match(device));
                }
            }
        };
        {
            let state = device.inner().state.lock();
            Self::may_probe(device, &state)?;
            if !request.manual && state.manual_only() {
                // Automatic probing is off for this device: only explicit binds.
                return Err(Error::no_match(device));
            }
        }
        // Bus code runs with no lock held.
        let keys = bus_object.device_keys(device);
        drop(bus_object);
        // A key the bus could not store would make a driver silently unreachable.
        if !keys.is_complete() {
            return Err(Error::OutOfMemory);
        }
        let candidates = {
            let registry = self.registry.lock();
            if !registry.devices.contains_key(&device.inner().key) {
                return Err(Error::deleted(device));
            }
            let Some(bus_index) = registry.bus_of(device) else {
                return Err(Error::no_match(device));
            };
            let bus = &registry.buses[bus_index];
            // Held while the candidates are collected (a leaf for that: no other lock is
            // taken under it), so the override need not be copied out.
            let state = device.inner().state.lock();
            let override_name = state.driver_override();
            let only = match (request.driver, override_name) {
                (Some(requested), Some(allowed)) if requested != allowed => {
                    return Err(Error::no_match(device));
                }
                (requested, allowed) => requested.or(allowed),
            };
            let mut candidates: Vec<Candidate> = Vec::new();
            match only {
                Some(name) => {
                    let Some(driver) = bus.drivers.get(&registry.drivers, name) else {
                        return Err(Error::DriverNotRegistered {
                            driver: name.into(),
                        });
                    };
                    if let Some(record) = registry.drivers.get(driver)
                        && !record.object.bindings().is_dying()
                    {
                        let forced = override_name == Some(name);
                        Self::push_entries(&mut candidates, driver, &record.object, forced);
                    }
                }
                None => {
                    // Only drivers that are registered and not leaving are indexed.
                    bus.index.candidates(&keys, &mut candidates);
                }
            }
            drop(state);
            candidates
        };
        match Self::best_match(device, candidates) {
            Outcome::NoMatch => Err(Error::no_match(device)),
            Outcome::Defer(reason) => {
                self.record_deferral(device, &mut device.inner().state.lock(), Some(reason));
                Err(Error::Deferred {
                    reason: crate::error::owned(reason),
                })
            }
            Outcome::Bind(candidates) => {
                // The best driver probes asynchronously: the whole attach is queued.
                #[cfg(feature = "async-probe")]
                if request.added
                    && let Some(best) = candidates.first()
                    && self.spawn_attach(device, &*best.object)
                {
                    return Ok(());
                }
                // `best_match` binds only with at least one candidate, so the loop sets
                // the result (no error allocated up front on the success path).
                let mut result = Ok(());
                // Best first; "not my device" falls through to the next driver, any
                // other answer (success included) ends the attempt.
                for candidate in candidates {
                    if request.manual && !candidate.object.allows_manual_bind() {
                        return Err(Error::ManualBindRefused {
                            driver: crate::error::owned(candidate.object.name()),
                        });
                    }
                    result = self.probe(device, candidate);
                    if !matches!(result, Err(Error::NoDevice { .. })) {
                        break;
                    }
                }
                result
            }
        }
    }

    /// Appends the candidates of one driver: each ID table entry, and the override entry
    /// if the device's driver override names this driver (`forced`).
    fn push_entries(
        out: &mut Vec<Candidate>,
        driver: u64,
        object: &Arc<dyn ErasedDriver>,
        forced: bool,
    ) {
        let count = object.entry_count();
        for index in 0..count + usize::from(forced) {
            let entry = if index < count { index } else { OVERRIDE_ENTRY };
            out.push(Candidate {
                entry: EntryRef { driver, entry },
                object: object.clone(),
                score: 0,
            });
        }
    }

    /// Asks the bus about every candidate (no lock held) and ranks the matching drivers:
    /// highest score first, ties to the older driver, each driver once (with its best
    /// entry; among equal scores, its first). `candidates` come in driver registration
    /// order, each driver's entries in table order.
    fn best_match(device: &Device, candidates: Vec<Candidate>) -> Outcome {
        let mut ranked: Vec<Candidate> = Vec::new();
        let mut deferred = None;
        for mut candidate in candidates {
            match candidate.object.match_entry(device, candidate.entry.entry) {
                Match::No => {}
                Match::Yes { score } => {
                    candidate.score = score;
                    let driver = candidate.entry.driver;
                    match ranked.iter_mut().find(|own| own.entry.driver == driver) {
                        Some(best) if score > best.score => *best = candidate,
                        Some(_) => {}
                        None => ranked.push(candidate),
                    }
                }
                Match::Defer { reason } => {
                    deferred.get_or_insert(reason);
                }
            }
        }
        if let Some(reason) = deferred {
            return Outcome::Defer(reason);
        }
        if ranked.is_empty() {
            return Outcome::NoMatch;
        }
        // Highest score first; equal scores keep registration order (the driver key's).
        sort::sort_by_key(&mut ranked, Candidate::by_rank as fn(&Candidate) -> u128);
        Outcome::Bind(ranked)
    }

    /// A driver arrived: try it on every unbound device of its bus.
    pub(crate) fn attach_driver(&self, driver: u64) {
        let (object, devices) = {
            let registry = self.registry.lock();
            let Some(record) = registry.drivers.get(driver) else {
                return;
            };
            let bus = Some(record.bus);
            let mut devices = Vec::new();
            for record in registry.devices.values() {
                if registry.bus_of(&record.device) == bus {
                    devices.push(record.device.clone());
                }
            }
            (record.object.clone(), devices)
        };
        for device in devices {
            // Eligible: unbound, registered, automatic probing on, and no override
            // naming another driver (`forced`: the override names this one).
            let (eligible, forced) = {
                let state = device.inner().state.lock();
                let overridden = state.driver_override();
                (
                    matches!(state.binding(), Binding::Unbound)
                        && state.lifecycle == Lifecycle::Registered
                        && !state.manual_only()
                        && overridden.is_none_or(|name| name == object.name()),
                    overridden.is_some(),
                )
            };
            if !eligible {
                continue;
            }
            let mut candidates = Vec::new();
            Self::push_entries(&mut candidates, driver, &object, forced);
            match Self::best_match(&device, candidates) {
                Outcome::Bind(candidates) => {
                    // One driver: one candidate.
                    for candidate in candidates {
                        // An asynchronous driver: queued, one work per device.
                        #[cfg(feature = "async-probe")]
                        let Some(candidate) = self.spawn_probe(&device, candidate) else {
                            continue;
                        };
                        let _ = self.probe(&device, candidate);
                    }
                }
                Outcome::Defer(reason) => {
                    self.record_deferral(&device, &mut device.inner().state.lock(), Some(reason));
                }
                Outcome::NoMatch => {}
            }
        }
    }

    /// Probes `device` with `candidate`, then handles what follows a probe: the debug
    /// re-probe, and retrying deferred devices after a successful bind (or after a
    /// deferral that raced with a successful bind elsewhere: no lost wake-up).
    pub(crate) fn probe(&self, device: &Device, candidate: Candidate) -> Result<()> {
        self.probes_in_flight.fetch_add(1, Ordering::SeqCst);
        let generation = self.deferred_generation.load(Ordering::SeqCst);
        #[cfg(feature = "debug-reprobe")]
        let mut result = self.really_probe(device, candidate.clone());
        #[cfg(not(feature = "debug-reprobe"))]
        let result = self.really_probe(device, candidate);
        #[cfg(feature = "debug-reprobe")]
        if result.is_ok() && self.debug_reprobe.load(Ordering::Relaxed) {
            // Debug mode: exercise the whole teardown, then bind again.
            let _ = self.release_driver(device, Some(&*candidate.object), false);
            result = self.really_probe(device, candidate);
        }
        #[cfg(feature = "links")]
        if result.is_ok() {
            self.autoprobe_consumers(device);
        }
        let retry = match &result {
            Ok(()) => true,
            Err(Error::Deferred { .. }) => {
                self.deferred_generation.load(Ordering::SeqCst) != generation
            }
            Err(_) => false,
        };
        if retry {
            self.trigger_deferred();
        }
        if self.probes_in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.probes_ended();
        }
        result
    }

    /// No probe may be in flight any more: wake [`wait_for_probes`](Self::wait_for_probes).
    fn probes_ended(&self) {
        wait::wake(Channel::new(WaitPoint::Probes, self));
    }

    /// Waits (through the [`wait`] hook) until no probe and no deferred retry is running,
    /// and no asynchronous probe is queued (running the queued ones on this thread).
    pub(crate) fn wait_for_probes(&self) {
        let done = || {
            self.probes_in_flight.load(Ordering::SeqCst) == 0
                && !self.retrying.load(Ordering::SeqCst)
        };
        #[cfg(feature = "async-probe")]
        return self.wait_for_probes_helping(done);
        #[cfg(not(feature = "async-probe"))]
        wait::wait_until(Channel::new(WaitPoint::Probes, self), done);
    }

    /// Retries every deferred device until a whole pass binds nothing new. Only one
    /// thread runs the loop; a bind elsewhere meanwhile bumps the generation, which makes
    /// the running loop go round again.
    pub(crate) fn trigger_deferred(&self) {
        self.deferred_generation.fetch_add(1, Ordering::SeqCst);
        if self.retrying.swap(true, Ordering::AcqRel) {
            return;
        }
        loop {
            let seen = self.deferred_generation.load(Ordering::SeqCst);
            if self.counters.deferred.load(Ordering::SeqCst) > 0 {
                let devices = self.deferred_snapshot();
                for device in devices {
                    let waiting = {
                        let state = device.inner().state.lock();
                        state.deferred().is_some() && matches!(state.binding(), Binding::Unbound)
                    };
                    if waiting {
                        let _ = self.attach(&device, Request::automatic());
                    }
                }
            }
            self.retrying.store(false, Ordering::Release);
            self.probes_ended();
            if self.deferred_generation.load(Ordering::SeqCst) == seen
                || self.retrying.swap(true, Ordering::AcqRel)
            {
                break;
            }
        }
    }

    /// Sets or clears the deferral reason of `device` (whose state lock is held: `state`),
    /// keeping the deferred-device set and count.
    /// A dead device (its deletion started) is never deferred: a probe that was in flight
    /// when the delete began and then deferred does not put it back in the set.
    pub(crate) fn record_deferral(&self, device: &Device, state: &mut State, reason: Option<&str>) {
        let reason = reason.filter(|_| state.lifecycle == Lifecycle::Registered);
        let before = state.deferred().is_some();
        state.set_deferred(reason);
        match (before, state.deferred().is_some()) {
            (false, true) => {
                self.deferred.lock().insert(device.inner().key, ());
                self.counters.deferred.fetch_add(1, Ordering::SeqCst);
            }
            (true, false) => {
                // The map frees its storage when emptied: a deferral that is resolved
                // leaves the heap where it was.
                self.deferred.lock().remove(&device.inner().key);
                self.counters.deferred.fetch_sub(1, Ordering::SeqCst);
            }
            _ => {}
        }
    }

    /// The probe flow (see the module docs): one function, five steps.
    fn really_probe(&self, device: &Device, candidate: Candidate) -> Result<()> {
        // Each state change with an event, and the event, form one pair (`event`).
        let pair = self.event_pair();
        // Step 1: claim the device for this driver.
        let handle = {
            let mut registry = self.registry.lock();
            let sequence = registry.next_sequence;
            // Managed links: every supplier must be bound (checked before taking this
            // device's state lock: supplier state locks are never taken inside it).
            #[cfg(feature = "links")]
            let unready_supplier = registry.unready_supplier(device);
            // A driver is marked dying (under this lock) before it leaves the registry,
            // so a driver that is not dying is registered.
            let bindings = candidate.object.bindings();
            if bindings.is_dying() {
                return Err(Error::DriverNotRegistered {
                    driver: crate::error::owned(candidate.object.name()),
                });
            }
            let mut state = device.inner().state.lock();
            Self::may_probe(device, &state)?;
            #[cfg(feature = "links")]
            if let Some(supplier) = unready_supplier {
                let reason = Self::supplier_reason(&supplier);
                self.record_deferral(device, &mut state, Some(&reason));
                return Err(Error::Deferred { reason });
            }
            let count = state.devres.len();
            if count > 0 {
                return Err(Error::ResourcesPresent {
                    device: crate::error::owned(device.name()),
                    count,
                });
            }
            bindings.bound.lock().push((sequence, device.inner().key));
            let handle: DriverHandle = Arc::new(Handle {
                object: candidate.object.clone(),
                state: spin::Mutex::new(None),
                gate: crate::drvdata::Gate::new(),
            });
            state.restore_binding(Binding::Probing {
                driver: handle.clone(),
            });
            // The binding's generation is its place in the model's bind order: new at
            // every probe start, and the key of its driver's bound-list entry.
            device.inner().generation.store(sequence, Ordering::Release);
            drop(state);
            registry.next_sequence += 1;
            handle
        };
        let entry = candidate.entry.entry;
        drop(candidate);
        // Names the driver in the events (no allocation unless someone subscribed).
        let driver = handle.object.clone();
        // Step 2: announce.
        self.notify(EventKind::Bind, device, Some(driver.name()));
        drop(pair);
        // Step 3: probe, with no lock held.
        // SAFETY: the device is `Probing` for this driver: no unbind can start (it needs
        // `Bound`), a delete or driver unregistration waits for the transition to end,
        // and the devres list is only released by this function after the probe returns.
        // The `Core` reference lives only for the call.
        let result = crate::fault::point!(self.counters, Probe)
            .and_then(|()| handle.object.probe(unsafe { device.assume_core() }, entry));
        match result {
            // Step 4: failure.
            Err(error) => {
                // No `DriverData` access ever entered (the gate was never opened).
                handle.gate.end();
                devres::release_all(device);
                // Whether to announce is decided inside the pair (`event`).
                let pair = self.event_pair();
                let announcing = self.announces();
                let old = {
                    let _registry = self.registry.lock();
                    handle
                        .object
                        .bindings()
                        .bound
                        .lock()
                        .remove(device.inner().generation.load(Ordering::Acquire));
                    let mut state = device.inner().state.lock();
                    if let Error::Deferred { reason } = &error {
                        self.record_deferral(device, &mut state, Some(reason));
                    }
                    state.set_announcing(announcing);
                    state.replace_binding(Binding::Unbound)
                };
                drop(old);
                drop(handle);
                self.end_transition(device, announcing, EventKind::NotBound, driver.name());
                drop(pair);
                Err(error)
            }
            // Step 5: success.
            Ok(state_box) => {
                *handle.state.lock() = Some(state_box);
                handle.gate.open();
                let pair = self.event_pair();
                let announcing = self.announces();
                let old = {
                    let mut state = device.inner().state.lock();
                    self.record_deferral(device, &mut state, None);
                    state.set_announcing(announcing);
                    state.replace_binding(Binding::Bound { driver: handle })
                };
                drop(old);
                self.counters.bindings.fetch_add(1, Ordering::Relaxed);
                self.end_transition(device, announcing, EventKind::Bound, driver.name());
                drop(pair);
                Ok(())
            }
        }
    }

    /// Whether a probe may start on `device` whose state is `state`: it is registered
    /// (a device whose deletion started, delete-pending included, is dead) and unbound.
    /// Checked before matching and again under the state lock right before probing,
    /// because bus code runs in between with no lock held.
    fn may_probe(device: &Device, state: &State) -> Result<()> {
        if state.lifecycle != Lifecycle::Registered {
            return Err(Error::deleted(device));
        }
        if state.announcing() {
            return Err(Error::busy(device));
        }
        match state.binding() {
            Binding::Unbound => Ok(()),
            Binding::Bound { driver, .. } => Err(Error::AlreadyBound {
                device: crate::error::owned(device.name()),
                driver: crate::error::owned(driver.object.name()),
            }),
            Binding::Probing { .. } | Binding::Unbinding { .. } | Binding::Calling { .. } => {
                Err(Error::busy(device))
            }
        }
    }

    #[cfg(feature = "power")]
    /// Lends the bound driver's state to a power-management callback and keeps the
    /// suspended flag. Returns whether the callback ran. Skipped (`Ok(false)`): a device
    /// that is not bound (or is in another transition), a suspend of a suspended device,
    /// a resume of one that is not.
    pub(crate) fn call_driver(&self, device: &Device, operation: Operation) -> Result<bool> {
        self.wait_for_transition(device);
        let handle = {
            let mut state = device.inner().state.lock();
            let skip = match operation {
                Operation::Suspend => state.suspended(),
                Operation::Resume => !state.suspended(),
                Operation::Shutdown => false,
            };
            if skip {
                return Ok(false);
            }
            match state.replace_binding(Binding::Unbound) {
                Binding::Bound { driver } => {
                    state.restore_binding(Binding::Calling {
                        driver: driver.clone(),
                    });
                    driver
                }
                other => {
                    state.restore_binding(other);
                    return Ok(false);
                }
            }
        };
        // `DriverData` accesses in flight end before the callback gets the state.
        handle.gate.close();
        let taken = handle.state.lock().take();
        let Some(mut driver_state) = taken else {
            handle.gate.open();
            let old = device
                .inner()
                .state
                .lock()
                .replace_binding(Binding::Bound { driver: handle });
            drop(old);
            self.transition_ended();
            return Ok(false);
        };
        // SAFETY: the device is `Calling`: bound, its devres intact, and no other
        // transition can start until the state is given back below. The `Core` reference
        // lives only for the call.
        let result = handle.object.power(
            unsafe { device.assume_core() },
            &mut *driver_state,
            operation,
        );
        *handle.state.lock() = Some(driver_state);
        handle.gate.open();
        let old = {
            let mut state = device.inner().state.lock();
            match operation {
                Operation::Suspend => state.set_suspended(result.is_ok()),
                // A failed resume is reported; the device counts as resumed (awake,
                // perhaps broken) so that it is not resumed twice.
                Operation::Resume => state.set_suspended(false),
                Operation::Shutdown => {}
            }
            state.replace_binding(Binding::Bound { driver: handle })
        };
        drop(old);
        self.transition_ended();
        result.map(|()| true)
    }

    /// The unbind flow (see the module docs). `expected`: only unbind from this driver
    /// (the object it registered).
    /// `manual`: an explicit request, refused by drivers that forbid it.
    pub(crate) fn release_driver(
        &self,
        device: &Device,
        expected: Option<&dyn ErasedDriver>,
        manual: bool,
    ) -> Result<()> {
        let pair = self.event_pair();
        // Step 1: claim, then end the binding for `DriverData` handles: accesses in
        // flight finish before the driver's state is taken.
        let handle = {
            let mut state = device.inner().state.lock();
            if state.announcing() {
                return Err(Error::busy(device));
            }
            match state.replace_binding(Binding::Unbound) {
                Binding::Bound { driver } => {
                    let refusal = if expected.is_some_and(|object| !driver.is(object)) {
                        Some(Error::not_bound(device))
                    } else if manual && !driver.object.allows_manual_bind() {
                        Some(Error::ManualBindRefused {
                            driver: crate::error::owned(driver.object.name()),
                        })
                    } else {
                        None
                    };
                    if let Some(error) = refusal {
                        state.restore_binding(Binding::Bound { driver });
                        return Err(error);
                    }
                    state.restore_binding(Binding::Unbinding {
                        driver: driver.clone(),
                    });
                    driver
                }
                other => {
                    let error = if matches!(other, Binding::Unbound) {
                        Error::not_bound(device)
                    } else {
                        Error::busy(device)
                    };
                    state.restore_binding(other);
                    return Err(error);
                }
            }
        };
        handle.gate.end();
        let driver_state = handle.state.lock().take();
        // Names the driver in the events (no allocation unless someone subscribed).
        let driver = handle.object.clone();
        // Step 2: unbind consumers first, then announce.
        #[cfg(feature = "links")]
        self.unbind_consumers(device);
        self.notify(EventKind::Unbind, device, Some(driver.name()));
        drop(pair);
        // Step 3: the driver's unbind hook, then drop its state.
        if let Some(driver_state) = driver_state {
            // SAFETY: the device is `Unbinding`: still bound, its devres not yet released
            // (that happens in step 4, after the call), no other transition can start.
            // The `Core` reference lives only for the call.
            let core = unsafe { device.assume_core() };
            handle.object.unbind(core, driver_state);
        }
        // Step 4: release devres, newest first.
        devres::release_all(device);
        // Step 5: link cleanup, then clear the driver.
        let pair = self.event_pair();
        let announcing = self.announces();
        let old = {
            #[cfg(feature = "links")]
            let mut registry = self.registry.lock();
            #[cfg(feature = "links")]
            Self::autoremove_links(&mut registry, device);
            #[cfg(not(feature = "links"))]
            let _registry = self.registry.lock();
            handle
                .object
                .bindings()
                .bound
                .lock()
                .remove(device.inner().generation.load(Ordering::Acquire));
            let mut state = device.inner().state.lock();
            state.set_suspended(false);
            state.set_announcing(announcing);
            state.replace_binding(Binding::Unbound)
        };
        drop(old);
        drop(handle);
        self.counters.bindings.fetch_sub(1, Ordering::Relaxed);
        // Step 6: announce.
        self.end_transition(device, announcing, EventKind::Unbound, driver.name());
        drop(pair);
        Ok(())
    }

    /// The registered devices with a deferral reason, in registration order.
    pub(crate) fn deferred_snapshot(&self) -> Vec<ARef<Device>> {
        let registry = self.registry.lock();
        // The set is a leaf lock, taken inside the registry lock.
        let deferred = self.deferred.lock();
        // Plain pushes rather than a `collect`: every collected iterator type would be
        // one more instance of the vector code.
        let mut devices = Vec::new();
        for key in deferred.keys() {
            if let Some(record) = registry.devices.get(key) {
                devices.push(record.device.clone());
            }
        }
        devices
    }

    /// Waits (through the [`wait`] hook) until no probe of `device` is running (and
    /// none is queued: its queued ones run on this thread); returns its binding state
    /// then.
    pub(crate) fn wait_for_probe(&self, device: &Device) -> crate::device::BindingState {
        let done = || {
            let state = device.inner().state.lock();
            #[cfg(feature = "async-probe")]
            if state.queued > 0 {
                return false;
            }
            !matches!(state.binding(), Binding::Probing { .. })
        };
        #[cfg(feature = "async-probe")]
        self.wait_for_probe_helping(device, done);
        #[cfg(not(feature = "async-probe"))]
        wait::wait_until(Channel::new(WaitPoint::Transition, self), done);
        device.binding_state()
    }

    /// Waits (through the [`wait`] hook) until `device` is neither probing, unbinding
    /// nor in a power callback.
    pub(crate) fn wait_for_transition(&self, device: &Device) {
        wait::wait_until(Channel::new(WaitPoint::Transition, self), || {
            !device.inner().state.lock().in_transition()
        });
    }

    /// Whether the closing event of a transition must be announced before the
    /// transition ends (someone subscribed).
    fn announces(&self) -> bool {
        #[cfg(feature = "events")]
        return !self.subscribers.is_empty();
        #[cfg(not(feature = "events"))]
        return false;
    }

    /// Ends a probe or unbind of `device` whose final binding state is published: sends
    /// its closing event first if `announcing` (the device's next transition waits for
    /// it, so one device's events never overtake one another), then wakes the waits.
    fn end_transition(&self, device: &Device, announcing: bool, kind: EventKind, driver: &str) {
        if announcing {
            self.notify(kind, device, Some(driver));
            device.inner().state.lock().set_announcing(false);
        }
        self.transition_ended();
    }

    /// A transition of some device of this model ended (or a binding left a driver's
    /// bound list): wake the waits for transitions.
    pub(crate) fn transition_ended(&self) {
        wait::wake(Channel::new(WaitPoint::Transition, self));
    }
}
