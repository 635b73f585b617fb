//! The arch-neutral part of running on several CPUs: the CPU table, the start-up
//! handshake, the call-function mailbox, wake-ups and stopping. Each architecture's CPU
//! module (`x86_64/smp.rs`, `riscv64/cpu.rs`) starts its CPUs, keeps the CPU number in a
//! register ([`current`]) and sends the interrupts: `send_call`, `send_wake` and
//! `send_stop_to_others`, which this module calls; its interrupt handlers call back into
//! [`run_pending_call`], [`count_wakeup`] and [`stopping`].
//!
//! # The CPU table
//!
//! CPUs are numbered `0..online()` in the order they came up; 0 is the boot CPU. Each
//! number has an entry with the CPU's hardware id (the local APIC ID, the hart id), whether
//! it is up, its counters and its call slot. An entry's hardware id is written before the
//! CPU is marked up (a `Release` store that [`hardware_id`] reads with `Acquire`), and
//! not written after; only the boot CPU's is written again, once its interrupt
//! controller is up and before any other CPU starts.
//!
//! # Start-up
//!
//! The boot CPU starts one CPU at a time ([`start`]): it clears `STARTED`, has the
//! architecture kick the CPU, and waits up to a second for `STARTED`. The started CPU
//! sets its own registers up, then calls [`entered`]: that marks it up, sets `STARTED`
//! (the start-up parameters may be reused from then on), counts it in [`online`] and runs
//! the kernel's per-CPU main function. The boot CPU waits for that count before it starts
//! the next CPU, so CPU numbers follow the start order.
//!
//! # Calls
//!
//! [`call_on`] runs a function on another CPU, in its interrupt context, and returns
//! once it ran. The ordering argument, in the order things happen:
//!
//! 1. **One call at a time.** Callers take `CALL_LOCK` (a plain spin lock, held with
//!    interrupts on, never taken by a handler), so a target's slot holds at most one call.
//!    A caller with interrupts disabled is refused before it takes the lock: it could
//!    never answer another CPU's call while it waits for its own, and two such CPUs would
//!    wait for each other for ever. One that waits for the lock, or for its call, has
//!    interrupts on, so it still answers calls made to it.
//! 2. **Publish, then interrupt.** The caller builds the `Call` on its stack, stores its
//!    address into the target's slot (`Release`), and only then sends the interrupt,
//!    after a full fence: the interrupt is a write to a device (the local APIC's command
//!    register, or the firmware's IPI device through an SBI call), and the fence makes the
//!    slot visible to every CPU before that write is done, so the handler it triggers
//!    finds the call.
//! 3. **Taken once.** The target's handler *swaps* the slot to 0 (`AcqRel`: the `Acquire`
//!    pairs with step 2, so the `Call` and everything the caller wrote before are
//!    visible). An interrupt that finds 0 (a wake-up sharing the interrupt, as on
//!    riscv64, or one whose call an earlier interrupt already ran) runs nothing. So a
//!    call runs exactly once, whichever interrupt takes it.
//! 4. **Done last.** The handler runs the function, counts it, and stores `done`
//!    (`Release`) as its last touch of the `Call`. The caller spins until it loads `done`
//!    (`Acquire`: the function's effects are visible to it) and only then returns, which
//!    ends the `Call`'s stack frame: the handler never touches a dead `Call`.
//! 5. **A panic in the call ends the boot.** The kernel does not unwind (`panic = abort`):
//!    the panic is handled on the target, in the handler, like any panic (judged against
//!    the running test, reported), and leaving QEMU stops the other CPUs first. `done`
//!    is never stored, so the caller never returns into code that relies on the call;
//!    it spins with interrupts on until it is stopped.
//!
//! # Wake-ups and stopping
//!
//! [`wake`] interrupts a CPU whose idle loop halts until the next interrupt; the
//! architecture sends a wake-up IPI (its own vector on x86_64, the one software
//! interrupt on riscv64). [`stop_others`] sets the stop flag once and has the
//! architecture interrupt every other CPU (an NMI on x86_64, an IPI on riscv64); their
//! handlers see [`stopping`] and halt for good. It takes no lock: it runs on the panic,
//! fault and exit paths, where any lock may be held by a CPU that will never release it.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};

