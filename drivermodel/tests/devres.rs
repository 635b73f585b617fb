//! devres: identity, release/destroy/remove, groups, LIFO everywhere, and Devres<T>
//! revocation (including a reader in flight on another thread).

mod common;

use common::{Log, TestDriver, model, test_device};
use drivermodel::devres::ResourceKey;
use drivermodel::{DeviceBuilder, DeviceModel, Devres, Error};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

enum TestKind {}

#[test]
fn newest_match_wins_for_release_destroy_and_remove() {
    let model = DeviceModel::new();
    let log = Log::new();
    let device = model.add_device(DeviceBuilder::new("d")).unwrap();
    let devres = device.devres();
    let key = ResourceKey::new::<TestKind>(7);
    devres.add_action_keyed(key, log.action("old")).unwrap();
    devres.add_action_keyed(key, log.action("middle")).unwrap();
    devres.add_action_keyed(key, log.action("new")).unwrap();
    assert!(devres.contains(key));
    devres.release(key).unwrap();
    assert_eq!(log.take(), ["new"]);
    devres.destroy(key).unwrap();
    assert!(log.take().is_empty(), "destroy does not run the action");
    let removed = devres.remove(key).unwrap();
    assert!(!devres.contains(key));
    assert_eq!(
        devres.release(key),
        Err(Error::DevresNotFound { device: "d".into() })
    );
    assert!(log.take().is_empty());
    removed.release();
    assert_eq!(log.take(), ["old"]);
    assert_eq!(model.counts().devres_nodes, 0);
    drop(device);
    assert!(model.is_quiescent());
}

#[test]
fn managed_allocations_drop_at_release_or_come_back_on_remove() {
    struct Tracked(Arc<AtomicUsize>);
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let model = DeviceModel::new();
    let dropped = Arc::new(AtomicUsize::new(0));
    let device = model.add_device(DeviceBuilder::new("d")).unwrap();
    let first = device.devres().alloc(Tracked(dropped.clone())).unwrap();
    let second = device.devres().alloc(vec![1u8, 2, 3]).unwrap();
    assert_ne!(first, second);
    let removed = device.devres().remove(second).unwrap();
    assert_eq!(removed.downcast::<Vec<u8>>().unwrap(), [1, 2, 3]);
    let key = device.devres().alloc(Tracked(dropped.clone())).unwrap();
    let wrong = device.devres().remove(key).unwrap().downcast::<u32>();
    let removed = wrong.unwrap_err();
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    removed.release();
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    device.devres().release(first).unwrap();
    assert_eq!(dropped.load(Ordering::SeqCst), 2);
    drop(device);
    assert!(model.is_quiescent());
}

#[test]
fn add_action_or_reset_runs_the_action_when_adding_fails() {
    let model = DeviceModel::new();
    let log = Log::new();
    let device = model
        .add_device(DeviceBuilder::new("small").devres_capacity(1))
        .unwrap();
    device
        .devres()
        .add_action_or_reset(log.action("kept"))
        .unwrap();
    assert!(log.snapshot().is_empty());
    let error = device
        .devres()
        .add_action_or_reset(log.action("reset at once"))
        .unwrap_err();
    assert_eq!(
        error,
        Error::DevresFull {
            device: "small".into(),
            capacity: 1
        }
    );
    assert_eq!(log.take(), ["reset at once"]);
    // Plain add drops the action without running it.
    assert!(device.devres().add_action(log.action("never")).is_err());
    assert!(device.devres().open_group().is_err());
    drop(device);
    assert_eq!(log.take(), ["kept"]);
    assert!(model.is_quiescent());
}

#[test]
fn groups_release_lifo_with_nesting() {
    let model = DeviceModel::new();
    let log = Log::new();
    let device = model.add_device(DeviceBuilder::new("d")).unwrap();
    let devres = device.devres();
    devres.add_action(log.action("before")).unwrap();
    let outer = devres.open_group().unwrap();
    devres.add_action(log.action("outer-1")).unwrap();
    let inner = devres.open_group().unwrap();
    devres.add_action(log.action("inner-1")).unwrap();
    devres.add_action(log.action("inner-2")).unwrap();
    devres.close_group(None).unwrap(); // closes `inner`, the newest open group
    devres.add_action(log.action("outer-2")).unwrap();
    devres.close_group(Some(outer)).unwrap();
    devres.add_action(log.action("after")).unwrap();
    assert!(matches!(
        devres.close_group(Some(outer)),
        Err(Error::GroupNotFound { .. })
    ));
    assert_eq!(devres.release_group(outer).unwrap(), 4);
    assert_eq!(log.take(), ["outer-2", "inner-2", "inner-1", "outer-1"]);
    assert!(matches!(
        devres.release_group(inner),
        Err(Error::GroupNotFound { .. })
    ));
    assert_eq!(devres.len(), 2, "only `before` and `after` remain");
    drop(device);
    assert_eq!(log.take(), ["after", "before"]);
    assert!(model.is_quiescent());
}

