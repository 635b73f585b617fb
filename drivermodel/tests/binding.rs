//! Binding: triggers, match scores, probe and unbind order, failures, misuse errors.

mod common;

use common::{Log, TestDriver, TestId, model, test_device};
use drivermodel::device::BindingState;
use drivermodel::event::EventKind;
use drivermodel::{DeviceBuilder, Error, IdEntry};
use std::sync::{Arc, Mutex};

#[test]
fn device_added_after_driver_binds() {
    let model = model();
    let log = Log::new();
    let driver = model
        .register_driver(TestDriver::exact("uart", "ns16550", &log))
        .unwrap();
    let device = model.add_device(test_device("uart0", "ns16550")).unwrap();
    assert_eq!(device.driver_name().as_deref(), Some("uart"));
    assert_eq!(log.take(), ["probe:uart:uart0:0"]);
    assert_eq!(model.counts().bindings, 1);
    drop(device);
    assert_eq!(
        log.take(),
        ["unbind:uart:uart0:devres=0", "remove:uart:uart0"]
    );
    drop(driver);
    assert!(model.is_quiescent());
}

#[test]
fn driver_registered_after_devices_binds_matching_ones_in_order() {
    let model = model();
    let log = Log::new();
    let first = model.add_device(test_device("a", "x")).unwrap();
    let other = model.add_device(test_device("b", "y")).unwrap();
    let second = model.add_device(test_device("c", "x")).unwrap();
    assert!(!first.is_bound());
    let driver = model
        .register_driver(TestDriver::exact("x-driver", "x", &log))
        .unwrap();
    assert_eq!(log.take(), ["probe:x-driver:a:0", "probe:x-driver:c:0"]);
    assert!(first.is_bound() && second.is_bound() && !other.is_bound());
    let bound: Vec<String> = driver
        .bound_devices()
        .iter()
        .map(|device| device.name().into())
        .collect();
    assert_eq!(bound, ["a", "c"]);
    drop(driver);
    // Newest bound first.
    assert_eq!(
        log.take(),
        [
            "unbind:x-driver:c:devres=0",
            "remove:x-driver:c",
            "unbind:x-driver:a:devres=0",
            "remove:x-driver:a"
        ]
    );
    assert_eq!(model.counts().bindings, 0);
    drop((first, other, second));
    assert!(model.is_quiescent());
}

#[test]
fn best_score_wins_and_ties_go_to_the_older_driver() {
    let model = model();
    let log = Log::new();
    let generic = model
        .register_driver(TestDriver::new(
            "generic",
            vec![IdEntry::new(TestId::Prefix("vga".into()), 1)],
            &log,
        ))
        .unwrap();
    let exact_a = model
        .register_driver(TestDriver::new(
            "exact-a",
            vec![IdEntry::new(TestId::Scored("vga-bochs".into(), 5), 2)],
            &log,
        ))
        .unwrap();
    let exact_b = model
        .register_driver(TestDriver::new(
            "exact-b",
            vec![IdEntry::new(TestId::Scored("vga-bochs".into(), 5), 3)],
            &log,
        ))
        .unwrap();
    let device = model
        .add_device(test_device("display", "vga-bochs"))
        .unwrap();
    assert_eq!(device.driver_name().as_deref(), Some("exact-a"));
    assert_eq!(log.take(), ["probe:exact-a:display:2"]);
    // The prefix driver still matches another device through the unindexed list.
    let plain = model.add_device(test_device("plain", "vga-std")).unwrap();
    assert_eq!(plain.driver_name().as_deref(), Some("generic"));
    drop((device, plain, generic, exact_a, exact_b));
    assert!(model.is_quiescent());
}

#[test]
fn id_info_of_the_matching_entry_reaches_probe() {
    let model = model();
    let log = Log::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_in_probe = seen.clone();
    let driver = model
        .register_driver(
            TestDriver::new(
                "multi",
                vec![
                    IdEntry::new(TestId::Exact("one".into()), 100),
                    IdEntry::new(TestId::Exact("two".into()), 200),
                ],
                &log,
            )
            .with_probe(move |_, info, _| {
                seen_in_probe.lock().unwrap().push(*info);
                Ok(())
            }),
        )
        .unwrap();
    let two = model.add_device(test_device("d2", "two")).unwrap();
    let one = model.add_device(test_device("d1", "one")).unwrap();
    assert_eq!(*seen.lock().unwrap(), [200, 100]);
    drop((one, two, driver));
    assert!(model.is_quiescent());
}

