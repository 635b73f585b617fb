//! The lifetime guarantees under real concurrency: the other CPUs run work (through
//! `kernel::work`) against the boot CPU, and each test checks a rule that a single CPU
//! cannot break:
//!
//! - unplugging the bochs display waits for the hardware section in flight on another
//!   CPU, and every later draw there fails cleanly;
//! - `Devres` revocation waits for readers holding guards on other CPUs;
//! - a `Devres` dropped on one CPU while another deletes its device: the delete returns
//!   only after the value was dropped, once;
//! - bind, unbind, delete and driver unregister racing from every CPU leak nothing.
//!
//! Each test prints its iteration counts. With one CPU there is nothing to race: the
//! tests say so and pass.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::format;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use drivermodel::context::Core;
use drivermodel::{Device, DeviceBuilder, Devres, Driver, IdEntry, faux};
use kernel::arch::{cpu, time};
use kernel::bus::pci;
use kernel::bus::platform::Platform;
use kernel::drivers::bochs;
use kernel::drm::{self, Error, Mode, Rect};
use kernel::test::Failure;
use kernel::test::support::{Screen, bochs_pci_device, failure};
use kernel::work;
use kernel::{check, check_eq, fail, kernel_test, println};

kernel::entry_point!(main);

/// Warms the platform bus's name index up, then runs the tests.
///
/// The churn test adds up to [`CHURN_DEVICES`] platform devices per CPU. The driver
/// model's name index of a namespace grows with it and never shrinks (by design: see
/// drivermodel's `name_index.rs`), which the leak check would count against the test;
/// growing it once here, before any test's baseline, leaves only real leaks to the
/// check.
fn main(boot: &'static kernel::BootInfo) -> ! {
    let model = kernel::devices::model();
    let warm: Vec<_> = (0..CHURN_DEVICES * cpu::online())
        .filter_map(|index| {
            model
                .add_device(DeviceBuilder::new(format!("concurrency.warm{index}")).bus("platform"))
                .ok()
        })
        .collect();
    drop(warm);
    kernel::test::run_all(boot)
}

/// Waits until `condition` holds, halting between checks until the next interrupt (a
/// timer tick: a spinning vCPU would take a host thread from the CPUs doing the work);
/// fails after 10 s of clock time (a hang, not a slow host: every wait here is for work
/// that takes microseconds).
fn wait_for(what: &str, condition: impl Fn() -> bool) -> Result<(), Failure> {
    let deadline = time::counter() + 10 * time::counter_hz();
    while !condition() {
        if time::counter() > deadline {
            return Err(failure(format_args!("timed out waiting for {what}")));
        }
        kernel::arch::wait_for_interrupt();
    }
    Ok(())
}

/// Queues `work` on CPU `target`.
fn spawn_on(target: usize, work: impl FnOnce() + Send + 'static) -> Result<(), Failure> {
    work::spawn_on(target, Box::new(work)).map_err(failure)
}

/// Whether there is another CPU to race with; says so when there is not.
fn several_cpus() -> bool {
    if cpu::online() < 2 {
        println!("# one CPU: nothing runs concurrently, nothing to check");
        return false;
    }
    true
}

// ---- the bochs display ----

/// Cycles of bind, draw on another CPU, unplug.
const UNPLUG_CYCLES: usize = 10;

/// Whether the driver's framebuffer setup is still in place: the BAR mapped
/// write-combining, which the unbind's teardown (after the unplug) undoes. `true` where
/// the architecture has no write-combining (riscv64 without paging): no marker there.
fn framebuffer_in_place(base: u64) -> bool {
    !kernel::arch::cache::WRITE_COMBINING || kernel::arch::cache::is_write_combining(base)
}

/// How long the drawer stays in each hardware section after its draw, so that a
/// teardown that did not wait for it would release the BAR under it.
const SECTION_MICROS: u64 = 300;

/// What the drawing CPU saw.
#[derive(Default)]
struct Drawing {
    drawn: AtomicUsize,
    refused: AtomicUsize,
    /// Set while the drawer holds a hardware section (`drm::Device::enter`).
    in_section: AtomicBool,
    /// Set by the boot CPU once `unbind` returned.
    unplug_returned: AtomicBool,
    stop: AtomicBool,
    /// The framebuffer BAR's address: set up for as long as a section is open.
    bar: AtomicU64,
    /// A section entered, or a draw that succeeded or failed otherwise than
    /// `Unplugged`, where the rules forbid it; the first one's frame number.
    violations: AtomicUsize,
    first_violation: AtomicU64,
}

