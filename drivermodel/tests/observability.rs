//! Events in their documented order, the tree view, driver override.

mod common;

use common::{Log, TestDriver, TestId, model, test_device};
use drivermodel::event::{Event, EventKind};
use drivermodel::{DeviceBuilder, DeviceModel, Error, IdEntry, faux};
use std::sync::{Arc, Mutex};

fn recorder(model: &DeviceModel) -> (drivermodel::event::Subscription, Arc<Mutex<Vec<Event>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let subscription = model.subscribe(move |event| sink.lock().unwrap().push(event.clone()));
    (subscription, events)
}

fn kinds(events: &Arc<Mutex<Vec<Event>>>) -> Vec<EventKind> {
    std::mem::take(&mut *events.lock().unwrap())
        .into_iter()
        .map(|event| event.kind)
        .collect()
}

#[test]
fn event_sequences_for_success_failure_deferral_unbind_and_delete() {
    use EventKind::*;
    let model = model();
    let log = Log::default();
    let (_subscription, events) = recorder(&model);
    let good = model
        .register_driver(TestDriver::exact("good", "g", &log))
        .unwrap();
    let bad = model
        .register_driver(
            TestDriver::exact("bad", "b", &log).with_probe(|_, _, _| Err(Error::driver("no"))),
        )
        .unwrap();
    let later = model
        .register_driver(
            TestDriver::exact("later", "l", &log)
                .with_probe(|_, _, _| Err(Error::defer("supplier missing"))),
        )
        .unwrap();
    let device = model.add_device(test_device("g0", "g")).unwrap();
    {
        let recorded = events.lock().unwrap();
        assert_eq!(recorded[0].path, "/devices/g0");
        assert_eq!(recorded[0].bus.as_deref(), Some("test"));
        assert_eq!(recorded[1].driver.as_deref(), Some("good"));
    }
    assert_eq!(kinds(&events), [Add, Bind, Bound]);
    model.unbind(&device).unwrap();
    assert_eq!(kinds(&events), [Unbind, Unbound]);
    model.bind(&device).unwrap();
    assert_eq!(kinds(&events), [Bind, Bound]);
    drop(device);
    assert_eq!(kinds(&events), [Delete, Unbind, Unbound, Removed]);
    let failing = model.add_device(test_device("b0", "b")).unwrap();
    assert_eq!(kinds(&events), [Add, Bind, NotBound]);
    drop(failing);
    assert_eq!(kinds(&events), [Delete, Removed]);
    let deferred = model.add_device(test_device("l0", "l")).unwrap();
    assert_eq!(kinds(&events), [Add, Bind, NotBound]);
    assert_eq!(
        deferred.deferred_reason().as_deref(),
        Some("supplier missing")
    );
    drop((deferred, good, bad, later));
    assert!(model.is_quiescent());
}

#[test]
fn a_subscriber_may_call_back_into_the_model() {
    let model = model();
    let log = Log::default();
    let model_in_subscriber = model.clone();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_in_subscriber = seen.clone();
    let _subscription = model.subscribe(move |event| {
        // Reading the model (and its devices) from a subscriber must not deadlock.
        let count = model_in_subscriber.devices().len();
        let tree_lines = model_in_subscriber.tree().lines().count();
        seen_in_subscriber
            .lock()
            .unwrap()
            .push((event.kind, count, tree_lines));
    });
    let driver = model
        .register_driver(TestDriver::exact("drv", "c", &log))
        .unwrap();
    let device = model.add_device(test_device("dev", "c")).unwrap();
    drop((device, driver));
    assert_eq!(seen.lock().unwrap().len(), 7);
    assert!(model.is_quiescent());
}

