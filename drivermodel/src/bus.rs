//! Buses: how devices and drivers are matched, and the index that keeps matching fast.
//!
//! A bus is a [`Bus`] value registered once per model with
//! [`DeviceModel::register_bus`](crate::DeviceModel::register_bus). Its associated
//! [`Bus::Id`] is the type of one entry of a driver's ID table (platform: a name; PCI:
//! vendor/device, or class with mask). [`Bus::match_id`] decides, for one device and one ID,
//! [`Match::No`], [`Match::Yes`] with a score (the best score over all candidate drivers
//! wins; ties go to the driver registered first) or [`Match::Defer`].
//!
//! # The match index
//!
//! Matching never walks every driver. When a driver registers, each ID of its table is
//! filed under the [`MatchKey`] its bus returns from [`Bus::id_key`] (a hash table from key
//! to `(driver, entry)` pairs), or in a small secondary list when the bus returns `None`
//! (wildcards such as PCI class-with-mask entries). To match a device the model asks
//! [`Bus::device_keys`] for the keys to look up, and calls [`Bus::match_id`] only for the
//! entries filed under those keys plus the secondary list. Keys are hints: a hash
//! collision costs one extra `match_id` call, never a wrong match. A bus that declares no
//! keys at all still works; every entry then lands in the secondary list.
//!
//! ```
//! use drivermodel::{Bus, Device, DeviceBuilder, DeviceModel, KeySet, Match, MatchKey};
//!
//! /// What a PCI function looks like to the bus (attached with `DeviceBuilder::data`).
//! struct Function { vendor: u16, device: u16, class: u32 }
//!
//! enum PciId {
//!     /// Indexed under vendor/device.
//!     Device { vendor: u16, device: u16 },
//!     /// Unindexed: checked against every device, so keep these few.
//!     Class { class: u32, mask: u32 },
//! }
//!
//! fn key(vendor: u16, device: u16) -> MatchKey {
//!     MatchKey::new(u64::from(vendor) << 16 | u64::from(device))
//! }
//!
//! struct Pci;
//!
//! impl Bus for Pci {
//!     type Id = PciId;
//!     fn name(&self) -> &str { "pci" }
//!     fn id_key(&self, id: &PciId) -> Option<MatchKey> {
//!         match id {
//!             PciId::Device { vendor, device } => Some(key(*vendor, *device)),
//!             PciId::Class { .. } => None,
//!         }
//!     }
//!     fn device_keys(&self, device: &Device) -> KeySet {
//!         device.data::<Function>().map_or(KeySet::new(), |f| KeySet::one(key(f.vendor, f.device)))
//!     }
//!     fn match_id(&self, device: &Device, id: &PciId) -> Match {
//!         let Some(function) = device.data::<Function>() else { return Match::No };
//!         match id {
//!             PciId::Device { vendor, device } if (*vendor, *device) == (function.vendor, function.device) => {
//!                 Match::Yes { score: 2 } // an exact ID beats a class match
//!             }
//!             PciId::Class { class, mask } if function.class & mask == *class => Match::Yes { score: 1 },
//!             _ => Match::No,
//!         }
//!     }
//! }
//!
//! let model = DeviceModel::new();
//! model.register_bus(Pci)?;
//! let display = model.add_device(
//!     DeviceBuilder::new("0000:00:02.0").bus("pci").data(Function { vendor: 0x1234, device: 0x1111, class: 0x03_00_00 }),
//! )?;
//! # drop(display);
//! # Ok::<(), drivermodel::Error>(())
//! ```

#![forbid(unsafe_code)]

use alloc::vec::Vec;

use crate::capacity::{fit_canonical, push_canonical};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::hash_table::HashTable;
use crate::sort;

/// The answer of [`Bus::match_id`] for one device and one ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Match {
    /// The ID does not describe the device.
    No,
    /// The ID describes the device; the highest `score` over all candidates wins.
    Yes {
        /// How specific the match is (an exact vendor/device beats a class match).
        score: u32,
    },
    /// The bus cannot decide yet (for example, the device's description is incomplete).
    Defer {
        /// Why, for the deferred-device listing.
        reason: &'static str,
    },
}

/// A hashable key that files an ID table entry in the match index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MatchKey(u64);

impl MatchKey {
    /// A key from a number (for example `vendor << 16 | device`).
    pub const fn new(value: u64) -> Self {
        Self(value)
    }

    /// A key from a name (64-bit FNV-1a of its bytes).
    pub const fn from_name(name: &str) -> Self {
        let bytes = name.as_bytes();
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut index = 0;
        while index < bytes.len() {
            hash ^= bytes[index] as u64;
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            index += 1;
        }
        Self(hash)
    }

