//! Vblank counting and completion events (Linux's `drm_vblank.c`).
//!
//! A device's [`Vblank`] counts vblanks and holds the events armed for the next one
//! (page flips, client vblank requests). [`Device::handle_vblank`] is what a driver with
//! a vblank source calls; without one, a commit's flip event completes at once with a
//! "fake vblank". Events go to the client's queue through a weak reference, so a client
//! that is gone simply does not get them. The counter, the armed events and their lock
//! belong to [`Vblank`]; everything else calls its methods.

use alloc::collections::VecDeque;
use alloc::sync::Weak;
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

/// A client's event queue.
pub(crate) type EventQueue = spin::Mutex<VecDeque<Event>>;

/// An event armed for a coming vblank.
pub(crate) struct Pending {
    pub(crate) queue: Weak<EventQueue>,
    pub(crate) kind: EventKind,
    pub(crate) user_data: u64,
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
        if let Some(queue) = event.queue.upgrade() {
            queue.lock().push_back(Event {
                kind: event.kind,
                crtc,
                sequence,
                user_data: event.user_data,
            });
        }
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
    pub(crate) fn arm_vblank_event(&self, queue: Weak<EventQueue>, user_data: u64) -> Result<()> {
        if !self.has_vblank() {
            return Err(Error::NotSupported { what: "vblank" });
        }
        if !self.state().active {
            return Err(Error::InvalidConfiguration {
                reason: "vblank wait on an inactive CRTC",
            });
        }
        self.vblank().arm(Pending {
            queue,
            kind: EventKind::Vblank,
            user_data,
        })
    }

    /// Completes or arms a commit's flip-complete event: armed for the next vblank with a
    /// vblank source, delivered at once (a fake vblank) without.
    pub(crate) fn send_flip_event(&self, queue: Weak<EventQueue>, user_data: u64) -> Result<()> {
        let pending = Pending {
            queue,
            kind: EventKind::FlipComplete,
            user_data,
        };
        if self.has_vblank() {
            self.vblank().arm(pending)
        } else {
            let sequence = self.vblank().tick_fake();
            deliver(self.objects().crtc, sequence, [pending]);
            Ok(())
        }
    }
}
