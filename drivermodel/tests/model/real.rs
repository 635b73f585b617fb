//! The real side of the model test: applies each [`Op`] to a real [`DeviceModel`] and
//! reports what happened as an [`Observed`], the same way the reference does.

use drivermodel::devres::{GroupId, ResourceKey};
use drivermodel::event::Subscription;
use drivermodel::link::LinkId;
use drivermodel::testing;
use drivermodel::{ARef, Device, DeviceModel, Result, device, driver};

use super::fixture::{
    BUS, CAPACITY, DRIVERS, DeviceInfo, Entry, Ids, Log, ModelDriver, Plan, SLOTS, Stash, Tracked,
    Uids, compatible, driver_name,
};
use super::ops::{How, Kind, LINK_FLAGS, Observed, Op, Target, error_name};

/// The kind of the shared keys of keyed adds.
enum Tagged {}

/// What the test holds for the device a slot names.
pub struct RealDevice {
    pub uid: usize,
    pub registration: Option<device::Registration>,
    pub held: Option<ARef<Device>>,
    /// Group ids in the order the groups were opened.
    pub groups: Vec<GroupId>,
    /// Generated keys in the order they were handed out.
    pub generated: Vec<ResourceKey>,
}

pub struct Real {
    pub model: DeviceModel,
    _subscription: Subscription,
    pub log: Log,
    pub uids: Uids,
    pub ids: Ids,
    pub stash: Stash,
    pub slots: [Option<RealDevice>; SLOTS],
    pub drivers: [Option<driver::Registration<ModelDriver>>; DRIVERS],
    /// Every link added, in order (removed ones included).
    links: Vec<LinkId>,
}

fn observe(result: Result<()>) -> Observed {
    match result {
        Ok(()) => Observed::Ok,
        Err(error) => Observed::Err(error_name(&error)),
    }
}

impl Real {
    pub fn new() -> Self {
        let model = testing::model();
        let (log, uids) = (Log::default(), Uids::default());
        let subscription = {
            let uids = uids.clone();
            log.subscribe(&model, move |event| Some(uids.event_entry(event)))
        };
        Self {
            model,
            _subscription: subscription,
            log,
            uids,
            ids: Ids::default(),
            stash: Stash::default(),
            slots: Default::default(),
            drivers: Default::default(),
            links: Vec::new(),
        }
    }

    /// Takes the log, naming the devices of events by uid.
    pub fn take_log(&self) -> Vec<Entry> {
        let mut entries = self.log.take();
        self.uids.name_events(&mut entries);
        entries
    }

    /// The slot's device, through the registration or the held reference.
    pub fn device(&self, slot: usize) -> Option<&Device> {
        let record = self.slots[slot].as_ref()?;
        record.registration.as_deref().or(record.held.as_deref())
    }

    fn uid(&self, slot: usize) -> Option<usize> {
        self.slots[slot].as_ref().map(|record| record.uid)
    }

