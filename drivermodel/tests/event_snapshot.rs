//! A subscription that starts with a consistent snapshot (issue 10.10): no event of a
//! change the snapshot shows is delivered, none after it is missed.
//!
//! This binary installs a wait hook that can pause a thread in the middle of a state
//! change (after the change, before its event), which is where a snapshot could see a
//! change and then receive its event again: an unbind's claim is followed by the wait
//! for `DriverData` accesses (whose `prepare` the hook sees) before its `Unbind` event.

mod common;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::{BUS, Log, TestDriver, model, test_device};
use drivermodel::event::DeviceSnapshot;
use drivermodel::wait::{self, Channel, WaitHook, WaitPoint};
use drivermodel::{BindingState, Event, EventKind};

static PAUSED: AtomicBool = AtomicBool::new(false);
static RESUME: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// This thread pauses when it starts its next wait for `DriverData` readers.
    static PAUSE_HERE: Cell<bool> = const { Cell::new(false) };
}

/// Yields while waiting; pauses an armed thread when it starts its next wait for
/// readers, which an unbind does right after its claim (the device is unbinding) and
/// before its `Unbind` event.
struct PausingHook;

impl WaitHook for PausingHook {
    fn prepare(&self, channel: Channel) -> u64 {
        if channel.point == WaitPoint::Readers && PAUSE_HERE.with(|armed| armed.replace(false)) {
            PAUSED.store(true, Ordering::SeqCst);
            while !RESUME.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
        }
        0
    }

    fn wait(&self, _channel: Channel, _ticket: u64) {
        std::thread::yield_now();
    }

    fn wake(&self, _channel: Channel) {}
}

static HOOK: PausingHook = PausingHook;

fn recorder() -> (
    Arc<Mutex<Vec<Event>>>,
    impl Fn(&Event) + Send + Sync + 'static,
) {
    let events: Arc<Mutex<Vec<Event>>> = Arc::default();
    let sink = events.clone();
    (events, move |event: &Event| {
        sink.lock().unwrap().push(event.clone())
    })
}

#[test]
fn a_snapshot_waits_for_a_change_in_flight_and_never_sees_it_twice() {
    wait::set_hook(&HOOK);
    let model = model();
    let log = Log::new();
    let _driver = model
        .register_driver(TestDriver::exact("drv", "c", &log))
        .unwrap();
    let device = model.add_device(test_device("dev", "c")).unwrap();
    // An earlier subscriber: the unbind's events are sent.
    let (_, earlier) = recorder();
    let _earlier = model.subscribe(earlier);
    // The unbinder pauses after its claim, before its `Unbind` event.
    let unbinder = {
        let (model, device) = (model.clone(), device.device().clone());
        std::thread::spawn(move || {
            PAUSE_HERE.with(|armed| armed.set(true));
            model.unbind(&device).unwrap();
        })
    };
    while !PAUSED.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    let (events, record) = recorder();
    let returned = Arc::new(AtomicBool::new(false));
    let snapshotter = {
        let (model, returned) = (model.clone(), returned.clone());
        std::thread::spawn(move || {
            let result = model.subscribe_with_snapshot(record);
            returned.store(true, Ordering::SeqCst);
            result
        })
    };
    for _ in 0..200 {
        std::thread::yield_now();
    }
    let returned_early = returned.load(Ordering::SeqCst);
    RESUME.store(true, Ordering::SeqCst);
    assert!(
        !returned_early,
        "the snapshot did not wait for the change in flight"
    );
    unbinder.join().unwrap();
    let (snapshot, subscription) = snapshotter.join().unwrap();
    // The snapshot came after the `Unbind` (it waited): it shows the unbind under way or
    // done, and the stream has only what followed: no `Unbind` twice.
    let entry = snapshot
        .iter()
        .find(|entry| entry.path.ends_with("/dev"))
        .expect("registered");
    let mut devices =
        BTreeMap::from([(entry.path.clone(), (seen(&entry.binding), entry.deleting))]);
    model.bind(&device).unwrap();
    drop(device);
    let recorded = events.lock().unwrap().clone();
    for event in &recorded {
        apply(&mut devices, event);
    }
    assert!(devices.is_empty(), "{devices:?}");
    let kinds: Vec<EventKind> = recorded.iter().map(|event| event.kind).collect();
    assert!(
        kinds.ends_with(&[
            EventKind::Bind,
            EventKind::Bound,
            EventKind::Delete,
            EventKind::Unbind,
            EventKind::Unbound,
            EventKind::Removed
        ]),
        "{kinds:?}"
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|kind| **kind == EventKind::Unbind)
            .count(),
        1
    );
    drop(subscription);
}

