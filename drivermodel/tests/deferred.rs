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
    let log = Log::default();
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
    let log = Log::default();
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
    let log = Log::default();
    model.set_debug_reprobe(true);
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let _subscription = model.subscribe(move |event| sink.lock().unwrap().push(event.kind));
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
        *events.lock().unwrap(),
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
