//! The driver names of one bus: which registered driver has a name.

#![forbid(unsafe_code)]

use crate::bus::MatchKey;
use crate::driver_table::DriverTable;
use crate::hash_table::HashTable;

/// Driver names of one bus: the crate's [`HashTable`] of driver keys, hashed by the name
/// the driver table holds, so the index keeps no copy of the names (8 bytes a slot). It
/// replaces a `BTreeMap<String, u64>`, whose generated code cost more than the whole
/// index. Every method takes the driver table the keys refer to. The table shrinks as
/// drivers unregister, so registering and unregistering gives the memory back.
#[derive(Default)]
pub(crate) struct DriverNames {
    table: HashTable<u64>,
}

impl DriverNames {
    /// The hash of a name (FNV-1a).
    fn hash(name: &str) -> u64 {
        MatchKey::from_name(name).value()
    }

    /// How to hash a filed key: by its driver's name (`None` for a key the table no
    /// longer has: only the one being removed, which is never rehashed).
    fn hash_of(drivers: &DriverTable) -> impl Fn(&u64) -> Option<u64> + '_ {
        move |key| drivers.get(*key).map(|record| Self::hash(&record.name))
    }

    /// The key of the driver named `name`.
    pub(crate) fn get(&self, drivers: &DriverTable, name: &str) -> Option<u64> {
        self.table
            .probe(Self::hash(name))
            .find(|&&key| drivers.get(key).is_some_and(|record| record.name == name))
            .copied()
    }

    /// Files the driver `key`, which `drivers` already holds.
    pub(crate) fn insert(&mut self, drivers: &DriverTable, key: u64) {
        let Some(record) = drivers.get(key) else {
            return;
        };
        self.table
            .insert(Self::hash(&record.name), key, Self::hash_of(drivers));
    }

    /// Forgets the driver `key` named `name` (already gone from `drivers`).
    pub(crate) fn remove(&mut self, drivers: &DriverTable, key: u64, name: &str) {
        if let Some(position) = self.table.position(Self::hash(name), |own| *own == key) {
            self.table.remove_at(position, Self::hash_of(drivers));
            self.table.shrink(Self::hash_of(drivers));
        }
    }
}
