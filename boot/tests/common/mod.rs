//! Helpers shared by the integration tests: building the kernel's test ELFs and
//! printing what they said.

#![allow(
    dead_code,
    reason = "each test binary compiles this module and uses a different part of it"
)]

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
pub fn build_kernel_tests() -> Vec<Executable> {
    build_kernel_tests_for_each(&[Arch::X86_64])
}

/// As [`build_kernel_tests`], for every architecture in `arches` (at least one), in one
/// cargo run.
///
/// # Panics
///
/// When the build fails: that is a test failure.
pub fn build_kernel_tests_for_each(arches: &[Arch]) -> Vec<Executable> {
    let (&arch, more_arches) = arches.split_first().expect("an architecture to build for");
    // The exact, actionable message rather than rustc's missing-`core` errors.
    for &arch in arches {
        if let Err(error) = boot::prereq::check_kernel_target(arch) {
            panic!("{error}");
        }
    }
    let request = build::Request {
        cargo: Some(env!("CARGO").into()),
        arch,
        more_arches: more_arches.to_vec(),
        manifest_path: Some(workspace_manifest()),
        tests: true,
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

/// The kernel's test ELFs for each of `arches`, built in one cargo run, without the
/// runner fixtures (which fail on purpose when asked to run, and skip every test
/// otherwise; `tests/runner_fixtures.rs` runs them), so that they are not booted at all.
///
/// # Panics
///
/// When the build fails, or builds no test for one of `arches`: that is a test failure.
pub fn kernel_tests_for_each(arches: &[Arch]) -> Vec<(Arch, Vec<Executable>)> {
    let built = build_kernel_tests_for_each(arches);
    arches
        .iter()
        .map(|&arch| {
            let tests: Vec<Executable> = built
                .iter()
                .filter(|test| {
                    !test.name.starts_with("fixture_") && Arch::of_elf(&test.path) == Some(arch)
                })
                .cloned()
                .collect();
            assert!(!tests.is_empty(), "cargo built no {arch:?} kernel test ELF");
            (arch, tests)
        })
        .collect()
}

/// The CPU count `BOOT_SMP` asks for, when set; `default` otherwise.
pub fn cpus(options: &Options, default: u32) -> u32 {
    if std::env::var("BOOT_SMP").is_ok_and(|value| !value.is_empty()) {
        options.smp
    } else {
        default
    }
}

/// Boots every test in `tests` with `options` and fails naming every test that did not
/// pass, with its KTAP, summary and QEMU command. A passing test prints one summary line
/// (captured by the test harness: shown with `--nocapture`). `configuration` names the
/// machine in the lines and the failure (for example `q35/seabios`).
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
        if report.passed() {
            println!("{}, {} CPU(s)", report.summary(), options.smp);
        } else {
            failures.push(format!(
                "---- kernel test `{}` on {configuration}, {} CPU(s) ({})\n{}{}\n",
                report.name,
                options.smp,
                test.path.display(),
                report.log,
                report.summary()
            ));
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