#[test]
fn open_group_releases_to_the_end_and_removed_groups_merge() {
    let model = DeviceModel::new();
    let log = Log::new();
    let device = model.add_device(DeviceBuilder::new("d")).unwrap();
    let devres = device.devres();
    let merged = devres.open_group().unwrap();
    devres.add_action(log.action("merged")).unwrap();
    devres.close_group(Some(merged)).unwrap();
    devres.remove_group(merged).unwrap();
    assert_eq!(devres.len(), 1, "markers gone, resource kept");
    let open = devres.open_group().unwrap();
    devres.add_action(log.action("open-1")).unwrap();
    let nested_open = devres.open_group().unwrap();
    devres.add_action(log.action("open-2")).unwrap();
    assert_eq!(devres.release_group(open).unwrap(), 2);
    assert_eq!(log.take(), ["open-2", "open-1"]);
    assert!(
        devres.release_group(nested_open).is_err(),
        "released with its parent"
    );
    assert_eq!(devres.len(), 1);
    drop(device);
    assert_eq!(log.take(), ["merged"]);
    assert!(model.is_quiescent());
}

#[test]
fn whole_list_release_is_lifo_across_groups_at_unbind() {
    let model = model();
    let log = Log::new();
    let driver = model
        .register_driver(
            TestDriver::exact("drv", "c", &log).with_probe(|device, _, log| {
                let devres = device.devres();
                devres.add_action(log.action("1"))?;
                let group = devres.open_group()?;
                devres.add_action(log.action("2"))?;
                let _nested = devres.open_group()?;
                devres.add_action(log.action("3"))?;
                devres.close_group(Some(group))?;
                devres.add_action(log.action("4"))?;
                Ok(())
            }),
        )
        .unwrap();
    let device = model.add_device(test_device("dev", "c")).unwrap();
    log.take();
    assert_eq!(model.counts().devres_nodes, 7);
    model.unbind(&device).unwrap();
    assert_eq!(
        log.take(),
        [
            "unbind:drv:dev:devres=7",
            "remove:drv:dev",
            "4",
            "3",
            "2",
            "1"
        ]
    );
    assert_eq!(model.counts().devres_nodes, 0);
    drop((device, driver));
    assert!(model.is_quiescent());
}

#[test]
fn release_group_on_an_emptied_list_is_a_no_op() {
    let model = DeviceModel::new();
    let device = model.add_device(DeviceBuilder::new("d")).unwrap();
    let group = device.devres().open_group().unwrap();
    // An action that releases its own group while the full release runs.
    let device_in_action = device.device().clone();
    device
        .devres()
        .add_action(move || {
            assert_eq!(device_in_action.devres().release_group(group), Ok(0));
        })
        .unwrap();
    drop(device);
    assert!(model.is_quiescent());
}

#[test]
fn devres_is_revoked_when_the_binding_ends() {
    let model = model();
    let log = Log::new();
    let stash: Arc<Mutex<Option<Devres<u32>>>> = Arc::default();
    let stash_in_probe = stash.clone();
    let driver = model
        .register_driver(
            TestDriver::exact("drv", "c", &log).with_probe(move |device, _, _| {
                let registers = Devres::new(device, 0xdead_u32)?;
                // The proof gives plain access inside the callback.
                assert_eq!(*registers.access(device)?, 0xdead);
                *stash_in_probe.lock().unwrap() = Some(registers);
                Ok(())
            }),
        )
        .unwrap();
    let device = model.add_device(test_device("dev", "c")).unwrap();
    let registers = stash.lock().unwrap().take().unwrap();
    assert_eq!(registers.try_access().map(|value| *value), Some(0xdead));
    assert_eq!(registers.try_access_with(|value| value + 1), Some(0xdeae));
    model.unbind(&device).unwrap();
    assert!(registers.is_revoked());
    assert!(registers.try_access().is_none());
    // A new binding does not revive it, and its proof does not cover the old value.
    let stale = Arc::new(registers);
    let stale_in_probe = stale.clone();
    let checked = Arc::new(AtomicBool::new(false));
    let checked_in_probe = checked.clone();
    let second = model
        .register_driver(
            TestDriver::exact("second", "c", &log).with_probe(move |device, _, _| {
                assert!(matches!(
                    stale_in_probe.access(device),
                    Err(Error::WrongDevice { .. })
                ));
                checked_in_probe.store(true, Ordering::SeqCst);
                Ok(())
            }),
        )
        .unwrap();
    model.unbind(&device).ok();
    model.bind_driver(&device, "second").unwrap();
    assert!(checked.load(Ordering::SeqCst));
    drop((device, driver, second, stale));
    assert!(model.is_quiescent(), "{:?}", model.counts());
}

