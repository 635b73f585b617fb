//! Device paths are unique among registered devices: the rule, the refused collisions,
//! `find_by_path` and the paths in events.

mod common;

use common::{BUS, Log, model};
use drivermodel::event::EventKind;
use drivermodel::{Bus, Device, DeviceBuilder, Error, Match, faux};

/// A second bus, so that one name can live on two buses.
struct OtherBus;

impl Bus for OtherBus {
    type Id = ();

    fn name(&self) -> &str {
        "other"
    }

    fn match_id(&self, _device: &Device, _id: &()) -> Match {
        Match::No
    }
}

fn two_bus_model() -> drivermodel::DeviceModel {
    let model = model();
    model.register_bus(OtherBus).unwrap();
    model
}

#[test]
fn one_name_in_every_namespace_gets_its_own_path_and_is_found_by_it() {
    let model = two_bus_model();
    let root = model.add_device(DeviceBuilder::new("uart0")).unwrap();
    let on_test = model
        .add_device(DeviceBuilder::new("uart0").bus(BUS))
        .unwrap();
    let on_other = model
        .add_device(DeviceBuilder::new("uart0").bus("other"))
        .unwrap();
    let virtual_uart = faux::Registration::new(&model, "uart0", None).unwrap();
    let expected: [(&Device, &str); 4] = [
        (&root, "/devices/uart0"),
        (&on_test, "/devices/test/uart0"),
        (&on_other, "/devices/other/uart0"),
        (virtual_uart.device(), "/devices/faux/uart0"),
    ];
    for (device, path) in expected {
        assert_eq!(device.path(), path);
        let found = model.find_by_path(path).expect(path);
        assert!(found.same_as(device), "{path} found {}", found.path());
        let with_slash = model.find_by_path(&format!("{path}/")).expect(path);
        assert!(with_slash.same_as(device));
    }
    // A bus directory is not a device.
    assert!(model.find_by_path("/devices/test").is_none());
    assert!(model.find_by_path("/devices/faux").is_none());
    assert!(model.find_by_path("/devices/nosuch/uart0").is_none());
    drop((root, on_test, on_other, virtual_uart));
    assert!(model.is_quiescent());
}

#[test]
fn children_of_parentless_bus_devices_sit_under_the_bus() {
    let model = two_bus_model();
    let bridge = model
        .add_device(DeviceBuilder::new("bridge0").bus("other"))
        .unwrap();
    let child = model
        .add_device(DeviceBuilder::new("port0").bus(BUS).parent(&bridge))
        .unwrap();
    let display = faux::Registration::new(&model, "display", Some(&child)).unwrap();
    assert_eq!(
        display.device().path(),
        "/devices/other/bridge0/port0/display"
    );
    let found = model
        .find_by_path("/devices/other/bridge0/port0/display")
        .unwrap();
    assert!(found.same_as(display.device()));
    drop(found);
    assert!(model.find_by_path("/devices/bridge0/port0").is_none());
    assert!(model.find_by_path("/devices/test/port0").is_none());
    drop((display, child, bridge));
    assert!(model.is_quiescent());
}

#[test]
fn siblings_of_one_name_on_different_buses_are_refused() {
    let model = two_bus_model();
    let board = model.add_device(DeviceBuilder::new("board")).unwrap();
    let first = model
        .add_device(DeviceBuilder::new("uart0").bus(BUS).parent(&board))
        .unwrap();
    let taken = Some(Error::PathTaken {
        path: "/devices/board/uart0".into(),
    });
    for builder in [
        DeviceBuilder::new("uart0").bus("other").parent(&board),
        DeviceBuilder::new("uart0").parent(&board),
    ] {
        assert_eq!(model.add_device(builder).err(), taken);
    }
    assert_eq!(
        faux::Registration::new(&model, "uart0", Some(&board)).err(),
        taken
    );
    // The refused adds created nothing; the first device keeps its path.
    assert_eq!(model.counts().registered_devices, 2);
    assert!(
        model
            .find_by_path("/devices/board/uart0")
            .unwrap()
            .same_as(&first)
    );
    // Under another parent, or once the first is deleted, the name is free again.
    let other_board = model.add_device(DeviceBuilder::new("board2")).unwrap();
    let elsewhere = model
        .add_device(DeviceBuilder::new("uart0").parent(&other_board))
        .unwrap();
    drop(first);
    let second = model
        .add_device(DeviceBuilder::new("uart0").bus("other").parent(&board))
        .unwrap();
    assert!(
        model
            .find_by_path("/devices/board/uart0")
            .unwrap()
            .same_as(&second)
    );
    drop((second, elsewhere, other_board, board));
    assert!(model.is_quiescent());
}

#[test]
fn a_root_device_named_like_a_bus_shares_the_bus_directory() {
    // The kernel's layout: a root device `test` parents some of the bus's devices.
    let model = model();
    let root = model.add_device(DeviceBuilder::new(BUS)).unwrap();
    let parented = model
        .add_device(DeviceBuilder::new("a").bus(BUS).parent(&root))
        .unwrap();
    let parentless = model.add_device(DeviceBuilder::new("b").bus(BUS)).unwrap();
    assert_eq!(parented.path(), "/devices/test/a");
    assert_eq!(parentless.path(), "/devices/test/b");
    assert!(model.find_by_path("/devices/test").unwrap().same_as(&root));
    assert!(
        model
            .find_by_path("/devices/test/a")
            .unwrap()
            .same_as(&parented)
    );
    assert!(
        model
            .find_by_path("/devices/test/b")
            .unwrap()
            .same_as(&parentless)
    );
    // A bus-less child of the root named like a parentless bus device, and the reverse.
    assert_eq!(
        model
            .add_device(DeviceBuilder::new("b").parent(&root))
            .err(),
        Some(Error::PathTaken {
            path: "/devices/test/b".into()
        })
    );
    let virtual_child = faux::Registration::new(&model, "c", Some(&root)).unwrap();
    assert_eq!(
        model.add_device(DeviceBuilder::new("c").bus(BUS)).err(),
        Some(Error::PathTaken {
            path: "/devices/test/c".into()
        })
    );
    drop((virtual_child, parentless, parented, root));
    assert!(model.is_quiescent());
}

#[test]
fn every_event_path_names_one_device() {
    let model = two_bus_model();
    let events = Log::default();
    let subscription = events.subscribe(&model, |event| Some(event.clone()));
    let devices = [
        model.add_device(DeviceBuilder::new("uart0")).unwrap(),
        model
            .add_device(DeviceBuilder::new("uart0").bus(BUS))
            .unwrap(),
        model
            .add_device(DeviceBuilder::new("uart0").bus("other"))
            .unwrap(),
    ];
    let added: Vec<String> = events
        .snapshot()
        .iter()
        .filter(|event| event.kind == EventKind::Add)
        .map(|event| event.path.clone())
        .collect();
    assert_eq!(
        added,
        [
            "/devices/uart0",
            "/devices/test/uart0",
            "/devices/other/uart0"
        ]
    );
    for (path, device) in added.iter().zip(&devices) {
        assert!(model.find_by_path(path).unwrap().same_as(device));
    }
    drop(devices);
    drop(subscription);
    assert!(model.is_quiescent());
}
