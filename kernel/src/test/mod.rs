//! The in-kernel test framework: tests registered through a linker section, run one by
//! one, each wrapped in a leak check, reported in KTAP over serial. A test that panics or
//! faults ends the boot, and the host runner boots the kernel again for the tests after
//! it.
//!
//! # Writing a test
//!
//! Each `kernel/tests/*.rs` is its own kernel image (`harness = false`):
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//!
//! use kernel::{check, check_eq, kernel_test};
//!
//! kernel::test_main!();
//!
//! kernel_test! {
//!     /// Doc comments are allowed.
//!     fn arithmetic() {
//!         check_eq!(1 + 1, 2);
//!     }
//! }
//!
//! kernel_test! {
//!     #[should_panic = "deliberate"]
//!     fn panics() {
//!         panic!("deliberate");
//!     }
//! }
//!
//! kernel_test! {
//!     #[expect_fault(kernel::test::ExpectedFault::MemoryFault { address: 0x1_dead_0000 })]
//!     fn faults() {
//!         kernel::arch::probe_read(0x1_dead_0000);
//!     }
//! }
//!
//! kernel_test! {
//!     /// Only built and run on x86_64; elsewhere reported `# SKIP only on x86_64`.
//!     #[only_on(x86_64)]
//!     #[expect_fault(kernel::test::ExpectedFault::DoubleFaultOnIstStack)]
//!     fn x86_only() {
//!         overflow_the_stack();
//!     }
//! }
//! ```
//!
//! [`kernel_test!`](crate::kernel_test) emits a [`Test`] descriptor into the
//! `.kernel_tests` section; the linker script brackets that section with
//! `__kernel_tests_start`/`__kernel_tests_end`, and the runner sorts the descriptors by
//! file and line, so tests run (and are numbered) in source order. A test body fails
//! without panicking through [`check!`](crate::check), [`check_eq!`](crate::check_eq) and
//! [`fail!`](crate::fail), which return a [`Failure`] early; `?` works too.
//!
//! # Outcomes and the output contract
//!
//! ```text
//! kernel: ...                      boot log (command line, timings: "->tests started")
//! KTAP version 1
//! 1..N
//! ok 1 name
//! not ok 2 name # reason
//! ok 3 name # SKIP filtered out by test=     (kernel option test=TEXT; counts as passed)
//! ok 4 name # SKIP only on x86_64            (`#[only_on(ARCH)]` on another architecture)
//! ok 5 name # SKIP runner fixture ...        (`test_main!(runner_fixture)` without the
//!                                             `runner_fixtures` kernel option)
//! # name: panicked at ...: ... (as declared); it ended the boot   (diagnostics: "# ")
//! ok 6 name                                  (a declared panic or fault: see below)
//! # N passed, N failed
//! ```
//!
//! Then QEMU exits with success (33) iff no test failed, else failure (35). A test is
//! `not ok` when it returns a [`Failure`], when an expected panic/fault does not happen
//! or is a different one, or when its leak check fails (`# leaked K bytes`).
//!
//! # A panic or fault ends the boot
//!
//! The kernel never resumes a test that panicked or faulted, and never jumps out of its
//! frames: that would skip their destructors (which Rust does not allow) and leave their
//! state behind (a device stuck "probing" after a panic in its probe, an interrupt never
//! acknowledged after one in its handler). Instead the panic handler, or the fault
//! handler the framework installs ([`crate::arch::fault`]), judges the panic or fault
//! against the running test's declaration (`#[should_panic = "TEXT"]`: the message
//! contains `TEXT`; `#[expect_fault(...)]`: the kind, and the address or error code when
//! given), prints a `# name: ...` diagnostic and the test's result line, and ends the
//! boot. An undeclared panic or fault is the test's failure, with the message and
//! location or the fault's details as the reason. When tests remain, the kernel exits
//! with "continue" (37): the host runner boots it again with
//! `test_resume=NEXT,PASSED,FAILED`, and that boot prints
//!
//! ```text
//! # continuing at test NEXT of N after a restart
//! ok NEXT name
//! ...
//! # N passed, N failed                       (counting the earlier boots too)
//! ```
//!
//! instead of the header and plan. The runner joins the boots into one KTAP document.
//! Tests that return never cost a boot: a file takes one boot plus one per test that
//! ends a boot and is not the last, so such a test is best placed last in its file.
//!
//! A test that never ends its boot itself (it hangs, or the machine resets, as a triple
//! fault does on x86) is ended by the runner: it stops QEMU when no result came within
//! its timeout, or sees QEMU exit with status 0, and boots again with
//! `test_resume=NEXT,PASSED,FAILED test_lost=hang|reset`. That boot prints test `NEXT`'s
//! failure with the reason, then goes on with the test after it.
//!
//! # The leak check
//!
//! Every test that returns runs between two snapshots of the [`leak`] probes (heap bytes
//! in use, and whatever else is registered, e.g. live-object counters); any difference
//! fails the test. A test that ends the boot has no leak check: nothing runs after it in
//! that boot, so whatever it held cannot leak into another test.

mod ending;
pub mod ktap;
pub mod leak;
mod registry;
mod runner;
pub mod support;

pub(crate) use ending::panicked;
pub use registry::{Expect, ExpectedFault, Failure, FaultMismatch, Test, TestResult};
pub use runner::{RUNNER_FIXTURE_SKIP, run_all, run_runner_fixture};
