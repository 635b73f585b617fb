//! Test descriptors, their registration macro, and the failure type.

use alloc::string::String;
use core::fmt;

use crate::arch::trap::{Exception, Fault};

/// What a test returns: `Err` fails it with a reason.
pub type TestResult = Result<(), Failure>;

/// Why a test failed.
///
/// The reason lives on the heap (keeping `Result<(), Failure>` small); the runner copies
/// it out and drops the `Failure` before the leak check's second snapshot, so it never
/// counts as a leak.
#[derive(Debug, Clone)]
pub struct Failure {
    reason: String,
}

impl Failure {
    /// A failure with a formatted reason.
    pub fn new(reason: fmt::Arguments<'_>) -> Self {
        Self {
            reason: alloc::fmt::format(reason),
        }
    }

    /// The reason.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.reason())
    }
}

/// A CPU fault a test expects to raise (`#[expect_fault(...)]`).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum ExpectedFault {
    /// A fault on a memory access to exactly this address: a page fault (CR2) on x86_64,
    /// an access fault (`stval`) on riscv64, which runs without paging.
    MemoryFault {
        /// The faulting address.
        address: u64,
    },
    /// A double fault whose handler ran on the double-fault IST stack.
    DoubleFaultOnIstStack,
    /// Any fault of this kind.
    Exception(Exception),
    /// A fault that `check` accepts: for what the other forms cannot say, such as an
    /// error code or an address known only at run time (the stack guard page).
    Matching {
        /// What `check` accepts, for reports ("page fault in the stack guard page").
        what: &'static str,
        /// Whether the fault is the expected one.
        check: fn(&Fault) -> bool,
    },
}

impl ExpectedFault {
    /// Whether `fault` is this expected fault.
    ///
    /// # Errors
    ///
    /// A [`FaultMismatch`] saying how it differs.
    pub fn check(&self, fault: &Fault) -> Result<(), FaultMismatch> {
        let matches = match *self {
            Self::MemoryFault { address } => fault.memory_address() == Some(address),
            Self::DoubleFaultOnIstStack => match fault.double_fault_on_own_stack() {
                Some(false) => return Err(FaultMismatch::NotOnOwnStack(*fault)),
                Some(true) => true,
                None => false,
            },
            Self::Exception(exception) => fault.exception == exception,
            Self::Matching { check, .. } => check(fault),
        };
        if matches {
            Ok(())
        } else {
            Err(FaultMismatch::Other {
                expected: *self,
                actual: *fault,
            })
        }
    }
}

impl fmt::Display for ExpectedFault {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MemoryFault { address } => write!(formatter, "memory fault at {address:#x}"),
            Self::DoubleFaultOnIstStack => write!(formatter, "double fault on the IST stack"),
            Self::Exception(exception) => write!(formatter, "{exception}"),
            Self::Matching { what, .. } => formatter.write_str(what),
        }
    }
}

/// How a fault differs from the expected one.
#[derive(Debug, Clone, Copy)]
pub enum FaultMismatch {
    /// A double fault, but its handler did not run on its own stack.
    NotOnOwnStack(Fault),
    /// Another kind of fault, or another address.
    Other {
        /// What the test declared.
        expected: ExpectedFault,
        /// What happened.
        actual: Fault,
    },
}

impl fmt::Display for FaultMismatch {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotOnOwnStack(fault) => {
                write!(
                    formatter,
                    "double fault not handled on its own stack: {fault}"
                )
            }
            Self::Other { expected, actual } => {
                write!(formatter, "expected {expected}, got {actual}")
            }
        }
    }
}

