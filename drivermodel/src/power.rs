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
use alloc::vec::Vec;

use crate::device::{ARef, Device};
use crate::error::{Error, Result};
use crate::model::DeviceModel;
use crate::registry::DeviceRecord;
use crate::sort;

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
        let records: Vec<&DeviceRecord> = registry.devices.values().collect();
        // Devices by index in registration (key) order.
        let index_of = |key: u64| {
            records
                .binary_search_by_key(&key, |record| record.device.inner().key)
                .ok()
        };
        // Kahn's algorithm on indices: `waiting[index]` counts the unplaced devices it
        // waits for (`PLACED` once placed), `edges` are `(dependency, dependent)` sorted
        // by dependency, and the smallest ready index goes first.
        const PLACED: usize = usize::MAX;
        let mut waiting: Vec<usize> = Vec::with_capacity(records.len());
        let mut edges: Vec<(usize, usize)> = Vec::new();
        for (index, record) in records.iter().enumerate() {
            let before = edges.len();
            if let Some(parent) = record.parent().and_then(index_of) {
                edges.push((parent, index));
            }
            #[cfg(feature = "links")]
            edges.extend(
                registry
                    .links
                    .suppliers_of(record.device.inner().key)
                    .filter_map(|(_, link)| index_of(link.supplier))
                    .map(|supplier| (supplier, index)),
            );
            waiting.push(edges.len() - before);
        }
        sort::sort_by_key(&mut edges, |&edge| edge);
        let mut order: Vec<usize> = Vec::with_capacity(records.len());
        // Every ready, unplaced index is at `cursor` or after it.
        let mut cursor = 0;
        while let Some(offset) = waiting
            .get(cursor..)
            .and_then(|rest| rest.iter().position(|count| *count == 0))
        {
            let index = cursor + offset;
            waiting[index] = PLACED;
            order.push(index);
            cursor = index + 1;
            let first = edges.partition_point(|&(dependency, _)| dependency < index);
            for &(_, dependent) in edges[first..]
                .iter()
                .take_while(|&&(dependency, _)| dependency == index)
            {
                if let Some(count) = waiting.get_mut(dependent)
                    && *count != PLACED
                {
                    *count -= 1;
                    if *count == 0 {
                        cursor = cursor.min(dependent);
                    }
                }
            }
        }
        // Links never close a cycle, so every device is placed; stay total anyway.
        if order.len() < records.len() {
            order.extend((0..records.len()).filter(|index| waiting[*index] != PLACED));
        }
        order
            .into_iter()
            .map(|index| records[index].device.clone())
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
                        device: crate::error::owned(device.name()),
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
                    device: crate::error::owned(device.name()),
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
