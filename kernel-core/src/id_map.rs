//! A map from `u32` IDs to values that allocates only fallibly and gives its memory back.
//!
//! The kernel's display subsystem files its objects by ID (a device's mode objects and
//! framebuffers, a client's buffer handles, the registered devices, the shared buffers)
//! on paths a user drives after boot, where an exhausted heap must be reported, not end
//! the kernel. `BTreeMap` cannot do that: its insert allocates a node infallibly. An
//! [`IdMap`] is one vector of `(id, value)` pairs sorted by ID: IDs are handed out in
//! increasing order, so an insert is an append; a lookup is a binary search.
//!
//! # Capacity
//!
//! The capacity is a function of the length alone ([`capacity_for`]: 0 when empty, 4 up
//! to four entries, then the next power of two), on the way up and on the way down. So a
//! map that comes back to a length comes back to the same heap use, and the kernel
//! tests' heap leak check around code that adds and removes entries sees no difference.
//!
//! - Growing is fallible ([`IdMap::try_insert`], [`IdMap::try_reserve_one`]): without
//!   memory the insert fails with [`OutOfMemory`] and the map is unchanged.
//! - Shrinking never fails and never aborts: to empty, the block is freed (no
//!   allocation); to a smaller nonzero capacity, the entries move to a smaller block
//!   allocated fallibly (`Vec::shrink_to` would reallocate infallibly). When the heap
//!   has no such block the map keeps its larger one, and the next removal tries again:
//!   the one case where the capacity is not [`capacity_for`] the length.

use alloc::vec::Vec;
use core::fmt;

/// The heap had no block for a map's entries; nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfMemory;

impl fmt::Display for OutOfMemory {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("out of memory")
    }
}

impl core::error::Error for OutOfMemory {}

/// The capacity an [`IdMap`] of `length` entries is kept at (see the module docs).
pub const fn capacity_for(length: usize) -> usize {
    match length {
        0 => 0,
        1..=4 => 4,
        _ => length.next_power_of_two(),
    }
}

/// Values by `u32` ID, sorted by ID: see the [module docs](self).
#[derive(Debug)]
pub struct IdMap<T> {
    entries: Vec<(u32, T)>,
}

