//! Heap bytes per registered device (`cargo bench -p drivermodel --bench heap`).
//!
//! A counting global allocator tracks live heap bytes; the bench adds many devices and
//! prints the growth divided by their number, for a few kinds of device, and the gap to
//! the budgets (160 bytes per registered root device, 256 per bound device); the figures
//! are printed, not asserted.
//!
//! Everything the device costs is included: the object, its name, its bus data, the
//! registry's records and index entries, and (when bound) the binding state. The test's
//! own vector of registrations is reserved before the first measurement.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use drivermodel::context::Core;
use drivermodel::{Device, DeviceBuilder, DeviceModel, Driver, IdEntry, Result};

#[path = "../tests/common/compat_bus.rs"]
mod compat_bus;
use compat_bus::{Compat, CompatBus};

/// The system allocator, counting live bytes and allocation calls.
struct Counting;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees hold; the counters are only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded contract (see the impl).
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded contract (see the impl).
        unsafe { System.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded contract (see the impl).
        unsafe { System.realloc(pointer, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Matches ID 1; its per-device state is `()`.
struct HeapDriver;

static TABLE: [IdEntry<u64, ()>; 1] = [IdEntry::new(1, ())];

impl Driver for HeapDriver {
    type Bus = CompatBus;
    type IdInfo = ();
    type State = ();

    fn name(&self) -> &str {
        "heap-driver"
    }

    fn id_table(&self) -> &[IdEntry<u64, ()>] {
        &TABLE
    }

    fn probe(&self, _device: &Device<Core>, _info: &()) -> Result<()> {
        Ok(())
    }
}

const DEVICES: usize = 10_000;

/// Adds `DEVICES` devices made by `builder`, prints the live-heap growth per device and
/// returns it.
fn measure(label: &str, model: &DeviceModel, builder: impl Fn(usize) -> DeviceBuilder) -> f64 {
    let mut registrations = Vec::with_capacity(DEVICES);
    let (bytes_before, allocations_before) = (
        LIVE_BYTES.load(Ordering::Relaxed),
        ALLOCATIONS.load(Ordering::Relaxed),
    );
    for index in 0..DEVICES {
        registrations.push(model.add_device(builder(index)).unwrap());
    }
    let bytes = LIVE_BYTES.load(Ordering::Relaxed) - bytes_before;
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - allocations_before;
    println!(
        "{label:<52} {:>6.1} bytes/device  {:>5.2} allocations/device",
        bytes as f64 / DEVICES as f64,
        allocations as f64 / DEVICES as f64,
    );
    black_box(&registrations);
    drop(registrations);
    assert!(model.is_quiescent());
    bytes as f64 / DEVICES as f64
}

/// Prints how `bytes` per device compares with its `budget`.
fn verdict(what: &str, bytes: f64, budget: f64) -> String {
    if bytes <= budget {
        format!("{what}: {bytes:.1} <= {budget} bytes: met")
    } else {
        format!(
            "{what}: {bytes:.1} bytes, budget {budget}: NOT met yet, {:.1} over",
            bytes - budget
        )
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument could follow: nothing to filter.
    println!("heap per registered device ({DEVICES} devices; names \"d<n>\" of 1-5 bytes)");
    let model = DeviceModel::new();
    model.register_bus(CompatBus).unwrap();
    let root = measure("root device (no bus)", &model, |index| {
        DeviceBuilder::new(format!("d{index}"))
    });
    measure("bus device, unbound, no bus data", &model, |index| {
        DeviceBuilder::new(format!("d{index}")).bus(compat_bus::NAME)
    });
    measure(
        "bus device, unbound, with 8-byte bus data",
        &model,
        |index| {
            DeviceBuilder::new(format!("d{index}"))
                .bus(compat_bus::NAME)
                .data(Compat(0))
        },
    );
    let driver = model.register_driver(HeapDriver).unwrap();
    let bound = measure(
        "bus device, bound (state `()`), no devres",
        &model,
        |index| {
            DeviceBuilder::new(format!("d{index}"))
                .bus(compat_bus::NAME)
                .data(Compat(1))
        },
    );
    let mut devices = Vec::with_capacity(DEVICES);
    for index in 0..DEVICES {
        devices.push(
            model
                .add_device(DeviceBuilder::new(format!("d{index}")))
                .unwrap(),
        );
    }
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    for device in &devices {
        device.devres().add_action(|| {}).unwrap();
    }
    let first = LIVE_BYTES.load(Ordering::Relaxed) - before;
    println!(
        "{:<52} {:>6.1} bytes/device",
        "first devres action on a device",
        first as f64 / DEVICES as f64
    );
    drop(devices);
    drop(driver);
    assert!(model.is_quiescent());
    println!("{}", verdict("registered root device", root, 160.0));
    println!("{}", verdict("bound device", bound, 256.0));
}
