//! The device tree: unique device paths, and a sysfs-like text view of a model for logs,
//! demos and tests.
//!
//! # Paths
//!
//! Every registered device has a path that no other registered device has, built the way
//! Linux lays out `/sys/devices`:
//!
//! | device | path |
//! |---|---|
//! | with a parent | `<parent's path>/<name>` |
//! | on a bus, without a parent | `/devices/<bus>/<name>` (Linux's `/devices/platform/…`) |
//! | bus-less, without a parent (a root device) | `/devices/<name>` |
//!
//! So a faux device without a parent is `/devices/faux/<name>`, and a kernel that adds a
//! root device named after its bus (`platform`) as the parent of that bus's devices gets
//! the same directory for parented and parentless ones: `/devices/platform/uart0`.
//!
//! Names are unique per namespace (each bus, and the bus-less devices; see
//! [`Error::NameTaken`]), which is not enough for paths: two children of one parent on
//! different buses, or a root device `platform`'s child and a parentless platform device,
//! could share a name. Such an add fails with [`Error::PathTaken`], as Linux refuses a
//! duplicate sysfs entry: the first device keeps its path, the second is never created.
//! Paths never change while a device is registered (its name, bus and parent are fixed),
//! so [`DeviceModel::find_by_path`](crate::DeviceModel::find_by_path) finds each registered device by its path, and the
//! path in an [`Event`](crate::event::Event) names one device.
//!
//! ```
//! use drivermodel::{DeviceBuilder, DeviceModel, Error, faux};
//!
//! let model = DeviceModel::new();
//! let root = model.add_device(DeviceBuilder::new("uart0"))?;
//! let virtual_uart = faux::Registration::new(&model, "uart0", None)?;
//! assert_eq!(root.path(), "/devices/uart0");
//! assert_eq!(virtual_uart.device().path(), "/devices/faux/uart0");
//! let found = model.find_by_path("/devices/faux/uart0").expect("registered");
//! assert!(found.same_as(virtual_uart.device()));
//! // A bus-less child named like a faux sibling would share its path.
//! let board = model.add_device(DeviceBuilder::new("board"))?;
//! let display = faux::Registration::new(&model, "display", Some(&board))?;
//! assert_eq!(
//!     model.add_device(DeviceBuilder::new("display").parent(&board)).err(),
//!     Some(Error::PathTaken { path: "/devices/board/display".into() })
//! );
//! # Ok::<(), drivermodel::Error>(())
//! ```
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

use alloc::string::String;
use alloc::vec::Vec;

use crate::device::{ARef, Device};
use crate::error::{Error, Result};
use crate::registry::Registry;

/// The text view (the `tree` feature).
#[cfg(feature = "tree")]
mod text {
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;
    use core::fmt::Write;

    use crate::device::{ARef, BindingState, Device, Lifecycle};
    use crate::model::DeviceModel;

    /// A registered device in the snapshot.
    struct Listed {
        key: u64,
        parent: Option<u64>,
        device: ARef<Device>,
        /// The names of the suppliers of its links, oldest link first.
        suppliers: Vec<String>,
    }

    /// A bus name and its drivers.
    type BusListing = (String, Vec<DriverListing>);
    /// A driver name and the keys of its devices, in binding order.
    type DriverListing = (String, Vec<u64>);

