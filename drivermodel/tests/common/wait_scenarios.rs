//! One scenario per wait point of `drivermodel::wait`, shared by the wait-hook tests:
//! each makes a thread wait at its point, lets `waiting` say (from the installed hook)
//! when that thread is inside the wait, then ends the wait and joins.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use drivermodel::revocable::Revocable;
use drivermodel::wait::WaitPoint;

use crate::common::{Log, TestDriver, model, test_device};

fn wait_for(flag: &AtomicBool) {
    while !flag.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
}

/// A revocation waits for a reader in flight.
pub fn readers(waiting: &dyn Fn(WaitPoint) -> bool) {
    let value = Arc::new(Revocable::new(7u32));
    let (inside, leave) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let reader = {
        let (value, inside, leave) = (value.clone(), inside.clone(), leave.clone());
        std::thread::spawn(move || {
            let guard = value.try_access().expect("live");
            inside.store(true, Ordering::SeqCst);
            wait_for(&leave);
            assert_eq!(*guard, 7);
        })
    };
    wait_for(&inside);
    let revoker = {
        let value = value.clone();
        std::thread::spawn(move || value.revoke())
    };
    while !waiting(WaitPoint::Readers) {
        std::thread::yield_now();
    }
    leave.store(true, Ordering::SeqCst);
    reader.join().unwrap();
    assert!(revoker.join().unwrap());
}

/// A value whose drop blocks until told to finish.
struct SlowDrop {
    started: Arc<AtomicBool>,
    finish: Arc<AtomicBool>,
}

impl Drop for SlowDrop {
    fn drop(&mut self) {
        self.started.store(true, Ordering::SeqCst);
        wait_for(&self.finish);
    }
}

/// The loser of two racing revocations waits for the winner's drop.
pub fn revocation(waiting: &dyn Fn(WaitPoint) -> bool) {
    let (started, finish) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let value = Arc::new(Revocable::new(SlowDrop {
        started: started.clone(),
        finish: finish.clone(),
    }));
    let winner = {
        let value = value.clone();
        std::thread::spawn(move || value.revoke())
    };
    wait_for(&started);
    let loser = {
        let value = value.clone();
        std::thread::spawn(move || value.revoke())
    };
    while !waiting(WaitPoint::Revocation) {
        std::thread::yield_now();
    }
    finish.store(true, Ordering::SeqCst);
    assert!(winner.join().unwrap());
    assert!(!loser.join().unwrap());
}

/// A driver whose probe blocks until released.
fn gated_driver(log: &Log, inside: &Arc<AtomicBool>, leave: &Arc<AtomicBool>) -> TestDriver {
    let (inside, leave) = (inside.clone(), leave.clone());
    TestDriver::exact("slow", "c", log).with_probe(move |_, _, _| {
        inside.store(true, Ordering::SeqCst);
        wait_for(&leave);
        Ok(())
    })
}

/// A delete waits for a probe in flight (`Transition`), and `wait_for_probes` waits for
/// it too (`Probes`).
pub fn transition_and_probes(waiting: &dyn Fn(WaitPoint) -> bool) {
    let model = model();
    let log = Log::new();
    let (inside, leave) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let registration = model.add_device(test_device("dev", "c")).unwrap();
    let device = registration.device().clone();
    let registrar = {
        let (model, driver) = (model.clone(), gated_driver(&log, &inside, &leave));
        std::thread::spawn(move || model.register_driver(driver).unwrap())
    };
    wait_for(&inside);
    let waiter = {
        let model = model.clone();
        std::thread::spawn(move || model.wait_for_probes())
    };
    let deleter = std::thread::spawn(move || drop(registration));
    while !(waiting(WaitPoint::Transition) && waiting(WaitPoint::Probes)) {
        std::thread::yield_now();
    }
    leave.store(true, Ordering::SeqCst);
    let driver = registrar.join().unwrap();
    deleter.join().unwrap();
    waiter.join().unwrap();
    assert!(!device.is_registered() && !device.is_bound());
    drop((driver, device));
    assert!(model.is_quiescent(), "{:?}", model.counts());
}
