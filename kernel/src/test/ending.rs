//! A test that ends the boot: its panic or fault is judged here, by the panic handler or
//! the fault handler, and the boot ends with its result.
//!
//! The runner keeps the state these handlers need in atomics (no lock that the panicking
//! code could be holding): the running test, its number, the plan and the counts so far.
//! [`panicked`] and [`faulted`] compare what happened with the test's [`Expect`], print
//! the test's KTAP result line (after a diagnostic saying what ended the boot) straight
//! to the serial port, and exit QEMU:
//! - with [`ExitCode::Continue`] while tests remain: the host boots the kernel again with
//!   `test_resume=NEXT,PASSED,FAILED` and the run goes on with the next test;
//! - after the last test, with the summary line and the run's verdict.
//!
//! Nothing runs on the state the test left behind: no destructor of its frames, no leak
//! check, no later test. A second panic while ending (a bug here) falls through to the
//! plain panic report.

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::ktap::Line;
use super::registry::{self, Expect, FaultMismatch, Test};
use crate::arch::trap::Fault;
use crate::arch::{self, ExitCode, serial};

/// Index into [`registry::registered`] of the running test, plus one; 0 when none runs.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
/// The running test's KTAP number.
static NUMBER: AtomicUsize = AtomicUsize::new(0);
/// The number of tests in the plan.
static PLANNED: AtomicUsize = AtomicUsize::new(0);
/// Tests passed so far, earlier boots included (skips count as passed).
static PASSED: AtomicUsize = AtomicUsize::new(0);
/// Tests failed so far, earlier boots included.
static FAILED: AtomicUsize = AtomicUsize::new(0);
/// Set by the first panic or fault that ends a test.
static ENDING: AtomicBool = AtomicBool::new(false);

/// The counts of a run: those of the earlier boots plus this one's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Counts {
    /// Passed (skips included).
    pub passed: usize,
    /// Failed.
    pub failed: usize,
}

/// Starts the run's bookkeeping: the plan, the counts of earlier boots, the fault handler.
pub(super) fn begin(planned: usize, earlier: Counts) {
    PLANNED.store(planned, Ordering::SeqCst);
    PASSED.store(earlier.passed, Ordering::SeqCst);
    FAILED.store(earlier.failed, Ordering::SeqCst);
    arch::fault::set_fault_handler(faulted);
}

/// Marks test `number` (at `index` in the registry) as running.
pub(super) fn start(number: usize, index: usize) {
    NUMBER.store(number, Ordering::SeqCst);
    RUNNING.store(index + 1, Ordering::SeqCst);
}

/// Marks that no test runs any more (the running one returned).
pub(super) fn stop() {
    RUNNING.store(0, Ordering::SeqCst);
}

/// Counts one result.
pub(super) fn count(passed: bool) {
    let counter = if passed { &PASSED } else { &FAILED };
    counter.fetch_add(1, Ordering::SeqCst);
}

/// The counts so far.
pub(super) fn counts() -> Counts {
    Counts {
        passed: PASSED.load(Ordering::SeqCst),
        failed: FAILED.load(Ordering::SeqCst),
    }
}

/// The run's summary line.
pub(super) fn summary() -> Line<'static> {
    let Counts { passed, failed } = counts();
    Line::Summary { passed, failed }
}

/// Exits QEMU with the run's verdict: success iff no test failed.
pub(super) fn exit() -> ! {
    arch::exit_qemu(if counts().failed == 0 {
        ExitCode::Success
    } else {
        ExitCode::Failure
    })
}

/// The running test, claimed for ending the boot; `None` when no test runs or a panic or
/// fault is being handled already.
fn claim_running() -> Option<(usize, &'static Test)> {
    let index = RUNNING.load(Ordering::SeqCst).checked_sub(1)?;
    if ENDING.swap(true, Ordering::SeqCst) {
        return None;
    }
    let test = registry::registered().get(index)?;
    Some((NUMBER.load(Ordering::SeqCst), test))
}

