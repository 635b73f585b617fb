//! The test bus: devices matched by their `compatible` property.

use alloc::string::String;

use crate::bus::{Bus, KeySet, Match, MatchKey};
use crate::device::{Device, DeviceBuilder};
use crate::model::DeviceModel;

/// The name of [`TestBus`].
pub const BUS: &str = "test";

/// One ID of the [`TestBus`], matched against a device's `compatible` property.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TestId {
    /// Indexed; matches `compatible == name` with score 10.
    Exact(String),
    /// Unindexed; matches a `compatible` starting with the prefix, with score 1.
    Prefix(String),
    /// Unindexed; answers [`Match::Defer`] for `compatible == name`.
    Defer(String),
    /// Indexed; matches `compatible == name` with the given score.
    Scored(String, u32),
}

impl TestId {
    /// [`TestId::Exact`].
    pub fn exact(name: impl Into<String>) -> Self {
        Self::Exact(name.into())
    }

    /// [`TestId::Scored`]: give each driver its own score for one `compatible` to decide
    /// which of several matching drivers binds (the highest score does).
    pub fn scored(name: impl Into<String>, score: u32) -> Self {
        Self::Scored(name.into(), score)
    }
}

/// A bus named [`BUS`] that matches a device's `compatible` string property (see
/// [`device`]) against [`TestId`]s.
#[derive(Debug, Default, Clone, Copy)]
pub struct TestBus;

fn compatible(device: &Device) -> Option<&str> {
    device.read_string("compatible").ok()
}

impl Bus for TestBus {
    type Id = TestId;

    fn name(&self) -> &str {
        BUS
    }

    fn id_key(&self, id: &TestId) -> Option<MatchKey> {
        match id {
            TestId::Exact(name) | TestId::Scored(name, _) => Some(MatchKey::from_name(name)),
            TestId::Prefix(_) | TestId::Defer(_) => None,
        }
    }

    fn device_keys(&self, device: &Device) -> KeySet {
        compatible(device).map_or(KeySet::new(), |name| KeySet::one(MatchKey::from_name(name)))
    }

    /// A device with the property `override = "refuse"` refuses drivers forced onto it
    /// by a driver override; any other device accepts them (score 0).
    fn match_override(&self, device: &Device, _driver: &str) -> Match {
        if device.read_string("override").ok() == Some("refuse") {
            Match::No
        } else {
            Match::Yes { score: 0 }
        }
    }

    fn match_id(&self, device: &Device, id: &TestId) -> Match {
        let Some(compatible) = compatible(device) else {
            return Match::No;
        };
        match id {
            TestId::Exact(name) if name == compatible => Match::Yes { score: 10 },
            TestId::Scored(name, score) if name == compatible => Match::Yes { score: *score },
            TestId::Prefix(prefix) if compatible.starts_with(prefix.as_str()) => {
                Match::Yes { score: 1 }
            }
            TestId::Defer(name) if name == compatible => Match::Defer {
                reason: "bus cannot decide",
            },
            _ => Match::No,
        }
    }
}

/// A device named `name` on the [`TestBus`] with the `compatible` property; add more with
/// the builder's methods.
pub fn device(name: &str, compatible: &str) -> DeviceBuilder {
    DeviceBuilder::new(name)
        .bus(BUS)
        .property("compatible", compatible)
}

/// A new model with the [`TestBus`] registered.
pub fn model() -> DeviceModel {
    let model = DeviceModel::new();
    // A new model has only the faux bus: registering another bus cannot fail.
    let _ = model.register_bus(TestBus);
    model
}
