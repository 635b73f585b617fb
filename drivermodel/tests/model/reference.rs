//! The reference model: what the driver model should do, written as plainly as possible.
//!
//! Every device ever added is a [`RefDevice`] in `devices`, indexed by its uid. Its
//! devres list is a `Vec<Node>` (oldest first); the rules of ARCHITECTURE.md section 4
//! become a few functions:
//!
//! - [`probe`](Reference::probe): refused with `ResourcesPresent` unless the list is
//!   empty; event `Bind`, logs `Probe`, adds the plan's resources; on failure releases
//!   the list LIFO and sends `NotBound`, else `Bound`.
//!   A consumer of a managed link defers while a supplier is unbound. A probe whose
//!   plan says so adds a bus-less child `c<uid>` before `Bound`. After a success:
//!   the debug re-probe (unbind, probe again), `AUTOPROBE_CONSUMER` consumers, the
//!   deferred retry passes.
//! - [`unbind`](Reference::unbind): bound consumers first (recursively), then event
//!   `Unbind`, logs `Unbind` (the hook sees the full list), then `Remove` (state drop,
//!   which deletes the child the probe added, if any), releases the whole list LIFO,
//!   drops autoremove links, clears `suspended`, `Unbound`.
//! - [`delete`](Reference::delete): the device is dead at once (never probed again),
//!   event `Delete`, unbind if bound, links removed, release the list (bound or not);
//!   with registered children it stays delete-pending (`HasChildren`), else
//!   [`complete_delete`](Reference::complete_delete): unregister, `Removed`, and a
//!   pending parent whose last child this was follows.
//! - [`power_order`](Reference::power_order): parents and suppliers before children and
//!   consumers, else registration order; suspend and shutdown walk it backwards, resume
//!   forwards; a failed suspend resumes every suspended device this pass visited
//!   (newest first), even one an earlier pass suspended.
//! - [`add_link`](Reference::add_link): refused for a self link, bad flags, a dead end,
//!   a duplicate, or a cycle (through links and parents).
//! - [`collect_garbage`](Reference::collect_garbage): a device object is freed when
//!   nothing holds it any more (see [`RefDevice::holders`]): its list is released LIFO,
//!   then its release hook logs `Freed`.
//!
//! Every release appends to `expected`, which the test compares with the real log after
//! each step. Ids come from a counter that the real side advances in the same order.

use std::collections::BTreeSet;

use drivermodel::link::LinkFlags;

use super::fixture::{
    CAPACITY, DRIVERS, Entry, Event, FORCED, FORCIBLE, Outcome, Plan, PowerOp, SCORES, SLOTS,
};
use super::ops::{How, Kind, LINK_FLAGS, Observed, Op, Target};

/// A devres node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    Resource {
        id: u32,
        /// The shared key of a keyed add; `None` for a generated key.
        tag: Option<u8>,
        kind: ResourceKind,
    },
    /// A `Devres<Tracked>` whose value has the given id.
    Revocation {
        id: u32,
    },
    GroupOpen(usize),
    GroupClose(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    Action,
    /// A managed value: dropped (and logged) even by `destroy`.
    Alloc,
    /// An action owning a counted reference to its device.
    SelfRef,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Registered,
    /// Its delete is running (dead: never probed again).
    Deleting,
    /// Dead (deleted, unbound, released) but still registered: it had registered
    /// children.
    DeletePending,
    Deleted,
}

#[derive(Debug)]
pub struct RefDevice {
    /// `d<slot>`, or `c<uid>` for a child a probe added.
    pub name: String,
    /// The slot naming it (`usize::MAX` for a probe's child).
    pub slot: usize,
    pub compat: u8,
    pub plan: Plan,
    pub parent: Option<usize>,
    /// The test still owns the `device::Registration`.
    pub registration: bool,
    /// The test holds an extra `ARef`.
    pub held: bool,
    /// The test holds a `Devres<Tracked>` handle whose value has this id.
    pub devres_handle: Option<u32>,
    pub lifecycle: Lifecycle,
    /// `(driver, binding sequence)`.
    pub binding: Option<(usize, u64)>,
    /// Its last probe deferred (cleared by a successful probe and by delete).
    pub deferred: bool,
    /// Only this driver may bind it.
    pub driver_override: Option<usize>,
    /// Registered children.
    pub children: usize,
    pub list: Vec<Node>,
    /// Groups opened so far (group `g` is the `g`-th).
    pub groups: usize,
    /// Ids of resources added with generated keys, in order.
    pub generated: Vec<u32>,
    /// Suspended by `suspend_all` and not resumed or unbound since.
    pub suspended: bool,
    /// The child its driver's probe added (the driver state owns its registration).
    pub owned_child: Option<usize>,
    pub freed: bool,
}

