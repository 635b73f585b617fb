//! Every match key a device offers can match (issue 10, point 7): a devicetree-style
//! device with five `compatible` strings binds through any of them, and a key that cannot
//! be stored makes matching fail with a clear error instead of being dropped silently.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use drivermodel::context::Core;
use drivermodel::{
    Bus, Device, DeviceBuilder, DeviceModel, Driver, Error, IdEntry, KeySet, Match, MatchKey,
    Result,
};

/// The system allocator, except that allocations fail on a thread that asked for it.
struct Failing;

thread_local! {
    static FAIL_ALLOCATIONS: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, or
// returns null from `alloc`, which `GlobalAlloc` allows (allocation failure).
unsafe impl GlobalAlloc for Failing {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if FAIL_ALLOCATIONS.with(Cell::get) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: `pointer` came from `System.alloc` with this `layout`.
        unsafe { System.dealloc(pointer, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Failing = Failing;

/// The `compatible` strings of a device, most specific first (devicetree order).
struct Compatible(Vec<&'static str>);

const FIVE: [&str; 5] = [
    "acme,uart-v3",
    "acme,uart-v2",
    "acme,uart",
    "vendor,16550a",
    "ns16550",
];

/// A devicetree-style bus: a device offers one key per compatible string, and an
/// earlier (more specific) string matches with a higher score, as in Linux.
struct DtBus {
    /// Allocation fails while the bus pushes the fifth key (simulated out of memory).
    fail_fifth_key: bool,
}

fn compatible(device: &Device) -> &[&'static str] {
    device
        .data::<Compatible>()
        .map_or(&[], |compatible| compatible.0.as_slice())
}

impl Bus for DtBus {
    type Id = &'static str;

    fn name(&self) -> &str {
        "dt"
    }

    fn id_key(&self, id: &&'static str) -> Option<MatchKey> {
        Some(MatchKey::from_name(id))
    }

    fn device_keys(&self, device: &Device) -> KeySet {
        let mut keys = KeySet::new();
        for (index, name) in compatible(device).iter().enumerate() {
            FAIL_ALLOCATIONS.with(|fail| fail.set(self.fail_fifth_key && index == 4));
            let pushed = keys.push(MatchKey::from_name(name));
            FAIL_ALLOCATIONS.with(|fail| fail.set(false));
            if pushed.is_err() {
                break;
            }
        }
        keys
    }

    fn match_id(&self, device: &Device, id: &&'static str) -> Match {
        let compatible = compatible(device);
        match compatible.iter().position(|name| name == id) {
            Some(position) => Match::Yes {
                score: (compatible.len() - position) as u32,
            },
            None => Match::No,
        }
    }
}

/// A driver listing exactly one compatible string.
struct OneId {
    table: [IdEntry<&'static str, ()>; 1],
}

impl OneId {
    fn new(id: &'static str) -> Self {
        Self {
            table: [IdEntry::new(id, ())],
        }
    }
}

impl Driver for OneId {
    type Bus = DtBus;
    type IdInfo = ();
    type State = ();

    fn name(&self) -> &str {
        self.table[0].id
    }

    fn id_table(&self) -> &[IdEntry<&'static str, ()>] {
        &self.table
    }

    fn probe(&self, _device: &Device<Core>, _info: &()) -> Result<()> {
        Ok(())
    }
}

fn node() -> DeviceBuilder {
    DeviceBuilder::new("serial@10000000")
        .bus("dt")
        .data(Compatible(FIVE.to_vec()))
}

#[test]
fn each_of_five_compatible_strings_can_match() -> Result<()> {
    for id in FIVE {
        let model = DeviceModel::new();
        model.register_bus(DtBus {
            fail_fifth_key: false,
        })?;
        let driver = model.register_driver(OneId::new(id))?;
        let device = model.add_device(node())?;
        assert_eq!(
            device.device().driver_name().as_deref(),
            Some(id),
            "a driver for compatible string {id:?} binds"
        );
        drop(device);
        drop(driver);
        assert!(model.is_quiescent());
    }
    Ok(())
}

#[test]
fn the_most_specific_of_the_matching_strings_wins() -> Result<()> {
    let model = DeviceModel::new();
    model.register_bus(DtBus {
        fail_fifth_key: false,
    })?;
    let generic = model.register_driver(OneId::new(FIVE[4]))?;
    let specific = model.register_driver(OneId::new(FIVE[3]))?;
    let device = model.add_device(node())?;
    assert_eq!(device.device().driver_name().as_deref(), Some(FIVE[3]));
    drop((device, specific, generic));
    Ok(())
}

#[test]
fn a_key_that_cannot_be_stored_fails_matching_with_out_of_memory() -> Result<()> {
    let model = DeviceModel::new();
    model.register_bus(DtBus {
        fail_fifth_key: true,
    })?;
    // The first string's driver would match, but a device whose keys are incomplete is
    // not matched at all: which driver wins must not depend on a lost key.
    let driver = model.register_driver(OneId::new(FIVE[0]))?;
    let device = model.add_device(node())?;
    assert!(!device.device().is_bound());
    assert_eq!(model.bind(device.device()), Err(Error::OutOfMemory));
    drop((device, driver));
    assert!(model.is_quiescent());
    Ok(())
}
