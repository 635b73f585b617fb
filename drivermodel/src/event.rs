//! Events: what happened to which device, delivered to subscribers in a fixed order.
//!
//! For one device the sequence is always:
//!
//! - add: [`Add`](EventKind::Add), then the events of the probe below, if any;
//! - probe: [`Bind`](EventKind::Bind) (just before the driver's probe), then
//!   [`Bound`](EventKind::Bound) on success or [`NotBound`](EventKind::NotBound) on failure
//!   (after the probe's devres is released);
//! - unbind: [`Unbind`](EventKind::Unbind) (before the driver's unbind hook), then
//!   [`Unbound`](EventKind::Unbound) (after devres release and clearing the driver);
//! - delete: [`Delete`](EventKind::Delete) (the device is dead), the unbind events if it
//!   was bound, then [`Removed`](EventKind::Removed) (after devres release and leaving
//!   the bus; for a delete-pending parent, when its last child's deletion completes it,
//!   after that child's `Removed`).
//!
//! A transition's closing event ([`Bound`](EventKind::Bound),
//! [`NotBound`](EventKind::NotBound), [`Unbound`](EventKind::Unbound)) is sent after the
//! new binding state is visible but before the transition counts as ended: until the
//! subscribers return, a bind or unbind of that device fails with
//! [`Error::Busy`](crate::Error::Busy) and a delete, driver unregistration or power
//! callback waits. So another thread (an asynchronous probe, a delete) can never slip
//! its events for the device in between. A delete racing with a probe still interleaves
//! as the steps above allow: `Delete` may come after the probe's `Bind`.
//!
//! Subscribers are called with no lock of the model held, so they may call back into
//! the model; events of different devices handled on different threads may interleave.
//! A subscriber must not delete the device whose closing event it handles, nor
//! unregister its driver: that waits for the subscriber to return.
//!
//! # Starting from a snapshot
//!
//! [`DeviceModel::subscribe_with_snapshot`](crate::DeviceModel::subscribe_with_snapshot)
//! returns the registered devices as they are (a [`DeviceSnapshot`] each) together with a
//! subscription to every **later** event: nothing that happened before the snapshot is
//! delivered, nothing after it is missed. Each state change that has an event (an add,
//! a probe's claim, its end, ...) and the delivery of that event form a **pair**: the
//! model counts the pairs in flight, and the snapshot waits (through the
//! [wait hook](crate::wait), [`Events`](crate::wait::WaitPoint::Events) point)
//! for a moment when none is, reads the devices and adds the subscriber in that moment,
//! and holds new pairs off meanwhile. So every change is either in the snapshot and its
//! event not delivered, or not in it and its event delivered. Pairs do not include
//! driver callbacks except the unbind of a supplier's consumers, which runs between the
//! supplier's claim and its `Unbind` event. The snapshot must not be taken from a
//! subscriber or a driver callback (it would wait for the pair it is called from).

#![forbid(unsafe_code)]

#[cfg(feature = "events")]
use alloc::string::String;
#[cfg(feature = "events")]
use alloc::sync::{Arc, Weak};
#[cfg(feature = "events")]
use alloc::vec::Vec;
#[cfg(feature = "events")]
use core::fmt;

#[cfg(feature = "events")]
use core::sync::atomic::{AtomicUsize, Ordering};

#[cfg(feature = "events")]
use crate::device::BindingState;
#[cfg(feature = "events")]
use crate::registry::Shared;
#[cfg(feature = "events")]
use crate::wait::{self, Channel, WaitPoint};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// The device was added.
    Add,
    /// A probe is about to start.
    Bind,
    /// The probe succeeded: the device is bound.
    Bound,
    /// The probe failed (or deferred); its devres is released.
    NotBound,
    /// An unbind is about to start.
    Unbind,
    /// The unbind finished: devres released, driver cleared.
    Unbound,
    /// The device's deletion started.
    Delete,
    /// The device was deleted.
    Removed,
}

