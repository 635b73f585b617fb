//! Unregistering a driver gives back all the heap its registration took: the match
//! index, the driver table and the bus's name map shrink (or free their storage) as they
//! empty, so a kernel that registers and unregisters drivers at run time (a test, a
//! module) sees its heap return to where it was, with no warm-up.
//!
//! A counting global allocator measures the live bytes of the test's own thread (the
//! test harness allocates on others).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use drivermodel::context::Core;
use drivermodel::{
    Bus, Device, DeviceBuilder, DeviceModel, Driver, IdEntry, KeySet, Match, MatchKey, Result,
};

struct Counting;

thread_local! {
    /// Live bytes allocated (minus freed) by this thread.
    static LIVE: Cell<isize> = const { Cell::new(0) };
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

fn live() -> isize {
    LIVE.with(Cell::get)
}

/// Matches a numeric `compat` (device data) against numeric IDs; `None` IDs are
/// unindexed wildcards (like PCI class entries).
struct NumberBus;

struct Compat(u64);

impl Bus for NumberBus {
    type Id = Option<u64>;

    fn name(&self) -> &str {
        "numbers"
    }

    fn id_key(&self, id: &Option<u64>) -> Option<MatchKey> {
        id.map(MatchKey::new)
    }

    fn device_keys(&self, device: &Device) -> KeySet {
        device
            .data::<Compat>()
            .map_or(KeySet::new(), |compat| KeySet::one(MatchKey::new(compat.0)))
    }

    fn match_id(&self, device: &Device, id: &Option<u64>) -> Match {
        match (device.data::<Compat>(), id) {
            (Some(compat), Some(id)) if compat.0 == *id => Match::Yes { score: 2 },
            (Some(_), None) => Match::No,
            _ => Match::No,
        }
    }
}

/// Driver `n<key>` with one ID (indexed under `key`, or unindexed) and one more indexed
/// ID when `extra` is set.
struct NumberDriver {
    name: String,
    table: Vec<IdEntry<Option<u64>, ()>>,
}

impl NumberDriver {
    fn new(key: Option<u64>, serial: u64) -> Self {
        Self {
            name: format!("n{serial}"),
            table: vec![IdEntry::new(key, ())],
        }
    }
}

impl Driver for NumberDriver {
    type Bus = NumberBus;
    type IdInfo = ();
    type State = ();

    fn name(&self) -> &str {
        &self.name
    }

    fn id_table(&self) -> &[IdEntry<Option<u64>, ()>] {
        &self.table
    }

    fn probe(&self, _device: &Device<Core>, _info: &()) -> Result<()> {
        Ok(())
    }
}

const ROUNDS: u64 = if cfg!(miri) { 3 } else { 200 };

/// Registers and unregisters `ROUNDS` drivers with fresh keys, checking the live bytes
/// after each round against the baseline taken before the first.
fn cycle(model: &DeviceModel, first_key: u64, indexed: bool, what: &str) {
    let baseline = live();
    for round in 0..ROUNDS {
        let key = first_key + round;
        let driver = NumberDriver::new(indexed.then_some(key), key);
        let registration = model.register_driver(driver).expect("fresh name");
        drop(registration);
        assert_eq!(
            live() - baseline,
            0,
            "{what}: round {round} left bytes behind"
        );
    }
}

#[test]
fn unregistering_a_driver_returns_the_heap_its_registration_took() {
    let model = DeviceModel::new();
    model.register_bus(NumberBus).unwrap();

    // An empty bus: the first driver creates the index, the name map and a driver
    // table slot; all of it goes with it.
    cycle(&model, 1_000, true, "empty bus, indexed");
    cycle(&model, 2_000, false, "empty bus, unindexed");

    // A bus with drivers and a bound device: the new driver shares the index.
    let resident: Vec<_> = (0..5)
        .map(|key| {
            model
                .register_driver(NumberDriver::new(Some(key), key))
                .unwrap()
        })
        .collect();
    let device = model
        .add_device(DeviceBuilder::new("dev0").bus("numbers").data(Compat(3)))
        .unwrap();
    assert!(device.is_bound());
    cycle(&model, 3_000, true, "populated bus, indexed");
    cycle(&model, 4_000, false, "populated bus, unindexed");

    // At a growth boundary: 12 entries fill 16 slots to three quarters, so the 13th
    // doubles the table and its unregistration halves it again.
    let more: Vec<_> = (5..12)
        .map(|key| {
            model
                .register_driver(NumberDriver::new(Some(key), key))
                .unwrap()
        })
        .collect();
    cycle(&model, 5_000, true, "index at a growth boundary");

    // A driver that binds a device on registration (and unbinds at unregistration).
    let baseline = live();
    let device_keyed = model
        .add_device(
            DeviceBuilder::new("dev1")
                .bus("numbers")
                .data(Compat(6_000)),
        )
        .unwrap();
    let with_device = live();
    for _ in 0..ROUNDS {
        let driver = model
            .register_driver(NumberDriver::new(Some(6_000), 6_000))
            .unwrap();
        assert!(device_keyed.is_bound());
        drop(driver);
        assert!(!device_keyed.is_bound());
        assert_eq!(live() - with_device, 0, "binding driver left bytes behind");
    }
    drop(device_keyed);
    assert_eq!(live() - baseline, 0, "device add and delete");

    // Unregistering in another order than registration: slots freed in the middle of the
    // driver table are reused, trailing ones are given back.
    let baseline = live();
    let batch: Vec<_> = (7_000..7_040)
        .map(|key| {
            model
                .register_driver(NumberDriver::new(Some(key), key))
                .unwrap()
        })
        .collect();
    let (even, odd): (Vec<_>, Vec<_>) = batch
        .into_iter()
        .enumerate()
        .partition(|(index, _)| index % 2 == 0);
    drop(even);
    drop(odd);
    assert_eq!(live() - baseline, 0, "a batch unregistered out of order");

    drop((more, device, resident));
    assert!(model.is_quiescent());
}

/// Adding and deleting a faux device (with a refused duplicate add in between) leaves
/// the heap where it was, the first time too: with one faux device bound before (the
/// kernel's `ram0`), the second binding spills the faux driver's bound list into a
/// buffer, which its unbinding frees again.
#[test]
fn a_faux_device_add_and_delete_returns_the_heap() {
    let model = DeviceModel::new();
    let residents: Vec<_> = (0..1)
        .map(|index| {
            drivermodel::faux::Registration::new(&model, &format!("ram{index}"), None).unwrap()
        })
        .collect();
    let baseline = live();
    for round in 0..ROUNDS {
        let device = drivermodel::faux::Registration::builder("ram_test")
            .property("size", 4096u64)
            .create(&model)
            .unwrap();
        assert!(drivermodel::faux::Registration::new(&model, "ram_test", None).is_err());
        device.device().devres().add_action(|| {}).unwrap();
        let storage = drivermodel::Devres::new(device.device(), vec![0u8; 4096]).unwrap();
        assert_eq!(storage.try_access().map(|bytes| bytes.len()), Some(4096));
        drop(device);
        drop(storage);
        assert_eq!(live() - baseline, 0, "round {round} left bytes behind");
    }
    drop(residents);
    assert!(model.is_quiescent());
}