    /// The raw value.
    pub const fn value(self) -> u64 {
        self.0
    }
}

/// The keys a device is looked up under: any number of them, every one of which can
/// match (a devicetree node with five `compatible` strings offers five keys).
///
/// The first [`KeySet::INLINE`] keys are stored inline, so the common case does not
/// allocate; more keys move to the heap. If that allocation fails, [`push`](Self::push)
/// says so and the set remembers it: matching the device then fails with
/// [`Error::OutOfMemory`] instead of silently ignoring a key.
#[derive(Debug, Clone)]
pub struct KeySet {
    inline: [MatchKey; KeySet::INLINE],
    /// The number of keys in `inline` (0 once they moved to `spilled`).
    length: usize,
    /// Every key, once there were more than `INLINE`.
    spilled: Vec<MatchKey>,
    /// A key could not be stored (out of memory).
    incomplete: bool,
}

impl KeySet {
    /// How many keys are stored without allocating.
    pub const INLINE: usize = 4;

    /// No keys: only the secondary (unindexed) list is consulted.
    pub const fn new() -> Self {
        Self {
            inline: [MatchKey(0); Self::INLINE],
            length: 0,
            spilled: Vec::new(),
            incomplete: false,
        }
    }

    /// One key.
    pub const fn one(key: MatchKey) -> Self {
        let mut set = Self::new();
        set.inline[0] = key;
        set.length = 1;
        set
    }

    /// Adds a key.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfMemory`] when a key beyond [`INLINE`](Self::INLINE) finds no memory;
    /// the set is then marked incomplete, and matching a device with it fails with that
    /// error.
    pub fn push(&mut self, key: MatchKey) -> Result<()> {
        if self.spilled.is_empty() && self.length < Self::INLINE {
            self.inline[self.length] = key;
            self.length += 1;
            return Ok(());
        }
        let additional = if self.spilled.is_empty() {
            self.length + 1
        } else {
            1
        };
        if self.spilled.try_reserve(additional).is_err() {
            self.incomplete = true;
            return Err(Error::OutOfMemory);
        }
        if self.spilled.is_empty() {
            self.spilled.extend_from_slice(&self.inline[..self.length]);
            self.length = 0;
        }
        self.spilled.push(key);
        Ok(())
    }

    /// The keys, in the order they were pushed.
    pub fn as_slice(&self) -> &[MatchKey] {
        if self.spilled.is_empty() {
            &self.inline[..self.length]
        } else {
            &self.spilled
        }
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether the set has no key.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// Whether every pushed key was stored (`false` after a [`push`](Self::push) failed
    /// for lack of memory).
    pub fn is_complete(&self) -> bool {
        !self.incomplete
    }
}

impl Default for KeySet {
    fn default() -> Self {
        Self::new()
    }
}

/// Equal when they hold the same keys in the same order and are equally complete.
impl PartialEq for KeySet {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice() && self.incomplete == other.incomplete
    }
}

impl Eq for KeySet {}

impl FromIterator<MatchKey> for KeySet {
    /// Collects keys; like [`push`](KeySet::push), a key that finds no memory marks the
    /// set incomplete.
    fn from_iter<I: IntoIterator<Item = MatchKey>>(keys: I) -> Self {
        let mut set = Self::new();
        for key in keys {
            if set.push(key).is_err() {
                break;
            }
        }
        set
    }
}

/// One entry of a driver's ID table: a bus ID and the driver's data for it, which
/// [`Driver::probe`](crate::Driver::probe) receives when this entry matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdEntry<Id, Info> {
    /// The bus-specific ID.
    pub id: Id,
    /// The driver's data for this ID.
    pub info: Info,
}

impl<Id, Info> IdEntry<Id, Info> {
    /// An entry; `const` so tables can be `static`.
    pub const fn new(id: Id, info: Info) -> Self {
        Self { id, info }
    }
}

