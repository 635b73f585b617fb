//! Builds every kernel test (`kernel/tests/*.rs`) for riscv64 and boots each under
//! `qemu-system-riscv64 -machine virt` with OpenSBI, so that plain `cargo test` covers the
//! second architecture too. Tests that only make sense on x86_64 report `# SKIP only on
//! x86_64` in their KTAP and count as passed.
//!
//! `BOOT_ARCH=x86_64` skips this matrix entry (as `BOOT_MACHINE`/`BOOT_BIOS` restrict the
//! x86 one). The harts: 2 (multi-threaded TCG), or `BOOT_SMP`.

mod common;

use boot::Options;
use boot::qemu::Arch;

#[test]
fn kernel_tests_on_riscv64_virt() {
    if std::env::var("BOOT_ARCH").is_ok_and(|arch| arch.eq_ignore_ascii_case("x86_64")) {
        println!("riscv64 not selected by BOOT_ARCH");
        return;
    }
    let from_env = Options::from_env().expect("BOOT_* variables");
    let options = Options {
        arch: Arch::Riscv64,
        smp: common::cpus(&from_env, 2),
        ..from_env
    };
    common::boot_every_test(
        &common::kernel_tests_for(Arch::Riscv64),
        &options,
        "riscv64/virt",
    );
}
