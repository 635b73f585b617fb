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