/// A bus type: names, index keys and the match rule.
///
/// All methods are called **without** any lock of the model held, so they may look at
/// the device freely; they must not block for long.
pub trait Bus: Send + Sync + 'static {
    /// One ID table entry (for example a platform name, or a PCI vendor/device pair).
    type Id: Send + Sync + 'static;

    /// The bus name, unique in a model (for example `"platform"`).
    fn name(&self) -> &str;

    /// The index key of one ID, or `None` to put it in the secondary list that every
    /// device on the bus is checked against (keep that list small).
    fn id_key(&self, id: &Self::Id) -> Option<MatchKey> {
        let _ = id;
        None
    }

    /// The keys under which to look up candidate IDs for `device`. An ID must be found
    /// under one of these keys (or be unindexed) to be considered at all.
    fn device_keys(&self, device: &Device) -> KeySet {
        let _ = device;
        KeySet::new()
    }

    /// Whether `id` describes `device`.
    fn match_id(&self, device: &Device, id: &Self::Id) -> Match;

    /// The bus's say on binding the driver named `driver` to `device` because the
    /// device's [driver override](crate::DeviceModel::set_driver_override) names it,
    /// when none of the driver's IDs matches the device (Linux: the bus's `match` still
    /// runs for an override). The default accepts with score 0; a bus may refuse
    /// ([`Match::No`]) or defer.
    fn match_override(&self, device: &Device, driver: &str) -> Match {
        let _ = (device, driver);
        Match::Yes { score: 0 }
    }
}

/// The type-erased face of a registered bus.
pub(crate) trait ErasedBus: core::any::Any + Send + Sync {
    fn device_keys(&self, device: &Device) -> KeySet;
}

impl<B: Bus> ErasedBus for B {
    fn device_keys(&self, device: &Device) -> KeySet {
        Bus::device_keys(self, device)
    }
}

/// Names one ID table entry of one registered driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct EntryRef {
    pub(crate) driver: u64,
    pub(crate) entry: usize,
}

/// One candidate of a match: an ID table entry, the handle to its driver (`T`), and the
/// bus's score for it once asked (0 until then).
#[derive(Debug, Clone)]
pub(crate) struct Candidate<T> {
    pub(crate) entry: EntryRef,
    pub(crate) object: T,
    pub(crate) score: u32,
}

impl<T> Candidate<T> {
    /// The order of candidates as the index returns them: by driver (registration
    /// order), then by entry. One key type for every sort of candidates, so that the
    /// crate's sort has one instance for them.
    pub(crate) fn by_entry(&self) -> u128 {
        (u128::from(self.entry.driver) << 64) | self.entry.entry as u128
    }

    /// The order in which matching drivers are probed: highest score first, ties to the
    /// older driver.
    pub(crate) fn by_rank(&self) -> u128 {
        (u128::from(u32::MAX - self.score) << 64) | u128::from(self.entry.driver)
    }
}

/// A hash table from [`MatchKey`] to ID table entries, plus the unindexed list.
///
/// The keyed entries sit in the crate's one open-addressing
/// [`HashTable`] (several entries may share a key: drivers
/// for the same ID sit in the same probe run), so a lookup costs the same at 10 and at
/// 100,000 entries.
///
/// Each entry carries `T`, the model's handle to the driver (so a match reads no driver
/// record), and the index only holds entries of drivers that are registered and not
/// leaving.
///
/// The storage is a function of the contents alone: the table has the size its length
/// calls for, and none when empty; the unindexed list has
/// [`canonical_capacity`](crate::capacity::canonical_capacity). A removal shrinks the
/// table (rehashing) when it falls below its size's lower bound, so unregistering a
/// driver returns exactly the memory registering it took. The price is a rehash each
/// way when one registration crosses a size boundary.
#[derive(Debug)]
pub(crate) struct MatchIndex<T> {
    table: HashTable<Filed<T>>,
    unindexed: Vec<Filed<T>>,
}

/// One entry of a [`MatchIndex`].
#[derive(Debug, Clone)]
struct Filed<T> {
    key: MatchKey,
    entry: EntryRef,
    value: T,
}

impl<T> Filed<T> {
    fn hash(&self) -> Option<u64> {
        Some(self.key.0)
    }
}

impl<T> Default for MatchIndex<T> {
    fn default() -> Self {
        Self {
            table: HashTable::default(),
            unindexed: Vec::new(),
        }
    }
}

impl<T: Clone> MatchIndex<T> {
    pub(crate) fn insert(&mut self, key: Option<MatchKey>, entry: EntryRef, value: T) {
        let Some(key) = key else {
            push_canonical(
                &mut self.unindexed,
                Filed {
                    key: MatchKey(0),
                    entry,
                    value,
                },
            );
            return;
        };
        self.table
            .insert(key.0, Filed { key, entry, value }, Filed::hash);
    }

