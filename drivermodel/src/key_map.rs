//! A map from the model's `u64` keys to values, kept as one vector sorted by key.
//!
//! The model hands out device keys in increasing order, so the registry's insertions are
//! appends and its iteration order is registration order; lookups are a binary search,
//! removals a shift of the entries after the removed one. It replaces `BTreeMap` for the
//! registry's devices and the deferred-device set: the same order and the same lookups,
//! for a fraction of the generated code (a `BTreeMap` instance costs several kilobytes
//! of `.text` per key/value type) and less heap per entry. The capacity follows
//! [`capacity`](crate::capacity), so emptying the map gives its memory back.

#![forbid(unsafe_code)]

use alloc::vec::Vec;

use crate::capacity;

/// See the [module docs](self).
#[derive(Debug)]
pub(crate) struct KeyMap<V> {
    entries: Vec<(u64, V)>,
}

impl<V> Default for KeyMap<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> KeyMap<V> {
    pub(crate) const fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    fn position(&self, key: u64) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&key, |(own, _)| *own)
    }

    pub(crate) fn get(&self, key: &u64) -> Option<&V> {
        let index = self.position(*key).ok()?;
        Some(&self.entries[index].1)
    }

    pub(crate) fn contains_key(&self, key: &u64) -> bool {
        self.position(*key).is_ok()
    }

    /// Inserts or replaces; returns the value replaced. An append when `key` is the
    /// largest so far (the registry's case).
    pub(crate) fn insert(&mut self, key: u64, value: V) -> Option<V> {
        match self.entries.last() {
            Some((last, _)) if *last >= key => {}
            _ => {
                capacity::push_canonical(&mut self.entries, (key, value));
                return None;
            }
        }
        match self.position(key) {
            Ok(index) => Some(core::mem::replace(&mut self.entries[index].1, value)),
            Err(index) => {
                capacity::insert_canonical(&mut self.entries, index, (key, value));
                None
            }
        }
    }

    pub(crate) fn remove(&mut self, key: &u64) -> Option<V> {
        let index = self.position(*key).ok()?;
        let (_, value) = self.entries.remove(index);
        capacity::fit_canonical(&mut self.entries);
        Some(value)
    }

    #[allow(dead_code, reason = "used by optional features (links, power)")]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Keys in increasing order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &u64> + '_ {
        self.entries.iter().map(|(key, _)| key)
    }

    /// Values in key order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.entries.iter().map(|(_, value)| value)
    }

    /// Entries in key order.
    #[allow(dead_code, reason = "used by optional features (links, tree)")]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&u64, &V)> + '_ {
        self.entries.iter().map(|(key, value)| (key, value))
    }
}

impl<'a, V> IntoIterator for &'a KeyMap<V> {
    type Item = (&'a u64, &'a V);
    type IntoIter =
        core::iter::Map<core::slice::Iter<'a, (u64, V)>, fn(&'a (u64, V)) -> (&'a u64, &'a V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(key, value)| (key, value))
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
        let pairs: Vec<(u64, u64)> = (&map).into_iter().map(|(k, v)| (*k, *v)).collect();
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
        assert_eq!(map.entries.capacity(), 0);
    }
}
