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

use boot::Options;
use boot::build::Executable;
use boot::qemu::{Arch, Bios, Machine};

/// The kernel's x86_64 test ELFs, built once per test binary.
fn kernel_tests() -> &'static [Executable] {
    static TESTS: OnceLock<Vec<Executable>> = OnceLock::new();
    TESTS.get_or_init(|| common::kernel_tests_for(Arch::X86_64))
}

/// The CPU count of the `q35` configurations.
const SEVERAL_CPUS: u32 = 2;

fn boot_every_kernel_test(machine: Machine, bios: Bios) {
    if !common::selected(machine, bios) {
        println!("{machine}/{bios} not selected by BOOT_MACHINE/BOOT_BIOS");
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
    common::boot_every_test(kernel_tests(), &options, &format!("{machine}/{bios}"));
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
