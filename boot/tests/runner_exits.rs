//! How the runner judges every way a kernel can end, tested with tiny stand-in kernels
//! (a few lines of assembly with a PVH note, assembled with binutils' `as` and `ld`,
//! which every Rust toolchain on Linux links with). They print a fixed serial text and
//! then exit with a status, hang, or triple-fault, so each judgement is checked without
//! depending on the real kernel.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use boot::runner::Exit;
use boot::{Options, TestReport, run_test_elf};

/// How a stand-in kernel ends after printing.
#[derive(Clone, Copy)]
enum End {
    /// Write this value to the debug-exit port (0x10 → status 33, 0x11 → 35, 0x12 → 37).
    Exit(u8),
    /// Halt forever.
    Hang,
    /// Fault with an empty IDT: a triple fault, a reset, and with -no-reboot status 0.
    TripleFault,
}

const LINKER_SCRIPT: &str = "ENTRY(_start)
SECTIONS {
  . = 1M;
  .text : { *(.text) }
  .data : { *(.data) }
  .note.Xen : { *(.note.Xen) }
}
";

/// Builds a stand-in kernel named `name` (in a `deps/` directory, like cargo's test
/// ELFs) that prints `serial` on COM1 and then ends as `end` says.
fn stand_in(dir: &Path, name: &str, serial: &str, end: End) -> PathBuf {
    let mut source = String::from(
        "  .section .note.Xen, \"a\"\n  .align 4\n  .long 4, 8, 18\n  .asciz \"Xen\"\n  .align 4\n  .quad _start\n\
         \n  .text\n  .code32\n  .globl _start\n_start:\n  mov $message, %esi\n  mov $0x3f8, %dx\n\
         1:\n  lodsb\n  test %al, %al\n  jz 2f\n  out %al, %dx\n  jmp 1b\n2:\n",
    );
    match end {
        End::Exit(value) => {
            let _ = write!(
                source,
                "  mov ${value}, %al\n  mov $0xf4, %dx\n  out %al, %dx\n"
            );
        }
        End::Hang => {}
        End::TripleFault => source.push_str("  lidt empty_idt\n  int3\n"),
    }
    source.push_str("3:\n  hlt\n  jmp 3b\n\n  .data\nempty_idt:\n  .word 0\n  .long 0\nmessage:\n");
    for byte in serial.bytes().chain([0]) {
        let _ = writeln!(source, "  .byte {byte}");
    }
    let deps = dir.join("deps");
    fs::create_dir_all(&deps).unwrap();
    let stem = dir.join(name);
    fs::write(stem.with_extension("S"), source).unwrap();
    fs::write(dir.join("link.ld"), LINKER_SCRIPT).unwrap();
    let run = |program: &str, args: &[&std::ffi::OsStr]| {
        let output = Command::new(program)
            .args(args)
            .output()
            .unwrap_or_else(|error| panic!("{program} (binutils) is needed here: {error}"));
        assert!(
            output.status.success(),
            "{program} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let object = stem.with_extension("o");
    let elf = deps.join(format!("{name}-0123456789abcdef"));
    run(
        "as",
        &[
            "--64".as_ref(),
            stem.with_extension("S").as_os_str(),
            "-o".as_ref(),
            object.as_os_str(),
        ],
    );
    run(
        "ld",
        &[
            "-T".as_ref(),
            dir.join("link.ld").as_os_str(),
            "-o".as_ref(),
            elf.as_os_str(),
            object.as_os_str(),
        ],
    );
    elf
}

fn run(name: &str, serial: &str, end: End, timeout: Duration) -> TestReport {
    let dir = tempfile::tempdir().unwrap();
    let elf = stand_in(dir.path(), name, serial, end);
    let options = Options {
        timeout: Some(timeout),
        ..Options::from_env().expect("BOOT_* variables")
    };
    let report = run_test_elf(&elf, &options).expect("running QEMU");
    // Captured: these fail on purpose, so they show only with --nocapture or on error.
    println!("---- stand-in `{name}`\n{}{}", report.log, report.summary());
    assert_eq!(report.name, name);
    report
}

const GOOD: &str =
    "kernel: boot complete\nKTAP version 1\n1..2\nok 1 first\nok 2 second\n# 2 passed, 0 failed\n";
const LONG: Duration = Duration::from_secs(60);

#[test]
fn status_33_and_clean_ktap_pass() {
    let report = run("good", GOOD, End::Exit(0x10), LONG);
    assert_eq!(report.exit, Exit::Status(33));
    assert!(report.passed(), "{}", report.summary());
    assert_eq!(report.ktap.results.len(), 2);
    assert!(
        report.log.starts_with("kernel: boot complete\n"),
        "{}",
        report.log
    );
}

#[test]
fn a_failed_test_fails_even_with_status_33() {
    let serial = "KTAP version 1\n1..2\nok 1 first\nnot ok 2 second # expected 1, got 2\n# 1 passed, 1 failed\n";
    let report = run("lying", serial, End::Exit(0x10), LONG);
    assert!(!report.passed());
    assert_eq!(
        report.failed_tests(),
        [("second".to_owned(), "expected 1, got 2".to_owned())]
    );
}

#[test]
fn status_35_fails_even_with_clean_ktap() {
    let report = run("failure_status", GOOD, End::Exit(0x11), LONG);
    assert_eq!(report.exit, Exit::Status(35));
    assert!(!report.passed());
    assert!(
        report.summary().contains("the kernel reported failure"),
        "{}",
        report.summary()
    );
}

#[test]
fn a_plan_mismatch_fails() {
    let serial = "KTAP version 1\n1..3\nok 1 first\nok 2 second\n# 2 passed, 0 failed\n";
    let report = run("short", serial, End::Exit(0x10), LONG);
    assert!(!report.passed());
    let summary = report.summary();
    assert!(
        summary.contains("the plan `1..3` does not match the 2 results reported"),
        "{summary}"
    );
    assert!(
        summary.contains("test #3 (after `second`) did not finish"),
        "{summary}"
    );
}

#[test]
fn a_triple_fault_fails_with_status_0() {
    let serial = "KTAP version 1\n1..1\nfaulting now\n";
    let report = run("triple_fault", serial, End::TripleFault, LONG);
    assert_eq!(report.exit, Exit::Status(0));
    assert!(!report.passed());
    let summary = report.summary();
    assert!(summary.contains("triple fault"), "{summary}");
    assert!(summary.contains("| faulting now"), "{summary}");
}

/// The hang stand-in's timeout.
const HANG_TIMEOUT: Duration = Duration::from_secs(3);

#[test]
fn a_hang_times_out_with_the_output_so_far() {
    let serial = "KTAP version 1\n1..1\nstuck in test 1\n";
    // Long enough for QEMU and the firmware to reach the stand-in's output on a loaded
    // host (1 s was not: the output was sometimes still empty).
    let report = run("hang", serial, End::Hang, HANG_TIMEOUT);
    assert_eq!(report.exit, Exit::TimedOut(HANG_TIMEOUT));
    assert!(!report.passed());
    let summary = report.summary();
    assert!(
        summary.contains("QEMU was stopped after the 3s timeout"),
        "{summary}"
    );
    assert!(summary.contains("| stuck in test 1"), "{summary}");
}

/// Status 37 asks for a restart after a test that ended the boot; without a new result
/// the runner does not boot again (it would never end).
#[test]
fn a_restart_without_a_new_result_stops() {
    let serial = "KTAP version 1\n1..2\ncrashing in test 1\n";
    let report = run("restart_no_result", serial, End::Exit(0x12), LONG);
    assert_eq!(report.exit, Exit::Status(37));
    assert_eq!(report.boots, 1);
    assert!(!report.passed());
    let summary = report.summary();
    assert!(summary.contains("booted again"), "{summary}");
    assert!(summary.contains("test #1 did not finish"), "{summary}");
}

/// A restarted boot that does not say `# continuing at test N` (here: the same output
/// again) is not taken as a continuation: its output is shown, and the run stops there.
#[test]
fn a_restart_that_does_not_continue_stops() {
    let serial = "KTAP version 1\n1..2\nok 1 first\n";
    let report = run("restart_no_marker", serial, End::Exit(0x12), LONG);
    assert_eq!(report.boots, 2, "{}", report.summary());
    assert_eq!(report.exit, Exit::Status(37));
    assert!(!report.passed());
    assert!(
        report.log.contains("---- boot 2: test_resume=2,1,0\n"),
        "{}",
        report.log
    );
    let summary = report.summary();
    assert!(
        summary.contains("KTAP: a second `KTAP version 1` line"),
        "{summary}"
    );
}

/// `boot --kernel ELF` (the interactive path, here without a terminal): the kernel's
/// status decides the exit code, and `--timeout` stops a hung kernel.
#[test]
fn the_boot_command_maps_exit_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("boots", End::Exit(0x10), Some(0), ""),
        (
            "fails",
            End::Exit(0x11),
            Some(1),
            "error: QEMU exited with status 35",
        ),
        ("resets", End::TripleFault, Some(1), "triple fault"),
        (
            "hangs",
            End::Hang,
            Some(1),
            "error: QEMU was stopped after the 1s timeout",
        ),
    ];
    for (name, end, code, message) in cases {
        let elf = stand_in(dir.path(), name, "kernel: boot complete\n", end);
        let output = Command::new(env!("CARGO_BIN_EXE_boot"))
            .arg("--kernel")
            .arg(&elf)
            .args(["--headless", "--timeout", "1"])
            .output()
            .expect("running boot");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), code, "{name}: {stderr}");
        assert!(stderr.contains(message), "{name}: {stderr}");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "kernel: boot complete\n",
            "{name}"
        );
    }
}

