//! The live-object counters a model shares with its devices, and their public snapshot.

#![forbid(unsafe_code)]

use alloc::sync::Weak;
use core::sync::atomic::AtomicUsize;

use portable_atomic::AtomicU64;

use crate::registry::Shared;

/// Live-object counters, shared by the model and its devices, and the devices' way back
/// to the model (weak: devices never keep a model alive).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) devices: AtomicUsize,
    pub(crate) registered: AtomicUsize,
    pub(crate) bindings: AtomicUsize,
    pub(crate) devres_nodes: AtomicUsize,
    pub(crate) drivers: AtomicUsize,
    /// Registered devices with a deferral reason.
    pub(crate) deferred: AtomicUsize,
    /// The source of devres node tags. 64 bits because a tag must never repeat in a
    /// model's life (a stale key must not name a newer node), and 2^32 devres adds take
    /// minutes; `portable_atomic` makes it a lock-free or lock-based atomic as the target
    /// allows.
    pub(crate) next_tag: AtomicU64,
    pub(crate) model: Weak<Shared>,
    /// The fault-injection plan ([`testing`](crate::testing)).
    #[cfg(feature = "testing")]
    pub(crate) faults: crate::testing::FaultState,
}

/// A snapshot of a model's live-object counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Device objects not yet released (registered or not).
    pub devices: usize,
    /// Devices added and not yet deleted.
    pub registered_devices: usize,
    /// Devices bound to a driver.
    pub bindings: usize,
    /// devres nodes on all device lists (group markers included).
    pub devres_nodes: usize,
    /// Drivers registered by users (the built-in faux driver is not counted).
    pub drivers: usize,
}

impl Counts {
    /// No device object, binding or devres node is alive.
    pub fn is_quiescent(&self) -> bool {
        self.devices == 0
            && self.registered_devices == 0
            && self.bindings == 0
            && self.devres_nodes == 0
    }
}
