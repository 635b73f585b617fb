//! The small API gaps of issue 10.10: automatic probing off, per-device link queries,
//! waiting for one device's probe, the root re-exports and the three `Registration`s.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{BUS, Log, TestDriver, model, test_device};
use drivermodel::link::LinkFlags;
use drivermodel::{BindingState, DeviceBuilder, Error};

#[test]
fn a_device_with_autoprobe_off_binds_only_when_asked() {
    let model = model();
    let log = Log::new();
    let driver = model
        .register_driver(TestDriver::exact("drv", "c", &log))
        .unwrap();
    // Not at add...
    let manual = model
        .add_device(test_device("manual", "c").autoprobe(false))
        .unwrap();
    let automatic = model.add_device(test_device("auto", "c")).unwrap();
    assert!(!manual.is_bound());
    assert!(automatic.is_bound());
    // ...nor when a driver registers, nor by a deferred retry...
    drop(driver);
    let driver = model
        .register_driver(TestDriver::exact("drv", "c", &log))
        .unwrap();
    assert!(automatic.is_bound());
    assert!(!manual.is_bound());
    assert_eq!(model.retry_deferred(), 0);
    assert!(!manual.is_bound());
    // ...only by an explicit bind, as often as asked.
    model.bind(&manual).unwrap();
    assert_eq!(manual.driver_name().as_deref(), Some("drv"));
    model.unbind(&manual).unwrap();
    model.bind_driver(&manual, "drv").unwrap();
    assert!(manual.is_bound());
    assert!(
        log.take()
            .iter()
            .filter(|entry| entry.starts_with("probe:drv:manual"))
            .count()
            == 2
    );
    drop((manual, automatic, driver));
    drivermodel::testing::assert_quiescent(&model);
}

#[test]
fn an_autoprobe_consumer_link_does_not_bind_a_manual_device() {
    let model = model();
    let log = Log::new();
    let _driver = model
        .register_driver(TestDriver::exact("drv", "c", &log))
        .unwrap();
    let supplier = model
        .add_device(test_device("supplier", "c").autoprobe(false))
        .unwrap();
    let consumer = model
        .add_device(test_device("consumer", "c").autoprobe(false))
        .unwrap();
    model
        .add_link(&consumer, &supplier, LinkFlags::AUTOPROBE_CONSUMER)
        .unwrap();
    model.bind(&supplier).unwrap();
    assert!(!consumer.is_bound());
    model.bind(&consumer).unwrap();
    assert!(consumer.is_bound());
}

