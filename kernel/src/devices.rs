//! The kernel's device model: one [`DeviceModel`] instance, set up at boot.
//!
//! [`model`] is the instance every bus, driver and the shell use. [`init`] (called by
//! [`crate::init`] for the binary and every test kernel alike) does, in order:
//!
//! 1. subscribe the [event log](events), a fixed ring that never touches the heap after
//!    boot, so logging does not disturb the tests' leak checks;
//! 2. the buses: [`platform`](crate::bus::platform) with the board table, then
//!    [`pci`](crate::bus::pci) (enumerate, assign BARs firmware left at zero);
//! 3. the built-in drivers ([`crate::drivers`]), which bind at once: the 16550 UART
//!    becomes the console;
//! 4. where the firmware passed a devicetree (riscv64), its devices
//!    ([`platform::populate`](crate::bus::platform::populate)): the interrupt
//!    controller, then the UART `/chosen/stdout-path` names (the console), the PCI host
//!    bridge with its functions (the bochs display), the exit device.
//!
//! Before the buses, it installs the model's executor ([`ProbeExecutor`]): drivers that
//! declare an asynchronous probe are probed on every CPU, the other CPUs through their
//! work queues and the registering one while it waits for the probes.
//!
//! [`report`] prints the event log and the tree at the end of boot, as the command line's
//! `devices=` option asks.

use core::fmt::{self, Write};

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};

use drivermodel::DeviceModel;
use drivermodel::async_probe::{Executor, Work};
use drivermodel::event::{Event, EventKind, Subscription};
use spin::{Mutex, Once};

use crate::arch;
use crate::bus;
use crate::cmdline::{DeviceReport, Options};
use crate::println;
use crate::text::FixedString;

static MODEL: Once<DeviceModel> = Once::new();
static SUBSCRIPTION: Once<Subscription> = Once::new();

/// The kernel's device model instance (created on first use).
pub fn model() -> &'static DeviceModel {
    MODEL.call_once(DeviceModel::new)
}

/// Sets up the device model, its buses and the built-in drivers (see the module docs);
/// `options.reprobe` turns on the model's debug re-probe mode first.
pub fn init(options: &Options<'_>) {
    let model = model();
    model.set_debug_reprobe(options.reprobe);
    model.set_executor(Some(Arc::new(ProbeExecutor)));
    SUBSCRIPTION.call_once(|| model.subscribe(record_event));
    if let Err(error) = bus::platform::init(model) {
        println!("kernel: platform bus: {error}");
    }
    if let Err(error) = bus::pci::init(model) {
        println!("kernel: pci bus: {error}");
    }
    crate::drivers::init(model);
    if let Err(error) = bus::platform::populate(model) {
        println!("kernel: devicetree: {error}");
    }
}

/// The device model's executor hook: an asynchronous probe runs on whichever CPU gets
/// to it first, so with C CPUs, C probes run at once.
///
/// A work stays in the model's own queue ([`Work::leave_queued`]); the executor only
/// makes sure CPUs drain that queue: a drain ([`DeviceModel::run_queued_probes`] until
/// the queue is empty) runs from a CPU's [work queue](crate::work). The CPU that queued
/// the probes takes part by waiting: `wait_for_probes` (and `wait_for_probe` of a
/// device) run the queued probes on the waiting CPU too, each probe claimed exactly
/// once, by a drain or by a waiter. With one CPU the drain goes on its own queue: the
/// registration still returns at once, and the probes run when the CPU waits for them
/// or flushes its queue ([`work::flush`](crate::work::flush),
/// [`work::run_pending`](crate::work::run_pending)).
///
/// Each spawn wakes at most one CPU, and only one that is not *covered* yet: a CPU is
/// covered from the moment a drain is queued on it until that drain finds the queue
/// empty, since it will get to every probe queued meanwhile. So a registration of N
/// probes sends at most C - 1 wake-ups, and once every other CPU is covered a spawn is
/// a push and C flag reads. Nothing here allocates: a drain is a function without
/// captures (a box of it holds no memory), and at most one is queued per CPU. A full
/// work queue runs the probe on the calling CPU. The executor serves the kernel's
/// [`model`] only.
#[derive(Debug)]
pub struct ProbeExecutor;

/// Whether each CPU is covered: a drain is queued on it or running there (see
/// [`ProbeExecutor`]).
static COVERED: [AtomicBool; arch::cpu::MAX_CPUS] =
    [const { AtomicBool::new(false) }; arch::cpu::MAX_CPUS];

