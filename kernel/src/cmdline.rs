//! The kernel command line (`-append`) parsed into [`Options`].
//!
//! Syntax: words separated by ASCII whitespace; a word is a flag (`exit`) or a
//! `key=value` pair split at the first `=` (`timer_hz=250`). No quoting. Unknown keys and
//! malformed values are reported through a callback and otherwise ignored: a typo on the
//! command line must not keep the kernel from booting. The parser is pure (no heap, no
//! hardware) so the in-kernel tests exercise it directly.
//!
//! | option | meaning | default |
//! | --- | --- | --- |
//! | `exit` | after boot completes, exit QEMU with success (automated `cargo run`) | off |
//! | `timer_hz=N` | local APIC timer rate, 1..=1000 Hz | 100 |
//! | `test=TEXT` | test kernels run only tests whose name contains `TEXT` | all |
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

/// Options given on the kernel command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options<'a> {
    /// `exit`: leave QEMU with success once boot is complete.
    pub exit: bool,
    /// `timer_hz=N`: timer interrupt rate.
    pub timer_hz: u32,
    /// `test=TEXT`: run only tests whose name contains `TEXT`.
    pub test_filter: Option<&'a str>,
    /// `devices=...`: the device-model report at the end of boot.
    pub devices: DeviceReport,
    /// `reprobe`: the driver model's debug re-probe mode.
    pub reprobe: bool,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Self {
            exit: false,
            timer_hz: DEFAULT_TIMER_HZ,
            test_filter: None,
            devices: DeviceReport::All,
            reprobe: false,
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
            ("timer_hz" | "test" | "devices", None) => report(Problem::MissingValue { key }),
            ("timer_hz", Some(value)) => match value.parse::<u32>() {
                Ok(hz @ 1..=1000) => options.timer_hz = hz,
                _ => report(Problem::InvalidValue {
                    key,
                    value,
                    expected: "an integer from 1 to 1000",
                }),
            },
            ("test", Some(value)) => options.test_filter = Some(value),
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
