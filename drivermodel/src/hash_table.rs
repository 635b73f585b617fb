//! The crate's one hash table: open addressing with linear probing in one flat array
//! whose size is a power of two and at most three quarters full, Fibonacci hashing, and
//! backward-shift deletion (no tombstones).
//!
//! A lookup hashes once and reads adjacent slots, so it costs the same (one or two cache
//! lines) at 10 and at 100,000 entries. The table stores entries only; the caller says
//! how to hash one (`hash_of`), so an entry need not carry its key: the name index keeps
//! weak device references and hashes the device's name. `hash_of` returns `None` for a
//! stale entry (a weak reference that no longer upgrades): it is dropped by a rehash and
//! never moved by a deletion. The storage is a function of the length alone
//! ([`HashTable::size_for`]); a user that wants its memory back as it empties calls
//! [`HashTable::shrink`] after removals.
//!
//! Users: the match index ([`bus`](crate::bus)) and the device-name index
//! (`name_index`).

#![forbid(unsafe_code)]

use alloc::vec::Vec;

/// See the [module docs](self).
#[derive(Debug)]
pub(crate) struct HashTable<E> {
    slots: Vec<Option<E>>,
    length: usize,
}

impl<E> Default for HashTable<E> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            length: 0,
        }
    }
}

impl<E> HashTable<E> {
    /// The home slot of `hash` in a table of `slot_count` (a power of two) slots.
    fn home(hash: u64, slot_count: usize) -> usize {
        // Fibonacci hashing: the high bits of a multiplicative hash. For a power of two
        // `slot_count = 2^b`, `(hash * 2^b) >> 64` is exactly `hash >> (64 - b)` (0 for
        // one slot), without counting trailing zeros (a long software sequence where
        // the target has no such instruction, as riscv64gc without Zbb).
        let hash = hash.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        ((u128::from(hash) * slot_count as u128) >> 64) as usize
    }

    /// The table size for `length` entries: the smallest power of two, at least 16, that
    /// keeps the table at most three quarters full; none when empty.
    fn size_for(length: usize) -> usize {
        if length == 0 {
            return 0;
        }
        let mut size = 16;
        while length * 4 > size * 3 {
            size *= 2;
        }
        size
    }

    /// How many entries are filed.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.length
    }

    /// The entries of the probe run of `hash`, in probe order: every entry filed under
    /// `hash` is among them (with others that share the run).
    pub(crate) fn probe(&self, hash: u64) -> Probe<'_, E> {
        let position = if self.slots.is_empty() {
            0
        } else {
            Self::home(hash, self.slots.len())
        };
        Probe {
            slots: &self.slots,
            position,
            mask: self.slots.len().wrapping_sub(1),
        }
    }

    /// The slot of the first entry of `hash`'s probe run that satisfies `wanted`.
    pub(crate) fn position(&self, hash: u64, mut wanted: impl FnMut(&E) -> bool) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut position = Self::home(hash, self.slots.len());
        while let Some(entry) = &self.slots[position] {
            if wanted(entry) {
                return Some(position);
            }
            position = (position + 1) & mask;
        }
        None
    }

    /// Files `entry` under `hash`, growing the table first if it would be more than three
    /// quarters full.
    pub(crate) fn insert(&mut self, hash: u64, entry: E, hash_of: impl Fn(&E) -> Option<u64>) {
        let size = Self::size_for(self.length + 1);
        if size > self.slots.len() {
            self.resize(size, &hash_of);
        }
        self.place(hash, entry);
        self.length += 1;
    }

    /// Puts `entry` in the first free slot of its probe run (there is one: load < 1).
    fn place(&mut self, hash: u64, entry: E) {
        let mask = self.slots.len() - 1;
        let mut position = Self::home(hash, self.slots.len());
        while self.slots[position].is_some() {
            position = (position + 1) & mask;
        }
        self.slots[position] = Some(entry);
    }

    /// Rehashes into a table of `new_count` slots (0: no table), dropping stale entries.
    fn resize(&mut self, new_count: usize, hash_of: &impl Fn(&E) -> Option<u64>) {
        let mut slots = Vec::new();
        slots.reserve_exact(new_count);
        slots.resize_with(new_count, || None);
        let old = core::mem::replace(&mut self.slots, slots);
        for entry in old.into_iter().flatten() {
            if let Some(hash) = hash_of(&entry) {
                self.place(hash, entry);
            }
        }
    }

    /// Takes the entry at `hole` out, shifting later members of its probe run back.
    pub(crate) fn remove_at(
        &mut self,
        mut hole: usize,
        hash_of: impl Fn(&E) -> Option<u64>,
    ) -> Option<E> {
        let removed = self.slots.get_mut(hole)?.take();
        removed.as_ref()?;
        self.length -= 1;
        let mask = self.slots.len() - 1;
        let mut next = (hole + 1) & mask;
        while let Some(entry) = &self.slots[next] {
            let home = hash_of(entry).map_or(next, |hash| Self::home(hash, self.slots.len()));
            // It may move back to `hole` only if `hole` lies between its home and where
            // it is now.
            if (next.wrapping_sub(home) & mask) >= (next.wrapping_sub(hole) & mask) {
                self.slots[hole] = self.slots[next].take();
                hole = next;
            }
            next = (next + 1) & mask;
        }
        self.slots[hole] = None;
        removed
    }

    /// Shrinks the table (rehashing) to the size its length calls for, so that an
    /// emptied table holds no storage.
    pub(crate) fn shrink(&mut self, hash_of: impl Fn(&E) -> Option<u64>) {
        let size = Self::size_for(self.length);
        if size < self.slots.len() {
            self.resize(size, &hash_of);
        }
    }
}

