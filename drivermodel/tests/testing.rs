//! The `testing` kit: fault injection at the Nth devres add, probe and managed
//! allocation, per model, and the leak assertions.

mod common;

use common::{Log, TestDriver, TestId, model, test_device};
use drivermodel::event::EventKind;
use drivermodel::testing::{self, FaultPoint, Faults};
use drivermodel::{DeviceBuilder, Devres, Error, IdEntry, faux};
use std::sync::{Arc, Mutex};

/// A managed value that logs its drop.
struct Tracked(Log, &'static str);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.push(format!("drop:{}", self.1));
    }
}

#[test]
fn the_nth_devres_add_fails_once_and_drops_its_action_unrun() {
    let model = model();
    let faults = Faults::of(&model);
    let log = Log::new();
    let device = model.add_device(DeviceBuilder::new("dev")).unwrap();
    faults.fail_nth(FaultPoint::DevresAdd, 2);
    device.devres().add_action(log.action("first")).unwrap();
    assert_eq!(
        device.devres().add_action(log.action("second")),
        Err(Error::OutOfMemory)
    );
    device.devres().open_group().unwrap(); // a group marker is an add too
    assert_eq!(faults.hits(FaultPoint::DevresAdd), 3);
    assert_eq!(faults.injected(FaultPoint::DevresAdd), 1);
    assert_eq!(device.devres().len(), 2);
    // Failing an add-or-reset runs the action at once.
    faults.fail_nth(FaultPoint::DevresAdd, 1);
    assert!(
        device
            .devres()
            .add_action_or_reset(log.action("reset"))
            .is_err()
    );
    assert_eq!(log.take(), ["reset"]);
    drop(device);
    assert_eq!(log.take(), ["first"]);
    testing::assert_quiescent(&model);
}

#[test]
fn fail_from_fails_every_later_pass_until_cleared() {
    let model = model();
    let faults = Faults::of(&model);
    let device = model.add_device(DeviceBuilder::new("dev")).unwrap();
    faults.fail_from(FaultPoint::DevresAdd, 2);
    let results: Vec<bool> = (0..4)
        .map(|_| device.devres().add_action(|| {}).is_ok())
        .collect();
    assert_eq!(results, [true, false, false, false]);
    assert_eq!(faults.injected(FaultPoint::DevresAdd), 3);
    faults.clear();
    assert_eq!(faults.hits(FaultPoint::DevresAdd), 0);
    device.devres().add_action(|| {}).unwrap();
    assert_eq!(device.devres().len(), 2);
    // 0 disarms.
    faults.fail_nth(FaultPoint::DevresAdd, 0);
    device.devres().add_action(|| {}).unwrap();
    drop(device);
    testing::assert_quiescent(&model);
}

#[test]
fn the_nth_probe_fails_without_calling_the_driver() {
    let model = model();
    let faults = Faults::of(&model);
    let log = Log::new();
    let events = Log::default();
    let _subscription = events.subscribe(&model, |event| Some(event.kind));
    let driver = model
        .register_driver(
            TestDriver::exact("drv", "x", &log).with_probe(|device, _, _| {
                device.devres().add_action(|| {})?;
                Ok(())
            }),
        )
        .unwrap();
    faults.fail_nth(FaultPoint::Probe, 1);
    let device = model.add_device(test_device("dev", "x")).unwrap();
    assert!(!device.is_bound());
    assert!(log.take().is_empty(), "the driver's probe must not run");
    assert_eq!(
        events.take(),
        [EventKind::Add, EventKind::Bind, EventKind::NotBound]
    );
    // The second probe is not the first: it runs.
    model.bind(&device).unwrap();
    assert_eq!(log.take(), ["probe:drv:dev:0"]);
    model.unbind(&device).unwrap();
    // An injected deferral is recorded like the driver's own.
    faults.fail_nth_with(FaultPoint::Probe, 1, Error::defer("clock"));
    assert_eq!(model.bind(&device), Err(Error::defer("clock")));
    assert_eq!(device.deferred_reason().as_deref(), Some("clock"));
    assert_eq!(faults.injected(FaultPoint::Probe), 1);
    drop((device, driver));
    testing::assert_counts_zero(&model);
}

#[test]
fn a_faux_device_whose_probe_fails_is_not_created() {
    let model = model();
    let faults = Faults::of(&model);
    faults.fail_nth(FaultPoint::Probe, 1);
    assert_eq!(
        faux::Registration::new(&model, "display", None).err(),
        Some(Error::OutOfMemory)
    );
    testing::assert_quiescent(&model);
    let display = faux::Registration::new(&model, "display", None).unwrap();
    drop(display);
    testing::assert_quiescent(&model);
}

