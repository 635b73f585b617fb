//! Events in their documented order, the tree view, driver override.

mod common;

use common::{Log, TestDriver, TestId, model, test_device};
use drivermodel::event::{Event, EventKind};
use drivermodel::{DeviceBuilder, DeviceModel, Error, IdEntry, faux};
use std::sync::{Arc, Mutex};

fn recorder(model: &DeviceModel) -> (drivermodel::event::Subscription, Log<Event>) {
    let events = Log::default();
    (events.subscribe(model, |event| Some(event.clone())), events)
}

fn kinds(events: &Log<Event>) -> Vec<EventKind> {
    events.take().into_iter().map(|event| event.kind).collect()
}

#[test]
fn event_sequences_for_success_failure_deferral_unbind_and_delete() {
    use EventKind::*;
    let model = model();
    let log = Log::new();
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
        let recorded = events.snapshot();
        assert_eq!(recorded[0].path, "/devices/test/g0");
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
    let log = Log::new();
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
    let log = Log::new();
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
    let log = Log::new();
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
/devices/test/com2 bus=test driver=uart devres=2 override=uart
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
    let log = Log::new();
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

/// `(kind, path, driver)` of every event recorded since the last call.
fn take_full(events: &Log<Event>) -> Vec<(EventKind, String, Option<String>)> {
    events
        .take()
        .into_iter()
        .map(|event| (event.kind, event.path, event.driver))
        .collect()
}

/// Builds the expected `(kind, path, driver)` list.
fn expect(list: &[(EventKind, &str, Option<&str>)]) -> Vec<(EventKind, String, Option<String>)> {
    list.iter()
        .map(|(kind, path, driver)| (*kind, String::from(*path), driver.map(String::from)))
        .collect()
}

/// The full event list (kind, path, driver) for probe success, probe failure, deferral
/// (by the probe and by a device link) and its retry, unbind (with a consumer cascading
/// first) and delete, bound and unbound.
#[test]
fn exact_event_sequence_for_each_transition() {
    use EventKind::*;
    let model = model();
    let log = Log::new();
    let (_subscription, events) = recorder(&model);
    let model_in_probe = model.clone();
    let drivers = (
        model
            .register_driver(TestDriver::exact("good", "g", &log))
            .unwrap(),
        model
            .register_driver(
                TestDriver::exact("bad", "b", &log).with_probe(|_, _, _| Err(Error::driver("no"))),
            )
            .unwrap(),
        model
            .register_driver(
                TestDriver::exact("needy", "n", &log).with_probe(move |_, _, _| {
                    let ready = model_in_probe
                        .find_device(Some(common::BUS), "supplier")
                        .is_some_and(|supplier| supplier.is_bound());
                    if ready {
                        Ok(())
                    } else {
                        Err(Error::defer("no supplier"))
                    }
                }),
            )
            .unwrap(),
        model
            .register_driver(TestDriver::exact("supply", "s", &log))
            .unwrap(),
    );
    assert!(
        take_full(&events).is_empty(),
        "driver registration is silent"
    );
    let board = model.add_device(DeviceBuilder::new("board")).unwrap();
    assert_eq!(take_full(&events), expect(&[(Add, "/devices/board", None)]));
    // Probe success.
    let good = model
        .add_device(test_device("g0", "g").parent(&board))
        .unwrap();
    assert_eq!(
        take_full(&events),
        expect(&[
            (Add, "/devices/board/g0", None),
            (Bind, "/devices/board/g0", Some("good")),
            (Bound, "/devices/board/g0", Some("good")),
        ])
    );
    // Probe failure.
    let bad = model.add_device(test_device("b0", "b")).unwrap();
    assert_eq!(
        take_full(&events),
        expect(&[
            (Add, "/devices/test/b0", None),
            (Bind, "/devices/test/b0", Some("bad")),
            (NotBound, "/devices/test/b0", Some("bad")),
        ])
    );
    // Deferral by the probe, then the retry when the supplier binds.
    let consumer = model.add_device(test_device("c0", "n")).unwrap();
    assert_eq!(
        take_full(&events),
        expect(&[
            (Add, "/devices/test/c0", None),
            (Bind, "/devices/test/c0", Some("needy")),
            (NotBound, "/devices/test/c0", Some("needy")),
        ])
    );
    let supplier = model.add_device(test_device("supplier", "s")).unwrap();
    assert_eq!(
        take_full(&events),
        expect(&[
            (Add, "/devices/test/supplier", None),
            (Bind, "/devices/test/supplier", Some("supply")),
            (Bound, "/devices/test/supplier", Some("supply")),
            (Bind, "/devices/test/c0", Some("needy")),
            (Bound, "/devices/test/c0", Some("needy")),
        ])
    );
    // Unbind of a supplier: its linked consumer is unbound completely first.
    model
        .add_link(&consumer, &supplier, drivermodel::link::LinkFlags::empty())
        .unwrap();
    assert!(take_full(&events).is_empty(), "links are silent");
    model.unbind(&supplier).unwrap();
    assert_eq!(
        take_full(&events),
        expect(&[
            (Unbind, "/devices/test/c0", Some("needy")),
            (Unbound, "/devices/test/c0", Some("needy")),
            (Unbind, "/devices/test/supplier", Some("supply")),
            (Unbound, "/devices/test/supplier", Some("supply")),
        ])
    );
    // A link deferral happens before the probe starts: no events at all.
    assert_eq!(
        model.bind(&consumer),
        Err(Error::Deferred {
            reason: "waiting for supplier supplier".into()
        })
    );
    assert!(take_full(&events).is_empty());
    model.bind(&supplier).unwrap();
    assert_eq!(
        take_full(&events),
        expect(&[
            (Bind, "/devices/test/supplier", Some("supply")),
            (Bound, "/devices/test/supplier", Some("supply")),
            (Bind, "/devices/test/c0", Some("needy")),
            (Bound, "/devices/test/c0", Some("needy")),
        ])
    );
    // Delete, bound and unbound.
    drop(good);
    assert_eq!(
        take_full(&events),
        expect(&[
            (Delete, "/devices/board/g0", None),
            (Unbind, "/devices/board/g0", Some("good")),
            (Unbound, "/devices/board/g0", Some("good")),
            (Removed, "/devices/board/g0", None),
        ])
    );
    drop(bad);
    assert_eq!(
        take_full(&events),
        expect(&[
            (Delete, "/devices/test/b0", None),
            (Removed, "/devices/test/b0", None)
        ])
    );
    // Deleting a supplier unbinds its consumer first too.
    drop(supplier);
    assert_eq!(
        take_full(&events),
        expect(&[
            (Delete, "/devices/test/supplier", None),
            (Unbind, "/devices/test/c0", Some("needy")),
            (Unbound, "/devices/test/c0", Some("needy")),
            (Unbind, "/devices/test/supplier", Some("supply")),
            (Unbound, "/devices/test/supplier", Some("supply")),
            (Removed, "/devices/test/supplier", None),
        ])
    );
    drop((consumer, board, drivers));
    assert_eq!(
        take_full(&events),
        expect(&[
            (Delete, "/devices/test/c0", None),
            (Removed, "/devices/test/c0", None),
            (Delete, "/devices/board", None),
            (Removed, "/devices/board", None),
        ])
    );
    assert!(model.is_quiescent());
}

/// A subscriber calls back into the model from inside its callback: reads (tree,
/// find_device, deferred_devices, counts, power_order), a refused unbind of the device
/// being probed (typed error, no deadlock), and a bind and an unbind of another device.
#[test]
fn a_subscriber_may_bind_unbind_and_inspect_from_the_callback() {
    let model = model();
    let log = Log::new();
    let drivers = (
        model
            .register_driver(TestDriver::exact("drv", "c", &log))
            .unwrap(),
        model
            .register_driver(TestDriver::exact("other", "o", &log))
            .unwrap(),
    );
    let spare = model.add_device(test_device("spare", "o")).unwrap();
    model.unbind(&spare).unwrap();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let (model_in_subscriber, seen_in_subscriber) = (model.clone(), seen.clone());
    let _subscription = model.subscribe(move |event| {
        let interesting = matches!(
            event.kind,
            EventKind::Bind | EventKind::Bound | EventKind::Unbound
        );
        if event.path != "/devices/test/dev" || !interesting {
            return; // the nested binds of `spare`, add and delete
        }
        let model = &model_in_subscriber;
        let mut seen = seen_in_subscriber.lock().unwrap();
        let device = model.find_device(Some(common::BUS), "dev").unwrap();
        let spare = model.find_device(Some(common::BUS), "spare").unwrap();
        let line = model
            .tree()
            .lines()
            .find(|line| line.starts_with("/devices/test/dev "))
            .map(String::from)
            .unwrap_or_default();
        let _ = (
            model.deferred_devices(),
            model.counts(),
            model.power_order(),
        );
        match event.kind {
            EventKind::Bind => {
                seen.push(line);
                seen.push(format!("{:?}", model.unbind(&device)));
                seen.push(format!("{:?}", model.bind(&device)));
            }
            EventKind::Bound => {
                seen.push(line);
                seen.push(format!("bind spare: {:?}", model.bind(&spare)));
            }
            EventKind::Unbound => {
                seen.push(line);
                seen.push(format!("unbind spare: {:?}", model.unbind(&spare)));
            }
            _ => {}
        }
    });
    let device = model.add_device(test_device("dev", "c")).unwrap();
    assert!(device.is_bound());
    assert!(spare.is_bound(), "bound from the subscriber");
    model.unbind(&device).unwrap();
    assert!(!spare.is_bound(), "unbound from the subscriber");
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "/devices/test/dev bus=test driver=probing:drv devres=0",
            "Err(Busy { device: \"dev\" })",
            "Err(Busy { device: \"dev\" })",
            "/devices/test/dev bus=test driver=drv devres=0",
            "bind spare: Ok(())",
            "/devices/test/dev bus=test driver=- devres=0",
            "unbind spare: Ok(())",
        ]
    );
    drop((device, spare, drivers));
    assert!(model.is_quiescent());
}

