//! A strict parser for the KTAP version 1 output of a kernel test ELF.
//!
//! The kernel prints its boot log, then:
//!
//! ```text
//! KTAP version 1
//! 1..3
//! ok 1 heap_alloc_free
//! not ok 2 page_fault_is_reported # expected 1, got 2
//! ok 3 later_work # SKIP no APIC
//! # 2 passed, 1 failed
//! ```
//!
//! Lines before the `KTAP version 1` header are the boot log and are ignored. After it,
//! the plan `1..N` comes before any result, results are numbered `1, 2, ...` in order,
//! exactly `N` of them, and the closing `# P passed, F failed` line (optionally
//! `, S skipped`) agrees with them. Any other line is the output of the test whose result
//! follows it (a panic message, a log line); it is kept with that result, so a failure
//! report can show it.
//!
//! [`parse`] never fails: it returns everything it could read plus the list of
//! [`Problem`]s, so a run that died halfway (a panic, a triple fault, a timeout) is still
//! reported with the results it produced and the output of the test that never
//! finished. [`Document::check`] turns the problems into an error.

use std::fmt;

use crate::error::{Error, Result};

/// The header line that starts the KTAP document.
pub const HEADER: &str = "KTAP version 1";

/// How one test ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `ok N name`.
    Passed,
    /// `not ok N name # reason` (the reason may be empty).
    Failed {
        /// The text after ` # `.
        reason: String,
    },
    /// `ok N name # SKIP reason`.
    Skipped {
        /// The text after `SKIP`.
        reason: String,
    },
}

/// One result line and the output that preceded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResult {
    /// The test number (1-based).
    pub number: usize,
    /// The test name (the description).
    pub name: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Lines the test printed before its result line.
    pub output: Vec<String>,
}

impl TestResult {
    /// Whether the test failed.
    #[must_use]
    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Failed { .. })
    }
}

impl fmt::Display for TestResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Outcome::Passed => write!(f, "ok {} {}", self.number, self.name),
            Outcome::Failed { reason } if reason.is_empty() => {
                write!(f, "not ok {} {}", self.number, self.name)
            }
            Outcome::Failed { reason } => {
                write!(f, "not ok {} {} # {reason}", self.number, self.name)
            }
            Outcome::Skipped { reason } => {
                write!(f, "ok {} {} # SKIP {reason}", self.number, self.name)
            }
        }
    }
}

/// The closing `# P passed, F failed[, S skipped]` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Tests that passed.
    pub passed: usize,
    /// Tests that failed.
    pub failed: usize,
    /// Tests that were skipped, when the line says.
    pub skipped: Option<usize>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed)?;
        if let Some(skipped) = self.skipped {
            write!(f, ", {skipped} skipped")?;
        }
        Ok(())
    }
}

/// A way in which the output breaks the KTAP contract.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// No `KTAP version 1` line at all.
    MissingHeader,
    /// A second top-level header.
    DuplicateHeader,
    /// No `1..N` line.
    MissingPlan,
    /// A plan line that is not `1..N`.
    MalformedPlan {
        /// The line.
        line: String,
    },
    /// A second plan line.
    DuplicatePlan {
        /// The line.
        line: String,
    },
    /// A result line before the plan.
    ResultBeforePlan {
        /// The result's number.
        number: usize,
    },
    /// A line starting with `ok`/`not ok` that is not a result line.
    MalformedResult {
        /// The line.
        line: String,
    },
    /// A result with the wrong number.
    OutOfOrder {
        /// The number that was due.
        expected: usize,
        /// The number found.
        found: usize,
    },
    /// A result after the summary line.
    ResultAfterSummary {
        /// The result's number.
        number: usize,
    },
    /// The number of results differs from the plan.
    PlanMismatch {
        /// The plan's count.
        planned: usize,
        /// Results seen.
        ran: usize,
    },
    /// No `# P passed, F failed` line.
    MissingSummary,
    /// A second summary line.
    DuplicateSummary,
    /// The summary disagrees with the result lines.
    SummaryMismatch {
        /// What the kernel claimed.
        claimed: Summary,
        /// What the result lines say.
        counted: Summary,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingHeader => write!(f, "no `{HEADER}` line"),
            Self::DuplicateHeader => write!(f, "a second `{HEADER}` line"),
            Self::MissingPlan => write!(f, "no plan line `1..N`"),
            Self::MalformedPlan { line } => write!(f, "malformed plan line `{line}`"),
            Self::DuplicatePlan { line } => write!(f, "a second plan line `{line}`"),
            Self::ResultBeforePlan { number } => {
                write!(f, "result {number} comes before the plan line")
            }
            Self::MalformedResult { line } => write!(f, "malformed result line `{line}`"),
            Self::OutOfOrder { expected, found } => {
                write!(f, "result {found} where result {expected} was due")
            }
            Self::ResultAfterSummary { number } => {
                write!(f, "result {number} comes after the summary line")
            }
            Self::PlanMismatch { planned, ran } => {
                write!(
                    f,
                    "the plan `1..{planned}` does not match the {ran} results reported"
                )
            }
            Self::MissingSummary => write!(f, "no closing `# N passed, N failed` line"),
            Self::DuplicateSummary => write!(f, "a second summary line"),
            Self::SummaryMismatch { claimed, counted } => write!(
                f,
                "the summary says `{claimed}` but the result lines count `{counted}`"
            ),
        }
    }
}

