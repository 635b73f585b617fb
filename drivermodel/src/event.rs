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
use crate::registry::Shared;

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

#[cfg(feature = "events")]
pub(crate) type Subscriber = Arc<dyn Fn(&Event) + Send + Sync>;

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
