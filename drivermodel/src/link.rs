//! Device links: "this consumer needs that supplier".
//!
//! A managed link (any link without [`LinkFlags::STATELESS`]) changes binding:
//!
//! - a consumer's probe **defers** until every supplier is bound (the reason names the
//!   supplier; the supplier's bind retries it);
//! - **unbinding a supplier first unbinds its bound consumers** (their unbind hooks, state
//!   drops and devres all run before the supplier's);
//! - [`AUTOREMOVE_CONSUMER`](LinkFlags::AUTOREMOVE_CONSUMER) /
//!   [`AUTOREMOVE_SUPPLIER`](LinkFlags::AUTOREMOVE_SUPPLIER) drop the link when that end
//!   unbinds; [`AUTOPROBE_CONSUMER`](LinkFlags::AUTOPROBE_CONSUMER) tries to bind the
//!   consumer when the supplier binds.
//!
//! Every link, stateless or not, orders power management and shutdown: consumers are
//! suspended before their suppliers (see [`power`](crate::power)). A link that would close
//! a dependency cycle (the supplier already depends on the consumer, through links or
//! parents) is refused, and deleting either end removes the link. A faux device cannot
//! be the consumer of a managed link: its registration proves it stays bound.
//!
//! ```
//! use drivermodel::{DeviceBuilder, DeviceModel, Error, faux};
//! use drivermodel::link::LinkFlags;
//!
//! let model = DeviceModel::new();
//! let clock = model.add_device(DeviceBuilder::new("clock"))?;
//! let uart = model.add_device(DeviceBuilder::new("uart"))?;
//! let link = model.add_link(&uart, &clock, LinkFlags::empty())?;
//! assert!(matches!(model.add_link(&clock, &uart, LinkFlags::empty()), Err(Error::InvalidLink { .. })));
//! assert_eq!(model.links().len(), 1);
//! model.remove_link(link)?;
//! # drop((uart, clock));
//! # Ok::<(), drivermodel::Error>(())
//! ```

#![forbid(unsafe_code)]

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::binding::Request;
use crate::capacity;
use crate::device::{ARef, Binding, Device, Lifecycle};
use crate::error::{Error, Result};
use crate::faux;
use crate::key_map::KeyMap;
use crate::model::DeviceModel;
use crate::registry::{Registry, Shared};

bitflags::bitflags! {
    /// How a link behaves (Linux's `DL_FLAG_*`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct LinkFlags: u32 {
        /// Only orders power management; no effect on binding. Exclusive with the others.
        const STATELESS = 1 << 0;
        /// Remove the link when the consumer unbinds.
        const AUTOREMOVE_CONSUMER = 1 << 1;
        /// Remove the link when the supplier unbinds (wins over `AUTOREMOVE_CONSUMER`).
        const AUTOREMOVE_SUPPLIER = 1 << 2;
        /// Try to bind the consumer when the supplier binds. Exclusive with the
        /// autoremove flags.
        const AUTOPROBE_CONSUMER = 1 << 3;
    }
}

/// Names one link of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(u64);

/// A link as listed by [`DeviceModel::links`].
#[derive(Debug, Clone)]
pub struct Link {
    /// Its id.
    pub id: LinkId,
    /// The device that needs the other.
    pub consumer: ARef<Device>,
    /// The device that is needed.
    pub supplier: ARef<Device>,
    /// Its flags.
    pub flags: LinkFlags,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct LinkRecord {
    pub(crate) consumer: u64,
    pub(crate) supplier: u64,
    pub(crate) flags: LinkFlags,
}

impl LinkRecord {
    pub(crate) fn managed(&self) -> bool {
        !self.flags.contains(LinkFlags::STATELESS)
    }
}

/// All links of a model, indexed by both ends (under the registry lock). Sorted vectors
/// rather than `BTreeMap`s: the same order and lookups for a fraction of the generated
/// code (see [`key_map`](crate::key_map)); links are few and rarely change.
#[derive(Debug, Default)]
pub(crate) struct Links {
    records: KeyMap<LinkRecord>,
    /// `(consumer, link)`.
    by_consumer: Pairs,
    /// `(supplier, link)`.
    by_supplier: Pairs,
    next: u64,
}

/// `(device, link)` pairs in increasing order, so a device's links are adjacent and in
/// link order. The capacity follows [`capacity`], so emptying gives the memory back.
#[derive(Debug, Default)]
struct Pairs(Vec<(u64, u64)>);

impl Pairs {
    /// The links of `device`, oldest first.
    fn of(&self, device: u64) -> impl Iterator<Item = u64> + '_ {
        let start = self.0.partition_point(|&(own, _)| own < device);
        self.0
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take_while(move |&&(own, _)| own == device)
            .map(|&(_, link)| link)
    }

    /// Files a pair; link ids only grow, so it goes behind the device's other links.
    fn insert(&mut self, pair: (u64, u64)) {
        let position = self.0.partition_point(|&own| own < pair);
        capacity::insert_canonical(&mut self.0, position, pair);
    }

