//! Several CPUs: every CPU the firmware lists comes up, work queued on a CPU runs there,
//! idle CPUs halt and wake on the wake-up IPI, the call-function IPI runs on the CPU
//! asked, full queues are a clear error. With one CPU (`-smp 1`) the same tests check the
//! single-CPU behaviour: the boot CPU runs its own queue when it waits.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use kernel::arch::{self, cpu};
use kernel::work::{self, QUEUE_CAPACITY, SpawnErrorKind};
use kernel::{check, check_eq, fail, kernel_test, println};

kernel::test_main!();

/// Rounds of the work test (one closure per CPU each).
const ROUNDS: usize = 50;

kernel_test! {
    /// Every enabled processor of the MADT is online, numbered from 0.
    #[only_on(x86_64)]
    fn every_madt_processor_is_online() {
        let Some(processors) = arch::acpi::processors() else {
            fail!("no MADT processor list");
        };
        let listed = processors.apic_ids().len().min(cpu::MAX_CPUS);
        println!("# {} CPUs online, {listed} in the MADT", cpu::online());
        check_eq!(cpu::online(), listed);
        check_eq!(cpu::current(), 0);
    }
}

kernel_test! {
    /// Every hart OpenSBI knows is online (HSM: each answers `hart_get_status`).
    #[only_on(riscv64)]
    fn every_hart_is_online() {
        let harts = (0..cpu::MAX_CPUS as u64)
            .filter(|&hart| arch::sbi::hart_status(hart).is_some())
            .count();
        println!("# {} CPUs online, {harts} harts", cpu::online());
        check_eq!(cpu::online(), harts);
        check_eq!(cpu::current(), 0);
    }
}

kernel_test! {
    /// Work queued on each CPU runs on that CPU, every round, and `flush` waits for all
    /// of it.
    fn work_runs_on_the_cpu_asked() {
        let online = cpu::online();
        let ran_on: Arc<Vec<AtomicUsize>> =
            Arc::new((0..online).map(|_| AtomicUsize::new(usize::MAX)).collect());
        let count = Arc::new(AtomicUsize::new(0));
        for round in 0..ROUNDS {
            for target in 0..online {
                let ran_on = ran_on.clone();
                let count = count.clone();
                let spawned = work::spawn_on(
                    target,
                    Box::new(move || {
                        ran_on[target].store(cpu::current(), Ordering::Relaxed);
                        count.fetch_add(1, Ordering::Relaxed);
                    }),
                );
                if let Err(error) = spawned {
                    fail!("round {round}: spawn_on({target}): {error}");
                }
            }
            work::flush();
            for (target, cpu) in ran_on.iter().enumerate() {
                check_eq!(cpu.swap(usize::MAX, Ordering::Relaxed), target);
            }
        }
        check_eq!(count.load(Ordering::Relaxed), ROUNDS * online);
        check_eq!(work::in_flight(), 0);
        println!("# {ROUNDS} rounds on {online} CPUs");
    }
}

kernel_test! {
    /// `spawn` spreads work over the CPUs other than the caller's (the caller's own
    /// queue with one CPU), and says where it went.
    fn spawn_says_where_the_work_went() {
        let online = cpu::online();
        for _ in 0..2 * online {
            let ran = Arc::new(AtomicUsize::new(usize::MAX));
            let seen = ran.clone();
            let chosen = match work::spawn(Box::new(move || {
                seen.store(cpu::current(), Ordering::Relaxed);
            })) {
                Ok(cpu) => cpu,
                Err(error) => fail!("spawn: {error}"),
            };
            if online > 1 {
                check!(chosen != cpu::current());
            }
            work::flush();
            check_eq!(ran.load(Ordering::Relaxed), chosen);
        }
    }
}

kernel_test! {
    /// Work queued on another CPU comes with a wake-up IPI, which that CPU takes (it
    /// would otherwise sleep in `hlt` with the work queued).
    fn idle_cpus_wake_on_the_ipi() {
        if cpu::online() == 1 {
            println!("# one CPU: nothing to wake");
            return Ok(());
        }
        let target = cpu::online() - 1;
        for _ in 0..10 {
            // Wait until the target has gone back to sleep (its queue empty, halted).
            work::flush();
            let before = cpu::wakeups(target);
            let done = Arc::new(AtomicBool::new(false));
            let flag = done.clone();
            if let Err(error) = work::spawn_on(target, Box::new(move || flag.store(true, Ordering::Release))) {
                fail!("spawn_on: {error}");
            }
            work::flush();
            check!(done.load(Ordering::Acquire));
            check!(cpu::wakeups(target) > before, "the work ran without a wake-up IPI");
        }
    }
}

kernel_test! {
    /// The call-function IPI runs the function on the CPU asked, and returns after it
    /// ran; with interrupts off it is refused; an unknown CPU is an error.
    fn call_function_runs_on_the_cpu_asked() {
        for target in 0..cpu::online() {
            let ran_on = AtomicUsize::new(usize::MAX);
            let result = cpu::call_on(target, &|| ran_on.store(cpu::current(), Ordering::Relaxed));
            check_eq!(result, Ok(()));
            check_eq!(ran_on.load(Ordering::Relaxed), target);
        }
        let missing = cpu::online();
        check_eq!(
            cpu::call_on(missing, &|| {}),
            Err(cpu::CallError::NoSuchCpu { cpu: missing, online: missing })
        );
        if cpu::online() > 1 {
            let refused = arch::without_interrupts(|| cpu::call_on(1, &|| {}));
            check_eq!(refused, Err(cpu::CallError::InterruptsDisabled));
        }
    }
}

