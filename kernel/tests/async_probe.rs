//! Asynchronous probe on several CPUs (issue 14): a platform driver that declares an
//! asynchronous probe is probed on every CPU (the kernel's executor,
//! `devices::ProbeExecutor`: the other CPUs drain the model's queue of probes from
//! their work queues, and the registering CPU runs queued probes while it waits for
//! them), so its registration returns before the probes finish, on any number of CPUs.
//!
//! - the semantics: the registration returns before any probe ran; each other CPU takes
//!   one probe and holds it at a closed gate, and the registering CPU runs the rest
//!   itself (`run_queued_probes`, what its `wait_for_probes` does first); all bind once
//!   the gate opens; nothing leaks. With one CPU the registering CPU runs them all;
//! - the timing figure: [`DEVICES`] devices whose probe is a [`PROBE_MS`] busy wait;
//!   the test prints how long the registration took, how long until all were bound and
//!   how many probes ran on the registering CPU, beside the target of
//!   1.2 x ceil(N / C) x T. It checks no time (the host is shared and TCG is slow); the
//!   figures are diagnostics.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use drivermodel::context::Core;
use drivermodel::driver::ProbeType;
use drivermodel::{Device, DeviceBuilder, Driver, IdEntry};
use kernel::arch::{cpu, time};
use kernel::bus::platform::Platform;
use kernel::devices::model;
use kernel::test::Failure;
use kernel::test::support::failure;
use kernel::{check, check_eq, kernel_test, println, work};

kernel::entry_point!(main);

/// Grows the platform bus's name index to [`DEVICES`] names once, before any test's
/// leak baseline: the index keeps its size when devices go (by design, see drivermodel's
/// `name_index.rs`), which the leak check would otherwise count against the first test
/// that adds that many devices.
fn main(boot: &'static kernel::BootInfo) -> ! {
    drop(add_devices(DEVICES));
    kernel::test::run_all(boot)
}

/// How many devices the timing test probes.
const DEVICES: usize = 16;

/// How long each probe of the timing test takes, in milliseconds.
const PROBE_MS: u64 = 20;

/// The longest a probe waits at the gate, and the test for the probes to reach it: only
/// a deadlock (a registration that waited for its own probes, a CPU that never took
/// one) takes that long.
const GATE_TIMEOUT_S: u64 = 10;