/// Where a device is, as a subscriber learns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Unbound,
    Probing,
    Bound,
    Unbinding,
}

fn seen(binding: &BindingState) -> Seen {
    match binding {
        BindingState::Unbound => Seen::Unbound,
        BindingState::Probing { .. } => Seen::Probing,
        BindingState::Bound { .. } => Seen::Bound,
        BindingState::Unbinding { .. } => Seen::Unbinding,
        other => panic!("{other:?}"),
    }
}

/// Applies one event; panics on a transition that a missed or doubled event would make.
fn apply(devices: &mut BTreeMap<String, (Seen, bool)>, event: &Event) {
    let path = event.path.clone();
    match event.kind {
        EventKind::Add => {
            assert!(
                devices.insert(path, (Seen::Unbound, false)).is_none(),
                "{event:?}"
            );
        }
        EventKind::Removed => {
            let removed = devices.remove(&path);
            assert!(matches!(removed, Some((_, true))), "{event:?}: {removed:?}");
        }
        kind => {
            let entry = devices
                .get_mut(&path)
                .unwrap_or_else(|| panic!("{event:?}"));
            let next = match (kind, entry.0) {
                (EventKind::Bind, Seen::Unbound) => Seen::Probing,
                (EventKind::Bound, Seen::Probing) => Seen::Bound,
                (EventKind::NotBound, Seen::Probing) => Seen::Unbound,
                (EventKind::Unbind, Seen::Bound) => Seen::Unbinding,
                (EventKind::Unbound, Seen::Unbinding) => Seen::Unbound,
                (EventKind::Delete, state) if !entry.1 => {
                    entry.1 = true;
                    state
                }
                (kind, state) => panic!("{kind:?} while {state:?}: {event:?}"),
            };
            entry.0 = next;
        }
    }
}

#[test]
fn snapshot_plus_stream_replays_to_the_final_state_under_load() {
    wait::set_hook(&HOOK);
    let model = model();
    let log = Log::new();
    let _driver = model
        .register_driver(TestDriver::exact("drv", "c", &log))
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..3)
        .map(|worker| {
            let (model, stop) = (model.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut round = 0;
                while !stop.load(Ordering::SeqCst) || round < 20 {
                    let name = format!("w{worker}-{}", round % 3);
                    let device = model.add_device(test_device(&name, "c")).unwrap();
                    if round % 2 == 0 {
                        model.unbind(&device).unwrap();
                        if round % 4 == 0 {
                            model.bind(&device).unwrap();
                        }
                    }
                    if round % 3 == 2 {
                        drop(device);
                    } else {
                        device.delete().unwrap();
                    }
                    round += 1;
                }
                // One device stays, bound, to be in the final state.
                model
                    .add_device(test_device(&format!("w{worker}-last"), "c"))
                    .unwrap()
            })
        })
        .collect();
    // Mid-way: the snapshot and the stream.
    std::thread::yield_now();
    let (events, record) = recorder();
    let (snapshot, subscription) = model.subscribe_with_snapshot(record);
    stop.store(true, Ordering::SeqCst);
    let kept: Vec<_> = workers
        .into_iter()
        .map(|worker| worker.join().unwrap())
        .collect();
    let mut devices: BTreeMap<String, (Seen, bool)> = snapshot
        .iter()
        .map(
            |DeviceSnapshot {
                 path,
                 binding,
                 deleting,
                 ..
             }| (path.clone(), (seen(binding), *deleting)),
        )
        .collect();
    for event in events.lock().unwrap().iter() {
        apply(&mut devices, event);
    }
    drop(subscription);
    // What the subscriber worked out is what the model says.
    let truth: BTreeMap<String, (Seen, bool)> = model
        .devices()
        .iter()
        .filter(|device| device.bus_name() == Some(BUS))
        .map(|device| (device.path(), (seen(&device.binding_state()), false)))
        .collect();
    let replayed: BTreeMap<String, (Seen, bool)> = devices
        .into_iter()
        .filter(|(path, _)| path.contains(&format!("/{BUS}/")))
        .collect();
    assert_eq!(replayed, truth);
    assert_eq!(truth.len(), 3);
    drop(kept);
}