#[test]
fn dropping_devres_first_revokes_and_unlists_it() {
    let model = model();
    let log = Log::new();
    let driver = model
        .register_driver(
            TestDriver::exact("drv", "c", &log).with_probe(|device, _, log| {
                let before = device.devres().len();
                let value = Devres::new(device, log.action("dropped value"))?;
                assert_eq!(device.devres().len(), before + 1);
                drop(value);
                assert_eq!(device.devres().len(), before);
                Ok(())
            }),
        )
        .unwrap();
    let device = model.add_device(test_device("dev", "c")).unwrap();
    assert!(device.is_bound());
    assert_eq!(model.counts().devres_nodes, 0);
    drop((device, driver));
    assert!(model.is_quiescent());
}

#[test]
fn devres_survives_group_release_but_not_unbind() {
    let model = model();
    let log = Log::new();
    let stash: Arc<Mutex<Option<Devres<u8>>>> = Arc::default();
    let stash_in_probe = stash.clone();
    let driver = model
        .register_driver(
            TestDriver::exact("drv", "c", &log).with_probe(move |device, _, log| {
                let group = device.devres().open_group()?;
                device.devres().add_action(log.action("grouped"))?;
                let value = Devres::new(device, 5u8)?;
                device.devres().release_group(group)?;
                // The proof-based reference stays valid: the group release kept it.
                assert_eq!(*value.access(device)?, 5);
                *stash_in_probe.lock().unwrap() = Some(value);
                Ok(())
            }),
        )
        .unwrap();
    let device = model.add_device(test_device("dev", "c")).unwrap();
    assert!(log.take().contains(&"grouped".to_string()));
    let value = stash.lock().unwrap().take().unwrap();
    assert!(!value.is_revoked());
    drop(device);
    assert!(value.is_revoked());
    drop((value, driver));
    assert!(model.is_quiescent());
}

/// A reader holds the value on another thread while the device is unbound: the unbind
/// (revocation) waits for it, and the value is never dropped under the reader.
#[test]
fn revocation_waits_for_a_reader_in_flight() {
    struct Value {
        dropped: Arc<AtomicBool>,
    }
    impl Drop for Value {
        fn drop(&mut self) {
            self.dropped.store(true, Ordering::SeqCst);
        }
    }
    let model = model();
    let log = Log::new();
    let dropped = Arc::new(AtomicBool::new(false));
    let stash: Arc<Mutex<Option<Devres<Value>>>> = Arc::default();
    let (stash_in_probe, dropped_in_probe) = (stash.clone(), dropped.clone());
    let driver = model
        .register_driver(
            TestDriver::exact("drv", "c", &log).with_probe(move |device, _, _| {
                let value = Devres::new(
                    device,
                    Value {
                        dropped: dropped_in_probe.clone(),
                    },
                )?;
                *stash_in_probe.lock().unwrap() = Some(value);
                Ok(())
            }),
        )
        .unwrap();
    let device = model.add_device(test_device("dev", "c")).unwrap();
    let value = Arc::new(stash.lock().unwrap().take().unwrap());
    let inside = Arc::new(AtomicBool::new(false));
    let leave = Arc::new(AtomicBool::new(false));
    let reader = {
        let (value, inside, leave) = (value.clone(), inside.clone(), leave.clone());
        std::thread::spawn(move || {
            let guard = value.try_access().expect("bound");
            inside.store(true, Ordering::SeqCst);
            while !leave.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            let alive = !guard.dropped.load(Ordering::SeqCst);
            drop(guard);
            alive
        })
    };
    while !inside.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    let unbinder = {
        let (model, device) = (model.clone(), device.device().clone());
        std::thread::spawn(move || model.unbind(&device))
    };
    while !value.is_revoked() {
        std::thread::yield_now();
    }
    // Revocation has started: new readers fail, the value is still alive.
    assert!(value.try_access().is_none());
    for _ in 0..100 {
        std::thread::yield_now();
    }
    assert!(!dropped.load(Ordering::SeqCst));
    assert!(!unbinder.is_finished());
    leave.store(true, Ordering::SeqCst);
    assert!(
        reader.join().unwrap(),
        "the value was alive under the guard"
    );
    unbinder.join().unwrap().unwrap();
    assert!(dropped.load(Ordering::SeqCst));
    drop((value, device, driver));
    assert!(model.is_quiescent());
}
