//! A test bus that matches a numeric ID carried as device data ([`Compat`]) and indexes
//! drivers by that ID. Shared by the stress test and the benchmarks.

use drivermodel::{Bus, Device, KeySet, Match, MatchKey};

/// The bus's name, for `DeviceBuilder::bus`.
pub const NAME: &str = "compat";

/// The bus; its ID type is the number a device must carry to match.
pub struct CompatBus;

/// Device data: the number that driver IDs match against.
pub struct Compat(pub u64);

impl Bus for CompatBus {
    type Id = u64;

    fn name(&self) -> &str {
        NAME
    }

    fn id_key(&self, id: &u64) -> Option<MatchKey> {
        Some(MatchKey::new(*id))
    }

    fn device_keys(&self, device: &Device) -> KeySet {
        device
            .data::<Compat>()
            .map_or(KeySet::new(), |compat| KeySet::one(MatchKey::new(compat.0)))
    }

    fn match_id(&self, device: &Device, id: &u64) -> Match {
        match device.data::<Compat>() {
            Some(compat) if compat.0 == *id => Match::Yes { score: 1 },
            _ => Match::No,
        }
    }
}