/// What ended the boot, in the words of the result line and the diagnostic.
enum Ending<'a> {
    Panic { message: &'a str, location: &'a str },
    Fault(&'a Fault),
}

impl fmt::Display for Ending<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Panic { message, location } => {
                write!(formatter, "panicked at {location}: {message}")
            }
            Self::Fault(fault) => write!(formatter, "{fault}"),
        }
    }
}

/// Why a test that ended the boot failed.
enum Failure<'a> {
    /// It declared nothing, or a fault but panicked, or a panic but faulted.
    Undeclared(&'a Ending<'a>, Expect),
    /// It panicked, with another message than declared.
    WrongPanic(&'a Ending<'a>, &'static str),
    /// It faulted, but not as declared.
    WrongFault(FaultMismatch),
}

impl fmt::Display for Failure<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Undeclared(ending @ Ending::Panic { .. }, Expect::Fault(expected)) => {
                write!(formatter, "{ending}; expected {expected}")
            }
            Self::Undeclared(Ending::Fault(fault), Expect::Panic(expected)) => write!(
                formatter,
                "unexpected {fault}; expected a panic containing `{expected}`"
            ),
            Self::Undeclared(Ending::Fault(fault), _) => write!(formatter, "unexpected {fault}"),
            Self::Undeclared(ending, _) => write!(formatter, "{ending}"),
            Self::WrongPanic(ending, expected) => {
                write!(
                    formatter,
                    "{ending}; expected a panic containing `{expected}`"
                )
            }
            Self::WrongFault(mismatch) => write!(formatter, "{mismatch}"),
        }
    }
}

/// Called by the panic handler: if a test is running, judges the panic, reports the
/// test and ends the boot; otherwise returns.
pub fn panicked(message: &str, location: &str) {
    let Some((number, test)) = claim_running() else {
        return;
    };
    let ending = Ending::Panic { message, location };
    let failure = match test.expect {
        Expect::Panic(expected) if message.contains(expected) => None,
        Expect::Panic(expected) => Some(Failure::WrongPanic(&ending, expected)),
        expect => Some(Failure::Undeclared(&ending, expect)),
    };
    end(number, test, &ending, failure.as_ref())
}

/// The fault handler of a test kernel: if a test is running, judges the fault, reports
/// the test and ends the boot; otherwise returns.
fn faulted(fault: &Fault) {
    let Some((number, test)) = claim_running() else {
        return;
    };
    let ending = Ending::Fault(fault);
    let failure = match test.expect {
        Expect::Fault(expected) => expected.check(fault).err().map(Failure::WrongFault),
        expect => Some(Failure::Undeclared(&ending, expect)),
    };
    end(number, test, &ending, failure.as_ref())
}

/// Reports how `test` ended the boot, then ends it: the next boot goes on after it, or
/// the run is over.
fn end(number: usize, test: &Test, ending: &Ending<'_>, failure: Option<&Failure<'_>>) -> ! {
    let planned = PLANNED.load(Ordering::SeqCst);
    let remaining = planned.saturating_sub(number);
    let verdict = if failure.is_some() {
        "not as declared"
    } else {
        "as declared"
    };
    serial::emergency_write(format_args!(
        "{}\n{}\n",
        Line::Diagnostic(&format_args!(
            "{}: {ending} ({verdict}); it ended the boot{}",
            test.name,
            if remaining > 0 {
                "; the kernel restarts for the next test"
            } else {
                ""
            }
        )),
        Line::Result {
            number,
            name: test.name,
            failure: failure.map(|failure| failure as &dyn fmt::Display),
        }
    ));
    count(failure.is_none());
    if remaining > 0 {
        arch::exit_qemu(ExitCode::Continue)
    }
    serial::emergency_write(format_args!("{}\n", summary()));
    exit()
}
