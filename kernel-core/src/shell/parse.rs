//! Parsing one shell line into a [`Command`]: pure, no model, no hardware.
//!
//! Words are separated by ASCII whitespace. The first word names the command; the
//! others are its arguments, checked for number here (names are checked against the
//! model when the command runs). An empty line is [`Command::Empty`].

use core::fmt;

/// A parsed shell command.
///
/// Exhaustive on purpose: the kernel's executor matches every command, so adding one
/// here fails its build until it is handled there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    /// Nothing typed.
    Empty,
    /// `help`: the command list.
    Help,
    /// `tree`: the device tree, buses and drivers.
    Tree,
    /// `show DEVICE`: one device's state, resources, properties and children.
    Show {
        /// The device (`NAME`, `BUS/NAME` or a `/devices/...` path).
        device: &'a str,
    },
    /// `events`: the event log.
    Events,
    /// `deferred`: devices whose last bind attempt deferred, with the reasons.
    Deferred,
    /// `drivers`: registered drivers and how many devices each is bound to.
    Drivers,
    /// `bind DEVICE [DRIVER]`.
    Bind {
        /// The device.
        device: &'a str,
        /// Only this driver.
        driver: Option<&'a str>,
    },
    /// `unbind DEVICE`.
    Unbind {
        /// The device.
        device: &'a str,
    },
    /// `override DEVICE DRIVER|-`: set or (`-`) clear the driver override.
    Override {
        /// The device.
        device: &'a str,
        /// The driver, or `None` to clear.
        driver: Option<&'a str>,
    },
    /// `delete DEVICE`: delete a platform device.
    Delete {
        /// The device.
        device: &'a str,
    },
    /// `add DEVICE`: re-add a platform device from the board table.
    Add {
        /// The device.
        device: &'a str,
    },
    /// `lspci`: PCI functions with IDs, BARs and capabilities.
    Lspci,
    /// `claims`: claimed I/O port and MMIO ranges with their owners.
    Claims,
    /// `counts`: the model's live-object counters.
    Counts,
    /// `suspend`: suspend every bound device, then resume them (a round trip).
    Suspend,
    /// `vkms`: list the virtual displays the shell created.
    VkmsList,
    /// `vkms add NAME [SHARED]`: a virtual display (vkms) on a new faux device, showing
    /// its own picture or the shared buffer `SHARED` (imported).
    VkmsAdd {
        /// The faux device's name.
        name: &'a str,
        /// The shared buffer to show, by ID.
        shared: Option<u32>,
    },
    /// `vkms delete NAME`: delete that virtual display and its faux device.
    VkmsDelete {
        /// The faux device's name.
        name: &'a str,
    },
    /// `vgem`: list the render-only devices (vgem) the shell created.
    VgemList,
    /// `vgem add NAME`: a vgem device on a new faux device, with one buffer exported.
    VgemAdd {
        /// The faux device's name.
        name: &'a str,
    },
    /// `vgem delete NAME`: delete that vgem device, its client and its shared buffer
    /// handle.
    VgemDelete {
        /// The faux device's name.
        name: &'a str,
    },
    /// `shared`: the shared buffers, their exporters and reference counts.
    Shared,
}

