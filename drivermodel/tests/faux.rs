//! The faux bus: always bound or an error; the live handle is the bound proof.

mod common;

use common::Log;
use drivermodel::event::EventKind;
use drivermodel::{DeviceBuilder, DeviceModel, Devres, Error, faux};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[test]
fn create_returns_a_bound_device_and_destroy_releases_everything() {
    let model = DeviceModel::new();
    let log = Log::new();
    let vkms = faux::Registration::with_probe(&model, "vkms", None, {
        let log = log.clone();
        move |device| {
            device.devres().add_action(log.action("probe-resource"))?;
            Ok(())
        }
    })
    .unwrap();
    let device = vkms.device();
    assert!(device.is_bound());
    assert_eq!(device.bus_name(), Some(faux::BUS_NAME));
    assert_eq!(device.driver_name().as_deref(), Some(faux::DRIVER_NAME));
    // The handle proves bound: devres groups and Devres work as for real drivers.
    let group = device.devres().open_group().unwrap();
    device.devres().add_action(log.action("display")).unwrap();
    device.devres().close_group(Some(group)).unwrap();
    let framebuffer = Devres::new(device, vec![0u32; 16]).unwrap();
    assert_eq!(framebuffer.access(device).unwrap().len(), 16);
    assert_eq!(model.counts().bindings, 1);
    drop(vkms);
    assert_eq!(log.take(), ["display", "probe-resource"]);
    assert!(framebuffer.try_access().is_none());
    drop(framebuffer);
    assert!(model.is_quiescent(), "{:?}", model.counts());
}

#[test]
fn failed_create_leaves_nothing_registered() {
    let model = DeviceModel::new();
    let log = Log::new();
    let events = Log::default();
    let _subscription = events.subscribe(&model, |event| Some(event.kind));
    let result = faux::Registration::with_probe(&model, "broken", None, {
        let log = log.clone();
        move |device| {
            device.devres().add_action(log.action("undone"))?;
            Err(Error::driver("cannot allocate planes"))
        }
    });
    assert_eq!(result.unwrap_err(), Error::driver("cannot allocate planes"));
    assert_eq!(log.take(), ["undone"]);
    assert!(model.find_device(Some(faux::BUS_NAME), "broken").is_none());
    assert!(model.devices().is_empty());
    assert!(model.is_quiescent(), "{:?}", model.counts());
    assert_eq!(
        events.take(),
        [
            EventKind::Add,
            EventKind::Bind,
            EventKind::NotBound,
            EventKind::Delete,
            EventKind::Removed
        ]
    );
    // The name is free: a second attempt works.
    let again = faux::Registration::new(&model, "broken", None).unwrap();
    drop(again);
    assert!(model.is_quiescent());
}

#[test]
fn name_taken_is_an_error_too() {
    let model = DeviceModel::new();
    let first = faux::Registration::new(&model, "vgem", None).unwrap();
    assert!(matches!(
        faux::Registration::new(&model, "vgem", None),
        Err(Error::NameTaken { .. })
    ));
    assert_eq!(model.counts().registered_devices, 1);
    drop(first);
    assert!(model.is_quiescent());
}

#[test]
fn manual_bind_and_unbind_are_refused() {
    let model = DeviceModel::new();
    let faux = faux::Registration::new(&model, "v", None).unwrap();
    assert_eq!(
        model.unbind(faux.device()),
        Err(Error::ManualBindRefused {
            driver: faux::DRIVER_NAME.into()
        })
    );
    assert!(matches!(
        model.bind(faux.device()),
        Err(Error::AlreadyBound { .. })
    ));
    assert!(faux.device().is_bound());
    drop(faux);
    assert!(model.is_quiescent());
}

#[test]
fn faux_child_keeps_its_parent_registered_until_destroyed() {
    let model = DeviceModel::new();
    let parent = model.add_device(DeviceBuilder::new("card")).unwrap();
    let parent_object = parent.device().clone();
    let child = faux::Registration::new(&model, "card-display", Some(&parent)).unwrap();
    assert_eq!(child.device().path(), "/devices/card/card-display");
    drop(parent); // pending: the faux child must stay bound
    assert!(child.device().is_bound());
    assert!(parent_object.is_registered());
    drop(child);
    assert!(!parent_object.is_registered());
    drop(parent_object);
    assert!(model.is_quiescent());
}

#[test]
fn the_vkms_shape_without_a_reference_loop() {
    // vkms: faux device, devres group, a display object holding the device, destroy.
    struct Display {
        _device: drivermodel::ARef<drivermodel::Device>,
    }
    let model = DeviceModel::new();
    let vkms = faux::Registration::new(&model, "vkms", None).unwrap();
    let group = vkms.device().devres().open_group().unwrap();
    let display = Arc::new(Display {
        _device: vkms.device().to_ref(),
    });
    vkms.device().devres().alloc(display).unwrap();
    vkms.device().devres().close_group(Some(group)).unwrap();
    drop(vkms);
    assert!(model.is_quiescent(), "{:?}", model.counts());
}

/// A faux device that describes itself: properties and resources given to the builder
/// are there during its probe and afterwards; a failed probe leaves nothing.
#[test]
fn builder_creates_a_described_bound_device() {
    use drivermodel::resource::{Irq, Resource};
    let model = DeviceModel::new();
    let board = model.add_device(DeviceBuilder::new("board")).unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let in_probe = seen.clone();
    let ram = faux::Registration::builder("ram0")
        .parent(&*board)
        .property("size", 4096u64)
        .property("model", "ramdisk")
        .resource(Resource::Irq(Irq(9)))
        .probe(move |device| {
            if device.read_u64("size") == Ok(4096) {
                in_probe.fetch_add(1, Ordering::SeqCst);
            }
            Ok(())
        })
        .create(&model)
        .unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    assert!(ram.device().is_bound());
    assert_eq!(ram.device().path(), "/devices/board/ram0");
    assert_eq!(ram.device().properties().count(), 2);
    assert_eq!(ram.device().irq(0), Some(Irq(9)));
    let failed = faux::Registration::builder("ram1")
        .property("size", 1u64)
        .probe(|_| Err(Error::driver("no memory")))
        .create(&model);
    assert_eq!(failed.unwrap_err(), Error::driver("no memory"));
    assert!(model.find_device(Some("faux"), "ram1").is_none());
    drop(ram);
    drop(board);
    assert!(model.is_quiescent());
}

/// The faux builder's release hook (issue 10.5): dropped without running when the add
/// fails (no object), run once when the probe fails (the object existed).
#[test]
fn release_hook_runs_after_a_failed_probe_but_not_after_a_failed_add() {
    let model = DeviceModel::new();
    let released = Arc::new(AtomicUsize::new(0));
    let counter = released.clone();
    let error = faux::Registration::builder("bad/name")
        .on_release(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .create(&model)
        .unwrap_err();
    assert!(matches!(error, Error::InvalidName { .. }));
    assert_eq!(
        released.load(Ordering::SeqCst),
        0,
        "no object: hook dropped"
    );
    let counter = released.clone();
    let error = faux::Registration::builder("gpu")
        .on_release(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .probe(|_| Err(Error::driver("no firmware")))
        .create(&model)
        .unwrap_err();
    assert_eq!(error, Error::driver("no firmware"));
    assert_eq!(released.load(Ordering::SeqCst), 1, "the object existed");
    assert!(model.is_quiescent());
}
