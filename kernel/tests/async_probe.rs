//! Asynchronous probe on several CPUs (issue 14): a platform driver that declares an
//! asynchronous probe is probed on the other CPUs' work queues (the kernel's executor,
//! `devices::ProbeExecutor`), so its registration returns before the probes finish.
//!
//! - the semantics: the registration returns while every probe is still held at a
//!   gate on another CPU; all bind once the gate opens; nothing leaks. With one CPU the
//!   executor gives the work back and the registration probes synchronously, as before;
//! - the timing figure: [`DEVICES`] devices whose probe is a [`PROBE_MS`] busy wait;
//!   the test prints how long the registration took and how long until all were bound,
//!   beside the target of 1.2 x ceil(N / C) x T. It checks no time (the host is
//!   shared and TCG is slow); the figures are diagnostics.

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
use kernel::{check, check_eq, kernel_test, println};

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

/// The longest a probe waits at the gate: only a registration that waited for its own
/// probes (the bug this catches) keeps it closed that long.
const GATE_TIMEOUT_S: u64 = 10;

static IDS: [IdEntry<&'static str, ()>; 1] = [IdEntry::new("async_probe", ())];

/// What a probe does before it succeeds.
enum Behaviour {
    /// Waits until the gate opens (fails after [`GATE_TIMEOUT_S`]).
    Gate(Arc<AtomicBool>),
    /// Busy-waits this many milliseconds.
    Busy(u64),
}

/// A platform driver with an asynchronous probe; counts its probes and notes whether one
/// ran on the registering CPU.
struct Slow {
    behaviour: Behaviour,
    probes: Arc<AtomicUsize>,
    registering_cpu: usize,
    on_registering_cpu: Arc<AtomicBool>,
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
        if cpu::current() == self.registering_cpu {
            self.on_registering_cpu.store(true, Ordering::SeqCst);
        }
        match &self.behaviour {
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
        self.probes.fetch_add(1, Ordering::SeqCst);
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

fn failure(error: impl core::fmt::Display) -> Failure {
    Failure::new(format_args!("{error}"))
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

fn slow(
    behaviour: Behaviour,
    probes: &Arc<AtomicUsize>,
    on_registering_cpu: &Arc<AtomicBool>,
) -> Slow {
    Slow {
        behaviour,
        probes: probes.clone(),
        registering_cpu: cpu::current(),
        on_registering_cpu: on_registering_cpu.clone(),
    }
}

kernel_test! {
    /// With several CPUs the registration returns while every probe waits at a closed
    /// gate on another CPU; they all bind once it opens. With one CPU the probes run in
    /// the registration (the gate is open from the start).
    fn registration_returns_before_the_probes_finish() {
        let counts = model().counts();
        let several = cpu::online() > 1;
        let devices = add_devices(4)?;
        let (probes, on_registering_cpu) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let open = Arc::new(AtomicBool::new(!several));
        let driver = model()
            .register_driver(slow(Behaviour::Gate(open.clone()), &probes, &on_registering_cpu))
            .map_err(failure)?;
        if several {
            // Returned with the gate still closed: no probe can have finished.
            check_eq!(probes.load(Ordering::SeqCst), 0);
            check!(devices.iter().all(|device| !device.is_bound()));
            open.store(true, Ordering::SeqCst);
            model().wait_for_probes();
            check!(!on_registering_cpu.load(Ordering::SeqCst), "a probe ran on the registering CPU");
        } else {
            println!("# one CPU: the executor gives the work back, the probes are synchronous");
        }
        check_eq!(probes.load(Ordering::SeqCst), devices.len());
        check!(devices.iter().all(|device| device.is_bound()));
        drop(driver);
        drop(devices);
        check_eq!(model().counts(), counts);
    }
}

kernel_test! {
    /// The timing figure: N devices x T ms of probe, registered at once. Prints the
    /// registration's time and the time until all are bound (no time is checked).
    fn probes_of_many_devices_run_in_parallel() {
        let counts = model().counts();
        let devices = add_devices(DEVICES)?;
        let (probes, on_registering_cpu) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let hz = time::counter_hz();
        let start = time::counter();
        let driver = model()
            .register_driver(slow(Behaviour::Busy(PROBE_MS), &probes, &on_registering_cpu))
            .map_err(failure)?;
        let registered = time::counter();
        model().wait_for_probes();
        let bound = time::counter();
        check_eq!(probes.load(Ordering::SeqCst), DEVICES);
        check!(devices.iter().all(|device| device.is_bound()));
        let cpus = cpu::online();
        let micros = |ticks: u64| ticks * 1_000_000 / hz;
        let target_ms = 12 * (DEVICES.div_ceil(cpus) as u64) * PROBE_MS / 10;
        println!(
            "# async probe: {DEVICES} devices x {PROBE_MS} ms on {cpus} CPUs: registration {} us, all bound in {} ms (target 1.2 x ceil(N/C) x T = {target_ms} ms; {} probe CPUs)",
            micros(registered - start),
            micros(bound - start) / 1000,
            if cpus > 1 { cpus - 1 } else { 1 },
        );
        drop(driver);
        drop(devices);
        check_eq!(model().counts(), counts);
    }
}