/// The override restricts automatic and explicit binding to one driver, with precise
/// errors, never unbinds by itself, and clearing it restores normal matching.
#[test]
fn driver_override_restricts_every_path_and_clears() {
    let model = model();
    let log = Log::new();
    let table = || vec![IdEntry::new(TestId::Prefix("c".into()), 0)];
    let first = model
        .register_driver(TestDriver::new("first", table(), &log))
        .unwrap();
    let device = model.add_device(test_device("dev", "c")).unwrap();
    assert_eq!(device.driver_name().as_deref(), Some("first"));
    // Setting it does not unbind.
    model.set_driver_override(&device, Some("second")).unwrap();
    assert_eq!(device.driver_name().as_deref(), Some("first"));
    assert!(
        model
            .tree()
            .contains("/devices/test/dev bus=test driver=first devres=0 override=second\n")
    );
    model.unbind(&device).unwrap();
    assert_eq!(
        model.bind(&device),
        Err(Error::DriverNotRegistered {
            driver: "second".into()
        })
    );
    assert_eq!(
        model.bind_driver(&device, "first"),
        Err(Error::NoMatch {
            device: "dev".into()
        })
    );
    // Another matching driver arriving does not bind it either.
    let third = model
        .register_driver(TestDriver::new("third", table(), &log))
        .unwrap();
    assert!(!device.is_bound());
    // An override naming a driver that does not match the device binds nothing.
    let unrelated = model
        .register_driver(TestDriver::exact("unrelated", "zzz", &log))
        .unwrap();
    model
        .set_driver_override(&device, Some("unrelated"))
        .unwrap();
    assert_eq!(
        model.bind(&device),
        Err(Error::NoMatch {
            device: "dev".into()
        })
    );
    model.set_driver_override(&device, Some("second")).unwrap();
    // The named driver binds it as soon as it registers.
    let second = model
        .register_driver(TestDriver::new("second", table(), &log))
        .unwrap();
    assert_eq!(device.driver_name().as_deref(), Some("second"));
    model.unbind(&device).unwrap();
    model.bind(&device).unwrap();
    assert_eq!(device.driver_name().as_deref(), Some("second"));
    // Cleared: the oldest of the equally good drivers wins again.
    model.unbind(&device).unwrap();
    model.set_driver_override(&device, None).unwrap();
    assert!(!model.tree().contains("override="));
    model.bind(&device).unwrap();
    assert_eq!(device.driver_name().as_deref(), Some("first"));
    model.unbind(&device).unwrap();
    model.bind_driver(&device, "third").unwrap();
    assert_eq!(device.driver_name().as_deref(), Some("third"));
    // A deleted device takes no override.
    let kept = device.device().clone();
    drop(device);
    assert_eq!(
        model.set_driver_override(&kept, Some("first")),
        Err(Error::DeviceDeleted {
            device: "dev".into()
        })
    );
    drop((kept, first, second, third, unrelated));
    assert!(model.is_quiescent());
}