#[test]
fn the_nth_managed_allocation_fails_and_drops_its_value() {
    let model = model();
    let faults = Faults::of(&model);
    let log = Log::new();
    let driver = model
        .register_driver(TestDriver::exact("drv", "x", &log))
        .unwrap();
    let device = model.add_device(test_device("dev", "x")).unwrap();
    let bound = faux::Registration::new(&model, "bound", None).unwrap();
    faults.count(FaultPoint::Alloc);
    faults.count(FaultPoint::DevresAdd);
    device.devres().add_action(|| {}).unwrap(); // not an allocation
    device.devres().alloc(Tracked(log.clone(), "a")).unwrap();
    assert_eq!(faults.hits(FaultPoint::Alloc), 1);
    assert_eq!(faults.hits(FaultPoint::DevresAdd), 2);
    faults.fail_nth(FaultPoint::Alloc, 2);
    let key = drivermodel::devres::ResourceKey::new::<Tracked>(7);
    device
        .devres()
        .alloc_keyed(key, Tracked(log.clone(), "b"))
        .unwrap();
    assert_eq!(
        device.devres().alloc(Tracked(log.clone(), "c")),
        Err(Error::OutOfMemory)
    );
    assert_eq!(log.take(), ["probe:drv:dev:0", "drop:c"]);
    // `Devres::new` is a managed allocation too.
    faults.fail_nth(FaultPoint::Alloc, 1);
    assert_eq!(
        Devres::new(bound.device(), Tracked(log.clone(), "d")).err(),
        Some(Error::OutOfMemory)
    );
    assert_eq!(log.take(), ["drop:d"]);
    assert_eq!(bound.device().devres().len(), 0);
    drop((device, bound, driver));
    assert_eq!(
        log.take(),
        [
            "unbind:drv:dev:devres=3",
            "remove:drv:dev",
            "drop:b",
            "drop:a"
        ]
    );
    testing::assert_counts_zero(&model);
}

#[test]
fn faults_belong_to_one_model() {
    let (armed, other) = (model(), model());
    let faults = Faults::of(&armed);
    // Counting starts with a model's first injector.
    let other_faults = Faults::of(&other);
    faults.fail_from(FaultPoint::DevresAdd, 1);
    let on_other = other.add_device(DeviceBuilder::new("dev")).unwrap();
    on_other.devres().add_action(|| {}).unwrap();
    let on_armed = armed.add_device(DeviceBuilder::new("dev")).unwrap();
    assert!(on_armed.devres().add_action(|| {}).is_err());
    // Every handle to the model shares its plan.
    assert_eq!(
        Faults::of(&armed.clone()).injected(FaultPoint::DevresAdd),
        1
    );
    assert_eq!(faults.hits(FaultPoint::DevresAdd), 1);
    // The other model counted only its own add, and injected nothing.
    assert_eq!(other_faults.hits(FaultPoint::DevresAdd), 1);
    assert_eq!(other_faults.injected(FaultPoint::DevresAdd), 0);
    drop((on_armed, on_other));
    testing::assert_quiescent(&armed);
    testing::assert_quiescent(&other);
}

/// Every failure path of a probe that adds a child device and takes devres: whichever
/// add or allocation fails, nothing is left behind.
#[test]
fn every_failure_path_of_a_probe_leaves_nothing() {
    let model = model();
    let faults = Faults::of(&model);
    let log = Log::new();
    let child_model = model.clone();
    let children: Arc<Mutex<Vec<drivermodel::device::Registration>>> = Arc::default();
    let owned = children.clone();
    let driver = model
        .register_driver(
            TestDriver::new(
                "bridge",
                vec![IdEntry::new(TestId::exact("bridge"), 0)],
                &log,
            )
            .with_probe(move |device, _, log| {
                device.devres().add_action(log.action("undo:setup"))?;
                let buffer = device.devres().alloc([0u8; 32])?;
                let child = child_model.add_device(DeviceBuilder::new("port").parent(device))?;
                let child = device.devres().add_action_or_reset({
                    let owned = owned.clone();
                    owned.lock().unwrap().push(child);
                    move || owned.lock().unwrap().clear()
                });
                child?;
                device.devres().release(buffer)?;
                Ok(())
            }),
        )
        .unwrap();
    faults.count(FaultPoint::DevresAdd);
    let bridge = model.add_device(test_device("bridge0", "bridge")).unwrap();
    assert!(bridge.is_bound());
    let adds = faults.hits(FaultPoint::DevresAdd);
    assert_eq!(adds, 3);
    drop(bridge);
    log.take();
    for n in 1..=adds {
        faults.fail_nth(FaultPoint::DevresAdd, n);
        let bridge = model.add_device(test_device("bridge0", "bridge")).unwrap();
        assert!(!bridge.is_bound(), "add {n}");
        assert_eq!(faults.injected(FaultPoint::DevresAdd), 1, "add {n}");
        assert_eq!(model.counts().registered_devices, 1, "add {n}: child left");
        assert!(children.lock().unwrap().is_empty(), "add {n}");
        let undone = log.take().contains(&"undo:setup".to_string());
        assert_eq!(
            undone,
            n > 1,
            "add {n}: the setup is undone once it was done"
        );
        drop(bridge);
    }
    faults.clear();
    drop(driver);
    testing::assert_counts_zero(&model);
}

#[test]
#[should_panic(expected = "not quiescent")]
fn assert_quiescent_reports_a_live_device() {
    let model = model();
    let device = model.add_device(DeviceBuilder::new("leak")).unwrap();
    testing::assert_quiescent(&model);
    drop(device);
}

#[test]
#[should_panic(expected = "a counter is not zero")]
fn assert_counts_zero_reports_a_registered_driver() {
    let model = model();
    let log = Log::new();
    let driver = model
        .register_driver(TestDriver::exact("drv", "x", &log))
        .unwrap();
    testing::assert_quiescent(&model); // no device: quiescent
    testing::assert_counts_zero(&model);
    drop(driver);
}
