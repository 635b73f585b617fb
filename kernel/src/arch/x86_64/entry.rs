//! The first Rust code: called by the trampoline in long mode, hands over to the kernel.
//!
//! `kernel_entry` runs `crate::init::start` (safe bring-up) and then calls the
//! `kernel_main` symbol that the binary or test kernel defined with
//! [`crate::entry_point!`].

use crate::init::BootInfo;

unsafe extern "Rust" {
    /// Defined exactly once per kernel image by [`crate::entry_point!`].
    fn kernel_main(boot: &'static BootInfo) -> !;
}

/// Rust entry point, called by `pvh_start64` with the physical address of
/// `hvm_start_info` (zero-extended from `EBX`) on the boot stack.
#[unsafe(no_mangle)]
extern "C" fn kernel_entry(start_info: u32) -> ! {
    let boot = crate::init::start(start_info);
    // SAFETY: `entry_point!` defines `kernel_main` with exactly this signature (it
    // type-checks the user's function against it); the link fails if it is missing.
    unsafe { kernel_main(boot) }
}