    impl DeviceModel {
        /// The text view described in [`tree`](crate::tree).
        pub fn tree(&self) -> String {
            // Snapshot under the registry lock, describe with no lock held.
            let (devices, buses) = {
                let registry = self.shared().registry.lock();
                // In key (registration) order, with the names of their links' suppliers.
                let devices: Vec<Listed> = registry
                    .devices
                    .values()
                    .map(|record| {
                        let key = &record.device.inner().key;
                        #[cfg(feature = "links")]
                        let suppliers = registry
                            .links
                            .suppliers_of(*key)
                            .filter_map(|(_, link)| registry.devices.get(&link.supplier))
                            .map(|record| String::from(record.device.name()))
                            .collect();
                        #[cfg(not(feature = "links"))]
                        let suppliers = Vec::new();
                        Listed {
                            key: *key,
                            parent: record.parent(),
                            device: record.device.clone(),
                            suppliers,
                        }
                    })
                    .collect();
                let buses: Vec<BusListing> = registry
                    .buses
                    .iter()
                    .enumerate()
                    .map(|(index, bus)| {
                        // `values` is in registration order already.
                        let drivers = registry
                            .drivers
                            .values()
                            .into_iter()
                            .filter(|record| record.bus == index)
                            .map(|record| {
                                let bound = record
                                    .object
                                    .bindings()
                                    .bound
                                    .lock()
                                    .iter()
                                    .map(|(_, device)| device)
                                    .collect();
                                (record.name.clone(), bound)
                            })
                            .collect();
                        (bus.name.to_string(), drivers)
                    })
                    .collect();
                (devices, buses)
            };
            let index_of = |key: u64| devices.binary_search_by_key(&key, |listed| listed.key).ok();
            // Children lists as first child / next sibling, in registration order; slot
            // `count` of `first_child` is the top level. A parent that is not registered
            // any more cannot exist (children first), but stay total: show such a device
            // at the top level.
            const NONE: usize = usize::MAX;
            let count = devices.len();
            let mut first_child = alloc::vec![NONE; count + 1];
            let mut next_sibling = alloc::vec![NONE; count];
            for (index, listed) in devices.iter().enumerate().rev() {
                let parent = listed.parent.and_then(index_of).unwrap_or(count);
                next_sibling[index] = first_child[parent];
                first_child[parent] = index;
            }
            // Depth first: a device, its children, then its next sibling.
            let mut text = String::new();
            let mut resume: Vec<usize> = Vec::new();
            let mut next = first_child[count];
            loop {
                let Some(listed) = devices.get(next) else {
                    match resume.pop() {
                        Some(sibling) => {
                            next = sibling;
                            continue;
                        }
                        None => break,
                    }
                };
                describe(&mut text, &listed.device, &listed.suppliers);
                resume.push(next_sibling[next]);
                next = first_child[next];
            }
            for (bus, drivers) in buses {
                let _ = writeln!(text, "/bus/{bus}");
                for (driver, bound) in drivers {
                    let _ = write!(text, "/bus/{bus}/drivers/{driver} devices=");
                    let names = bound
                        .iter()
                        .filter_map(|key| Some(devices[index_of(*key)?].device.name()));
                    push_joined(&mut text, names);
                    text.push('\n');
                }
            }
            text
        }
    }

