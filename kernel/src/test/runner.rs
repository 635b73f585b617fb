//! Runs the registered tests: order, filter, resume point, expectation, leak check, KTAP.

use alloc::vec::Vec;
use core::fmt;

use super::ending::{self, Counts};
use super::ktap::Line;
use super::leak::Snapshot;
use super::registry::{self, Expect, Test};
use crate::init::BootInfo;
use crate::println;
use crate::text::FixedString;

fn reason(arguments: fmt::Arguments<'_>) -> FixedString<320> {
    FixedString::from_fmt(arguments)
}

/// Runs `test` (registry `index`, KTAP `number`) to its return, and judges the return.
///
/// A panic or fault does not come back here: [`ending`] reports it and ends the boot.
fn judge(number: usize, index: usize, test: &Test) -> Option<FixedString<320>> {
    ending::start(number, index);
    let returned = (test.run)();
    ending::stop();
    match (test.expect, returned) {
        (Expect::Success, Ok(())) => None,
        (_, Err(failure)) => Some(reason(format_args!("{failure}"))),
        (Expect::Panic(expected), Ok(())) => Some(reason(format_args!(
            "expected a panic containing `{expected}`, but the test returned"
        ))),
        (Expect::Fault(expected), Ok(())) => Some(reason(format_args!(
            "expected {expected}, but the test returned"
        ))),
        // The run loop skips these before running them.
        (Expect::OtherArchitecture(skip), Ok(())) => Some(reason(format_args!("{skip}"))),
    }
    // The `Failure`, if any, is dropped here, before the leak check's second snapshot.
}

/// Why a runner fixture's tests are skipped without `runner_fixtures` on the command line.
pub const RUNNER_FIXTURE_SKIP: &str =
    "runner fixture (fails on purpose): runs only with `runner_fixtures` on the command line";

/// Runs every registered test from the resume point on (honouring `test=FILTER`), prints
/// KTAP and exits QEMU: success iff no test failed, in this boot or an earlier one.
pub fn run_all(boot: &'static BootInfo) -> ! {
    run(boot, false)
}

/// [`run_all`] for a runner fixture (`test_main!(runner_fixture)`): without
/// `runner_fixtures` on the command line, every test is reported skipped with
/// [`RUNNER_FIXTURE_SKIP`] and none runs, so the boot passes.
pub fn run_runner_fixture(boot: &'static BootInfo) -> ! {
    run(boot, !boot.options.runner_fixtures)
}

/// Runs the tests; `skip_all` reports each one skipped with [`RUNNER_FIXTURE_SKIP`].
fn run(boot: &'static BootInfo, skip_all: bool) -> ! {
    let mut tests: Vec<(usize, &'static Test)> =
        registry::registered().iter().enumerate().collect();
    tests.sort_by(|(_, a), (_, b)| (a.file, a.line).cmp(&(b.file, b.line)));
    let filter = boot.options.test_filter;
    let resume = boot.options.test_resume;
    let first = resume.map_or(1, |resume| resume.next);
    ending::begin(
        tests.len(),
        resume.map_or(
            Counts {
                passed: 0,
                failed: 0,
            },
            |resume| Counts {
                passed: resume.passed,
                failed: resume.failed,
            },
        ),
    );

    boot.print_timings("tests started");
    if resume.is_some() {
        let note = reason(format_args!(
            "continuing at test {first} of {} after a restart",
            tests.len()
        ));
        println!("{}", Line::Diagnostic(&note));
    } else {
        println!("{}", Line::Version);
        println!("{}", Line::Plan { count: tests.len() });
    }

    // The boot before ended inside test `first` without its result (a hang the runner
    // stopped, or a reset): that test fails with the reason, and the run goes on after it.
    let lost = boot.options.test_lost.and_then(|lost| {
        let (_, test) = tests.get(first - 1)?;
        ending::count(false);
        let why = reason(format_args!("its boot ended without a result: {lost}"));
        println!(
            "{}",
            Line::Result {
                number: first,
                name: test.name,
                failure: Some(&why as &dyn fmt::Display),
            }
        );
        Some(())
    });
    let first = first + usize::from(lost.is_some());
    for (position, (index, test)) in tests.iter().enumerate().skip(first - 1) {
        let number = position + 1;
        let skip = match test.expect {
            _ if skip_all => Some(RUNNER_FIXTURE_SKIP),
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
            ending::count(true);
            continue;
        }
        let before = Snapshot::take();
        let failure = judge(number, *index, test);
        let after = Snapshot::take();
        let failure = failure.or_else(|| {
            before
                .first_difference(&after)
                .map(|leak| reason(format_args!("{leak}")))
        });
        ending::count(failure.is_none());
        println!(
            "{}",
            Line::Result {
                number,
                name: test.name,
                failure: failure.as_ref().map(|why| why as &dyn fmt::Display),
            }
        );
    }
    println!("{}", ending::summary());
    ending::exit()
}
