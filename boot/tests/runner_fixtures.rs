//! The runner must fail kernel tests that fail, panic or leak, and say which test and
//! why; a test that ends its boot (a panic or a fault, declared or not) must not end the
//! run: the runner boots the kernel again and every test of the file is reported in one
//! KTAP document. The kernel's runner fixtures (`kernel/tests/fixture_*.rs`,
//! `kernel::test_main!(runner_fixture)`) are test ELFs that do exactly that when
//! `runner_fixtures` is on their command line (and skip every test otherwise); they are
//! built with the other kernel tests, in the same cargo build. Each goes through the same
//! code as `boot runner` (the cargo runner), and one through the `boot runner` binary
//! itself.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use boot::build::Executable;
use boot::ktap::Outcome;
use boot::runner::Exit;
use boot::{Options, TestReport, qemu, run_test_elf};

/// The kernel command-line flag that makes a runner fixture run its tests.
const RUN_FIXTURES: &str = "runner_fixtures";

fn fixture(name: &str) -> &'static Path {
    static FIXTURES: OnceLock<Vec<Executable>> = OnceLock::new();
    let fixtures = FIXTURES.get_or_init(common::build_kernel_tests);
    let fixture = fixtures
        .iter()
        .find(|test| test.name == name)
        .unwrap_or_else(|| panic!("the kernel has no test `{name}`"));
    &fixture.path
}

fn boot_fixture(name: &str) -> TestReport {
    boot_fixture_with(name, &Options::from_env().expect("BOOT_* variables"))
}

/// Boots the fixture `name` with `options` and [`RUN_FIXTURES`] on its command line.
fn boot_fixture_with(name: &str, options: &Options) -> TestReport {
    let options = Options {
        append: format!("{} {RUN_FIXTURES}", options.append)
            .trim_start()
            .to_owned(),
        ..options.clone()
    };
    let report = run_test_elf(fixture(name), &options)
        .unwrap_or_else(|error| panic!("could not run {name}: {error}"));
    // Captured: fixtures fail on purpose, so they show only with --nocapture or on error.
    println!(
        "---- runner fixture `{name}`\n{}{}",
        report.log,
        report.summary()
    );
    report
}

/// Runs a fixture that must fail.
fn run(name: &str) -> TestReport {
    let report = boot_fixture(name);
    assert!(
        !report.passed(),
        "the fixture {name} passed:\n{}",
        report.summary()
    );
    report
}

/// Every test of the file has a result, in one clean KTAP document: `(name, outcome)`.
fn outcomes(report: &TestReport) -> Vec<(&str, &Outcome)> {
    assert!(
        report.ktap.problems.is_empty(),
        "KTAP problems {:?}\n{}\n---- serial output\n{}",
        report.ktap.problems,
        report.summary(),
        report.log
    );
    report
        .ktap
        .results
        .iter()
        .map(|result| (result.name.as_str(), &result.outcome))
        .collect()
}

fn failed(reason: &str) -> Outcome {
    Outcome::Failed {
        reason: reason.into(),
    }
}

/// The summary names `test` and contains `reason`.
fn assert_names(report: &TestReport, test: &str, reason: &str) {
    let summary = report.summary();
    assert!(
        summary.contains(test) && summary.contains(reason),
        "the report should name `{test}` with `{reason}`:\n{summary}\n---- serial output\n{}",
        report.log
    );
}

/// Without [`RUN_FIXTURES`] a fixture runs none of its tests and passes, so that a plain
/// `cargo ktest` (which boots every test ELF) passes; the same ELF fails with the flag
/// (`a_failing_test_is_named_with_its_reason`).
#[test]
fn a_fixture_skips_its_tests_unless_asked_to_run_them() {
    let options = Options::from_env().expect("BOOT_* variables");
    let report = run_test_elf(fixture("fixture_fail"), &options)
        .unwrap_or_else(|error| panic!("could not run fixture_fail: {error}"));
    println!(
        "---- runner fixture `fixture_fail` without {RUN_FIXTURES}\n{}",
        report.log
    );
    assert!(report.passed(), "{}\n{}", report.summary(), report.log);
    let skipped = Outcome::Skipped {
        reason: "runner fixture (fails on purpose): runs only with `runner_fixtures` on the \
                 command line"
            .into(),
    };
    assert_eq!(
        outcomes(&report),
        [("passes", &skipped), ("deliberate_failure", &skipped)]
    );
}

