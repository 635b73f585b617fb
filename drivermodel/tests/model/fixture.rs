//! What the model test adds to the crate's test kit (`drivermodel::testing`): drivers
//! whose probe follows a plan attached to each device, the entries of the shared log
//! that every callback and every devres release writes to, and the uids that name the
//! devices of events.
//!
//! The devices sit on the kit's [`TestBus`]: compatible ID `c` is the `compatible`
//! string [`compatible(c)`](compatible), and each driver's IDs are
//! [`TestId::Scored`] with its score from [`SCORES`].
//!
//! Everything that the driver model runs on our behalf (probe, unbind hook, driver state
//! drop, devres actions and values, release hooks, event subscriber) pushes one
//! [`Entry`] to the kit's [`Log`](testing::Log), so the reference model can predict the
//! exact log of every step.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use drivermodel::context::Core;
use drivermodel::event::EventKind;
use drivermodel::testing::{self, TestBus, TestId};
use drivermodel::{Device, DeviceBuilder, Devres, Driver, Error, IdEntry, Result, device};

/// The bus name.
pub const BUS: &str = testing::BUS;
/// Device name slots: the device in slot `s` is named `d<s>`.
pub const SLOTS: usize = 3;
/// Drivers `m0`, `m1`, `m2`.
pub const DRIVERS: usize = 3;
/// Compatible IDs 0..4; ID 3 matches no driver.
pub const COMPATS: u8 = 4;

/// The `compatible` property of a device with compatible ID `compat`.
pub fn compatible(compat: u8) -> String {
    format!("c{compat}")
}
/// Every device's devres list holds at most this many nodes (markers included), so the
/// "list full" paths (`add_action_or_reset` running the action at once) are exercised.
pub const CAPACITY: usize = 4;

/// `SCORES[driver][compat]`: the match score, `None` for no match. Scores are distinct
/// per compatible ID, so the best match is always unique.
pub const SCORES: [[Option<u32>; COMPATS as usize]; DRIVERS] = [
    [Some(1), Some(1), None, None],
    [Some(2), None, None, None],
    [None, Some(2), Some(1), None],
];

/// Which drivers may be forced onto a device by a driver override without an ID match
/// (`Driver::override_info`); their probe then receives [`FORCED`].
pub const FORCIBLE: [bool; DRIVERS] = [true, false, true];
/// The ID data of a forced bind.
pub const FORCED: u8 = 255;

/// One thing that happened, tagged with the device's unique id (`uid`: the index of the
/// successful add, never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Entry {
    /// A probe started; `compat` is the ID table data the probe received.
    Probe {
        device: usize,
        driver: usize,
        compat: u8,
    },
    /// The driver's unbind hook ran, seeing `devres` nodes still on the list.
    Unbind {
        device: usize,
        driver: usize,
        devres: usize,
    },
    /// The driver's per-device state was dropped (remove).
    Remove { device: usize, driver: usize },
    /// The devres resource `id` was released (action run or value dropped).
    Release { device: usize, id: u32 },
    /// The device object's release hook ran (last reference dropped).
    Freed { device: usize },
    /// A power callback of the bound driver ran (a suspend logs even when it fails).
    Power { device: usize, op: PowerOp },
    /// An event of the model's event stream. (Until [`Uids::name_events`] names it,
    /// `device` indexes the table of event paths.)
    Event {
        device: usize,
        kind: Event,
        driver: Option<usize>,
    },
}

/// Which power callback ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PowerOp {
    Suspend,
    Resume,
    Shutdown,
}

/// The kinds of [`drivermodel::event::EventKind`], as a plain `Copy` enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Event {
    Add,
    Bind,
    Bound,
    NotBound,
    Unbind,
    Unbound,
    Delete,
    Removed,
    Other,
}

impl From<EventKind> for Event {
    fn from(kind: EventKind) -> Self {
        match kind {
            EventKind::Add => Self::Add,
            EventKind::Bind => Self::Bind,
            EventKind::Bound => Self::Bound,
            EventKind::NotBound => Self::NotBound,
            EventKind::Unbind => Self::Unbind,
            EventKind::Unbound => Self::Unbound,
            EventKind::Delete => Self::Delete,
            EventKind::Removed => Self::Removed,
            _ => Self::Other,
        }
    }
}

impl Entry {
    pub fn device(&self) -> usize {
        match *self {
            Self::Probe { device, .. }
            | Self::Unbind { device, .. }
            | Self::Remove { device, .. }
            | Self::Release { device, .. }
            | Self::Freed { device }
            | Self::Power { device, .. }
            | Self::Event { device, .. } => device,
        }
    }

    /// Entries whose order across devices the design fixes (probe order on driver
    /// registration, newest-bound-first unbind on driver unregistration, consumers
    /// unbound before their supplier, the power visit order).
    pub fn is_binding(&self) -> bool {
        matches!(
            self,
            Self::Probe { .. } | Self::Unbind { .. } | Self::Remove { .. } | Self::Power { .. }
        )
    }
}

