//! Hands the kernel's linker script to the linker, for the kernel target only.
//!
//! The script places the image at 1 MiB and collects the `.kernel_tests` section (see
//! `linker.ld`). Host builds of this package (e.g. `cargo doc` on the host) must not get
//! it, so the argument is only emitted when compiling for `x86_64-unknown-none`.

use std::env;
use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let script = manifest_dir.join("linker.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rerun-if-changed=build.rs");
    if env::var("TARGET").as_deref() == Ok("x86_64-unknown-none") {
        // Applies to every linked artifact of this package: the bin and each test ELF.
        println!("cargo:rustc-link-arg=-T{}", script.display());
    }
}
