//! The kernel command line (`-append`) parsed into [`Options`].
//!
//! Syntax: words separated by ASCII whitespace; a word is a flag (`exit`) or a
//! `key=value` pair split at the first `=` (`timer_hz=250`). No quoting. Unknown keys and
//! malformed values are reported through a callback and otherwise ignored: a typo on the
//! command line must not keep the kernel from booting. The parser is pure (no heap, no
//! hardware), so its tests run on the host (`cargo test -p kernel-core`).
//!
//! | option | meaning | default |
//! | --- | --- | --- |
//! | `exit` | after boot completes, exit QEMU with success (automated `cargo run`) | off |
//! | `timer_hz=N` | local APIC timer rate, 1..=1000 Hz | 100 |
//! | `test=TEXT` | test kernels run only tests whose name contains `TEXT` | all |
//! | `test_resume=NEXT,PASSED,FAILED` | test kernels go on with test `NEXT`, counting the results so far (the host runner's restart after a test ended the boot) | start at test 1 |
//! | `test_lost=hang\|reset` | with `test_resume`: the boot before ended during test `NEXT` without a result (it hung and the runner stopped it, or the machine reset, as a triple fault does); that test fails with this reason and the run goes on after it | none |
//! | `runner_fixtures` | a runner fixture (a test kernel that fails on purpose, `kernel::test_main!(runner_fixture)`) runs its tests; without it every test is skipped | off |
//! | `reprobe` | driver-model debug mode: every probe is followed by remove and a second probe | off |
//! | `devices=all\|tree\|events\|none` | what the binary prints about the device model at the end of boot | `all` |

use core::fmt;

/// Default timer rate in Hz.
pub const DEFAULT_TIMER_HZ: u32 = 100;

/// What the kernel prints about its device model at the end of boot (`devices=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceReport {
    /// The event log, then the tree.
    #[default]
    All,
    /// Only the device tree.
    Tree,
    /// Only the event log.
    Events,
    /// Nothing.
    None,
}

/// `test_resume=NEXT,PASSED,FAILED`: where a test run goes on after a test ended the
/// previous boot (a panic or a fault; see the kernel's test framework).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    /// The 1-based number of the first test to run.
    pub next: usize,
    /// Tests that passed in the earlier boots (skips included).
    pub passed: usize,
    /// Tests that failed in the earlier boots.
    pub failed: usize,
}

impl Resume {
    /// Parses `NEXT,PASSED,FAILED`: three decimal integers, `NEXT` at least 1 and
    /// `PASSED + FAILED == NEXT - 1` (every earlier test has exactly one result).
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.split(',').map(|part| part.parse::<usize>().ok());
        let (Some(Some(next)), Some(Some(passed)), Some(Some(failed)), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        (next >= 1 && passed.checked_add(failed) == Some(next - 1)).then_some(Self {
            next,
            passed,
            failed,
        })
    }
}

/// `test_lost=hang|reset`: how the boot before ended during a test without its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    /// The test gave no result within the runner's timeout; the runner stopped QEMU.
    Hang,
    /// The machine reset during the test (on x86, a triple fault).
    Reset,
}

impl fmt::Display for Lost {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::Hang => "no result within the runner's timeout (a hang); QEMU was stopped",
            Self::Reset => "the machine reset during the test (on x86, a triple fault)",
        })
    }
}

/// Options given on the kernel command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options<'a> {
    /// `exit`: leave QEMU with success once boot is complete.
    pub exit: bool,
    /// `timer_hz=N`: timer interrupt rate.
    pub timer_hz: u32,
    /// `test=TEXT`: run only tests whose name contains `TEXT`.
    pub test_filter: Option<&'a str>,
    /// `test_resume=NEXT,PASSED,FAILED`: go on with test `NEXT` after a restart.
    pub test_resume: Option<Resume>,
    /// `test_lost=hang|reset`: test `NEXT` of [`Self::test_resume`] ended its boot
    /// without a result.
    pub test_lost: Option<Lost>,
    /// `devices=...`: the device-model report at the end of boot.
    pub devices: DeviceReport,
    /// `reprobe`: the driver model's debug re-probe mode.
    pub reprobe: bool,
    /// `runner_fixtures`: a runner fixture kernel runs its tests instead of skipping them.
    pub runner_fixtures: bool,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Self {
            exit: false,
            timer_hz: DEFAULT_TIMER_HZ,
            test_filter: None,
            test_resume: None,
            test_lost: None,
            devices: DeviceReport::All,
            reprobe: false,
            runner_fixtures: false,
        }
    }
}

/// One word of the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Word<'a> {
    /// The flag name, or the part before the first `=`.
    pub key: &'a str,
    /// The part after the first `=`, if there is one (possibly empty).
    pub value: Option<&'a str>,
}