/// Calls each CPU makes in `calls_cross_between_every_pair_of_cpus`.
const CROSS_CALLS: usize = 25;

kernel_test! {
    /// Every CPU calls every other at once, while being called itself: no caller
    /// deadlocks (waiting callers keep answering calls), and each call runs exactly once,
    /// on the CPU asked.
    fn calls_cross_between_every_pair_of_cpus() {
        let online = cpu::online();
        // ran[caller * online + target]: calls from `caller` that ran on `target`.
        let ran: Arc<Vec<AtomicUsize>> =
            Arc::new((0..online * online).map(|_| AtomicUsize::new(0)).collect());
        let refused = Arc::new(AtomicUsize::new(0));
        let calls_before: Vec<u64> = (0..online).map(cpu::calls).collect();
        let caller = move |me: usize, ran: &Vec<AtomicUsize>, refused: &AtomicUsize| {
            for round in 0..CROSS_CALLS {
                let target = (me + 1 + round % online.max(2).saturating_sub(1)) % online;
                let result = cpu::call_on(target, &|| {
                    ran[me * online + cpu::current()].fetch_add(1, Ordering::Relaxed);
                });
                if result.is_err() {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        };
        for me in 1..online {
            let (ran, refused) = (ran.clone(), refused.clone());
            if let Err(error) = work::spawn_on(me, Box::new(move || caller(me, &ran, &refused))) {
                fail!("spawn_on({me}): {error}");
            }
        }
        caller(0, &ran, &refused);
        work::flush();
        check_eq!(refused.load(Ordering::Relaxed), 0);
        let mut expected = alloc::vec![0_usize; online * online];
        for me in 0..online {
            for round in 0..CROSS_CALLS {
                let target = (me + 1 + round % online.max(2).saturating_sub(1)) % online;
                expected[me * online + target] += 1;
            }
        }
        for (index, (count, expected)) in ran.iter().zip(&expected).enumerate() {
            let count = count.load(Ordering::Relaxed);
            check!(
                count == *expected,
                "{count} calls from CPU {} ran on CPU {}, expected {expected}",
                index / online,
                index % online
            );
        }
        // Every call to another CPU went through its interrupt handler.
        for target in 0..online {
            let from_others = (0..online)
                .filter(|&caller| caller != target)
                .map(|caller| expected[caller * online + target] as u64)
                .sum::<u64>();
            check_eq!(cpu::calls(target) - calls_before[target], from_others);
        }
        println!("# {} calls on {online} CPUs", online * CROSS_CALLS);
    }
}

kernel_test! {
    /// A full queue hands the work back with a clear error; nothing is lost.
    fn a_full_queue_is_an_error() {
        let ran = Arc::new(AtomicUsize::new(0));
        // The boot CPU's queue: nothing drains it until this test runs it.
        for _ in 0..QUEUE_CAPACITY {
            let ran = ran.clone();
            if let Err(error) = work::spawn_on(0, Box::new(move || {
                ran.fetch_add(1, Ordering::Relaxed);
            })) {
                fail!("spawn_on(0) before the queue was full: {error}");
            }
        }
        let extra = ran.clone();
        let error = match work::spawn_on(0, Box::new(move || {
            extra.fetch_add(100, Ordering::Relaxed);
        })) {
            Ok(()) => fail!("a full queue took more work"),
            Err(error) => error,
        };
        check_eq!(error.kind(), SpawnErrorKind::Full { cpu: 0 });
        check_eq!(work::run_pending(), QUEUE_CAPACITY);
        check_eq!(ran.load(Ordering::Relaxed), QUEUE_CAPACITY);
        // The work came back and still runs.
        (error.into_work())();
        check_eq!(ran.load(Ordering::Relaxed), QUEUE_CAPACITY + 100);
        let missing = cpu::online();
        match work::spawn_on(missing, Box::new(|| {})) {
            Ok(()) => fail!("work queued on CPU {missing}, which is not up"),
            Err(error) => check_eq!(
                error.kind(),
                SpawnErrorKind::NoSuchCpu { cpu: missing, online: missing }
            ),
        }
        check_eq!(work::in_flight(), 0);
    }
}

kernel_test! {
    /// A panic in a call on another CPU (in its interrupt handler) is judged against the
    /// test that made the call, and ends the boot: the caller, waiting for the call with
    /// interrupts on, is stopped and never returns. It ends the boot, so it comes last
    /// but one.
    #[should_panic = "panicking in a call on CPU"]
    fn a_panic_in_a_call_ends_the_boot() {
        let target = cpu::online() - 1;
        let result = cpu::call_on(target, &|| {
            panic!("panicking in a call on CPU {}", cpu::current())
        });
        fail!("call_on returned ({result:?}) after the call panicked");
    }
}

kernel_test! {
    /// A panic in work on another CPU is judged against the test that queued it, and
    /// ends the boot: leaving QEMU stops the waiting boot CPU by NMI. Last, since it
    /// ends the boot.
    #[should_panic = "panicking in work on CPU"]
    fn a_panic_on_another_cpu_ends_the_boot() {
        let target = cpu::online() - 1;
        let queued = work::spawn_on(
            target,
            Box::new(|| panic!("panicking in work on CPU {}", cpu::current())),
        );
        if let Err(error) = queued {
            fail!("spawn_on({target}): {error}");
        }
        work::flush();
        fail!("flush returned after the work panicked");
    }
}
