//! The shell, fed commands as strings: parse, run against the kernel's model, and check
//! the output; bad commands and bad names print an error and change nothing.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use core::sync::atomic::{AtomicBool, Ordering};

use drivermodel::context::Core;
use drivermodel::{Device, Driver, IdEntry};
use kernel::bus::platform::Platform;
use kernel::devices::model;
use kernel::shell::{self, Command, ParseError, Shell, parse};
use kernel::{check, check_eq, kernel_test};

kernel::test_main!();

/// Whether the made-up PIT driver's dependency is "there".
static READY: AtomicBool = AtomicBool::new(false);

/// A PIT driver that defers until `READY`.
struct Pit;

static PIT_TABLE: [IdEntry<&str, ()>; 1] = [IdEntry::new("pit", ())];

impl Driver for Pit {
    type Bus = Platform;
    type IdInfo = ();
    type State = ();

    fn name(&self) -> &str {
        "test_pit"
    }

    fn id_table(&self) -> &[IdEntry<&'static str, ()>] {
        &PIT_TABLE
    }

    fn probe(&self, _device: &Device<Core>, _info: &()) -> drivermodel::Result<()> {
        if READY.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err(drivermodel::Error::defer("waiting for the HPET"))
        }
    }
}

/// Runs one line and returns what it printed.
fn run(line: &str) -> String {
    let mut out = String::new();
    let _ = shell::run_line(model(), line, &mut out);
    out
}

kernel_test! {
    /// Lines parse into commands with their arguments.
    fn parsing() {
        check_eq!(parse(""), Ok(Command::Empty));
        check_eq!(parse("  tree "), Ok(Command::Tree));
        check_eq!(parse("show uart16550.0"), Ok(Command::Show { device: "uart16550.0" }));
        check_eq!(parse("bind a"), Ok(Command::Bind { device: "a", driver: None }));
        check_eq!(parse("bind a b"), Ok(Command::Bind { device: "a", driver: Some("b") }));
        check_eq!(parse("override a -"), Ok(Command::Override { device: "a", driver: None }));
        check_eq!(parse("override a d"), Ok(Command::Override { device: "a", driver: Some("d") }));
        check_eq!(parse("frobnicate"), Err(ParseError::UnknownCommand { word: "frobnicate" }));
        check!(matches!(parse("show"), Err(ParseError::MissingArgument { command: "show", .. })));
        check!(matches!(parse("override a"), Err(ParseError::MissingArgument { command: "override", .. })));
        check_eq!(parse("tree x"), Err(ParseError::TooManyArguments { command: "tree", extra: "x" }));
        check_eq!(parse("bind a b c"), Err(ParseError::TooManyArguments { command: "bind", extra: "c" }));
    }
}

kernel_test! {
    /// The read-only commands describe the model.
    fn read_only_commands() {
        let help = run("help");
        check!(help.contains("unbind DEVICE") && help.contains("lspci"), "{help}");
        let tree = run("tree");
        check!(tree.contains("/devices/platform/uart16550.0 bus=platform driver=uart16550"), "{tree}");
        check!(tree.contains("/bus/pci"), "{tree}");
        let show = run("show uart16550.0");
        check!(show.contains("driver: bound to uart16550"), "{show}");
        check!(show.contains("resource: io 0x3f8..0x400"), "{show}");
        check!(show.contains("resource: irq 4"), "{show}");
        check!(show.contains("description: COM1"), "{show}");
        let by_bus = run("show platform/uart16550.0");
        check_eq!(by_bus, show);
        let by_path = run("show /devices/platform/uart16550.0");
        check_eq!(by_path, show);
        check!(help.contains("/devices/platform/uart16550.0"), "{help}");
        // The RAM disk's faux device describes itself.
        let ram = run("show ram0");
        check!(ram.contains("size: 0x8000") && ram.contains("block-size: 0x200"), "{ram}");
        check!(tree.contains("/devices/faux/ram0 bus=faux driver=faux_driver devres=1 block-size=0x200 size=0x8000"), "{tree}");
        check!(tree.lines().any(|line| line.starts_with("/devices/platform/uart16550.0 bus=platform driver=uart16550 ") && line.contains(" description=\"COM1")), "{tree}");
        let lspci = run("lspci");
        check!(lspci.contains("host bridge") && lspci.contains("ISA bridge") && lspci.contains("1234:1111"), "{lspci}");
        let host = run("show 0000:00:00.0");
        check!(host.contains("pci: 00:00.0 8086:"), "{host}");
        check!(run("events").contains("add /devices/platform/uart16550.0"));
        check!(run("deferred").contains("no deferred devices"));
        check!(run("drivers").contains("platform/uart16550 bound=1"));
        check!(run("claims").contains("I/O ports 0x3f8..0x400 uart16550 uart16550.0"));
        check!(run("counts").starts_with("devices="));
        check_eq!(run("suspend"), "suspended every bound device, then resumed\n");
    }
}