/// A device link, by uids.
#[derive(Debug, Clone, Copy)]
pub struct RefLink {
    pub consumer: usize,
    pub supplier: usize,
    pub flags: LinkFlags,
    /// Not removed (explicitly, by an autoremove flag, or with either end).
    pub alive: bool,
}

impl RefLink {
    /// A managed link changes binding; a stateless one only orders power management.
    fn managed(&self) -> bool {
        !self.flags.contains(LinkFlags::STATELESS)
    }
}

impl RefDevice {
    /// A probe's child is bus-less (never bound).
    fn on_bus(&self) -> bool {
        self.slot != usize::MAX
    }

    fn has_node(&self, wanted: Node) -> bool {
        self.list.contains(&wanted)
    }
}

#[derive(Debug, Default)]
pub struct Reference {
    pub devices: Vec<RefDevice>,
    /// The device each slot currently names.
    pub slots: [Option<usize>; SLOTS],
    pub drivers: [bool; DRIVERS],
    /// Every link ever added, oldest first (the test's link handles index this).
    pub links: Vec<RefLink>,
    /// After every successful probe: unbind, probe again.
    debug_reprobe: bool,
    next_id: u32,
    next_sequence: u64,
    /// A retry of deferred devices is running; `retry_again`: a bind happened meanwhile.
    retrying: bool,
    retry_again: bool,
    expected: Vec<Entry>,
}

/// The highest-scoring registered driver for `compat`.
/// The registered drivers matching `compat`, best score first (scores are distinct per
/// compatible ID), each with the ID data its probe receives.
fn ranked_drivers(drivers: &[bool; DRIVERS], compat: u8) -> Vec<(usize, u8)> {
    let mut ranked: Vec<(u32, usize)> = (0..DRIVERS)
        .filter(|&driver| drivers[driver])
        .filter_map(|driver| Some((SCORES[driver][usize::from(compat)]?, driver)))
        .collect();
    ranked.sort_by(|left, right| right.cmp(left));
    ranked
        .into_iter()
        .map(|(_, driver)| (driver, compat))
        .collect()
}

/// The ID data driver `driver` probes a device of `compat` with, if it may bind it:
/// its matching entry, or [`FORCED`] when the device's override names a forcible driver.
fn info_for(driver: usize, compat: u8, driver_override: Option<usize>) -> Option<u8> {
    match SCORES[driver][usize::from(compat)] {
        Some(_) => Some(compat),
        None if driver_override == Some(driver) && FORCIBLE[driver] => Some(FORCED),
        None => None,
    }
}

impl Reference {
    fn next_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn emit(&mut self, entry: Entry) {
        self.expected.push(entry);
    }

    fn event(&mut self, device: usize, kind: Event, driver: Option<usize>) {
        self.emit(Entry::Event {
            device,
            kind,
            driver,
        });
    }

    /// The log entries expected since the last call.
    pub fn take_expected(&mut self) -> Vec<Entry> {
        std::mem::take(&mut self.expected)
    }

    /// The slot's device, if the test has a handle to it (registration or held ref).
    pub fn handle(&self, slot: usize) -> Option<usize> {
        let uid = self.slots[slot]?;
        let device = &self.devices[uid];
        (device.registration || device.held).then_some(uid)
    }

    /// What holds a device object alive (`ARef`s): the test's registration, the model
    /// while registered, the test's held reference, a `Devres` handle, a self-referencing
    /// action on its list, and each live child (a child holds its parent).
    fn holders(&self, uid: usize) -> usize {
        let device = &self.devices[uid];
        usize::from(device.registration)
            + usize::from(device.lifecycle != Lifecycle::Deleted)
            + usize::from(device.held)
            + usize::from(device.devres_handle.is_some())
            + device
                .list
                .iter()
                .filter(|node| {
                    matches!(
                        node,
                        Node::Resource {
                            kind: ResourceKind::SelfRef,
                            ..
                        }
                    )
                })
                .count()
            + self
                .devices
                .iter()
                .filter(|child| child.parent == Some(uid) && !child.freed)
                .count()
    }

    /// Releases one resource node (run the action / drop the value), logging it.
    fn release_node(&mut self, uid: usize, node: Node) {
        match node {
            Node::Resource { id, .. } | Node::Revocation { id } => {
                self.emit(Entry::Release { device: uid, id });
            }
            Node::GroupOpen(_) | Node::GroupClose(_) => {}
        }
    }

    /// Releases the whole list, newest first.
    fn release_all(&mut self, uid: usize) {
        let nodes = std::mem::take(&mut self.devices[uid].list);
        for node in nodes.into_iter().rev() {
            self.release_node(uid, node);
        }
    }