    /// Appends `names` separated by commas (not `join`: one more generic instance).
    fn push_joined<'a>(text: &mut String, names: impl Iterator<Item = &'a str>) {
        for (index, name) in names.enumerate() {
            if index > 0 {
                text.push(',');
            }
            text.push_str(name);
        }
    }

    fn describe(text: &mut String, device: &Device, suppliers: &[String]) {
        let (lifecycle, deferred, driver_override, suspended) = {
            let state = device.inner().state.lock();
            (
                state.lifecycle,
                state.deferred().map(String::from),
                state.driver_override().map(String::from),
                state.suspended(),
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
        if !suppliers.is_empty() {
            text.push_str(" suppliers=");
            push_joined(text, suppliers.iter().map(String::as_str));
        }
        if suspended {
            text.push_str(" power=suspended");
        }
        text.push('\n');
    }
}

/// The path of `device`, by the rule in [Paths](self#paths).
pub(crate) fn path_of(device: &Device) -> String {
    let mut names = Vec::new();
    let mut top = device;
    names.push(top.name());
    while let Some(parent) = top.parent() {
        names.push(parent.name());
        top = parent;
    }
    let mut path = String::from("/devices");
    if let Some(bus) = top.bus_name() {
        path.push('/');
        path.push_str(bus);
    }
    for name in names.iter().rev() {
        path.push('/');
        path.push_str(name);
    }
    path
}

/// The registered device at `path` (see [`DeviceModel::find_by_path`]).
///
/// The first segment is a root device's name or a bus name (then the second is a
/// parentless device on that bus); each later segment is a child of the device found so
/// far. Both readings of the start are tried: paths are unique, so at most one resolves.
pub(crate) fn find(registry: &Registry, path: &str) -> Option<ARef<Device>> {
    let rest = path.strip_prefix("/devices/")?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.split('/').any(str::is_empty) {
        return None;
    }
    let mut segments = rest.split('/');
    let first = segments.next()?;
    let as_root = || {
        let root = registry
            .root_names
            .find(first)
            .filter(|device| device.parent().is_none())?;
        walk(registry, root, segments.clone())
    };
    let on_bus = || {
        let mut segments = segments.clone();
        let bus = &registry.buses[registry.bus_index(first)?];
        let top = bus
            .names
            .find(segments.next()?)
            .filter(|device| device.parent().is_none())?;
        walk(registry, top, segments)
    };
    as_root().or_else(on_bus)
}

/// Follows `segments` down from `device`, one child name per segment.
fn walk<'a>(
    registry: &Registry,
    mut device: ARef<Device>,
    segments: impl Iterator<Item = &'a str>,
) -> Option<ARef<Device>> {
    for name in segments {
        device = child(registry, &device, name)?;
    }
    Some(device)
}

/// The registered child of `parent` named `name`, bus-less or on any bus: one hashed
/// lookup per namespace (names are unique only per namespace), never a scan of devices.
fn child(registry: &Registry, parent: &Device, name: &str) -> Option<ARef<Device>> {
    let is_child = |device: &ARef<Device>| device.parent().is_some_and(|own| own.same_as(parent));
    registry.root_names.find(name).filter(is_child).or_else(|| {
        registry
            .buses
            .iter()
            .find_map(|bus| bus.names.find(name).filter(is_child))
    })
}

/// Checks that a device about to be added as `name` on the bus at index `bus` under
/// `parent` gets a path no registered device has. Its name is already known to be free
/// in its namespace, which rules out every other collision: a root device's path has one
/// segment, and a parentless bus device's name is unique on its bus.
///
/// # Errors
///
/// [`Error::PathTaken`] with the path.
pub(crate) fn check_path_free(
    registry: &Registry,
    name: &str,
    bus: Option<usize>,
    parent: Option<&Device>,
) -> Result<()> {
    let is_root = |device: &Device| device.parent().is_none() && device.bus_name().is_none();
    let taken = match (parent, bus) {
        // A sibling of the same name, or (under a root device named like a bus) a
        // parentless device of that bus.
        (Some(parent), _) => {
            child(registry, parent, name).is_some()
                || (is_root(parent)
                    && registry
                        .bus_index(parent.name())
                        .and_then(|bus| registry.buses[bus].names.find(name))
                        .is_some_and(|device| device.parent().is_none()))
        }
        // A child of the root device named like the bus.
        (None, Some(bus)) => registry
            .root_names
            .find(&registry.buses[bus].name)
            .filter(|root| is_root(root))
            .is_some_and(|root| child(registry, &root, name).is_some()),
        (None, None) => false,
    };
    if !taken {
        return Ok(());
    }
    let mut path = match (parent, bus) {
        (Some(parent), _) => parent.path(),
        (None, Some(bus)) => {
            // Not `format!`: the core paths link no formatting machinery.
            let mut path = String::from("/devices/");
            path.push_str(&registry.buses[bus].name);
            path
        }
        (None, None) => String::from("/devices"),
    };
    path.push('/');
    path.push_str(name);
    Err(Error::PathTaken { path })
}
