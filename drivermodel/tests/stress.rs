//! Multi-threaded stress on the host: hotplug, driver churn, explicit bind/unbind and
//! `Devres` readers, all at once on one model.
//!
//! Checked:
//!
//! - **no deadlock**: every test body runs under a watchdog that fails the test after
//!   60 s instead of hanging (under Miri the watchdog just waits: Miri's clock is virtual);
//! - **no lost and no double release**: every devres resource (action, managed value,
//!   `add_action_or_reset` action, `Devres` value) gets a ledger id when created and
//!   marks it when released; at the end every id is released exactly once;
//! - every driver state created by a successful probe is dropped exactly once, every
//!   device object's release hook runs exactly once, and the model is quiescent;
//! - `Devres` readers never see a value after it was dropped, and revocation waits for
//!   a reader in flight (checked deterministically in
//!   [`revocation_waits_for_readers_in_flight`]);
//! - deferred probe loses no wake-up when the supplier binds during a consumer's probe
//!   ([`deferred_probe_is_not_lost_when_the_supplier_binds_meanwhile`]);
//! - explicit bind/unbind only fail with the errors a race can explain.
//!
//! Iteration counts are small under Miri, which checks the same interleavings for data
//! races and undefined behaviour.
//!
//! The churn also runs with a driver that adds child devices in its probe; two
//! single-threaded tests at the end of this file pin down the delete rules it relies on
//! (delete unbinds first; a delete-pending parent is never bound).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use drivermodel::context::Core;
use drivermodel::{
    Device, DeviceBuilder, DeviceModel, Devres, Driver, Error, IdEntry, Result, faux,
};

#[path = "common/compat_bus.rs"]
mod compat_bus;
use compat_bus::{Compat, CompatBus};

const ROUNDS: usize = if cfg!(miri) { 24 } else { 20_000 };
const WATCHDOG: Duration = Duration::from_secs(60);
const MAGIC: u64 = 0x5eed_cafe_f00d_beef;

/// Runs `body` on its own thread and fails if it does not finish within [`WATCHDOG`].
fn with_watchdog(body: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    let worker = thread::spawn(move || {
        body();
        let _ = done.send(());
    });
    let outcome = if cfg!(miri) {
        finished.recv().map_err(|_| RecvTimeoutError::Disconnected)
    } else {
        finished.recv_timeout(WATCHDOG)
    };
    match outcome {
        Ok(()) => worker.join().expect("the body finished"),
        Err(RecvTimeoutError::Disconnected) => {
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(RecvTimeoutError::Timeout) => {
            panic!("deadlock: the test did not finish within {WATCHDOG:?}")
        }
    }
}

/// A tiny deterministic random generator (xorshift64), one per thread.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }
}

/// Every resource ever created, and how many times each was released.
#[derive(Default)]
struct Ledger {
    releases: Mutex<Vec<u32>>,
}

impl Ledger {
    fn create(&self) -> usize {
        let mut releases = self.releases.lock().unwrap();
        releases.push(0);
        releases.len() - 1
    }

    fn release(&self, id: usize) {
        self.releases.lock().unwrap()[id] += 1;
    }

    fn created(&self) -> usize {
        self.releases.lock().unwrap().len()
    }

    /// Every resource was released exactly once.
    fn assert_balanced(&self) {
        let releases = self.releases.lock().unwrap();
        let wrong: Vec<(usize, u32)> = releases
            .iter()
            .copied()
            .enumerate()
            .filter(|&(_, count)| count != 1)
            .take(10)
            .collect();
        assert!(
            wrong.is_empty(),
            "resources released other than once (id, count): {wrong:?} of {}",
            releases.len()
        );
    }

    /// A devres action that marks `id` released.
    fn action(self: &Arc<Self>) -> impl FnOnce() + Send + 'static {
        let id = self.create();
        let ledger = self.clone();
        move || ledger.release(id)
    }
}

/// A managed value: marks its id released when dropped, and poisons its magic so that a
/// reader that sees it after the drop notices.
struct Value {
    magic: u64,
    id: usize,
    ledger: Arc<Ledger>,
}

impl Value {
    fn new(ledger: &Arc<Ledger>) -> Self {
        Self {
            magic: MAGIC,
            id: ledger.create(),
            ledger: ledger.clone(),
        }
    }
}