    fn remove(&mut self, pair: (u64, u64)) {
        if let Ok(position) = self.0.binary_search(&pair) {
            self.0.remove(position);
            capacity::fit_canonical(&mut self.0);
        }
    }
}

impl Links {
    /// The links in which `device` is the consumer.
    pub(crate) fn suppliers_of(&self, device: u64) -> impl Iterator<Item = (u64, LinkRecord)> + '_ {
        self.by_consumer
            .of(device)
            .filter_map(|link| Some((link, *self.records.get(&link)?)))
    }

    /// The links in which `device` is the supplier.
    pub(crate) fn consumers_of(&self, device: u64) -> impl Iterator<Item = (u64, LinkRecord)> + '_ {
        self.by_supplier
            .of(device)
            .filter_map(|link| Some((link, *self.records.get(&link)?)))
    }

    fn insert(&mut self, record: LinkRecord) -> u64 {
        let id = self.next;
        self.next += 1;
        self.records.insert(id, record);
        self.by_consumer.insert((record.consumer, id));
        self.by_supplier.insert((record.supplier, id));
        id
    }

    pub(crate) fn remove(&mut self, id: u64) -> Option<LinkRecord> {
        let record = self.records.remove(&id)?;
        self.by_consumer.remove((record.consumer, id));
        self.by_supplier.remove((record.supplier, id));
        Some(record)
    }

    /// Removes every link with `device` at either end.
    pub(crate) fn purge(&mut self, device: u64) {
        let ids: Vec<u64> = self
            .suppliers_of(device)
            .chain(self.consumers_of(device))
            .map(|(id, _)| id)
            .collect();
        for id in ids {
            self.remove(id);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.records.len() == 0
    }

    fn records(&self) -> impl Iterator<Item = (u64, LinkRecord)> + '_ {
        self.records.iter().map(|(id, record)| (*id, *record))
    }
}

impl Registry {
    /// Whether `target` is reachable from `start` through parents and suppliers (that is,
    /// whether `start` depends on `target`).
    fn depends_on(&self, start: &Device, target: u64) -> bool {
        let mut stack: Vec<u64> = Vec::from([start.inner().key]);
        let mut seen = KeyMap::new();
        while let Some(key) = stack.pop() {
            if key == target {
                return true;
            }
            if seen.insert(key, ()).is_some() {
                continue;
            }
            if let Some(record) = self.devices.get(&key)
                && let Some(parent) = record.device.parent()
            {
                stack.push(parent.inner().key);
            }
            stack.extend(self.links.suppliers_of(key).map(|(_, link)| link.supplier));
        }
        false
    }

    /// The first supplier of `device` (through a managed link) that is not bound.
    pub(crate) fn unready_supplier(&self, device: &Device) -> Option<String> {
        self.links
            .suppliers_of(device.inner().key)
            .filter(|(_, link)| link.managed())
            .filter_map(|(_, link)| self.devices.get(&link.supplier))
            .find(|record| {
                !matches!(
                    record.device.inner().state.lock().binding(),
                    Binding::Bound { .. }
                )
            })
            .map(|record| String::from(record.device.name()))
    }
}

impl DeviceModel {
    /// Links `consumer` to `supplier`.
    ///
    /// # Errors
    ///
    /// [`Error::ForeignDevice`], [`Error::DeviceDeleted`] for either end;
    /// [`Error::InvalidLink`] for a self link, a duplicate, invalid flags, a cycle, or a
    /// faux consumer of a managed link.
    pub fn add_link(
        &self,
        consumer: &Device,
        supplier: &Device,
        flags: LinkFlags,
    ) -> Result<LinkId> {
        let shared = self.shared();
        shared.check_own(consumer)?;
        shared.check_own(supplier)?;
        let invalid = |reason: &'static str| Err(Error::InvalidLink { reason });
        if consumer.same_as(supplier) {
            return invalid("a device cannot link to itself");
        }
        if flags.contains(LinkFlags::STATELESS) && flags != LinkFlags::STATELESS {
            return invalid("STATELESS excludes the other flags");
        }
        if flags.contains(LinkFlags::AUTOPROBE_CONSUMER)
            && flags.intersects(LinkFlags::AUTOREMOVE_CONSUMER | LinkFlags::AUTOREMOVE_SUPPLIER)
        {
            return invalid("AUTOPROBE_CONSUMER excludes the autoremove flags");
        }
        if !flags.contains(LinkFlags::STATELESS) && consumer.bus_name() == Some(faux::BUS_NAME) {
            return invalid("a faux device cannot consume a managed link");
        }
        let mut registry = shared.registry.lock();
        for device in [consumer, supplier] {
            let registered = registry.devices.contains_key(&device.inner().key)
                && device.inner().state.lock().lifecycle == Lifecycle::Registered;
            if !registered {
                return Err(Error::deleted(device));
            }
        }
        let (consumer_key, supplier_key) = (consumer.inner().key, supplier.inner().key);
        if registry
            .links
            .suppliers_of(consumer_key)
            .any(|(_, link)| link.supplier == supplier_key)
        {
            return invalid("the link exists");
        }
        if registry.depends_on(supplier, consumer_key) {
            return invalid("the supplier depends on the consumer: cycle");
        }
        let id = registry.links.insert(LinkRecord {
            consumer: consumer_key,
            supplier: supplier_key,
            flags,
        });
        Ok(LinkId(id))
    }

