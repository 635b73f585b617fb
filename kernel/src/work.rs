//! Work on other CPUs: one bounded queue of closures per CPU.
//!
//! This is the kernel's whole "scheduler": [`spawn_on`] queues a
//! [`Work`] (a `Box<dyn FnOnce() + Send>`) on one CPU and sends it the wake-up IPI;
//! [`spawn`] picks a CPU itself. Every CPU but the boot CPU runs [`cpu_main`]: it takes
//! its queue's work in order, runs each to the end with interrupts on, and halts when
//! the queue is empty, until the next wake-up IPI. Work never moves between CPUs, and
//! nothing preempts it: a closure that waits for something keeps its CPU busy.
//!
//! The boot CPU runs `kernel_main` (the shell, the tests) and never idles in
//! [`cpu_main`]; work queued on it (by [`spawn_on`]`(0, ..)`, or by [`spawn`] when it is
//! the only CPU) runs when it calls [`run_pending`] or waits in [`flush`]. So on one CPU
//! everything still runs, in order, when the boot CPU waits.
//!
//! Each queue holds [`QUEUE_CAPACITY`] closures; a full queue is an error that hands the
//! work back ([`SpawnError::into_work`]), so the caller can run it itself or retry. The
//! queues are static rings: spawning allocates nothing but the caller's box.
//!
//! Locks: a queue is a [`SpinLock`] (interrupts off while held, never held while work
//! runs). Work must not call [`flush`] (it would wait for itself).

use alloc::boxed::Box;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crate::arch::{self, cpu};
use crate::sync::SpinLock;

/// A piece of work: runs once, on the CPU it was queued on.
pub type Work = Box<dyn FnOnce() + Send + 'static>;

/// How many closures each CPU's queue holds.
pub const QUEUE_CAPACITY: usize = 64;

/// A ring of queued work.
///
/// # Invariants
///
/// `slots[(head + i) % QUEUE_CAPACITY]` is `Some` exactly for `i < length`.
struct Queue {
    slots: [Option<Work>; QUEUE_CAPACITY],
    head: usize,
    length: usize,
}

impl Queue {
    const fn new() -> Self {
        Self {
            slots: [const { None }; QUEUE_CAPACITY],
            head: 0,
            length: 0,
        }
    }

    fn push(&mut self, work: Work) -> Result<(), Work> {
        if self.length == QUEUE_CAPACITY {
            return Err(work);
        }
        // INVARIANT: the slot after the last one taken becomes `Some`, `length` grows.
        self.slots[(self.head + self.length) % QUEUE_CAPACITY] = Some(work);
        self.length += 1;
        Ok(())
    }

    fn pop(&mut self) -> Option<Work> {
        if self.length == 0 {
            return None;
        }
        // INVARIANT: the first slot is emptied and `head` moves past it.
        let work = self.slots[self.head].take();
        self.head = (self.head + 1) % QUEUE_CAPACITY;
        self.length -= 1;
        work
    }
}

static QUEUES: [SpinLock<Queue>; cpu::MAX_CPUS] =
    [const { SpinLock::new(Queue::new()) }; cpu::MAX_CPUS];

/// Work queued or running, on every CPU.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
/// Work finished, per CPU.
static COMPLETED: [AtomicU64; cpu::MAX_CPUS] = [const { AtomicU64::new(0) }; cpu::MAX_CPUS];
/// Whether each CPU is running work now (to catch [`flush`] from inside work).
static RUNNING: [AtomicBool; cpu::MAX_CPUS] = [const { AtomicBool::new(false) }; cpu::MAX_CPUS];
/// Where [`spawn`] looks first.
static NEXT: AtomicUsize = AtomicUsize::new(0);
/// The CPUs waiting in [`flush`], one bit each: the CPU that finishes the last piece of
/// work wakes them.
static FLUSHERS: AtomicU64 = AtomicU64::new(0);

/// Why work was not queued; it carries the work back.
pub struct SpawnError {
    reason: SpawnErrorKind,
    work: Work,
}

/// What went wrong in a [`SpawnError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpawnErrorKind {
    /// No CPU with that number is up.
    NoSuchCpu {
        /// The number asked for.
        cpu: usize,
        /// How many CPUs are up.
        online: usize,
    },
    /// The CPU's queue holds [`QUEUE_CAPACITY`] closures already.
    Full {
        /// The CPU.
        cpu: usize,
    },
}

impl SpawnError {
    /// What went wrong.
    pub fn kind(&self) -> SpawnErrorKind {
        self.reason
    }

    /// The work that was not queued.
    pub fn into_work(self) -> Work {
        self.work
    }
}

impl fmt::Debug for SpawnError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SpawnError")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for SpawnError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            SpawnErrorKind::NoSuchCpu { cpu, online } => {
                write!(formatter, "no CPU {cpu} (CPUs 0 to {} are up)", online - 1)
            }
            SpawnErrorKind::Full { cpu } => write!(
                formatter,
                "CPU {cpu}'s work queue is full ({QUEUE_CAPACITY} closures)"
            ),
        }
    }
}

impl core::error::Error for SpawnError {}

