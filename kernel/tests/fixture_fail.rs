//! Runner fixture: a test that fails through a check.

#![no_std]
#![no_main]

use kernel::{check_eq, kernel_test};

kernel::test_main!(runner_fixture);

kernel_test! {
    /// Passes, so the runner sees a mixed result.
    fn passes() {
        check_eq!(1, 1);
    }
}

kernel_test! {
    /// Fails with "`one_plus_one()`: expected 1, got 2".
    fn deliberate_failure() {
        check_eq!(one_plus_one(), 1);
    }
}

fn one_plus_one() -> u32 {
    core::hint::black_box(1) + 1
}
