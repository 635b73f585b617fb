//! Maps from the model's `u64` keys, kept as one vector sorted by key.
//!
//! The model hands out device keys in increasing order, so the registry's insertions are
//! appends and its iteration order is registration order; lookups are a binary search,
//! removals a shift of the entries after the removed one. It replaces `BTreeMap` for the
//! registry's devices, the deferred-device set and the device links: the same order and
//! the same lookups, for a fraction of the generated code (a `BTreeMap` instance costs
//! several kilobytes of `.text` per key/value type) and less heap per entry. The
//! capacity follows [`capacity`](crate::capacity), so emptying a map gives its memory
//! back.
//!
//! [`KeyedVec`] holds entries that know their own key ([`Keyed`]): the registry's
//! device records, whose key is in the device, so an entry is one pointer. [`KeyMap`]
//! is the same vector of `(key, value)` pairs.

#![forbid(unsafe_code)]

use alloc::vec::Vec;

use crate::capacity;

/// An entry of a [`KeyedVec`]: it knows its key, which never changes while filed.
pub(crate) trait Keyed {
    fn key(&self) -> u64;
}

impl<V> Keyed for (u64, V) {
    fn key(&self) -> u64 {
        self.0
    }
}

/// Entries sorted by their own key: see the [module docs](self).
#[derive(Debug)]
pub(crate) struct KeyedVec<E> {
    entries: Vec<E>,
}

impl<E> Default for KeyedVec<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> KeyedVec<E> {
    pub(crate) const fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Entries in key order.
    pub(crate) fn values(&self) -> core::slice::Iter<'_, E> {
        self.entries.iter()
    }
}

impl<E: Keyed> KeyedVec<E> {
    fn position(&self, key: u64) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&key, Keyed::key)
    }

    pub(crate) fn get(&self, key: &u64) -> Option<&E> {
        self.entries.get(self.position(*key).ok()?)
    }

    pub(crate) fn contains_key(&self, key: &u64) -> bool {
        self.position(*key).is_ok()
    }

    /// Inserts or replaces; returns the entry replaced. An append when the key is the
    /// largest so far (the registry's case).
    pub(crate) fn insert(&mut self, entry: E) -> Option<E> {
        let key = entry.key();
        match self.entries.last() {
            Some(last) if last.key() >= key => {}
            _ => {
                capacity::push_canonical(&mut self.entries, entry);
                return None;
            }
        }
        match self.position(key) {
            Ok(index) => Some(core::mem::replace(&mut self.entries[index], entry)),
            Err(index) => {
                capacity::insert_canonical(&mut self.entries, index, entry);
                None
            }
        }
    }

    pub(crate) fn remove(&mut self, key: &u64) -> Option<E> {
        let index = self.position(*key).ok()?;
        let entry = self.entries.remove(index);
        capacity::fit_canonical(&mut self.entries);
        Some(entry)
    }
}

/// Values under `u64` keys: a [`KeyedVec`] of `(key, value)` pairs.
#[derive(Debug)]
pub(crate) struct KeyMap<V> {
    entries: KeyedVec<(u64, V)>,
}

impl<V> Default for KeyMap<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> KeyMap<V> {
    pub(crate) const fn new() -> Self {
        Self {
            entries: KeyedVec::new(),
        }
    }

    #[allow(dead_code, reason = "used by optional features (links)")]
    pub(crate) fn get(&self, key: &u64) -> Option<&V> {
        self.entries.get(key).map(|(_, value)| value)
    }

    #[allow(dead_code, reason = "used by optional features (links) and tests")]
    pub(crate) fn contains_key(&self, key: &u64) -> bool {
        self.entries.contains_key(key)
    }

    /// Inserts or replaces; returns the value replaced.
    pub(crate) fn insert(&mut self, key: u64, value: V) -> Option<V> {
        self.entries.insert((key, value)).map(|(_, value)| value)
    }

    pub(crate) fn remove(&mut self, key: &u64) -> Option<V> {
        self.entries.remove(key).map(|(_, value)| value)
    }

    #[allow(dead_code, reason = "used by optional features (links) and tests")]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Keys in increasing order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &u64> + '_ {
        self.entries.values().map(|(key, _)| key)
    }

    /// Entries in key order.
    #[allow(dead_code, reason = "used by optional features (links)")]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&u64, &V)> + '_ {
        self.entries.values().map(|(key, value)| (key, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_key_order_for_appends_and_inserts() {
        let mut map = KeyMap::new();
        for key in [1u64, 2, 5, 9] {
            assert_eq!(map.insert(key, key * 10), None);
        }
        assert_eq!(map.insert(3, 30), None);
        assert_eq!(map.insert(0, 0), None);
        assert_eq!(map.insert(5, 55), Some(50));
        let keys: Vec<u64> = map.keys().copied().collect();
        assert_eq!(keys, [0, 1, 2, 3, 5, 9]);
        assert_eq!(map.get(&5), Some(&55));
        assert_eq!(map.get(&4), None);
        assert!(map.contains_key(&9) && !map.contains_key(&10));
        assert_eq!(map.remove(&2), Some(20));
        assert_eq!(map.remove(&2), None);
        let pairs: Vec<(u64, u64)> = map.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(pairs, [(0, 0), (1, 10), (3, 30), (5, 55), (9, 90)]);
        assert_eq!(map.len(), 5);
    }

    #[test]
    fn gives_its_memory_back_when_emptied() {
        let mut map = KeyMap::new();
        for key in 0..100u64 {
            map.insert(key, ());
        }
        for key in 0..100u64 {
            assert_eq!(map.remove(&key), Some(()));
        }
        assert_eq!(map.len(), 0);
        assert_eq!(map.entries.entries.capacity(), 0);
    }
}
