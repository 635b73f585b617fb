//! Suspend, resume and shutdown order for a parent, child and supplier triangle.

mod common;

use common::{Log, TestDriver, TestId, model, test_device};
use drivermodel::link::LinkFlags;
use drivermodel::{Error, IdEntry};

/// `bridge` is the parent of `panel`; `panel` consumes `backlight`, which was registered
/// after it (so registration order alone would be wrong).
fn triangle(
    log: &Log,
    fail_suspend: Option<&str>,
) -> (
    drivermodel::DeviceModel,
    Vec<drivermodel::device::Registration>,
    drivermodel::driver::Registration<TestDriver>,
) {
    let model = model();
    let mut driver = TestDriver::new(
        "any",
        vec![IdEntry::new(TestId::Prefix(String::new()), 0)],
        log,
    );
    if let Some(device) = fail_suspend {
        driver = driver.with_failing_suspend(device);
    }
    let driver = model.register_driver(driver).unwrap();
    let bridge = model.add_device(test_device("bridge", "b")).unwrap();
    let panel = model
        .add_device(test_device("panel", "p").parent(&bridge))
        .unwrap();
    let backlight = model.add_device(test_device("backlight", "l")).unwrap();
    model
        .add_link(&panel, &backlight, LinkFlags::STATELESS)
        .unwrap();
    assert!(bridge.is_bound() && panel.is_bound() && backlight.is_bound());
    log.take();
    (model, vec![panel, backlight, bridge], driver)
}

#[test]
fn suspend_resume_and_shutdown_follow_dependencies() {
    let log = Log::new();
    let (model, devices, driver) = triangle(&log, None);
    let order: Vec<String> = model
        .power_order()
        .iter()
        .map(|device| device.name().to_string())
        .collect();
    assert_eq!(order, ["bridge", "backlight", "panel"]);
    model.suspend_all().unwrap();
    assert_eq!(
        log.take(),
        ["suspend:panel", "suspend:backlight", "suspend:bridge"]
    );
    model.resume_all().unwrap();
    assert_eq!(
        log.take(),
        ["resume:bridge", "resume:backlight", "resume:panel"]
    );
    model.shutdown_all();
    assert_eq!(
        log.take(),
        ["shutdown:panel", "shutdown:backlight", "shutdown:bridge"]
    );
    drop((devices, driver));
    assert!(model.is_quiescent());
}

#[test]
fn a_failing_suspend_resumes_what_was_suspended() {
    let log = Log::new();
    let (model, devices, driver) = triangle(&log, Some("backlight"));
    let error = model.suspend_all().unwrap_err();
    assert_eq!(
        error,
        Error::PowerFailed {
            device: "backlight".into(),
            operation: "suspend",
            cause: Box::new(Error::driver("busy")),
        }
    );
    assert_eq!(
        log.take(),
        ["suspend:panel", "suspend-failed:backlight", "resume:panel"]
    );
    // Devices stay bound and usable.
    assert!(devices.iter().all(|device| device.is_bound()));
    drop((devices, driver));
    assert!(model.is_quiescent());
}

/// A rollback undoes only what the failing call did: devices an earlier `suspend_all`
/// left suspended stay suspended.
#[test]
fn a_rollback_keeps_what_an_earlier_suspend_did() {
    let log = Log::new();
    let (model, devices, driver) = triangle(&log, Some("backlight"));
    model.unbind(&devices[1]).unwrap(); // backlight, whose suspend fails
    model.suspend_all().unwrap();
    model.bind(&devices[1]).unwrap();
    log.take();
    assert!(matches!(
        model.suspend_all(),
        Err(Error::PowerFailed { ref device, .. }) if device == "backlight"
    ));
    assert_eq!(log.take(), ["suspend-failed:backlight"]);
    let suspended: Vec<bool> = devices.iter().map(|device| device.is_suspended()).collect();
    assert_eq!(suspended, [true, false, true], "panel, backlight, bridge");
    model.resume_all().unwrap();
    drop((devices, driver));
    assert!(model.is_quiescent());
}

#[test]
fn unbound_devices_are_skipped() {
    let log = Log::new();
    let (model, devices, driver) = triangle(&log, None);
    model.unbind(&devices[1]).unwrap(); // backlight
    log.take();
    model.suspend_all().unwrap();
    assert_eq!(log.take(), ["suspend:panel", "suspend:bridge"]);
    drop((devices, driver));
    assert!(model.is_quiescent());
}

/// The suspended flag: set by suspend, shown in the tree, cleared by resume and unbind;
/// a device bound while the others sleep is not resumed, a second suspend_all suspends
/// only what is new, and a rolled-back suspend leaves nothing suspended.
#[test]
fn the_suspended_state_is_tracked() {
    let log = Log::new();
    let (model, devices, driver) = triangle(&log, None);
    let names = |model: &drivermodel::DeviceModel| -> Vec<String> {
        model
            .devices()
            .iter()
            .filter(|device| device.is_suspended())
            .map(|device| device.name().to_string())
            .collect()
    };
    model.suspend_all().unwrap();
    log.take();
    assert_eq!(names(&model), ["bridge", "panel", "backlight"]);
    assert!(model.tree().contains(
        "/devices/test/bridge/panel bus=test driver=any devres=0 suppliers=backlight power=suspended\n"
    ));
    // Hotplug while asleep: bound, not suspended.
    let late = model.add_device(test_device("late", "x")).unwrap();
    assert!(late.is_bound() && !late.is_suspended());
    log.take();
    model.suspend_all().unwrap();
    assert_eq!(log.take(), ["suspend:late"], "only what is new");
    // Unbinding a suspended device clears the flag.
    model.unbind(&late).unwrap();
    assert!(!late.is_suspended());
    log.take();
    model.resume_all().unwrap();
    assert_eq!(
        log.take(),
        ["resume:bridge", "resume:backlight", "resume:panel"],
        "the unbound device is not resumed"
    );
    assert!(names(&model).is_empty());
    assert!(!model.tree().contains("power="));
    // Resuming what is awake does nothing.
    model.resume_all().unwrap();
    assert!(log.take().is_empty());
    drop((late, devices, driver));
    assert!(model.is_quiescent());

    // A failing suspend rolls back: nothing stays suspended.
    let log = Log::new();
    let (model, devices, driver) = triangle(&log, Some("bridge"));
    assert!(model.suspend_all().is_err());
    assert_eq!(
        log.take(),
        [
            "suspend:panel",
            "suspend:backlight",
            "suspend-failed:bridge",
            "resume:backlight",
            "resume:panel"
        ]
    );
    assert!(names(&model).is_empty());
    drop((devices, driver));
    assert!(model.is_quiescent());
}