use spin::{Mutex, Once};

use super::cpu_error::CallError;
use super::this_cpu::{self, MAX_CPUS, current};
use super::time;

/// How long a CPU may take to come up once it was kicked.
const START_TIMEOUT_MICROS: u64 = 1_000_000;

/// One CPU's entry in the table (see the module docs).
#[derive(Debug)]
struct Cpu {
    hardware_id: AtomicU64,
    online: AtomicBool,
    wakeups: AtomicU64,
    calls: AtomicU64,
    /// The address of the `Call` waiting for this CPU, 0 if none.
    pending_call: AtomicUsize,
}

impl Cpu {
    const fn new() -> Self {
        Self {
            hardware_id: AtomicU64::new(0),
            online: AtomicBool::new(false),
            wakeups: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            pending_call: AtomicUsize::new(0),
        }
    }
}

static CPUS: [Cpu; MAX_CPUS] = [const { Cpu::new() }; MAX_CPUS];

/// CPUs up, the boot CPU included.
static ONLINE: AtomicUsize = AtomicUsize::new(1);

/// Set by a starting CPU once it no longer needs its start-up parameters.
static STARTED: AtomicBool = AtomicBool::new(false);

/// The kernel's per-CPU main function, given to the architecture's `start_others`.
static CPU_MAIN: Once<fn(usize) -> !> = Once::new();

/// Set by [`stop_others`].
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Serialises callers (one call in flight).
static CALL_LOCK: Mutex<()> = Mutex::new(());

/// How many CPUs are up (1 until the architecture's `start_others` started more).
pub fn online() -> usize {
    ONLINE.load(Ordering::Acquire)
}

/// The hardware id of CPU `cpu`, if it is up.
pub(super) fn hardware_id(cpu: usize) -> Option<u64> {
    let entry = CPUS.get(cpu)?;
    entry
        .online
        .load(Ordering::Acquire)
        .then(|| entry.hardware_id.load(Ordering::Relaxed))
}

/// Records the boot CPU (number 0) as up, with its hardware id.
pub(super) fn boot_cpu_is(hardware_id: u64) {
    CPUS[0].hardware_id.store(hardware_id, Ordering::Relaxed);
    CPUS[0].online.store(true, Ordering::Release);
}

/// Keeps the kernel's per-CPU main function for the CPUs [`start`] starts.
pub(super) fn set_main(main: fn(usize) -> !) {
    CPU_MAIN.call_once(|| main);
}

/// Whether the CPU being started called [`entered`] yet.
pub(super) fn has_started() -> bool {
    STARTED.load(Ordering::Acquire)
}

/// Starts CPU number `cpu` (the next one: [`online`]), whose hardware id is
/// `hardware_id`: `kick` asks the hardware or firmware to start it and says whether the
/// request went out. Returns whether the CPU came up (see the module docs).
///
/// The hardware id is recorded and `STARTED` cleared before `kick` runs, so nothing that
/// lets the CPU run (a start request, a published start block) may happen before it: a
/// CPU that entered before would be up with a stale id, and its `STARTED` lost.
pub(super) fn start(cpu: usize, hardware_id: u64, kick: impl FnOnce() -> bool) -> bool {
    let Some(entry) = CPUS.get(cpu) else {
        return false;
    };
    entry.hardware_id.store(hardware_id, Ordering::Relaxed);
    STARTED.store(false, Ordering::SeqCst);
    if !kick() {
        return false;
    }
    let deadline = time::counter() + START_TIMEOUT_MICROS * time::counter_hz() / 1_000_000;
    while !has_started() {
        if time::counter() > deadline {
            return false;
        }
        core::hint::spin_loop();
    }
    // The CPU is up and counted itself in; wait for that to be visible.
    while online() <= cpu {
        core::hint::spin_loop();
    }
    true
}

