//! Test doubles shared by the integration tests: the test kit's bus (it matches on a
//! `compatible` property), and a driver whose probe is a closure and whose every step is
//! logged.
#![allow(
    dead_code,
    unused_imports,
    reason = "each test file uses a different part of the doubles"
)]

use drivermodel::context::Core;
use drivermodel::driver::ProbeType;
use drivermodel::{Device, Driver, IdEntry, Result};

// The test bus, the device builder, the model and the log come from the crate's own
// test kit (`drivermodel::testing`), which adopters use the same way.
pub use drivermodel::testing::{BUS, Log, TestBus, TestId, device as test_device, model};

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
    /// The info a driver override forced without an ID match probes with
    /// (`Driver::override_info`); `None`: cannot be forced.
    pub forced: Option<u32>,
    /// What `Driver::probe_type` answers.
    pub probe_type: ProbeType,
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
            forced: None,
            probe_type: ProbeType::Default,
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

    pub fn with_probe_type(mut self, probe_type: ProbeType) -> Self {
        self.probe_type = probe_type;
        self
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

    fn override_info(&self) -> Option<&u32> {
        self.forced.as_ref()
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

    fn probe_type(&self) -> ProbeType {
        self.probe_type
    }
}