/// On a terminal (a pseudo-terminal made by util-linux `script`), the serial console
/// is interactive through `-serial mon:stdio`: typing Ctrl-A X quits QEMU, which is a
/// normal end of an interactive session (exit 0).
#[test]
fn ctrl_a_x_quits_an_interactive_boot() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let elf = stand_in(dir.path(), "console", "kernel: boot complete\n", End::Hang);
    let command = format!(
        "'{}' --kernel '{}' --headless --timeout 30",
        env!("CARGO_BIN_EXE_boot"),
        elf.display()
    );
    let mut script = match Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(script) => script,
        Err(error) => panic!("`script` (util-linux) is needed for this test: {error}"),
    };
    let mut output = BufReader::new(script.stdout.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("kernel: boot complete") {
        let mut line = String::new();
        if output.read_line(&mut line).unwrap() == 0 {
            break;
        }
        seen.push_str(&line);
    }
    assert!(seen.contains("kernel: boot complete"), "{seen}");
    script.stdin.as_mut().unwrap().write_all(b"\x01x").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut output, &mut rest).unwrap();
    seen.push_str(&rest);
    let status = script.wait().unwrap();
    println!("---- interactive session\n{seen}");
    assert!(seen.contains("Ctrl-A X quits QEMU"), "{seen}");
    assert_eq!(status.code(), Some(0), "{seen}");
}
