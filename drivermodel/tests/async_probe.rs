//! Asynchronous probe (issue 14): the semantics of Linux's `test_async_driver_probe`,
//! with host threads or a hand-run queue as the kernel's executor, and a parking wait
//! hook that shows which wait each blocked thread is in. Waits for queued works help:
//! `wait_for_probes` and `wait_for_probe` run the queued works themselves, deletes and
//! unregistrations cancel them; each work is claimed exactly once.
//!
//! The wait hook is global, so the tests take turns (`setup`): a thread seen parked at
//! a wait point is one of the running test's.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once};
use std::thread::JoinHandle;

use drivermodel::async_probe::{Executor, Work};
use drivermodel::driver::ProbeType;
use drivermodel::event::EventKind;
use drivermodel::testing::assert_quiescent;
use drivermodel::wait::{self, Channel, WaitHook, WaitPoint};
use drivermodel::{DeviceModel, Error, faux};

use common::{Log, TestDriver, model, test_device};

// ---- executors -------------------------------------------------------------------

/// Keeps every work until the test runs them.
#[derive(Default)]
struct Queue(Mutex<Vec<Work>>);

impl Executor for Queue {
    fn spawn(&self, work: Work) -> Result<(), Work> {
        self.0.lock().unwrap().push(work);
        Ok(())
    }
}

impl Queue {
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// Runs the queued works (and any they queue), outside the lock; how many ran.
    fn run_all(&self) -> usize {
        let mut ran = 0;
        loop {
            let works = std::mem::take(&mut *self.0.lock().unwrap());
            if works.is_empty() {
                return ran;
            }
            ran += works.len();
            works.into_iter().for_each(Work::run);
        }
    }
}

/// One thread per work.
#[derive(Default)]
struct Threads(Mutex<Vec<JoinHandle<()>>>);

impl Executor for Threads {
    fn spawn(&self, work: Work) -> Result<(), Work> {
        self.0
            .lock()
            .unwrap()
            .push(std::thread::spawn(move || work.run()));
        Ok(())
    }
}

impl Threads {
    fn join(&self) {
        let handles = std::mem::take(&mut *self.0.lock().unwrap());
        for handle in handles {
            handle.join().unwrap();
        }
    }
}

/// Gives every work back.
struct Refusing;

impl Executor for Refusing {
    fn spawn(&self, work: Work) -> Result<(), Work> {
        Err(work)
    }
}

/// Leaves every work in the model's queue (an executor that only wakes a thread to run
/// `run_queued_probes`; here nobody is woken: the waiters and the test run them).
struct Leaving(AtomicUsize);

impl Executor for Leaving {
    fn spawn(&self, work: Work) -> Result<(), Work> {
        self.0.fetch_add(1, Ordering::SeqCst);
        work.leave_queued();
        Ok(())
    }
}

/// Accepts every work and drops it (an executor shutting down).
struct Dropping(AtomicUsize);

impl Executor for Dropping {
    fn spawn(&self, work: Work) -> Result<(), Work> {
        self.0.fetch_add(1, Ordering::SeqCst);
        drop(work);
        Ok(())
    }
}

// ---- the wait hook ---------------------------------------------------------------

/// Parks waiters on a condition variable with an event count; counts who is parked.
struct Parking {
    state: Mutex<HookState>,
    woken: Condvar,
}

struct HookState {
    wakes: u64,
    /// Threads parked now at `Transition` and `Probes`.
    parked: [usize; 2],
    /// Waits so far at `Transition` and `Probes`.
    waits: [usize; 2],
}

fn slot(point: WaitPoint) -> Option<usize> {
    match point {
        WaitPoint::Transition => Some(0),
        WaitPoint::Probes => Some(1),
        _ => None,
    }
}

impl WaitHook for Parking {
    fn prepare(&self, _channel: Channel) -> u64 {
        self.state.lock().unwrap().wakes
    }

    fn wait(&self, channel: Channel, ticket: u64) {
        let mut state = self.state.lock().unwrap();
        let slot = slot(channel.point);
        if let Some(slot) = slot {
            state.parked[slot] += 1;
            state.waits[slot] += 1;
        }
        while state.wakes == ticket {
            state = self.woken.wait(state).unwrap();
        }
        if let Some(slot) = slot {
            state.parked[slot] -= 1;
        }
    }

