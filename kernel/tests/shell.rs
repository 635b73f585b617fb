//! The shell, fed commands as strings and typed bytes: run against the kernel's model,
//! and check the output; bad commands, bad names and refused lines print an error and
//! change nothing. (The parser and the line editor are host-tested in `kernel-core`.)

#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

use kernel::console;
use kernel::devices::model;
use kernel::shell::{self, Input, Shell};
use kernel::test::support::run_shell;
use kernel::{check, check_eq, kernel_test};

kernel::test_main!();

// The PC board's devices (COM1, the PIT) are what the x86_64-only tests use.
kernel::only_on!(x86_64, {
    use core::sync::atomic::{AtomicBool, Ordering};

    use drivermodel::context::Core;
    use drivermodel::{Device, Driver, IdEntry};
    use kernel::bus::platform::Platform;
});

kernel::only_on!(x86_64, {
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
});

kernel_test! {
    /// The read-only commands describe the model.
    #[only_on(x86_64)]
    fn read_only_commands() {
        let help = run_shell("help");
        check!(help.contains("unbind DEVICE") && help.contains("lspci"), "{help}");
        let tree = run_shell("tree");
        check!(tree.contains("/devices/platform/uart16550.0 bus=platform driver=uart16550"), "{tree}");
        check!(tree.contains("/bus/pci"), "{tree}");
        let show = run_shell("show uart16550.0");
        check!(show.contains("driver: bound to uart16550"), "{show}");
        check!(show.contains("resource: io 0x3f8..0x400"), "{show}");
        check!(show.contains("resource: irq 4"), "{show}");
        check!(show.contains("description: COM1"), "{show}");
        let by_bus = run_shell("show platform/uart16550.0");
        check_eq!(by_bus, show);
        let by_path = run_shell("show /devices/platform/uart16550.0");
        check_eq!(by_path, show);
        check!(help.contains("/devices/platform/uart16550.0"), "{help}");
        // The RAM disk's faux device describes itself.
        let ram = run_shell("show ram0");
        check!(ram.contains("size: 0x8000") && ram.contains("block-size: 0x200"), "{ram}");
        check!(tree.contains("/devices/faux/ram0 bus=faux driver=faux_driver devres=1 block-size=0x200 size=0x8000"), "{tree}");
        check!(tree.lines().any(|line| line.starts_with("/devices/platform/uart16550.0 bus=platform driver=uart16550 ") && line.contains(" description=\"COM1")), "{tree}");
        let lspci = run_shell("lspci");
        check!(lspci.contains("host bridge") && lspci.contains("ISA bridge") && lspci.contains("1234:1111"), "{lspci}");
        let host = run_shell("show 0000:00:00.0");
        check!(host.contains("pci: 00:00.0 8086:"), "{host}");
        check!(run_shell("events").contains("add /devices/platform/uart16550.0"));
        check!(run_shell("deferred").contains("no deferred devices"));
        check!(run_shell("drivers").contains("platform/uart16550 bound=1"));
        check!(run_shell("claims").contains("I/O ports 0x3f8..0x400 uart16550 uart16550.0"));
        check!(run_shell("counts").starts_with("devices="));
        check_eq!(run_shell("suspend"), "suspended every bound device, then resumed\n");
    }
}

kernel_test! {
    /// Bad commands and bad names print `error: ...` and change nothing (same tree, same
    /// counters, same claims).
    #[only_on(x86_64)]
    fn bad_commands_change_nothing() {
        let tree = model().tree();
        let counts = model().counts();
        let claims = run_shell("claims");
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
            let out = run_shell(line);
            check!(out.starts_with("error: ") && out.contains(expected), "`{line}` printed `{out}`");
        }
        check_eq!(model().tree(), tree);
        check_eq!(model().counts(), counts);
        check_eq!(run_shell("claims"), claims);
    }
}

kernel_test! {
    /// The state-changing commands: unbind, override, bind, delete and add, ending where
    /// they started.
    #[only_on(x86_64)]
    fn changing_commands_round_trip() {
        check_eq!(run_shell("unbind uart16550.0"), "uart16550.0 unbound from uart16550\n");
        check!(run_shell("tree").contains("/devices/platform/uart16550.0 bus=platform driver=- devres=0"));
        check_eq!(run_shell("override uart16550.0 uart16550"), "uart16550.0: driver override uart16550\n");
        check!(run_shell("tree").contains("override=uart16550"));
        check_eq!(run_shell("bind uart16550.0 uart16550"), "uart16550.0 bound to uart16550\n");
        check_eq!(run_shell("override uart16550.0 -"), "uart16550.0: driver override cleared\n");
        check_eq!(run_shell("delete uart16550.0"), "uart16550.0 deleted\n");
        check!(!run_shell("tree").contains("uart16550.0"));
        check_eq!(run_shell("add uart16550.0"), "uart16550.0 added, driver uart16550\n");
        check!(run_shell("tree").contains("/devices/platform/uart16550.0 bus=platform driver=uart16550"));
    }
}