    /// Removes every entry of `driver` filed under `key`.
    pub(crate) fn remove_driver(&mut self, key: Option<MatchKey>, driver: u64) {
        let Some(key) = key else {
            self.unindexed.retain(|filed| filed.entry.driver != driver);
            fit_canonical(&mut self.unindexed);
            return;
        };
        while let Some(position) = self.table.position(key.0, |filed| {
            filed.key == key && filed.entry.driver == driver
        }) {
            self.table.remove_at(position, Filed::hash);
        }
        self.table.shrink(Filed::hash);
    }

    /// Appends every entry filed under one of `keys`, and every unindexed entry, in
    /// driver registration order without duplicates.
    pub(crate) fn candidates(&self, keys: &KeySet, out: &mut Vec<Candidate<T>>) {
        let found = |filed: &Filed<T>| Candidate {
            entry: filed.entry,
            object: filed.value.clone(),
            score: 0,
        };
        let keys = keys.as_slice();
        for (index, &key) in keys.iter().enumerate() {
            // Each entry is filed under one key: only a key the device gives twice
            // would find it twice.
            if keys[..index].contains(&key) {
                continue;
            }
            for filed in self.table.probe(key.0) {
                if filed.key == key {
                    out.push(found(filed));
                }
            }
        }
        for filed in &self.unindexed {
            out.push(found(filed));
        }
        if out.len() > 1 {
            sort::sort_by_key(out, Candidate::by_entry as fn(&Candidate<T>) -> u128);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_finds_only_filed_entries() {
        let mut index = MatchIndex::<()>::default();
        for driver in 0..1000 {
            index.insert(
                Some(MatchKey::new(driver)),
                EntryRef { driver, entry: 0 },
                (),
            );
        }
        index.insert(
            None,
            EntryRef {
                driver: 5000,
                entry: 3,
            },
            (),
        );
        let mut out = Vec::new();
        index.candidates(&KeySet::one(MatchKey::new(77)), &mut out);
        let out: Vec<(EntryRef, ())> = out
            .iter()
            .map(|found| (found.entry, found.object))
            .collect();
        assert_eq!(
            out,
            [
                (
                    EntryRef {
                        driver: 77,
                        entry: 0
                    },
                    ()
                ),
                (
                    EntryRef {
                        driver: 5000,
                        entry: 3
                    },
                    ()
                )
            ]
        );
        index.remove_driver(Some(MatchKey::new(77)), 77);
        index.remove_driver(None, 5000);
        let mut out = Vec::new();
        index.candidates(&KeySet::one(MatchKey::new(77)), &mut out);
        assert!(out.is_empty());
    }

    /// Entries sharing keys and colliding runs survive removals in any order.
    #[test]
    fn index_removal_keeps_every_other_entry_findable() {
        let mut index = MatchIndex::<()>::default();
        // 3 drivers per key, 200 keys: long probe runs and shared keys.
        for driver in 0..600u64 {
            index.insert(
                Some(MatchKey::new(driver % 200)),
                EntryRef { driver, entry: 0 },
                (),
            );
        }
        for driver in (0..600u64).filter(|driver| driver % 7 == 3) {
            index.remove_driver(Some(MatchKey::new(driver % 200)), driver);
        }
        for key in 0..200u64 {
            let mut out = Vec::new();
            index.candidates(&KeySet::one(MatchKey::new(key)), &mut out);
            let out: Vec<(EntryRef, ())> = out
                .iter()
                .map(|found| (found.entry, found.object))
                .collect();
            let expected: Vec<(EntryRef, ())> = [key, key + 200, key + 400]
                .into_iter()
                .filter(|driver| driver % 7 != 3)
                .map(|driver| (EntryRef { driver, entry: 0 }, ()))
                .collect();
            assert_eq!(out, expected, "key {key}");
        }
        assert_eq!(
            index.table.len(),
            600 - (0..600u64).filter(|d| d % 7 == 3).count()
        );
    }

    #[test]
    fn key_set_keeps_every_key() {
        let mut keys = KeySet::new();
        for value in 0..3 * KeySet::INLINE as u64 {
            assert_eq!(keys.push(MatchKey::new(value)), Ok(()));
            assert_eq!(keys.len() as u64, value + 1);
        }
        let expected: Vec<MatchKey> = (0..3 * KeySet::INLINE as u64).map(MatchKey::new).collect();
        assert_eq!(keys.as_slice(), expected.as_slice());
        assert!(keys.is_complete());
        assert_eq!(expected.iter().copied().collect::<KeySet>(), keys);
        assert_eq!(
            KeySet::one(MatchKey::new(0)).as_slice(),
            &[MatchKey::new(0)]
        );
        assert!(KeySet::new().is_empty());
        assert_ne!(MatchKey::from_name("uart"), MatchKey::from_name("uarT"));
    }
}