/// Called by a started CPU, number `cpu`, once its registers are set up: marks it up and
/// runs the kernel's per-CPU main function.
pub(super) fn entered(cpu: usize) -> ! {
    if let Some(entry) = CPUS.get(cpu) {
        entry.online.store(true, Ordering::Release);
    }
    STARTED.store(true, Ordering::Release);
    ONLINE.fetch_add(1, Ordering::AcqRel);
    match CPU_MAIN.get() {
        Some(main) => main(cpu),
        None => super::halt_forever(),
    }
}

/// How many wake-ups CPU `cpu` has taken: interrupts that ran no call (0 for a CPU that
/// is not up).
pub fn wakeups(cpu: usize) -> u64 {
    CPUS.get(cpu)
        .map_or(0, |entry| entry.wakeups.load(Ordering::Relaxed))
}

/// How many calls CPU `cpu` has run for [`call_on`].
pub fn calls(cpu: usize) -> u64 {
    CPUS.get(cpu)
        .map_or(0, |entry| entry.calls.load(Ordering::Relaxed))
}

/// The call in flight: what to run and whether it ran.
struct Call<'a> {
    function: &'a (dyn Fn() + Sync),
    done: AtomicBool,
}

/// Runs `function` on CPU `cpu`, in its interrupt context (interrupts off), and returns
/// once it has run. On the calling CPU itself it runs directly.
///
/// # Errors
///
/// [`CallError`]; nothing ran then.
pub fn call_on(cpu: usize, function: &(dyn Fn() + Sync)) -> Result<(), CallError> {
    let Some(target) = hardware_id(cpu) else {
        return Err(CallError::NoSuchCpu {
            cpu,
            online: online(),
        });
    };
    if cpu == current() {
        function();
        return Ok(());
    }
    if !super::interrupts_enabled() {
        return Err(CallError::InterruptsDisabled);
    }
    let _guard = CALL_LOCK.lock();
    let call = Call {
        function,
        done: AtomicBool::new(false),
    };
    CPUS[cpu]
        .pending_call
        .store(core::ptr::from_ref(&call) as usize, Ordering::Release);
    fence(Ordering::SeqCst);
    this_cpu::send_call(target);
    while !call.done.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    Ok(())
}

/// Runs `function` on every other CPU that is up, one after the other.
///
/// # Errors
///
/// [`CallError::InterruptsDisabled`], before anything ran.
pub fn call_on_others(function: &(dyn Fn() + Sync)) -> Result<(), CallError> {
    let me = current();
    for cpu in (0..online()).filter(|&cpu| cpu != me) {
        call_on(cpu, function)?;
    }
    Ok(())
}

/// Runs the call waiting for this CPU, if any; whether one ran. For the architecture's
/// call interrupt handler, with interrupts off.
pub(super) fn run_pending_call() -> bool {
    let me = current();
    let address = CPUS[me].pending_call.swap(0, Ordering::AcqRel);
    if address == 0 {
        return false;
    }
    // SAFETY: a non-zero slot is the address of the `Call` on the stack of a `call_on`
    // that waits, without returning, until `done` is set below; the swap took it out of
    // the slot, so this handler alone runs it, once (steps 2 to 4 of the module docs).
    let call = unsafe { &*(address as *const Call<'_>) };
    (call.function)();
    CPUS[me].calls.fetch_add(1, Ordering::Relaxed);
    call.done.store(true, Ordering::Release);
    true
}

/// Takes CPU `cpu` out of its wait for an interrupt; nothing for this CPU or one that is
/// not up.
pub fn wake(cpu: usize) {
    if cpu == current() {
        return;
    }
    if let Some(target) = hardware_id(cpu) {
        this_cpu::send_wake(target);
    }
}

/// Counts a wake-up taken by this CPU (for the architecture's handler).
pub(super) fn count_wakeup() {
    CPUS[current()].wakeups.fetch_add(1, Ordering::Relaxed);
}

/// Stops every other CPU for good (see the module docs). For the panic, fault and exit
/// paths; takes no lock.
pub fn stop_others() {
    if online() > 1 && !STOPPING.swap(true, Ordering::SeqCst) {
        this_cpu::send_stop_to_others();
    }
}

/// Whether [`stop_others`] ran: an interrupt handler that sees it halts its CPU.
pub(super) fn stopping() -> bool {
    STOPPING.load(Ordering::SeqCst)
}
