//! Builds every kernel test (`kernel/tests/*.rs`) for riscv64 and boots each under
//! `qemu-system-riscv64 -machine virt` with OpenSBI, so that plain `cargo test` covers the
//! second architecture too. Tests that only make sense on x86_64 report `# SKIP only on
//! x86_64` in their KTAP and count as passed.
//!
//! `BOOT_ARCH=x86_64` skips this matrix entry (as `BOOT_MACHINE`/`BOOT_BIOS` restrict the
//! x86 one). The harts: 2 (multi-threaded TCG), or `BOOT_SMP`.

mod common;

use boot::qemu::Arch;
use boot::{Options, run_test_elf};

#[test]
fn kernel_tests_on_riscv64_virt() {
    if std::env::var("BOOT_ARCH").is_ok_and(|arch| arch.eq_ignore_ascii_case("x86_64")) {
        println!("riscv64 not selected by BOOT_ARCH");
        return;
    }
    let tests: Vec<_> = common::build_kernel_tests_for(Arch::Riscv64, &[])
        .into_iter()
        .filter(|test| !test.name.starts_with("fixture_"))
        .collect();
    assert!(!tests.is_empty(), "cargo built no riscv64 kernel test ELF");
    let from_env = Options::from_env().expect("BOOT_* variables");
    let smp = if std::env::var("BOOT_SMP").is_ok_and(|value| !value.is_empty()) {
        from_env.smp
    } else {
        2
    };
    let options = Options {
        arch: Arch::Riscv64,
        smp,
        ..from_env
    };
    let mut failures = Vec::new();
    for test in &tests {
        let report = run_test_elf(&test.path, &options)
            .unwrap_or_else(|error| panic!("could not run {}: {error}", test.path.display()));
        assert_eq!(
            report.arch,
            Arch::Riscv64,
            "{} is not a riscv64 ELF",
            test.name
        );
        let block = format!(
            "---- kernel test `{}` on riscv64/virt, {smp} CPU(s) ({})\n{}{}\n",
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
        "{} of {} kernel tests failed on riscv64/virt:\n{}",
        failures.len(),
        tests.len(),
        failures.join("\n")
    );
}
