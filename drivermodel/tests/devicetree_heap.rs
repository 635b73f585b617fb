//! Heap per device populated from a devicetree (QEMU riscv64 `virt`), measured with a
//! counting allocator on the test's own thread and printed
//! (`cargo test -p drivermodel --test devicetree_heap -- --nocapture`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use drivermodel::DeviceModel;
use drivermodel::devicetree::{self, Bus};

struct Counting;

thread_local! {
    /// Live bytes allocated (minus freed) by this thread.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    /// Allocation calls made by this thread.
    static CALLS: Cell<usize> = const { Cell::new(0) };
}

fn account(bytes: isize) {
    // `try_with`: no panic while the thread's locals are being torn down.
    let _ = LIVE.try_with(|live| live.set(live.get() + bytes));
}

// SAFETY: every call is forwarded to `System` with the same arguments; the counting
// does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        account(layout.size() as isize);
        let _ = CALLS.try_with(|calls| calls.set(calls.get() + 1));
        // SAFETY: the caller's contract is `System::alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        account(-(layout.size() as isize));
        // SAFETY: the caller's contract is `System::dealloc`'s.
        unsafe { System.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        account(new_size as isize - layout.size() as isize);
        // SAFETY: the caller's contract is `System::realloc`'s.
        unsafe { System.realloc(pointer, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// An early kernel reads its RAM ranges before it has a heap.
#[test]
fn memory_ranges_are_read_without_allocating() {
    let blob = include_bytes!("fixtures/qemu-riscv64-virt.dtb");
    let calls = CALLS.with(Cell::get);
    let mut total = 0;
    devicetree::memory(blob, |range| total += range.length()).unwrap();
    assert_eq!(CALLS.with(Cell::get), calls, "memory() allocated");
    assert_eq!(total, 128 << 20);
}

#[test]
fn heap_per_populated_device() {
    let blob = include_bytes!("fixtures/qemu-riscv64-virt.dtb");
    let model = DeviceModel::new();
    model.register_bus(Bus::new("platform")).unwrap();
    // A first population warms up what the model allocates once (its tables).
    drop(devicetree::populate(&model, blob, "platform").unwrap());

    let before = LIVE.with(Cell::get);
    let population = devicetree::populate(&model, blob, "platform").unwrap();
    let after = LIVE.with(Cell::get);
    let devices = population.devices().count() as isize;
    let property_bytes: usize = population
        .devices()
        .flat_map(|device| {
            device
                .properties()
                .map(|property| property.name().len() + property.bytes().len())
                .collect::<Vec<_>>()
        })
        .sum();
    let per_device = (after - before) / devices;
    let links = population.link_count();
    drop(population);
    assert!(model.is_quiescent());
    // Checked before printing: the test harness's output capture allocates.
    assert_eq!(LIVE.with(Cell::get), before, "population leaked");
    println!(
        "devicetree population of QEMU riscv64 virt: {devices} devices, {} links, \
         {} heap bytes, {per_device} bytes per device ({} of them property names and \
         values from the blob)",
        links,
        after - before,
        property_bytes as isize / devices
    );
    // The adopter's own devicetree bus cost about 1.4 KB per device.
    assert!(per_device < 1024, "{per_device}");
}
