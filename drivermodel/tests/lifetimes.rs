//! The three lifetimes of a device: object (refcount), registration, binding; parent and
//! child; the reference loops that devres release at delete breaks.

mod common;

use common::{Log, TestDriver, model, test_device};
use drivermodel::resource::{IoPortRange, Irq, MmioRange, Resource};
use drivermodel::{ARef, Device, DeviceBuilder, DeviceModel, Error};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn counting_release(counter: &Arc<AtomicUsize>) -> impl FnOnce() + Send + 'static {
    let counter = counter.clone();
    move || {
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn object_outlives_registration_and_releases_once() {
    let model = DeviceModel::new();
    let released = Arc::new(AtomicUsize::new(0));
    let registration = model
        .add_device(DeviceBuilder::new("root0").on_release(counting_release(&released)))
        .unwrap();
    let extra: ARef<Device> = registration.device().clone();
    // Registration's reference, the model's reference, `extra`.
    assert_eq!(ARef::count(&extra), 3);
    let another = extra.clone();
    assert_eq!(ARef::count(&extra), 4);
    drop(another);
    assert!(extra.is_registered());
    assert_eq!(model.counts().registered_devices, 1);
    registration.delete().unwrap();
    assert!(!extra.is_registered());
    assert_eq!(ARef::count(&extra), 1);
    assert_eq!(model.counts().registered_devices, 0);
    assert_eq!(model.counts().devices, 1, "object still alive");
    assert_eq!(released.load(Ordering::SeqCst), 0);
    assert!(model.find_device(None, "root0").is_none());
    drop(extra);
    assert_eq!(released.load(Ordering::SeqCst), 1);
    assert!(model.is_quiescent());
}

#[test]
fn a_failed_add_creates_no_object() {
    let model = DeviceModel::new();
    let released = Arc::new(AtomicUsize::new(0));
    let first = model.add_device(DeviceBuilder::new("same")).unwrap();
    let error = model
        .add_device(DeviceBuilder::new("same").on_release(counting_release(&released)))
        .unwrap_err();
    assert_eq!(
        error,
        Error::NameTaken {
            bus: None,
            name: "same".into()
        }
    );
    assert_eq!(model.counts().devices, 1);
    assert_eq!(released.load(Ordering::SeqCst), 0, "hook dropped, not run");
    drop(first);
    // The name is free again after delete.
    let again = model.add_device(DeviceBuilder::new("same")).unwrap();
    drop(again);
    assert!(model.is_quiescent());
}

#[test]
fn to_ref_and_from_any_context_count() {
    let model = DeviceModel::new();
    let registration = model.add_device(DeviceBuilder::new("d")).unwrap();
    let counted = registration.to_ref();
    assert!(ARef::ptr_eq(&counted, registration.device()));
    assert_eq!(ARef::count(&counted), 3);
    let from_reference = ARef::from(&*registration);
    assert_eq!(ARef::count(&from_reference), 4);
    assert!(from_reference.same_as(&counted));
    drop((counted, from_reference, registration));
    assert!(model.is_quiescent());
}

#[test]
fn child_holds_its_parent_object() {
    let model = DeviceModel::new();
    let parent_released = Arc::new(AtomicUsize::new(0));
    let parent = model
        .add_device(DeviceBuilder::new("parent").on_release(counting_release(&parent_released)))
        .unwrap();
    let child = model
        .add_device(DeviceBuilder::new("child").parent(&parent))
        .unwrap();
    let child_object = child.device().clone();
    assert_eq!(model.children(&parent).len(), 1);
    assert_eq!(child.path(), "/devices/parent/child");
    drop(child);
    drop(parent);
    assert_eq!(
        parent_released.load(Ordering::SeqCst),
        0,
        "the child object still holds its parent"
    );
    assert_eq!(child_object.parent().unwrap().name(), "parent");
    drop(child_object);
    assert_eq!(parent_released.load(Ordering::SeqCst), 1);
    assert!(model.is_quiescent());
}

#[test]
fn parent_deletion_waits_for_children() {
    let model = model();
    let log = Log::new();
    let driver = model
        .register_driver(TestDriver::exact("drv", "bus-ctl", &log))
        .unwrap();
    let parent = model.add_device(test_device("ctl", "bus-ctl")).unwrap();
    parent.devres().len(); // bound, devres empty
    let first = model
        .add_device(DeviceBuilder::new("first").parent(&parent))
        .unwrap();
    let second = model
        .add_device(DeviceBuilder::new("second").parent(&parent))
        .unwrap();
    let parent_object = parent.device().clone();
    log.take();
    // Delete unbinds first and releases devres, then finds the children: pending.
    assert_eq!(
        parent.delete(),
        Err(Error::HasChildren {
            device: "ctl".into(),
            children: 2
        })
    );
    assert_eq!(log.take(), ["unbind:drv:ctl:devres=0", "remove:drv:ctl"]);
    // Pending: still registered, but dead: unbound, no new children, no new probe.
    assert!(parent_object.is_registered());
    assert!(!parent_object.is_bound());
    assert!(
        model
            .tree()
            .contains("/devices/test/ctl bus=test driver=- devres=0 delete-pending")
    );
    assert_eq!(
        model
            .add_device(DeviceBuilder::new("third").parent(&parent_object))
            .unwrap_err(),
        Error::ParentDeleted {
            parent: "ctl".into()
        }
    );
    assert_eq!(
        model.bind(&parent_object),
        Err(Error::DeviceDeleted {
            device: "ctl".into()
        })
    );
    assert_eq!(
        model.bind_driver(&parent_object, "drv"),
        Err(Error::DeviceDeleted {
            device: "ctl".into()
        })
    );
    let other = model
        .register_driver(TestDriver::exact("other", "bus-ctl", &log))
        .unwrap();
    assert!(!parent_object.is_bound(), "a new driver never probes it");
    drop(other);
    drop(second);
    assert!(parent_object.is_registered());
    drop(first); // the last child: the parent's deletion completes
    assert!(!parent_object.is_registered());
    assert!(log.take().is_empty(), "nothing more of the driver ran");
    drop((parent_object, driver));
    assert!(model.is_quiescent());
}

#[test]
fn nested_pending_deletions_complete_bottom_up() {
    let model = DeviceModel::new();
    let top = model.add_device(DeviceBuilder::new("top")).unwrap();
    let middle = model
        .add_device(DeviceBuilder::new("middle").parent(&top))
        .unwrap();
    let bottom = model
        .add_device(DeviceBuilder::new("bottom").parent(&middle))
        .unwrap();
    drop(top);
    drop(middle);
    assert_eq!(model.counts().registered_devices, 3);
    drop(bottom);
    assert!(model.devices().is_empty());
    assert!(model.is_quiescent());
}

/// The seed bug, unbound: a devres action owns the last extra reference to its own
/// device; nothing was ever bound. Deleting the device runs the action, and the device
/// is released.
#[test]
fn reference_loop_unbound_is_broken_at_delete() {
    let model = DeviceModel::new();
    let released = Arc::new(AtomicUsize::new(0));
    let registration = model
        .add_device(DeviceBuilder::new("vgem").on_release(counting_release(&released)))
        .unwrap();
    let own_reference = registration.device().clone();
    registration
        .devres()
        .add_action(move || drop(own_reference))
        .unwrap();
    assert_eq!(model.counts().devres_nodes, 1);
    drop(registration);
    assert_eq!(released.load(Ordering::SeqCst), 1);
    assert!(model.is_quiescent(), "{:?}", model.counts());
}

/// The same loop, with the reference taken by a bound driver's probe.
#[test]
fn reference_loop_bound_is_broken_at_unbind() {
    let model = model();
    let log = Log::new();
    let released = Arc::new(AtomicUsize::new(0));
    let driver = model
        .register_driver(
            TestDriver::exact("drv", "c", &log).with_probe(|device, _, _| {
                let own_reference = ARef::from(device);
                device.devres().add_action(move || drop(own_reference))?;
                Ok(())
            }),
        )
        .unwrap();
    let registration = model
        .add_device(test_device("dev", "c").on_release(counting_release(&released)))
        .unwrap();
    assert!(registration.is_bound());
    drop(registration);
    assert_eq!(released.load(Ordering::SeqCst), 1);
    drop(driver);
    assert!(model.is_quiescent(), "{:?}", model.counts());
}

/// The vkms/DRM shape: a display object holds a reference on its parent device; the
/// parent's devres holds the display's first reference.
#[test]
fn managed_object_holding_its_parent_is_freed_at_delete() {
    struct Display {
        _parent: ARef<Device>,
        dropped: Arc<AtomicUsize>,
    }
    impl Drop for Display {
        fn drop(&mut self) {
            self.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
    let model = DeviceModel::new();
    let dropped = Arc::new(AtomicUsize::new(0));
    let parent = model.add_device(DeviceBuilder::new("vkms")).unwrap();
    let display = Arc::new(Display {
        _parent: parent.device().clone(),
        dropped: dropped.clone(),
    });
    let group = parent.devres().open_group().unwrap();
    parent.devres().alloc(display.clone()).unwrap();
    parent.devres().close_group(Some(group)).unwrap();
    // A user (an open file) still holds the display past the delete.
    let user = display.clone();
    drop(display);
    drop(parent);
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    assert_eq!(model.counts().devices, 1, "the display holds the parent");
    drop(user);
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    assert!(model.is_quiescent());
}

#[test]
fn devres_added_after_delete_is_released_at_final_drop() {
    let model = DeviceModel::new();
    let log = Log::new();
    let registration = model.add_device(DeviceBuilder::new("late")).unwrap();
    let object = registration.device().clone();
    drop(registration);
    object.devres().add_action(log.action("a")).unwrap();
    object.devres().add_action(log.action("b")).unwrap();
    assert_eq!(model.counts().devres_nodes, 2);
    assert!(log.snapshot().is_empty());
    drop(object);
    assert_eq!(log.take(), ["b", "a"]);
    assert!(model.is_quiescent());
}

#[test]
fn typed_resources_and_properties() {
    let model = DeviceModel::new();
    let device = model
        .add_device(
            DeviceBuilder::new("bochs")
                .resource(Resource::Mmio(
                    MmioRange::new(0xfd00_0000, 0x100_0000).unwrap(),
                ))
                .resource(Resource::IoPorts(IoPortRange::new(0x1ce, 2).unwrap()))
                .resource(Resource::Mmio(MmioRange::new(0xfebf_0000, 0x1000).unwrap()))
                .resource(Resource::Irq(Irq(11)))
                .property("vendor", 0x1234u64)
                .property("model", "bochs-display")
                .data(0x1111u16),
        )
        .unwrap();
    assert_eq!(device.mmio(1).unwrap().start(), 0xfebf_0000);
    assert_eq!(device.io_ports(0).unwrap().length(), 2);
    assert_eq!(device.irq(0), Some(Irq(11)));
    assert_eq!(device.irq(1), None);
    assert_eq!(device.resources().len(), 4);
    assert_eq!(device.read_u64("vendor"), Ok(0x1234));
    assert_eq!(device.read_string("model"), Ok("bochs-display"));
    assert_eq!(device.properties().count(), 2);
    assert_eq!(device.data::<u16>(), Some(&0x1111));
    assert_eq!(device.data::<u32>(), None);
    drop(device);
    assert!(model.is_quiescent());
}

#[test]
fn listings_follow_registration_order() {
    let model = model();
    let log = Log::new();
    let a = model.add_device(test_device("a", "x")).unwrap();
    let root = model.add_device(DeviceBuilder::new("root")).unwrap();
    let b = model.add_device(test_device("b", "x")).unwrap();
    let names: Vec<String> = model
        .devices()
        .iter()
        .map(|device| device.name().to_string())
        .collect();
    assert_eq!(names, ["a", "root", "b"]);
    assert!(model.find_device(Some("test"), "b").unwrap().same_as(&b));
    assert!(model.find_device(Some("test"), "root").is_none());
    assert!(model.find_device(None, "root").is_some());
    assert!(model.find_device(Some("nobus"), "a").is_none());
    assert_eq!(model.buses(), ["faux", "test"]);
    let driver = model
        .register_driver(TestDriver::exact("x", "x", &log))
        .unwrap();
    let drivers = model.drivers();
    assert_eq!(drivers.len(), 2);
    assert_eq!(drivers[1].name, "x");
    assert_eq!(drivers[1].bound, 2);
    assert_eq!(model.counts().drivers, 1);
    drop((a, root, b, driver));
    assert_eq!(model.counts().drivers, 0);
    assert!(model.is_quiescent());
}

#[test]
fn handles_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<DeviceModel>();
    send_sync::<Device>();
    send_sync::<ARef<Device>>();
    send_sync::<drivermodel::device::Registration>();
    send_sync::<drivermodel::faux::Registration>();
    send_sync::<drivermodel::driver::Registration<TestDriver>>();
    send_sync::<drivermodel::Devres<u32>>();
}

/// A bridge-style driver: its probe adds a child device and its state owns the child's
/// registration, so its remove (the drop of the state) deletes the child.
struct OwnsChild;

impl drivermodel::Driver for OwnsChild {
    type Bus = common::TestBus;
    type IdInfo = u32;
    type State = drivermodel::device::Registration;

    fn name(&self) -> &str {
        "bridge"
    }

    fn id_table(&self) -> &[drivermodel::IdEntry<common::TestId, u32>] {
        static TABLE: std::sync::OnceLock<Vec<drivermodel::IdEntry<common::TestId, u32>>> =
            std::sync::OnceLock::new();
        TABLE.get_or_init(|| {
            vec![drivermodel::IdEntry::new(
                common::TestId::Exact("bridge".into()),
                0,
            )]
        })
    }

    fn probe(
        &self,
        device: &Device<drivermodel::context::Core>,
        _info: &u32,
    ) -> drivermodel::Result<Self::State> {
        let model = device.model().ok_or_else(|| Error::driver("model gone"))?;
        model.add_device(DeviceBuilder::new(format!("{}-child", device.name())).parent(device))
    }
}

/// Delete unbinds first: a parent whose driver owns its child (the driver's remove
/// deletes it) is deleted at once, whether the delete is explicit or the registration's
/// `Drop`.
#[test]
fn delete_unbinds_first_so_driver_owned_children_go_with_it() {
    let model = model();
    let driver = model.register_driver(OwnsChild).unwrap();
    let first = model.add_device(test_device("one", "bridge")).unwrap();
    let second = model.add_device(test_device("two", "bridge")).unwrap();
    assert!(model.find_device(None, "one-child").is_some());
    let (first_object, second_object) = (first.device().clone(), second.device().clone());
    assert_eq!(first.delete(), Ok(()));
    assert!(model.find_device(None, "one-child").is_none());
    assert!(!first_object.is_registered() && !first_object.is_bound());
    drop(second);
    assert!(model.find_device(None, "two-child").is_none());
    assert!(!second_object.is_registered());
    drop((first_object, second_object, driver));
    assert!(model.is_quiescent(), "{:?}", model.counts());
}

/// A parent with a driver-owned child and a child someone else holds: the delete unbinds
/// it (the owned child goes) and leaves it pending on the other child, unbound and with
/// its devres released; deleting that child completes it.
#[test]
fn a_parent_with_a_foreign_child_stays_pending_unbound() {
    let model = model();
    let driver = model.register_driver(OwnsChild).unwrap();
    let parent = model.add_device(test_device("one", "bridge")).unwrap();
    let foreign = model
        .add_device(DeviceBuilder::new("foreign").parent(&parent))
        .unwrap();
    let log = Log::new();
    let object = parent.device().clone();
    assert_eq!(
        parent.delete(),
        Err(Error::HasChildren {
            device: "one".into(),
            children: 1
        })
    );
    assert!(model.find_device(None, "one-child").is_none());
    assert!(object.is_registered() && !object.is_bound());
    assert_eq!(object.devres().len(), 0);
    // Devres added to a pending device goes when its deletion completes.
    object.devres().add_action(log.action("late")).unwrap();
    drop(foreign);
    assert_eq!(log.take(), ["late"]);
    assert!(!object.is_registered());
    drop((object, driver));
    assert!(model.is_quiescent(), "{:?}", model.counts());
}
