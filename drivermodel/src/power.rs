//! Power management and shutdown, in dependency order.
//!
//! The model keeps a **dependency order** of its registered devices: parents before
//! children, suppliers before consumers (every [device link](crate::link) counts,
//! stateless ones too), otherwise registration order. [`DeviceModel::power_order`]
//! returns it.
//!
//! - [`suspend_all`](DeviceModel::suspend_all) walks it backwards (children and consumers
//!   first) calling [`Driver::suspend`](crate::Driver::suspend) on bound devices. If one
//!   fails, the devices already suspended are resumed (in forward order) and the error
//!   names the device that failed.
//! - [`resume_all`](DeviceModel::resume_all) walks it forwards, resuming every bound
//!   device even after a failure, and reports the first failure.
//! - [`shutdown_all`](DeviceModel::shutdown_all) walks it backwards, like suspend.
//!
//! The callbacks see the bound device and the driver's state; devices that are unbound
//! are skipped. The model tracks a **suspended** flag per device
//! ([`Device::is_suspended`](crate::Device::is_suspended), `power=suspended` in the
//! [`tree`](crate::tree)): set by a successful suspend, cleared by a resume (even a
//! failed one, which is reported) and by unbind. So `suspend_all` skips devices that are
//! already suspended and `resume_all` resumes only suspended devices: a device bound
//! while the others slept is not resumed, and a second `suspend_all` suspends only what
//! is new. Binding is not blocked while devices are suspended; the caller keeps binding
//! activity quiet between suspend and resume.

#![forbid(unsafe_code)]

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use crate::device::{ARef, Device};
use crate::error::{Error, Result};
use crate::model::DeviceModel;

/// Which power callback to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Suspend,
    Resume,
    Shutdown,
}

impl DeviceModel {
    /// Registered devices in dependency order: parents before children, suppliers before
    /// consumers, otherwise registration order.
    pub fn power_order(&self) -> Vec<ARef<Device>> {
        let registry = self.shared().registry.lock();
        // Kahn's algorithm; the ready set is ordered by registration.
        let mut waiting_on: BTreeMap<u64, usize> = BTreeMap::new();
        let mut dependents: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for (key, record) in &registry.devices {
            let mut count = 0;
            if let Some(parent) = record.parent()
                && registry.devices.contains_key(&parent)
            {
                dependents.entry(parent).or_default().push(*key);
                count += 1;
            }
            #[cfg(feature = "links")]
            for (_, link) in registry.links.suppliers_of(*key) {
                if registry.devices.contains_key(&link.supplier) {
                    dependents.entry(link.supplier).or_default().push(*key);
                    count += 1;
                }
            }
            waiting_on.insert(*key, count);
        }
        let mut ready: BTreeSet<u64> = waiting_on
            .iter()
            .filter(|(_, count)| **count == 0)
            .map(|(key, _)| *key)
            .collect();
        let mut order = Vec::with_capacity(registry.devices.len());
        while let Some(key) = ready.pop_first() {
            order.push(key);
            for dependent in dependents.get(&key).into_iter().flatten() {
                if let Some(count) = waiting_on.get_mut(dependent) {
                    *count -= 1;
                    if *count == 0 {
                        ready.insert(*dependent);
                    }
                }
            }
        }
        // Links never close a cycle, so every device is placed; stay total anyway.
        if order.len() < registry.devices.len() {
            let placed: BTreeSet<u64> = order.iter().copied().collect();
            order.extend(registry.devices.keys().filter(|key| !placed.contains(key)));
        }
        order
            .into_iter()
            .filter_map(|key| registry.devices.get(&key))
            .map(|record| record.device.clone())
            .collect()
    }

    /// Suspends every bound device that is not suspended yet, children and consumers
    /// first.
    ///
    /// # Errors
    ///
    /// [`Error::PowerFailed`] naming the first device whose suspend failed; the devices
    /// this call suspended before it have been resumed, newest first, so the model is
    /// back where it was (devices an earlier call left suspended stay suspended).
    pub fn suspend_all(&self) -> Result<()> {
        let order = self.power_order();
        let mut suspended: Vec<&ARef<Device>> = Vec::new();
        for device in order.iter().rev() {
            match self.shared().call_driver(device, Operation::Suspend) {
                Ok(true) => suspended.push(device),
                Ok(false) => {}
                Err(cause) => {
                    for done in suspended.iter().rev() {
                        let _ = self.shared().call_driver(done, Operation::Resume);
                    }
                    return Err(Error::PowerFailed {
                        device: device.name().into(),
                        operation: "suspend",
                        cause: Box::new(cause),
                    });
                }
            }
        }
        Ok(())
    }

    /// Resumes every suspended device, parents and suppliers first.
    ///
    /// # Errors
    ///
    /// [`Error::PowerFailed`] for the first device whose resume failed (the others are
    /// still resumed).
    pub fn resume_all(&self) -> Result<()> {
        let mut first_error = None;
        for device in self.power_order() {
            if let Err(cause) = self.shared().call_driver(&device, Operation::Resume) {
                first_error.get_or_insert(Error::PowerFailed {
                    device: device.name().into(),
                    operation: "resume",
                    cause: Box::new(cause),
                });
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Shuts every bound device down, children and consumers first.
    pub fn shutdown_all(&self) {
        for device in self.power_order().iter().rev() {
            let _ = self.shared().call_driver(device, Operation::Shutdown);
        }
    }
}