/// Every flag of the text view at once, against the full expected text: nested devices
/// on two buses, devres counts, the three kinds of deferral reasons, an override, two
/// suppliers, a suspended device, a pending deletion, and driver listings in binding
/// order (including a driver bound to nothing).
#[test]
fn tree_view_with_every_flag() {
    use drivermodel::link::LinkFlags;
    let model = model();
    let log = Log::new();
    let with_devres = |count: usize| {
        move |device: &drivermodel::Device<drivermodel::context::Core>,
              _: &u32,
              log: &Log|
              -> drivermodel::Result<()> {
            for index in 0..count {
                device
                    .devres()
                    .add_action(log.action(format!("r{index}")))?;
            }
            Ok(())
        }
    };
    let drivers = (
        model
            .register_driver(TestDriver::exact("clk", "clk", &log).with_probe(with_devres(1)))
            .unwrap(),
        model
            .register_driver(TestDriver::exact("uart", "uart", &log).with_probe(with_devres(3)))
            .unwrap(),
        model
            .register_driver(
                TestDriver::exact("gpu", "gpu", &log)
                    .with_probe(|_, _, _| Err(Error::defer("firmware not loaded"))),
            )
            .unwrap(),
        model
            .register_driver(TestDriver::new(
                "undecided",
                vec![IdEntry::new(TestId::Defer("odd".into()), 0)],
                &log,
            ))
            .unwrap(),
        model
            .register_driver(TestDriver::exact("idle", "nothing-has-this", &log))
            .unwrap(),
    );
    let soc = model.add_device(DeviceBuilder::new("soc")).unwrap();
    let clock = model
        .add_device(test_device("clock", "clk").parent(&soc))
        .unwrap();
    let uart1 = model
        .add_device(test_device("uart1", "uart").parent(&soc))
        .unwrap();
    let uart0 = model.add_device(test_device("uart0", "uart")).unwrap();
    let gpu = model
        .add_device(test_device("gpu", "gpu").parent(&soc))
        .unwrap();
    let odd = model.add_device(test_device("odd", "odd")).unwrap();
    let power = model.add_device(test_device("pmic", "pmic")).unwrap();
    let display = model.add_device(test_device("display", "uart")).unwrap();
    // display: waits for an unbound supplier (managed link), and has a second supplier.
    model.unbind(&display).unwrap();
    model
        .add_link(&display, &power, LinkFlags::empty())
        .unwrap();
    model
        .add_link(&display, &clock, LinkFlags::STATELESS)
        .unwrap();
    assert!(model.bind(&display).is_err());
    model.set_driver_override(&uart0, Some("uart")).unwrap();
    let card = faux::Registration::new(&model, "card", Some(&uart1)).unwrap();
    card.device().devres().add_action(|| {}).unwrap();
    // Suspend everything, then rebind the uarts: an unbind clears the suspended flag,
    // so only the clock and the card stay suspended, and the uart driver lists uart0
    // (bound again first) before uart1.
    model.suspend_all().unwrap();
    for device in [&uart1, &uart0] {
        model.unbind(device).unwrap();
    }
    model.bind(&uart0).unwrap();
    model.bind(&uart1).unwrap();
    drop(soc); // pending: it has children
    let expected = "\
/devices/soc bus=- driver=- devres=0 delete-pending
/devices/soc/clock bus=test driver=clk devres=1 power=suspended
/devices/soc/uart1 bus=test driver=uart devres=3
/devices/soc/uart1/card bus=faux driver=faux_driver devres=1 power=suspended
/devices/soc/gpu bus=test driver=- devres=0 deferred=\"firmware not loaded\"
/devices/test/uart0 bus=test driver=uart devres=3 override=uart
/devices/test/odd bus=test driver=- devres=0 deferred=\"bus cannot decide\"
/devices/test/pmic bus=test driver=- devres=0
/devices/test/display bus=test driver=- devres=0 deferred=\"waiting for supplier pmic\" suppliers=pmic,clock
/bus/faux
/bus/faux/drivers/faux_driver devices=card
/bus/test
/bus/test/drivers/clk devices=clock
/bus/test/drivers/uart devices=uart0,uart1
/bus/test/drivers/gpu devices=
/bus/test/drivers/undecided devices=
/bus/test/drivers/idle devices=
";
    assert_eq!(model.tree(), expected);
    model.resume_all().unwrap();
    assert!(!model.tree().contains("power="));
    drop((clock, uart1, uart0, gpu, odd, power, display, card, drivers));
    assert!(model.is_quiescent());
}