    pub fn apply(&mut self, op: Op) -> Observed {
        match op {
            Op::Add {
                slot,
                compat,
                parent,
                plan,
            } => self.add(usize::from(slot), compat, parent.map(usize::from), plan),
            Op::Delete { slot } => {
                let record = self.slots[usize::from(slot)].as_mut();
                match record.and_then(|record| record.registration.take()) {
                    Some(registration) => observe(registration.delete()),
                    None => Observed::Skipped,
                }
            }
            Op::Hold { slot } => match self.device(usize::from(slot)).map(Device::to_ref) {
                Some(reference) => {
                    let previous = self.slots[usize::from(slot)]
                        .as_mut()
                        .and_then(|record| record.held.replace(reference));
                    drop(previous);
                    Observed::Ok
                }
                None => Observed::Skipped,
            },
            Op::DropHold { slot } => {
                let record = self.slots[usize::from(slot)].as_mut();
                match record.and_then(|record| record.held.take()) {
                    Some(reference) => {
                        drop(reference);
                        Observed::Ok
                    }
                    None => Observed::Skipped,
                }
            }
            Op::Register { driver } => {
                let driver = usize::from(driver);
                let new = ModelDriver::new(driver, &self.log, &self.uids, &self.ids, &self.stash);
                match self.model.register_driver(new) {
                    Ok(registration) => {
                        let previous = self.drivers[driver].replace(registration);
                        drop(previous);
                        Observed::Ok
                    }
                    Err(error) => Observed::Err(error_name(&error)),
                }
            }
            Op::Unregister { driver } => match self.drivers[usize::from(driver)].take() {
                Some(registration) => {
                    drop(registration);
                    Observed::Ok
                }
                None => Observed::Skipped,
            },
            Op::Bind { slot } => match self.device(usize::from(slot)) {
                Some(device) => observe(self.model.bind(device)),
                None => Observed::Skipped,
            },
            Op::BindDriver { slot, driver } => match self.device(usize::from(slot)) {
                Some(device) => observe(
                    self.model
                        .bind_driver(device, &driver_name(usize::from(driver))),
                ),
                None => Observed::Skipped,
            },
            Op::Unbind { slot } => match self.device(usize::from(slot)) {
                Some(device) => observe(self.model.unbind(device)),
                None => Observed::Skipped,
            },
            Op::AddResource { slot, kind } => self.add_resource(usize::from(slot), kind),
            Op::OpenGroup { slot } => {
                let slot = usize::from(slot);
                let Some(device) = self.device(slot) else {
                    return Observed::Skipped;
                };
                match device.devres().open_group() {
                    Ok(group) => {
                        self.record(slot).groups.push(group);
                        Observed::Ok
                    }
                    Err(error) => Observed::Err(error_name(&error)),
                }
            }
            Op::CloseGroup { slot, group } => {
                let slot = usize::from(slot);
                let Some(device) = self.device(slot) else {
                    return Observed::Skipped;
                };
                let groups = &self.slots[slot].as_ref().map_or(&[][..], |r| &r.groups);
                let wanted = group
                    .filter(|_| !groups.is_empty())
                    .map(|group| groups[usize::from(group) % groups.len()]);
                observe(device.devres().close_group(wanted))
            }
            Op::ReleaseGroup { slot, group } => {
                let Some(group) = self.group(usize::from(slot), group) else {
                    return Observed::Skipped;
                };
                let device = self
                    .device(usize::from(slot))
                    .expect("group implies device");
                match device.devres().release_group(group) {
                    Ok(count) => Observed::Count(count),
                    Err(error) => Observed::Err(error_name(&error)),
                }
            }
            Op::RemoveGroup { slot, group } => {
                let Some(group) = self.group(usize::from(slot), group) else {
                    return Observed::Skipped;
                };
                let device = self
                    .device(usize::from(slot))
                    .expect("group implies device");
                observe(device.devres().remove_group(group))
            }
            Op::Take { slot, target, how } => self.take(usize::from(slot), target, how),
            Op::TryAccess { slot } => {
                let Some(uid) = self.uid(usize::from(slot)) else {
                    return Observed::Skipped;
                };
                let stash = self.stash.lock().unwrap();
                match stash.get(&uid) {
                    Some(handle) => Observed::Access(handle.try_access().map(|value| value.id)),
                    None => Observed::Skipped,
                }
            }
            Op::DropDevres { slot } => match self.uid(usize::from(slot)) {
                Some(uid) => self.drop_devres_handle(uid),
                None => Observed::Skipped,
            },
            Op::RetryDeferred => Observed::Count(self.model.retry_deferred()),
            Op::SetOverride { slot, driver } => match self.device(usize::from(slot)) {
                Some(device) => {
                    let name = driver.map(|driver| driver_name(usize::from(driver)));
                    observe(self.model.set_driver_override(device, name.as_deref()))
                }
                None => Observed::Skipped,
            },
            Op::AddLink {
                consumer,
                supplier,
                flags,
            } => {
                let (Some(consumer), Some(supplier)) = (
                    self.device(usize::from(consumer)),
                    self.device(usize::from(supplier)),
                ) else {
                    return Observed::Skipped;
                };
                let flags = LINK_FLAGS[usize::from(flags) % LINK_FLAGS.len()];
                match self.model.add_link(consumer, supplier, flags) {
                    Ok(link) => {
                        self.links.push(link);
                        Observed::Ok
                    }
                    Err(error) => Observed::Err(error_name(&error)),
                }
            }
            Op::RemoveLink { link } => {
                if self.links.is_empty() {
                    return Observed::Skipped;
                }
                let link = self.links[usize::from(link) % self.links.len()];
                observe(self.model.remove_link(link))
            }
            Op::SuspendAll => observe(self.model.suspend_all()),
            Op::ResumeAll => observe(self.model.resume_all()),
            Op::ShutdownAll => {
                self.model.shutdown_all();
                Observed::Ok
            }
            Op::SetDebugReprobe { on } => {
                self.model.set_debug_reprobe(on);
                Observed::Ok
            }
        }
    }

    fn record(&mut self, slot: usize) -> &mut RealDevice {
        self.slots[slot].as_mut().expect("the slot has a device")
    }

