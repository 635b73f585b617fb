//! Deferred probe (retry after every bind, no lost wake-up) and the debug re-probe mode.

mod common;

use common::{Log, TestDriver, model, test_device};
use drivermodel::event::EventKind;
use drivermodel::{DeviceModel, Error};
use std::sync::{Arc, Mutex};

/// A probe that defers until the device named `supplier` on the test bus is bound.
fn needs_supplier(
    model: &DeviceModel,
) -> impl Fn(&drivermodel::Device<drivermodel::context::Core>, &u32, &Log) -> drivermodel::Result<()>
+ Send
+ Sync
+ 'static {
    let model = model.clone();
    move |_, _, _| {
        let ready = model
            .find_device(Some(common::BUS), "supplier")
            .is_some_and(|supplier| supplier.is_bound());
        if ready {
            Ok(())
        } else {
            Err(Error::defer("supplier not bound"))
        }
    }
}

#[test]
fn consumer_added_before_its_supplier_binds_when_the_supplier_arrives() {
    let model = model();
    let log = Log::new();
    let consumer_driver = model
        .register_driver(
            TestDriver::exact("consumer", "cons", &log).with_probe(needs_supplier(&model)),
        )
        .unwrap();
    let supplier_driver = model
        .register_driver(TestDriver::exact("supplier", "supp", &log))
        .unwrap();
    let consumer = model.add_device(test_device("consumer", "cons")).unwrap();
    assert!(!consumer.is_bound());
    assert_eq!(
        consumer.deferred_reason().as_deref(),
        Some("supplier not bound")
    );
    assert_eq!(model.deferred_devices().len(), 1);
    let supplier = model.add_device(test_device("supplier", "supp")).unwrap();
    assert!(supplier.is_bound());
    assert!(
        consumer.is_bound(),
        "the supplier's bind retried the consumer"
    );
    assert_eq!(consumer.deferred_reason(), None);
    assert!(model.deferred_devices().is_empty());
    model.wait_for_probes();
    drop((consumer, supplier, consumer_driver, supplier_driver));
    assert!(model.is_quiescent());
}

/// The supplier binds while the consumer's probe runs (after it looked): the consumer's
/// deferral must still be retried.
#[test]
fn a_bind_during_a_probe_is_not_lost() {
    let model = model();
    let log = Log::new();
    let supplier = model.add_device(test_device("supplier", "supp")).unwrap();
    let registrations = Arc::new(Mutex::new(Vec::new()));
    let check = needs_supplier(&model);
    let (model_in_probe, log_in_probe, registrations_in_probe) =
        (model.clone(), log.clone(), registrations.clone());
    let consumer_driver = model
        .register_driver(TestDriver::exact("consumer", "cons", &log).with_probe(
            move |device, info, log| {
                let verdict = check(device, info, log);
                if verdict.is_err() && registrations_in_probe.lock().unwrap().is_empty() {
                    // The supplier's driver arrives now and binds the supplier.
                    let driver = model_in_probe.register_driver(TestDriver::exact(
                        "supplier",
                        "supp",
                        &log_in_probe,
                    ))?;
                    registrations_in_probe.lock().unwrap().push(driver);
                }
                verdict
            },
        ))
        .unwrap();
    let consumer = model.add_device(test_device("consumer", "cons")).unwrap();
    assert!(supplier.is_bound());
    assert!(
        consumer.is_bound(),
        "deferral raced with the supplier's bind"
    );
    let probes: Vec<String> = log
        .take()
        .into_iter()
        .filter(|entry| entry.starts_with("probe:consumer"))
        .collect();
    assert_eq!(probes.len(), 2);
    drop((consumer, supplier, consumer_driver));
    registrations.lock().unwrap().clear();
    assert!(model.is_quiescent());
}

#[test]
fn debug_reprobe_leaves_one_set_of_resources() {
    let model = model();
    let log = Log::new();
    model.set_debug_reprobe(true);
    let events = Log::default();
    let _subscription = events.subscribe(&model, |event| Some(event.kind));
    let driver = model
        .register_driver(
            TestDriver::exact("drv", "c", &log).with_probe(|device, _, log| {
                device.devres().add_action(log.action("release-a"))?;
                device.devres().add_action(log.action("release-b"))?;
                Ok(())
            }),
        )
        .unwrap();
    let device = model.add_device(test_device("dev", "c")).unwrap();
    assert!(device.is_bound());
    assert_eq!(device.devres().len(), 2, "exactly one set of resources");
    assert_eq!(
        log.take(),
        [
            "probe:drv:dev:0",
            "unbind:drv:dev:devres=2",
            "remove:drv:dev",
            "release-b",
            "release-a",
            "probe:drv:dev:0"
        ]
    );
    use EventKind::*;
    assert_eq!(
        events.take(),
        [Add, Bind, Bound, Unbind, Unbound, Bind, Bound]
    );
    // Faux devices survive it too: their probe runs again.
    let faux = drivermodel::faux::Registration::with_probe(&model, "v", None, {
        let log = log.clone();
        move |device| {
            device.devres().add_action(log.action("faux-resource"))?;
            Ok(())
        }
    })
    .unwrap();
    assert_eq!(faux.device().devres().len(), 1);
    model.set_debug_reprobe(false);
    drop((faux, device, driver));
    assert!(model.is_quiescent());
}