#[test]
fn a_failing_test_is_named_with_its_reason() {
    let report = run("fixture_fail");
    let passes = report
        .ktap
        .results
        .iter()
        .find(|result| result.name == "passes");
    assert_eq!(
        passes.map(|result| &result.outcome),
        Some(&Outcome::Passed),
        "{}",
        report.log
    );
    let failed = report.failed_tests();
    assert!(
        failed
            .iter()
            .any(|(name, reason)| name == "deliberate_failure"
                && reason.contains("expected 1, got 2")),
        "{failed:?}\n{}",
        report.summary()
    );
    assert_names(&report, "deliberate_failure", "expected 1, got 2");
}

#[test]
fn an_undeclared_panic_fails_its_test_and_the_run_goes_on() {
    let report = run("fixture_panic");
    assert_names(&report, "deliberate_panic", "deliberate panic");
    let outcomes = outcomes(&report);
    let names: Vec<&str> = outcomes.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        [
            "passes",
            "deliberate_panic",
            "runs_after_the_panic",
            "fails_after_the_panic",
            "last_passes"
        ]
    );
    assert_eq!(outcomes[0].1, &Outcome::Passed);
    match outcomes[1].1 {
        Outcome::Failed { reason } => assert!(
            reason.starts_with("panicked at kernel/tests/fixture_panic.rs:")
                && reason.ends_with(": deliberate panic"),
            "{reason}"
        ),
        other => panic!("deliberate_panic: {other:?}"),
    }
    assert_eq!(outcomes[2].1, &Outcome::Passed, "{}", report.log);
    assert_eq!(
        outcomes[3].1,
        &failed("deliberate failure after the restart")
    );
    assert_eq!(outcomes[4].1, &Outcome::Passed);
    // The last boot's summary counts the boots before it too.
    assert_eq!(
        report
            .ktap
            .summary
            .map(|summary| (summary.passed, summary.failed)),
        Some((3, 2))
    );
    assert_eq!(report.boots, 2, "{}", report.summary());
    assert_eq!(report.exit, Exit::Status(qemu::EXIT_FAILURE));
}

#[test]
fn expectations_that_do_not_hold_fail_with_what_happened() {
    let report = run("fixture_mismatch");
    let outcomes = outcomes(&report);
    let reason = |index: usize| match outcomes[index].1 {
        Outcome::Failed { reason } => reason.as_str(),
        other => panic!("{}: {other:?}\n{}", outcomes[index].0, report.log),
    };
    assert_eq!(outcomes[0].0, "expected_panic_missing");
    assert_eq!(
        reason(0),
        "expected a panic containing `never happens`, but the test returned"
    );
    assert_eq!(outcomes[1].0, "panic_with_other_message");
    assert!(
        reason(1)
            .ends_with(": another message; expected a panic containing `the declared message`"),
        "{}",
        reason(1)
    );
    assert_eq!(outcomes[2].0, "fault_of_wrong_kind");
    assert!(
        reason(2).starts_with("expected memory fault at 0x1dead0000, got invalid opcode at rip "),
        "{}",
        reason(2)
    );
    assert_eq!(outcomes[3].0, "fault_at_wrong_address");
    assert!(
        reason(3).starts_with("expected memory fault at 0x1dead0000, got page fault at rip ")
            && reason(3).contains(", address 0x1dead1000,"),
        "{}",
        reason(3)
    );
    assert_eq!(outcomes[4].0, "panic_instead_of_fault");
    assert!(
        reason(4).contains(": not a fault; expected invalid opcode"),
        "{}",
        reason(4)
    );
    assert_eq!(outcomes[5], ("last_passes", &Outcome::Passed));
    // The missing panic does not end a boot; the four others do, with tests after them.
    assert_eq!(report.boots, 5, "{}", report.summary());
}

