//! Command-line parsing (pure logic, run in the kernel).

#![no_std]
#![no_main]

use kernel::cmdline::{DEFAULT_TIMER_HZ, Options, Problem, Word, parse, words};
use kernel::{check, check_eq, kernel_test};

kernel::test_main!();

/// Parses `line`, collecting up to four problems.
fn parse_all(line: &str) -> (Options<'_>, [Option<Problem<'_>>; 4], usize) {
    let mut problems = [None; 4];
    let mut count = 0;
    let options = parse(line, |problem| {
        if count < problems.len() {
            problems[count] = Some(problem);
        }
        count += 1;
    });
    (options, problems, count)
}

kernel_test! {
    /// An empty line gives the defaults.
    fn empty_line_gives_defaults() {
        let (options, _, count) = parse_all("");
        check_eq!(options, Options::default());
        check_eq!(options.timer_hz, DEFAULT_TIMER_HZ);
        check!(!options.exit);
        check_eq!(count, 0);
    }
}

kernel_test! {
    /// Words split on any whitespace; values split at the first `=`.
    fn words_split() {
        let mut iterator = words("  exit\ttest=a=b  key= ");
        check_eq!(iterator.next(), Some(Word { key: "exit", value: None }));
        check_eq!(iterator.next(), Some(Word { key: "test", value: Some("a=b") }));
        check_eq!(iterator.next(), Some(Word { key: "key", value: Some("") }));
        check_eq!(iterator.next(), None);
    }
}

kernel_test! {
    /// Known flags and values are applied.
    fn known_options() {
        let (options, _, count) = parse_all("exit timer_hz=250 test=heap");
        check_eq!(count, 0);
        check!(options.exit);
        check_eq!(options.timer_hz, 250);
        check_eq!(options.test_filter, Some("heap"));
    }
}

kernel_test! {
    /// Unknown keys are reported and ignored; parsing goes on.
    fn unknown_keys_are_reported() {
        let (options, problems, count) = parse_all("console=ttyS0 exit quiet");
        check_eq!(count, 2);
        check_eq!(problems[0], Some(Problem::UnknownKey { key: "console" }));
        check_eq!(problems[1], Some(Problem::UnknownKey { key: "quiet" }));
        check!(options.exit);
    }
}

kernel_test! {
    /// Bad values keep the default and are reported with what was expected.
    fn invalid_values_are_reported() {
        let (options, problems, count) = parse_all("timer_hz=0 timer_hz=fast timer_hz test");
        check_eq!(options.timer_hz, DEFAULT_TIMER_HZ);
        check_eq!(count, 4);
        check!(matches!(problems[0], Some(Problem::InvalidValue { key: "timer_hz", value: "0", .. })));
        check!(matches!(problems[1], Some(Problem::InvalidValue { value: "fast", .. })));
        check_eq!(problems[2], Some(Problem::MissingValue { key: "timer_hz" }));
        check_eq!(problems[3], Some(Problem::MissingValue { key: "test" }));
    }
}

kernel_test! {
    /// A flag with a value still counts, with a warning.
    fn flag_with_value() {
        let (options, problems, count) = parse_all("exit=1");
        check!(options.exit);
        check_eq!(count, 1);
        check_eq!(problems[0], Some(Problem::UnexpectedValue { key: "exit", value: "1" }));
    }
}

kernel_test! {
    /// Problems render as readable messages.
    fn problem_messages() {
        let text = kernel::text::FixedString::<128>::from_fmt(format_args!(
            "{}",
            Problem::UnknownKey { key: "foo" }
        ));
        check_eq!(text.as_str(), "unknown option `foo` (ignored)");
    }
}

kernel_test! {
    /// `devices=` picks the end-of-boot device report; a bad value keeps the default.
    fn devices_report_option() {
        use kernel::cmdline::DeviceReport;
        check_eq!(parse_all("").0.devices, DeviceReport::All);
        check_eq!(parse_all("devices=tree").0.devices, DeviceReport::Tree);
        check_eq!(parse_all("devices=events").0.devices, DeviceReport::Events);
        check_eq!(parse_all("devices=none").0.devices, DeviceReport::None);
        let (options, problems, count) = parse_all("devices=everything");
        check_eq!(options.devices, DeviceReport::All);
        check_eq!(count, 1);
        check!(matches!(problems[0], Some(Problem::InvalidValue { key: "devices", .. })));
        check!(parse_all("reprobe").0.reprobe);
        check!(!parse_all("").0.reprobe);
    }
}
