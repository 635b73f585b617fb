//! Runner fixture: expected panics and faults that do not happen as declared. Each such
//! test fails with a reason saying what was expected and what happened; the run goes on
//! to the end.

#![no_std]
#![no_main]

use kernel::arch::{self, trap::Exception};
use kernel::test::ExpectedFault;
use kernel::{check_eq, kernel_test};

kernel::test_main!(runner_fixture);

/// An address above the 4 GiB identity map: never mapped.
const UNMAPPED: u64 = 0x1_dead_0000;

kernel_test! {
    /// Declares a panic and returns: fails, and the boot goes on (nothing was abandoned).
    #[should_panic = "never happens"]
    fn expected_panic_missing() {
        check_eq!(1, 1);
    }
}

kernel_test! {
    /// Declares one panic message and panics with another.
    #[should_panic = "the declared message"]
    fn panic_with_other_message() {
        panic!("another message");
    }
}

kernel_test! {
    /// Declares a memory fault and raises an invalid-opcode fault.
    #[expect_fault(ExpectedFault::MemoryFault { address: UNMAPPED })]
    fn fault_of_wrong_kind() {
        arch::invalid_instruction();
    }
}

kernel_test! {
    /// Declares a memory fault at one address and faults at another.
    #[expect_fault(ExpectedFault::MemoryFault { address: UNMAPPED })]
    fn fault_at_wrong_address() {
        arch::probe_read(UNMAPPED + 0x1000);
    }
}

kernel_test! {
    /// Declares a fault and panics instead.
    #[expect_fault(ExpectedFault::Exception(Exception::ILLEGAL_INSTRUCTION))]
    fn panic_instead_of_fault() {
        panic!("not a fault");
    }
}

kernel_test! {
    /// The last test passes.
    fn last_passes() {
        check_eq!(2, 2);
    }
}