#[test]
fn unbind_order_hook_state_devres_then_clear() {
    let model = model();
    let log = Log::new();
    let events = Log::default();
    let _subscription = events.subscribe(&model, |event| Some(event.kind));
    let _in_log = log.subscribe(&model, |event| Some(format!("event:{:?}", event.kind)));
    let driver = model
        .register_driver(
            TestDriver::exact("drv", "c", &log).with_probe(|device, _, log| {
                device.devres().add_action(log.action("devres:first"))?;
                device.devres().add_action(log.action("devres:second"))?;
                Ok(())
            }),
        )
        .unwrap();
    let device = model.add_device(test_device("dev", "c")).unwrap();
    log.take();
    model.unbind(&device).unwrap();
    assert_eq!(
        log.take(),
        [
            "event:Unbind",
            "unbind:drv:dev:devres=2",
            "remove:drv:dev",
            "devres:second",
            "devres:first",
            "event:Unbound"
        ]
    );
    assert_eq!(device.binding_state(), BindingState::Unbound);
    assert!(device.devres().is_empty());
    drop((device, driver));
    assert_eq!(
        events.take(),
        [
            EventKind::Add,
            EventKind::Bind,
            EventKind::Bound,
            EventKind::Unbind,
            EventKind::Unbound,
            EventKind::Delete,
            EventKind::Removed
        ]
    );
    assert!(model.is_quiescent());
}

/// A probe that takes `steps` devres actions, then fails: every action is released,
/// newest first, and neither the unbind hook nor the state's drop ever runs.
#[test]
fn failed_probe_releases_its_devres_at_each_step() {
    for steps in 0..4 {
        let model = model();
        let log = Log::new();
        let driver = model
            .register_driver(TestDriver::exact("drv", "c", &log).with_probe(
                move |device, _, log| {
                    for step in 0..steps {
                        device
                            .devres()
                            .add_action(log.action(format!("release:{step}")))?;
                    }
                    Err(Error::driver(format!("failed after {steps}")))
                },
            ))
            .unwrap();
        let device = model.add_device(test_device("dev", "c")).unwrap();
        let mut expected = vec!["probe:drv:dev:0".to_string()];
        expected.extend((0..steps).rev().map(|step| format!("release:{step}")));
        assert_eq!(log.take(), expected, "steps = {steps}");
        assert!(!device.is_bound());
        assert!(device.devres().is_empty());
        assert_eq!(model.counts().bindings, 0);
        assert_eq!(model.counts().devres_nodes, 0);
        // Explicit bind reports the probe's error.
        assert_eq!(
            model.bind(&device),
            Err(Error::driver(format!("failed after {steps}")))
        );
        drop((device, driver));
        assert!(log.take().iter().all(|entry| !entry.starts_with("remove")));
        assert!(model.is_quiescent());
    }
}

#[test]
fn probe_refused_when_resources_are_present() {
    let model = model();
    let log = Log::new();
    let device = model.add_device(test_device("dev", "c")).unwrap();
    let key = device.devres().add_action(log.action("early")).unwrap();
    let driver = model
        .register_driver(TestDriver::exact("drv", "c", &log))
        .unwrap();
    assert!(!device.is_bound(), "auto bind refused too");
    assert_eq!(
        model.bind(&device),
        Err(Error::ResourcesPresent {
            device: "dev".into(),
            count: 1
        })
    );
    assert!(log.take().is_empty(), "probe never called");
    device.devres().destroy(key).unwrap();
    model.bind(&device).unwrap();
    assert!(device.is_bound());
    drop((device, driver));
    assert!(model.is_quiescent());
}