/// What [`parse`] read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Document {
    /// Whether the `KTAP version 1` header was seen.
    pub header: bool,
    /// The planned number of tests.
    pub plan: Option<usize>,
    /// The results, in order.
    pub results: Vec<TestResult>,
    /// The summary line.
    pub summary: Option<Summary>,
    /// Output after the last result that no result line claimed (before the summary, or
    /// to the end when there is none): typically the output of a test that never
    /// finished.
    pub unfinished_output: Vec<String>,
    /// Everything wrong with the document.
    pub problems: Vec<Problem>,
}

impl Document {
    /// The failed tests.
    pub fn failures(&self) -> impl Iterator<Item = &TestResult> {
        self.results.iter().filter(|result| result.failed())
    }

    /// What the result lines count.
    #[must_use]
    pub fn counted(&self) -> Summary {
        let mut counted = Summary {
            passed: 0,
            failed: 0,
            skipped: Some(0),
        };
        for result in &self.results {
            match result.outcome {
                Outcome::Passed => counted.passed += 1,
                Outcome::Failed { .. } => counted.failed += 1,
                Outcome::Skipped { .. } => {
                    if let Some(skipped) = counted.skipped.as_mut() {
                        *skipped += 1;
                    }
                }
            }
        }
        counted
    }

    /// The name of the test that was running when the output ended, if the plan says
    /// one was due and it has no result: its number (the name is unknown).
    #[must_use]
    pub fn unfinished_test(&self) -> Option<usize> {
        let next = self.results.len() + 1;
        self.plan.filter(|&plan| next <= plan).map(|_| next)
    }

    /// Succeeds when the document has no [`Problem`] (failed tests are not problems).
    ///
    /// # Errors
    ///
    /// [`Error::Ktap`] listing every problem.
    pub fn check(&self) -> Result<()> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Ktap {
                problems: self.problems.clone(),
            })
        }
    }
}

/// Parses the serial output of a kernel test run.
#[must_use]
pub fn parse(log: &str) -> Document {
    let mut document = Document::default();
    let mut pending: Vec<String> = Vec::new();
    for raw in log.lines() {
        let line = raw.trim_end();
        if !document.header {
            document.header = line == HEADER;
            continue;
        }
        if line == HEADER {
            document.problems.push(Problem::DuplicateHeader);
        } else if let Some(count) = line.strip_prefix("1..") {
            match count.parse::<usize>() {
                Ok(count) if document.plan.is_none() => document.plan = Some(count),
                Ok(_) => document
                    .problems
                    .push(Problem::DuplicatePlan { line: line.into() }),
                Err(_) => document
                    .problems
                    .push(Problem::MalformedPlan { line: line.into() }),
            }
        } else if let Some(summary) = parse_summary(line) {
            if document.summary.is_some() {
                document.problems.push(Problem::DuplicateSummary);
            } else {
                document.summary = Some(summary);
                document.unfinished_output = std::mem::take(&mut pending);
            }
        } else if line.starts_with("ok") || line.starts_with("not ok") {
            match parse_result(line) {
                Some((number, name, outcome)) => {
                    record(&mut document, number, name, outcome, &mut pending);
                }
                None => document
                    .problems
                    .push(Problem::MalformedResult { line: line.into() }),
            }
        } else {
            pending.push(line.to_owned());
        }
    }
    if document.summary.is_none() {
        document.unfinished_output = pending;
    }
    finish(&mut document);
    document
}