/// `find_by_path` takes the paths `Device::path` writes and the tree shows, across buses
/// and bus-less levels; same names under other parents or on other buses do not fool it.
#[test]
fn find_by_path_walks_the_tree() {
    let model = common::model();
    let platform = model.add_device(DeviceBuilder::new("platform")).unwrap();
    let uart = model
        .add_device(common::test_device("uart0", "none").parent(&*platform))
        .unwrap();
    let other_root = model.add_device(DeviceBuilder::new("other")).unwrap();
    // The same name, bus-less, under another parent.
    let decoy = model
        .add_device(DeviceBuilder::new("uart0").parent(&*other_root))
        .unwrap();
    let console = drivermodel::faux::Registration::new(&model, "console", Some(&uart)).unwrap();
    let top_level = model
        .add_device(common::test_device("top", "none"))
        .unwrap();
    for device in [
        &*platform,
        &*uart,
        &*other_root,
        &*decoy,
        console.device(),
        &*top_level,
    ] {
        let path = device.path();
        let found = model
            .find_by_path(&path)
            .unwrap_or_else(|| panic!("{path}"));
        assert!(found.same_as(device), "{path}");
        assert!(model.tree().contains(&format!("{path} ")), "{path}");
    }
    assert!(
        model
            .find_by_path("/devices/platform/uart0/")
            .unwrap()
            .same_as(&uart)
    );
    for missing in [
        "",
        "/devices",
        "/devices/",
        "/devices//uart0",
        "/devices/uart0",
        "/devices/platform/console",
        "devices/platform",
        "/devices/platform/uart0/nothing",
    ] {
        assert!(model.find_by_path(missing).is_none(), "{missing:?}");
    }
    drop((console, decoy, uart, top_level));
    assert!(model.find_by_path("/devices/platform/uart0").is_none());
    drop((platform, other_root));
    assert!(model.is_quiescent());
}