impl<T> Default for IdMap<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> IdMap<T> {
    /// An empty map; allocates nothing.
    pub const fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries the map has room for without allocating.
    pub fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    fn position(&self, id: u32) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&id, |(key, _)| *key)
    }

    /// The value filed under `id`.
    pub fn get(&self, id: u32) -> Option<&T> {
        let index = self.position(id).ok()?;
        self.entries.get(index).map(|(_, value)| value)
    }

    /// The entry with the smallest ID at or above `id` (to walk the map without holding
    /// a borrow of it between steps).
    pub fn first_from(&self, id: u32) -> Option<(u32, &T)> {
        let index = self.position(id).unwrap_or_else(|index| index);
        self.entries.get(index).map(|(key, value)| (*key, value))
    }

    /// The values, by increasing ID.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().map(|(_, value)| value)
    }

    /// Makes room for one more entry (growing to [`capacity_for`] the new length), so
    /// that the next [`try_insert`](Self::try_insert) cannot fail.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`]; the map is unchanged.
    pub fn try_reserve_one(&mut self) -> Result<(), OutOfMemory> {
        let length = self.entries.len();
        if length < self.entries.capacity() {
            return Ok(());
        }
        let wanted = capacity_for(length + 1);
        self.entries
            .try_reserve_exact(wanted - length)
            .map_err(|_| OutOfMemory)
    }

    /// Files `value` under `id`; returns the value it replaces, if any.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`] when the map must grow and the heap has no block for it; the map
    /// is unchanged and `value` is dropped.
    pub fn try_insert(&mut self, id: u32, value: T) -> Result<Option<T>, OutOfMemory> {
        match self.position(id) {
            Ok(index) => Ok(Some(core::mem::replace(&mut self.entries[index].1, value))),
            Err(index) => {
                self.try_reserve_one()?;
                // Room was made above: no allocation here.
                self.entries.insert(index, (id, value));
                Ok(None)
            }
        }
    }

    /// Takes the value filed under `id` out, shrinking the map (see the module docs).
    pub fn remove(&mut self, id: u32) -> Option<T> {
        let index = self.position(id).ok()?;
        let (_, value) = self.entries.remove(index);
        self.fit();
        Some(value)
    }

    /// Empties the map, freeing its block, and yields its values by increasing ID.
    pub fn drain(&mut self) -> impl Iterator<Item = T> + use<T> {
        core::mem::take(&mut self.entries)
            .into_iter()
            .map(|(_, value)| value)
    }

    /// Brings the capacity down to [`capacity_for`] the length, without ever allocating
    /// infallibly.
    fn fit(&mut self) {
        let wanted = capacity_for(self.entries.len());
        if self.entries.capacity() <= wanted {
            return;
        }
        if wanted == 0 {
            self.entries = Vec::new();
            return;
        }
        let mut smaller = Vec::new();
        if smaller.try_reserve_exact(wanted).is_ok() {
            smaller.append(&mut self.entries);
            self.entries = smaller;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_follows_the_length_up_and_down() {
        let mut map = IdMap::new();
        assert_eq!(map.capacity(), 0);
        for id in 1..=40 {
            assert_eq!(map.try_insert(id, id * 10), Ok(None));
            assert_eq!(
                map.capacity(),
                capacity_for(map.len()),
                "after inserting {id}"
            );
        }
        for id in (3..=40).rev() {
            assert_eq!(map.remove(id), Some(id * 10));
            assert_eq!(
                map.capacity(),
                capacity_for(map.len()),
                "after removing {id}"
            );
        }
        assert_eq!(map.capacity(), 4);
        assert_eq!(map.remove(1), Some(10));
        assert_eq!(map.remove(2), Some(20));
        assert_eq!(map.capacity(), 0, "an emptied map frees its block");
    }

    #[test]
    fn a_round_trip_through_a_peak_restores_the_capacity() {
        let mut map = IdMap::new();
        for id in 0..3 {
            map.try_insert(id, ()).unwrap();
        }
        let before = map.capacity();
        for id in 3..20 {
            map.try_insert(id, ()).unwrap();
        }
        for id in 3..20 {
            map.remove(id);
        }
        assert_eq!(map.capacity(), before);
    }

    #[test]
    fn lookups_removals_and_replacement() {
        let mut map = IdMap::new();
        for id in [7, 3, 5] {
            map.try_insert(id, id).unwrap();
        }
        assert_eq!(map.values().copied().collect::<Vec<_>>(), [3, 5, 7]);
        assert_eq!(map.get(5), Some(&5));
        assert_eq!(map.get(4), None);
        assert_eq!(map.try_insert(5, 50), Ok(Some(5)));
        assert_eq!(map.len(), 3);
        assert_eq!(map.remove(4), None);
        assert_eq!(map.first_from(0), Some((3, &3)));
        assert_eq!(map.first_from(4), Some((5, &50)));
        assert_eq!(map.first_from(5), Some((5, &50)));
        assert_eq!(map.first_from(8), None);
    }

    #[test]
    fn drain_yields_everything_and_frees_the_block() {
        let mut map = IdMap::new();
        for id in 1..=6 {
            map.try_insert(id, id).unwrap();
        }
        assert_eq!(map.drain().collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);
        assert!(map.is_empty());
        assert_eq!(map.capacity(), 0);
    }

    #[test]
    fn reserve_one_makes_the_next_insert_allocation_free() {
        let mut map = IdMap::new();
        map.try_reserve_one().unwrap();
        let capacity = map.capacity();
        assert_eq!(capacity, 4);
        map.try_insert(1, ()).unwrap();
        assert_eq!(map.capacity(), capacity);
    }
}