    /// The slot device's `group`-th (modulo) group, if it has a handle and groups.
    fn group(&self, slot: usize, group: u8) -> Option<GroupId> {
        self.device(slot)?;
        let groups = &self.slots[slot].as_ref()?.groups;
        (!groups.is_empty()).then(|| groups[usize::from(group) % groups.len()])
    }

    fn drop_devres_handle(&mut self, uid: usize) -> Observed {
        let handle = self.stash.lock().unwrap().remove(&uid);
        match handle {
            Some(handle) => {
                drop(handle);
                Observed::Ok
            }
            None => Observed::Skipped,
        }
    }

    fn add(&mut self, slot: usize, compat: u8, parent: Option<usize>, plan: Plan) -> Observed {
        if let Some(old) = &self.slots[slot]
            && old.registration.is_none()
        {
            // Forget the slot's previous device: drop its handles first.
            let uid = old.uid;
            self.drop_devres_handle(uid);
            let old = self.slots[slot].take();
            drop(old);
        }
        let parent = parent
            .filter(|&parent| parent != slot)
            .and_then(|parent| self.device(parent));
        let parent_path = parent.map_or_else(|| format!("/devices/{BUS}"), Device::path);
        let reserved = self.uids.reserve(|_| format!("{parent_path}/d{slot}"));
        let (log, uid) = (self.log.clone(), reserved.uid);
        let mut builder = testing::device(&format!("d{slot}"), &compatible(compat))
            .data(DeviceInfo { uid, plan })
            .devres_capacity(CAPACITY)
            .on_release(move || log.push(Entry::Freed { device: uid }));
        if let Some(parent) = parent {
            builder = builder.parent(parent);
        }
        match self.model.add_device(builder) {
            Ok(registration) => {
                let previous = self.slots[slot].replace(RealDevice {
                    uid,
                    registration: Some(registration),
                    held: None,
                    groups: Vec::new(),
                    generated: Vec::new(),
                });
                drop(previous);
                Observed::Ok
            }
            Err(error) => {
                self.uids.cancel(reserved);
                Observed::Err(error_name(&error))
            }
        }
    }

    fn add_resource(&mut self, slot: usize, kind: Kind) -> Observed {
        let Some(device) = self.device(slot) else {
            return Observed::Skipped;
        };
        if kind == Kind::SelfRef && !device.is_registered() {
            return Observed::Skipped;
        }
        let uid = self.slots[slot].as_ref().map_or(usize::MAX, |r| r.uid);
        let id = self.ids.next();
        let devres = device.devres();
        let tracked = || Tracked {
            log: self.log.clone(),
            device: uid,
            id,
        };
        let result = match kind {
            Kind::Action => devres.add_action(self.log.action(Entry::Release { device: uid, id })),
            Kind::ActionOrReset => {
                devres.add_action_or_reset(self.log.action(Entry::Release { device: uid, id }))
            }
            Kind::Alloc => devres.alloc(tracked()),
            Kind::SelfRef => {
                let release = self.log.action(Entry::Release { device: uid, id });
                let itself = device.to_ref();
                devres.add_action(move || {
                    release();
                    drop(itself);
                })
            }
            Kind::Keyed { tag, alloc } => {
                let key = ResourceKey::new::<Tagged>(u64::from(tag));
                let added = if alloc {
                    devres.alloc_keyed(key, tracked())
                } else {
                    devres
                        .add_action_keyed(key, self.log.action(Entry::Release { device: uid, id }))
                };
                return observe(added);
            }
        };
        match result {
            Ok(key) => {
                self.record(slot).generated.push(key);
                Observed::Ok
            }
            Err(error) => Observed::Err(error_name(&error)),
        }
    }

    fn take(&mut self, slot: usize, target: Target, how: How) -> Observed {
        let Some(device) = self.device(slot) else {
            return Observed::Skipped;
        };
        let key = match target {
            Target::Generated(index) => {
                let generated = &self.slots[slot]
                    .as_ref()
                    .expect("device implies slot")
                    .generated;
                if generated.is_empty() {
                    return Observed::Skipped;
                }
                generated[usize::from(index) % generated.len()]
            }
            Target::Tag(tag) => ResourceKey::new::<Tagged>(u64::from(tag)),
        };
        let devres = device.devres();
        observe(match how {
            How::Release => devres.release(key),
            How::Destroy => devres.destroy(key),
            How::Remove => devres.remove(key).map(|removed| {
                // A value comes back as itself (its drop logs its id: the identity
                // check); an action is released.
                match removed.downcast::<Tracked>() {
                    Ok(value) => drop(value),
                    Err(action) => action.release(),
                }
            }),
        })
    }
}
