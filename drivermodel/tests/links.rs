//! Device links: deferral until the supplier binds, cascading unbind, cycles, autoremove,
//! autoprobe, links dying with either end.

mod common;

use common::{Log, TestDriver, model, test_device};
use drivermodel::link::LinkFlags;
use drivermodel::{DeviceBuilder, Error, faux};

#[test]
fn consumer_waits_for_its_supplier_and_unbinds_first() {
    let model = model();
    let log = Log::new();
    let consumer_driver = model
        .register_driver(
            TestDriver::exact("uart", "uart", &log).with_probe(|device, _, log| {
                device.devres().add_action(log.action("uart-devres"))?;
                Ok(())
            }),
        )
        .unwrap();
    let clock = model.add_device(test_device("clock", "clk")).unwrap();
    let uart = model.add_device(test_device("uart", "uart")).unwrap();
    assert!(uart.is_bound(), "no link yet");
    model.unbind(&uart).unwrap();
    model.add_link(&uart, &clock, LinkFlags::empty()).unwrap();
    assert_eq!(
        model.bind(&uart),
        Err(Error::Deferred {
            reason: "waiting for supplier clock".into()
        })
    );
    assert_eq!(
        uart.deferred_reason().as_deref(),
        Some("waiting for supplier clock")
    );
    log.take();
    let clock_driver = model
        .register_driver(
            TestDriver::exact("clk", "clk", &log).with_probe(|device, _, log| {
                device.devres().add_action(log.action("clock-devres"))?;
                Ok(())
            }),
        )
        .unwrap();
    assert!(clock.is_bound());
    assert!(uart.is_bound(), "the supplier's bind retried the consumer");
    log.take();
    // Unbinding the supplier unbinds the consumer first, completely.
    model.unbind(&clock).unwrap();
    assert_eq!(
        log.take(),
        [
            "unbind:uart:uart:devres=1",
            "remove:uart:uart",
            "uart-devres",
            "unbind:clk:clock:devres=1",
            "remove:clk:clock",
            "clock-devres"
        ]
    );
    assert!(!uart.is_bound());
    // The same when the supplier's driver goes away.
    model.bind(&clock).unwrap();
    model.bind(&uart).unwrap();
    log.take();
    drop(clock_driver);
    assert_eq!(
        log.take()[..2],
        ["unbind:uart:uart:devres=1", "remove:uart:uart"]
    );
    // Deleting an end removes the link.
    assert_eq!(model.links().len(), 1);
    drop(clock);
    assert!(model.links().is_empty());
    model.bind(&uart).unwrap();
    drop((uart, consumer_driver));
    assert!(model.is_quiescent());
}

#[test]
fn cycles_and_bad_links_are_refused() {
    let model = model();
    let parent = model.add_device(DeviceBuilder::new("parent")).unwrap();
    let child = model
        .add_device(DeviceBuilder::new("child").parent(&parent))
        .unwrap();
    let a = model.add_device(DeviceBuilder::new("a")).unwrap();
    let b = model.add_device(DeviceBuilder::new("b")).unwrap();
    let c = model.add_device(DeviceBuilder::new("c")).unwrap();
    model.add_link(&a, &b, LinkFlags::empty()).unwrap();
    model.add_link(&b, &c, LinkFlags::STATELESS).unwrap();
    let refused = |result: drivermodel::Result<drivermodel::link::LinkId>| {
        assert!(
            matches!(result, Err(Error::InvalidLink { .. })),
            "{result:?}"
        );
    };
    refused(model.add_link(&c, &a, LinkFlags::empty())); // a -> b -> c -> a
    refused(model.add_link(&b, &a, LinkFlags::empty()));
    refused(model.add_link(&parent, &child, LinkFlags::empty())); // child depends on parent
    refused(model.add_link(&a, &a, LinkFlags::empty()));
    refused(model.add_link(&a, &b, LinkFlags::empty())); // duplicate
    refused(model.add_link(
        &a,
        &c,
        LinkFlags::STATELESS | LinkFlags::AUTOREMOVE_CONSUMER,
    ));
    refused(model.add_link(
        &a,
        &c,
        LinkFlags::AUTOPROBE_CONSUMER | LinkFlags::AUTOREMOVE_SUPPLIER,
    ));
    let virtual_device = faux::Registration::new(&model, "v", None).unwrap();
    refused(model.add_link(virtual_device.device(), &a, LinkFlags::empty()));
    model
        .add_link(virtual_device.device(), &a, LinkFlags::STATELESS)
        .unwrap();
    model.add_link(&child, &a, LinkFlags::empty()).unwrap();
    let other = common::model();
    assert!(matches!(
        other.add_link(&a, &b, LinkFlags::empty()),
        Err(Error::ForeignDevice { .. })
    ));
    let kept = c.device().clone();
    drop(c);
    assert!(matches!(
        model.add_link(&a, &kept, LinkFlags::empty()),
        Err(Error::DeviceDeleted { .. })
    ));
    drop((virtual_device, child, parent, a, b, kept));
    assert!(model.links().is_empty());
    assert!(model.is_quiescent());
}