    /// Removes a link.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLink`] if it does not exist (any more).
    pub fn remove_link(&self, link: LinkId) -> Result<()> {
        let removed = self.shared().registry.lock().links.remove(link.0);
        removed.map(|_| ()).ok_or(Error::InvalidLink {
            reason: "no such link",
        })
    }

    /// The links in which `device` is the consumer (its suppliers), oldest first.
    pub fn suppliers(&self, device: &Device) -> Vec<Link> {
        let registry = self.shared().registry.lock();
        let links = registry.links.suppliers_of(device.inner().key);
        Self::listed(&registry, links)
    }

    /// The links in which `device` is the supplier (its consumers), oldest first.
    pub fn consumers(&self, device: &Device) -> Vec<Link> {
        let registry = self.shared().registry.lock();
        let links = registry.links.consumers_of(device.inner().key);
        Self::listed(&registry, links)
    }

    /// `links` as listed: both ends registered.
    fn listed(registry: &Registry, links: impl Iterator<Item = (u64, LinkRecord)>) -> Vec<Link> {
        links
            .filter_map(|(id, record)| {
                Some(Link {
                    id: LinkId(id),
                    consumer: registry.devices.get(&record.consumer)?.device.clone(),
                    supplier: registry.devices.get(&record.supplier)?.device.clone(),
                    flags: record.flags,
                })
            })
            .collect()
    }

    /// Every link, oldest first.
    pub fn links(&self) -> Vec<Link> {
        let registry = self.shared().registry.lock();
        Self::listed(&registry, registry.links.records())
    }
}

impl Shared {
    /// Unbind step 2: unbind every bound consumer of `device` first (recursively, oldest
    /// link first, as Linux walks a supplier's consumer list), waiting for consumers in a
    /// transition.
    pub(crate) fn unbind_consumers(&self, device: &Device) {
        loop {
            let consumer = {
                let registry = self.registry.lock();
                if registry.links.is_empty() {
                    return;
                }
                registry
                    .links
                    .consumers_of(device.inner().key)
                    .filter(|(_, link)| link.managed())
                    .filter_map(|(_, link)| registry.devices.get(&link.consumer))
                    .map(|record| record.device.clone())
                    .find(|consumer| {
                        !matches!(consumer.inner().state.lock().binding(), Binding::Unbound)
                    })
            };
            let Some(consumer) = consumer else {
                return;
            };
            self.wait_for_transition(&consumer);
            let _ = self.release_driver(&consumer, None, false);
        }
    }

    /// Unbind step 5 (under the registry lock): drop the autoremove links of `device`.
    pub(crate) fn autoremove_links(registry: &mut Registry, device: &Device) {
        if registry.links.is_empty() {
            return;
        }
        let key = device.inner().key;
        let doomed: Vec<u64> = registry
            .links
            .suppliers_of(key)
            .filter(|(_, link)| {
                link.flags.contains(LinkFlags::AUTOREMOVE_CONSUMER)
                    && !link.flags.contains(LinkFlags::AUTOREMOVE_SUPPLIER)
            })
            .chain(
                registry
                    .links
                    .consumers_of(key)
                    .filter(|(_, link)| link.flags.contains(LinkFlags::AUTOREMOVE_SUPPLIER)),
            )
            .map(|(id, _)| id)
            .collect();
        for id in doomed {
            registry.links.remove(id);
        }
    }

    /// After `device` bound: try its `AUTOPROBE_CONSUMER` consumers.
    pub(crate) fn autoprobe_consumers(&self, device: &Device) {
        let consumers: Vec<ARef<Device>> = {
            let registry = self.registry.lock();
            if registry.links.is_empty() {
                return;
            }
            registry
                .links
                .consumers_of(device.inner().key)
                .filter(|(_, link)| link.flags.contains(LinkFlags::AUTOPROBE_CONSUMER))
                .filter_map(|(_, link)| registry.devices.get(&link.consumer))
                .map(|record| record.device.clone())
                .collect()
        };
        for consumer in consumers {
            let unbound = matches!(consumer.inner().state.lock().binding(), Binding::Unbound);
            if unbound {
                let _ = self.attach(&consumer, Request::automatic());
            }
        }
    }

    /// The deferral reason for a consumer whose supplier is not bound.
    pub(crate) fn supplier_reason(supplier: &str) -> String {
        format!("waiting for supplier {supplier}")
    }
}
