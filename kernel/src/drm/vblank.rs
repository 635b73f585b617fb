//! Vblank counting and completion events (Linux's `drm_vblank.c`).
//!
//! A device's `Vblank` counts vblanks and holds the events armed for the next one
//! (page flips, client vblank requests). [`Device::handle_vblank`] is what a driver with
//! a vblank source calls; without one, a commit's flip event completes at once with a
//! "fake vblank". Events go to the client's queue through a weak reference, so a client
//! that is gone simply does not get them. The counter, the armed events and their lock
//! belong to `Vblank`; everything else calls its methods.
//!
//! # Bounded event space
//!
//! A client's `EventQueue` holds at most [`MAX_EVENTS`] events, counting the unread
//! ones and those armed for a coming vblank (Linux bounds a file's event space the same
//! way, 4 KiB, and refuses with `-ENOMEM`). Space is reserved when the event is asked
//! for (a page flip, a commit with an event, a vblank request), so a full queue refuses
//! the request with [`Error::EventQueueFull`] and changes nothing, and delivery never
//! allocates nor drops an event. Reading events frees their space; an armed event that
//! is never delivered (unplug, a failed commit) gives its space back.

use alloc::collections::VecDeque;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use super::device::Device;
use super::error::{Error, Result};

/// What an [`Event`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// A page flip (or a commit that asked for an event) completed.
    FlipComplete,
    /// A vblank the client asked for.
    Vblank,
}

/// A completion event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The CRTC's ID.
    pub crtc: u32,
    /// The vblank count when it happened.
    pub sequence: u64,
    /// The value the client attached.
    pub user_data: u64,
}

/// The most events a client's queue holds, unread and armed together.
pub const MAX_EVENTS: usize = 64;

struct Queue {
    events: VecDeque<Event>,
    armed: usize,
}

/// A client's event queue, bounded by [`MAX_EVENTS`].
pub(crate) struct EventQueue {
    inner: spin::Mutex<Queue>,
}

impl core::fmt::Debug for EventQueue {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let inner = self.inner.lock();
        formatter
            .debug_struct("EventQueue")
            .field("unread", &inner.events.len())
            .field("armed", &inner.armed)
            .finish()
    }
}

impl EventQueue {
    /// An empty queue.
    pub(crate) const fn new() -> Self {
        Self {
            inner: spin::Mutex::new(Queue {
                events: VecDeque::new(),
                armed: 0,
            }),
        }
    }

    /// Reserves room for one more event (see the module docs).
    fn reserve(&self) -> Result<()> {
        let mut inner = self.inner.lock();
        let taken = inner.events.len() + inner.armed;
        if taken >= MAX_EVENTS {
            return Err(Error::EventQueueFull { limit: MAX_EVENTS });
        }
        let additional = inner.armed + 1;
        inner
            .events
            .try_reserve(additional)
            .map_err(|_| Error::OutOfMemory)?;
        inner.armed += 1;
        Ok(())
    }

    /// Queues an event into reserved room.
    fn deliver(&self, event: Event) {
        let mut inner = self.inner.lock();
        inner.armed = inner.armed.saturating_sub(1);
        inner.events.push_back(event);
    }

    /// Gives reserved room back.
    fn cancel(&self) {
        let mut inner = self.inner.lock();
        inner.armed = inner.armed.saturating_sub(1);
    }

    /// Takes the oldest unread event.
    pub(crate) fn pop(&self) -> Option<Event> {
        self.inner.lock().events.pop_front()
    }
}

/// An event asked for, with its room reserved in the client's queue; dropping it
/// undelivered gives the room back.
pub(crate) struct Pending {
    queue: Option<Weak<EventQueue>>,
    kind: EventKind,
    user_data: u64,
}

impl Pending {
    /// Reserves room in `queue` for an event of `kind`.
    ///
    /// # Errors
    ///
    /// [`Error::EventQueueFull`], [`Error::OutOfMemory`].
    pub(crate) fn new(queue: &Arc<EventQueue>, kind: EventKind, user_data: u64) -> Result<Self> {
        queue.reserve()?;
        Ok(Self {
            queue: Some(Arc::downgrade(queue)),
            kind,
            user_data,
        })
    }

