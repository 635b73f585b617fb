//! The device names of one namespace (the bus-less devices, or one bus).

#![forbid(unsafe_code)]

use alloc::sync::{Arc, Weak};

use crate::bus::MatchKey;
use crate::device::{ARef, Device};
use crate::hash_table::HashTable;

/// Device names of one namespace: the crate's [`HashTable`] of weak references to the
/// devices, so the index keeps no copy of the names and costs 8 to 16 bytes per device.
/// A lookup hashes the name once and compares it with the names of the devices in its
/// probe run. Weak, because the registry's one counted reference per device is in
/// `Registry::devices`; every indexed device is registered, so every upgrade succeeds.
/// The table grows with the namespace and does not shrink.
#[derive(Default)]
pub(crate) struct NameIndex {
    table: HashTable<Weak<Device>>,
}

impl NameIndex {
    /// The hash of a name (FNV-1a).
    fn hash(name: &str) -> u64 {
        MatchKey::from_name(name).value()
    }

    /// The hash of an indexed device's name (`None` cannot happen: see the type docs).
    fn hash_of(slot: &Weak<Device>) -> Option<u64> {
        slot.upgrade().map(|device| Self::hash(device.name()))
    }

    pub(crate) fn find(&self, name: &str) -> Option<ARef<Device>> {
        for slot in self.table.probe(Self::hash(name)) {
            if let Some(device) = slot.upgrade()
                && device.name() == name
            {
                return Some(ARef(device));
            }
        }
        None
    }

    pub(crate) fn insert(&mut self, device: &ARef<Device>) {
        self.table.insert(
            Self::hash(device.name()),
            Arc::downgrade(&device.0),
            Self::hash_of,
        );
    }

    pub(crate) fn remove(&mut self, device: &Device) {
        let position = self.table.position(Self::hash(device.name()), |slot| {
            core::ptr::eq(slot.as_ptr(), device)
        });
        if let Some(position) = position {
            self.table.remove_at(position, Self::hash_of);
        }
    }
}