kernel_test! {
    /// Typed bytes: echo, backspace, and enter runs the line then prompts again.
    fn line_editing() {
        let mut shell = Shell::new();
        let mut out = String::new();
        for byte in b"treX\x7fe\r" {
            let _ = shell.feed(model(), Input::Byte(*byte), &mut out);
        }
        check!(out.starts_with("treX\x08 \x08e\n/devices/platform "), "{out:?}");
        check!(out.ends_with(shell::PROMPT));
    }
}

/// Types `bytes` into a new shell and returns what it printed.
fn type_line(bytes: &[u8]) -> String {
    let mut shell = Shell::new();
    let mut out = String::new();
    for byte in bytes {
        let _ = shell.feed(model(), Input::Byte(*byte), &mut out);
    }
    out
}

kernel_test! {
    /// A byte the line cannot hold refuses the whole line: `delete pité.0` deletes
    /// nothing (it once deleted `pit.0`); a too-long line is refused, not cut; an arrow
    /// key is consumed whole.
    fn refused_lines_change_nothing() {
        let tree = model().tree();
        let out = type_line("delete pité.0\r".as_bytes());
        check!(out.contains("error: invalid byte 0xc3 at column 11"), "{out:?}");
        check!(out.ends_with(shell::PROMPT));
        let out = type_line(b"delete pit.0\x00\r");
        check!(out.contains("error: invalid byte 0x00 at column 13"), "{out:?}");
        let mut long = Vec::from(&b"delete pit.0 "[..]);
        long.resize(shell::LINE_CAPACITY + 1, b'x');
        long.push(b'\r');
        let out = type_line(&long);
        check!(out.contains("error: line too long (129 bytes, at most 128)"), "{out:?}");
        let out = type_line(b"\x1b[Acounts\x1b[D\r");
        check!(out.contains("devices=") && !out.contains("error"), "{out:?}");
        check_eq!(model().tree(), tree);
    }
}

kernel_test! {
    /// More typed bytes than the console's input ring holds: every complete line before
    /// the loss runs, the line the loss fell in is refused, and `counts` shows the drop.
    fn a_ring_overflow_refuses_the_line_it_hit() {
        while console::read_queued_input().is_some() {}
        let before = console::input_statistics();
        let line = b"counts\n";
        let lines = console::INPUT_CAPACITY / line.len() + 50;
        for _ in 0..lines {
            for &byte in line {
                console::push_input(byte);
            }
        }
        let mut shell = Shell::new();
        let mut out = String::new();
        while let Some(input) = console::read_queued_input() {
            let _ = shell.feed(model(), input, &mut out);
        }
        // The line after the mark: the rest of a paste that lost its middle.
        for &byte in b"ts\n" {
            let _ = shell.feed(model(), Input::Byte(byte), &mut out);
        }
        let answers = out.matches("console input:").count();
        check_eq!(answers, (console::INPUT_CAPACITY - 1) / line.len());
        check!(out.matches("error: receive overflow").count() == 1, "{out}");
        check!(!out.contains("unknown command"), "{out}");
        let dropped = (lines * line.len() - (console::INPUT_CAPACITY - 1)) as u64;
        check_eq!(console::input_statistics().dropped - before.dropped, dropped);
        let counts = run_shell("counts");
        check!(counts.contains(&alloc::format!("dropped={}", before.dropped + dropped)), "{counts}");
    }
}

kernel_test! {
    /// `add` takes every device-name form `show` does.
    #[only_on(x86_64)]
    fn add_accepts_every_name_form() {
        for name in ["pit.0", "platform/pit.0", "/devices/platform/pit.0"] {
            check_eq!(run_shell("delete pit.0"), "pit.0 deleted\n");
            let out = run_shell(&alloc::format!("add {name}"));
            check!(out.starts_with("pit.0 added"), "`add {name}`: {out}");
        }
        let out = run_shell("add pci/pit.0");
        check!(out.starts_with("error: `pci/pit.0` is not a platform device name"), "{out}");
    }
}