fn record(
    document: &mut Document,
    number: usize,
    name: String,
    outcome: Outcome,
    pending: &mut Vec<String>,
) {
    if document.plan.is_none() {
        document.problems.push(Problem::ResultBeforePlan { number });
    }
    if document.summary.is_some() {
        document
            .problems
            .push(Problem::ResultAfterSummary { number });
    }
    let expected = document.results.len() + 1;
    if number != expected {
        document.problems.push(Problem::OutOfOrder {
            expected,
            found: number,
        });
    }
    document.results.push(TestResult {
        number,
        name,
        outcome,
        output: std::mem::take(pending),
    });
}

fn finish(document: &mut Document) {
    if !document.header {
        document.problems.push(Problem::MissingHeader);
        return;
    }
    match document.plan {
        None => document.problems.push(Problem::MissingPlan),
        Some(planned) if planned != document.results.len() => {
            document.problems.push(Problem::PlanMismatch {
                planned,
                ran: document.results.len(),
            });
        }
        Some(_) => {}
    }
    let Some(claimed) = document.summary else {
        document.problems.push(Problem::MissingSummary);
        return;
    };
    let mut counted = document.counted();
    if claimed.skipped.is_none() {
        // A summary without a skip count counts skipped tests as passed.
        counted.passed += counted.skipped.take().unwrap_or(0);
    }
    if claimed != counted {
        document
            .problems
            .push(Problem::SummaryMismatch { claimed, counted });
    }
}

