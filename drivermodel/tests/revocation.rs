//! Revocation is finished before unbind returns, whoever drops the `Devres` (issue 10.1):
//! a `Devres` dropped on one thread while another ends its binding makes both sides wait
//! for the value's drop to complete.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use common::{Log, TestDriver, model, test_device};
use drivermodel::{DeviceModel, Devres, device};

/// A value whose drop says it started, then blocks until told to finish, then logs.
struct SlowDrop {
    log: Log,
    started: Arc<AtomicBool>,
    finish: Arc<AtomicBool>,
}

impl Drop for SlowDrop {
    fn drop(&mut self) {
        self.started.store(true, Ordering::SeqCst);
        while !self.finish.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        self.log.push("value dropped");
    }
}

struct Fixture {
    model: DeviceModel,
    log: Log,
    started: Arc<AtomicBool>,
    finish: Arc<AtomicBool>,
    devres: Option<Devres<SlowDrop>>,
    registration: device::Registration,
    _driver: drivermodel::driver::Registration<TestDriver>,
}

/// A bound device whose probe made one `Devres<SlowDrop>`, handed out here.
fn bound_with_devres() -> Fixture {
    let model = model();
    let log = Log::new();
    let started = Arc::new(AtomicBool::new(false));
    let finish = Arc::new(AtomicBool::new(false));
    let slot: Arc<Mutex<Option<Devres<SlowDrop>>>> = Arc::default();
    let driver = {
        let (slot, started, finish) = (slot.clone(), started.clone(), finish.clone());
        TestDriver::exact("drv", "c", &log).with_probe(move |device, _, log| {
            let value = SlowDrop {
                log: log.clone(),
                started: started.clone(),
                finish: finish.clone(),
            };
            *slot.lock().unwrap() = Some(Devres::new(device, value)?);
            Ok(())
        })
    };
    let driver = model.register_driver(driver).unwrap();
    let registration = model.add_device(test_device("dev", "c")).unwrap();
    assert!(registration.is_bound());
    let devres = slot.lock().unwrap().take();
    assert!(devres.is_some());
    log.take();
    Fixture {
        model,
        log,
        started,
        finish,
        devres,
        registration,
        _driver: driver,
    }
}

fn wait_for(flag: &AtomicBool) {
    while !flag.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
}

/// Runs `operation` on a thread that logs `done` when it returns; checks that it has
/// not returned after the other thread had plenty of time, then lets the drop finish.
fn check_waits(
    fixture: &Fixture,
    done: &'static str,
    operation: impl FnOnce() + Send + 'static,
) -> JoinHandle<()> {
    check_waits_with(&fixture.log, &fixture.finish, done, operation)
}

fn check_waits_with(
    log: &Log,
    finish: &AtomicBool,
    done: &'static str,
    operation: impl FnOnce() + Send + 'static,
) -> JoinHandle<()> {
    let returned = Arc::new(AtomicBool::new(false));
    let thread = {
        let (returned, log) = (returned.clone(), log.clone());
        std::thread::spawn(move || {
            operation();
            log.push(done);
            returned.store(true, Ordering::SeqCst);
        })
    };
    for _ in 0..200 {
        std::thread::yield_now();
    }
    let returned_early = returned.load(Ordering::SeqCst);
    // Unblock the drop first, so that a failure does not hang the test.
    finish.store(true, Ordering::SeqCst);
    assert!(!returned_early, "{done} before the value's drop finished");
    thread
}

/// The log without the test driver's own entries.
fn events(log: &Log) -> Vec<String> {
    log.take()
        .into_iter()
        .filter(|entry| !entry.starts_with("unbind:") && !entry.starts_with("remove:"))
        .collect()
}

#[test]
fn unbind_returns_only_after_a_racing_devres_drop_finished() {
    let mut fixture = bound_with_devres();
    let devres = fixture.devres.take();
    // The drop wins the revocation and blocks inside `SlowDrop::drop`.
    let dropper = std::thread::spawn(move || drop(devres));
    wait_for(&fixture.started);
    let unbinder = {
        let model = fixture.model.clone();
        let device = fixture.registration.device().clone();
        check_waits(&fixture, "unbind returned", move || {
            model.unbind(&device).unwrap();
        })
    };
    dropper.join().unwrap();
    unbinder.join().unwrap();
    assert_eq!(events(&fixture.log), ["value dropped", "unbind returned"]);
    let Fixture {
        model,
        registration,
        _driver,
        ..
    } = fixture;
    drop((registration, _driver));
    assert!(model.is_quiescent(), "{:?}", model.counts());
}

#[test]
fn delete_returns_only_after_a_racing_devres_drop_finished() {
    let Fixture {
        model,
        log,
        started,
        finish,
        devres,
        registration,
        _driver,
    } = bound_with_devres();
    let dropper = std::thread::spawn(move || drop(devres));
    wait_for(&started);
    let device = registration.device().clone();
    let deleter = check_waits_with(&log, &finish, "delete returned", move || {
        drop(registration);
    });
    dropper.join().unwrap();
    deleter.join().unwrap();
    assert!(!device.is_registered());
    assert_eq!(events(&log), ["value dropped", "delete returned"]);
    drop((device, _driver));
    assert!(model.is_quiescent(), "{:?}", model.counts());
}

#[test]
fn devres_drop_returns_only_after_a_racing_unbind_released_it() {
    let mut fixture = bound_with_devres();
    // The unbind wins the revocation and blocks inside `SlowDrop::drop`.
    let unbinder = {
        let model = fixture.model.clone();
        let device = fixture.registration.device().clone();
        let log = fixture.log.clone();
        std::thread::spawn(move || {
            model.unbind(&device).unwrap();
            log.push("unbind returned");
        })
    };
    wait_for(&fixture.started);
    let devres = fixture.devres.take();
    let dropper = check_waits(&fixture, "devres dropped", move || drop(devres));
    dropper.join().unwrap();
    unbinder.join().unwrap();
    let events = events(&fixture.log);
    assert_eq!(events[0], "value dropped", "{events:?}");
    assert_eq!(events.len(), 3, "{events:?}");
    let Fixture {
        model,
        registration,
        _driver,
        ..
    } = fixture;
    drop((registration, _driver));
    assert!(model.is_quiescent(), "{:?}", model.counts());
}
