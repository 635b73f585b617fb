//! A bound driver's state from outside its callbacks (issue 10.6): `DriverData<T>` is
//! typed, fails cleanly once the binding ended, holds the unbind off while an access is
//! in flight, and keeps no device object alive.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::{Log, TestDriver, TestState, model, test_device};
use drivermodel::context::Core;
use drivermodel::testing::{TestBus, TestId};
use drivermodel::{Device, DeviceModel, Devres, Driver, DriverData, Error, IdEntry};

/// A driver whose state holds a `Devres`, and which hands a handle of its own binding
/// out of probe and tries it from probe and from suspend.
struct Sensor {
    table: [IdEntry<TestId, ()>; 1],
    log: Log,
    handle: Arc<Mutex<Option<DriverData<SensorState>>>>,
}

struct SensorState {
    registers: Devres<u32>,
    log: Log,
}

impl Drop for SensorState {
    fn drop(&mut self) {
        self.log.push("state dropped");
    }
}

/// What an access from a callback of the same binding gets.
fn try_handle(handle: &Mutex<Option<DriverData<SensorState>>>) -> String {
    let handle = handle.lock().unwrap();
    match handle.as_ref().map(|data| data.with(|_, _| ())) {
        Some(Ok(())) => "ok".into(),
        Some(Err(Error::Busy { .. })) => "busy".into(),
        other => format!("{other:?}"),
    }
}

impl Driver for Sensor {
    type Bus = TestBus;
    type IdInfo = ();
    type State = SensorState;

    fn name(&self) -> &str {
        "sensor"
    }

    fn id_table(&self) -> &[IdEntry<TestId, ()>] {
        &self.table
    }

    fn probe(&self, device: &Device<Core>, _: &()) -> drivermodel::Result<SensorState> {
        *self.handle.lock().unwrap() = Some(DriverData::of_binding(device)?);
        self.log
            .push(format!("access in probe: {}", try_handle(&self.handle)));
        Ok(SensorState {
            registers: Devres::new(device, 0x1234)?,
            log: self.log.clone(),
        })
    }

    fn unbind(&self, _device: &Device<Core>, _state: &mut SensorState) {
        self.log.push("unbind hook");
    }

    fn suspend(&self, _device: &Device<Core>, _state: &mut SensorState) -> drivermodel::Result<()> {
        self.log
            .push(format!("access in suspend: {}", try_handle(&self.handle)));
        Ok(())
    }
}

fn sensor(model: &DeviceModel) -> (drivermodel::driver::Registration<Sensor>, Log) {
    let log = Log::new();
    let driver = model
        .register_driver(Sensor {
            table: [IdEntry::new(TestId::exact("acme,sensor"), ())],
            log: log.clone(),
            handle: Arc::default(),
        })
        .unwrap();
    (driver, log)
}

#[test]
fn access_while_bound_sees_the_state_and_a_bound_proof() {
    let model = model();
    let (driver, log) = sensor(&model);
    let device = model
        .add_device(test_device("sensor0", "acme,sensor"))
        .unwrap();
    let data = DriverData::<SensorState>::of(&device).unwrap();
    assert!(data.is_bound());
    // The proof is real: `Devres::access` accepts it, no atomic operation needed.
    let value = data
        .with(|bound, state| *state.registers.access(bound).unwrap())
        .unwrap();
    assert_eq!(value, 0x1234);
    let name = data.with(|bound, _| bound.name().to_owned()).unwrap();
    assert_eq!(name, "sensor0");
    // The probe's own handle works once the probe has returned.
    let from_probe = driver.driver().handle.lock().unwrap().clone().unwrap();
    assert_eq!(
        from_probe.with(|_, state| state.registers.is_revoked()),
        Ok(false)
    );
    assert_eq!(log.take(), ["access in probe: busy"]);
    drop(device);
    drop(driver);
    drivermodel::testing::assert_quiescent(&model);
}

#[test]
fn after_unbind_or_delete_an_access_fails_cleanly() {
    let model = model();
    let (driver, _log) = sensor(&model);
    let device = model
        .add_device(test_device("sensor0", "acme,sensor"))
        .unwrap();
    let data = DriverData::<SensorState>::of(&device).unwrap();
    model.unbind(&device).unwrap();
    assert!(!data.is_bound());
    assert_eq!(
        data.with(|_, _| ()),
        Err(Error::NotBound {
            device: "sensor0".into()
        })
    );
    assert!(matches!(
        DriverData::<SensorState>::of(&device),
        Err(Error::NotBound { .. })
    ));
    // A new binding is another binding: the old handle never reaches it.
    model.bind(&device).unwrap();
    assert!(matches!(data.with(|_, _| ()), Err(Error::NotBound { .. })));
    let again = DriverData::<SensorState>::of(&device).unwrap();
    assert_eq!(again.with(|_, _| "ok"), Ok("ok"));
    // Delete: the binding ends with the device.
    drop(device);
    assert!(matches!(again.with(|_, _| ()), Err(Error::NotBound { .. })));
    // Unregistering the driver ends the binding too.
    let device = model
        .add_device(test_device("sensor1", "acme,sensor"))
        .unwrap();
    let third = DriverData::<SensorState>::of(&device).unwrap();
    drop(driver);
    assert!(matches!(third.with(|_, _| ()), Err(Error::NotBound { .. })));
    drop(device);
    drivermodel::testing::assert_quiescent(&model);
}