/// Usage and description of every command, for `help`.
pub const COMMANDS: [(&str, &str); 18] = [
    ("help", "this list"),
    ("tree", "the device tree, buses and drivers"),
    (
        "show DEVICE",
        "a device's binding, resources, attributes, children",
    ),
    ("events", "the device model's event log"),
    ("deferred", "devices whose probe deferred, with the reasons"),
    (
        "drivers",
        "registered drivers and their bound device counts",
    ),
    ("bind DEVICE [DRIVER]", "bind a device (to one driver)"),
    ("unbind DEVICE", "unbind a device from its driver"),
    (
        "override DEVICE DRIVER|-",
        "set or clear (-) a device's driver override",
    ),
    (
        "delete DEVICE",
        "delete a platform device (runs remove and devres)",
    ),
    (
        "add DEVICE",
        "re-add a platform device from the board table",
    ),
    (
        "lspci",
        "PCI functions: IDs, class, BARs, capabilities, driver",
    ),
    (
        "claims",
        "claimed I/O port and MMIO ranges and their owners",
    ),
    ("counts", "live devices, bindings, devres nodes, drivers"),
    (
        "suspend",
        "suspend every device (children first), then resume",
    ),
    (
        "vkms [add NAME [SHARED]|delete NAME]",
        "list, create (own picture, or shared buffer SHARED) or delete a vkms display",
    ),
    (
        "vgem [add|delete NAME]",
        "list, create (one buffer exported) or delete a vgem device",
    ),
    ("shared", "shared buffers: size, exporter, references"),
];

/// Why a line is not a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError<'a> {
    /// The first word names no command.
    UnknownCommand {
        /// The word.
        word: &'a str,
    },
    /// A required argument is missing.
    MissingArgument {
        /// The command.
        command: &'static str,
        /// The usage line.
        usage: &'static str,
    },
    /// A subcommand the command does not have.
    UnknownSubcommand {
        /// The command.
        command: &'static str,
        /// The word.
        word: &'a str,
        /// The usage line.
        usage: &'static str,
    },
    /// More arguments than the command takes.
    TooManyArguments {
        /// The command.
        command: &'static str,
        /// The first extra word.
        extra: &'a str,
    },
    /// An argument that must be a number (decimal, or hex with `0x`) is not one.
    BadNumber {
        /// The command.
        command: &'static str,
        /// The word.
        word: &'a str,
    },
}

impl fmt::Display for ParseError<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownCommand { word } => {
                write!(formatter, "unknown command `{word}` (try `help`)")
            }
            Self::MissingArgument { command, usage } => {
                write!(formatter, "{command}: missing argument; usage: {usage}")
            }
            Self::UnknownSubcommand {
                command,
                word,
                usage,
            } => write!(
                formatter,
                "{command}: no subcommand `{word}`; usage: {usage}"
            ),
            Self::TooManyArguments { command, extra } => {
                write!(formatter, "{command}: unexpected argument `{extra}`")
            }
            Self::BadNumber { command, word } => write!(
                formatter,
                "{command}: `{word}` is not a number (decimal, or hex with 0x)"
            ),
        }
    }
}

/// The usage line of `command` (from [`COMMANDS`]).
fn usage(command: &'static str) -> &'static str {
    COMMANDS
        .iter()
        .find(|(usage, _)| usage.split(' ').next() == Some(command))
        .map_or(command, |(usage, _)| usage)
}

/// A number argument: decimal, or hex with `0x` (IDs are printed in hex).
fn number<'a>(command: &'static str, word: &'a str) -> Result<u32, ParseError<'a>> {
    let parsed = match word.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => word.parse(),
    };
    parsed.map_err(|_| ParseError::BadNumber { command, word })
}