/// Splits a command line into words.
pub fn words(line: &str) -> impl Iterator<Item = Word<'_>> {
    line.split_ascii_whitespace()
        .map(|word| match word.split_once('=') {
            Some((key, value)) => Word {
                key,
                value: Some(value),
            },
            None => Word {
                key: word,
                value: None,
            },
        })
}

/// Something wrong with one word of the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem<'a> {
    /// No such option.
    UnknownKey {
        /// The unknown key.
        key: &'a str,
    },
    /// A `key=value` option given without a value.
    MissingValue {
        /// The option.
        key: &'a str,
    },
    /// A flag given a value.
    UnexpectedValue {
        /// The flag.
        key: &'a str,
        /// The value it was given.
        value: &'a str,
    },
    /// A value that does not parse or is out of range.
    InvalidValue {
        /// The option.
        key: &'a str,
        /// The bad value.
        value: &'a str,
        /// What would have been accepted.
        expected: &'static str,
    },
}

impl fmt::Display for Problem<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownKey { key } => write!(formatter, "unknown option `{key}` (ignored)"),
            Self::MissingValue { key } => {
                write!(formatter, "option `{key}` needs a value (`{key}=...`)")
            }
            Self::UnexpectedValue { key, value } => {
                write!(
                    formatter,
                    "option `{key}` is a flag; value `{value}` ignored"
                )
            }
            Self::InvalidValue {
                key,
                value,
                expected,
            } => write!(
                formatter,
                "option `{key}={value}`: expected {expected} (ignored)"
            ),
        }
    }
}

