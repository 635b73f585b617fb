//! A small multi-threaded smoke test (the heavy stress test lives in `stress.rs`):
//! hotplug, driver register/unregister and explicit bind/unbind race; nothing deadlocks,
//! nothing leaks.

mod common;

use common::{Log, TestDriver, model, test_device};
use drivermodel::Devres;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const ROUNDS: usize = if cfg!(miri) { 4 } else { 200 };

#[test]
fn hotplug_and_driver_churn_race_without_leaks() {
    let model = model();
    let log = Log::new();
    let probes = Arc::new(AtomicUsize::new(0));
    let values: Arc<Mutex<Vec<Devres<usize>>>> = Arc::default();
    let make_driver = {
        let (log, probes, values) = (log.clone(), probes.clone(), values.clone());
        move || {
            let (probes, values) = (probes.clone(), values.clone());
            TestDriver::exact("drv", "c", &log).with_probe(move |device, _, log| {
                let count = probes.fetch_add(1, Ordering::SeqCst);
                device.devres().add_action(log.action("a"))?;
                values.lock().unwrap().push(Devres::new(device, count)?);
                Ok(())
            })
        }
    };
    let mut threads = Vec::new();
    for thread in 0..2 {
        let model = model.clone();
        threads.push(std::thread::spawn(move || {
            for round in 0..ROUNDS {
                let device = model
                    .add_device(test_device(&format!("d{thread}-{round}"), "c"))
                    .unwrap();
                if round % 3 == 0 {
                    let _ = model.unbind(&device);
                    let _ = model.bind(&device);
                }
                drop(device);
            }
        }));
    }
    {
        let model = model.clone();
        let make_driver = make_driver.clone();
        threads.push(std::thread::spawn(move || {
            for _ in 0..ROUNDS / 2 {
                let registration = model.register_driver(make_driver()).unwrap();
                std::thread::yield_now();
                drop(registration);
            }
        }));
    }
    {
        let values = values.clone();
        threads.push(std::thread::spawn(move || {
            for _ in 0..ROUNDS {
                let snapshot: Vec<usize> = values
                    .lock()
                    .unwrap()
                    .iter()
                    .filter_map(|value| value.try_access().map(|guard| *guard))
                    .collect();
                drop(snapshot);
                std::thread::yield_now();
            }
        }));
    }
    for thread in threads {
        thread.join().unwrap();
    }
    // Every binding ended: every value was revoked.
    assert!(
        values
            .lock()
            .unwrap()
            .iter()
            .all(|value| value.is_revoked())
    );
    values.lock().unwrap().clear();
    assert!(model.is_quiescent(), "{:?}", model.counts());
    assert_eq!(model.counts().drivers, 0);
}

/// A driver whose probe takes a devres action, then blocks until released.
struct Gate {
    inside: Arc<AtomicBool>,
    leave: Arc<AtomicBool>,
}

impl Gate {
    fn new() -> Self {
        Self {
            inside: Arc::default(),
            leave: Arc::default(),
        }
    }

    fn driver(&self, log: &Log) -> TestDriver {
        let (inside, leave) = (self.inside.clone(), self.leave.clone());
        TestDriver::exact("slow", "c", log).with_probe(move |device, _, log| {
            device.devres().add_action(log.action("devres"))?;
            inside.store(true, Ordering::SeqCst);
            while !leave.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            Ok(())
        })
    }

    fn wait_inside(&self) {
        while !self.inside.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
    }

    /// Runs `operation` on a thread; checks it is still waiting while the probe is
    /// held, then lets the probe finish.
    fn check_waits(
        &self,
        operation: impl FnOnce() + Send + 'static,
    ) -> std::thread::JoinHandle<()> {
        let finished = Arc::new(AtomicBool::new(false));
        let finished_in_thread = finished.clone();
        let thread = std::thread::spawn(move || {
            operation();
            finished_in_thread.store(true, Ordering::SeqCst);
        });
        for _ in 0..200 {
            std::thread::yield_now();
        }
        assert!(
            !finished.load(Ordering::SeqCst),
            "did not wait for the probe"
        );
        self.leave.store(true, Ordering::SeqCst);
        thread
    }
}

const TEARDOWN: [&str; 4] = [
    "probe:slow:dev:0",
    "unbind:slow:dev:devres=1",
    "remove:slow:dev",
    "devres",
];

#[test]
fn driver_unregistration_waits_for_a_probe_in_flight() {
    let model = model();
    let log = Log::new();
    let gate = Gate::new();
    let driver = model.register_driver(gate.driver(&log)).unwrap();
    let adder = {
        let model = model.clone();
        std::thread::spawn(move || model.add_device(test_device("dev", "c")).unwrap())
    };
    gate.wait_inside();
    let device = model.find_device(Some(common::BUS), "dev").unwrap();
    assert!(matches!(
        model.unbind(&device),
        Err(drivermodel::Error::Busy { .. })
    ));
    let unregister = gate.check_waits(move || drop(driver));
    let registration = adder.join().unwrap();
    unregister.join().unwrap();
    assert!(!device.is_bound());
    assert_eq!(log.take(), TEARDOWN);
    drop((registration, device));
    assert!(model.is_quiescent(), "{:?}", model.counts());
}

#[test]
fn device_deletion_waits_for_a_probe_in_flight() {
    let model = model();
    let log = Log::new();
    let gate = Gate::new();
    let registration = model.add_device(test_device("dev", "c")).unwrap();
    let device = registration.device().clone();
    let registrar = {
        let model = model.clone();
        let driver = gate.driver(&log);
        std::thread::spawn(move || model.register_driver(driver).unwrap())
    };
    gate.wait_inside();
    let delete = gate.check_waits(move || drop(registration));
    let driver = registrar.join().unwrap();
    delete.join().unwrap();
    assert!(!device.is_registered() && !device.is_bound());
    assert_eq!(log.take(), TEARDOWN);
    drop((driver, device));
    assert!(model.is_quiescent(), "{:?}", model.counts());
}
