//! The in-kernel test framework: tests registered through a linker section, run one by
//! one inside a guarded call, each wrapped in a leak check, reported in KTAP over serial.
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
//! # name: leak check exempt: ...             (diagnostics start with "# ")
//! # N passed, N failed
//! ```
//!
//! Then QEMU exits with success (33) iff no test failed, else failure (35). A test is
//! `not ok` when it returns a [`Failure`], when an expected panic/fault does not happen
//! or is a different one, or when its leak check fails (`# leaked K bytes`). A panic or
//! fault the test did not declare is recovered from just far enough to report it: the run
//! stops there (`not ok N name # panicked at ...`, then the summary line), because the
//! abandoned frames may hold locks or half-updated state.
//!
//! # The leak check
//!
//! Every test runs between two snapshots of the [`leak`] probes (heap bytes in use, and
//! whatever else is registered, e.g. live-object counters); any difference fails the test.
//! **Exemption:** a test that ends in an *expected* panic or fault cannot unwind (the
//! target is `panic = abort`): whatever it had allocated is lost, not leaked by the code
//! under test. For those tests a difference is printed as a KTAP diagnostic
//! (`# name: leak check exempt: ...`) and does not fail the test. Write such tests so they
//! hold no allocation at the point of the panic when the leak matters.

pub mod ktap;
pub mod leak;
mod registry;
mod runner;

pub use registry::{Expect, ExpectedFault, Failure, Test, TestResult};
pub use runner::run_all;
