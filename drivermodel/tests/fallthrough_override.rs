//! Driver override binds the named driver even without an ID match (issue 10.3), and a
//! probe answering "not my device" falls through to the next matching driver (10.4).

mod common;

use common::{Log, TestDriver, TestId, model, test_device};
use drivermodel::event::EventKind;
use drivermodel::{Error, IdEntry};

/// Records `kind:driver` of every bind event.
fn record_events(model: &drivermodel::DeviceModel) -> (Log, impl Sized) {
    let events = Log::new();
    let subscription = events.subscribe(model, |event| {
        let kind = match event.kind {
            EventKind::Bind => "bind",
            EventKind::Bound => "bound",
            EventKind::NotBound => "notbound",
            _ => return None,
        };
        let driver = event.driver.clone().unwrap_or_default();
        Some(format!("{kind}:{driver}"))
    });
    (events, subscription)
}

fn generic(log: &Log) -> TestDriver {
    TestDriver::exact("generic", "generic-only", log).with_override_info(99)
}

#[test]
fn override_binds_the_named_driver_without_an_id_match() {
    let model = model();
    let log = Log::new();
    let uart = model
        .register_driver(TestDriver::exact("uart", "ns16550", &log))
        .unwrap();
    let generic = model.register_driver(generic(&log)).unwrap();
    let device = model.add_device(test_device("uart0", "ns16550")).unwrap();
    assert_eq!(device.driver_name().as_deref(), Some("uart"));
    model.unbind(&device).unwrap();
    model.set_driver_override(&device, Some("generic")).unwrap();
    // No ID of `generic` lists the device: it binds anyway, with its override info.
    model.bind(&device).unwrap();
    assert_eq!(device.driver_name().as_deref(), Some("generic"));
    assert!(log.take().contains(&"probe:generic:uart0:99".to_string()));
    // Clearing the override restores normal matching.
    model.unbind(&device).unwrap();
    model.set_driver_override(&device, None).unwrap();
    model.bind(&device).unwrap();
    assert_eq!(device.driver_name().as_deref(), Some("uart"));
    drop((device, uart, generic));
    assert!(model.is_quiescent());
}

#[test]
fn a_forced_driver_registering_later_binds_the_waiting_device() {
    let model = model();
    let log = Log::new();
    let device = model.add_device(test_device("dev0", "ns16550")).unwrap();
    model.set_driver_override(&device, Some("generic")).unwrap();
    assert!(!device.is_bound());
    let driver = model.register_driver(generic(&log)).unwrap();
    assert_eq!(device.driver_name().as_deref(), Some("generic"));
    drop(driver);
    assert!(!device.is_bound());
    drop(device);
    assert!(model.is_quiescent());
}

#[test]
fn an_id_match_of_the_override_driver_keeps_its_id_info() {
    let model = model();
    let log = Log::new();
    let driver = TestDriver::new(
        "both",
        vec![IdEntry::new(TestId::Exact("ns16550".into()), 7)],
        &log,
    )
    .with_override_info(99);
    let driver = model.register_driver(driver).unwrap();
    let device = model.add_device(test_device("uart0", "ns16550")).unwrap();
    model.unbind(&device).unwrap();
    log.take();
    model.set_driver_override(&device, Some("both")).unwrap();
    model.bind(&device).unwrap();
    assert_eq!(log.take(), ["probe:both:uart0:7"]);
    drop((device, driver));
    assert!(model.is_quiescent());
}

#[test]
fn a_driver_without_override_info_cannot_be_forced() {
    let model = model();
    let log = Log::new();
    let driver = model
        .register_driver(TestDriver::exact("strict", "other", &log))
        .unwrap();
    let device = model.add_device(test_device("dev", "ns16550")).unwrap();
    model.set_driver_override(&device, Some("strict")).unwrap();
    assert!(matches!(model.bind(&device), Err(Error::NoMatch { .. })));
    drop((device, driver));
    assert!(model.is_quiescent());
}

#[test]
fn the_bus_may_refuse_an_override() {
    let model = model();
    let log = Log::new();
    let generic = model.register_driver(generic(&log)).unwrap();
    let device = model
        .add_device(test_device("dev", "ns16550").property("override", "refuse"))
        .unwrap();
    model.set_driver_override(&device, Some("generic")).unwrap();
    assert!(matches!(model.bind(&device), Err(Error::NoMatch { .. })));
    assert!(!device.is_bound());
    drop((device, generic));
    assert!(model.is_quiescent());
}

fn scored_driver(name: &str, score: u32, log: &Log) -> TestDriver {
    TestDriver::new(
        name,
        vec![IdEntry::new(TestId::Scored("c".into(), score), score)],
        log,
    )
}

#[test]
fn not_my_device_falls_through_in_score_order() {
    let model = model();
    let log = Log::new();
    let (events, _subscription) = record_events(&model);
    let low = model
        .register_driver(scored_driver("low", 1, &log))
        .unwrap();
    let high = model
        .register_driver(
            scored_driver("high", 9, &log)
                .with_probe(|_, _, _| Err(Error::no_device("wrong revision"))),
        )
        .unwrap();
    let middle = model
        .register_driver(
            scored_driver("middle", 5, &log)
                .with_probe(|_, _, _| Err(Error::no_device("not this board"))),
        )
        .unwrap();
    events.take();
    log.take();
    let device = model.add_device(test_device("dev", "c")).unwrap();
    assert_eq!(device.driver_name().as_deref(), Some("low"));
    assert_eq!(
        log.take(),
        ["probe:high:dev:9", "probe:middle:dev:5", "probe:low:dev:1"]
    );
    assert_eq!(
        events.take(),
        [
            "bind:high",
            "notbound:high",
            "bind:middle",
            "notbound:middle",
            "bind:low",
            "bound:low"
        ]
    );
    assert!(device.deferred_reason().is_none());
    drop((device, low, high, middle));
    assert!(model.is_quiescent());
}

#[test]
fn other_probe_errors_stop_the_attempt() {
    let model = model();
    let log = Log::new();
    let low = model
        .register_driver(scored_driver("low", 1, &log))
        .unwrap();
    let high = model
        .register_driver(
            scored_driver("high", 9, &log).with_probe(|_, _, _| Err(Error::driver("broken"))),
        )
        .unwrap();
    log.take();
    let device = model.add_device(test_device("dev", "c")).unwrap();
    assert!(!device.is_bound());
    assert_eq!(log.take(), ["probe:high:dev:9"]);
    assert_eq!(model.bind(&device), Err(Error::driver("broken")));
    drop((device, low, high));
    assert!(model.is_quiescent());
}

#[test]
fn when_every_driver_says_not_mine_the_device_stays_unbound() {
    let model = model();
    let log = Log::new();
    let only = model
        .register_driver(
            scored_driver("only", 3, &log).with_probe(|_, _, _| Err(Error::no_device("no"))),
        )
        .unwrap();
    let device = model.add_device(test_device("dev", "c")).unwrap();
    assert!(!device.is_bound());
    assert_eq!(model.bind(&device), Err(Error::no_device("no")));
    assert!(device.deferred_reason().is_none());
    drop((device, only));
    assert!(model.is_quiescent());
}
