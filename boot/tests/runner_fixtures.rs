//! The runner must fail kernel tests that fail, panic or leak, and say which test and
//! why. The kernel's `runner-fixtures` feature builds three test ELFs that do exactly
//! that; each goes through the same code as `boot runner` (the cargo runner), and one
//! through the `boot runner` binary itself.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use boot::build::Executable;
use boot::ktap::Outcome;
use boot::{Options, TestReport, run_test_elf};

fn fixture(name: &str) -> &'static Path {
    static FIXTURES: OnceLock<Vec<Executable>> = OnceLock::new();
    let fixtures = FIXTURES.get_or_init(|| common::build_kernel_tests(&["runner-fixtures"]));
    let fixture = fixtures
        .iter()
        .find(|test| test.name == name)
        .unwrap_or_else(|| {
            panic!("the kernel has no test `{name}` with --features runner-fixtures")
        });
    &fixture.path
}

fn run(name: &str) -> TestReport {
    let options = Options::from_env().expect("BOOT_* variables");
    let report = run_test_elf(fixture(name), &options)
        .unwrap_or_else(|error| panic!("could not run {name}: {error}"));
    // Captured: fixtures fail on purpose, so they show only with --nocapture or on error.
    println!(
        "---- runner fixture `{name}`\n{}{}",
        report.log,
        report.summary()
    );
    assert!(
        !report.passed(),
        "the fixture {name} passed:\n{}",
        report.summary()
    );
    report
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
fn a_panicking_test_is_named_with_its_message() {
    let report = run("fixture_panic");
    assert_names(&report, "deliberate_panic", "deliberate panic");
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