#[test]
fn misuse_returns_errors() {
    let model = model();
    let log = Log::new();
    // Unknown bus for a driver.
    struct OtherBus;
    impl drivermodel::Bus for OtherBus {
        type Id = ();
        fn name(&self) -> &str {
            "other"
        }
        fn match_id(&self, _: &drivermodel::Device, _: &()) -> drivermodel::Match {
            drivermodel::Match::No
        }
    }
    struct OtherDriver;
    impl drivermodel::Driver for OtherDriver {
        type Bus = OtherBus;
        type IdInfo = ();
        type State = ();
        fn name(&self) -> &str {
            "other-driver"
        }
        fn id_table(&self) -> &[IdEntry<(), ()>] {
            &[]
        }
        fn probe(
            &self,
            _: &drivermodel::Device<drivermodel::context::Core>,
            _: &(),
        ) -> drivermodel::Result<()> {
            Ok(())
        }
    }
    assert!(matches!(
        model.register_driver(OtherDriver),
        Err(Error::UnknownBus { .. })
    ));
    // Double bus registration.
    assert_eq!(
        model.register_bus(common::TestBus).unwrap_err(),
        Error::BusExists { bus: "test".into() }
    );
    // Double driver registration.
    let driver = model
        .register_driver(TestDriver::exact("drv", "c", &log))
        .unwrap();
    assert_eq!(
        model
            .register_driver(TestDriver::exact("drv", "d", &log))
            .unwrap_err(),
        Error::DriverExists {
            bus: "test".into(),
            driver: "drv".into()
        }
    );
    // Name taken, unknown device bus, invalid name.
    let device = model.add_device(test_device("dev", "c")).unwrap();
    assert_eq!(
        model.add_device(test_device("dev", "zzz")).unwrap_err(),
        Error::NameTaken {
            bus: Some("test".into()),
            name: "dev".into()
        }
    );
    assert!(matches!(
        model.add_device(DeviceBuilder::new("x").bus("nope")),
        Err(Error::UnknownBus { .. })
    ));
    assert!(matches!(
        model.add_device(DeviceBuilder::new("a/b")),
        Err(Error::InvalidName { .. })
    ));
    // Same name on another namespace is fine.
    let root = model.add_device(DeviceBuilder::new("dev")).unwrap();
    // Bind of a bound device, unbind of an unbound one.
    assert!(matches!(
        model.bind(&device),
        Err(Error::AlreadyBound { .. })
    ));
    model.unbind(&device).unwrap();
    assert_eq!(
        model.unbind(&device),
        Err(Error::NotBound {
            device: "dev".into()
        })
    );
    // No match, unknown driver name for bind_driver.
    let lonely = model.add_device(test_device("lonely", "nothing")).unwrap();
    assert!(matches!(model.bind(&lonely), Err(Error::NoMatch { .. })));
    assert!(matches!(
        model.bind_driver(&lonely, "missing"),
        Err(Error::DriverNotRegistered { .. })
    ));
    assert!(matches!(
        model.bind_driver(&lonely, "drv"),
        Err(Error::NoMatch { .. })
    ));
    assert!(matches!(model.bind(&root), Err(Error::NoMatch { .. })));
    // Bind of a deleted device.
    let kept = device.device().clone();
    drop(device);
    assert_eq!(
        model.bind(&kept),
        Err(Error::DeviceDeleted {
            device: "dev".into()
        })
    );
    // A device of another model.
    let other_model = common::model();
    assert!(matches!(
        other_model.bind(&lonely),
        Err(Error::ForeignDevice { .. })
    ));
    drop((kept, lonely, root, driver));
    assert!(model.is_quiescent());
}

#[test]
fn manual_bind_refusal_is_per_driver() {
    let model = model();
    let log = Log::new();
    let stubborn = TestDriver::exact("stubborn", "c", &log).without_manual_bind();
    let driver = model.register_driver(stubborn).unwrap();
    let device = model.add_device(test_device("dev", "c")).unwrap();
    assert!(device.is_bound(), "automatic bind still happens");
    assert!(matches!(
        model.unbind(&device),
        Err(Error::ManualBindRefused { .. })
    ));
    assert!(device.is_bound());
    drop(driver); // unregistration still unbinds
    assert!(!device.is_bound());
    drop(device);
    assert!(model.is_quiescent());
}

#[test]
fn match_defer_records_the_reason_and_blocks_lesser_matches() {
    let model = model();
    let log = Log::new();
    let generic = model
        .register_driver(TestDriver::new(
            "generic",
            vec![IdEntry::new(TestId::Prefix("s".into()), 0)],
            &log,
        ))
        .unwrap();
    let deferring = model
        .register_driver(TestDriver::new(
            "deferring",
            vec![IdEntry::new(TestId::Defer("special".into()), 0)],
            &log,
        ))
        .unwrap();
    let device = model.add_device(test_device("dev", "special")).unwrap();
    assert!(!device.is_bound());
    assert_eq!(
        device.deferred_reason().as_deref(),
        Some("bus cannot decide")
    );
    assert_eq!(model.deferred_devices().len(), 1);
    assert_eq!(model.bind(&device), Err(Error::defer("bus cannot decide")));
    drop(deferring);
    assert_eq!(model.retry_deferred(), 1);
    assert_eq!(device.driver_name().as_deref(), Some("generic"));
    assert_eq!(device.deferred_reason(), None);
    drop((device, generic));
    assert!(model.is_quiescent());
}

#[test]
fn probe_defer_records_the_reason() {
    let model = model();
    let log = Log::new();
    let ready = Arc::new(Mutex::new(false));
    let ready_in_probe = ready.clone();
    let driver = model
        .register_driver(
            TestDriver::exact("drv", "c", &log).with_probe(move |_, _, _| {
                if *ready_in_probe.lock().unwrap() {
                    Ok(())
                } else {
                    Err(Error::defer("clock not ready"))
                }
            }),
        )
        .unwrap();
    let device = model.add_device(test_device("dev", "c")).unwrap();
    assert_eq!(device.deferred_reason().as_deref(), Some("clock not ready"));
    *ready.lock().unwrap() = true;
    assert_eq!(model.retry_deferred(), 1);
    assert!(device.is_bound());
    drop((device, driver));
    assert!(model.is_quiescent());
}

