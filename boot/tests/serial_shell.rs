//! Scripted serial sessions: boot the kernel binary, type into its serial port as a
//! person (or a paste) would, and read the answers. They check the shell's promise end
//! to end, through the UART's receive interrupt, the console's input ring and its flow
//! control: a line runs exactly as typed or is refused at Enter with the reason. One
//! session injects NMIs over QMP and checks that each is reported and the shell goes on.
//!
//! The kernel boots without a display adapter (`-vga none`), so that the display
//! console's drawing does not set the pace of a 300-command paste.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use boot::build;
use boot::qemu::{Arch, Display, DisplayDevice, Invocation, Serial};
use boot::{Options, accel, prereq, qmp};

/// The prompt the shell prints after every line.
const PROMPT: &str = "devices> ";
/// How long one step may take (TCG on a loaded machine is slow).
const STEP: Duration = Duration::from_secs(60);

/// The kernel binary, built once for this test file.
fn kernel() -> &'static Path {
    static KERNEL: OnceLock<PathBuf> = OnceLock::new();
    KERNEL.get_or_init(|| {
        if let Err(error) = prereq::check_kernel_target(Arch::X86_64) {
            panic!("{error}");
        }
        build::Request {
            cargo: Some(env!("CARGO").into()),
            manifest_path: Some(common::workspace_manifest()),
            quiet: true,
            ..build::Request::default()
        }
        .kernel()
        .unwrap_or_else(|error| panic!("building the kernel failed: {error}"))
    })
}

/// A booted kernel whose serial port we type into and read.
struct Guest {
    child: Child,
    input: ChildStdin,
    output: Arc<Mutex<Vec<u8>>>,
    /// Where the next [`Guest::expect`] starts looking.
    seen: usize,
    /// Holds the QMP socket's directory while QEMU runs.
    _directory: tempfile::TempDir,
    qmp: Option<qmp::Client>,
}

impl Guest {
    /// Boots the kernel (with a QMP socket when `with_qmp`) and waits for the first
    /// prompt.
    fn boot(with_qmp: bool) -> Self {
        let options = Options::from_env().expect("BOOT_* variables");
        let directory = tempfile::tempdir().expect("a temporary directory");
        let socket = directory.path().join("qmp.sock");
        let invocation = Invocation {
            program: prereq::find_qemu_in_env(Arch::X86_64, options.qemu.as_deref()).expect("QEMU"),
            arch: Arch::X86_64,
            kernel: kernel().to_path_buf(),
            append: "devices=none".to_owned(),
            machine: options.machine,
            bios: options.bios,
            accel: accel::detect(options.accel).expect("an accelerator"),
            memory: options.memory.clone(),
            smp: options.smp,
            display: Display::Headless,
            display_device: DisplayDevice::None,
            serial: Serial::Stdio,
            qmp_socket: with_qmp.then(|| socket.clone()),
            gdb: false,
        };
        let mut child = Command::new(&invocation.program)
            .args(invocation.args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting QEMU");
        let input = child.stdin.take().expect("QEMU's stdin");
        let mut stdout = child.stdout.take().expect("QEMU's stdout");
        let output = Arc::new(Mutex::new(Vec::new()));
        let sink = output.clone();
        thread::spawn(move || {
            let mut buffer = [0; 4096];
            while let Ok(count @ 1..) = stdout.read(&mut buffer) {
                sink.lock().unwrap().extend_from_slice(&buffer[..count]);
            }
        });
        let qmp = with_qmp.then(|| qmp::Client::connect(&socket, STEP).expect("QMP"));
        let mut guest = Self {
            child,
            input,
            output,
            seen: 0,
            _directory: directory,
            qmp,
        };
        guest.expect(PROMPT);
        guest
    }

    /// Everything printed since the last expectation.
    fn fresh(&self) -> String {
        let output = self.output.lock().unwrap();
        String::from_utf8_lossy(&output[self.seen.min(output.len())..]).into_owned()
    }

    /// Waits until `needle` has been printed `count` times since the last expectation,
    /// then returns that output and moves past it.
    fn expect_count(&mut self, needle: &str, count: usize) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            let fresh = self.fresh();
            if let Some((end, _)) = fresh.match_indices(needle).nth(count - 1) {
                let taken = &fresh[..end + needle.len()];
                self.seen += taken.len();
                return taken.to_owned();
            }
            if Instant::now() > deadline || matches!(self.child.try_wait(), Ok(Some(_))) {
                let all = String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned();
                panic!("no {count} x {needle:?} on the serial port; it printed:\n{all}");
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn expect(&mut self, needle: &str) -> String {
        self.expect_count(needle, 1)
    }

    /// Types `bytes` (all at once, as a paste arrives).
    fn send(&mut self, bytes: &[u8]) {
        self.input
            .write_all(bytes)
            .expect("writing to the serial port");
        self.input.flush().expect("flushing the serial port");
    }

    /// Types a line and returns what it printed up to the next prompt.
    fn line(&mut self, bytes: &[u8]) -> String {
        self.send(bytes);
        self.expect(PROMPT)
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn typed_lines_run_exactly_as_typed_or_are_refused() {
    let mut guest = Guest::boot(false);
    let refused = guest.line("delete pité.0\r".as_bytes());
    assert!(
        refused.contains("error: invalid byte 0xc3 at column 11"),
        "{refused:?}"
    );
    let show = guest.line(b"show pit.0\r");
    assert!(
        show.contains("/devices/platform/pit.0"),
        "pit.0 is still there: {show:?}"
    );
    // Arrow keys are consumed whole: no `[D` reaches the parser.
    let arrows = guest.line(b"\x1b[D\x1b[Ccounts\x1b[D\r");
    assert!(
        arrows.contains("devices=") && !arrows.contains("error"),
        "{arrows:?}"
    );
    let long = guest.line(&[b"show ".repeat(40).as_slice(), b"\r"].concat());
    assert!(
        long.contains("error: line too long (200 bytes, at most 128)"),
        "{long:?}"
    );
    let added = guest.line(b"delete pit.0\radd /devices/platform/pit.0\r");
    assert!(added.contains("pit.0 deleted"), "{added:?}");
    let added = guest.expect(PROMPT);
    assert!(added.contains("pit.0 added"), "{added:?}");
}

#[test]
fn a_paste_of_300_commands_is_answered_one_by_one() {
    let mut guest = Guest::boot(false);
    let commands = 300;
    guest.send("counts\r".repeat(commands).as_bytes());
    let answers = guest.expect_count(PROMPT, commands);
    assert_eq!(answers.matches(" registered=").count(), commands);
    assert_eq!(answers.matches("console input:").count(), commands);
    assert!(!answers.contains("error"), "{answers}");
    let counts = guest.line(b"counts\r");
    let summary = counts
        .lines()
        .find(|line| line.starts_with("console input:"))
        .unwrap_or_default();
    println!("after a paste of {commands} commands: {summary}");
    assert!(summary.contains(" dropped=0 "), "{counts}");
}

#[test]
fn an_nmi_is_reported_and_the_kernel_continues() {
    let mut guest = Guest::boot(true);
    // One at a time: a pending NMI is a flag in the CPU, so two injected before the
    // first is taken would be one.
    for number in 1..=2 {
        let qmp = guest.qmp.as_mut().expect("a QMP connection");
        qmp.execute("inject-nmi", None).expect("inject-nmi");
        let reported = guest.expect("; continuing");
        assert!(
            reported.contains(&format!("kernel: NMI #{number} at rip ")),
            "{reported}"
        );
    }
    let counts = guest.line(b"counts\r");
    assert!(counts.contains("nmis=2"), "{counts}");
}