/// `ok N name[ # directive]` or `not ok N name[ # reason]`.
fn parse_result(line: &str) -> Option<(usize, String, Outcome)> {
    let (passed, rest) = if let Some(rest) = line.strip_prefix("not ok ") {
        (false, rest)
    } else {
        (true, line.strip_prefix("ok ")?)
    };
    let (number, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let number = number.parse().ok()?;
    let (name, directive) = match rest.split_once(" # ") {
        Some((name, directive)) => (name, Some(directive.trim())),
        None => (rest.strip_suffix(" #").unwrap_or(rest), None),
    };
    let name = name.trim().to_owned();
    let outcome = match (passed, directive) {
        (false, reason) => Outcome::Failed {
            reason: reason.unwrap_or_default().to_owned(),
        },
        (true, Some(directive)) if directive.to_ascii_uppercase().starts_with("SKIP") => {
            Outcome::Skipped {
                reason: directive["SKIP".len()..].trim().to_owned(),
            }
        }
        (true, _) => Outcome::Passed,
    };
    Some((number, name, outcome))
}

/// `# P passed, F failed[, S skipped]`.
fn parse_summary(line: &str) -> Option<Summary> {
    let rest = line.strip_prefix("# ")?;
    let mut parts = rest.split(", ");
    let count = |part: Option<&str>, word: &str| -> Option<usize> {
        part?.strip_suffix(word)?.strip_suffix(' ')?.parse().ok()
    };
    let passed = count(parts.next(), "passed")?;
    let failed = count(parts.next(), "failed")?;
    let skipped = match parts.next() {
        Some(part) => Some(count(Some(part), "skipped")?),
        None => None,
    };
    parts.next().is_none().then_some(Summary {
        passed,
        failed,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
SeaBIOS noise
kernel: boot complete
KTAP version 1
1..3
ok 1 heap_alloc_free
log: a line from test 2\r
not ok 2 page_fault # expected 1, got 2
ok 3 apic # SKIP no APIC
# 1 passed, 1 failed, 1 skipped
";

    #[test]
    fn a_complete_document() {
        let document = parse(GOOD);
        assert_eq!(document.problems, []);
        assert!(document.check().is_ok());
        assert_eq!(document.plan, Some(3));
        assert_eq!(document.results.len(), 3);
        assert_eq!(document.results[0].outcome, Outcome::Passed);
        assert_eq!(document.results[0].name, "heap_alloc_free");
        assert_eq!(
            document.results[1].outcome,
            Outcome::Failed {
                reason: "expected 1, got 2".into()
            }
        );
        assert_eq!(document.results[1].output, ["log: a line from test 2"]);
        assert_eq!(
            document.results[2].outcome,
            Outcome::Skipped {
                reason: "no APIC".into()
            }
        );
        let failures: Vec<_> = document.failures().map(ToString::to_string).collect();
        assert_eq!(failures, ["not ok 2 page_fault # expected 1, got 2"]);
        assert_eq!(document.unfinished_test(), None);
    }

    #[test]
    fn a_summary_without_skips_counts_them_as_passed() {
        let document =
            parse("KTAP version 1\n1..2\nok 1 a\nok 2 b # SKIP x\n# 2 passed, 0 failed\n");
        assert_eq!(document.problems, []);
    }

    #[test]
    fn no_header_means_nothing_was_read() {
        let document = parse("boot log\nok 1 a\n");
        assert_eq!(document.problems, [Problem::MissingHeader]);
        assert!(document.results.is_empty());
        assert!(document.check().is_err());
    }

    #[test]
    fn plan_mismatch_and_missing_summary_after_a_crash() {
        let document =
            parse("KTAP version 1\n1..3\nok 1 a\npanicked at x.rs:1:1:\ndeliberate panic\n");
        assert_eq!(
            document.problems,
            [
                Problem::PlanMismatch { planned: 3, ran: 1 },
                Problem::MissingSummary
            ]
        );
        assert_eq!(document.unfinished_test(), Some(2));
        assert_eq!(
            document.unfinished_output,
            ["panicked at x.rs:1:1:", "deliberate panic"]
        );
    }

    #[test]
    fn too_many_results() {
        let document = parse("KTAP version 1\n1..1\nok 1 a\nok 2 b\n# 2 passed, 0 failed\n");
        assert_eq!(
            document.problems,
            [Problem::PlanMismatch { planned: 1, ran: 2 }]
        );
    }

    #[test]
    fn summary_disagreeing_with_the_lines() {
        let document = parse("KTAP version 1\n1..2\nok 1 a\nnot ok 2 b\n# 2 passed, 0 failed\n");
        assert_eq!(
            document.problems,
            [Problem::SummaryMismatch {
                claimed: Summary {
                    passed: 2,
                    failed: 0,
                    skipped: None
                },
                counted: Summary {
                    passed: 1,
                    failed: 1,
                    skipped: None
                },
            }]
        );
        let message = document.check().unwrap_err().to_string();
        assert!(message.contains("`2 passed, 0 failed`"), "{message}");
    }

    #[test]
    fn ordering_and_placement() {
        let document = parse(
            "KTAP version 1\nok 1 early\n1..3\nok 3 skipped_two\n1..3\n# 2 passed, 0 failed\nok 3 late\n",
        );
        assert_eq!(
            document.problems,
            [
                Problem::ResultBeforePlan { number: 1 },
                Problem::OutOfOrder {
                    expected: 2,
                    found: 3
                },
                Problem::DuplicatePlan {
                    line: "1..3".into()
                },
                // The third result is number 3, as due, but late.
                Problem::ResultAfterSummary { number: 3 },
                Problem::SummaryMismatch {
                    claimed: Summary {
                        passed: 2,
                        failed: 0,
                        skipped: None
                    },
                    counted: Summary {
                        passed: 3,
                        failed: 0,
                        skipped: None
                    },
                },
            ]
        );
    }

    #[test]
    fn malformed_lines() {
        let document = parse(
            "KTAP version 1\n1..x\n1..1\nok one\nok\nKTAP version 1\nok 1 a\n# 1 passed, 0 failed\n# 1 passed, 0 failed\n",
        );
        assert_eq!(
            document.problems,
            [
                Problem::MalformedPlan {
                    line: "1..x".into()
                },
                Problem::MalformedResult {
                    line: "ok one".into()
                },
                Problem::MalformedResult { line: "ok".into() },
                Problem::DuplicateHeader,
                Problem::DuplicateSummary,
            ]
        );
    }

    #[test]
    fn names_and_reasons() {
        assert_eq!(
            parse_result("not ok 12 a name with spaces # reason # with hash"),
            Some((
                12,
                "a name with spaces".into(),
                Outcome::Failed {
                    reason: "reason # with hash".into()
                }
            ))
        );
        assert_eq!(
            parse_result("not ok 1 bare"),
            Some((1, "bare".into(), Outcome::Failed { reason: "".into() }))
        );
        assert_eq!(
            parse_result("ok 2 x # a comment"),
            Some((2, "x".into(), Outcome::Passed))
        );
        assert_eq!(parse_result("okay 1 x"), None);
        assert_eq!(parse_result("ok -1 x"), None);
    }

    #[test]
    fn summaries() {
        let summary = |passed, failed, skipped| {
            Some(Summary {
                passed,
                failed,
                skipped,
            })
        };
        assert_eq!(parse_summary("# 3 passed, 0 failed"), summary(3, 0, None));
        assert_eq!(
            parse_summary("# 3 passed, 1 failed, 2 skipped"),
            summary(3, 1, Some(2))
        );
        assert_eq!(parse_summary("# 3 passed"), None);
        assert_eq!(parse_summary("# 3 passed, 0 failed, extra"), None);
        assert_eq!(parse_summary("# x passed, 0 failed"), None);
        assert_eq!(parse_summary("# running heap tests"), None);
    }
}