/// A probe's closing event reaches every subscriber before the device's next transition
/// can start: a first subscriber that tries to unbind the device from its `Bound` event
/// is refused, so a second subscriber sees `Bind`, `Bound` and not the unbind's events
/// overtaking them (before, it saw `Bind`, `Unbind`, `Unbound`, `Bound`).
#[test]
fn a_closing_event_reaches_every_subscriber_before_the_next_transition() {
    let model = model();
    let log = Log::new();
    let model_in_subscriber = model.clone();
    let unbind_results = Arc::new(Mutex::new(Vec::new()));
    let results = unbind_results.clone();
    let _first = model.subscribe(move |event| {
        if event.kind == EventKind::Bound {
            let device = model_in_subscriber
                .find_device(Some(common::BUS), "dev")
                .unwrap();
            results
                .lock()
                .unwrap()
                .push(model_in_subscriber.unbind(&device));
        }
    });
    let kinds = Log::default();
    let _second = kinds.subscribe(&model, |event| Some(event.kind));
    let driver = model
        .register_driver(TestDriver::exact("drv", "c", &log))
        .unwrap();
    let device = model.add_device(test_device("dev", "c")).unwrap();
    assert!(device.is_bound());
    assert_eq!(
        *unbind_results.lock().unwrap(),
        [Err(Error::Busy {
            device: "dev".into()
        })]
    );
    assert_eq!(
        kinds.snapshot(),
        [EventKind::Add, EventKind::Bind, EventKind::Bound]
    );
    // Once the event is delivered, the device is free again.
    model.unbind(&device).unwrap();
    drop((device, driver));
    assert!(model.is_quiescent());
}