/// Where the next spawn starts looking for a CPU that is not covered.
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Runs the model's queued probes on this CPU until none is left (queued by
/// [`ProbeExecutor`]; this CPU is covered meanwhile).
fn drain() {
    let cpu = arch::cpu::current();
    loop {
        model().run_queued_probes();
        COVERED[cpu].store(false, Ordering::SeqCst);
        // Pairs with the fence in `spawn`: a probe queued before the store above is
        // seen below, and one queued after it finds this CPU not covered.
        fence(Ordering::SeqCst);
        if model().run_queued_probes() == 0 || COVERED[cpu].swap(true, Ordering::SeqCst) {
            // Nothing left, or a new drain was queued here and will go on.
            return;
        }
    }
}

impl Executor for ProbeExecutor {
    fn spawn(&self, work: Work) -> Result<(), Work> {
        // The work is in the model's queue already: pairs with the fence in `drain`.
        fence(Ordering::SeqCst);
        let (online, me) = (arch::cpu::online(), arch::cpu::current());
        let others = online - 1;
        let start = NEXT.fetch_add(1, Ordering::Relaxed);
        // The other CPUs, taking turns; with one CPU, this one.
        let candidates = (0..others.max(1)).map(|turn| {
            if others == 0 {
                me
            } else {
                let cpu = (start + turn) % others;
                if cpu >= me { cpu + 1 } else { cpu }
            }
        });
        for cpu in candidates {
            if COVERED[cpu].swap(true, Ordering::SeqCst) {
                continue;
            }
            if crate::work::spawn_on(cpu, Box::new(drain)).is_err() {
                // A full queue: the model runs the probe here.
                COVERED[cpu].store(false, Ordering::SeqCst);
                return Err(work);
            }
            break;
        }
        // A CPU woken, or every one covered already.
        work.leave_queued();
        Ok(())
    }
}

/// One logged event, stored inline.
#[derive(Debug, Clone, Copy)]
pub struct LoggedEvent {
    /// Position in the whole stream since boot (0-based).
    pub sequence: u64,
    /// What happened.
    pub kind: EventKind,
    /// The device path (truncated to the capacity).
    pub path: FixedString<64>,
    /// The driver, for binding events.
    pub driver: Option<FixedString<32>>,
}

impl fmt::Display for LoggedEvent {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            EventKind::Add => "add",
            EventKind::Bind => "bind",
            EventKind::Bound => "bound",
            EventKind::NotBound => "not-bound",
            EventKind::Unbind => "unbind",
            EventKind::Unbound => "unbound",
            EventKind::Delete => "del",
            EventKind::Removed => "removed",
            _ => "other",
        };
        write!(formatter, "#{} {kind} {}", self.sequence, self.path)?;
        if let Some(driver) = &self.driver {
            write!(formatter, " driver={driver}")?;
        }
        Ok(())
    }
}

/// How many events the log keeps (the oldest are overwritten).
pub const EVENT_LOG_CAPACITY: usize = 128;

struct EventLog {
    entries: [Option<LoggedEvent>; EVENT_LOG_CAPACITY],
    next: u64,
}

static EVENTS: Mutex<EventLog> = Mutex::new(EventLog {
    entries: [None; EVENT_LOG_CAPACITY],
    next: 0,
});

fn record_event(event: &Event) {
    let mut path = FixedString::new();
    let _ = path.write_str(&event.path);
    let driver = event.driver.as_deref().map(|driver| {
        let mut name = FixedString::new();
        let _ = name.write_str(driver);
        name
    });
    arch::without_interrupts(|| {
        let mut log = EVENTS.lock();
        let sequence = log.next;
        log.entries[(sequence % EVENT_LOG_CAPACITY as u64) as usize] = Some(LoggedEvent {
            sequence,
            kind: event.kind,
            path,
            driver,
        });
        log.next += 1;
    });
}

/// How many events happened since boot.
pub fn event_count() -> u64 {
    arch::without_interrupts(|| EVENTS.lock().next)
}

/// Calls `visit` for every logged event with a sequence number of at least `since`,
/// oldest first (only the last [`EVENT_LOG_CAPACITY`] are kept).
pub fn events(since: u64, mut visit: impl FnMut(&LoggedEvent)) {
    let next = event_count();
    let first = next.saturating_sub(EVENT_LOG_CAPACITY as u64).max(since);
    for sequence in first..next {
        // One entry at a time: no lock is held while `visit` runs.
        let entry = arch::without_interrupts(|| {
            EVENTS.lock().entries[(sequence % EVENT_LOG_CAPACITY as u64) as usize]
        });
        if let Some(event) = entry.filter(|event| event.sequence == sequence) {
            visit(&event);
        }
    }
}

/// Prints the event log and/or the device tree, as `devices=` asks.
pub fn report(what: DeviceReport) {
    if matches!(what, DeviceReport::Events | DeviceReport::All) {
        println!("kernel: device events ({} since boot):", event_count());
        events(0, |event| println!("  {event}"));
    }
    if matches!(what, DeviceReport::Tree | DeviceReport::All) {
        println!("kernel: device tree:");
        for line in model().tree().lines() {
            println!("  {line}");
        }
    }
}