/// One event.
#[cfg(feature = "events")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The device's path ([`Device::path`](crate::Device::path)).
    pub path: String,
    /// The device's bus.
    pub bus: Option<String>,
    /// The driver, for binding events.
    pub driver: Option<String>,
}

/// One registered device in a snapshot
/// ([`DeviceModel::subscribe_with_snapshot`](crate::DeviceModel::subscribe_with_snapshot)).
#[cfg(feature = "events")]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceSnapshot {
    /// The device's path, as events name it.
    pub path: String,
    /// The device's bus.
    pub bus: Option<String>,
    /// Where it is in its binding lifetime (a probe or an unbind may be under way: its
    /// closing event follows in the stream).
    pub binding: BindingState,
    /// Its deletion has started ([`Delete`](EventKind::Delete) was sent; its
    /// [`Removed`](EventKind::Removed) follows in the stream).
    pub deleting: bool,
}

#[cfg(feature = "events")]
pub(crate) type Subscriber = Arc<dyn Fn(&Event) + Send + Sync>;

/// Set while a snapshot is being taken: no new pair may start.
#[cfg(feature = "events")]
const SNAPSHOT: usize = 1 << (usize::BITS - 1);
/// A snapshot waits for the pairs in flight to end.
#[cfg(feature = "events")]
const WAITING: usize = 1 << (usize::BITS - 2);
#[cfg(feature = "events")]
const PAIRS: usize = !(SNAPSHOT | WAITING);

/// The pairs (a state change and the delivery of its event) in flight, and whether a
/// snapshot is being taken, in one atomic word. Pairs nest (a subscriber or the unbind
/// of consumers may make more), so a pair never waits for a snapshot that merely waits:
/// the snapshot waits for a moment with no pair, then shuts new ones out.
///
/// # Invariants
///
/// While `SNAPSHOT` is set no pair is in flight: it is set only when the count is zero,
/// and a pair that counts itself meanwhile backs out before doing anything.
#[cfg(feature = "events")]
#[derive(Default)]
pub(crate) struct Pairs {
    state: AtomicUsize,
}

/// A pair in flight; ends when dropped.
#[cfg(feature = "events")]
pub(crate) struct Pair<'a> {
    pairs: &'a Pairs,
}

#[cfg(feature = "events")]
impl Pairs {
    pub(crate) fn begin(&self) -> Pair<'_> {
        loop {
            let previous = self.state.fetch_add(1, Ordering::Acquire);
            if previous & SNAPSHOT == 0 {
                return Pair { pairs: self };
            }
            // INVARIANT: a snapshot is being taken; back out and wait for its end.
            self.state.fetch_sub(1, Ordering::Release);
            wait::wait_until(Channel::new(WaitPoint::Events, self), || {
                self.state.load(Ordering::Acquire) & SNAPSHOT == 0
            });
        }
    }

    /// Runs `read` at a moment when no pair is in flight, with new pairs held off.
    fn quiet<R>(&self, read: impl FnOnce() -> R) -> R {
        let busy = |state: usize| state & (PAIRS | SNAPSHOT) != 0;
        loop {
            let current = self.state.load(Ordering::Acquire);
            if !busy(current) {
                // INVARIANT: no pair in flight; this also clears `WAITING` (a waiting
                // snapshot sets it again if it has to wait once more).
                if self
                    .state
                    .compare_exchange(current, SNAPSHOT, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    break;
                }
                continue;
            }
            self.state.fetch_or(WAITING, Ordering::AcqRel);
            wait::wait_until(Channel::new(WaitPoint::Events, self), || {
                !busy(self.state.load(Ordering::Acquire))
            });
        }
        let result = read();
        // Only the holder clears it, so subtracting clears exactly that bit.
        self.state.fetch_sub(SNAPSHOT, Ordering::Release);
        wait::wake(Channel::new(WaitPoint::Events, self));
        result
    }
}

