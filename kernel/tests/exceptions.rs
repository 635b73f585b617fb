//! CPU exceptions: breakpoints return, faults are reported with their details, a stack
//! overflow lands on the double-fault IST stack (x86_64; riscv64 has no paging, hence no
//! guard page, identity-map limit or double fault).
//!
//! Every expected fault ends its boot (the runner boots the kernel again for the next
//! test), so each boot-ending check here is worth its own test and no more: the fault's
//! kind, address and error code are checked by one expectation.

#![no_std]
#![no_main]

use kernel::arch;
use kernel::arch::trap::{Exception, breakpoint_count};
use kernel::test::ExpectedFault;
use kernel::{check_eq, kernel_test};

kernel::only_on!(x86_64, {
    use kernel::fail;
});

kernel::test_main!();

kernel_test! {
    /// A breakpoint (`int3`, `ebreak`) is handled and execution continues after it.
    fn breakpoint_returns() {
        let before = breakpoint_count();
        arch::breakpoint();
        arch::breakpoint();
        check_eq!(breakpoint_count() - before, 2);
    }
}

kernel_test! {
    /// A read of an unmapped address (neither RAM nor a device on riscv64 `virt`) raises
    /// a memory fault that reports that address. On x86_64 `identity_map_ends_at_4_gib`
    /// checks the same, with the error code; each costs a boot, so this one runs only
    /// where that one does not.
    #[only_on(riscv64)]
    #[expect_fault(ExpectedFault::MemoryFault { address: 0x1_dead_0000 })]
    fn memory_fault_reports_address() {
        arch::probe_read(0x1_dead_0000);
    }
}

kernel_test! {
    /// The first byte above the identity map faults too, and the fault record carries
    /// the error code: a read of a non-present page is 0.
    #[only_on(x86_64)]
    #[expect_fault(ExpectedFault::Matching {
        what: "page fault at 4 GiB with error code 0",
        check: |fault| {
            fault.memory_address() == Some(arch::platform::MAPPED_LIMIT) && fault.error_code == 0
        },
    })]
    fn identity_map_ends_at_4_gib() {
        arch::probe_read(arch::platform::MAPPED_LIMIT);
    }
}

kernel_test! {
    /// Memory up to the identity-map limit is mapped: the local APIC page and a high
    /// PCI-hole address read without faulting.
    #[only_on(x86_64)]
    fn low_4_gib_are_mapped() {
        arch::probe_read(0xfee0_0030); // local APIC version register
        arch::probe_read(0xfd00_0000);
        arch::probe_read(arch::platform::MAPPED_LIMIT - 1);
    }
}

kernel_test! {
    /// The page above the stack guard page is mapped.
    #[only_on(x86_64)]
    fn page_above_stack_guard_is_mapped() {
        let Some(guard) = arch::stack_guard_page() else {
            fail!("no stack guard page");
        };
        arch::probe_read(guard + 4096);
    }
}

kernel_test! {
    /// The guard page below the kernel stack is unmapped.
    #[only_on(x86_64)]
    #[expect_fault(ExpectedFault::Matching {
        what: "page fault in the stack guard page",
        check: |fault| {
            arch::stack_guard_page().is_some_and(|guard| fault.memory_address() == Some(guard + 8))
        },
    })]
    fn stack_guard_page_is_unmapped() {
        if let Some(guard) = arch::stack_guard_page() {
            arch::probe_read(guard + 8);
        }
    }
}

kernel_test! {
    /// An invalid instruction (`ud2`, `unimp`) raises its fault.
    #[expect_fault(ExpectedFault::Exception(Exception::ILLEGAL_INSTRUCTION))]
    fn invalid_instruction_is_reported() {
        arch::invalid_instruction();
    }
}

kernel_test! {
    /// Running off the stack hits the guard page; the CPU cannot push the page-fault
    /// frame there, escalates to a double fault, and its handler runs on the IST stack.
    #[only_on(x86_64)]
    #[expect_fault(ExpectedFault::DoubleFaultOnIstStack)]
    fn stack_overflow_lands_on_double_fault_stack() {
        /// Recurses until the stack runs out.
        #[expect(unconditional_recursion, reason = "the point: overflow the stack")]
        fn recurse(depth: u64) -> u64 {
            let frame = core::hint::black_box([depth; 64]);
            recurse(depth + 1) + frame[0]
        }
        core::hint::black_box(recurse(0));
    }
}

kernel_test! {
    /// A non-canonical address raises a general-protection fault, not a page fault.
    #[only_on(x86_64)]
    #[expect_fault(ExpectedFault::Exception(Exception::GeneralProtection))]
    fn non_canonical_address_is_general_protection() {
        arch::probe_read(0x8000_0000_0000);
    }
}
