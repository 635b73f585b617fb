//! KTAP version 1 lines, formatted without the heap.
//!
//! Only the subset the runner emits: the version line, the plan, a result line per test,
//! diagnostics, and the closing summary `# N passed, N failed`. Reasons and names are kept
//! on one line (line breaks become spaces) so a line-based parser never loses them.

use core::fmt;

/// One line of KTAP output (without the trailing newline).
#[derive(Clone, Copy)]
pub enum Line<'a> {
    /// `KTAP version 1`.
    Version,
    /// `1..count`.
    Plan {
        /// Number of tests.
        count: usize,
    },
    /// `ok number name` or `not ok number name # reason`.
    Result {
        /// 1-based test number.
        number: usize,
        /// Test name.
        name: &'a str,
        /// `None` for `ok`, the reason for `not ok`.
        failure: Option<&'a dyn fmt::Display>,
    },
    /// `ok number name # SKIP reason`.
    Skip {
        /// 1-based test number.
        number: usize,
        /// Test name.
        name: &'a str,
        /// Why it was skipped.
        reason: &'a str,
    },
    /// `# text`.
    Diagnostic(&'a dyn fmt::Display),
    /// `# passed passed, failed failed`.
    Summary {
        /// Tests that passed (skips included).
        passed: usize,
        /// Tests that failed.
        failed: usize,
    },
}

/// Writes `text` with line breaks replaced by spaces.
struct OneLine<'a>(&'a dyn fmt::Display);

impl fmt::Display for OneLine<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Flatten<'a, 'b>(&'a mut fmt::Formatter<'b>);
        impl fmt::Write for Flatten<'_, '_> {
            fn write_str(&mut self, text: &str) -> fmt::Result {
                for (index, part) in text.split(['\n', '\r']).enumerate() {
                    if index > 0 {
                        self.0.write_str(" ")?;
                    }
                    self.0.write_str(part)?;
                }
                Ok(())
            }
        }
        fmt::write(&mut Flatten(formatter), format_args!("{}", self.0))
    }
}

impl fmt::Display for Line<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Version => formatter.write_str("KTAP version 1"),
            Self::Plan { count } => write!(formatter, "1..{count}"),
            Self::Result {
                number,
                name,
                failure: None,
            } => write!(formatter, "ok {number} {}", OneLine(&name)),
            Self::Result {
                number,
                name,
                failure: Some(reason),
            } => write!(
                formatter,
                "not ok {number} {} # {}",
                OneLine(&name),
                OneLine(reason)
            ),
            Self::Skip {
                number,
                name,
                reason,
            } => write!(
                formatter,
                "ok {number} {} # SKIP {}",
                OneLine(&name),
                OneLine(&reason)
            ),
            Self::Diagnostic(text) => write!(formatter, "# {}", OneLine(text)),
            Self::Summary { passed, failed } => {
                write!(formatter, "# {passed} passed, {failed} failed")
            }
        }
    }
}

impl fmt::Debug for Line<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Line({self:?})", self = format_args!("{self}"))
    }
}