static IDS: [IdEntry<&'static str, ()>; 1] = [IdEntry::new("async_probe", ())];

/// What a probe does before it succeeds.
enum Behaviour {
    /// On any CPU but the registering one, waits until the gate opens (fails after
    /// [`GATE_TIMEOUT_S`]).
    Gate(Arc<AtomicBool>),
    /// Busy-waits this many milliseconds.
    Busy(u64),
}

/// What the probes of a [`Slow`] driver counted.
#[derive(Default)]
struct Tally {
    /// Probes that started.
    started: AtomicUsize,
    /// Probes that succeeded.
    finished: AtomicUsize,
    /// Probes that ran on the CPU that registered the driver.
    on_registering_cpu: AtomicUsize,
    /// Each probe's CPU, start and end (counter ticks), where the timing test wants them.
    spans: Option<spin::Mutex<Vec<(usize, u64, u64)>>>,
}

impl Tally {
    fn finished(&self) -> usize {
        self.finished.load(Ordering::SeqCst)
    }

    fn on_registering_cpu(&self) -> usize {
        self.on_registering_cpu.load(Ordering::SeqCst)
    }

    /// A tally that records every probe's span, with room for `probes`.
    fn with_spans(probes: usize) -> Self {
        Self {
            spans: Some(spin::Mutex::new(Vec::with_capacity(probes))),
            ..Self::default()
        }
    }
}

/// A platform driver with an asynchronous probe; counts its probes and where they ran.
struct Slow {
    behaviour: Behaviour,
    tally: Arc<Tally>,
    registering_cpu: usize,
}

impl Driver for Slow {
    type Bus = Platform;
    type IdInfo = ();
    type State = ();

    fn name(&self) -> &str {
        "async_probe"
    }

    fn id_table(&self) -> &[IdEntry<&'static str, ()>] {
        &IDS
    }

    fn probe(&self, _device: &Device<Core>, _: &()) -> drivermodel::Result<()> {
        let start = time::counter();
        self.tally.started.fetch_add(1, Ordering::SeqCst);
        let here = cpu::current() == self.registering_cpu;
        if here {
            self.tally.on_registering_cpu.fetch_add(1, Ordering::SeqCst);
        }
        match &self.behaviour {
            Behaviour::Gate(_) if here => {}
            Behaviour::Gate(open) => {
                let deadline = time::counter() + GATE_TIMEOUT_S * time::counter_hz();
                while !open.load(Ordering::SeqCst) {
                    if time::counter() > deadline {
                        return Err(drivermodel::Error::driver("the gate never opened"));
                    }
                    core::hint::spin_loop();
                }
            }
            Behaviour::Busy(milliseconds) => busy_wait(*milliseconds),
        }
        if let Some(spans) = &self.tally.spans {
            spans.lock().push((cpu::current(), start, time::counter()));
        }
        self.tally.finished.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn probe_type(&self) -> ProbeType {
        ProbeType::Asynchronous
    }
}

fn busy_wait(milliseconds: u64) {
    let end = time::counter() + milliseconds * time::counter_hz() / 1000;
    while time::counter() < end {
        core::hint::spin_loop();
    }
}

fn add_devices(count: usize) -> Result<Vec<drivermodel::device::Registration>, Failure> {
    (0..count)
        .map(|index| {
            model()
                .add_device(DeviceBuilder::new(format!("async_probe.{index}")).bus("platform"))
                .map_err(failure)
        })
        .collect()
}

fn slow(behaviour: Behaviour, tally: &Arc<Tally>) -> Slow {
    Slow {
        behaviour,
        tally: tally.clone(),
        registering_cpu: cpu::current(),
    }
}

/// Waits until `count` probes have started; fails after [`GATE_TIMEOUT_S`].
fn until_started(tally: &Tally, count: usize) -> Result<(), Failure> {
    let deadline = time::counter() + GATE_TIMEOUT_S * time::counter_hz();
    while tally.started.load(Ordering::SeqCst) < count {
        if time::counter() > deadline {
            return Err(Failure::new(format_args!(
                "{} of {count} probes started on the other CPUs",
                tally.started.load(Ordering::SeqCst)
            )));
        }
        core::hint::spin_loop();
    }
    Ok(())
}

kernel_test! {
    /// The registration returns before any probe ran. Each other CPU then takes one
    /// probe and holds it at the closed gate; the registering CPU runs the two left
    /// itself (its help while it waits); once the gate opens, all are bound.
    fn registration_returns_at_once_and_every_cpu_probes() {
        let counts = model().counts();
        let others = cpu::online() - 1;
        let devices = add_devices(others + 2)?;
        let tally = Arc::new(Tally::default());
        let open = Arc::new(AtomicBool::new(false));
        let driver = model()
            .register_driver(slow(Behaviour::Gate(open.clone()), &tally))
            .map_err(failure)?;
        // Returned with no probe done: none runs on this CPU before it waits, and the
        // others' wait at the gate.
        check_eq!(tally.finished(), 0);
        check!(devices.iter().all(|device| !device.is_bound()));
        until_started(&tally, others)?;
        check_eq!(model().run_queued_probes(), 2);
        check_eq!(tally.on_registering_cpu(), 2);
        check_eq!(tally.finished(), 2);
        open.store(true, Ordering::SeqCst);
        model().wait_for_probes();
        check_eq!(tally.finished(), devices.len());
        check!(devices.iter().all(|device| device.is_bound()));
        drop(driver);
        drop(devices);
        check_eq!(model().counts(), counts);
    }
}

/// The figure's floor on this host, without the device model: every CPU runs its share
/// of the [`DEVICES`] busy waits of [`PROBE_MS`] (the others through their work queues);
/// milliseconds until all have ended. Under TCG a busy wait overshoots whenever the host
/// does not run its vCPU thread at the deadline, so this shows how much of the figure
/// is the host's.
fn baseline_ms() -> u64 {
    let cpus = cpu::online();
    let rounds = DEVICES.div_ceil(cpus);
    let start = time::counter();
    for other in (0..cpus).filter(|other| *other != cpu::current()) {
        let waits = alloc::boxed::Box::new(move || (0..rounds).for_each(|_| busy_wait(PROBE_MS)));
        if work::spawn_on(other, waits).is_err() {
            return 0;
        }
    }
    (0..rounds).for_each(|_| busy_wait(PROBE_MS));
    work::flush();
    (time::counter() - start) * 1000 / time::counter_hz()
}

kernel_test! {
    /// The timing figure: N devices x T ms of probe, registered at once. Prints the
    /// registration's time, the time until all are bound and how many probes the
    /// registering CPU ran while it waited, then where the time went and the host's
    /// floor for the figure (no time is checked).
    fn probes_of_many_devices_run_in_parallel() {
        let counts = model().counts();
        let devices = add_devices(DEVICES)?;
        let tally = Arc::new(Tally::with_spans(DEVICES));
        let hz = time::counter_hz();
        let start = time::counter();
        let driver = model()
            .register_driver(slow(Behaviour::Busy(PROBE_MS), &tally))
            .map_err(failure)?;
        let registered = time::counter();
        model().wait_for_probes();
        let bound = time::counter();
        check_eq!(tally.finished(), DEVICES);
        check!(devices.iter().all(|device| device.is_bound()));
        let cpus = cpu::online();
        let micros = |ticks: u64| ticks * 1_000_000 / hz;
        let target_ms = 12 * (DEVICES.div_ceil(cpus) as u64) * PROBE_MS / 10;
        println!(
            "# async probe: {DEVICES} devices x {PROBE_MS} ms on {cpus} CPUs: registration {} us, all bound in {} ms (target 1.2 x ceil(N/C) x T = {target_ms} ms; {} probes on the registering CPU)",
            micros(registered - start),
            micros(bound - start) / 1000,
            tally.on_registering_cpu(),
        );
        // Where the time went: per CPU, its probes, the time inside them (each a
        // PROBE_MS busy wait), and when its last one ended (from the registration's
        // start).
        if let Some(spans) = &tally.spans {
            let spans = spans.lock();
            for cpu in 0..cpus {
                let own = spans.iter().filter(|(on, ..)| *on == cpu);
                let (count, inside, last) = own.fold((0, 0, 0), |(count, inside, last), (_, begin, end)| {
                    (count + 1, inside + (end - begin), last.max(end - start))
                });
                println!(
                    "# cpu {cpu}: {count} probes, {} ms inside them (nominal {} ms), last one ended at {} ms",
                    micros(inside) / 1000,
                    count * PROBE_MS,
                    micros(last) / 1000,
                );
            }
        }
        println!(
            "# floor without the device model: {} x {PROBE_MS} ms busy waits on each of {cpus} CPUs took {} ms",
            DEVICES.div_ceil(cpus),
            baseline_ms(),
        );
        drop(driver);
        drop(devices);
        check_eq!(model().counts(), counts);
    }
}
