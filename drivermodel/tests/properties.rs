//! Typed, compact device properties (issue 10, point 8): typed reads with clear errors,
//! weak references to other devices, and one heap allocation for all of a device's
//! properties, measured with a counting allocator on the test's own thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use drivermodel::property::{PropertyError, PropertyKind, Value};
use drivermodel::{DeviceBuilder, DeviceModel, Error};

struct Counting;

thread_local! {
    /// Live bytes and allocation calls of this thread.
    static LIVE: Cell<(isize, usize)> = const { Cell::new((0, 0)) };
}

fn account(bytes: isize, calls: usize) {
    // `try_with`: no panic while the thread's locals are being torn down.
    let _ = LIVE.try_with(|live| {
        let (total, count) = live.get();
        live.set((total + bytes, count + calls));
    });
}

// SAFETY: every call is forwarded to `System` with the same arguments; the counting
// does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        account(layout.size() as isize, 1);
        // SAFETY: the caller's contract is `System::alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        account(-(layout.size() as isize), 0);
        // SAFETY: the caller's contract is `System::dealloc`'s.
        unsafe { System.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        account(new_size as isize - layout.size() as isize, 1);
        // SAFETY: the caller's contract is `System::realloc`'s.
        unsafe { System.realloc(pointer, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> (isize, usize) {
    LIVE.with(Cell::get)
}

fn problem(result: Result<impl std::fmt::Debug, Error>) -> PropertyError {
    match result {
        Err(Error::Property { problem, .. }) => problem,
        other => panic!("expected a property error, got {other:?}"),
    }
}

#[test]
fn typed_reads_give_clear_errors() {
    let model = DeviceModel::new();
    let device = model
        .add_device(
            DeviceBuilder::new("uart0")
                .property("clock-frequency", 3_686_400u32)
                .property("ranges", [1u32, 2, 3].as_slice())
                .property("size", 1u64 << 40)
                .property("compatible", ["sifive,uart0", "ns16550a"].as_slice())
                .property("label", "console")
                .property("wakeup-source", true)
                .property("disabled-flag", false)
                .raw_property("reg", &[0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0])
                .raw_property("odd", &[1, 2, 3]),
        )
        .unwrap();
    assert_eq!(device.read_u32("clock-frequency"), Ok(3_686_400));
    assert_eq!(device.read_u32_at("ranges", 2), Ok(3));
    assert_eq!(device.read_u64("size"), Ok(1 << 40));
    assert_eq!(device.read_string("compatible"), Ok("sifive,uart0"));
    let compatible = device.read_strings("compatible").unwrap();
    assert_eq!(
        compatible.iter().collect::<Vec<_>>(),
        ["sifive,uart0", "ns16550a"]
    );
    assert_eq!(device.read_strings("label").unwrap().len(), 1);
    assert!(device.read_bool("wakeup-source"));
    assert!(!device.read_bool("disabled-flag"));
    assert!(!device.read_bool("absent"));
    // A devicetree `reg` of two address and two size cells, read as u64 numbers.
    let reg = device.read_u64_array("reg").unwrap();
    assert_eq!((reg.get(0), reg.get(1)), (Some(0x1000_0000), Some(0x100)));

    assert_eq!(problem(device.read_u32("absent")), PropertyError::Missing);
    assert_eq!(
        problem(device.read_u32("label")),
        PropertyError::WrongType {
            expected: "u32 cells",
            found: PropertyKind::String
        }
    );
    assert!(matches!(
        problem(device.read_u64("clock-frequency")),
        PropertyError::WrongType { .. }
    ));
    assert_eq!(
        problem(device.read_u32_at("ranges", 3)),
        PropertyError::OutOfRange { index: 3, count: 3 }
    );
    assert!(matches!(
        problem(device.read_u32("ranges")),
        PropertyError::Malformed { .. }
    ));
    assert!(matches!(
        problem(device.read_u32_array("odd")),
        PropertyError::Malformed { .. }
    ));
    assert!(matches!(
        problem(device.read_reference("label", 0)),
        PropertyError::WrongType { .. }
    ));
    let error = device.read_u32("label").unwrap_err().to_string();
    assert_eq!(
        error,
        "property \"label\": expected u32 cells, found string"
    );
    // Properties come back in the order they were set, each with its kind.
    let names: Vec<_> = device
        .properties()
        .map(|property| property.name())
        .collect();
    assert_eq!(names[..3], ["clock-frequency", "ranges", "size"]);
    assert!(matches!(
        device.property("reg").unwrap().value(),
        Value::Raw(bytes) if bytes.len() == 16
    ));
    drop(device);
    assert!(model.is_quiescent());
}

#[test]
fn references_name_devices_without_keeping_them() {
    let model = DeviceModel::new();
    let clock = model.add_device(DeviceBuilder::new("clock0")).unwrap();
    let reset = model.add_device(DeviceBuilder::new("reset0")).unwrap();
    let uart = model
        .add_device(
            DeviceBuilder::new("uart0")
                .reference("clocks", &clock, &[3])
                .references("resets", [(Some(&*reset), &[1u32, 2][..]), (None, &[][..])]),
        )
        .unwrap();
    let clocks = uart.read_reference("clocks", 0).unwrap();
    assert!(clocks.device().same_as(&clock));
    assert_eq!(clocks.args().iter().collect::<Vec<_>>(), [3]);
    drop(clocks);
    let resets = uart.read_reference("resets", 0).unwrap();
    assert_eq!(resets.args().len(), 2);
    drop(resets);
    assert_eq!(
        problem(uart.read_reference("resets", 1)),
        PropertyError::Dangling
    );
    assert_eq!(
        problem(uart.read_reference("resets", 2)),
        PropertyError::OutOfRange { index: 2, count: 2 }
    );
    assert_eq!(
        uart.property("clocks").unwrap().to_string(),
        "clocks = <&clock0 0x3>"
    );
    // The reference is weak: deleting and dropping the clock frees it.
    drop(clock);
    assert_eq!(
        problem(uart.read_reference("clocks", 0)),
        PropertyError::Dangling
    );
    drop((uart, reset));
    assert!(model.is_quiescent());
}

/// The properties of a devicetree `ns16550a` node (QEMU riscv64 `virt`), as the
/// devicetree platform stores them: raw bytes.
fn uart_node(builder: DeviceBuilder) -> DeviceBuilder {
    builder
        .raw_property("interrupts", &10u32.to_be_bytes())
        .raw_property("interrupt-parent", &3u32.to_be_bytes())
        .raw_property("clock-frequency", &3_686_400u32.to_be_bytes())
        .raw_property("reg", &[0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0])
        .raw_property("compatible", b"ns16550a\0")
}

#[test]
fn all_properties_share_one_allocation() {
    let model = DeviceModel::new();
    let one = || DeviceBuilder::new("a").raw_property("compatible", b"ns16550a\0");
    // Warm up whatever the model allocates once, and keep a device registered so that
    // the registry's storage (given back when it empties) is already there.
    let warm = model
        .add_device(DeviceBuilder::new("warm").raw_property("compatible", b"ns16550a\0"))
        .unwrap();

    let (bytes_before, calls_before) = live();
    let single = model.add_device(one()).unwrap();
    let (bytes_single, calls_single) = live();
    let node = model
        .add_device(uart_node(DeviceBuilder::new("b")))
        .unwrap();
    let (bytes_node, calls_node) = live();
    let device_single = bytes_single - bytes_before;
    let device_node = bytes_node - bytes_single;
    println!(
        "heap per device: 1 property {device_single} bytes ({} allocations), \
         5 devicetree properties {device_node} bytes ({} allocations)",
        calls_single - calls_before,
        calls_node - calls_single
    );
    // Four more properties cost their bytes, not more allocations at the end (the
    // builder's buffer grows while building, and is shrunk into one allocation).
    let kept = |device: &drivermodel::Device| {
        device
            .properties()
            .map(|property| 7 + property.name().len() + property.bytes().len())
            .sum::<usize>() as isize
    };
    assert_eq!(device_node - device_single, kept(&node) - kept(&single));
    // The adopter's map of owned keys and values cost about 1.4 KB for such a node.
    assert!(device_node < 512, "{device_node}");
    drop((single, node, warm));
    assert!(model.is_quiescent());
}
