//! A sysfs-like text view of a model, for logs, demos and tests.
//!
//! # Format
//!
//! One line per registered device, depth first (a parent, then its children, each level
//! in registration order), then one line per bus and per driver:
//!
//! ```text
//! /devices/<path> bus=<bus|-> driver=<driver|-> devres=<count>[ <flag>...]
//! /bus/<bus>
//! /bus/<bus>/drivers/<driver> devices=<name>,<name>
//! ```
//!
//! `driver` is the bound driver; during a transition it is written `probing:<driver>` or
//! `unbinding:<driver>`. Optional flags, in this order: `deferred="<reason>"`,
//! `override=<driver>`, `delete-pending`, `suppliers=<name>,<name>` (the suppliers of its
//! device links, oldest link first), `power=suspended` (see [`power`](crate::power)). `devices` lists the bound devices in binding
//! order (empty after `=` when none). Later versions only append new `key=value` flags.
//!
//! ```
//! use drivermodel::{DeviceBuilder, DeviceModel, faux};
//!
//! let model = DeviceModel::new();
//! let board = model.add_device(DeviceBuilder::new("board"))?;
//! let display = faux::Registration::new(&model, "display", Some(&board))?;
//! display.device().devres().add_action(|| {})?;
//! assert_eq!(
//!     model.tree(),
//!     "/devices/board bus=- driver=- devres=0\n\
//!      /devices/board/display bus=faux driver=faux_driver devres=1\n\
//!      /bus/faux\n\
//!      /bus/faux/drivers/faux_driver devices=display\n"
//! );
//! # Ok::<(), drivermodel::Error>(())
//! ```

#![forbid(unsafe_code)]

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;

use crate::device::{ARef, BindingState, Device, Lifecycle};
use crate::model::DeviceModel;

/// A bus name and its drivers.
type BusListing = (String, Vec<DriverListing>);
/// A driver name and the keys of its devices, in binding order.
type DriverListing = (String, Vec<u64>);

impl DeviceModel {
    /// The text view described in [`tree`](crate::tree).
    pub fn tree(&self) -> String {
        // Snapshot under the registry lock, describe with no lock held.
        let (devices, buses, suppliers) = {
            let registry = self.shared().registry.lock();
            let suppliers: BTreeMap<u64, Vec<String>> = registry
                .devices
                .keys()
                .filter_map(|key| {
                    let names: Vec<String> = registry
                        .links
                        .suppliers_of(*key)
                        .filter_map(|(_, link)| registry.devices.get(&link.supplier))
                        .map(|record| String::from(record.device.name()))
                        .collect();
                    (!names.is_empty()).then_some((*key, names))
                })
                .collect();
            let devices: Vec<(u64, Option<u64>, ARef<Device>)> = registry
                .devices
                .iter()
                .map(|(key, record)| (*key, record.parent(), record.device.clone()))
                .collect();
            let buses: Vec<BusListing> = registry
                .buses
                .iter()
                .map(|bus| {
                    let mut drivers: Vec<(u64, String, Vec<u64>)> = bus
                        .drivers
                        .iter()
                        .filter_map(|(name, key)| {
                            let record = registry.drivers.get(*key)?;
                            let bound = record
                                .object
                                .bindings()
                                .bound
                                .lock()
                                .iter()
                                .map(|(_, device)| device)
                                .collect();
                            Some((*key, name.clone(), bound))
                        })
                        .collect();
                    drivers.sort_by_key(|(key, _, _)| *key);
                    let drivers = drivers
                        .into_iter()
                        .map(|(_, name, bound)| (name, bound))
                        .collect();
                    (bus.name.to_string(), drivers)
                })
                .collect();
            (devices, buses, suppliers)
        };
        let mut children: BTreeMap<Option<u64>, Vec<usize>> = BTreeMap::new();
        let registered: BTreeMap<u64, usize> = devices
            .iter()
            .enumerate()
            .map(|(index, (key, _, _))| (*key, index))
            .collect();
        for (index, (_, parent, _)) in devices.iter().enumerate() {
            // A parent that is not registered any more cannot exist (children first),
            // but stay total: show such a device at the top level.
            let parent = parent.filter(|parent| registered.contains_key(parent));
            children.entry(parent).or_default().push(index);
        }
        let mut text = String::new();
        let mut stack: Vec<usize> = children.get(&None).cloned().unwrap_or_default();
        stack.reverse();
        while let Some(index) = stack.pop() {
            let (key, _, device) = &devices[index];
            describe(&mut text, device, suppliers.get(key).map(Vec::as_slice));
            if let Some(below) = children.get(&Some(*key)) {
                stack.extend(below.iter().rev());
            }
        }
        let names: BTreeMap<u64, &str> = devices
            .iter()
            .map(|(key, _, device)| (*key, device.name()))
            .collect();
        for (bus, drivers) in buses {
            let _ = writeln!(text, "/bus/{bus}");
            for (driver, bound) in drivers {
                let list: Vec<&str> = bound
                    .iter()
                    .filter_map(|key| names.get(key).copied())
                    .collect();
                let _ = writeln!(
                    text,
                    "/bus/{bus}/drivers/{driver} devices={}",
                    list.join(",")
                );
            }
        }
        text
    }
}

fn describe(text: &mut String, device: &Device, suppliers: Option<&[String]>) {
    let (lifecycle, deferred, driver_override, suspended) = {
        let state = device.inner().state.lock();
        (
            state.lifecycle,
            state.deferred().map(String::from),
            state.driver_override().map(String::from),
            state.suspended,
        )
    };
    let driver = match device.binding_state() {
        BindingState::Unbound => String::from("-"),
        BindingState::Bound { driver } => driver,
        BindingState::Probing { driver } => alloc::format!("probing:{driver}"),
        BindingState::Unbinding { driver } => alloc::format!("unbinding:{driver}"),
    };
    let _ = write!(
        text,
        "{} bus={} driver={} devres={}",
        device.path(),
        device.bus_name().unwrap_or("-"),
        driver,
        device.devres().len()
    );
    if let Some(reason) = deferred {
        let _ = write!(text, " deferred={reason:?}");
    }
    if let Some(name) = driver_override {
        let _ = write!(text, " override={name}");
    }
    if lifecycle == Lifecycle::DeletePending {
        text.push_str(" delete-pending");
    }
    if let Some(suppliers) = suppliers {
        let _ = write!(text, " suppliers={}", suppliers.join(","));
    }
    if suspended {
        text.push_str(" power=suspended");
    }
    text.push('\n');
}
