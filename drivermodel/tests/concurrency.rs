//! A small multi-threaded smoke test (the heavy stress test lives in `stress.rs`):
//! hotplug, driver register/unregister and explicit bind/unbind race; nothing deadlocks,
//! nothing leaks.

mod common;

use common::{Log, TestDriver, model, test_device};
use drivermodel::Devres;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const ROUNDS: usize = if cfg!(miri) { 4 } else { 200 };

#[test]
fn hotplug_and_driver_churn_race_without_leaks() {
    let model = model();
    let log = Log::default();
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
