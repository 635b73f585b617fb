//! Runner fixture: tests that never end their boot themselves. One hangs, so the runner
//! stops QEMU after its timeout; one resets the machine (a triple fault on x86). Each
//! fails with its reason, and the tests after them still run, in one KTAP document over
//! three boots.

#![no_std]
#![no_main]

use kernel::{arch, check_eq, kernel_test};

kernel::test_main!(runner_fixture);

kernel_test! {
    /// Runs in the first boot.
    fn passes_before_the_hang() {
        check_eq!(1 + 1, 2);
    }
}

kernel_test! {
    /// Never returns, with interrupts on: only the runner's timeout ends it.
    fn hangs() {
        loop {
            core::hint::spin_loop();
        }
    }
}

kernel_test! {
    /// Runs in the second boot, after the runner reported the hang.
    fn passes_after_the_hang() {
        check_eq!(2 + 2, 4);
    }
}

kernel_test! {
    /// Resets the machine: QEMU exits with status 0.
    fn resets_the_machine() {
        arch::reset_machine();
    }
}

kernel_test! {
    /// Runs in the third boot.
    fn passes_after_the_reset() {
        check_eq!(3 + 3, 6);
    }
}