/// The entries of one probe run: see [`HashTable::probe`].
pub(crate) struct Probe<'a, E> {
    slots: &'a [Option<E>],
    position: usize,
    mask: usize,
}

impl<'a, E> Iterator for Probe<'a, E> {
    type Item = &'a E;

    fn next(&mut self) -> Option<&'a E> {
        // An empty table has no slot 0; a run ends at the first empty slot.
        let entry = self.slots.get(self.position)?.as_ref()?;
        self.position = (self.position + 1) & self.mask;
        Some(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_of(value: &u64) -> Option<u64> {
        Some(value % 50)
    }

    /// The home slot is the top `b` bits of the multiplied hash in a table of `2^b`
    /// slots (slot 0 for one slot), as with a shift.
    #[test]
    fn home_is_the_top_bits_of_the_multiplied_hash() {
        let mut hash = 0x0123_4567_89ab_cdefu64;
        for bits in 0..24u32 {
            for _ in 0..100 {
                hash = hash.rotate_left(7) ^ 0x5851_f42d_4c95_7f2d;
                let multiplied = hash.wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let expected = if bits == 0 {
                    0
                } else {
                    (multiplied >> (64 - bits)) as usize
                };
                assert_eq!(HashTable::<u64>::home(hash, 1 << bits), expected);
            }
        }
    }

    /// Colliding runs survive removals in any order, and the emptied table frees its
    /// storage once shrunk.
    #[test]
    fn removal_keeps_every_other_entry_findable() {
        let mut table = HashTable::<u64>::default();
        for value in 0..500u64 {
            table.insert(value % 50, value, hash_of);
        }
        for value in (0..500u64).filter(|value| value % 3 == 1) {
            let position = table.position(value % 50, |entry| *entry == value);
            assert!(table.remove_at(position.unwrap(), hash_of).is_some());
        }
        for value in 0..500u64 {
            let found = table.probe(value % 50).any(|entry| *entry == value);
            assert_eq!(found, value % 3 != 1, "value {value}");
        }
        for value in (0..500u64).filter(|value| value % 3 != 1) {
            let position = table.position(value % 50, |entry| *entry == value);
            table.remove_at(position.unwrap(), hash_of);
        }
        table.shrink(hash_of);
        assert_eq!((table.len(), table.slots.capacity()), (0, 0));
    }
}
