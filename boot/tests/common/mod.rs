//! Helpers shared by the integration tests: building the kernel's test ELFs and
//! printing what they said.

#![allow(
    dead_code,
    reason = "each test binary compiles this module and uses a different part of it"
)]

use std::io::Write;
use std::path::PathBuf;

use boot::build::{self, Executable};
use boot::qemu::{Arch, Bios, Machine};
use boot::{Options, run_test_elf};

/// The workspace manifest, so that cargo finds the workspace whatever the current
/// directory.
pub fn workspace_manifest() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"))
}

/// Builds the kernel's x86_64 test ELFs (`cargo build -p kernel --target
/// x86_64-unknown-none --tests`) with the cargo that runs this test and returns them.
///
/// # Panics
///
/// When the build fails: that is a test failure.
pub fn build_kernel_tests(features: &[&str]) -> Vec<Executable> {
    build_kernel_tests_for(Arch::X86_64, features)
}

/// As [`build_kernel_tests`], for `arch`.
///
/// # Panics
///
/// When the build fails: that is a test failure.
pub fn build_kernel_tests_for(arch: Arch, features: &[&str]) -> Vec<Executable> {
    // The exact, actionable message rather than rustc's missing-`core` errors.
    if let Err(error) = boot::prereq::check_kernel_target(arch) {
        panic!("{error}");
    }
    let request = build::Request {
        cargo: Some(env!("CARGO").into()),
        arch,
        manifest_path: Some(workspace_manifest()),
        tests: true,
        features: features
            .iter()
            .map(|feature| (*feature).to_owned())
            .collect(),
        quiet: true,
        ..build::Request::default()
    };
    let executables = request
        .run()
        .unwrap_or_else(|error| panic!("building the kernel tests failed: {error}"));
    build::test_executables(&executables).cloned().collect()
}

/// Whether `BOOT_MACHINE`/`BOOT_BIOS`, when set, select this configuration.
pub fn selected(machine: Machine, bios: Bios) -> bool {
    let matches = |name: &str, value: &str| {
        std::env::var(name).map_or(true, |wanted| {
            wanted.is_empty() || wanted.eq_ignore_ascii_case(value)
        })
    };
    matches("BOOT_MACHINE", machine.qemu_name()) && matches("BOOT_BIOS", bios.name())
}

/// Prints a block of output past the test harness's capture, in one write, so that
/// plain `cargo test` shows the KTAP of every kernel test and parallel tests do not
/// interleave within a block.
pub fn print_block(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // Printing is best effort: a closed stdout must not fail the test.
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// The kernel's test ELFs for `arch`, without the runner fixtures (which fail on purpose
/// when asked to run, and skip every test otherwise; `tests/runner_fixtures.rs` runs
/// them), so that they are not booted at all.
///
/// # Panics
///
/// When the build fails, or builds no test: that is a test failure.
pub fn kernel_tests_for(arch: Arch) -> Vec<Executable> {
    let tests: Vec<Executable> = build_kernel_tests_for(arch, &[])
        .into_iter()
        .filter(|test| !test.name.starts_with("fixture_"))
        .collect();
    assert!(!tests.is_empty(), "cargo built no {arch:?} kernel test ELF");
    tests
}

/// The CPU count `BOOT_SMP` asks for, when set; `default` otherwise.
pub fn cpus(options: &Options, default: u32) -> u32 {
    if std::env::var("BOOT_SMP").is_ok_and(|value| !value.is_empty()) {
        options.smp
    } else {
        default
    }
}

/// Boots every test in `tests` with `options`, prints each one's KTAP and summary as a
/// block, and fails naming every test that did not pass. `configuration` names the
/// machine in the blocks and the failure (for example `q35/seabios`).
///
/// # Panics
///
/// When a test fails or QEMU cannot run: that is the test failure.
pub fn boot_every_test(tests: &[Executable], options: &Options, configuration: &str) {
    let mut failures = Vec::new();
    for test in tests {
        let report = run_test_elf(&test.path, options)
            .unwrap_or_else(|error| panic!("could not run {}: {error}", test.path.display()));
        assert_eq!(
            report.arch, options.arch,
            "{} is not a {:?} ELF",
            test.name, options.arch
        );
        let block = format!(
            "---- kernel test `{}` on {configuration}, {} CPU(s) ({})\n{}{}\n",
            report.name,
            options.smp,
            test.path.display(),
            report.log,
            report.summary()
        );
        print_block(&block);
        if !report.passed() {
            failures.push(block);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} kernel tests failed on {configuration}:\n{}",
        failures.len(),
        tests.len(),
        failures.join("\n")
    );
}