    /// Frees every device object that nothing holds any more (children before parents).
    pub fn collect_garbage(&mut self) {
        loop {
            let Some(uid) = (0..self.devices.len())
                .find(|&uid| !self.devices[uid].freed && self.holders(uid) == 0)
            else {
                return;
            };
            // The final drop: anything added after delete, then the release hook.
            self.release_all(uid);
            self.emit(Entry::Freed { device: uid });
            self.devices[uid].freed = true;
        }
    }

    /// A probe and what follows a successful one: the debug re-probe (a full unbind and
    /// a second probe), trying the `AUTOPROBE_CONSUMER` consumers, retrying deferred
    /// devices.
    fn probe(&mut self, uid: usize, driver: usize, info: u8) -> Result<(), &'static str> {
        let mut result = self.probe_once(uid, driver, info);
        if result.is_ok() && self.debug_reprobe {
            self.unbind(uid);
            result = self.probe_once(uid, driver, info);
        }
        if result.is_ok() {
            let consumers: Vec<usize> = self
                .live_links()
                .filter(|link| link.supplier == uid)
                .filter(|link| link.flags.contains(LinkFlags::AUTOPROBE_CONSUMER))
                .map(|link| link.consumer)
                .collect();
            for consumer in consumers {
                if self.devices[consumer].binding.is_none() {
                    let _ = self.attach(consumer);
                }
            }
            self.retry_deferred_devices();
        }
        result
    }

    /// The probe flow: a consumer defers (no events) while a supplier of a managed link
    /// is unbound; the devres list must be empty.
    fn probe_once(&mut self, uid: usize, driver: usize, info: u8) -> Result<(), &'static str> {
        let supplier_unbound = self
            .live_links()
            .filter(|link| link.consumer == uid && link.managed())
            .any(|link| self.devices[link.supplier].binding.is_none());
        if supplier_unbound {
            self.devices[uid].deferred = true;
            return Err("Deferred");
        }
        if !self.devices[uid].list.is_empty() {
            return Err("ResourcesPresent");
        }
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let plan = self.devices[uid].plan;
        self.event(uid, Event::Bind, Some(driver));
        self.emit(Entry::Probe {
            device: uid,
            driver,
            compat: info,
        });
        for _ in 0..plan.actions {
            let id = self.next_id();
            self.devices[uid].list.push(Node::Resource {
                id,
                tag: None,
                kind: ResourceKind::Action,
            });
        }
        if plan.devres {
            let id = self.next_id();
            self.devices[uid].list.push(Node::Revocation { id });
            // The previous binding's handle was revoked when that binding ended.
            self.devices[uid].devres_handle = Some(id);
        }
        match plan.outcome(driver) {
            Outcome::Bound => {}
            outcome => {
                self.release_all(uid);
                self.event(uid, Event::NotBound, Some(driver));
                if outcome == Outcome::Defers {
                    self.devices[uid].deferred = true;
                    return Err("Deferred");
                }
                if outcome == Outcome::NotMine {
                    return Err("NoDevice");
                }
                return Err("Driver");
            }
        }
        if plan.child {
            let child = self.new_device(format!("c{}", self.devices.len()), usize::MAX, Some(uid));
            self.devices[uid].owned_child = Some(child);
            self.event(child, Event::Add, None);
        }
        self.devices[uid].binding = Some((driver, sequence));
        self.devices[uid].deferred = false;
        self.event(uid, Event::Bound, Some(driver));
        Ok(())
    }

    fn live_links(&self) -> impl Iterator<Item = &RefLink> + '_ {
        self.links.iter().filter(|link| link.alive)
    }

    /// Every successful bind retries the deferred devices (registration order), pass
    /// after pass until a pass binds nothing. A bind during a pass (including a nested
    /// one) only asks the running pass loop to go round again.
    fn retry_deferred_devices(&mut self) {
        if self.retrying {
            self.retry_again = true;
            return;
        }
        self.retrying = true;
        loop {
            self.retry_again = false;
            // The devices deferred when the pass starts, each if still waiting.
            let deferred: Vec<usize> = (0..self.devices.len())
                .filter(|&uid| self.devices[uid].deferred)
                .collect();
            for uid in deferred {
                let device = &self.devices[uid];
                if device.deferred && device.binding.is_none() {
                    let _ = self.attach(uid);
                }
            }
            if !self.retry_again {
                break;
            }
        }
        self.retrying = false;
    }

    /// An automatic bind attempt.
    fn attach(&mut self, uid: usize) -> Result<(), &'static str> {
        if self.devices[uid].lifecycle != Lifecycle::Registered {
            return Err("DeviceDeleted");
        }
        let ranked = self.choose(uid, None)?;
        self.probe_ranked(uid, ranked)
    }

    /// Probes the ranked drivers in order while a probe answers "not my device".
    fn probe_ranked(&mut self, uid: usize, ranked: Vec<(usize, u8)>) -> Result<(), &'static str> {
        let mut result = Err("NoMatch");
        for (driver, info) in ranked {
            result = self.probe(uid, driver, info);
            if result != Err("NoDevice") {
                break;
            }
        }
        result
    }

    /// The drivers a bind of `uid` tries, in order, with their ID data: the `requested`
    /// one or the override (they must agree), which must be registered and match (or be
    /// forced by the override); else every registered match, best first.
    fn choose(
        &self,
        uid: usize,
        requested: Option<usize>,
    ) -> Result<Vec<(usize, u8)>, &'static str> {
        let device = &self.devices[uid];
        let only = match (requested, device.driver_override) {
            (Some(requested), Some(allowed)) if requested != allowed => return Err("NoMatch"),
            (requested, allowed) => requested.or(allowed),
        };
        let chosen = match only {
            Some(driver) if !self.drivers[driver] => return Err("DriverNotRegistered"),
            Some(driver) => info_for(driver, device.compat, device.driver_override)
                .map(|info| (driver, info))
                .into_iter()
                .collect(),
            None => ranked_drivers(&self.drivers, device.compat),
        };
        if chosen.is_empty() {
            return Err("NoMatch");
        }
        Ok(chosen)
    }

    /// The unbind flow: the bound consumers of managed links first (recursively, oldest
    /// link first), then this device; its autoremove links go at the end.
    fn unbind(&mut self, uid: usize) {
        let Some((driver, _)) = self.devices[uid].binding.take() else {
            return;
        };
        loop {
            let consumer = self
                .live_links()
                .filter(|link| link.supplier == uid && link.managed())
                .map(|link| link.consumer)
                .find(|&consumer| self.devices[consumer].binding.is_some());
            let Some(consumer) = consumer else { break };
            self.unbind(consumer);
        }
        let devres = self.devices[uid].list.len();
        self.event(uid, Event::Unbind, Some(driver));
        self.emit(Entry::Unbind {
            device: uid,
            driver,
            devres,
        });
        self.emit(Entry::Remove {
            device: uid,
            driver,
        });
        // The state drop deletes the child the probe added.
        if let Some(child) = self.devices[uid].owned_child.take() {
            self.devices[child].registration = false;
            self.delete(child);
        }
        self.release_all(uid);
        for link in &mut self.links {
            let autoremove = (link.consumer == uid
                && link.flags.contains(LinkFlags::AUTOREMOVE_CONSUMER)
                && !link.flags.contains(LinkFlags::AUTOREMOVE_SUPPLIER))
                || (link.supplier == uid && link.flags.contains(LinkFlags::AUTOREMOVE_SUPPLIER));
            if autoremove {
                link.alive = false;
            }
        }
        self.devices[uid].suspended = false;
        self.event(uid, Event::Unbound, Some(driver));
    }

    /// Deletes `uid` (children already gone), then any parent whose deletion waited.
    /// Deletes `uid`: dead at once (never probed again, off the deferred list), event
    /// `Delete`, unbind, links removed, devres released (bound or not). With registered
    /// children left it stays registered, delete-pending, until the last one goes.
    fn delete(&mut self, uid: usize) -> Observed {
        self.devices[uid].lifecycle = Lifecycle::Deleting;
        self.devices[uid].deferred = false;
        self.event(uid, Event::Delete, None);
        self.unbind(uid);
        self.unlink(uid);
        self.release_all(uid);
        if self.devices[uid].children > 0 {
            self.devices[uid].lifecycle = Lifecycle::DeletePending;
            return Observed::Err("HasChildren");
        }
        self.complete_delete(uid);
        Observed::Ok
    }

    /// Leaves the registry (releasing anything added while pending), event `Removed`;
    /// then a pending parent whose last child this was.
    fn complete_delete(&mut self, uid: usize) {
        let mut next = Some(uid);
        while let Some(uid) = next.take() {
            self.release_all(uid);
            self.devices[uid].lifecycle = Lifecycle::Deleted;
            self.event(uid, Event::Removed, None);
            if let Some(parent) = self.devices[uid].parent {
                let record = &mut self.devices[parent];
                record.children -= 1;
                if record.children == 0 && record.lifecycle == Lifecycle::DeletePending {
                    next = Some(parent);
                }
            }
        }
    }

    /// Removes the links at either end of `uid`.
    fn unlink(&mut self, uid: usize) {
        for link in &mut self.links {
            if link.consumer == uid || link.supplier == uid {
                link.alive = false;
            }
        }
    }

    /// Whether `start` depends on `target` through parents and links.
    fn depends_on(&self, start: usize, target: usize) -> bool {
        let mut stack = vec![start];
        let mut seen = BTreeSet::new();
        while let Some(uid) = stack.pop() {
            if uid == target {
                return true;
            }
            if seen.insert(uid) {
                stack.extend(self.devices[uid].parent);
                stack.extend(
                    self.live_links()
                        .filter(|link| link.consumer == uid)
                        .map(|link| link.supplier),
                );
            }
        }
        false
    }

    /// Registered devices, parents before children and suppliers before consumers, else
    /// in registration order (the smallest ready uid goes next).
    pub fn power_order(&self) -> Vec<usize> {
        let registered = |uid: usize| self.devices[uid].lifecycle != Lifecycle::Deleted;
        let mut waiting: Vec<usize> = vec![0; self.devices.len()];
        let mut edges: Vec<(usize, usize)> = Vec::new();
        for uid in (0..self.devices.len()).filter(|&uid| registered(uid)) {
            edges.extend(self.devices[uid].parent.map(|parent| (parent, uid)));
            edges.extend(
                self.live_links()
                    .filter(|link| link.consumer == uid)
                    .map(|link| (link.supplier, uid)),
            );
        }
        for &(_, dependent) in &edges {
            waiting[dependent] += 1;
        }
        let mut ready: BTreeSet<usize> = (0..self.devices.len())
            .filter(|&uid| registered(uid) && waiting[uid] == 0)
            .collect();
        let mut order = Vec::new();
        while let Some(uid) = ready.pop_first() {
            order.push(uid);
            for &(_, dependent) in edges.iter().filter(|(first, _)| *first == uid) {
                waiting[dependent] -= 1;
                if waiting[dependent] == 0 {
                    ready.insert(dependent);
                }
            }
        }
        order
    }

    /// `suspend_all`: children and consumers first; bound devices not yet suspended. A
    /// failure resumes, newest first, the devices this call suspended (and only those:
    /// devices an earlier call left suspended stay suspended).
    fn suspend_all(&mut self) -> Observed {
        let order = self.power_order();
        let mut suspended = Vec::new();
        for uid in order.into_iter().rev() {
            let device = &self.devices[uid];
            if device.binding.is_some() && !device.suspended {
                self.emit(Entry::Power {
                    device: uid,
                    op: PowerOp::Suspend,
                });
                if self.devices[uid].plan.suspend_fails {
                    for done in suspended.into_iter().rev() {
                        self.resume(done);
                    }
                    return Observed::Err("PowerFailed");
                }
                self.devices[uid].suspended = true;
                suspended.push(uid);
            }
        }
        Observed::Ok
    }

    fn resume(&mut self, uid: usize) {
        let device = &mut self.devices[uid];
        if device.binding.is_some() && device.suspended {
            device.suspended = false;
            self.emit(Entry::Power {
                device: uid,
                op: PowerOp::Resume,
            });
        }
    }

    fn add_link(&mut self, consumer: usize, supplier: usize, flags: u8) -> Observed {
        let (Some(consumer), Some(supplier)) = (self.handle(consumer), self.handle(supplier))
        else {
            return Observed::Skipped;
        };
        let flags = LINK_FLAGS[usize::from(flags) % LINK_FLAGS.len()];
        if consumer == supplier
            || flags.contains(LinkFlags::STATELESS) && flags != LinkFlags::STATELESS
        {
            return Observed::Err("InvalidLink");
        }
        if [consumer, supplier]
            .iter()
            .any(|&uid| self.devices[uid].lifecycle != Lifecycle::Registered)
        {
            return Observed::Err("DeviceDeleted");
        }
        let duplicate = self
            .live_links()
            .any(|link| link.consumer == consumer && link.supplier == supplier);
        if duplicate || self.depends_on(supplier, consumer) {
            return Observed::Err("InvalidLink");
        }
        self.links.push(RefLink {
            consumer,
            supplier,
            flags,
            alive: true,
        });
        Observed::Ok
    }

    /// Applies `op` and returns what the real model should report.
    pub fn apply(&mut self, op: Op) -> Observed {
        let observed = self.apply_inner(op);
        self.collect_garbage();
        observed
    }

    fn apply_inner(&mut self, op: Op) -> Observed {
        match op {
            Op::Add {
                slot,
                compat,
                parent,
                plan,
            } => self.add(usize::from(slot), compat, parent.map(usize::from), plan),
            Op::Delete { slot } => {
                let Some(uid) = self.slots[usize::from(slot)] else {
                    return Observed::Skipped;
                };
                if !self.devices[uid].registration {
                    return Observed::Skipped;
                }
                self.devices[uid].registration = false;
                self.delete(uid)
            }
            Op::Hold { slot } => match self.handle(usize::from(slot)) {
                Some(uid) => {
                    self.devices[uid].held = true;
                    Observed::Ok
                }
                None => Observed::Skipped,
            },
            Op::DropHold { slot } => match self.slots[usize::from(slot)] {
                Some(uid) if self.devices[uid].held => {
                    self.devices[uid].held = false;
                    Observed::Ok
                }
                _ => Observed::Skipped,
            },
            Op::Register { driver } => {
                let driver = usize::from(driver);
                if self.drivers[driver] {
                    return Observed::Err("DriverExists");
                }
                self.drivers[driver] = true;
                // Try the new driver alone on every registered, unbound device of the
                // bus, in registration order (a dead device is skipped).
                for uid in 0..self.devices.len() {
                    let device = &self.devices[uid];
                    if device.lifecycle == Lifecycle::Registered
                        && device.on_bus()
                        && device.binding.is_none()
                        && device.driver_override.is_none_or(|only| only == driver)
                        && let Some(info) = info_for(driver, device.compat, device.driver_override)
                    {
                        let _ = self.probe(uid, driver, info);
                    }
                }
                Observed::Ok
            }
            Op::Unregister { driver } => {
                let driver = usize::from(driver);
                if !self.drivers[driver] {
                    return Observed::Skipped;
                }
                self.drivers[driver] = false;
                // Unbind its devices, newest bound first.
                let mut bound: Vec<(u64, usize)> = (0..self.devices.len())
                    .filter_map(|uid| match self.devices[uid].binding {
                        Some((owner, sequence)) if owner == driver => Some((sequence, uid)),
                        _ => None,
                    })
                    .collect();
                bound.sort_unstable();
                for (_, uid) in bound.into_iter().rev() {
                    self.unbind(uid);
                }
                Observed::Ok
            }
            Op::Bind { slot } => self.bind(usize::from(slot), None),
            Op::BindDriver { slot, driver } => {
                self.bind(usize::from(slot), Some(usize::from(driver)))
            }
            Op::Unbind { slot } => {
                let Some(uid) = self.handle(usize::from(slot)) else {
                    return Observed::Skipped;
                };
                if self.devices[uid].binding.is_none() {
                    return Observed::Err("NotBound");
                }
                self.unbind(uid);
                Observed::Ok
            }
            Op::AddResource { slot, kind } => self.add_resource(usize::from(slot), kind),
            Op::OpenGroup { slot } => {
                let Some(uid) = self.handle(usize::from(slot)) else {
                    return Observed::Skipped;
                };
                let device = &mut self.devices[uid];
                if device.list.len() >= CAPACITY {
                    return Observed::Err("DevresFull");
                }
                device.list.push(Node::GroupOpen(device.groups));
                device.groups += 1;
                Observed::Ok
            }
            Op::CloseGroup { slot, group } => {
                let Some(uid) = self.handle(usize::from(slot)) else {
                    return Observed::Skipped;
                };
                let device = &mut self.devices[uid];
                let wanted = group
                    .filter(|_| device.groups > 0)
                    .map(|group| usize::from(group) % device.groups);
                // The newest open marker (of the wanted group) whose group is not closed.
                let target = device.list.iter().rev().find_map(|node| match *node {
                    Node::GroupOpen(id)
                        if wanted.is_none_or(|wanted| wanted == id)
                            && !device.has_node(Node::GroupClose(id)) =>
                    {
                        Some(id)
                    }
                    _ => None,
                });
                let Some(target) = target else {
                    return Observed::Err("GroupNotFound");
                };
                if device.list.len() >= CAPACITY {
                    return Observed::Err("DevresFull");
                }
                device.list.push(Node::GroupClose(target));
                Observed::Ok
            }
            Op::ReleaseGroup { slot, group } => self.release_group(usize::from(slot), group),
            Op::RemoveGroup { slot, group } => {
                let Some(uid) = self.handle(usize::from(slot)) else {
                    return Observed::Skipped;
                };
                let device = &mut self.devices[uid];
                if device.groups == 0 {
                    return Observed::Skipped;
                }
                let group = usize::from(group) % device.groups;
                let Some((open, close)) = group_span(&device.list, group) else {
                    return Observed::Err("GroupNotFound");
                };
                if let Some(close) = close {
                    device.list.remove(close);
                }
                device.list.remove(open);
                Observed::Ok
            }
            Op::Take { slot, target, how } => self.take(usize::from(slot), target, how),
            Op::TryAccess { slot } => {
                let Some(uid) = self.slots[usize::from(slot)] else {
                    return Observed::Skipped;
                };
                let device = &self.devices[uid];
                match device.devres_handle {
                    Some(id) => {
                        Observed::Access(device.has_node(Node::Revocation { id }).then_some(id))
                    }
                    None => Observed::Skipped,
                }
            }
            Op::DropDevres { slot } => {
                let Some(uid) = self.slots[usize::from(slot)] else {
                    return Observed::Skipped;
                };
                self.drop_devres_handle(uid)
            }
            Op::SetOverride { slot, driver } => {
                let Some(uid) = self.handle(usize::from(slot)) else {
                    return Observed::Skipped;
                };
                if self.devices[uid].lifecycle == Lifecycle::Deleted {
                    return Observed::Err("DeviceDeleted");
                }
                self.devices[uid].driver_override = driver.map(usize::from);
                Observed::Ok
            }
            Op::AddLink {
                consumer,
                supplier,
                flags,
            } => self.add_link(usize::from(consumer), usize::from(supplier), flags),
            Op::RemoveLink { link } => {
                if self.links.is_empty() {
                    return Observed::Skipped;
                }
                let index = usize::from(link) % self.links.len();
                let link = &mut self.links[index];
                if !link.alive {
                    return Observed::Err("InvalidLink");
                }
                link.alive = false;
                Observed::Ok
            }
            Op::SuspendAll => self.suspend_all(),
            Op::ResumeAll => {
                for uid in self.power_order() {
                    self.resume(uid);
                }
                Observed::Ok
            }
            Op::ShutdownAll => {
                for uid in self.power_order().into_iter().rev() {
                    if self.devices[uid].binding.is_some() {
                        self.emit(Entry::Power {
                            device: uid,
                            op: PowerOp::Shutdown,
                        });
                    }
                }
                Observed::Ok
            }
            Op::SetDebugReprobe { on } => {
                self.debug_reprobe = on;
                Observed::Ok
            }
            Op::RetryDeferred => {
                // The devices deferred now, each retried unless bound meanwhile (by the
                // retry pass that a successful bind starts); counts its own binds.
                let deferred: Vec<usize> = (0..self.devices.len())
                    .filter(|&uid| self.devices[uid].deferred)
                    .collect();
                let mut bound = 0;
                for uid in deferred {
                    if self.devices[uid].binding.is_none() && self.attach(uid).is_ok() {
                        bound += 1;
                    }
                }
                Observed::Count(bound)
            }
        }
    }

    /// Drops the device's `Devres` handle: revokes (releases) the value if its binding
    /// has not ended yet, and takes its node out of the list.
    fn drop_devres_handle(&mut self, uid: usize) -> Observed {
        let Some(id) = self.devices[uid].devres_handle.take() else {
            return Observed::Skipped;
        };
        let list = &mut self.devices[uid].list;
        if let Some(position) = list
            .iter()
            .position(|node| *node == Node::Revocation { id })
        {
            let node = list.remove(position);
            self.release_node(uid, node);
        }
        Observed::Ok
    }

    fn add(&mut self, slot: usize, compat: u8, parent: Option<usize>, plan: Plan) -> Observed {
        if let Some(old) = self.slots[slot]
            && !self.devices[old].registration
        {
            // Forget the slot's previous device: drop its handles first.
            self.drop_devres_handle(old);
            self.devices[old].held = false;
            self.slots[slot] = None;
            self.collect_garbage();
        }
        let parent = parent
            .filter(|&parent| parent != slot)
            .and_then(|parent| self.handle(parent));
        let name_taken = self
            .devices
            .iter()
            .any(|device| device.slot == slot && device.lifecycle != Lifecycle::Deleted);
        if name_taken {
            return Observed::Err("NameTaken");
        }
        if let Some(parent) = parent
            && self.devices[parent].lifecycle != Lifecycle::Registered
        {
            return Observed::Err("ParentDeleted");
        }
        let uid = self.new_device(format!("d{slot}"), slot, parent);
        self.devices[uid].compat = compat;
        self.devices[uid].plan = plan;
        self.slots[slot] = Some(uid);
        self.event(uid, Event::Add, None);
        let _ = self.attach(uid);
        Observed::Ok
    }

    /// Files a new registered device (its registration held by whoever added it).
    fn new_device(&mut self, name: String, slot: usize, parent: Option<usize>) -> usize {
        let uid = self.devices.len();
        self.devices.push(RefDevice {
            name,
            slot,
            compat: 0,
            plan: Plan::default(),
            parent,
            registration: true,
            held: false,
            devres_handle: None,
            lifecycle: Lifecycle::Registered,
            binding: None,
            deferred: false,
            driver_override: None,
            children: 0,
            list: Vec::new(),
            groups: 0,
            generated: Vec::new(),
            suspended: false,
            owned_child: None,
            freed: false,
        });
        if let Some(parent) = parent {
            self.devices[parent].children += 1;
        }
        uid
    }

    fn bind(&mut self, slot: usize, driver: Option<usize>) -> Observed {
        let Some(uid) = self.handle(slot) else {
            return Observed::Skipped;
        };
        let device = &self.devices[uid];
        if device.lifecycle != Lifecycle::Registered {
            return Observed::Err("DeviceDeleted");
        }
        if device.binding.is_some() {
            return Observed::Err("AlreadyBound");
        }
        let chosen = match self.choose(uid, driver) {
            Ok(chosen) => chosen,
            Err(error) => return Observed::Err(error),
        };
        match self.probe_ranked(uid, chosen) {
            Ok(()) => Observed::Ok,
            Err(error) => Observed::Err(error),
        }
    }

    fn add_resource(&mut self, slot: usize, kind: Kind) -> Observed {
        let Some(uid) = self.handle(slot) else {
            return Observed::Skipped;
        };
        // A self-reference added after delete would never be released (a true loop).
        if kind == Kind::SelfRef && self.devices[uid].lifecycle == Lifecycle::Deleted {
            return Observed::Skipped;
        }
        let id = self.next_id();
        let (tag, resource) = match kind {
            Kind::Action | Kind::ActionOrReset => (None, ResourceKind::Action),
            Kind::Alloc => (None, ResourceKind::Alloc),
            Kind::SelfRef => (None, ResourceKind::SelfRef),
            Kind::Keyed { tag, alloc: false } => (Some(tag), ResourceKind::Action),
            Kind::Keyed { tag, alloc: true } => (Some(tag), ResourceKind::Alloc),
        };
        if self.devices[uid].list.len() >= CAPACITY {
            // The add fails: `add_action_or_reset` runs its action at once and a value
            // is dropped; a plain action is dropped without running.
            if kind == Kind::ActionOrReset || resource == ResourceKind::Alloc {
                self.emit(Entry::Release { device: uid, id });
            }
            return Observed::Err("DevresFull");
        }
        let device = &mut self.devices[uid];
        device.list.push(Node::Resource {
            id,
            tag,
            kind: resource,
        });
        if tag.is_none() {
            device.generated.push(id);
        }
        Observed::Ok
    }

    fn release_group(&mut self, slot: usize, group: u8) -> Observed {
        let Some(uid) = self.handle(slot) else {
            return Observed::Skipped;
        };
        let device = &mut self.devices[uid];
        if device.groups == 0 {
            return Observed::Skipped;
        }
        if device.list.is_empty() {
            return Observed::Count(0);
        }
        let group = usize::from(group) % device.groups;
        let Some((open, close)) = group_span(&device.list, group) else {
            return Observed::Err("GroupNotFound");
        };
        let end = close.map_or(device.list.len(), |close| close + 1);
        let range: Vec<Node> = device.list.drain(open..end).collect();
        // A group nested wholly inside: its open marker is in the range, and its close
        // marker is too, or it has none anywhere (still open).
        let wholly_inside = |id: usize| {
            range.contains(&Node::GroupOpen(id))
                && (range.contains(&Node::GroupClose(id))
                    || !device.list.contains(&Node::GroupClose(id)))
        };
        let mut kept = Vec::new();
        let mut released = Vec::new();
        for node in range.iter().copied() {
            match node {
                Node::Resource { .. } => released.push(node),
                Node::GroupOpen(id) | Node::GroupClose(id) if wholly_inside(id) => {}
                // `Devres` nodes and markers of groups that straddle the range stay.
                other => kept.push(other),
            }
        }
        device.list.splice(open..open, kept);
        let count = released.len();
        for node in released.into_iter().rev() {
            self.release_node(uid, node);
        }
        Observed::Count(count)
    }

    fn take(&mut self, slot: usize, target: Target, how: How) -> Observed {
        let Some(uid) = self.handle(slot) else {
            return Observed::Skipped;
        };
        let device = &mut self.devices[uid];
        let matches: Box<dyn Fn(&Node) -> bool> = match target {
            Target::Generated(_) if device.generated.is_empty() => return Observed::Skipped,
            Target::Generated(index) => {
                let wanted = device.generated[usize::from(index) % device.generated.len()];
                Box::new(move |node| matches!(*node, Node::Resource { id, .. } if id == wanted))
            }
            Target::Tag(wanted) => Box::new(
                move |node| matches!(*node, Node::Resource { tag: Some(tag), .. } if tag == wanted),
            ),
        };
        // The newest match wins.
        let Some(position) = device.list.iter().rposition(matches) else {
            return Observed::Err("DevresNotFound");
        };
        let node = device.list.remove(position);
        let logged = match (how, node) {
            (How::Release | How::Remove, _) => true,
            (
                How::Destroy,
                Node::Resource {
                    kind: ResourceKind::Alloc,
                    ..
                },
            ) => true,
            (How::Destroy, _) => false,
        };
        if logged {
            self.release_node(uid, node);
        }
        Observed::Ok
    }
}

/// The open marker of `group` (newest) and its close marker after it, if any.
fn group_span(list: &[Node], group: usize) -> Option<(usize, Option<usize>)> {
    let open = list
        .iter()
        .rposition(|node| *node == Node::GroupOpen(group))?;
    let close = list[open..]
        .iter()
        .position(|node| *node == Node::GroupClose(group))
        .map(|offset| open + offset);
    Some((open, close))
}