/// How a test is expected to end.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// Returning `Ok`.
    Success,
    /// Panicking with a message that contains this text.
    Panic(&'static str),
    /// Raising this CPU fault.
    Fault(ExpectedFault),
    /// Nothing: the test only makes sense on another architecture (`#[only_on(ARCH)]`),
    /// so the runner reports it skipped with this reason.
    OtherArchitecture(&'static str),
}

/// A registered test; emitted into `.kernel_tests` by [`kernel_test!`](crate::kernel_test).
#[derive(Debug)]
pub struct Test {
    /// The test function's name.
    pub name: &'static str,
    /// Source file (for ordering).
    pub file: &'static str,
    /// Source line (for ordering).
    pub line: u32,
    /// The body.
    pub run: fn() -> TestResult,
    /// The expected ending.
    pub expect: Expect,
}

/// Registers a kernel test. See [`crate::test`] for the forms it accepts.
#[macro_export]
macro_rules! kernel_test {
    (
        $(#[doc = $doc:literal])*
        #[only_on($arch:ident)]
        $(#[$($attribute:tt)*])*
        fn $name:ident() $body:block
    ) => {
        $crate::__on_arch!(
            $arch,
            { $crate::kernel_test!($(#[$($attribute)*])* fn $name() $body); },
            {
                $crate::kernel_test!(
                    @emit $name,
                    $crate::test::Expect::OtherArchitecture(concat!("only on ", stringify!($arch))),
                    {}
                );
            }
        );
    };
    (
        $(#[doc = $doc:literal])*
        #[should_panic = $message:literal]
        fn $name:ident() $body:block
    ) => {
        $crate::kernel_test!(@emit $name, $crate::test::Expect::Panic($message), $body);
    };
    (
        $(#[doc = $doc:literal])*
        #[expect_fault($fault:expr)]
        fn $name:ident() $body:block
    ) => {
        $crate::kernel_test!(@emit $name, $crate::test::Expect::Fault($fault), $body);
    };
    (
        $(#[doc = $doc:literal])*
        fn $name:ident() $body:block
    ) => {
        $crate::kernel_test!(@emit $name, $crate::test::Expect::Success, $body);
    };
    (@emit $name:ident, $expect:expr, $body:block) => {
        const _: () = {
            // `allow`, not `expect`: only bodies that always panic or fault make the
            // trailing `Ok(())` unreachable.
            #[allow(unreachable_code, reason = "bodies that always panic or fault")]
            fn $name() -> $crate::test::TestResult {
                $body;
                Ok(())
            }

            #[used]
            #[unsafe(link_section = ".kernel_tests")]
            static TEST: $crate::test::Test = $crate::test::Test {
                name: stringify!($name),
                file: file!(),
                line: line!(),
                run: $name,
                expect: $expect,
            };
        };
    };
}

/// Items built only for one architecture: `kernel::only_on!(x86_64, { items })`, for
/// the helpers of tests marked `#[only_on(x86_64)]`.
#[macro_export]
macro_rules! only_on {
    ($arch:ident, { $($items:tt)* }) => {
        $crate::__on_arch!($arch, { $($items)* }, {});
    };
}

/// Fails the test with a formatted reason.
#[macro_export]
macro_rules! fail {
    ($($argument:tt)*) => {
        return ::core::result::Result::Err($crate::test::Failure::new(format_args!($($argument)*)))
    };
}

/// Fails the test unless the condition holds.
#[macro_export]
macro_rules! check {
    ($condition:expr $(,)?) => {
        if !$condition {
            $crate::fail!("check failed: {}", stringify!($condition));
        }
    };
    ($condition:expr, $($argument:tt)+) => {
        if !$condition {
            $crate::fail!($($argument)+);
        }
    };
}

/// Fails the test unless `actual == expected`: reason `` `expr`: expected E, got A ``.
#[macro_export]
macro_rules! check_eq {
    ($actual:expr, $expected:expr $(,)?) => {
        match (&$actual, &$expected) {
            (actual, expected) => {
                if actual != expected {
                    $crate::fail!(
                        "`{}`: expected {:?}, got {:?}",
                        stringify!($actual),
                        expected,
                        actual
                    );
                }
            }
        }
    };
}

/// Defines the test kernel's entry point: boot, then run every registered test.
///
/// `test_main!(runner_fixture)` marks a runner fixture, a file whose tests fail, hang or
/// leak on purpose so that the host runner's own tests can check what it reports: it
/// runs its tests only with `runner_fixtures` on the kernel command line and otherwise
/// reports each one `# SKIP` ([`run_runner_fixture`](crate::test::run_runner_fixture)).
/// So the fixtures build with every other test kernel, and a plain `cargo ktest` passes.
///
/// (There is no setup hook any more: it existed only to register and drop each test
/// driver once before the leak snapshots, because the device model's match index kept
/// the capacity the first registration grew. Unregistering a driver now returns
/// everything its registration took.)
#[macro_export]
macro_rules! test_main {
    () => {
        $crate::entry_point!($crate::test::run_all);
    };
    (runner_fixture) => {
        $crate::entry_point!($crate::test::run_runner_fixture);
    };
}

/// All registered tests, in link order.
pub(super) fn registered() -> &'static [Test] {
    crate::arch::linker::registered_tests()
}