/// Parses one line.
///
/// # Errors
///
/// [`ParseError`]: unknown command, missing or extra arguments.
pub fn parse(line: &str) -> Result<Command<'_>, ParseError<'_>> {
    let mut words = line.split_ascii_whitespace();
    let Some(word) = words.next() else {
        return Ok(Command::Empty);
    };
    let (name, minimum, maximum): (&'static str, usize, usize) = match word {
        "help" => ("help", 0, 0),
        "tree" => ("tree", 0, 0),
        "show" => ("show", 1, 1),
        "events" => ("events", 0, 0),
        "deferred" => ("deferred", 0, 0),
        "drivers" => ("drivers", 0, 0),
        "bind" => ("bind", 1, 2),
        "unbind" => ("unbind", 1, 1),
        "override" => ("override", 2, 2),
        "delete" => ("delete", 1, 1),
        "add" => ("add", 1, 1),
        "lspci" => ("lspci", 0, 0),
        "claims" => ("claims", 0, 0),
        "counts" => ("counts", 0, 0),
        "suspend" => ("suspend", 0, 0),
        "vkms" => ("vkms", 0, 3),
        "vgem" => ("vgem", 0, 2),
        "shared" => ("shared", 0, 0),
        _ => return Err(ParseError::UnknownCommand { word }),
    };
    let mut arguments: [&str; 3] = [""; 3];
    let mut count = 0;
    for argument in words {
        if count == maximum {
            return Err(ParseError::TooManyArguments {
                command: name,
                extra: argument,
            });
        }
        arguments[count] = argument;
        count += 1;
    }
    if count < minimum {
        return Err(ParseError::MissingArgument {
            command: name,
            usage: usage(name),
        });
    }
    let [first, second, third] = arguments;
    let optional = (count == 2).then_some(second);
    Ok(match name {
        "help" => Command::Help,
        "tree" => Command::Tree,
        "show" => Command::Show { device: first },
        "events" => Command::Events,
        "deferred" => Command::Deferred,
        "drivers" => Command::Drivers,
        "bind" => Command::Bind {
            device: first,
            driver: optional,
        },
        "unbind" => Command::Unbind { device: first },
        "override" => Command::Override {
            device: first,
            driver: (second != "-").then_some(second),
        },
        "delete" => Command::Delete { device: first },
        "add" => Command::Add { device: first },
        "lspci" => Command::Lspci,
        "claims" => Command::Claims,
        "suspend" => Command::Suspend,
        "vkms" => match (count, first) {
            (0, _) => Command::VkmsList,
            (2, "add") => Command::VkmsAdd {
                name: second,
                shared: None,
            },
            (3, "add") => Command::VkmsAdd {
                name: second,
                shared: Some(number(name, third)?),
            },
            (2, "delete") => Command::VkmsDelete { name: second },
            (3, "delete") => {
                return Err(ParseError::TooManyArguments {
                    command: name,
                    extra: third,
                });
            }
            (1, "add" | "delete") => {
                return Err(ParseError::MissingArgument {
                    command: name,
                    usage: usage(name),
                });
            }
            (_, word) => {
                return Err(ParseError::UnknownSubcommand {
                    command: name,
                    word,
                    usage: usage(name),
                });
            }
        },
        "vgem" => match (count, first) {
            (0, _) => Command::VgemList,
            (2, "add") => Command::VgemAdd { name: second },
            (2, "delete") => Command::VgemDelete { name: second },
            (1, "add" | "delete") => {
                return Err(ParseError::MissingArgument {
                    command: name,
                    usage: usage(name),
                });
            }
            (_, word) => {
                return Err(ParseError::UnknownSubcommand {
                    command: name,
                    word,
                    usage: usage(name),
                });
            }
        },
        "shared" => Command::Shared,
        _ => Command::Counts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_into_commands_with_their_arguments() {
        assert_eq!(parse(""), Ok(Command::Empty));
        assert_eq!(parse(" \t "), Ok(Command::Empty));
        assert_eq!(parse("  tree "), Ok(Command::Tree));
        assert_eq!(
            parse("show\tuart16550.0"),
            Ok(Command::Show {
                device: "uart16550.0"
            })
        );
        assert_eq!(
            parse("bind a"),
            Ok(Command::Bind {
                device: "a",
                driver: None
            })
        );
        assert_eq!(
            parse("bind a b"),
            Ok(Command::Bind {
                device: "a",
                driver: Some("b")
            })
        );
        assert_eq!(
            parse("override a -"),
            Ok(Command::Override {
                device: "a",
                driver: None
            })
        );
        assert_eq!(
            parse("override a d"),
            Ok(Command::Override {
                device: "a",
                driver: Some("d")
            })
        );
        assert_eq!(
            parse("add /devices/platform/pit.0"),
            Ok(Command::Add {
                device: "/devices/platform/pit.0"
            })
        );
        assert_eq!(parse("counts"), Ok(Command::Counts));
        assert_eq!(parse("vkms"), Ok(Command::VkmsList));
        assert_eq!(
            parse("vkms add v0"),
            Ok(Command::VkmsAdd {
                name: "v0",
                shared: None
            })
        );
        assert_eq!(
            parse("vkms add v0 0x00500001"),
            Ok(Command::VkmsAdd {
                name: "v0",
                shared: Some(0x0050_0001)
            })
        );
        assert_eq!(
            parse("vkms add v0 17"),
            Ok(Command::VkmsAdd {
                name: "v0",
                shared: Some(17)
            })
        );
        assert_eq!(parse("vgem"), Ok(Command::VgemList));
        assert_eq!(parse("vgem add g0"), Ok(Command::VgemAdd { name: "g0" }));
        assert_eq!(
            parse("vgem delete g0"),
            Ok(Command::VgemDelete { name: "g0" })
        );
        assert_eq!(parse("shared"), Ok(Command::Shared));
        assert_eq!(
            parse("vkms delete v0"),
            Ok(Command::VkmsDelete { name: "v0" })
        );
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        assert_eq!(
            parse("frobnicate"),
            Err(ParseError::UnknownCommand { word: "frobnicate" })
        );
        // Commands are case-sensitive, as in a Unix shell.
        assert_eq!(
            parse("TREE"),
            Err(ParseError::UnknownCommand { word: "TREE" })
        );
        assert!(matches!(
            parse("show"),
            Err(ParseError::MissingArgument {
                command: "show",
                ..
            })
        ));
        assert!(matches!(
            parse("override a"),
            Err(ParseError::MissingArgument {
                command: "override",
                usage: "override DEVICE DRIVER|-"
            })
        ));
        assert_eq!(
            parse("tree x"),
            Err(ParseError::TooManyArguments {
                command: "tree",
                extra: "x"
            })
        );
        assert_eq!(
            parse("bind a b c"),
            Err(ParseError::TooManyArguments {
                command: "bind",
                extra: "c"
            })
        );
        assert!(matches!(
            parse("vkms add"),
            Err(ParseError::MissingArgument {
                command: "vkms",
                ..
            })
        ));
        assert!(matches!(
            parse("vkms show v0"),
            Err(ParseError::UnknownSubcommand {
                command: "vkms",
                word: "show",
                ..
            })
        ));
        assert_eq!(
            parse("vkms add v0 0xzz"),
            Err(ParseError::BadNumber {
                command: "vkms",
                word: "0xzz"
            })
        );
        assert_eq!(
            parse("vkms add v0 -1"),
            Err(ParseError::BadNumber {
                command: "vkms",
                word: "-1"
            })
        );
        assert_eq!(
            parse("vkms delete v0 1"),
            Err(ParseError::TooManyArguments {
                command: "vkms",
                extra: "1"
            })
        );
        assert!(matches!(
            parse("vgem add"),
            Err(ParseError::MissingArgument {
                command: "vgem",
                ..
            })
        ));
        assert_eq!(
            parse("shared x"),
            Err(ParseError::TooManyArguments {
                command: "shared",
                extra: "x"
            })
        );
        assert_eq!(
            ParseError::UnknownCommand { word: "x" }.to_string(),
            "unknown command `x` (try `help`)"
        );
    }

    #[test]
    fn every_listed_command_parses() {
        for (usage, _) in COMMANDS {
            // Optional parts (`[DRIVER]`, `[add|delete NAME]`) left out.
            let line = usage
                .split('[')
                .next()
                .unwrap_or("")
                .replace("DRIVER|-", "-");
            assert!(parse(&line).is_ok(), "`{line}` from `{usage}`");
        }
    }
}
