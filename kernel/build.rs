//! Hands the kernel's linker script to the linker, for the kernel targets only.
//!
//! `linker.ld` places the x86_64 image at 1 MiB, `linker-riscv64.ld` the riscv64 image at
//! 0x80200000; both collect the `.kernel_tests` section. Host builds of this package
//! (e.g. `cargo doc` on the host) must not get a script, so the argument is only emitted
//! when compiling for `x86_64-unknown-none` or `riscv64gc-unknown-none-elf`.

use std::env;
use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    println!("cargo:rerun-if-changed=build.rs");
    let script = match env::var("TARGET").as_deref() {
        Ok("x86_64-unknown-none") => "linker.ld",
        Ok("riscv64gc-unknown-none-elf") => "linker-riscv64.ld",
        _ => return,
    };
    let script = manifest_dir.join(script);
    println!("cargo:rerun-if-changed={}", script.display());
    // Applies to every linked artifact of this package: the bin and each test ELF.
    println!("cargo:rustc-link-arg=-T{}", script.display());
}