kernel_test! {
    /// `deferred` lists a device whose probe said "not yet", with the reason, until a
    /// retry binds it.
    #[only_on(x86_64)]
    fn deferred_lists_waiting_devices() {
        let driver = model()
            .register_driver(Pit)
            .map_err(|error| kernel::test::Failure::new(format_args!("{error}")))?;
        let listing = run_shell("deferred");
        check!(listing.contains("/devices/platform/pit.0 waiting for the HPET"), "{listing}");
        check!(run_shell("show pit.0").contains("deferred: waiting for the HPET"));
        READY.store(true, Ordering::Relaxed);
        check_eq!(model().retry_deferred(), 1);
        check!(run_shell("deferred").contains("no deferred devices"));
        check!(run_shell("tree").contains("/devices/platform/pit.0 bus=platform driver=test_pit"));
        drop(driver);
        READY.store(false, Ordering::Relaxed);
        check!(run_shell("tree").contains("/devices/platform/pit.0 bus=platform driver=- devres=0 description="));
    }
}

kernel_test! {
    /// With the heap exhausted, a command is refused with `error: out of memory`
    /// instead of failing an allocation and ending the kernel; once memory is back,
    /// commands run again.
    fn an_exhausted_heap_refuses_commands() {
        // Room for every answer before the heap goes.
        let mut out = String::with_capacity(4096);
        let mut blocks: [Option<Vec<u8>>; 64] = core::array::from_fn(|_| None);
        let mut size = kernel::arch::heap::size_bytes();
        let mut taken = 0;
        while taken < blocks.len() && size >= 1024 {
            let mut block = Vec::new();
            if block.try_reserve_exact(size).is_ok() {
                blocks[taken] = Some(block);
                taken += 1;
            } else {
                size /= 2;
            }
        }
        let free = kernel::arch::heap::size_bytes() - kernel::arch::heap::used_bytes();
        for line in ["counts", "tree", "show uart16550.0", "add /devices/platform/nosuch"] {
            let _ = shell::run_line(model(), line, &mut out);
        }
        drop(blocks);
        check!(free < shell::HEAP_RESERVE, "{free} bytes left free");
        check!(out.matches("error: out of memory").count() == 4, "{out}");
        check!(run_shell("counts").contains("console input:"));
    }
}

kernel_test! {
    /// `vgem add`, `vkms add NAME SHARED`, `shared` and the deletes: the shared buffer's
    /// references and its exporter's state can be watched while either side goes, and
    /// a bad shared-buffer ID is refused.
    fn vgem_and_shared_commands_show_lifetimes() {
        check_eq!(run_shell("shared"), "no shared buffers (`vgem add NAME` exports one)\n");
        check_eq!(run_shell("vgem"), "no vgem devices (`vgem add NAME` makes one)\n");
        let added = run_shell("vgem add g0");
        check!(added.starts_with("g0: card"), "{added}");
        let id = match kernel::demo::vgem_devices().unwrap_or_default().first() {
            Some(device) => device.shared,
            None => kernel::fail!("`vgem add` left no device: {added}"),
        };
        check!(added.contains(&alloc::format!("shared buffer {id:#010x}")), "{added}");
        check!(run_shell("vgem").contains("g0: card"));
        let listed = run_shell("shared");
        check!(listed.contains("64x48 pitch 256, exported by card"), "{listed}");
        check!(listed.contains("(vgem), 1 references"), "{listed}");
        let shown = run_shell(&alloc::format!("vkms add v0 {id:#x}"));
        check!(shown.contains("(expected") && shown.contains(": match)"), "{shown}");
        // The handle, the vkms framebuffer and its mapping.
        check!(run_shell("shared").contains("(vgem), 3 references"));
        let deleted = run_shell("vgem delete g0");
        check!(deleted.starts_with("g0 deleted;") && deleted.contains("shared buffers 1"), "{deleted}");
        let listed = run_shell("shared");
        check!(listed.contains("(vgem, unplugged), 2 references"), "{listed}");
        check_eq!(run_shell("vgem delete g0"), "error: no vgem device `g0` (see `vgem`)\n");
        let refused = run_shell("vkms add v1 0x7fffffff");
        check!(refused.starts_with("error: "), "{refused}");
        check!(!run_shell("vkms").contains("v1"));
        check!(run_shell("vkms delete v0").starts_with("v0 deleted;"));
        check_eq!(run_shell("shared"), "no shared buffers (`vgem add NAME` exports one)\n");
        check_eq!(kernel::drm::counts().shared_buffers, 0);
    }
}