/// The shared log.
pub type Log = testing::Log<Entry>;

/// Device uids and the paths they are filed under, for naming the device of each event
/// (an event names its device by path). Clones share one table.
#[derive(Debug, Clone, Default)]
pub struct Uids(Arc<Mutex<UidTable>>);

#[derive(Debug, Default)]
struct UidTable {
    /// The device paths of the events logged since the last [`Uids::name_events`].
    event_paths: Vec<String>,
    /// Device paths to uids (a path names the newest device added under it).
    paths: HashMap<String, usize>,
    /// The uid of the next device added (by the test or by a probe).
    next_uid: usize,
}

impl Uids {
    /// The entry of an event of the model's stream; its `device` indexes the event
    /// paths until [`name_events`](Self::name_events) names it.
    pub fn event_entry(&self, event: &drivermodel::event::Event) -> Entry {
        let mut table = self.0.lock().unwrap();
        let index = table.event_paths.len();
        table.event_paths.push(event.path.clone());
        let driver = event.driver.as_deref().map(|name| {
            name.strip_prefix('m')
                .and_then(|index| index.parse().ok())
                .unwrap_or(usize::MAX)
        });
        Entry::Event {
            device: index,
            kind: event.kind.into(),
            driver,
        }
    }

    /// Names the device of each event in `entries` (the log's entries, taken) by uid.
    pub fn name_events(&self, entries: &mut [Entry]) {
        let mut table = self.0.lock().unwrap();
        let paths = std::mem::take(&mut table.event_paths);
        for entry in entries {
            if let Entry::Event { device, .. } = entry {
                *device = table
                    .paths
                    .get(&paths[*device])
                    .copied()
                    .unwrap_or(usize::MAX);
            }
        }
    }

    /// Before adding a device: the next uid, filed under the path `path_of(uid)` (before
    /// the add, whose probe may add a child). Undo with [`cancel`](Self::cancel) if the
    /// add fails.
    pub fn reserve(&self, path_of: impl FnOnce(usize) -> String) -> Reserved {
        let mut table = self.0.lock().unwrap();
        let uid = table.next_uid;
        table.next_uid += 1;
        let path = path_of(uid);
        let previous = table.paths.insert(path.clone(), uid);
        Reserved {
            uid,
            path,
            previous,
        }
    }

    /// The add failed (and added nothing else): give the uid and the path back.
    pub fn cancel(&self, reserved: Reserved) {
        let mut table = self.0.lock().unwrap();
        table.next_uid = reserved.uid;
        match reserved.previous {
            Some(previous) => table.paths.insert(reserved.path, previous),
            None => table.paths.remove(&reserved.path),
        };
    }
}

/// A uid handed out by [`Uids::reserve`].
pub struct Reserved {
    pub uid: usize,
    path: String,
    previous: Option<usize>,
}

/// Resource ids, shared by the test (for the resources it adds) and the probes.
#[derive(Clone, Default)]
pub struct Ids(Arc<AtomicU32>);

impl Ids {
    pub fn next(&self) -> u32 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

/// What a device's probe does, whichever driver runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Plan {
    /// Devres actions the probe adds (0..=2).
    pub actions: u8,
    /// Whether the probe then creates a `Devres<Tracked>` (kept in the [`Stash`]).
    pub devres: bool,
    /// Bit `d` set: the probe by driver `d` fails after taking its resources.
    pub fail_mask: u8,
    /// Bit `d` set: the probe by driver `d` defers ("not yet") after taking its
    /// resources (this wins over `fail_mask`).
    pub defer_mask: u8,
    /// Bit `d` set: the probe by driver `d` answers "not my device" after taking its
    /// resources (`defer_mask` wins over it, it wins over `fail_mask`): the next
    /// matching driver is tried.
    pub not_mine_mask: u8,
    /// The driver's suspend of this device fails (after logging).
    pub suspend_fails: bool,
    /// A successful probe adds a bus-less child device `c<uid>` and keeps its
    /// registration in the driver state (so the driver's remove deletes it).
    pub child: bool,
}

/// How a probe ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Bound,
    Fails,
    Defers,
    NotMine,
}

impl Plan {
    pub fn outcome(&self, driver: usize) -> Outcome {
        if self.defer_mask & (1 << driver) != 0 {
            Outcome::Defers
        } else if self.not_mine_mask & (1 << driver) != 0 {
            Outcome::NotMine
        } else if self.fail_mask & (1 << driver) != 0 {
            Outcome::Fails
        } else {
            Outcome::Bound
        }
    }
}

/// Per-device data, given at add time (its compatible ID is the device's `compatible`
/// property, which the bus matches).
pub struct DeviceInfo {
    pub uid: usize,
    pub plan: Plan,
}

/// A managed value: logs its release when dropped.
#[derive(Debug)]
pub struct Tracked {
    pub log: Log,
    pub device: usize,
    pub id: u32,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.log.push(Entry::Release {
            device: self.device,
            id: self.id,
        });
    }
}