#[test]
fn a_wrong_type_is_an_error_naming_both_types() {
    let model = model();
    let (driver, _log) = sensor(&model);
    let device = model
        .add_device(test_device("sensor0", "acme,sensor"))
        .unwrap();
    let error = DriverData::<u32>::of(&device).unwrap_err();
    let Error::WrongType {
        device: name,
        expected,
        requested,
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(name, "sensor0");
    assert!(expected.ends_with("SensorState"), "{expected}");
    assert_eq!(*requested, "u32");
    assert!(
        error.to_string().contains("SensorState, not u32"),
        "{error}"
    );
    // Unbound devices: not bound, whatever the type.
    let lonely = model.add_device(test_device("lonely", "none")).unwrap();
    assert!(matches!(
        DriverData::<u32>::of(&lonely),
        Err(Error::NotBound { .. })
    ));
    drop((lonely, device, driver));
}

#[test]
fn an_access_is_busy_while_a_power_callback_has_the_state() {
    let model = model();
    let (driver, log) = sensor(&model);
    let device = model
        .add_device(test_device("sensor0", "acme,sensor"))
        .unwrap();
    log.take();
    model.suspend_all().unwrap();
    assert_eq!(log.take(), ["access in suspend: busy"]);
    // Back from the callback: open again.
    let data = driver.driver().handle.lock().unwrap().clone().unwrap();
    assert_eq!(data.with(|_, _| 1), Ok(1));
    model.resume_all().unwrap();
    drop((device, driver));
}

#[test]
fn a_handle_keeps_no_device_object_alive() {
    let model = model();
    let log = Log::new();
    let driver = model
        .register_driver(TestDriver::exact("drv", "c", &log))
        .unwrap();
    let released = Arc::new(AtomicBool::new(false));
    let device = {
        let released = released.clone();
        model
            .add_device(test_device("dev", "c").on_release(move || {
                released.store(true, Ordering::SeqCst);
            }))
            .unwrap()
    };
    let data = DriverData::<TestState>::of(&device).unwrap();
    let copy = data.clone();
    drop(device);
    // The object is freed (release hook ran) while both handles still exist.
    assert!(released.load(Ordering::SeqCst));
    assert_eq!(model.counts().devices, 0);
    assert!(matches!(copy.with(|_, _| ()), Err(Error::NotBound { .. })));
    assert!(format!("{data:?}").contains("bound: false"), "{data:?}");
    drop(driver);
    drivermodel::testing::assert_counts_zero(&model);
}

fn wait_for(flag: &AtomicBool) {
    while !flag.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
}

#[test]
fn unbind_waits_for_an_access_in_flight() {
    let model = model();
    let log = Log::new();
    let driver = model
        .register_driver(TestDriver::exact("drv", "c", &log))
        .unwrap();
    let device = model.add_device(test_device("dev", "c")).unwrap();
    log.take();
    let data = DriverData::<TestState>::of(&device).unwrap();
    let inside = Arc::new(AtomicBool::new(false));
    let finish = Arc::new(AtomicBool::new(false));
    let reader = {
        let (data, inside, finish, log) =
            (data.clone(), inside.clone(), finish.clone(), log.clone());
        std::thread::spawn(move || {
            data.with(|bound, state| {
                inside.store(true, Ordering::SeqCst);
                wait_for(&finish);
                assert_eq!(bound.name(), "dev");
                log.push(format!("access ended, state {}", state.remove_entry()));
            })
        })
    };
    wait_for(&inside);
    let unbind_returned = Arc::new(AtomicBool::new(false));
    let unbinder = {
        let (model, device, log) = (model.clone(), device.device().clone(), log.clone());
        let unbind_returned = unbind_returned.clone();
        std::thread::spawn(move || {
            model.unbind(&device).unwrap();
            log.push("unbind returned");
            unbind_returned.store(true, Ordering::SeqCst);
        })
    };
    // The unbinder is running: new accesses are refused, the binding is ending...
    while data.is_bound() {
        std::thread::yield_now();
    }
    for _ in 0..200 {
        std::thread::yield_now();
    }
    // ...but neither the unbind hook nor the state's drop ran under the access.
    let early = log.snapshot();
    let returned_early = unbind_returned.load(Ordering::SeqCst);
    finish.store(true, Ordering::SeqCst);
    assert!(early.is_empty(), "{early:?}");
    assert!(!returned_early);
    assert_eq!(reader.join().unwrap(), Ok(()));
    unbinder.join().unwrap();
    assert_eq!(
        log.take(),
        [
            "access ended, state remove:drv:dev",
            "unbind:drv:dev:devres=0",
            "remove:drv:dev",
            "unbind returned"
        ]
    );
    assert!(matches!(data.with(|_, _| ()), Err(Error::NotBound { .. })));
    drop((device, driver));
    drivermodel::testing::assert_quiescent(&model);
}

#[test]
fn accesses_racing_a_delete_either_run_bound_or_fail() {
    let model = model();
    let log = Log::new();
    let driver = model
        .register_driver(TestDriver::exact("drv", "c", &log))
        .unwrap();
    let device = model.add_device(test_device("dev", "c")).unwrap();
    let data = DriverData::<TestState>::of(&device).unwrap();
    let reader = std::thread::spawn(move || {
        let mut ran = 0;
        loop {
            // The state is never seen dropped (its entry is taken by its drop).
            match data.with(|_, state| assert_eq!(state.remove_entry(), "remove:drv:dev")) {
                Ok(()) => ran += 1,
                Err(Error::NotBound { .. }) => return ran,
                Err(other) => panic!("{other:?}"),
            }
            std::thread::yield_now();
        }
    });
    std::thread::yield_now();
    drop(device);
    reader.join().unwrap();
    drop(driver);
    drivermodel::testing::assert_quiescent(&model);
}