/// A file whose tests end their boots as declared passes, in one boot per ending.
#[test]
fn declared_panics_and_faults_restart_the_kernel_and_pass() {
    let report = boot_fixture("fixture_restart");
    assert!(report.passed(), "{}\n{}", report.summary(), report.log);
    let outcomes = outcomes(&report);
    let names: Vec<&str> = outcomes.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        [
            "expected_panic",
            "expected_fault",
            "normal_after_fault",
            "second_normal_after_fault",
            "panic_in_probe",
            "bind_after_probe_panic"
        ]
    );
    assert!(
        outcomes
            .iter()
            .all(|(_, outcome)| **outcome == Outcome::Passed),
        "{outcomes:?}"
    );
    // One boot, then one after each of the three boot-ending tests; none between tests
    // that return.
    assert_eq!(report.boots, 4, "{}", report.summary());
    assert!(
        report
            .log
            .contains("# continuing at test 6 of 6 after a restart"),
        "{}",
        report.log
    );
}

/// A test that hangs and a test that resets the machine fail with their reasons, and the
/// tests after them run: the runner stops the hang when no result came within its
/// timeout (counted from the last result, so the passing tests are not hurried), sees
/// the reset as QEMU's status 0, and boots again after each.
#[test]
fn a_hang_and_a_reset_fail_their_tests_and_the_run_goes_on() {
    let mut options = Options::from_env().expect("BOOT_* variables");
    // The hang costs exactly this. Each of the three boots must also reach its first
    // result within it: that takes 0.1 to 0.3 s under TCG on 2 loaded cores (a whole
    // passing file such as `framework` boots and exits in that time), so 3 s is ten
    // times the need.
    options.timeout = Some(Duration::from_secs(3));
    let report = boot_fixture_with("fixture_lost", &options);
    assert!(!report.passed(), "{}", report.summary());
    let outcomes = outcomes(&report);
    let names: Vec<&str> = outcomes.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        [
            "passes_before_the_hang",
            "hangs",
            "passes_after_the_hang",
            "resets_the_machine",
            "passes_after_the_reset"
        ]
    );
    for (index, reason) in [(1, "a hang"), (3, "the machine reset")] {
        match outcomes[index].1 {
            Outcome::Failed { reason: got } => assert!(
                got.starts_with("its boot ended without a result") && got.contains(reason),
                "{}: {got}",
                outcomes[index].0
            ),
            other => panic!("{}: {other:?}", outcomes[index].0),
        }
    }
    for index in [0, 2, 4] {
        assert_eq!(outcomes[index].1, &Outcome::Passed, "{}", report.log);
    }
    // The first boot, one after the hang, one after the reset; the last boot's verdict
    // counts the two failures of the boots before.
    assert_eq!(report.boots, 3, "{}", report.summary());
    assert_eq!(
        report.exit,
        Exit::Status(qemu::EXIT_FAILURE),
        "{}",
        report.summary()
    );
    assert_names(&report, "hangs", "a hang");
    // The last boot went on at the reset test, with the results before it counted.
    assert!(
        report.command.contains("test_resume=4,2,1 test_lost=reset"),
        "{}",
        report.command
    );
}

#[test]
fn a_leaking_test_is_named() {
    let report = run("fixture_leak");
    assert_names(&report, "deliberate_leak", "leak");
}

/// `boot runner ELF` as cargo invokes it: KTAP on stdout, the summary on stderr, exit 1.
#[test]
fn the_runner_binary_fails_with_a_summary() {
    let output = Command::new(env!("CARGO_BIN_EXE_boot"))
        .arg("runner")
        .arg(fixture("fixture_fail"))
        .arg(RUN_FIXTURES)
        .output()
        .expect("running boot");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("---- boot runner fixture_fail\n{stdout}{stderr}");
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("KTAP version 1"),
        "the KTAP is echoed:\n{stdout}"
    );
    assert!(
        stderr.contains("deliberate_failure") && stderr.contains("expected 1, got 2"),
        "{stderr}"
    );
}
