//! Runner fixture: a test that leaks a heap allocation.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;

use kernel::{check_eq, kernel_test};

kernel::test_main!(runner_fixture);

kernel_test! {
    /// Passes, so the runner sees a mixed result.
    fn passes() {
        check_eq!(1, 1);
    }
}

kernel_test! {
    /// Forgets a box: the leak check reports "leaked K bytes".
    fn deliberate_leak() {
        core::mem::forget(core::hint::black_box(Box::new([0_u8; 64])));
    }
}
