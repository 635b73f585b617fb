//! Builds every kernel test (`kernel/tests/*.rs`) for x86_64 and riscv64, in one cargo
//! run, and boots each under QEMU, so that plain `cargo test` covers the kernel on both
//! architectures, with one CPU and with several, on both x86_64 machines and both
//! firmwares. Each configuration is one test; the harness runs them in parallel, so the
//! riscv64 boots overlap the x86_64 ones.
//!
//! | test | machine, firmware | CPUs | kernel tests |
//! |---|---|---|---|
//! | `every_test_on_riscv64_virt` | riscv64 `virt`, OpenSBI | 2 | all |
//! | `every_test_on_x86_64_pc_with_qboot` | `pc`, qboot | 1 | all |
//! | `every_test_on_x86_64_q35_with_seabios` | `q35`, SeaBIOS | [`SEVERAL_CPUS`] | all |
//! | `firmware_tests_on_x86_64_pc_with_seabios` | `pc`, SeaBIOS | 1 | [`FIRMWARE_TESTS`] |
//! | `firmware_tests_on_x86_64_q35_with_qboot` | `q35`, qboot | [`SEVERAL_CPUS`] | [`FIRMWARE_TESTS`] |
//!
//! So every kernel test runs on each architecture, on each x86_64 machine, with each
//! firmware, with one CPU and with several; the two other x86_64 combinations run only
//! the tests that read what the machine and firmware provide (the memory map, the MADT,
//! the timers, COM1 and its interrupt routing, PCI enumeration and BARs, which qboot leaves
//! unassigned). Kernel tests of the display subsystem, the device model, the shell and
//! the framework do not look at the machine and run on the first two.
//!
//! Environment: `BOOT_ARCH` (`x86_64` or `riscv64`) keeps one architecture's
//! configurations; `BOOT_MACHINE` / `BOOT_BIOS` keep the x86_64 configurations of that
//! machine or firmware, and each of those runs every kernel test; `BOOT_FULL_MATRIX=1`
//! runs every kernel test on all four x86_64 configurations. `BOOT_SMP` sets one CPU
//! count for all of them.

mod common;

use std::sync::OnceLock;

use boot::Options;
use boot::build::Executable;
use boot::qemu::{Arch, Bios, Machine};

/// The CPU count of the `q35` configurations and of riscv64.
const SEVERAL_CPUS: u32 = 2;

/// The kernel tests that the partial x86_64 configurations run: those whose outcome
/// depends on what the machine or firmware provides (see the module docs).
const FIRMWARE_TESTS: &[&str] = &[
    "console",
    "exceptions",
    "heap",
    "pci",
    "drm_bochs",
    "smp",
    "timer",
];

/// Whether `BOOT_ARCH`, when set, selects `arch`.
fn arch_selected(arch: Arch) -> bool {
    std::env::var("BOOT_ARCH").map_or(true, |wanted| {
        wanted.is_empty() || wanted.eq_ignore_ascii_case(arch.name())
    })
}

/// Whether an environment variable is set to a true value.
fn flag(name: &str) -> bool {
    std::env::var(name)
        .is_ok_and(|value| !matches!(value.as_str(), "" | "0" | "false" | "no" | "off"))
}

/// The kernel's test ELFs for `arch`, built once per test binary for every selected
/// architecture (one cargo run builds both kernels side by side).
fn kernel_tests(arch: Arch) -> &'static [Executable] {
    static TESTS: OnceLock<Vec<(Arch, Vec<Executable>)>> = OnceLock::new();
    let built = TESTS.get_or_init(|| {
        let arches: Vec<Arch> = [Arch::X86_64, Arch::Riscv64]
            .into_iter()
            .filter(|&arch| arch_selected(arch))
            .collect();
        common::kernel_tests_for_each(&arches)
    });
    built
        .iter()
        .find(|(built, _)| *built == arch)
        .map(|(_, tests)| tests.as_slice())
        .expect("the architecture was selected, so it was built")
}

/// Which kernel tests a configuration boots.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Suite {
    /// Every kernel test.
    Every,
    /// [`FIRMWARE_TESTS`], unless the environment asks for more (see the module docs).
    Firmware,
}

fn boot_x86_64(machine: Machine, bios: Bios, suite: Suite) {
    if !arch_selected(Arch::X86_64) || !common::selected(machine, bios) {
        println!("{machine}/{bios} not selected by BOOT_ARCH/BOOT_MACHINE/BOOT_BIOS");
        return;
    }
    let from_env = Options::from_env().expect("BOOT_* variables");
    let default = if machine == Machine::Q35 {
        SEVERAL_CPUS
    } else {
        1
    };
    let options = Options {
        arch: Arch::X86_64,
        machine,
        bios,
        smp: common::cpus(&from_env, default),
        ..from_env
    };
    let every = kernel_tests(Arch::X86_64);
    let chosen = ["BOOT_MACHINE", "BOOT_BIOS"]
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|value| !value.is_empty()));
    let tests: Vec<Executable> = if suite == Suite::Every || chosen || flag("BOOT_FULL_MATRIX") {
        every.to_vec()
    } else {
        // A renamed or removed test must not drop out of the partial runs unnoticed.
        for name in FIRMWARE_TESTS {
            assert!(
                every.iter().any(|test| test.name == *name),
                "FIRMWARE_TESTS names `{name}`, which is not a kernel test"
            );
        }
        every
            .iter()
            .filter(|test| FIRMWARE_TESTS.contains(&test.name.as_str()))
            .cloned()
            .collect()
    };
    common::boot_every_test(&tests, &options, &format!("{machine}/{bios}"));
}

// libtest starts the tests in name order, two at a time on two cores: the longest
// (riscv64, an unoptimised kernel under TCG) first.

#[test]
fn every_test_on_riscv64_virt() {
    if !arch_selected(Arch::Riscv64) {
        println!("riscv64 not selected by BOOT_ARCH");
        return;
    }
    let from_env = Options::from_env().expect("BOOT_* variables");
    let options = Options {
        arch: Arch::Riscv64,
        smp: common::cpus(&from_env, SEVERAL_CPUS),
        ..from_env
    };
    common::boot_every_test(kernel_tests(Arch::Riscv64), &options, "riscv64/virt");
}

#[test]
fn every_test_on_x86_64_pc_with_qboot() {
    boot_x86_64(Machine::Pc, Bios::Qboot, Suite::Every);
}

#[test]
fn every_test_on_x86_64_q35_with_seabios() {
    boot_x86_64(Machine::Q35, Bios::Seabios, Suite::Every);
}

#[test]
fn firmware_tests_on_x86_64_pc_with_seabios() {
    boot_x86_64(Machine::Pc, Bios::Seabios, Suite::Firmware);
}

#[test]
fn firmware_tests_on_x86_64_q35_with_qboot() {
    boot_x86_64(Machine::Q35, Bios::Qboot, Suite::Firmware);
}