#[test]
fn a_subscriber_may_change_the_model() {
    let model = model();
    let log = Log::default();
    let model_in_subscriber = model.clone();
    let children = Arc::new(Mutex::new(Vec::new()));
    let children_in_subscriber = children.clone();
    let _subscription = model.subscribe(move |event| {
        // Each bound bus device gets a virtual child, added from the subscriber.
        if event.kind == EventKind::Bound && event.bus.as_deref() == Some("test") {
            let name = event.path.rsplit('/').next().unwrap_or_default();
            let parent = model_in_subscriber.find_device(Some("test"), name).unwrap();
            let child = model_in_subscriber
                .add_device(DeviceBuilder::new(format!("{name}-child")).parent(&parent))
                .unwrap();
            children_in_subscriber.lock().unwrap().push(child);
        }
    });
    let driver = model
        .register_driver(TestDriver::exact("drv", "c", &log))
        .unwrap();
    let device = model.add_device(test_device("dev", "c")).unwrap();
    assert_eq!(model.children(&device).len(), 1);
    children.lock().unwrap().clear();
    drop((device, driver));
    assert!(model.is_quiescent());
}

#[test]
fn tree_view_of_a_representative_model() {
    let model = model();
    let log = Log::default();
    let uart = model
        .register_driver(
            TestDriver::exact("uart", "ns16550", &log).with_probe(|device, _, log| {
                device.devres().add_action(log.action("irq"))?;
                device.devres().add_action(log.action("ports"))?;
                Ok(())
            }),
        )
        .unwrap();
    let deferring = model
        .register_driver(
            TestDriver::exact("gpu", "gpu", &log)
                .with_probe(|_, _, _| Err(Error::defer("waiting for iommu"))),
        )
        .unwrap();
    let board = model.add_device(DeviceBuilder::new("board")).unwrap();
    let com1 = model
        .add_device(test_device("com1", "ns16550").parent(&board))
        .unwrap();
    let gpu = model
        .add_device(test_device("gpu0", "gpu").parent(&board))
        .unwrap();
    let com2 = model.add_device(test_device("com2", "ns16550")).unwrap();
    let display = faux::Registration::new(&model, "display", Some(&com1)).unwrap();
    model.set_driver_override(&com2, Some("uart")).unwrap();
    model
        .add_link(&gpu, &com1, drivermodel::link::LinkFlags::STATELESS)
        .unwrap();
    let expected = "\
/devices/board bus=- driver=- devres=0
/devices/board/com1 bus=test driver=uart devres=2
/devices/board/com1/display bus=faux driver=faux_driver devres=0
/devices/board/gpu0 bus=test driver=- devres=0 deferred=\"waiting for iommu\" suppliers=com1
/devices/com2 bus=test driver=uart devres=2 override=uart
/bus/faux
/bus/faux/drivers/faux_driver devices=display
/bus/test
/bus/test/drivers/uart devices=com1,com2
/bus/test/drivers/gpu devices=
";
    assert_eq!(model.tree(), expected);
    drop(board); // pending until its children go
    assert!(
        model
            .tree()
            .starts_with("/devices/board bus=- driver=- devres=0 delete-pending\n")
    );
    drop((display, com1, gpu, com2, uart, deferring));
    assert_eq!(
        model.tree(),
        "/bus/faux\n/bus/faux/drivers/faux_driver devices=\n/bus/test\n"
    );
    assert!(model.is_quiescent());
}

#[test]
fn driver_override_restricts_and_clears() {
    let model = model();
    let log = Log::default();
    let table = || vec![IdEntry::new(TestId::Prefix("c".into()), 0)];
    let first = model
        .register_driver(TestDriver::new("first", table(), &log))
        .unwrap();
    let device = model.add_device(test_device("dev", "c")).unwrap();
    assert_eq!(device.driver_name().as_deref(), Some("first"));
    model.unbind(&device).unwrap();
    model.set_driver_override(&device, Some("second")).unwrap();
    // Only "second" may bind, and it is not registered yet.
    assert!(model.bind(&device).is_err());
    assert!(matches!(
        model.bind_driver(&device, "first"),
        Err(Error::NoMatch { .. })
    ));
    let second = model
        .register_driver(TestDriver::new("second", table(), &log))
        .unwrap();
    assert_eq!(device.driver_name().as_deref(), Some("second"));
    model.unbind(&device).unwrap();
    model.set_driver_override(&device, None).unwrap();
    model.bind(&device).unwrap();
    assert_eq!(device.driver_name().as_deref(), Some("first"));
    drop((device, first, second));
    assert!(model.is_quiescent());
}