/// Queues `work` on CPU `cpu` and wakes it; it runs there once the work queued before it
/// has (see the module docs for the boot CPU).
///
/// # Errors
///
/// [`SpawnErrorKind::NoSuchCpu`], [`SpawnErrorKind::Full`]; the error carries `work`.
pub fn spawn_on(cpu: usize, work: Work) -> Result<(), SpawnError> {
    let online = cpu::online();
    if cpu >= online {
        return Err(SpawnError {
            reason: SpawnErrorKind::NoSuchCpu { cpu, online },
            work,
        });
    }
    IN_FLIGHT.fetch_add(1, Ordering::AcqRel);
    if let Err(work) = QUEUES[cpu].lock().push(work) {
        IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
        return Err(SpawnError {
            reason: SpawnErrorKind::Full { cpu },
            work,
        });
    }
    cpu::wake(cpu);
    Ok(())
}

/// Queues `work` on some CPU and returns which: the CPUs other than the caller's take
/// turns; with one CPU, the caller's own queue (it runs in [`run_pending`] or
/// [`flush`]).
///
/// # Errors
///
/// [`SpawnErrorKind::Full`] when the chosen CPU's queue is full; the error carries
/// `work`.
pub fn spawn(work: Work) -> Result<usize, SpawnError> {
    let online = cpu::online();
    let me = cpu::current();
    let cpu = if online == 1 {
        me
    } else {
        // Round robin over the others: skip the caller.
        let turn = NEXT.fetch_add(1, Ordering::Relaxed) % (online - 1);
        if turn >= me { turn + 1 } else { turn }
    };
    spawn_on(cpu, work).map(|()| cpu)
}

/// Runs one piece of this CPU's queued work, if there is one; whether it ran one.
fn run_one(cpu: usize) -> bool {
    let Some(work) = QUEUES[cpu].lock().pop() else {
        return false;
    };
    RUNNING[cpu].store(true, Ordering::Relaxed);
    work();
    RUNNING[cpu].store(false, Ordering::Relaxed);
    COMPLETED[cpu].fetch_add(1, Ordering::Relaxed);
    // SeqCst with `flush`'s pair (its bit set, then this count read): one of the two
    // sides sees the other's write, so no flusher sleeps through the last completion.
    if IN_FLIGHT.fetch_sub(1, Ordering::SeqCst) == 1 {
        let flushers = FLUSHERS.load(Ordering::SeqCst);
        for waiter in (0..cpu::MAX_CPUS).filter(|waiter| flushers & (1 << waiter) != 0) {
            cpu::wake(waiter);
        }
    }
    true
}

/// Runs the work queued on this CPU now, until its queue is empty; how many ran.
pub fn run_pending() -> usize {
    let cpu = cpu::current();
    let mut ran = 0;
    while run_one(cpu) {
        ran += 1;
    }
    ran
}

/// Waits until every piece of work queued so far, on every CPU, has finished, running
/// this CPU's own queue meanwhile. Called with interrupts on (with them off it spins
/// instead, the interrupt state untouched). The CPU halts while it waits
/// (no spinning: under TCG a spinning vCPU takes a host thread from the ones doing the
/// work); the CPU that finishes the last piece wakes it, and so does work queued on it.
///
/// # Panics
///
/// If called from inside work (it would wait for itself).
pub fn flush() {
    let cpu = cpu::current();
    assert!(
        !RUNNING[cpu].load(Ordering::Relaxed),
        "work::flush called from inside work"
    );
    if !arch::interrupts_enabled() {
        while IN_FLIGHT.load(Ordering::Acquire) != 0 {
            run_pending();
            core::hint::spin_loop();
        }
        return;
    }
    FLUSHERS.fetch_or(1 << cpu, Ordering::SeqCst);
    loop {
        run_pending();
        // Interrupts off from the check to the halt, which enables them in one step: a
        // wake-up sent in between is not lost.
        arch::disable_interrupts();
        if IN_FLIGHT.load(Ordering::SeqCst) == 0 {
            arch::enable_interrupts();
            break;
        }
        if QUEUES[cpu].lock().length == 0 {
            arch::wait_for_interrupt();
        } else {
            arch::enable_interrupts();
        }
    }
    FLUSHERS.fetch_and(!(1 << cpu), Ordering::SeqCst);
}

/// Work queued or running on every CPU now.
pub fn in_flight() -> usize {
    IN_FLIGHT.load(Ordering::Acquire)
}

/// Work that has finished on CPU `cpu` since boot.
pub fn completed(cpu: usize) -> u64 {
    COMPLETED
        .get(cpu)
        .map_or(0, |count| count.load(Ordering::Relaxed))
}

/// A non-boot CPU's main loop (given to `arch::cpu::start_others`): run the queue, halt
/// when it is empty (see the module docs).
pub fn cpu_main(cpu: usize) -> ! {
    loop {
        // Interrupts off between finding the queue empty and halting: `wait_for_interrupt`
        // enables them and halts in one step, so a wake-up sent in between is not lost.
        arch::disable_interrupts();
        let empty = QUEUES[cpu].lock().length == 0;
        if empty {
            arch::wait_for_interrupt();
        } else {
            arch::enable_interrupts();
            run_one(cpu);
        }
    }
}