#[test]
fn link_queries_list_one_devices_suppliers_and_consumers() {
    let model = model();
    let clock = model.add_device(DeviceBuilder::new("clock")).unwrap();
    let power = model.add_device(DeviceBuilder::new("power")).unwrap();
    let uart = model.add_device(DeviceBuilder::new("uart")).unwrap();
    let spi = model.add_device(DeviceBuilder::new("spi")).unwrap();
    let uart_clock = model.add_link(&uart, &clock, LinkFlags::STATELESS).unwrap();
    let uart_power = model.add_link(&uart, &power, LinkFlags::empty()).unwrap();
    let spi_clock = model.add_link(&spi, &clock, LinkFlags::empty()).unwrap();
    let names = |links: Vec<drivermodel::Link>| {
        links
            .iter()
            .map(|link| {
                (
                    link.id,
                    link.consumer.name().to_owned(),
                    link.supplier.name().to_owned(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(model.suppliers(&uart)),
        [
            (uart_clock, "uart".into(), "clock".into()),
            (uart_power, "uart".into(), "power".into())
        ]
    );
    assert_eq!(
        names(model.consumers(&clock)),
        [
            (uart_clock, "uart".into(), "clock".into()),
            (spi_clock, "spi".into(), "clock".into())
        ]
    );
    assert!(model.consumers(&uart).is_empty());
    assert!(model.suppliers(&clock).is_empty());
    assert_eq!(model.suppliers(&uart)[0].flags, LinkFlags::STATELESS);
    // Deleting an end removes its links from both sides' lists.
    drop(uart);
    assert_eq!(
        names(model.consumers(&clock)),
        [(spi_clock, "spi".into(), "clock".into())]
    );
    assert!(model.consumers(&power).is_empty());
    drop((spi, power, clock));
    drivermodel::testing::assert_quiescent(&model);
}

fn wait_for(flag: &AtomicBool) {
    while !flag.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
}

#[test]
fn wait_for_probe_waits_for_that_device_only() {
    let model = model();
    let log = Log::new();
    // Each device's probe blocks until its own flag is set.
    let gates: Arc<[(AtomicBool, AtomicBool); 2]> = Arc::default();
    let driver = {
        let gates = gates.clone();
        TestDriver::exact("slow", "c", &log).with_probe(move |device, _, _| {
            let (started, release) = &gates[usize::from(device.name() == "b")];
            started.store(true, Ordering::SeqCst);
            wait_for(release);
            if device.name() == "b" {
                Err(Error::driver("no b today"))
            } else {
                Ok(())
            }
        })
    };
    let _driver = model.register_driver(driver).unwrap();
    let adders: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|name| {
            let model = model.clone();
            std::thread::spawn(move || model.add_device(test_device(name, "c")).unwrap())
        })
        .collect();
    wait_for(&gates[0].0);
    wait_for(&gates[1].0);
    let a = model.find_device(Some(BUS), "a").unwrap();
    let b = model.find_device(Some(BUS), "b").unwrap();
    // Release b only: waiting for b returns while a is still probing.
    gates[1].1.store(true, Ordering::SeqCst);
    assert_eq!(model.wait_for_probe(&b), Ok(BindingState::Unbound));
    assert_eq!(
        a.binding_state(),
        BindingState::Probing {
            driver: "slow".into()
        }
    );
    gates[0].1.store(true, Ordering::SeqCst);
    assert_eq!(
        model.wait_for_probe(&a),
        Ok(BindingState::Bound {
            driver: "slow".into()
        })
    );
    // No probe running: at once.
    assert_eq!(model.wait_for_probe(&b), Ok(BindingState::Unbound));
    let foreign = drivermodel::DeviceModel::new();
    assert!(matches!(
        foreign.wait_for_probe(&a),
        Err(Error::ForeignDevice { .. })
    ));
    let registrations: Vec<_> = adders
        .into_iter()
        .map(|adder| adder.join().unwrap())
        .collect();
    drop((a, b, registrations));
}

/// The common types at the root, and the three `Registration`s by their root names
/// (this compiles only if the names exist and are the module types).
#[test]
fn the_root_names_the_common_types_and_each_registration() {
    use drivermodel::{
        ARef, Bound, Core, Device, DeviceModel, DeviceRegistration, DriverRegistration, Event,
        EventKind, FauxRegistration, IoPortRange, Irq, LinkFlags, Normal, Resource, Subscription,
    };
    fn same<T>(_: &T, _: &T) {}
    let model = DeviceModel::new();
    let device: DeviceRegistration = model.add_device(DeviceBuilder::new("root0")).unwrap();
    let module: &drivermodel::device::Registration = &device;
    same(&device, module);
    let faux: FauxRegistration = drivermodel::faux::Registration::new(&model, "v", None).unwrap();
    let proof: &Device<Bound> = faux.device();
    let _: ARef<Device<Normal>> = proof.to_ref();
    let _: Option<&Device<Core>> = None;
    let _: Option<DriverRegistration<common::TestDriver>> =
        None::<drivermodel::driver::Registration<common::TestDriver>>;
    let _: Option<(Event, EventKind, Subscription, LinkFlags)> = None;
    let _ = Resource::IoPorts(IoPortRange::new(0x3f8, 8).unwrap());
    let _ = Resource::Irq(Irq(4));
}