#[test]
fn autoremove_and_autoprobe() {
    let model = model();
    let log = Log::new();
    let drivers = (
        model
            .register_driver(TestDriver::exact("s", "s", &log))
            .unwrap(),
        model
            .register_driver(TestDriver::exact("c", "c", &log))
            .unwrap(),
    );
    let supplier = model.add_device(test_device("supplier", "s")).unwrap();
    let consumer = model.add_device(test_device("consumer", "c")).unwrap();
    let other = model.add_device(test_device("other", "c")).unwrap();
    // AUTOPROBE: the consumer comes back when the supplier binds again.
    model
        .add_link(&consumer, &supplier, LinkFlags::AUTOPROBE_CONSUMER)
        .unwrap();
    // Plain: the consumer stays unbound.
    model
        .add_link(&other, &supplier, LinkFlags::empty())
        .unwrap();
    model.unbind(&supplier).unwrap();
    assert!(!consumer.is_bound() && !other.is_bound());
    model.bind(&supplier).unwrap();
    assert!(consumer.is_bound());
    assert!(!other.is_bound());
    model.bind(&other).unwrap();
    // AUTOREMOVE_CONSUMER: gone when the consumer unbinds.
    let third = model.add_device(test_device("third", "c")).unwrap();
    model
        .add_link(&third, &supplier, LinkFlags::AUTOREMOVE_CONSUMER)
        .unwrap();
    assert_eq!(model.links().len(), 3);
    model.unbind(&third).unwrap();
    assert_eq!(model.links().len(), 2);
    // AUTOREMOVE_SUPPLIER: gone when the supplier unbinds.
    model.bind(&third).unwrap();
    model
        .add_link(&third, &supplier, LinkFlags::AUTOREMOVE_SUPPLIER)
        .unwrap();
    model.unbind(&supplier).unwrap();
    assert_eq!(model.links().len(), 2);
    // A stateless link never blocks binding.
    let free = model.add_device(test_device("free", "c")).unwrap();
    model.unbind(&free).unwrap();
    model
        .add_link(&free, &supplier, LinkFlags::STATELESS)
        .unwrap();
    model.bind(&free).unwrap();
    let link = model
        .links()
        .into_iter()
        .find(|link| link.consumer.same_as(&free));
    model.remove_link(link.unwrap().id).unwrap();
    drop((supplier, consumer, other, third, free, drivers));
    assert!(model.is_quiescent());
}

/// Deleting the consumer, the supplier, or a device that is both removes exactly the
/// links it is part of; removing a removed link is an error.
#[test]
fn deleting_either_end_removes_the_link() {
    let model = model();
    let pairs = |model: &drivermodel::DeviceModel| -> Vec<(String, String)> {
        model
            .links()
            .into_iter()
            .map(|link| (link.consumer.name().into(), link.supplier.name().into()))
            .collect()
    };
    let a = model.add_device(DeviceBuilder::new("a")).unwrap();
    let b = model.add_device(DeviceBuilder::new("b")).unwrap();
    let c = model.add_device(DeviceBuilder::new("c")).unwrap();
    let d = model.add_device(DeviceBuilder::new("d")).unwrap();
    let b_on_a = model.add_link(&b, &a, LinkFlags::empty()).unwrap();
    model.add_link(&c, &b, LinkFlags::STATELESS).unwrap();
    model.add_link(&d, &a, LinkFlags::empty()).unwrap();
    model.add_link(&c, &d, LinkFlags::empty()).unwrap();
    // `b` is the supplier of one link and the consumer of another.
    drop(b);
    assert_eq!(
        pairs(&model),
        [("d".into(), "a".into()), ("c".into(), "d".into())]
    );
    assert_eq!(
        model.remove_link(b_on_a),
        Err(Error::InvalidLink {
            reason: "no such link"
        })
    );
    // The consumer end.
    drop(c);
    assert_eq!(pairs(&model), [("d".to_string(), "a".to_string())]);
    // The supplier end.
    drop(a);
    assert!(pairs(&model).is_empty());
    assert!(d.is_registered());
    drop(d);
    assert!(model.is_quiescent());
}