impl Drop for Value {
    fn drop(&mut self) {
        assert_eq!(self.magic, MAGIC, "value {} dropped twice", self.id);
        self.magic = 0;
        self.ledger.release(self.id);
    }
}

/// Reads a `Devres` value: checks it twice around a short pause while holding the
/// guard (readers must be short: a revoker spins while a guard lives). Returns whether
/// the value was still there.
fn read(value: &Devres<Value>, violations: &AtomicUsize) -> bool {
    let Some(guard) = value.try_access() else {
        return false;
    };
    for _ in 0..2 {
        if guard.magic != MAGIC {
            violations.fetch_add(1, Ordering::SeqCst);
        }
        for _ in 0..16 {
            std::hint::spin_loop();
        }
    }
    true
}

/// Shared by all drivers of one stress run.
#[derive(Default)]
struct Shared {
    ledger: Arc<Ledger>,
    /// Recent `Devres` handles, read by the reader threads.
    pool: Mutex<VecDeque<Arc<Devres<Value>>>>,
    probes: AtomicUsize,
    states_created: AtomicUsize,
    states_dropped: AtomicUsize,
    violations: AtomicUsize,
    reads: AtomicUsize,
}

const POOL: usize = 16;

struct State(Arc<Shared>);

impl Drop for State {
    fn drop(&mut self) {
        self.0.states_dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// Driver `s<index>` matches compat `index`. Its probe takes three devres resources and
/// a `Devres<Value>`, and fails every fifth time (after taking them). Driver `s2` also
/// adds a child device in its probe.
struct StressDriver {
    name: String,
    table: [IdEntry<u64, ()>; 1],
    creates_children: bool,
    shared: Arc<Shared>,
}

impl StressDriver {
    fn new(index: u64, children: bool, shared: &Arc<Shared>) -> Self {
        Self {
            name: format!("s{index}"),
            table: [IdEntry::new(index, ())],
            creates_children: children && index == 2,
            shared: shared.clone(),
        }
    }
}

impl Driver for StressDriver {
    type Bus = CompatBus;
    type IdInfo = ();
    type State = State;

    fn name(&self) -> &str {
        &self.name
    }

    fn id_table(&self) -> &[IdEntry<u64, ()>] {
        &self.table
    }

    fn probe(&self, device: &Device<Core>, _info: &()) -> Result<State> {
        let shared = &self.shared;
        let attempt = shared.probes.fetch_add(1, Ordering::SeqCst);
        let devres = device.devres();
        devres.add_action(shared.ledger.action())?;
        devres.alloc(Value::new(&shared.ledger))?;
        devres.add_action_or_reset(shared.ledger.action())?;
        if self.creates_children {
            // A probe may add devices: a bus-less child, owned by the binding's devres
            // (deleted from inside the devres release at unbind or probe failure).
            let model = device.model().ok_or_else(|| Error::driver("model gone"))?;
            let child = model.add_device(
                DeviceBuilder::new(format!("{}-child{attempt}", device.name())).parent(device),
            )?;
            devres.alloc(child)?;
        }
        let value = Arc::new(Devres::new(device, Value::new(&shared.ledger))?);
        let evicted = {
            let mut pool = shared.pool.lock().unwrap();
            pool.push_back(value);
            (pool.len() > POOL).then(|| pool.pop_front())
        };
        // A handle dropped here (outside the pool lock) may revoke an older binding's
        // value while that binding is being torn down on another thread.
        drop(evicted);
        if attempt % 5 == 4 {
            return Err(Error::driver("planned failure"));
        }
        shared.states_created.fetch_add(1, Ordering::SeqCst);
        Ok(State(shared.clone()))
    }
}

/// Errors that explicit bind/unbind may legitimately return while others race.
fn explainable(error: &Error) -> bool {
    matches!(
        error,
        Error::Busy { .. }
            | Error::NotBound { .. }
            | Error::AlreadyBound { .. }
            | Error::NoMatch { .. }
            | Error::DeviceDeleted { .. }
            | Error::ResourcesPresent { .. }
            | Error::Driver { .. }
            | Error::DriverNotRegistered { .. }
            // `s2`'s probe adds a child: refused when the device's delete started
            // during the probe (the delete marks it dead, then waits for the probe).
            | Error::ParentDeleted { .. }
    )
}

#[test]
fn hotplug_driver_churn_bind_and_readers_race_without_leaks() {
    with_watchdog(|| churn(false));
}

/// As above, with driver `s2` adding a child device in its probe.
#[test]
fn hotplug_churn_with_probe_created_children() {
    with_watchdog(|| churn(true));
}

/// The hotplug / driver churn / bind / readers race; `children`: driver `s2` adds a child
/// device in its probe.
fn churn(children: bool) {
    {
        let model = DeviceModel::new();
        model.register_bus(CompatBus).unwrap();
        let shared = Arc::new(Shared::default());
        let freed = Arc::new(AtomicUsize::new(0));
        let added = Arc::new(AtomicUsize::new(0));
        let unexpected = Arc::new(Mutex::new(Vec::<Error>::new()));
        // Set when the hotplug threads are done: the other threads run until then.
        let stop = Arc::new(AtomicBool::new(false));
        let mut hotplug = Vec::new();
        let mut workers = Vec::new();

        // Hotplug: each thread keeps up to six devices (children of its own root),
        // adding and deleting them; some get devres before any driver binds them.
        // Devices come and go while probes (of `s2`) add children to them.
        for thread_index in 0..2u64 {
            let (model, shared, freed, added) =
                (model.clone(), shared.clone(), freed.clone(), added.clone());
            hotplug.push(thread::spawn(move || {
                let mut rng = Rng::new(thread_index + 1);
                let root = model
                    .add_device(DeviceBuilder::new(format!("root{thread_index}")))
                    .unwrap();
                let parent: &Device = &root;
                let mut live = VecDeque::new();
                for round in 0..ROUNDS {
                    let freed = freed.clone();
                    // Unique names, so a failure names one device.
                    let builder = DeviceBuilder::new(format!("h{thread_index}-{round}"))
                        .bus(compat_bus::NAME)
                        .parent(parent)
                        .data(Compat(rng.below(4) as u64))
                        .on_release(move || {
                            freed.fetch_add(1, Ordering::SeqCst);
                        });
                    let device = model.add_device(builder).expect("names are unique");
                    added.fetch_add(1, Ordering::SeqCst);
                    if rng.below(4) == 0 {
                        // May race with a probe (then one of them reports an error).
                        let _ = device.devres().add_action(shared.ledger.action());
                    }
                    live.push_back(device);
                    if live.len() > 6 {
                        drop(live.pop_front());
                    }
                    // Two cores are shared by seven threads: let the others run.
                    thread::yield_now();
                }
                drop(live);
                drop(root);
            }));
        }

        // Driver churn: register and unregister three drivers at random.
        {
            let (model, shared, stop) = (model.clone(), shared.clone(), stop.clone());
            workers.push(thread::spawn(move || {
                let mut rng = Rng::new(7);
                let mut drivers: [Option<_>; 3] = [None, None, None];
                while !stop.load(Ordering::SeqCst) {
                    let index = rng.below(3);
                    match drivers[index].take() {
                        Some(registration) => drop(registration),
                        None => {
                            let driver = StressDriver::new(index as u64, children, &shared);
                            drivers[index] = Some(model.register_driver(driver).unwrap());
                        }
                    }
                    thread::yield_now();
                }
                drop(drivers);
            }));
        }

        // Explicit bind / bind_driver / unbind on whatever is registered right now.
        {
            let (model, unexpected, stop) = (model.clone(), unexpected.clone(), stop.clone());
            workers.push(thread::spawn(move || {
                let mut rng = Rng::new(11);
                while !stop.load(Ordering::SeqCst) {
                    let devices = model.devices();
                    if devices.is_empty() {
                        thread::yield_now();
                        continue;
                    }
                    let device = &devices[rng.below(devices.len())];
                    if device.bus_name().is_none() {
                        continue;
                    }
                    let result = match rng.below(3) {
                        0 => model.bind(device),
                        1 => model.bind_driver(device, &format!("s{}", rng.below(3))),
                        _ => model.unbind(device),
                    };
                    if let Err(error) = result
                        && !explainable(&error)
                    {
                        unexpected.lock().unwrap().push(error);
                    }
                    thread::yield_now();
                }
            }));
        }

        // Readers: try_access on recent Devres handles while their bindings end.
        for _ in 0..2 {
            let (shared, stop) = (shared.clone(), stop.clone());
            workers.push(thread::spawn(move || {
                let mut rng = Rng::new(13);
                while !stop.load(Ordering::SeqCst) {
                    let value = {
                        let pool = shared.pool.lock().unwrap();
                        (!pool.is_empty()).then(|| pool[rng.below(pool.len())].clone())
                    };
                    if let Some(value) = value
                        && read(&value, &shared.violations)
                    {
                        shared.reads.fetch_add(1, Ordering::SeqCst);
                    }
                    thread::yield_now();
                }
            }));
        }

        for thread in hotplug {
            thread.join().expect("hotplug thread panicked");
        }
        stop.store(true, Ordering::SeqCst);
        for worker in workers {
            worker.join().expect("worker panicked");
        }

        // Every binding has ended: every pooled value is revoked.
        let pool = std::mem::take(&mut *shared.pool.lock().unwrap());
        assert!(pool.iter().all(|value| value.try_access().is_none()));
        drop(pool);

        assert_eq!(*unexpected.lock().unwrap(), []);
        assert_eq!(
            shared.violations.load(Ordering::SeqCst),
            0,
            "read after drop"
        );
        shared.ledger.assert_balanced();
        assert_eq!(
            shared.states_created.load(Ordering::SeqCst),
            shared.states_dropped.load(Ordering::SeqCst),
            "driver states created vs dropped"
        );
        assert_eq!(
            freed.load(Ordering::SeqCst),
            added.load(Ordering::SeqCst),
            "device release hooks vs adds"
        );
        assert!(model.is_quiescent(), "{:?}", model.counts());
        assert_eq!(model.counts().drivers, 0);
        eprintln!(
            "stress: {} devices, {} probes, {} resources, {} successful reads",
            added.load(Ordering::SeqCst),
            shared.probes.load(Ordering::SeqCst),
            shared.ledger.created(),
            shared.reads.load(Ordering::SeqCst),
        );
    }
}

/// A reader holds a guard on a faux device's `Devres` value; the device is destroyed on
/// another thread meanwhile. The destroy must not return before the reader let go (the
/// reader marks its completion before dropping the guard), the reader must see the
/// value intact throughout, and the value must be dropped exactly once, by the time the
/// destroy returns.
#[test]
fn revocation_waits_for_readers_in_flight() {
    with_watchdog(|| {
        let model = DeviceModel::new();
        let ledger = Arc::new(Ledger::default());
        let violations = Arc::new(AtomicUsize::new(0));
        let rounds = if cfg!(miri) { 4 } else { 200 };
        for round in 1..=rounds {
            let device = faux::Registration::new(&model, "vdev", None).unwrap();
            let value = Arc::new(Devres::new(device.device(), Value::new(&ledger)).unwrap());
            let id = value.try_access().map(|value| value.id).unwrap();
            let holding = Arc::new(AtomicBool::new(false));
            let finished = Arc::new(AtomicUsize::new(0));
            let reader = {
                let (value, holding, finished, violations) = (
                    value.clone(),
                    holding.clone(),
                    finished.clone(),
                    violations.clone(),
                );
                thread::spawn(move || {
                    let guard = value.try_access().expect("not revoked before the signal");
                    holding.store(true, Ordering::SeqCst);
                    for _ in 0..20 {
                        if guard.magic != MAGIC {
                            violations.fetch_add(1, Ordering::SeqCst);
                        }
                        thread::yield_now();
                    }
                    finished.store(round, Ordering::SeqCst);
                    drop(guard);
                    // After the revocation, access fails.
                    while value.try_access().is_some() {
                        thread::yield_now();
                    }
                })
            };
            while !holding.load(Ordering::SeqCst) {
                thread::yield_now();
            }
            // Destroy: delete, unbind, devres release, revocation (waits for the reader).
            drop(device);
            assert_eq!(
                finished.load(Ordering::SeqCst),
                round,
                "revocation returned while a reader was in flight"
            );
            assert_eq!(
                ledger.releases.lock().unwrap()[id],
                1,
                "value dropped at revocation"
            );
            assert!(value.try_access().is_none());
            reader.join().expect("reader panicked");
            drop(value);
        }
        assert_eq!(violations.load(Ordering::SeqCst), 0, "read after drop");
        ledger.assert_balanced();
        assert!(model.is_quiescent(), "{:?}", model.counts());
    });
}

/// A driver that flags `ready` in its probe (a supplier) or defers until `ready` is set
/// (a consumer).
struct GateDriver {
    name: &'static str,
    table: [IdEntry<u64, ()>; 1],
    supplier: bool,
    ready: Arc<AtomicBool>,
    /// Consumer probes during which the supplier became ready.
    window_hits: Arc<AtomicUsize>,
}

impl Driver for GateDriver {
    type Bus = CompatBus;
    type IdInfo = ();
    type State = ();

    fn name(&self) -> &str {
        self.name
    }

    fn id_table(&self) -> &[IdEntry<u64, ()>] {
        &self.table
    }

    fn probe(&self, _device: &Device<Core>, _info: &()) -> Result<()> {
        if self.supplier {
            self.ready.store(true, Ordering::SeqCst);
            return Ok(());
        }
        if self.ready.load(Ordering::SeqCst) {
            return Ok(());
        }
        // Widen the window in which the supplier may bind before this deferral is
        // recorded (the lost wake-up the core must avoid), and count when it does.
        thread::yield_now();
        if self.ready.load(Ordering::SeqCst) {
            self.window_hits.fetch_add(1, Ordering::SeqCst);
        }
        Err(Error::defer("supplier not bound yet"))
    }
}

/// Deferred probe has no lost wake-up: consumers are added on one thread (each probe
/// defers until the supplier is bound) while the supplier is added on another, at a
/// random moment, possibly in the middle of a consumer's probe. Once all probes are
/// over, every consumer must be bound and nothing may be left deferred.
#[test]
fn deferred_probe_is_not_lost_when_the_supplier_binds_meanwhile() {
    const CONSUMERS: usize = 4;
    let rounds = if cfg!(miri) { 3 } else { 300 };
    with_watchdog(move || {
        let mut rng = Rng::new(23);
        let window_hits = Arc::new(AtomicUsize::new(0));
        for _ in 0..rounds {
            let model = DeviceModel::new();
            model.register_bus(CompatBus).unwrap();
            let ready = Arc::new(AtomicBool::new(false));
            let gate = |name, id, supplier| GateDriver {
                name,
                table: [IdEntry::new(id, ())],
                supplier,
                ready: ready.clone(),
                window_hits: window_hits.clone(),
            };
            let drivers = (
                model.register_driver(gate("supplier", 10, true)).unwrap(),
                model.register_driver(gate("consumer", 11, false)).unwrap(),
            );
            let consumers = {
                let model = model.clone();
                thread::spawn(move || {
                    (0..CONSUMERS)
                        .map(|index| {
                            let builder = DeviceBuilder::new(format!("consumer{index}"))
                                .bus(compat_bus::NAME)
                                .data(Compat(11));
                            model.add_device(builder).unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            };
            let delay = rng.below(8);
            let supplier = {
                let model = model.clone();
                thread::spawn(move || {
                    for _ in 0..delay {
                        thread::yield_now();
                    }
                    model
                        .add_device(
                            DeviceBuilder::new("supplier")
                                .bus(compat_bus::NAME)
                                .data(Compat(10)),
                        )
                        .unwrap()
                })
            };
            let consumers = consumers.join().expect("consumer thread panicked");
            let supplier = supplier.join().expect("supplier thread panicked");
            model.wait_for_probes();
            assert!(supplier.is_bound());
            let unbound: Vec<&str> = consumers
                .iter()
                .filter(|device| !device.is_bound())
                .map(|device| device.name())
                .collect();
            assert!(unbound.is_empty(), "lost wake-up: {unbound:?} left unbound");
            assert!(model.deferred_devices().is_empty());
            drop((consumers, supplier, drivers));
            assert!(model.is_quiescent(), "{:?}", model.counts());
        }
        eprintln!(
            "deferred probe: {} consumer probes deferred although the supplier bound during them",
            window_hits.load(Ordering::SeqCst)
        );
    });
}

// The two causes of the deadlock the child-creating churn used to run into, single
// threaded so they are precise.

/// A driver whose probe adds a child device and keeps its registration in the driver
/// state (remove = drop of the state = delete of the child), as a bridge or MFD driver
/// would.
struct ParentDriver;

static PARENT_TABLE: [IdEntry<u64, ()>; 1] = [IdEntry::new(1, ())];

impl Driver for ParentDriver {
    type Bus = CompatBus;
    type IdInfo = ();
    type State = drivermodel::device::Registration;

    fn name(&self) -> &str {
        "parent"
    }

    fn id_table(&self) -> &[IdEntry<u64, ()>] {
        &PARENT_TABLE
    }

    fn probe(&self, device: &Device<Core>, _info: &()) -> Result<Self::State> {
        let model = device.model().ok_or_else(|| Error::driver("model gone"))?;
        model.add_device(DeviceBuilder::new("child").parent(device))
    }
}

/// A delete-pending parent is never bound, so nothing can unbind it while its last
/// child's deletion completes it (that used to spin forever: the child's deletion,
/// inside the parent's unbind, waited for that very unbind).
///
/// The parent has a driver-owned child and a child held by someone else: its delete
/// unbinds it (the driver's remove deletes the owned child, inside the unbind) and
/// leaves it pending on the other child; an unbind then has nothing to do; deleting the
/// other child completes the parent.
#[test]
fn unbinding_a_delete_pending_parent_that_owns_its_child() {
    with_watchdog(|| {
        let model = DeviceModel::new();
        model.register_bus(CompatBus).unwrap();
        let driver = model.register_driver(ParentDriver).unwrap();
        let parent = model
            .add_device(
                DeviceBuilder::new("parent")
                    .bus(compat_bus::NAME)
                    .data(Compat(1)),
            )
            .unwrap();
        assert!(parent.is_bound());
        assert!(model.find_device(None, "child").is_some());
        let other = model
            .add_device(DeviceBuilder::new("other").parent(&*parent))
            .unwrap();
        let device = parent.device().clone();
        assert!(matches!(
            parent.delete(),
            Err(Error::HasChildren { children: 1, .. })
        ));
        assert!(model.find_device(None, "child").is_none());
        assert!(device.is_registered() && !device.is_bound());
        assert!(matches!(model.unbind(&device), Err(Error::NotBound { .. })));
        assert!(matches!(
            model.bind(&device),
            Err(Error::DeviceDeleted { .. })
        ));
        drop(other);
        assert!(!device.is_registered());
        drop(device);
        drop(driver);
        assert!(model.is_quiescent(), "{:?}", model.counts());
    });
}

/// ARCHITECTURE.md section 4: "device delete unbinds first". Deleting a bound device
/// whose driver owns its child unbinds it (the driver's remove deletes the child) and
/// then completes; the same through driver unregistration with the parent live.
#[test]
fn delete_unbinds_first_so_driver_owned_children_go_with_it() {
    with_watchdog(|| {
        let model = DeviceModel::new();
        model.register_bus(CompatBus).unwrap();
        let driver = model.register_driver(ParentDriver).unwrap();
        let parent = model
            .add_device(
                DeviceBuilder::new("parent")
                    .bus(compat_bus::NAME)
                    .data(Compat(1)),
            )
            .unwrap();
        assert!(parent.is_bound());
        assert_eq!(parent.delete(), Ok(()));
        assert!(model.find_device(None, "child").is_none());
        assert!(
            model
                .find_device(Some(compat_bus::NAME), "parent")
                .is_none()
        );
        // Unregistering the driver unbinds a live parent: its child goes, it stays.
        let parent = model
            .add_device(
                DeviceBuilder::new("parent")
                    .bus(compat_bus::NAME)
                    .data(Compat(1)),
            )
            .unwrap();
        assert!(model.find_device(None, "child").is_some());
        drop(driver);
        assert!(model.find_device(None, "child").is_none());
        assert!(parent.is_registered() && !parent.is_bound());
        drop(parent);
        assert!(model.is_quiescent(), "{:?}", model.counts());
    });
}
