//! Runner fixture: a test that panics without declaring it (`--features runner-fixtures`).

#![no_std]
#![no_main]

use kernel::{check_eq, kernel_test};

kernel::test_main!();

kernel_test! {
    /// Passes, so the runner sees a mixed result.
    fn passes() {
        check_eq!(1, 1);
    }
}

kernel_test! {
    /// Panics with "deliberate panic"; the run stops after reporting it.
    fn deliberate_panic() {
        panic!("deliberate panic");
    }
}
