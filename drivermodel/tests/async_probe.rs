//! Asynchronous probe (issue 14): the semantics of Linux's `test_async_driver_probe`,
//! with host threads or a hand-run queue as the kernel's executor, and a parking wait
//! hook that shows which wait each blocked thread is in.
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

/// Queued works for a leaving driver skip it, and the unregistration waits for them.
#[test]
fn driver_unregister_waits_for_its_queued_probes_which_skip_it() {
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
    let done = Arc::new(AtomicBool::new(false));
    let before = waits(WaitPoint::Probes);
    let unregister = {
        let done = done.clone();
        std::thread::spawn(move || {
            drop(driver);
            done.store(true, Ordering::SeqCst);
        })
    };
    until_parked(WaitPoint::Probes);
    assert!(waits(WaitPoint::Probes) > before, "through the wait hook");
    assert!(
        !done.load(Ordering::SeqCst),
        "it waits for the queued works"
    );
    assert_eq!(queue.run_all(), 2);
    unregister.join().unwrap();
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
    assert_eq!(counts.devices, 1, "the queued work holds the object");
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

#[test]
fn wait_for_probes_waits_for_queued_async_probes() {
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
    let done = Arc::new(AtomicBool::new(false));
    let waiter = {
        let (model, done) = (model.clone(), done.clone());
        std::thread::spawn(move || {
            model.wait_for_probes();
            done.store(true, Ordering::SeqCst);
        })
    };
    until_parked(WaitPoint::Probes);
    assert!(!done.load(Ordering::SeqCst));
    queue.run_all();
    waiter.join().unwrap();
    assert!(devices.iter().all(|device| device.is_bound()));
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

/// `wait_for_probe` of one device waits for that device's queued attach, not for the
/// works of other devices.
#[test]
fn wait_for_probe_waits_for_the_devices_queued_probe() {
    let _turn = setup();
    let model = model();
    let log = Log::default();
    let queue = with_queue(&model);
    let driver = model
        .register_driver(asynchronous("drv", "c", &log))
        .unwrap();
    let (first, second) = (add(&model, "first", "c"), add(&model, "second", "c"));
    let done = Arc::new(AtomicBool::new(false));
    let waiter = {
        let (model, done, device) = (model.clone(), done.clone(), second.device().clone());
        std::thread::spawn(move || {
            let state = model.wait_for_probe(&device).unwrap();
            done.store(true, Ordering::SeqCst);
            state
        })
    };
    until_parked(WaitPoint::Transition);
    assert!(
        !done.load(Ordering::SeqCst),
        "the attach of `second` is queued"
    );
    // Run only `first`'s work: the waiter for `second` keeps waiting.
    let mut works = std::mem::take(&mut *queue.0.lock().unwrap());
    let second_work = works.pop().unwrap();
    works.into_iter().for_each(Work::run);
    assert!(first.is_bound() && !done.load(Ordering::SeqCst));
    second_work.run();
    assert_eq!(
        waiter.join().unwrap(),
        drivermodel::device::BindingState::Bound {
            driver: "drv".into()
        }
    );
    drop((first, second, driver));
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