#[cfg(feature = "events")]
impl Drop for Pair<'_> {
    fn drop(&mut self) {
        let previous = self.pairs.state.fetch_sub(1, Ordering::Release);
        if previous & WAITING != 0 && previous & PAIRS == 1 {
            wait::wake(Channel::new(WaitPoint::Events, self.pairs));
        }
    }
}

/// The list of subscribers; its lock is a leaf (nothing is called while it is held).
#[cfg(feature = "events")]
#[derive(Default)]
pub(crate) struct Subscribers {
    list: spin::Mutex<List>,
}

/// The subscribers and the next subscription ID, both under the list's lock (so the ID
/// needs no 64-bit atomic).
#[cfg(feature = "events")]
#[derive(Default)]
struct List {
    entries: Vec<(u64, Subscriber)>,
    next: u64,
}

#[cfg(feature = "events")]
impl Subscribers {
    pub(crate) fn add(&self, subscriber: Subscriber) -> u64 {
        let mut list = self.list.lock();
        let id = list.next;
        list.next += 1;
        list.entries.push((id, subscriber));
        id
    }

    pub(crate) fn remove(&self, id: u64) -> Option<Subscriber> {
        let mut list = self.list.lock();
        let position = list.entries.iter().position(|(own, _)| *own == id)?;
        Some(list.entries.remove(position).1)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.lock().entries.is_empty()
    }

    pub(crate) fn notify(&self, event: &Event) {
        let snapshot: Vec<Subscriber> = self
            .list
            .lock()
            .entries
            .iter()
            .map(|(_, subscriber)| subscriber.clone())
            .collect();
        for subscriber in snapshot {
            subscriber(event);
        }
    }
}

#[cfg(feature = "events")]
impl Shared {
    /// Begins a pair: call before a state change that has an event, drop after its
    /// `notify`.
    pub(crate) fn event_pair(&self) -> Pair<'_> {
        self.pairs.begin()
    }

    /// The registered devices and a new subscriber, both at one moment with no pair in
    /// flight.
    pub(crate) fn snapshot_and_subscribe(
        &self,
        subscriber: Subscriber,
    ) -> (Vec<DeviceSnapshot>, u64) {
        let result = self.pairs.quiet(|| {
            let devices: Vec<_> = {
                let registry = self.registry.lock();
                registry
                    .devices
                    .values()
                    .map(|record| record.device.clone())
                    .collect()
            };
            // No pair is in flight and none can start: the devices' states with
            // events cannot change while they are read and the subscriber is added.
            let snapshot = devices
                .iter()
                .map(|device| DeviceSnapshot {
                    path: device.path(),
                    bus: device.bus_name().map(String::from),
                    binding: device.binding_state(),
                    deleting: device.inner().state.lock().lifecycle
                        != crate::device::Lifecycle::Registered,
                })
                .collect();
            let id = self.subscribers.add(subscriber);
            (snapshot, id, devices)
        });
        // The references drop with new pairs allowed again (none is the last: the
        // registry holds one until a `Removed` pair, which could not run meanwhile).
        let (snapshot, id, devices) = result;
        drop(devices);
        (snapshot, id)
    }
}

/// A pair without the `events` feature: nothing to count.
#[cfg(not(feature = "events"))]
pub(crate) struct Pair;

#[cfg(not(feature = "events"))]
impl Drop for Pair {
    #[inline(always)]
    fn drop(&mut self) {}
}

#[cfg(not(feature = "events"))]
impl crate::registry::Shared {
    /// Without events there are no pairs.
    #[inline(always)]
    pub(crate) fn event_pair(&self) -> Pair {
        Pair
    }
}

#[cfg(feature = "events")]
/// A subscription; dropping it unsubscribes.
pub struct Subscription {
    pub(crate) model: Weak<Shared>,
    pub(crate) id: u64,
}

#[cfg(feature = "events")]
impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(model) = self.model.upgrade() {
            let removed = model.subscribers.remove(self.id);
            drop(removed);
        }
    }
}

#[cfg(feature = "events")]
impl fmt::Debug for Subscription {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Subscription")
            .field("id", &self.id)
            .finish()
    }
}
