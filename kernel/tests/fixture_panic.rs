//! Runner fixture: a test that panics without declaring it, with tests after it. The
//! panic fails that test and ends its boot; the runner boots the kernel again and the
//! tests after it are reported too.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, Ordering};

use kernel::{check, check_eq, fail, kernel_test};

kernel::test_main!(runner_fixture);

/// Set just before the panic; a new boot starts with it clear.
static PANICKED: AtomicBool = AtomicBool::new(false);

kernel_test! {
    /// Passes, so the runner sees a mixed result.
    fn passes() {
        check_eq!(1, 1);
    }
}

kernel_test! {
    /// Panics with "deliberate panic": this test fails with that reason.
    fn deliberate_panic() {
        PANICKED.store(true, Ordering::SeqCst);
        panic!("deliberate panic");
    }
}

kernel_test! {
    /// Runs in the next boot, on fresh state.
    fn runs_after_the_panic() {
        check!(!PANICKED.load(Ordering::SeqCst), "ran in the panicking test's boot");
    }
}

kernel_test! {
    /// Fails after the restart, so the counts carried across boots are checked.
    fn fails_after_the_panic() {
        fail!("deliberate failure after the restart");
    }
}

kernel_test! {
    /// The last test passes.
    fn last_passes() {
        check_eq!(2, 2);
    }
}