/// Parses `line`, calling `report` for every problem, and returns the options.
pub fn parse<'a>(line: &'a str, mut report: impl FnMut(Problem<'a>)) -> Options<'a> {
    let mut options = Options::default();
    for Word { key, value } in words(line) {
        match (key, value) {
            ("exit", None) => options.exit = true,
            ("exit", Some(value)) => {
                options.exit = true;
                report(Problem::UnexpectedValue { key, value });
            }
            ("reprobe", None) => options.reprobe = true,
            ("reprobe", Some(value)) => {
                options.reprobe = true;
                report(Problem::UnexpectedValue { key, value });
            }
            ("runner_fixtures", None) => options.runner_fixtures = true,
            ("runner_fixtures", Some(value)) => {
                options.runner_fixtures = true;
                report(Problem::UnexpectedValue { key, value });
            }
            ("timer_hz" | "test" | "test_resume" | "test_lost" | "devices", None) => {
                report(Problem::MissingValue { key })
            }
            ("timer_hz", Some(value)) => match value.parse::<u32>() {
                Ok(hz @ 1..=1000) => options.timer_hz = hz,
                _ => report(Problem::InvalidValue {
                    key,
                    value,
                    expected: "an integer from 1 to 1000",
                }),
            },
            ("test", Some(value)) => options.test_filter = Some(value),
            ("test_resume", Some(value)) => match Resume::parse(value) {
                Some(resume) => options.test_resume = Some(resume),
                None => report(Problem::InvalidValue {
                    key,
                    value,
                    expected: "NEXT,PASSED,FAILED with NEXT >= 1 and PASSED + FAILED = NEXT - 1",
                }),
            },
            ("test_lost", Some(value)) => match value {
                "hang" => options.test_lost = Some(Lost::Hang),
                "reset" => options.test_lost = Some(Lost::Reset),
                _ => report(Problem::InvalidValue {
                    key,
                    value,
                    expected: "hang or reset",
                }),
            },
            ("devices", Some(value)) => match value {
                "all" => options.devices = DeviceReport::All,
                "tree" => options.devices = DeviceReport::Tree,
                "events" => options.devices = DeviceReport::Events,
                "none" => options.devices = DeviceReport::None,
                _ => report(Problem::InvalidValue {
                    key,
                    value,
                    expected: "one of all, tree, events, none",
                }),
            },
            _ => report(Problem::UnknownKey { key }),
        }
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `line` and collects every problem.
    fn parse_all(line: &str) -> (Options<'_>, Vec<Problem<'_>>) {
        let mut problems = Vec::new();
        let options = parse(line, |problem| problems.push(problem));
        (options, problems)
    }

    #[test]
    fn empty_line_gives_defaults() {
        let (options, problems) = parse_all("");
        assert_eq!(options, Options::default());
        assert_eq!(options.timer_hz, DEFAULT_TIMER_HZ);
        assert!(!options.exit);
        assert!(problems.is_empty());
    }

    #[test]
    fn words_split_on_whitespace_and_the_first_equals_sign() {
        let words: Vec<Word<'_>> = words("  exit\ttest=a=b  key= ").collect();
        assert_eq!(
            words,
            [
                Word {
                    key: "exit",
                    value: None
                },
                Word {
                    key: "test",
                    value: Some("a=b")
                },
                Word {
                    key: "key",
                    value: Some("")
                },
            ]
        );
    }

    #[test]
    fn known_options_are_applied() {
        let (options, problems) = parse_all("exit timer_hz=250 test=heap reprobe runner_fixtures");
        assert!(problems.is_empty(), "{problems:?}");
        assert!(options.exit && options.reprobe && options.runner_fixtures);
        assert_eq!(options.timer_hz, 250);
        assert_eq!(options.test_filter, Some("heap"));
    }

    #[test]
    fn unknown_keys_are_reported_and_parsing_goes_on() {
        let (options, problems) = parse_all("console=ttyS0 exit quiet");
        assert_eq!(
            problems,
            [
                Problem::UnknownKey { key: "console" },
                Problem::UnknownKey { key: "quiet" }
            ]
        );
        assert!(options.exit);
    }

    #[test]
    fn invalid_values_keep_the_default() {
        let (options, problems) = parse_all("timer_hz=0 timer_hz=fast timer_hz=1001 timer_hz test");
        assert_eq!(options.timer_hz, DEFAULT_TIMER_HZ);
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(matches!(
            problems[0],
            Problem::InvalidValue {
                key: "timer_hz",
                value: "0",
                ..
            }
        ));
        assert!(matches!(
            problems[1],
            Problem::InvalidValue { value: "fast", .. }
        ));
        assert!(matches!(
            problems[2],
            Problem::InvalidValue { value: "1001", .. }
        ));
        assert_eq!(problems[3], Problem::MissingValue { key: "timer_hz" });
        assert_eq!(problems[4], Problem::MissingValue { key: "test" });
        // The bounds themselves are accepted.
        assert_eq!(parse_all("timer_hz=1").0.timer_hz, 1);
        assert_eq!(parse_all("timer_hz=1000").0.timer_hz, 1000);
    }

    #[test]
    fn a_flag_with_a_value_still_counts_with_a_warning() {
        let (options, problems) = parse_all("exit=1 reprobe=yes");
        assert!(options.exit && options.reprobe);
        assert_eq!(
            problems,
            [
                Problem::UnexpectedValue {
                    key: "exit",
                    value: "1"
                },
                Problem::UnexpectedValue {
                    key: "reprobe",
                    value: "yes"
                }
            ]
        );
    }

    #[test]
    fn problems_render_as_messages() {
        assert_eq!(
            Problem::UnknownKey { key: "foo" }.to_string(),
            "unknown option `foo` (ignored)"
        );
        assert_eq!(
            Problem::MissingValue { key: "test" }.to_string(),
            "option `test` needs a value (`test=...`)"
        );
    }

    #[test]
    fn devices_picks_the_end_of_boot_report() {
        assert_eq!(parse_all("").0.devices, DeviceReport::All);
        assert_eq!(parse_all("devices=tree").0.devices, DeviceReport::Tree);
        assert_eq!(parse_all("devices=events").0.devices, DeviceReport::Events);
        assert_eq!(parse_all("devices=none").0.devices, DeviceReport::None);
        let (options, problems) = parse_all("devices=everything");
        assert_eq!(options.devices, DeviceReport::All);
        assert!(matches!(
            problems[..],
            [Problem::InvalidValue { key: "devices", .. }]
        ));
    }

    /// `test_resume=NEXT,PASSED,FAILED` (the host runner's restart) is read whole, and
    /// refused unless every earlier test has exactly one result.
    #[test]
    fn test_resume_is_checked() {
        let (options, problems) = parse_all("test=heap test_resume=4,2,1");
        assert_eq!(problems, []);
        assert_eq!(options.test_filter, Some("heap"));
        assert_eq!(
            options.test_resume,
            Some(Resume {
                next: 4,
                passed: 2,
                failed: 1
            })
        );
        for bad in [
            "test_resume=4,2",
            "test_resume=4,2,2",
            "test_resume=0,0,0",
            "test_resume=2,1,0,0",
            "test_resume=x,0,0",
            "test_resume",
        ] {
            let (options, problems) = parse_all(bad);
            assert_eq!(options.test_resume, None, "{bad}");
            assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
        }
    }

    /// `test_lost=` names how the boot before lost its test; anything else is refused.
    #[test]
    fn test_lost_is_checked() {
        let (options, problems) = parse_all("test_resume=3,2,0 test_lost=hang");
        assert_eq!(problems, []);
        assert_eq!(options.test_lost, Some(Lost::Hang));
        assert_eq!(parse_all("test_lost=reset").0.test_lost, Some(Lost::Reset));
        for bad in ["test_lost=crash", "test_lost", "test_lost="] {
            let (options, problems) = parse_all(bad);
            assert_eq!(options.test_lost, None, "{bad}");
            assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
        }
        assert!(Lost::Reset.to_string().contains("triple fault"));
    }
}
