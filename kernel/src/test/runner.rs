//! Runs the registered tests: order, filter, guarded call, expectation, leak check, KTAP.

use alloc::vec::Vec;
use core::fmt;

use super::ktap::Line;
use super::leak::Snapshot;
use super::registry::{self, Expect, ExpectedFault, Test};
use crate::arch::recover::{self, Abort};
use crate::arch::trap::Fault;
use crate::arch::{self, ExitCode};
use crate::init::BootInfo;
use crate::println;
use crate::text::FixedString;

/// How one test ended, judged against its expectation.
enum Verdict {
    /// As expected. `abandoned` is set when it ended in an expected panic/fault.
    Pass { aborted: bool },
    /// Not as expected, but the run can go on.
    Fail(FixedString<320>),
    /// An undeclared panic or fault: report it and stop the run.
    Fatal(FixedString<320>),
}

fn reason(arguments: fmt::Arguments<'_>) -> FixedString<320> {
    FixedString::from_fmt(arguments)
}

/// Whether `fault` is the one `expected`; otherwise why not.
#[expect(
    clippy::result_large_err,
    reason = "reasons are kept inline so they do not disturb the leak check"
)]
fn match_fault(expected: ExpectedFault, fault: &Fault) -> Result<(), FixedString<320>> {
    let matches = match expected {
        ExpectedFault::MemoryFault { address } => fault.memory_address() == Some(address),
        ExpectedFault::DoubleFaultOnIstStack => match fault.double_fault_on_own_stack() {
            Some(false) => {
                return Err(reason(format_args!(
                    "double fault not handled on its own stack: {fault}"
                )));
            }
            Some(true) => true,
            None => false,
        },
        ExpectedFault::Exception(exception) => fault.exception == exception,
    };
    if matches {
        Ok(())
    } else {
        Err(reason(format_args!("expected {expected}, got {fault}")))
    }
}

fn judge(test: &Test) -> Verdict {
    let mut returned = Ok(());
    let outcome = recover::run_guarded(|| returned = (test.run)());
    // Dropped at the end of this function, before the leak check's second snapshot.
    match (test.expect, outcome) {
        (Expect::Success, Ok(())) => match returned {
            Ok(()) => Verdict::Pass { aborted: false },
            Err(failure) => Verdict::Fail(reason(format_args!("{failure}"))),
        },
        (Expect::Success, Err(abort)) => Verdict::Fatal(reason(format_args!("{abort}"))),
        (Expect::Panic(expected), Ok(())) => Verdict::Fail(reason(format_args!(
            "expected a panic containing `{expected}`, but the test returned"
        ))),
        (Expect::Fault(expected), Ok(())) => Verdict::Fail(reason(format_args!(
            "expected {expected}, but the test returned"
        ))),
        (Expect::Panic(expected), Err(Abort::Panic { message, location })) => {
            if message.as_str().contains(expected) {
                Verdict::Pass { aborted: true }
            } else {
                Verdict::Fail(reason(format_args!(
                    "panicked at {location}: {message}; expected a panic containing `{expected}`"
                )))
            }
        }
        (Expect::Fault(expected), Err(Abort::Fault(fault))) => {
            match match_fault(expected, &fault) {
                Ok(()) => Verdict::Pass { aborted: true },
                Err(why) => Verdict::Fail(why),
            }
        }
        // The run loop skips these before judging.
        (Expect::OtherArchitecture(skip), _) => Verdict::Fail(reason(format_args!("{skip}"))),
        (Expect::Panic(_) | Expect::Fault(_), Err(abort)) => {
            Verdict::Fatal(reason(format_args!("{abort}")))
        }
    }
}

/// Runs every registered test (honouring `test=FILTER`), prints KTAP, exits QEMU:
/// success iff no test failed.
pub fn run_all(boot: &'static BootInfo) -> ! {
    let mut tests: Vec<&'static Test> = registry::registered().iter().collect();
    tests.sort_by(|a, b| (a.file, a.line).cmp(&(b.file, b.line)));
    let filter = boot.options.test_filter;

    boot.print_timings("tests started");
    println!("{}", Line::Version);
    println!("{}", Line::Plan { count: tests.len() });

    let mut passed = 0;
    let mut failed = 0;
    for (index, test) in tests.iter().enumerate() {
        let number = index + 1;
        let skip = match test.expect {
            Expect::OtherArchitecture(reason) => Some(reason),
            _ if filter.is_some_and(|filter| !test.name.contains(filter)) => {
                Some("filtered out by test=")
            }
            _ => None,
        };
        if let Some(reason) = skip {
            println!(
                "{}",
                Line::Skip {
                    number,
                    name: test.name,
                    reason
                }
            );
            passed += 1;
            continue;
        }
        let before = Snapshot::take();
        let verdict = judge(test);
        let after = Snapshot::take();
        let leak = before.first_difference(&after);
        let failure: Option<FixedString<320>> = match verdict {
            Verdict::Pass { aborted: false } => leak.map(|leak| reason(format_args!("{leak}"))),
            Verdict::Pass { aborted: true } => {
                if let Some(leak) = leak {
                    let note = reason(format_args!(
                        "{}: leak check exempt: {} {} abandoned by the expected panic/fault (no unwinding)",
                        test.name, leak.delta, leak.unit
                    ));
                    println!("{}", Line::Diagnostic(&note));
                }
                None
            }
            Verdict::Fail(why) => Some(why),
            Verdict::Fatal(why) => {
                println!(
                    "{}",
                    Line::Result {
                        number,
                        name: test.name,
                        failure: Some(&why)
                    }
                );
                failed += 1;
                let note = reason(format_args!(
                    "stopping: `{}` ended in an undeclared panic/fault",
                    test.name
                ));
                println!("{}", Line::Diagnostic(&note));
                finish(passed, failed);
            }
        };
        match &failure {
            None => passed += 1,
            Some(_) => failed += 1,
        }
        println!(
            "{}",
            Line::Result {
                number,
                name: test.name,
                failure: failure.as_ref().map(|why| why as &dyn fmt::Display),
            }
        );
    }
    finish(passed, failed)
}

/// Prints the summary line and exits QEMU.
fn finish(passed: usize, failed: usize) -> ! {
    println!("{}", Line::Summary { passed, failed });
    arch::exit_qemu(if failed == 0 {
        ExitCode::Success
    } else {
        ExitCode::Failure
    })
}