/// The listing names every deferred device with its reason, whatever deferred it: the
/// probe, the bus's match, or a device link to an unbound supplier.
#[test]
fn deferred_listing_names_devices_and_reasons() {
    use common::TestId;
    use drivermodel::IdEntry;
    let model = model();
    let log = Log::new();
    let listing = |model: &DeviceModel| -> Vec<(String, String)> {
        model
            .deferred_devices()
            .into_iter()
            .map(|(device, reason)| (device.name().to_string(), reason))
            .collect()
    };
    let later = model
        .register_driver(
            TestDriver::exact("later", "l", &log)
                .with_probe(|_, _, _| Err(Error::defer("firmware not loaded"))),
        )
        .unwrap();
    let undecided = model
        .register_driver(TestDriver::new(
            "undecided",
            vec![IdEntry::new(TestId::Defer("m".into()), 0)],
            &log,
        ))
        .unwrap();
    let probe_deferred = model.add_device(test_device("l0", "l")).unwrap();
    let match_deferred = model.add_device(test_device("m0", "m")).unwrap();
    let clock = model.add_device(test_device("clock", "clk")).unwrap();
    let consumer = model.add_device(test_device("consumer", "c")).unwrap();
    model
        .add_link(&consumer, &clock, drivermodel::link::LinkFlags::empty())
        .unwrap();
    assert_eq!(
        listing(&model),
        [
            ("l0".to_string(), "firmware not loaded".to_string()),
            ("m0".to_string(), "bus cannot decide".to_string()),
        ]
    );
    // The consumer's driver arrives: the link defers it.
    let consumer_driver = model
        .register_driver(TestDriver::exact("c", "c", &log))
        .unwrap();
    assert!(!consumer.is_bound());
    assert_eq!(
        listing(&model),
        [
            ("l0".to_string(), "firmware not loaded".to_string()),
            ("m0".to_string(), "bus cannot decide".to_string()),
            (
                "consumer".to_string(),
                "waiting for supplier clock".to_string()
            ),
        ]
    );
    assert_eq!(model.retry_deferred(), 0);
    assert!(model.tree().contains(
        "/devices/test/consumer bus=test driver=- devres=0 deferred=\"waiting for supplier clock\" suppliers=clock\n"
    ));
    // The supplier binds: the consumer leaves the listing, the others stay.
    let clock_driver = model
        .register_driver(TestDriver::exact("clk", "clk", &log))
        .unwrap();
    assert!(consumer.is_bound());
    assert_eq!(
        listing(&model),
        [
            ("l0".to_string(), "firmware not loaded".to_string()),
            ("m0".to_string(), "bus cannot decide".to_string()),
        ]
    );
    // A deleted device leaves the listing.
    drop(probe_deferred);
    assert_eq!(
        listing(&model),
        [("m0".to_string(), "bus cannot decide".to_string())]
    );
    drop((match_deferred, clock, consumer, later, undecided));
    drop((consumer_driver, clock_driver));
    assert!(model.deferred_devices().is_empty());
    assert!(model.is_quiescent());
}

/// `wait_for_probes` returns only after a probe running on another thread has finished.
#[test]
fn wait_for_probes_waits_for_a_probe_on_another_thread() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let model = model();
    let log = Log::new();
    let started = Arc::new(AtomicBool::new(false));
    let gate = Arc::new(AtomicBool::new(false));
    let (started_in_probe, gate_in_probe) = (started.clone(), gate.clone());
    let driver = model
        .register_driver(
            TestDriver::exact("slow", "slow", &log).with_probe(move |_, _, _| {
                started_in_probe.store(true, Ordering::SeqCst);
                while !gate_in_probe.load(Ordering::SeqCst) {
                    std::thread::yield_now();
                }
                Ok(())
            }),
        )
        .unwrap();
    let adder = {
        let model = model.clone();
        std::thread::spawn(move || model.add_device(test_device("dev", "slow")).unwrap())
    };
    while !started.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    let returned = Arc::new(AtomicBool::new(false));
    let waiter = {
        let (model, returned) = (model.clone(), returned.clone());
        std::thread::spawn(move || {
            model.wait_for_probes();
            returned.store(true, Ordering::SeqCst);
            // Whatever was probing has finished by now.
            model
                .find_device(Some(common::BUS), "dev")
                .is_some_and(|device| device.is_bound())
        })
    };
    for _ in 0..50 {
        std::thread::yield_now();
    }
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(
        !returned.load(Ordering::SeqCst),
        "returned while a probe was running"
    );
    gate.store(true, Ordering::SeqCst);
    let device = adder.join().unwrap();
    assert!(waiter.join().unwrap(), "the probe had finished");
    assert!(device.is_bound());
    drop((device, driver));
    assert!(model.is_quiescent());
}

