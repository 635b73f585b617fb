//! Test doubles shared by the integration tests: a bus that matches on a `compatible`
//! property, and a driver whose probe is a closure and whose every step is logged.
#![allow(
    dead_code,
    reason = "each test file uses a different part of the doubles"
)]

use std::sync::{Arc, Mutex};

use drivermodel::context::Core;
use drivermodel::{Bus, Device, DeviceBuilder, Driver, IdEntry, KeySet, Match, MatchKey, Result};

/// A shared, ordered log of what happened.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn push(&self, entry: impl Into<String>) {
        self.0.lock().unwrap().push(entry.into());
    }

    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    pub fn snapshot(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// An action for devres that logs `entry` when it runs.
    pub fn action(&self, entry: impl Into<String>) -> impl FnOnce() + Send + 'static {
        let log = self.clone();
        let entry = entry.into();
        move || log.push(entry)
    }
}

/// One ID of the test bus.
#[derive(Debug, Clone)]
pub enum TestId {
    /// Indexed; matches `compatible == name` with score 10.
    Exact(String),
    /// Unindexed; matches `compatible` starting with the prefix, with score 1.
    Prefix(String),
    /// Unindexed; answers `Defer` for `compatible == name`.
    Defer(String),
    /// Indexed; matches `compatible == name` with the given score.
    Scored(String, u32),
}

/// A bus named `test` matching on the `compatible` property.
pub struct TestBus;

pub const BUS: &str = "test";

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

/// A device on the test bus with a `compatible` property.
pub fn test_device(name: &str, compatible: &str) -> DeviceBuilder {
    DeviceBuilder::new(name)
        .bus(BUS)
        .property("compatible", compatible)
}

/// Per-device state of [`TestDriver`]: logs `remove:<driver>:<device>` when dropped.
pub struct TestState {
    pub log: Log,
    pub entry: String,
}

impl Drop for TestState {
    fn drop(&mut self) {
        self.log.push(std::mem::take(&mut self.entry));
    }
}

type ProbeFunction = dyn Fn(&Device<Core>, &u32, &Log) -> Result<()> + Send + Sync;

/// A driver with a closure probe. Logs `probe:<driver>:<device>:<info>` before calling
/// the closure, `unbind:<driver>:<device>` in the unbind hook and
/// `remove:<driver>:<device>` when its state drops.
pub struct TestDriver {
    pub name: String,
    pub table: Vec<IdEntry<TestId, u32>>,
    pub log: Log,
    pub probe: Box<ProbeFunction>,
    pub manual: bool,
    /// Suspend fails for the device of this name.
    pub fail_suspend: Option<String>,
}

impl TestDriver {
    pub fn new(name: &str, table: Vec<IdEntry<TestId, u32>>, log: &Log) -> Self {
        Self {
            name: name.into(),
            table,
            log: log.clone(),
            probe: Box::new(|_, _, _| Ok(())),
            manual: true,
            fail_suspend: None,
        }
    }

    /// Matches `compatible` exactly, info 0.
    pub fn exact(name: &str, compatible: &str, log: &Log) -> Self {
        Self::new(
            name,
            vec![IdEntry::new(TestId::Exact(compatible.into()), 0)],
            log,
        )
    }

    pub fn with_probe(
        mut self,
        probe: impl Fn(&Device<Core>, &u32, &Log) -> Result<()> + Send + Sync + 'static,
    ) -> Self {
        self.probe = Box::new(probe);
        self
    }
}

impl Driver for TestDriver {
    type Bus = TestBus;
    type IdInfo = u32;
    type State = TestState;

    fn name(&self) -> &str {
        &self.name
    }

    fn id_table(&self) -> &[IdEntry<TestId, u32>] {
        &self.table
    }

    fn probe(&self, device: &Device<Core>, info: &u32) -> Result<TestState> {
        self.log
            .push(format!("probe:{}:{}:{}", self.name, device.name(), info));
        (self.probe)(device, info, &self.log)?;
        Ok(TestState {
            log: self.log.clone(),
            entry: format!("remove:{}:{}", self.name, device.name()),
        })
    }

    fn unbind(&self, device: &Device<Core>, _state: &mut TestState) {
        // The hook still sees the bound device with its devres intact.
        self.log.push(format!(
            "unbind:{}:{}:devres={}",
            self.name,
            device.name(),
            device.devres().len()
        ));
    }

    fn suspend(&self, device: &Device<Core>, _state: &mut TestState) -> Result<()> {
        if self.fail_suspend.as_deref() == Some(device.name()) {
            self.log.push(format!("suspend-failed:{}", device.name()));
            return Err(drivermodel::Error::driver("busy"));
        }
        self.log.push(format!("suspend:{}", device.name()));
        Ok(())
    }

    fn resume(&self, device: &Device<Core>, _state: &mut TestState) -> Result<()> {
        self.log.push(format!("resume:{}", device.name()));
        Ok(())
    }

    fn shutdown(&self, device: &Device<Core>, _state: &mut TestState) {
        self.log.push(format!("shutdown:{}", device.name()));
    }

    fn allows_manual_bind(&self) -> bool {
        self.manual
    }
}

/// A model with the test bus registered.
pub fn model() -> drivermodel::DeviceModel {
    let model = drivermodel::DeviceModel::new();
    model.register_bus(TestBus).unwrap();
    model
}
