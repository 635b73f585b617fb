//! Builds every kernel test (`kernel/tests/*.rs`) and boots each under QEMU on every
//! machine and firmware the kernel supports, so that plain `cargo test` covers the
//! kernel. Each configuration is one test; the harness runs them in parallel.
//!
//! `BOOT_MACHINE` / `BOOT_BIOS` restrict the matrix to one machine or firmware.
//!
//! The `q35` configurations boot with [`SEVERAL_CPUS`] CPUs (multi-threaded TCG), the
//! `pc` ones with one, so both firmwares run every kernel test on one CPU and on
//! several. `BOOT_SMP` sets one count for all four.

mod common;

use std::sync::OnceLock;

use boot::build::Executable;
use boot::qemu::{Bios, Machine};
use boot::{Options, run_test_elf};

/// The kernel's test ELFs, built once per test binary. The runner fixtures (which fail
/// on purpose) are left to `tests/runner_fixtures.rs`.
fn kernel_tests() -> &'static [Executable] {
    static TESTS: OnceLock<Vec<Executable>> = OnceLock::new();
    TESTS.get_or_init(|| {
        common::build_kernel_tests(&[])
            .into_iter()
            .filter(|test| !test.name.starts_with("fixture_"))
            .collect()
    })
}

/// The CPU count of the `q35` configurations.
const SEVERAL_CPUS: u32 = 2;

fn boot_every_kernel_test(machine: Machine, bios: Bios) {
    if !common::selected(machine, bios) {
        println!("{machine}/{bios} not selected by BOOT_MACHINE/BOOT_BIOS");
        return;
    }
    let tests = kernel_tests();
    assert!(!tests.is_empty(), "cargo built no kernel test ELF");
    let from_env = Options::from_env().expect("BOOT_* variables");
    let smp = if std::env::var("BOOT_SMP").is_ok_and(|value| !value.is_empty()) {
        from_env.smp
    } else if machine == Machine::Q35 {
        SEVERAL_CPUS
    } else {
        1
    };
    let options = Options {
        machine,
        bios,
        smp,
        ..from_env
    };
    let mut failures = Vec::new();
    for test in tests {
        let report = run_test_elf(&test.path, &options)
            .unwrap_or_else(|error| panic!("could not run {}: {error}", test.path.display()));
        let block = format!(
            "---- kernel test `{}` on {machine}/{bios}, {smp} CPU(s) ({})\n{}{}\n",
            report.name,
            test.path.display(),
            report.log,
            report.summary()
        );
        common::print_block(&block);
        if !report.passed() {
            failures.push(block);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} kernel tests failed on {machine}/{bios}:\n{}",
        failures.len(),
        tests.len(),
        failures.join("\n")
    );
}

#[test]
fn kernel_tests_on_q35_with_seabios() {
    boot_every_kernel_test(Machine::Q35, Bios::Seabios);
}

#[test]
fn kernel_tests_on_pc_with_seabios() {
    boot_every_kernel_test(Machine::Pc, Bios::Seabios);
}

#[test]
fn kernel_tests_on_q35_with_qboot() {
    boot_every_kernel_test(Machine::Q35, Bios::Qboot);
}

#[test]
fn kernel_tests_on_pc_with_qboot() {
    boot_every_kernel_test(Machine::Pc, Bios::Qboot);
}