/// A driver that counts its live per-device states, its live devres and its probes.
struct Counting {
    name: &'static str,
    table: Vec<drivermodel::IdEntry<common::TestId, u32>>,
    live_states: Arc<std::sync::atomic::AtomicUsize>,
    live_resources: Arc<std::sync::atomic::AtomicUsize>,
    probes: Arc<std::sync::atomic::AtomicUsize>,
}

/// [`Counting`]'s per-device state.
struct Live(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl drivermodel::Driver for Counting {
    type Bus = common::TestBus;
    type IdInfo = u32;
    type State = Live;

    fn name(&self) -> &str {
        self.name
    }

    fn id_table(&self) -> &[drivermodel::IdEntry<common::TestId, u32>] {
        &self.table
    }

    fn probe(
        &self,
        device: &drivermodel::Device<drivermodel::context::Core>,
        _info: &u32,
    ) -> drivermodel::Result<Live> {
        use std::sync::atomic::Ordering::SeqCst;
        self.probes.fetch_add(1, SeqCst);
        for _ in 0..2 {
            self.live_resources.fetch_add(1, SeqCst);
            let resources = self.live_resources.clone();
            device.devres().add_action_or_reset(move || {
                resources.fetch_sub(1, SeqCst);
            })?;
        }
        self.live_states.fetch_add(1, SeqCst);
        Ok(Live(self.live_states.clone()))
    }
}

/// Debug re-probe mode: every device ends bound to its best driver, whichever path bound
/// it (device add, driver registration, explicit bind), with exactly one driver state and
/// one set of devres each, after exactly two probes.
#[test]
fn debug_reprobe_leaves_the_right_drivers_with_one_set_of_resources() {
    use common::TestId;
    use drivermodel::IdEntry;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    let model = model();
    model.set_debug_reprobe(true);
    let (live_states, live_resources, probes) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let counting = |name: &'static str, id: TestId| Counting {
        name,
        table: vec![IdEntry::new(id, 0)],
        live_states: live_states.clone(),
        live_resources: live_resources.clone(),
        probes: probes.clone(),
    };
    // Devices before drivers (bound at driver registration), and after (bound at add).
    let early_a = model.add_device(test_device("early-a", "dev-a")).unwrap();
    let early_b = model.add_device(test_device("early-b", "dev-b")).unwrap();
    let exact = model
        .register_driver(counting("exact", TestId::Exact("dev-a".into())))
        .unwrap();
    let generic = model
        .register_driver(counting("generic", TestId::Prefix("dev".into())))
        .unwrap();
    let late_a = model.add_device(test_device("late-a", "dev-a")).unwrap();
    let late_c = model.add_device(test_device("late-c", "dev-c")).unwrap();
    let devices = [&early_a, &early_b, &late_a, &late_c];
    let drivers: Vec<String> = devices
        .iter()
        .map(|device| device.driver_name().unwrap_or_default())
        .collect();
    assert_eq!(drivers, ["exact", "generic", "exact", "generic"]);
    assert_eq!(probes.load(SeqCst), 8, "two probes per device");
    assert_eq!(live_states.load(SeqCst), 4, "one driver state per device");
    assert_eq!(
        live_resources.load(SeqCst),
        8,
        "one set of devres per device"
    );
    assert!(devices.iter().all(|device| device.devres().len() == 2));
    let counts = model.counts();
    assert_eq!((counts.bindings, counts.devres_nodes), (4, 8));
    // An explicit bind re-probes too.
    model.unbind(&late_c).unwrap();
    assert_eq!(live_states.load(SeqCst), 3);
    model.bind(&late_c).unwrap();
    assert_eq!(probes.load(SeqCst), 10);
    assert_eq!(live_states.load(SeqCst), 4);
    assert_eq!(live_resources.load(SeqCst), 8);
    // Off: one probe per bind.
    model.set_debug_reprobe(false);
    model.unbind(&late_c).unwrap();
    model.bind(&late_c).unwrap();
    assert_eq!(probes.load(SeqCst), 11);
    drop((early_a, early_b, late_a, late_c, exact, generic));
    assert_eq!(
        (live_states.load(SeqCst), live_resources.load(SeqCst)),
        (0, 0)
    );
    assert!(model.is_quiescent());
}
