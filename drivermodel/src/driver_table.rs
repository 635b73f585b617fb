//! The registered drivers of a model: a slab keyed by registration.

#![forbid(unsafe_code)]

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::bus::MatchKey;
use crate::capacity::{fit_canonical, push_canonical};
use crate::driver::ErasedDriver;
use crate::error::{Error, Result};
use crate::sort;

/// A registered driver.
pub(crate) struct DriverRecord {
    /// Its key in the [`DriverTable`].
    pub(crate) key: u64,
    pub(crate) bus: usize,
    pub(crate) name: String,
    pub(crate) object: Arc<dyn ErasedDriver>,
    /// The index key of each ID table entry, computed once at registration.
    pub(crate) keys: Vec<Option<MatchKey>>,
    pub(crate) builtin: bool,
}

/// The registered drivers: a slab, so that finding a driver by key on the match and
/// probe paths is one array access however many drivers there are.
///
/// A key is `registration sequence << SLOT_BITS | slot`: keys are never reused and
/// compare in registration order (which breaks match-score ties), while slots are
/// reused after an unregistration.
#[derive(Default)]
pub(crate) struct DriverTable {
    slots: Vec<Option<DriverRecord>>,
    free: Vec<usize>,
    next_sequence: u64,
}

impl DriverTable {
    const SLOT_BITS: u32 = 24;

    fn slot(key: u64) -> usize {
        (key & ((1 << Self::SLOT_BITS) - 1)) as usize
    }

    pub(crate) fn get(&self, key: u64) -> Option<&DriverRecord> {
        self.slots
            .get(Self::slot(key))?
            .as_ref()
            .filter(|record| record.key == key)
    }

    pub(crate) fn get_mut(&mut self, key: u64) -> Option<&mut DriverRecord> {
        self.slots
            .get_mut(Self::slot(key))?
            .as_mut()
            .filter(|record| record.key == key)
    }

    /// Files the record made by `make` from its new key.
    pub(crate) fn insert(&mut self, make: impl FnOnce(u64) -> DriverRecord) -> Result<u64> {
        let slot = match self.free.pop() {
            Some(slot) => {
                fit_canonical(&mut self.free);
                slot
            }
            None if self.slots.len() < 1 << Self::SLOT_BITS => {
                push_canonical(&mut self.slots, None);
                self.slots.len() - 1
            }
            None => return Err(Error::OutOfMemory),
        };
        let key = self.next_sequence << Self::SLOT_BITS | slot as u64;
        self.next_sequence += 1;
        self.slots[slot] = Some(make(key));
        Ok(key)
    }

    /// Takes the record out. Trailing empty slots are dropped (and leave the free list),
    /// and both vectors are kept at their canonical capacity, so the table's storage
    /// returns to what it was before the matching registration.
    pub(crate) fn remove(&mut self, key: u64) -> Option<DriverRecord> {
        self.get(key)?;
        let slot = Self::slot(key);
        let record = self.slots[slot].take();
        if slot + 1 == self.slots.len() {
            while self.slots.last().is_some_and(Option::is_none) {
                self.slots.pop();
            }
            let length = self.slots.len();
            self.free.retain(|&free| free < length);
            fit_canonical(&mut self.slots);
            fit_canonical(&mut self.free);
        } else {
            push_canonical(&mut self.free, slot);
        }
        record
    }

    /// Every driver, in registration order.
    pub(crate) fn values(&self) -> Vec<&DriverRecord> {
        let mut records: Vec<&DriverRecord> = self.slots.iter().flatten().collect();
        sort::sort_by_key(&mut records, |record| record.key);
        records
    }
}