impl Drawing {
    fn violation(&self, frame: u64) {
        if self.violations.fetch_add(1, Ordering::SeqCst) == 0 {
            self.first_violation.store(frame, Ordering::SeqCst);
        }
    }
}

/// The drawing CPU's loop: a hardware section around each draw while the device is
/// there, plain draws (which must fail) once it is gone.
fn draw_until_stopped(screen: &Screen, drawing: &Drawing) {
    let mut frame = 0_u64;
    while !drawing.stop.load(Ordering::SeqCst) {
        frame += 1;
        let after_unplug = drawing.unplug_returned.load(Ordering::SeqCst);
        let rect = Rect::new((frame % 20) as i32 * 16, 0, 16, 240);
        let draw = || {
            screen
                .mapping
                .fill(rect, 0x0001_0101 * frame as u32)
                .and_then(|()| screen.client.dirty_framebuffer(screen.framebuffer, &[rect]))
        };
        match screen.client.device().enter() {
            Some(hardware) => {
                drawing.in_section.store(true, Ordering::SeqCst);
                let drawn = draw();
                time::busy_wait_micros(SECTION_MICROS);
                // The unplug waits for this section, so the teardown has not begun.
                let still_in_place = framebuffer_in_place(drawing.bar.load(Ordering::SeqCst));
                drawing.in_section.store(false, Ordering::SeqCst);
                drop(hardware);
                match drawn {
                    _ if after_unplug || !still_in_place => drawing.violation(frame),
                    Ok(()) => {
                        drawing.drawn.fetch_add(1, Ordering::SeqCst);
                    }
                    // The unplug began while this section was open: the draw itself
                    // may already be refused.
                    Err(Error::Unplugged) => {
                        drawing.refused.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => drawing.violation(frame),
                }
            }
            None => match draw() {
                Err(Error::Unplugged) => {
                    drawing.refused.fetch_add(1, Ordering::SeqCst);
                }
                _ => drawing.violation(frame),
            },
        }
    }
}

kernel_test! {
    /// Unplug (unbind) the bochs display while another CPU draws through a client:
    /// the unbind waits for that CPU's hardware section in flight, every draw after it
    /// fails with `Unplugged`, the client releases cleanly and nothing leaks; then the
    /// driver binds again. Repeated [`UNPLUG_CYCLES`] times.
    fn unplug_while_another_cpu_draws() {
        if !several_cpus() {
            return Ok(());
        }
        let model = kernel::devices::model();
        let pci_device = bochs_pci_device()?;
        let mode = Mode::new(320, 240, 60).map_err(failure)?;
        let (mut drawn, mut refused) = (0, 0);
        for cycle in 0..UNPLUG_CYCLES {
            let device = bochs::displays()
                .into_iter()
                .next()
                .ok_or_else(|| failure("bochs is not bound"))?;
            let screen = Arc::new(Screen::show(&device, mode).map_err(failure)?);
            drop(device);
            let drawing = Arc::new(Drawing::default());
            let bar = pci::function(&pci_device)
                .and_then(|function| function.bar(0))
                .map(|bar| bar.address)
                .ok_or_else(|| failure("no BAR0"))?;
            check!(framebuffer_in_place(bar), "BAR0 at {bar:#x} not set up while bound");
            drawing.bar.store(bar, Ordering::SeqCst);
            {
                let (screen, drawing) = (screen.clone(), drawing.clone());
                spawn_on(cpu::online() - 1, move || draw_until_stopped(&screen, &drawing))?;
            }
            wait_for("draws on the other CPU", || drawing.drawn.load(Ordering::SeqCst) >= 3)?;
            model.unbind(&pci_device).map_err(failure)?;
            let in_section = drawing.in_section.load(Ordering::SeqCst);
            drawing.unplug_returned.store(true, Ordering::SeqCst);
            let refused_at_unplug = drawing.refused.load(Ordering::SeqCst);
            wait_for("refused draws after the unplug", || {
                drawing.refused.load(Ordering::SeqCst) >= refused_at_unplug + 3
            })?;
            drawing.stop.store(true, Ordering::SeqCst);
            work::flush();
            check!(!in_section, "cycle {cycle}: unbind returned with a hardware section open");
            if drawing.violations.load(Ordering::SeqCst) != 0 {
                fail!(
                    "cycle {cycle}: {} draws broke the rules, first at frame {}",
                    drawing.violations.load(Ordering::SeqCst),
                    drawing.first_violation.load(Ordering::SeqCst)
                );
            }
            drawn += drawing.drawn.load(Ordering::SeqCst);
            refused += drawing.refused.load(Ordering::SeqCst);
            check!(screen.client.device().is_unplugged());
            drop(screen);
            check_eq!(drm::counts().clients, 0);
            check_eq!(drm::counts().buffers, 0);
            check_eq!(drm::counts().devices, 0);
            model.bind(&pci_device).map_err(failure)?;
        }
        println!("# {UNPLUG_CYCLES} unplug cycles: {drawn} draws done, {refused} refused");
    }
}

// ---- Devres ----

/// Rounds of revocation with readers on every other CPU.
const REVOCATION_ROUNDS: usize = 100;
/// Rounds of a `Devres` drop racing its device's delete.
const DROP_RACE_ROUNDS: usize = 100;
const MAGIC: u64 = 0x5eed_cafe_f00d_beef;

/// A devres value that records how it is read and dropped.
struct Watched {
    canary: AtomicU64,
    ledger: Arc<Ledger>,
}

#[derive(Default)]
struct Ledger {
    /// Readers holding a guard now.
    holders: AtomicUsize,
    reads: AtomicUsize,
    drops: AtomicUsize,
    /// Drops that happened while a reader held a guard.
    dropped_while_held: AtomicUsize,
    /// Reads that saw a dropped value.
    stale_reads: AtomicUsize,
    /// Microseconds each drop takes (a slow drop widens the race window).
    drop_micros: AtomicU64,
}

impl Watched {
    fn new(ledger: &Arc<Ledger>) -> Self {
        Self {
            canary: AtomicU64::new(MAGIC),
            ledger: ledger.clone(),
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if self.ledger.holders.load(Ordering::SeqCst) != 0 {
            self.ledger
                .dropped_while_held
                .fetch_add(1, Ordering::SeqCst);
        }
        let micros = self.ledger.drop_micros.load(Ordering::Relaxed);
        if micros != 0 {
            time::busy_wait_micros(micros);
        }
        self.canary.store(0, Ordering::SeqCst);
        self.ledger.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// A reader's loop: take a guard, check the value, hold it a little, until revoked.
fn read_until_revoked(devres: &Devres<Watched>, ledger: &Ledger) {
    while let Some(guard) = devres.try_access() {
        ledger.holders.fetch_add(1, Ordering::SeqCst);
        if guard.canary.load(Ordering::SeqCst) != MAGIC {
            ledger.stale_reads.fetch_add(1, Ordering::SeqCst);
        }
        time::busy_wait_micros(5);
        if guard.canary.load(Ordering::SeqCst) != MAGIC {
            ledger.stale_reads.fetch_add(1, Ordering::SeqCst);
        }
        ledger.reads.fetch_add(1, Ordering::SeqCst);
        ledger.holders.fetch_sub(1, Ordering::SeqCst);
        drop(guard);
    }
}

kernel_test! {
    /// `Devres` revocation while readers on every other CPU hold guards: deleting the
    /// device revokes the value, waits for the guards in flight and drops the value
    /// before the delete returns; no reader sees it afterwards.
    fn devres_revocation_waits_for_readers_on_other_cpus() {
        if !several_cpus() {
            return Ok(());
        }
        let model = kernel::devices::model();
        let readers = cpu::online() - 1;
        let mut reads = 0;
        for round in 0..REVOCATION_ROUNDS {
            let ledger = Arc::new(Ledger::default());
            let registration = faux::Registration::builder("concurrency-devres")
                .create(model)
                .map_err(failure)?;
            let devres = Arc::new(
                Devres::new(registration.device(), Watched::new(&ledger)).map_err(failure)?,
            );
            for reader in 1..=readers {
                let (devres, ledger) = (devres.clone(), ledger.clone());
                spawn_on(reader, move || read_until_revoked(&devres, &ledger))?;
            }
            wait_for("readers holding guards", || {
                ledger.reads.load(Ordering::SeqCst) >= 2 * readers
            })?;
            drop(registration);
            check!(ledger.drops.load(Ordering::SeqCst) == 1, "round {round}: value not dropped by the delete");
            check!(ledger.dropped_while_held.load(Ordering::SeqCst) == 0, "round {round}: dropped under a guard");
            work::flush();
            check!(devres.try_access().is_none());
            check!(ledger.stale_reads.load(Ordering::SeqCst) == 0, "round {round}: a reader saw the dropped value");
            drop(devres);
            check!(ledger.drops.load(Ordering::SeqCst) == 1, "round {round}: dropped twice");
            reads += ledger.reads.load(Ordering::SeqCst);
        }
        println!("# {REVOCATION_ROUNDS} revocations, {readers} reader CPUs, {reads} guarded reads");
    }
}

kernel_test! {
    /// A `Devres` dropped on another CPU while this one deletes its device (so unbinds
    /// it): whichever comes first, the value is dropped once, and the delete returns
    /// only after it was dropped (the value's drop is slow, to widen the window).
    fn devres_drop_races_the_unbind() {
        if !several_cpus() {
            return Ok(());
        }
        let model = kernel::devices::model();
        let other = cpu::online() - 1;
        let mut delete_found_it_dropped = 0;
        for round in 0..DROP_RACE_ROUNDS {
            let ledger = Arc::new(Ledger::default());
            ledger.drop_micros.store(20, Ordering::Relaxed);
            let registration = faux::Registration::builder("concurrency-drop")
                .create(model)
                .map_err(failure)?;
            let devres =
                Devres::new(registration.device(), Watched::new(&ledger)).map_err(failure)?;
            let go = Arc::new(AtomicBool::new(false));
            {
                let go = go.clone();
                spawn_on(other, move || {
                    while !go.load(Ordering::SeqCst) {
                        core::hint::spin_loop();
                    }
                    // Vary who comes first.
                    time::busy_wait_micros((round % 7) as u64 * 3);
                    drop(devres);
                })?;
            }
            go.store(true, Ordering::SeqCst);
            time::busy_wait_micros((round % 5) as u64 * 4);
            drop(registration);
            let drops = ledger.drops.load(Ordering::SeqCst);
            check!(drops == 1, "round {round}: the delete returned before the value was dropped");
            work::flush();
            check!(ledger.drops.load(Ordering::SeqCst) == 1, "round {round}: dropped twice");
            delete_found_it_dropped += drops;
        }
        println!("# {DROP_RACE_ROUNDS} rounds of a Devres drop against a delete");
        check_eq!(delete_found_it_dropped, DROP_RACE_ROUNDS);
    }
}

// ---- churn ----

/// Rounds of random operations per CPU.
const CHURN_ROUNDS: usize = 1000;
/// Devices each CPU keeps at most.
const CHURN_DEVICES: usize = 4;

/// The churn's driver: matches platform devices named `concurrency.N`; its probe takes
/// devres (an allocation and a `Devres`) and its state counts removes.
struct ChurnDriver {
    counts: Arc<ChurnCounts>,
}

#[derive(Default)]
struct ChurnCounts {
    probes: AtomicUsize,
    removes: AtomicUsize,
}

static CHURN_IDS: [IdEntry<&'static str, ()>; 1] = [IdEntry::new("concurrency", ())];

struct ChurnState {
    counts: Arc<ChurnCounts>,
    _value: Devres<u64>,
}

impl Drop for ChurnState {
    fn drop(&mut self) {
        self.counts.removes.fetch_add(1, Ordering::SeqCst);
    }
}

impl Driver for ChurnDriver {
    type Bus = Platform;
    type IdInfo = ();
    type State = ChurnState;

    fn name(&self) -> &str {
        "concurrency"
    }

    fn id_table(&self) -> &[IdEntry<&'static str, ()>] {
        &CHURN_IDS
    }

    fn probe(&self, device: &Device<Core>, _: &()) -> drivermodel::Result<ChurnState> {
        device.devres().alloc(Box::new([0_u8; 64]))?;
        let value = Devres::new(device, 7_u64)?;
        self.counts.probes.fetch_add(1, Ordering::SeqCst);
        Ok(ChurnState {
            counts: self.counts.clone(),
            _value: value,
        })
    }
}

/// The churn's shared driver slot: registered or not, toggled by any CPU.
type DriverSlot = spin::Mutex<Option<drivermodel::driver::Registration<ChurnDriver>>>;

/// A tiny deterministic random generator (xorshift64).
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }
}

/// One CPU's share of the churn; returns how many operations it made.
fn churn(
    cpu_index: usize,
    slot: &DriverSlot,
    counts: &Arc<ChurnCounts>,
    errors: &AtomicUsize,
) -> usize {
    let model = kernel::devices::model();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((cpu_index as u64 + 1) * 0x1234_5678));
    let mut devices: Vec<drivermodel::device::Registration> = Vec::new();
    let mut serial = 0;
    for _ in 0..CHURN_ROUNDS {
        match rng.below(6) {
            0 | 1 if devices.len() < CHURN_DEVICES => {
                serial += 1;
                let name = format!("concurrency.{cpu_index}x{serial}");
                match model.add_device(DeviceBuilder::new(name).bus("platform")) {
                    Ok(registration) => devices.push(registration),
                    Err(_) => {
                        errors.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
            0..=2 => {
                if !devices.is_empty() {
                    let registration = devices.swap_remove(rng.below(devices.len()));
                    if registration.delete().is_err() {
                        errors.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
            3 => {
                if let Some(registration) = devices.get(rng.below(devices.len().max(1))) {
                    // Fails when bound already or when no driver is registered: races
                    // explain both.
                    let _ = model.bind(registration.device());
                }
            }
            4 => {
                if let Some(registration) = devices.get(rng.below(devices.len().max(1))) {
                    let _ = model.unbind(registration.device());
                }
            }
            _ => {
                // Toggle the driver; register and unregister outside the slot's lock.
                let taken = slot.lock().take();
                match taken {
                    Some(registration) => drop(registration),
                    // An error: another CPU registered it meanwhile.
                    None => {
                        if let Ok(registration) = model.register_driver(ChurnDriver {
                            counts: counts.clone(),
                        }) {
                            let displaced = slot.lock().replace(registration);
                            drop(displaced);
                        }
                    }
                }
            }
        }
    }
    drop(devices);
    CHURN_ROUNDS
}

kernel_test! {
    /// Bind, unbind, device add and delete, and driver register and unregister, from
    /// every CPU at once, [`CHURN_ROUNDS`] random operations each: no operation fails
    /// in a way a race cannot explain, every probed state is removed, and (the leak
    /// check) the heap and every counter come back.
    fn bind_unbind_delete_and_unregister_race() {
        if !several_cpus() {
            return Ok(());
        }
        let model = kernel::devices::model();
        let counts_before = model.counts();
        let counts = Arc::new(ChurnCounts::default());
        let slot: Arc<DriverSlot> = Arc::new(spin::Mutex::new(None));
        let errors = Arc::new(AtomicUsize::new(0));
        let operations = Arc::new(AtomicUsize::new(0));
        for other in 1..cpu::online() {
            let (slot, counts, errors, operations) =
                (slot.clone(), counts.clone(), errors.clone(), operations.clone());
            spawn_on(other, move || {
                let made = churn(other, &slot, &counts, &errors);
                operations.fetch_add(made, Ordering::SeqCst);
            })?;
        }
        let made = churn(0, &slot, &counts, &errors);
        operations.fetch_add(made, Ordering::SeqCst);
        work::flush();
        let last = slot.lock().take();
        drop(last);
        check!(errors.load(Ordering::SeqCst) == 0, "adds or deletes failed");
        check_eq!(
            counts.probes.load(Ordering::SeqCst),
            counts.removes.load(Ordering::SeqCst)
        );
        check_eq!(model.counts(), counts_before);
        println!(
            "# {} operations on {} CPUs, {} probes",
            operations.load(Ordering::SeqCst),
            cpu::online(),
            counts.probes.load(Ordering::SeqCst)
        );
    }
}