#[test]
fn probe_may_add_children_and_register_drivers_without_deadlock() {
    let model = model();
    let log = Log::new();
    let children = Arc::new(Mutex::new(Vec::new()));
    let children_in_probe = children.clone();
    let model_in_probe = model.clone();
    let log_in_probe = log.clone();
    let parent_driver = model
        .register_driver(TestDriver::exact("bridge", "bridge", &log).with_probe(
            move |device, _, _| {
                let child =
                    model_in_probe.add_device(test_device("child0", "leaf").parent(device))?;
                let leaf_driver = model_in_probe.register_driver(TestDriver::exact(
                    "leaf",
                    "leaf",
                    &log_in_probe,
                ))?;
                assert!(child.is_bound(), "registering the driver bound the child");
                children_in_probe.lock().unwrap().push((child, leaf_driver));
                Ok(())
            },
        ))
        .unwrap();
    let bridge = model.add_device(test_device("bridge0", "bridge")).unwrap();
    assert!(bridge.is_bound());
    assert_eq!(
        log.take(),
        ["probe:bridge:bridge0:0", "probe:leaf:child0:0"]
    );
    let child_path = model.find_device(Some("test"), "child0").unwrap().path();
    assert_eq!(child_path, "/devices/test/bridge0/child0");
    // Children first: deleting the child and its driver, then the parent.
    children.lock().unwrap().clear();
    drop((bridge, parent_driver));
    assert!(model.is_quiescent());
}

#[test]
fn override_restricts_binding() {
    let model = model();
    let log = Log::new();
    let first = model
        .register_driver(TestDriver::new(
            "first",
            vec![IdEntry::new(TestId::Prefix("c".into()), 0)],
            &log,
        ))
        .unwrap();
    let second = model
        .register_driver(TestDriver::new(
            "second",
            vec![IdEntry::new(TestId::Prefix("c".into()), 0)],
            &log,
        ))
        .unwrap();
    let device = model.add_device(test_device("dev", "c")).unwrap();
    assert_eq!(device.driver_name().as_deref(), Some("first"));
    model.unbind(&device).unwrap();
    model.bind_driver(&device, "second").unwrap();
    assert_eq!(device.driver_name().as_deref(), Some("second"));
    drop((device, first, second));
    assert!(model.is_quiescent());
}

/// Drivers are kept in a slab whose slots are reused after an unregistration; keys (and
/// so the "older driver wins a tie" rule, the listings and the index) still follow
/// registration order, and nothing of a removed driver can match.
#[test]
fn reused_driver_slots_keep_registration_order() {
    let model = model();
    let log = Log::new();
    let table = || vec![IdEntry::new(TestId::Prefix("c".into()), 0)];
    let first = model
        .register_driver(TestDriver::new("first", table(), &log))
        .unwrap();
    let second = model
        .register_driver(TestDriver::new("second", table(), &log))
        .unwrap();
    let exact = model
        .register_driver(TestDriver::exact("exact", "c-exact", &log))
        .unwrap();
    drop(first); // its slot is free now
    drop(exact);
    // Takes a freed slot, but is newer than `second`.
    let third = model
        .register_driver(TestDriver::new("third", table(), &log))
        .unwrap();
    let device = model.add_device(test_device("dev", "c0")).unwrap();
    assert_eq!(
        device.driver_name().as_deref(),
        Some("second"),
        "tie: older wins"
    );
    let names: Vec<String> = model
        .drivers()
        .into_iter()
        .filter(|driver| driver.bus == common::BUS)
        .map(|driver| driver.name)
        .collect();
    assert_eq!(names, ["second", "third"]);
    assert!(model.tree().ends_with(
        "/bus/test\n/bus/test/drivers/second devices=dev\n/bus/test/drivers/third devices=\n"
    ));
    // The unregistered exact driver left the index: its ID matches nothing now.
    let orphan = model.add_device(test_device("orphan", "c-exact")).unwrap();
    assert_eq!(orphan.driver_name().as_deref(), Some("second"));
    // Many register/unregister cycles reuse slots without losing any driver.
    for round in 0..50 {
        let name = format!("churn{round}");
        let churn = model
            .register_driver(TestDriver::exact(&name, &name, &log))
            .unwrap();
        let churned = model.add_device(test_device(&name, &name)).unwrap();
        assert_eq!(churned.driver_name().as_deref(), Some(name.as_str()));
        drop((churned, churn));
    }
    assert_eq!(model.counts().drivers, 2);
    drop((device, orphan, second, third));
    assert!(model.is_quiescent());
}
