//! The test driver: a probe that is a closure, every callback logged.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use super::{Log, TestBus, TestId};
use crate::bus::IdEntry;
use crate::context::Core;
use crate::device::Device;
use crate::driver::{Driver, ProbeType};
use crate::error::{Error, Result};

type ProbeFunction = dyn Fn(&Device<Core>, &u32, &Log) -> Result<()> + Send + Sync;

/// A driver on the [`TestBus`] whose probe runs a closure, for testing code that needs a
/// bound device (a subsystem, a devres helper) without writing a driver; Linux's KUnit
/// has the same double (`kunit_driver_create`).
///
/// Its ID data is a `u32`. Each callback writes one entry to the driver's [`Log`]:
///
/// | callback | entry |
/// |---|---|
/// | probe, before the closure | `probe:<driver>:<device>:<id data>` |
/// | unbind hook, with the devres nodes still on the list | `unbind:<driver>:<device>:devres=<n>` |
/// | remove (its [`TestState`] dropped) | `remove:<driver>:<device>` |
/// | suspend, resume, shutdown | `suspend:<device>` (`suspend-failed:<device>` when it fails), `resume:<device>`, `shutdown:<device>` |
///
/// ```
/// use drivermodel::testing::{self, Log, TestDriver};
///
/// let model = testing::model();
/// let log = Log::new();
/// let driver = model.register_driver(TestDriver::exact("uart", "acme,uart", &log).with_probe(
///     |device, _info, log| {
///         device.devres().add_action(log.action("devres released"))?;
///         Ok(())
///     },
/// ))?;
/// let uart = model.add_device(testing::device("uart0", "acme,uart"))?;
/// drop(uart); // delete: unbind, remove, then the devres
/// assert_eq!(
///     log.take(),
///     [
///         "probe:uart:uart0:0",
///         "unbind:uart:uart0:devres=1",
///         "remove:uart:uart0",
///         "devres released",
///     ]
/// );
/// drop(driver);
/// testing::assert_counts_zero(&model);
/// # Ok::<(), drivermodel::Error>(())
/// ```
pub struct TestDriver {
    name: String,
    table: Vec<IdEntry<TestId, u32>>,
    log: Log,
    probe: Box<ProbeFunction>,
    manual_bind: bool,
    failing_suspend: Option<String>,
    override_info: Option<u32>,
    probe_type: ProbeType,
}

impl TestDriver {
    /// A driver named `name` with the ID `table`, logging to `log`, whose probe succeeds
    /// doing nothing (change it with [`with_probe`](Self::with_probe)).
    pub fn new(name: &str, table: Vec<IdEntry<TestId, u32>>, log: &Log) -> Self {
        Self {
            name: name.into(),
            table,
            log: log.clone(),
            probe: Box::new(|_, _, _| Ok(())),
            manual_bind: true,
            failing_suspend: None,
            override_info: None,
            probe_type: ProbeType::Default,
        }
    }

    /// A driver with one ID, [`TestId::exact`]`(compatible)`, whose ID data is 0.
    pub fn exact(name: &str, compatible: &str, log: &Log) -> Self {
        Self::new(name, vec![IdEntry::new(TestId::exact(compatible), 0)], log)
    }

    /// The probe runs `probe` (after logging); its error fails the probe.
    #[must_use]
    pub fn with_probe(
        mut self,
        probe: impl Fn(&Device<Core>, &u32, &Log) -> Result<()> + Send + Sync + 'static,
    ) -> Self {
        self.probe = Box::new(probe);
        self
    }

    /// [`Driver::probe_type`] answers `probe_type`.
    #[must_use]
    pub fn with_probe_type(mut self, probe_type: ProbeType) -> Self {
        self.probe_type = probe_type;
        self
    }

    /// A driver override may force the driver onto a device none of its IDs matches;
    /// the probe then receives `info` ([`Driver::override_info`]).
    #[must_use]
    pub fn with_override_info(mut self, info: u32) -> Self {
        self.override_info = Some(info);
        self
    }

    /// Explicit binds and unbinds refuse the driver ([`Driver::allows_manual_bind`]
    /// answers no), as they refuse the faux driver.
    #[must_use]
    pub fn without_manual_bind(mut self) -> Self {
        self.manual_bind = false;
        self
    }

    /// The suspend of the device named `device` fails with `Error::driver("busy")`.
    #[must_use]
    pub fn with_failing_suspend(mut self, device: &str) -> Self {
        self.failing_suspend = Some(device.into());
        self
    }
}

impl fmt::Debug for TestDriver {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("TestDriver")
            .field("name", &self.name)
            .field("table", &self.table)
            .field("manual_bind", &self.manual_bind)
            .field("failing_suspend", &self.failing_suspend)
            .field("override_info", &self.override_info)
            .field("probe_type", &self.probe_type)
            .finish_non_exhaustive()
    }
}

/// The per-device state of a [`TestDriver`]: logs `remove:<driver>:<device>` when
/// dropped.
#[derive(Debug)]
pub struct TestState {
    log: Log,
    entry: String,
}

impl TestState {
    /// The entry the state logs when dropped, `remove:<driver>:<device>`: a driver's
    /// state seen from outside its callbacks ([`DriverData`](crate::DriverData)) says
    /// which binding it belongs to.
    pub fn remove_entry(&self) -> &str {
        &self.entry
    }
}

impl Drop for TestState {
    fn drop(&mut self) {
        self.log.push(core::mem::take(&mut self.entry));
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
        self.override_info.as_ref()
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
        self.log.push(format!(
            "unbind:{}:{}:devres={}",
            self.name,
            device.name(),
            device.devres().len()
        ));
    }

    fn suspend(&self, device: &Device<Core>, _state: &mut TestState) -> Result<()> {
        if self.failing_suspend.as_deref() == Some(device.name()) {
            self.log.push(format!("suspend-failed:{}", device.name()));
            return Err(Error::driver("busy"));
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
        self.manual_bind
    }

    fn probe_type(&self) -> ProbeType {
        self.probe_type
    }
}