/// The `Devres<Tracked>` handles created by probes, by device uid (at most one per
/// device: a new probe replaces the handle of the previous binding).
pub type Stash = Arc<Mutex<BTreeMap<usize, Devres<Tracked>>>>;

fn info(device: &Device) -> Option<&DeviceInfo> {
    device.data::<DeviceInfo>()
}

/// The driver's per-device state: logs [`Entry::Remove`] when dropped, then drops (so
/// deletes) the child device the probe added, if any.
pub struct ModelState {
    log: Log,
    device: usize,
    driver: usize,
    _child: Option<device::Registration>,
}

impl Drop for ModelState {
    fn drop(&mut self) {
        self.log.push(Entry::Remove {
            device: self.device,
            driver: self.driver,
        });
    }
}

/// Driver `m<index>`: its table comes from [`SCORES`]; the ID data is the compat.
pub struct ModelDriver {
    index: usize,
    name: String,
    table: Vec<IdEntry<TestId, u8>>,
    log: Log,
    uids: Uids,
    ids: Ids,
    stash: Stash,
}

pub fn driver_name(index: usize) -> String {
    format!("m{index}")
}

impl ModelDriver {
    pub fn new(index: usize, log: &Log, uids: &Uids, ids: &Ids, stash: &Stash) -> Self {
        let table = (0..COMPATS)
            .filter_map(|compat| {
                SCORES[index][usize::from(compat)]
                    .map(|score| IdEntry::new(TestId::scored(compatible(compat), score), compat))
            })
            .collect();
        Self {
            index,
            name: driver_name(index),
            table,
            log: log.clone(),
            uids: uids.clone(),
            ids: ids.clone(),
            stash: stash.clone(),
        }
    }
}

impl Driver for ModelDriver {
    type Bus = TestBus;
    type IdInfo = u8;
    type State = ModelState;

    fn name(&self) -> &str {
        &self.name
    }

    fn id_table(&self) -> &[IdEntry<TestId, u8>] {
        &self.table
    }

    fn override_info(&self) -> Option<&u8> {
        FORCIBLE[self.index].then_some(&FORCED)
    }

    fn probe(&self, device: &Device<Core>, compat: &u8) -> Result<ModelState> {
        let Some(info) = info(device) else {
            return Err(Error::driver("device without DeviceInfo"));
        };
        let (uid, plan) = (info.uid, info.plan);
        self.log.push(Entry::Probe {
            device: uid,
            driver: self.index,
            compat: *compat,
        });
        for _ in 0..plan.actions {
            let id = self.ids.next();
            device
                .devres()
                .add_action(self.log.action(Entry::Release { device: uid, id }))?;
        }
        if plan.devres {
            let value = Tracked {
                log: self.log.clone(),
                device: uid,
                id: self.ids.next(),
            };
            let handle = Devres::new(device, value)?;
            // The previous binding's handle (already revoked) drops outside the lock.
            let previous = self.stash.lock().unwrap().insert(uid, handle);
            drop(previous);
        }
        match plan.outcome(self.index) {
            Outcome::Bound => {}
            Outcome::Fails => return Err(Error::driver("planned probe failure")),
            Outcome::Defers => return Err(Error::defer("planned deferral")),
            Outcome::NotMine => return Err(Error::no_device("planned: not mine")),
        }
        let child = if plan.child {
            let model = device.model().ok_or_else(|| Error::driver("no model"))?;
            let parent = device.path();
            let reserved = self.uids.reserve(|child| format!("{parent}/c{child}"));
            let (log, child) = (self.log.clone(), reserved.uid);
            let builder = DeviceBuilder::new(format!("c{child}"))
                .parent(device)
                .on_release(move || log.push(Entry::Freed { device: child }));
            match model.add_device(builder) {
                Ok(registration) => Some(registration),
                Err(error) => {
                    self.uids.cancel(reserved);
                    return Err(error);
                }
            }
        } else {
            None
        };
        Ok(ModelState {
            log: self.log.clone(),
            device: uid,
            driver: self.index,
            _child: child,
        })
    }

    fn unbind(&self, device: &Device<Core>, state: &mut ModelState) {
        self.log.push(Entry::Unbind {
            device: state.device,
            driver: self.index,
            devres: device.devres().len(),
        });
    }

    fn suspend(&self, device: &Device<Core>, state: &mut ModelState) -> Result<()> {
        self.log.push(Entry::Power {
            device: state.device,
            op: PowerOp::Suspend,
        });
        match info(device) {
            Some(info) if info.plan.suspend_fails => Err(Error::driver("planned suspend failure")),
            _ => Ok(()),
        }
    }

    fn resume(&self, _device: &Device<Core>, state: &mut ModelState) -> Result<()> {
        self.log.push(Entry::Power {
            device: state.device,
            op: PowerOp::Resume,
        });
        Ok(())
    }

    fn shutdown(&self, _device: &Device<Core>, state: &mut ModelState) {
        self.log.push(Entry::Power {
            device: state.device,
            op: PowerOp::Shutdown,
        });
    }
}