    fn deliver(mut self, crtc: u32, sequence: u64) {
        if let Some(queue) = self.queue.take().and_then(|queue| queue.upgrade()) {
            queue.deliver(Event {
                kind: self.kind,
                crtc,
                sequence,
                user_data: self.user_data,
            });
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(queue) = self.queue.take().and_then(|queue| queue.upgrade()) {
            queue.cancel();
        }
    }
}

struct Inner {
    sequence: u64,
    pending: Vec<Pending>,
}

/// A device's vblank counter and armed events.
pub(crate) struct Vblank {
    inner: spin::Mutex<Inner>,
}

impl core::fmt::Debug for Vblank {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let inner = self.inner.lock();
        formatter
            .debug_struct("Vblank")
            .field("sequence", &inner.sequence)
            .field("pending", &inner.pending.len())
            .finish()
    }
}

impl Vblank {
    /// Count 0, nothing armed.
    pub(crate) const fn new() -> Self {
        Self {
            inner: spin::Mutex::new(Inner {
                sequence: 0,
                pending: Vec::new(),
            }),
        }
    }

    /// The vblank count.
    pub(crate) fn count(&self) -> u64 {
        self.inner.lock().sequence
    }

    /// Counts a vblank; returns the new count and the events armed for it.
    pub(crate) fn tick(&self) -> (u64, Vec<Pending>) {
        let mut inner = self.inner.lock();
        inner.sequence += 1;
        (inner.sequence, core::mem::take(&mut inner.pending))
    }

    /// Counts a vblank that delivers nothing armed (the fake vblank of a device without
    /// a vblank source); returns the new count.
    pub(crate) fn tick_fake(&self) -> u64 {
        let mut inner = self.inner.lock();
        inner.sequence += 1;
        inner.sequence
    }

    /// Arms `event` for the next vblank.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfMemory`].
    pub(crate) fn arm(&self, event: Pending) -> Result<()> {
        let mut inner = self.inner.lock();
        inner
            .pending
            .try_reserve(1)
            .map_err(|_| Error::OutOfMemory)?;
        inner.pending.push(event);
        Ok(())
    }

    /// Whether a flip-complete event is armed (a flip is pending).
    pub(crate) fn flip_pending(&self) -> bool {
        self.inner
            .lock()
            .pending
            .iter()
            .any(|event| event.kind == EventKind::FlipComplete)
    }

    /// Drops every armed event (at unplug).
    pub(crate) fn disarm_all(&self) {
        let pending = core::mem::take(&mut self.inner.lock().pending);
        drop(pending);
    }
}

/// Queues each of `pending` on its client's queue, if the client still exists.
pub(crate) fn deliver(crtc: u32, sequence: u64, pending: impl IntoIterator<Item = Pending>) {
    for event in pending {
        event.deliver(crtc, sequence);
    }
}

impl Device {
    /// The current vblank count.
    pub fn vblank_count(&self) -> u64 {
        self.vblank().count()
    }

    /// Signals a vblank: counts it and delivers the events waiting for it
    /// (`drm_crtc_handle_vblank`). Drivers with a vblank source call this.
    pub fn handle_vblank(&self) {
        let (sequence, pending) = self.vblank().tick();
        deliver(self.objects().crtc, sequence, pending);
    }

    /// Arms a vblank event for a client (`drm_wait_vblank` with an event).
    pub(crate) fn arm_vblank_event(&self, queue: &Arc<EventQueue>, user_data: u64) -> Result<()> {
        if !self.has_vblank() {
            return Err(Error::NotSupported { what: "vblank" });
        }
        if !self.state().active {
            return Err(Error::InvalidConfiguration {
                reason: "vblank wait on an inactive CRTC",
            });
        }
        self.vblank()
            .arm(Pending::new(queue, EventKind::Vblank, user_data)?)
    }

    /// Completes or arms a commit's flip-complete event: armed for the next vblank with a
    /// vblank source, delivered at once (a fake vblank) without.
    pub(crate) fn send_flip_event(&self, pending: Pending) -> Result<()> {
        if self.has_vblank() {
            self.vblank().arm(pending)
        } else {
            let sequence = self.vblank().tick_fake();
            deliver(self.objects().crtc, sequence, [pending]);
            Ok(())
        }
    }
}