    fn wake(&self, _channel: Channel) {
        self.state.lock().unwrap().wakes += 1;
        self.woken.notify_all();
    }
}

static HOOK: Parking = Parking {
    state: Mutex::new(HookState {
        wakes: 0,
        parked: [0; 2],
        waits: [0; 2],
    }),
    woken: Condvar::new(),
};

static SERIAL: Mutex<()> = Mutex::new(());

/// Installs the hook (once) and takes this test's turn.
fn setup() -> MutexGuard<'static, ()> {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| assert!(wait::set_hook(&HOOK)));
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Yields until a thread is parked in the hook at `point`.
fn until_parked(point: WaitPoint) {
    let slot = slot(point).unwrap();
    while HOOK.state.lock().unwrap().parked[slot] == 0 {
        std::thread::yield_now();
    }
}

fn waits(point: WaitPoint) -> usize {
    HOOK.state.lock().unwrap().waits[slot(point).unwrap()]
}

/// Yields until `done` is set or a thread parks in the hook at `point`; whether it was
/// set first. A wait that helps (or cancels) finishes without parking; one that waits
/// for the test's own queue parks (the old rule), and the test then runs the queue to
/// let it go before failing.
fn finished_without_parking(point: WaitPoint, done: &AtomicBool) -> bool {
    let slot = slot(point).unwrap();
    loop {
        if done.load(Ordering::SeqCst) {
            return true;
        }
        if HOOK.state.lock().unwrap().parked[slot] > 0 {
            return done.load(Ordering::SeqCst);
        }
        std::thread::yield_now();
    }
}

/// Runs `action` on a new thread; the flag is set when it returns.
fn on_thread<T: Send + 'static>(
    action: impl FnOnce() -> T + Send + 'static,
) -> (JoinHandle<T>, Arc<AtomicBool>) {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let handle = std::thread::spawn(move || {
        let result = action();
        flag.store(true, Ordering::SeqCst);
        result
    });
    (handle, done)
}

// ---- helpers ---------------------------------------------------------------------

/// A gate a probe waits at until the test opens it.
#[derive(Clone, Default)]
struct Gate {
    inside: Arc<AtomicUsize>,
    open: Arc<AtomicBool>,
}

impl Gate {
    fn pass(&self) {
        self.inside.fetch_add(1, Ordering::SeqCst);
        while !self.open.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
    }

    fn until_inside(&self, count: usize) {
        while self.inside.load(Ordering::SeqCst) < count {
            std::thread::yield_now();
        }
    }

    fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

fn asynchronous(name: &str, compatible: &str, log: &Log) -> TestDriver {
    TestDriver::exact(name, compatible, log).with_probe_type(ProbeType::Asynchronous)
}

fn gated(name: &str, compatible: &str, log: &Log, gate: &Gate) -> TestDriver {
    let gate = gate.clone();
    asynchronous(name, compatible, log).with_probe(move |_, _, _| {
        gate.pass();
        Ok(())
    })
}

fn with_queue(model: &DeviceModel) -> Arc<Queue> {
    let queue = Arc::new(Queue::default());
    model.set_executor(Some(queue.clone()));
    queue
}

fn with_threads(model: &DeviceModel) -> Arc<Threads> {
    let threads = Arc::new(Threads::default());
    model.set_executor(Some(threads.clone()));
    threads
}

fn add(model: &DeviceModel, name: &str, compatible: &str) -> drivermodel::device::Registration {
    model.add_device(test_device(name, compatible)).unwrap()
}

// ---- registration and add return at once ------------------------------------------

#[test]
fn registering_an_async_driver_returns_before_its_probes() {
    let _turn = setup();
    let model = model();
    let log = Log::default();
    let queue = with_queue(&model);
    let devices: Vec<_> = (0..3)
        .map(|index| add(&model, &format!("dev{index}"), "c"))
        .collect();
    let driver = model
        .register_driver(asynchronous("drv", "c", &log))
        .unwrap();
    assert_eq!(queue.len(), 3, "one work per matching device");
    assert!(
        log.take().is_empty(),
        "no probe ran during the registration"
    );
    assert!(devices.iter().all(|device| !device.is_bound()));
    assert_eq!(queue.run_all(), 3);
    assert!(devices.iter().all(|device| device.is_bound()));
    assert_eq!(
        log.take(),
        ["probe:drv:dev0:0", "probe:drv:dev1:0", "probe:drv:dev2:0"]
    );
    drop((devices, driver));
    model.wait_for_probes();
    assert_quiescent(&model);
}

#[test]
fn adding_a_device_that_binds_asynchronously_returns_before_its_probe() {
    let _turn = setup();
    let model = model();
    let log = Log::default();
    let queue = with_queue(&model);
    let driver = model
        .register_driver(asynchronous("drv", "c", &log))
        .unwrap();
    assert_eq!(queue.len(), 0, "no device yet");
    let device = add(&model, "dev", "c");
    assert_eq!(queue.len(), 1);
    assert!(!device.is_bound() && log.take().is_empty());
    assert_eq!(queue.run_all(), 1);
    assert_eq!(device.driver_name().as_deref(), Some("drv"));
    assert_eq!(log.take(), ["probe:drv:dev:0"]);
    drop((device, driver));
    assert_quiescent(&model);
}

/// On real threads: the registration returns while every probe is still blocked.
#[test]
fn async_probes_run_in_parallel_on_the_executor_threads() {
    let _turn = setup();
    let model = model();
    let log = Log::default();
    let threads = with_threads(&model);
    let gate = Gate::default();
    let count = if cfg!(miri) { 3 } else { 8 };
    let devices: Vec<_> = (0..count)
        .map(|index| add(&model, &format!("dev{index}"), "c"))
        .collect();
    let driver = model
        .register_driver(gated("drv", "c", &log, &gate))
        .unwrap();
    // Returned: and every probe is inside at once, so they run in parallel.
    gate.until_inside(count);
    assert!(devices.iter().all(|device| !device.is_bound()));
    gate.open();
    model.wait_for_probes();
    assert!(devices.iter().all(|device| device.is_bound()));
    threads.join();
    drop((devices, driver));
    assert_quiescent(&model);
}

// ---- who probes synchronously ------------------------------------------------------

#[test]
fn synchronous_drivers_and_the_default_policy_probe_on_the_calling_thread() {
    let _turn = setup();
    let model = model();
    let log = Log::default();
    let queue = with_queue(&model);
    let sync = model
        .register_driver(
            TestDriver::exact("sync", "s", &log).with_probe_type(ProbeType::Synchronous),
        )
        .unwrap();
    let default = model
        .register_driver(TestDriver::exact("default", "d", &log))
        .unwrap();
    let (s0, d0) = (add(&model, "s0", "s"), add(&model, "d0", "d"));
    assert!(
        s0.is_bound() && d0.is_bound(),
        "the initial policy is synchronous"
    );
    assert_eq!(queue.len(), 0);

    model.set_default_probe_type(ProbeType::Asynchronous);
    let (s1, d1) = (add(&model, "s1", "s"), add(&model, "d1", "d"));
    assert!(
        s1.is_bound(),
        "a synchronous driver ignores the default policy"
    );
    assert!(
        !d1.is_bound() && queue.len() == 1,
        "Default follows the policy"
    );
    queue.run_all();
    assert!(d1.is_bound());

    // The debug option forces every driver, both ways.
    model.force_probe_type(ProbeType::Asynchronous);
    let s2 = add(&model, "s2", "s");
    assert!(!s2.is_bound() && queue.len() == 1);
    queue.run_all();
    model.force_probe_type(ProbeType::Synchronous);
    let late = model
        .register_driver(asynchronous("late", "l", &log))
        .unwrap();
    let l0 = add(&model, "l0", "l");
    assert!(l0.is_bound() && queue.len() == 0);
    model.force_probe_type(ProbeType::Default);
    let l1 = add(&model, "l1", "l");
    assert!(!l1.is_bound() && queue.len() == 1);
    queue.run_all();

    // Explicit binds and faux devices always probe here.
    model.unbind(&l1).unwrap();
    model.bind(&l1).unwrap();
    assert!(l1.is_bound() && queue.len() == 0);
    model.force_probe_type(ProbeType::Asynchronous);
    let virtual0 = faux::Registration::new(&model, "virtual0", None).unwrap();
    assert!(virtual0.device().is_bound() && queue.len() == 0);

    drop((s0, s1, s2, d0, d1, l0, l1, virtual0, sync, default, late));
    assert_quiescent(&model);
}

#[test]
fn without_an_executor_everything_probes_synchronously() {
    let _turn = setup();
    let model = model();
    let log = Log::default();
    let driver = model
        .register_driver(asynchronous("drv", "c", &log))
        .unwrap();
    let first = add(&model, "first", "c");
    assert!(first.is_bound(), "no executor: synchronous");
    let queue = with_queue(&model);
    model.set_executor(None);
    let second = add(&model, "second", "c");
    assert!(second.is_bound() && queue.len() == 0, "executor removed");
    drop((first, second, driver));
    assert_quiescent(&model);
}

#[test]
fn a_refused_work_runs_at_once_and_a_dropped_one_cancels_its_probe() {
    let _turn = setup();
    let model = model();
    let log = Log::default();
    model.set_executor(Some(Arc::new(Refusing)));
    let driver = model
        .register_driver(asynchronous("drv", "c", &log))
        .unwrap();
    let refused = add(&model, "refused", "c");
    assert!(refused.is_bound(), "given back: run on the calling thread");
    let dropping = Arc::new(Dropping(AtomicUsize::new(0)));
    model.set_executor(Some(dropping.clone()));
    let dropped = add(&model, "dropped", "c");
    assert_eq!(dropping.0.load(Ordering::SeqCst), 1);
    assert!(!dropped.is_bound(), "a dropped work is a cancelled probe");
    model.wait_for_probes(); // counts it as done
    assert_eq!(log.take(), ["probe:drv:refused:0"]);
    drop((refused, dropped, driver));
    assert_quiescent(&model);
}

// ---- unregister and delete -------------------------------------------------------

/// A leaving driver's queued works are cancelled: the unregistration does not wait for
/// them (on a single-queue executor, a work that unregisters a driver whose works queue
/// behind it would wait for itself), and they never call the driver.
#[test]
fn driver_unregister_cancels_its_queued_probes_and_does_not_wait() {
    let _turn = setup();
    let model = model();
    let log = Log::default();
    let queue = with_queue(&model);
    let devices: Vec<_> = (0..2)
        .map(|index| add(&model, &format!("dev{index}"), "c"))
        .collect();
    let driver = model
        .register_driver(asynchronous("drv", "c", &log))
        .unwrap();
    assert_eq!(queue.len(), 2);
    let before = waits(WaitPoint::Probes);
    let (unregister, done) = on_thread(move || drop(driver));
    let cancelled = finished_without_parking(WaitPoint::Probes, &done);
    if !cancelled {
        queue.run_all();
    }
    unregister.join().unwrap();
    assert!(cancelled, "the unregistration waited for its queued works");
    assert_eq!(waits(WaitPoint::Probes), before, "it never waited");
    assert_eq!(queue.run_all(), 2, "the executor still holds both works");
    assert!(log.take().is_empty(), "the leaving driver was never called");
    assert!(devices.iter().all(|device| !device.is_bound()));
    drop(devices);
    assert_quiescent(&model);
}

#[test]
fn driver_unregister_waits_for_an_async_probe_in_flight() {
    let _turn = setup();
    let model = model();
    let log = Log::default();
    let threads = with_threads(&model);
    let gate = Gate::default();
    let device = add(&model, "dev", "c");
    let driver = model
        .register_driver(gated("drv", "c", &log, &gate))
        .unwrap();
    gate.until_inside(1);
    let unregister = std::thread::spawn(move || drop(driver));
    until_parked(WaitPoint::Probes);
    gate.open();
    unregister.join().unwrap();
    assert!(!device.is_bound());
    assert_eq!(
        log.take(),
        [
            "probe:drv:dev:0",
            "unbind:drv:dev:devres=0",
            "remove:drv:dev"
        ],
        "the probe finished, then the unregistration unbound it"
    );
    threads.join();
    drop(device);
    assert_quiescent(&model);
}

#[test]
fn device_delete_waits_for_an_async_probe_in_flight() {
    let _turn = setup();
    let model = model();
    let log = Log::default();
    let threads = with_threads(&model);
    let gate = Gate::default();
    let driver = model
        .register_driver(gated("drv", "c", &log, &gate))
        .unwrap();
    let device = add(&model, "dev", "c");
    gate.until_inside(1);
    let object = device.device().clone();
    let delete = std::thread::spawn(move || drop(device));
    until_parked(WaitPoint::Transition);
    gate.open();
    delete.join().unwrap();
    assert!(!object.is_registered() && !object.is_bound());
    assert_eq!(
        log.take(),
        [
            "probe:drv:dev:0",
            "unbind:drv:dev:devres=0",
            "remove:drv:dev"
        ]
    );
    threads.join();
    drop((object, driver));
    assert_quiescent(&model);
}

#[test]
fn a_pending_async_attach_skips_a_device_deleted_meanwhile() {
    let _turn = setup();
    let model = model();
    let log = Log::default();
    let queue = with_queue(&model);
    let driver = model
        .register_driver(asynchronous("drv", "c", &log))
        .unwrap();
    let device = add(&model, "dev", "c");
    assert_eq!(queue.len(), 1);
    drop(device);
    let counts = model.counts();
    assert_eq!(counts.registered_devices, 0, "the delete did not wait");
    assert_eq!(
        counts.devices, 0,
        "the delete cancelled the queued work, which let go of the object"
    );
    assert_eq!(queue.run_all(), 1);
    assert!(log.take().is_empty(), "no probe of a deleted device");
    drop(driver);
    assert_quiescent(&model);
}

#[test]
fn a_queued_registration_probe_skips_a_device_deleted_meanwhile() {
    let _turn = setup();
    let model = model();
    let log = Log::default();
    let queue = with_queue(&model);
    let device = add(&model, "dev", "c");
    let driver = model
        .register_driver(asynchronous("drv", "c", &log))
        .unwrap();
    assert_eq!(queue.len(), 1);
    drop(device);
    assert_eq!(model.counts().devices, 0, "cancelled by the delete");
    assert_eq!(queue.run_all(), 1);
    assert!(log.take().is_empty());
    drop(driver);
    assert_quiescent(&model);
}

/// A device's queued attach is not tied to one driver: an unregistration does not wait
/// for it, and when it runs it finds that driver gone (and binds the next match).
#[test]
fn a_pending_async_attach_skips_a_driver_unregistered_meanwhile() {
    let _turn = setup();
    let model = model();
    let log = Log::default();
    let queue = with_queue(&model);
    let driver = model
        .register_driver(asynchronous("drv", "c", &log))
        .unwrap();
    let device = add(&model, "dev", "c");
    assert_eq!(queue.len(), 1);
    drop(driver); // does not wait for the device's attach
    let fallback = model
        .register_driver(
            TestDriver::new(
                "fallback",
                vec![drivermodel::IdEntry::new(
                    drivermodel::testing::TestId::Prefix("c".into()),
                    1,
                )],
                &log,
            )
            .with_probe_type(ProbeType::Asynchronous),
        )
        .unwrap();
    assert_eq!(queue.len(), 2, "the registration queued its own probe");
    assert_eq!(queue.run_all(), 2);
    assert_eq!(device.driver_name().as_deref(), Some("fallback"));
    assert_eq!(log.take(), ["probe:fallback:dev:1"], "drv never probed");
    drop((device, fallback));
    assert_quiescent(&model);
}

// ---- wait_for_probes and deferred probe ----------------------------------------------

/// `wait_for_probes` runs the queued works itself instead of waiting for an executor
/// (which may be the waiting thread's own queue); the executor's copies then do nothing.
#[test]
fn wait_for_probes_runs_the_queued_probes_itself() {
    let _turn = setup();
    let model = model();
    let log = Log::default();
    let queue = with_queue(&model);
    let driver = model
        .register_driver(asynchronous("drv", "c", &log))
        .unwrap();
    let devices: Vec<_> = (0..3)
        .map(|index| add(&model, &format!("dev{index}"), "c"))
        .collect();
    let (waiter, done) = {
        let model = model.clone();
        on_thread(move || model.wait_for_probes())
    };
    let helped = finished_without_parking(WaitPoint::Probes, &done);
    if !helped {
        queue.run_all();
    }
    waiter.join().unwrap();
    assert!(
        helped,
        "wait_for_probes waited for the queue instead of running it"
    );
    assert!(devices.iter().all(|device| device.is_bound()));
    assert_eq!(queue.run_all(), 3, "the executor still holds the works");
    assert_eq!(
        log.take(),
        ["probe:drv:dev0:0", "probe:drv:dev1:0", "probe:drv:dev2:0"],
        "oldest first, each once"
    );
    drop((devices, driver));
    assert_quiescent(&model);
}

#[test]
fn wait_for_probes_waits_for_running_async_probes() {
    let _turn = setup();
    let model = model();
    let log = Log::default();
    let threads = with_threads(&model);
    let gate = Gate::default();
    let driver = model
        .register_driver(gated("drv", "c", &log, &gate))
        .unwrap();
    let devices: Vec<_> = (0..3)
        .map(|index| add(&model, &format!("dev{index}"), "c"))
        .collect();
    gate.until_inside(3);
    let waiter = {
        let model = model.clone();
        std::thread::spawn(move || model.wait_for_probes())
    };
    until_parked(WaitPoint::Probes);
    gate.open();
    waiter.join().unwrap();
    // It returned: so every probe had finished.
    assert!(devices.iter().all(|device| device.is_bound()));
    threads.join();
    drop((devices, driver));
    assert_quiescent(&model);
}

/// `wait_for_probe` of one device runs that device's queued attach itself, and not the
/// works of other devices.
#[test]
fn wait_for_probe_runs_only_the_devices_queued_probe() {
    let _turn = setup();
    let model = model();
    let log = Log::default();
    let queue = with_queue(&model);
    let driver = model
        .register_driver(asynchronous("drv", "c", &log))
        .unwrap();
    let (first, second) = (add(&model, "first", "c"), add(&model, "second", "c"));
    let (waiter, done) = {
        let (model, device) = (model.clone(), second.device().clone());
        on_thread(move || model.wait_for_probe(&device).unwrap())
    };
    let helped = finished_without_parking(WaitPoint::Transition, &done);
    if !helped {
        queue.run_all();
    }
    let state = waiter.join().unwrap();
    assert!(
        helped,
        "wait_for_probe waited for the queue instead of running it"
    );
    assert_eq!(
        state,
        drivermodel::device::BindingState::Bound {
            driver: "drv".into()
        }
    );
    assert!(!first.is_bound(), "the other device's work stays queued");
    assert_eq!(queue.run_all(), 2);
    assert!(first.is_bound());
    assert_eq!(log.take(), ["probe:drv:second:0", "probe:drv:first:0"]);
    drop((first, second, driver));
    assert_quiescent(&model);
}

/// A probe that waits for another device's probe runs that device's queued attach
/// inside its own (as a probe that adds a child probes it), and only that one.
#[test]
fn a_probe_waiting_for_another_device_runs_only_that_devices_work() {
    let _turn = setup();
    let model = model();
    let log = Log::default();
    let queue = with_queue(&model);
    let later = model
        .register_driver(asynchronous("later", "l", &log))
        .unwrap();
    let (supplier, other) = (add(&model, "supplier", "l"), add(&model, "other", "l"));
    assert_eq!(queue.len(), 2);
    let waiting = {
        let (model, supplier) = (model.clone(), supplier.device().clone());
        model.clone().register_driver(
            TestDriver::exact("consumer", "k", &log)
                .with_probe_type(ProbeType::Synchronous)
                .with_probe(move |_, _, log| {
                    let state = model.wait_for_probe(&supplier)?;
                    let bound = matches!(state, drivermodel::device::BindingState::Bound { .. });
                    log.push(format!("waited:bound={bound}"));
                    Ok(())
                }),
        )
    }
    .unwrap();
    let (consumer, done) = {
        let model = model.clone();
        on_thread(move || model.add_device(common::test_device("consumer0", "k")))
    };
    let helped = finished_without_parking(WaitPoint::Transition, &done);
    if !helped {
        queue.run_all();
    }
    let consumer = consumer.join().unwrap().unwrap();
    assert!(
        helped,
        "the probe waited for the queue instead of running the work"
    );
    assert!(consumer.is_bound() && supplier.is_bound() && !other.is_bound());
    assert_eq!(
        log.take(),
        [
            "probe:consumer:consumer0:0",
            "probe:later:supplier:0",
            "waited:bound=true"
        ]
    );
    queue.run_all();
    assert!(other.is_bound());
    drop((consumer, supplier, other, waiting, later));
    assert_quiescent(&model);
}

/// An executor that leaves its works queued: they run in `run_queued_probes` or in a
/// wait for them, and a delete cancels them. Nothing waits forever.
#[test]
fn works_left_queued_run_when_someone_runs_or_waits_for_them() {
    let _turn = setup();
    let model = model();
    let log = Log::default();
    let leaving = Arc::new(Leaving(AtomicUsize::new(0)));
    model.set_executor(Some(leaving.clone()));
    let driver = model
        .register_driver(asynchronous("drv", "c", &log))
        .unwrap();
    let (dev0, dev1) = (add(&model, "dev0", "c"), add(&model, "dev1", "c"));
    assert_eq!(leaving.0.load(Ordering::SeqCst), 2);
    assert!(!dev0.is_bound() && !dev1.is_bound() && log.take().is_empty());
    assert_eq!(model.run_queued_probes(), 2);
    assert!(dev0.is_bound() && dev1.is_bound());
    assert_eq!(model.run_queued_probes(), 0, "nothing left");

    let dev2 = add(&model, "dev2", "c");
    model.wait_for_probe(&dev2).unwrap();
    assert!(dev2.is_bound());
    let dev3 = add(&model, "dev3", "c");
    model.wait_for_probes();
    assert!(dev3.is_bound());
    let gone = add(&model, "gone", "c");
    drop(gone);
    assert_eq!(model.run_queued_probes(), 0, "the delete cancelled it");
    assert_eq!(
        log.take(),
        [
            "probe:drv:dev0:0",
            "probe:drv:dev1:0",
            "probe:drv:dev2:0",
            "probe:drv:dev3:0"
        ]
    );
    drop((dev0, dev1, dev2, dev3, driver));
    assert_quiescent(&model);
}

/// Executor threads and a helping waiter race for the same works: each device is probed
/// exactly once.
#[test]
fn each_queued_work_is_claimed_exactly_once() {
    let _turn = setup();
    let model = model();
    let log = Log::default();
    let threads = with_threads(&model);
    let count = if cfg!(miri) { 3 } else { 16 };
    let devices: Vec<_> = (0..count)
        .map(|index| add(&model, &format!("dev{index}"), "c"))
        .collect();
    let driver = model
        .register_driver(asynchronous("drv", "c", &log).with_probe(|_, _, _| {
            std::thread::yield_now();
            Ok(())
        }))
        .unwrap();
    model.wait_for_probes();
    assert!(devices.iter().all(|device| device.is_bound()));
    threads.join();
    let mut probes = log.take();
    probes.sort();
    let mut expected: Vec<String> = (0..count)
        .map(|index| format!("probe:drv:dev{index}:0"))
        .collect();
    expected.sort();
    assert_eq!(probes, expected);
    drop((devices, driver));
    assert_quiescent(&model);
}

/// The consumer defers until its supplier is bound; the supplier binds in an
/// asynchronous probe, whose success retries the consumer.
#[test]
fn a_deferred_device_binds_when_an_async_probe_binds_its_supplier() {
    let _turn = setup();
    let model = model();
    let log = Log::default();
    let threads = with_threads(&model);
    let gate = Gate::default();
    let ready = Arc::new(AtomicBool::new(false));
    let supplier_driver = {
        let (gate, ready) = (gate.clone(), ready.clone());
        model
            .register_driver(
                asynchronous("clock", "clock", &log).with_probe(move |_, _, _| {
                    gate.pass();
                    ready.store(true, Ordering::SeqCst);
                    Ok(())
                }),
            )
            .unwrap()
    };
    let consumer_driver = {
        let ready = ready.clone();
        model
            .register_driver(
                TestDriver::exact("uart", "uart", &log).with_probe(move |_, _, _| {
                    if ready.load(Ordering::SeqCst) {
                        Ok(())
                    } else {
                        Err(Error::defer("no clock"))
                    }
                }),
            )
            .unwrap()
    };
    let supplier = add(&model, "clock0", "clock");
    gate.until_inside(1);
    let consumer = add(&model, "uart0", "uart");
    assert_eq!(consumer.deferred_reason().as_deref(), Some("no clock"));
    gate.open();
    model.wait_for_probes();
    assert!(supplier.is_bound());
    assert!(consumer.is_bound(), "retried after the asynchronous bind");
    assert!(model.deferred_devices().is_empty());
    threads.join();
    drop((consumer, supplier, consumer_driver, supplier_driver));
    assert_quiescent(&model);
}

// ---- events ------------------------------------------------------------------------

/// Per device, the events form the documented sequence even while asynchronous probes,
/// deletes and an unregistration race on several threads.
#[test]
fn events_stay_in_order_per_device() {
    let _turn = setup();
    let model = model();
    let log = Log::default();
    let threads = with_threads(&model);
    let events = Arc::new(Mutex::new(Vec::<(String, EventKind)>::new()));
    let sink = events.clone();
    let subscription = model.subscribe(move |event| {
        sink.lock().unwrap().push((event.path.clone(), event.kind));
    });
    let count = if cfg!(miri) { 4 } else { 16 };
    let mut devices: Vec<_> = (0..count / 2)
        .map(|index| add(&model, &format!("dev{index}"), "c"))
        .collect();
    let driver = model
        .register_driver(asynchronous("drv", "c", &log).with_probe(|_, _, _| {
            for _ in 0..50 {
                std::thread::yield_now();
            }
            Ok(())
        }))
        .unwrap();
    devices.extend((count / 2..count).map(|index| add(&model, &format!("dev{index}"), "c")));
    // Delete every other device while its probe may be queued, running or done.
    let mut kept = Vec::new();
    for (index, device) in devices.into_iter().enumerate() {
        if index % 2 == 0 {
            drop(device);
        } else {
            kept.push(device);
        }
    }
    drop(driver); // races with the probes still running
    model.wait_for_probes();
    drop(kept);
    threads.join();
    drop(subscription);

    let events = events.lock().unwrap();
    for index in 0..count {
        let path = format!("/devices/test/dev{index}");
        let kinds: Vec<EventKind> = events
            .iter()
            .filter(|(own, _)| *own == path)
            .map(|(_, kind)| *kind)
            .collect();
        check_sequence(&path, &kinds);
    }
    assert_quiescent(&model);
}

/// Add first, Removed last; Bind then Bound or NotBound; Unbind only when bound, then
/// Unbound; Delete once, and Removed only when no binding is left.
fn check_sequence(path: &str, kinds: &[EventKind]) {
    #[derive(PartialEq, Debug)]
    enum Binding {
        None,
        Probing,
        Bound,
        Unbinding,
    }
    use EventKind::*;
    assert_eq!(kinds.first(), Some(&Add), "{path}: {kinds:?}");
    assert_eq!(kinds.last(), Some(&Removed), "{path}: {kinds:?}");
    let mut binding = Binding::None;
    let mut deleted = false;
    for kind in &kinds[1..kinds.len() - 1] {
        binding = match (kind, binding) {
            (Bind, Binding::None) => Binding::Probing,
            (Bound, Binding::Probing) => Binding::Bound,
            (NotBound, Binding::Probing) => Binding::None,
            (Unbind, Binding::Bound) => Binding::Unbinding,
            (Unbound, Binding::Unbinding) => Binding::None,
            (Delete, binding) if !deleted => {
                deleted = true;
                binding
            }
            (kind, binding) => panic!("{path}: {kind:?} while {binding:?}: {kinds:?}"),
        };
    }
    assert!(deleted && binding == Binding::None, "{path}: {kinds:?}");
}