kernel_test! {
    /// Bad commands and bad names print `error: ...` and change nothing (same tree, same
    /// counters, same claims).
    fn bad_commands_change_nothing() {
        let tree = model().tree();
        let counts = model().counts();
        let claims = run("claims");
        for (line, expected) in [
            ("frobnicate", "unknown command"),
            ("show", "missing argument"),
            ("show nosuch", "no device named `nosuch`"),
            ("show /devices/uart16550.0", "no device named `/devices/uart16550.0`"),
            ("unbind /devices/platform/nosuch", "no device named"),
            ("bind nosuch", "no device named"),
            ("bind uart16550.0", "already bound"),
            ("bind pit.0 nosuchdriver", "no driver `nosuchdriver` on bus `platform`"),
            ("unbind pit.0", "not bound"),
            ("unbind nosuch", "no device named"),
            ("unbind faux/none", "no device named"),
            ("override uart16550.0 nosuchdriver", "no driver `nosuchdriver`"),
            ("override nosuch -", "no device named"),
            ("delete 0000:00:00.0", "only platform devices"),
            ("delete nosuch", "no device named"),
            ("add nosuch", "no board device `nosuch`"),
            ("add uart16550.0", "taken"),
            ("tree extra", "unexpected argument"),
        ] {
            let out = run(line);
            check!(out.starts_with("error: ") && out.contains(expected), "`{line}` printed `{out}`");
        }
        check_eq!(model().tree(), tree);
        check_eq!(model().counts(), counts);
        check_eq!(run("claims"), claims);
    }
}

kernel_test! {
    /// The state-changing commands: unbind, override, bind, delete and add, ending where
    /// they started.
    fn changing_commands_round_trip() {
        check_eq!(run("unbind uart16550.0"), "uart16550.0 unbound from uart16550\n");
        check!(run("tree").contains("/devices/platform/uart16550.0 bus=platform driver=- devres=0"));
        check_eq!(run("override uart16550.0 uart16550"), "uart16550.0: driver override uart16550\n");
        check!(run("tree").contains("override=uart16550"));
        check_eq!(run("bind uart16550.0 uart16550"), "uart16550.0 bound to uart16550\n");
        check_eq!(run("override uart16550.0 -"), "uart16550.0: driver override cleared\n");
        check_eq!(run("delete uart16550.0"), "uart16550.0 deleted\n");
        check!(!run("tree").contains("uart16550.0"));
        check_eq!(run("add uart16550.0"), "uart16550.0 added, driver uart16550\n");
        check!(run("tree").contains("/devices/platform/uart16550.0 bus=platform driver=uart16550"));
    }
}

kernel_test! {
    /// Typed bytes: echo, backspace, and enter runs the line then prompts again.
    fn line_editing() {
        let mut shell = Shell::new();
        let mut out = String::new();
        for byte in b"treX\x7fe\r" {
            let _ = shell.feed(model(), *byte, &mut out);
        }
        check!(out.starts_with("treX\x08 \x08e\n/devices/platform "), "{out:?}");
        check!(out.ends_with(shell::PROMPT));
    }
}

kernel_test! {
    /// `deferred` lists a device whose probe said "not yet", with the reason, until a
    /// retry binds it.
    fn deferred_lists_waiting_devices() {
        let driver = model()
            .register_driver(Pit)
            .map_err(|error| kernel::test::Failure::new(format_args!("{error}")))?;
        let listing = run("deferred");
        check!(listing.contains("/devices/platform/pit.0 waiting for the HPET"), "{listing}");
        check!(run("show pit.0").contains("deferred: waiting for the HPET"));
        READY.store(true, Ordering::Relaxed);
        check_eq!(model().retry_deferred(), 1);
        check!(run("deferred").contains("no deferred devices"));
        check!(run("tree").contains("/devices/platform/pit.0 bus=platform driver=test_pit"));
        drop(driver);
        READY.store(false, Ordering::Relaxed);
        check!(run("tree").contains("/devices/platform/pit.0 bus=platform driver=- devres=0 description="));
    }
}
