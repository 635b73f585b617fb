//! Booting kernels: a test ELF judged by its exit status and KTAP, or an interactive boot.
//!
//! A kernel test passes only when all three agree: QEMU exited with
//! [`qemu::EXIT_SUCCESS`] (the kernel wrote `0x10` to the debug-exit port), the KTAP
//! output parsed without a [`ktap::Problem`], and no test reported `not ok`. Anything
//! else (status 35, a triple fault's status 0, a timeout, a plan the output did not
//! keep) fails, and [`TestReport::summary`] names every failed test with its reason.
//!
//! A test that panics or faults ends its boot: the kernel prints that test's result and
//! exits with [`qemu::EXIT_CONTINUE`] when tests remain. The runner then boots the kernel
//! again with [`RESUME_OPTION`]`=NEXT,PASSED,FAILED` ([`Resume`]), and the new boot prints
//! [`CONTINUING`] instead of the header and plan, then the results from `NEXT` on. The
//! runner joins the boots into one KTAP document: the first boot's output, then each
//! later boot's output after its `CONTINUING` line (all of every boot stays in
//! [`TestReport::log`]). Boots are added only when a test ended one, and only while each
//! adds a result, so a run takes one boot plus one per boot-ending test that is not the
//! last.
//!
//! A test that never ends its boot itself is ended by the runner: when no test result
//! arrives within the timeout (which starts again at every result), the runner stops
//! QEMU (a hang); when QEMU exits with status 0 the machine reset (`-no-reboot`: on x86 a
//! triple fault). If the boot had reached its tests, the runner boots again with
//! [`RESUME_OPTION`] at the unfinished test and [`LOST_OPTION`] saying how it ended; that
//! boot reports the test as failed with the reason and goes on after it.
//!
//! An interactive boot ([`boot`]) puts the serial port on our stdio: when stdin is a
//! terminal, keystrokes reach the guest through `-serial mon:stdio` (Ctrl-A X quits).
//! With a screenshot requested, it waits for the line starting with
//! [`BOOT_COMPLETE`], asks QEMU for a PNG over QMP and quits QEMU.

use std::env;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use clap::ValueEnum;

use crate::accel;
use crate::error::{Error, Result};
use crate::ktap;
use crate::prereq;
use crate::qemu::{self, Arch, Bios, Display, DisplayDevice, Invocation, Machine, Serial};
use crate::qmp;
use crate::session::{Event, Session, Wiring};

/// The serial line (prefix) that marks the end of the kernel's boot.
pub const BOOT_COMPLETE: &str = "kernel: boot complete";
/// The default timeout of a kernel test: generous, as TCG is slow on a loaded machine.
pub const DEFAULT_TEST_TIMEOUT: Duration = Duration::from_secs(120);
/// The kernel command-line flag that makes the kernel exit QEMU after booting.
pub const EXIT_FLAG: &str = "exit";
/// The kernel command-line option that makes a test kernel go on from a given test.
pub const RESUME_OPTION: &str = "test_resume";
/// The kernel command-line option that says how the boot before lost its test.
pub const LOST_OPTION: &str = "test_lost";
/// How a restarted test kernel's KTAP goes on (its diagnostic line starts with this).
pub const CONTINUING: &str = "# continuing at test ";

/// Where a restarted test kernel goes on, and the counts of the boots before:
/// [`RESUME_OPTION`]`=NEXT,PASSED,FAILED` on its command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resume {
    /// The 1-based number of the first test to run.
    pub next: usize,
    /// Tests that passed so far (skips included, as the kernel counts them).
    pub passed: usize,
    /// Tests that failed so far.
    pub failed: usize,
}

impl Resume {
    /// The resume point after the results `document` holds so far.
    #[must_use]
    pub fn after(document: &ktap::Document) -> Self {
        let counted = document.counted();
        Self {
            next: document.results.len() + 1,
            passed: counted.passed + counted.skipped.unwrap_or(0),
            failed: counted.failed,
        }
    }

    /// The kernel command-line word.
    #[must_use]
    pub fn option(&self) -> String {
        format!(
            "{RESUME_OPTION}={},{},{}",
            self.next, self.passed, self.failed
        )
    }

    /// The part of a restarted boot's serial output that continues the KTAP document:
    /// the lines after its `CONTINUING` line for this resume point; `None` when there is
    /// no such line (the boot failed before reaching the tests, or is not a restarted
    /// test kernel).
    #[must_use]
    pub fn continuation<'a>(&self, serial: &'a str) -> Option<&'a str> {
        let marker = format!("{CONTINUING}{} ", self.next);
        let mut offset = 0;
        for line in serial.split_inclusive('\n') {
            offset += line.len();
            if line.starts_with(&marker) {
                return Some(&serial[offset..]);
            }
        }
        None
    }
}

/// How to start QEMU, shared by test runs and interactive boots.
#[derive(Clone, Debug)]
pub struct Options {
    /// The architecture (`BOOT_ARCH`), for builds; a booted ELF's own header decides
    /// which QEMU runs it.
    pub arch: Arch,
    /// The machine (`BOOT_MACHINE`; x86_64 only).
    pub machine: Machine,
    /// The firmware (`BOOT_BIOS`; x86_64 only).
    pub bios: Bios,
    /// The accelerator request (`BOOT_ACCEL`).
    pub accel: accel::Request,
    /// Guest memory in QEMU's syntax.
    pub memory: String,
    /// Virtual CPUs (`BOOT_SMP`), 1 to [`MAX_SMP`].
    pub smp: u32,
    /// The display adapter.
    pub display_device: DisplayDevice,
    /// An explicit QEMU binary (`BOOT_QEMU`); `None` searches `PATH`.
    pub qemu: Option<PathBuf>,
    /// Stop QEMU after this long (`BOOT_TIMEOUT`, seconds): for a kernel test, this long
    /// without a test result (the test fails and the run goes on); for an interactive
    /// boot, this long in total.
    pub timeout: Option<Duration>,
    /// The kernel command line.
    pub append: String,
    /// Copy the serial output to stdout as it arrives.
    pub echo: bool,
    /// Print the QEMU command line on stderr before starting it (`BOOT_VERBOSE`).
    pub verbose: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            arch: Arch::default(),
            machine: Machine::default(),
            bios: Bios::default(),
            accel: accel::Request::default(),
            memory: qemu::DEFAULT_MEMORY.into(),
            smp: 1,
            display_device: DisplayDevice::default(),
            qemu: None,
            timeout: Some(DEFAULT_TEST_TIMEOUT),
            append: String::new(),
            echo: false,
            verbose: false,
        }
    }
}

impl Options {
    /// The defaults, overridden by the environment variables `BOOT_ARCH`
    /// (`x86_64`/`riscv64`), `BOOT_MACHINE`
    /// (`q35`/`pc`), `BOOT_BIOS` (`seabios`/`qboot`), `BOOT_ACCEL`
    /// (`auto`/`tcg`/`kvm`), `BOOT_DISPLAY_DEVICE` (`std`/`bochs-display`/`none`),
    /// `BOOT_MEMORY` (`256M`), `BOOT_SMP` (virtual CPUs), `BOOT_QEMU` (a path) and
    /// `BOOT_TIMEOUT` (seconds), the same variables the command line reads.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] when a variable holds a value that is not allowed.
    pub fn from_env() -> Result<Self> {
        let mut options = Self::default();
        if let Some(arch) = env_value("BOOT_ARCH")? {
            options.arch = arch;
        }
        if let Some(machine) = env_value("BOOT_MACHINE")? {
            options.machine = machine;
        }
        if let Some(bios) = env_value("BOOT_BIOS")? {
            options.bios = bios;
        }
        if let Some(accel) = env_value("BOOT_ACCEL")? {
            options.accel = accel;
        }
        if let Some(display_device) = env_value("BOOT_DISPLAY_DEVICE")? {
            options.display_device = display_device;
        }
        if let Ok(memory) = env::var("BOOT_MEMORY") {
            qemu::validate_memory(&memory)?;
            options.memory = memory;
        }
        if let Ok(value) = env::var("BOOT_SMP")
            && !value.is_empty()
        {
            options.smp = parse_smp("BOOT_SMP", &value)?;
        }
        if let Some(qemu) = env::var_os("BOOT_QEMU").filter(|value| !value.is_empty()) {
            options.qemu = Some(qemu.into());
        }
        options.verbose = env::var("BOOT_VERBOSE")
            .is_ok_and(|value| !matches!(value.as_str(), "" | "0" | "false" | "no" | "off"));
        if let Ok(value) = env::var("BOOT_TIMEOUT") {
            options.timeout = Some(parse_timeout("BOOT_TIMEOUT", &value)?);
        }
        Ok(options)
    }
}

fn env_value<T: ValueEnum>(name: &'static str) -> Result<Option<T>> {
    match env::var(name) {
        Ok(value) if !value.is_empty() => {
            T::from_str(&value, true)
                .map(Some)
                .map_err(|_| Error::InvalidOption {
                    option: name,
                    value,
                    reason: "not one of the allowed values (see boot --help)",
                })
        }
        _ => Ok(None),
    }
}

/// The most virtual CPUs `--smp` takes (the kernel runs at most 16).
pub const MAX_SMP: u32 = 16;

/// Parses a virtual CPU count: 1 to [`MAX_SMP`].
///
/// # Errors
///
/// [`Error::InvalidOption`] otherwise.
pub fn parse_smp(option: &'static str, value: &str) -> Result<u32> {
    value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|count| (1..=MAX_SMP).contains(count))
        .ok_or_else(|| Error::InvalidOption {
            option,
            value: value.to_owned(),
            reason: "expected a CPU count from 1 to 16",
        })
}

/// Parses a timeout in (possibly fractional) seconds.
///
/// # Errors
///
/// [`Error::InvalidOption`] unless the value is a positive number of seconds.
pub fn parse_timeout(option: &'static str, value: &str) -> Result<Duration> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|seconds| seconds.is_finite() && *seconds > 0.0)
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .ok_or_else(|| Error::InvalidOption {
            option,
            value: value.to_owned(),
            reason: "expected a positive number of seconds",
        })
}

/// How QEMU ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this status.
    Status(i32),
    /// A signal killed it.
    Signal,
    /// It ran past the timeout and was stopped.
    TimedOut(Duration),
}

impl Exit {
    fn from_status(status: ExitStatus) -> Self {
        status.code().map_or(Self::Signal, Self::Status)
    }

    /// A human description.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Status(code) => qemu::describe_exit(Some(*code)),
            Self::Signal => qemu::describe_exit(None),
            Self::TimedOut(timeout) => {
                format!("was stopped after the {}s timeout", timeout.as_secs_f64())
            }
        }
    }
}

/// The outcome of one kernel test ELF.
#[derive(Clone, Debug)]
pub struct TestReport {
    /// The ELF.
    pub elf: PathBuf,
    /// The test file's name (the ELF name without cargo's hash).
    pub name: String,
    /// The architecture it ran on.
    pub arch: Arch,
    /// The machine it ran on (x86_64).
    pub machine: Machine,
    /// The firmware it ran with.
    pub bios: Bios,
    /// How QEMU ended.
    pub exit: Exit,
    /// The KTAP read from the serial output.
    pub ktap: ktap::Document,
    /// The whole serial output.
    pub log: String,
    /// What QEMU printed on stderr.
    pub qemu_stderr: String,
    /// The QEMU command line, for rerunning by hand.
    pub command: String,
    /// Wall time from start to exit.
    pub duration: Duration,
    /// How many times the kernel was booted (1 plus one per test that ended a boot with
    /// tests after it).
    pub boots: usize,
}

impl TestReport {
    /// Whether the run passed: exit status 33, clean KTAP, no failed test.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.exit == Exit::Status(qemu::EXIT_SUCCESS)
            && self.ktap.problems.is_empty()
            && self.ktap.failures().next().is_none()
    }

    /// The failed tests as `(name, reason)`, including a test that never finished.
    #[must_use]
    pub fn failed_tests(&self) -> Vec<(String, String)> {
        let mut failed: Vec<(String, String)> = self
            .ktap
            .failures()
            .map(|result| match &result.outcome {
                ktap::Outcome::Failed { reason } => (result.name.clone(), reason.clone()),
                _ => (result.name.clone(), String::new()),
            })
            .collect();
        if let Some(number) = self.ktap.unfinished_test() {
            failed.push((
                format!("#{number}"),
                format!("did not finish (QEMU {})", self.exit.describe()),
            ));
        }
        failed
    }

    /// A human summary: one line when it passed; otherwise every failed test with its
    /// reason and output, every KTAP problem, and QEMU's own messages.
    #[must_use]
    pub fn summary(&self) -> String {
        let counted = self.ktap.counted();
        let header = match self.arch {
            Arch::X86_64 => format!(
                "kernel test `{}` ({}, {})",
                self.name, self.machine, self.bios
            ),
            Arch::Riscv64 => format!("kernel test `{}` (riscv64 virt, opensbi)", self.name),
        };
        let boots = if self.boots > 1 {
            format!(" ({} boots)", self.boots)
        } else {
            String::new()
        };
        if self.passed() {
            return format!(
                "{header}: {} passed, {} failed in {:.2}s{boots}",
                counted.passed,
                counted.failed,
                self.duration.as_secs_f64()
            );
        }
        let mut text = format!(
            "{header} FAILED: QEMU {}{}\n",
            self.exit.describe(),
            if self.boots > 1 {
                format!(" (in boot {} of the run)", self.boots)
            } else {
                String::new()
            }
        );
        for result in self.ktap.failures() {
            let _ = writeln!(text, "  {result}");
            for line in &result.output {
                let _ = writeln!(text, "      | {line}");
            }
        }
        if let Some(number) = self.ktap.unfinished_test() {
            let last = self
                .ktap
                .results
                .last()
                .map_or_else(String::new, |last| format!(" (after `{}`)", last.name));
            let output = if self.ktap.unfinished_output.is_empty() {
                ""
            } else {
                "; its output:"
            };
            let _ = writeln!(text, "  test #{number}{last} did not finish{output}");
            for line in &self.ktap.unfinished_output {
                let _ = writeln!(text, "      | {line}");
            }
        }
        for problem in &self.ktap.problems {
            let _ = writeln!(text, "  KTAP: {problem}");
        }
        if !self.ktap.header && !self.log.is_empty() {
            let _ = writeln!(text, "  the last serial output:");
            let lines: Vec<&str> = self.log.lines().collect();
            for line in &lines[lines.len().saturating_sub(20)..] {
                let _ = writeln!(text, "      | {line}");
            }
        }
        let _ = writeln!(text, "  QEMU command (the last boot): {}", self.command);
        let stderr = self.qemu_stderr.trim();
        if !stderr.is_empty() {
            let _ = writeln!(text, "  QEMU said:");
            for line in stderr.lines() {
                let _ = writeln!(text, "      | {line}");
            }
        }
        let _ = write!(
            text,
            "  {} passed, {} failed (of {} planned)",
            counted.passed,
            counted.failed,
            self.ktap
                .plan
                .map_or_else(|| "none".to_owned(), |plan| plan.to_string())
        );
        text
    }
}

/// The test name of a cargo test ELF: its file name without the `-HASH` suffix.
#[must_use]
pub fn test_name(elf: &Path) -> String {
    let file = elf
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    match file.rsplit_once('-') {
        Some((name, hash))
            if !name.is_empty() && hash.bytes().all(|byte| byte.is_ascii_hexdigit()) =>
        {
            name.to_owned()
        }
        _ => file,
    }
}

/// Whether an ELF given to the runner is a test (cargo puts those in `deps/`).
#[must_use]
pub fn is_test_elf(elf: &Path) -> bool {
    elf.parent()
        .and_then(Path::file_name)
        .is_some_and(|dir| dir == "deps")
}

/// Boots a kernel test ELF headless and judges it.
///
/// # Errors
///
/// Only when QEMU cannot be run at all ([`Error::QemuNotFound`], [`Error::Spawn`],
/// [`Error::KvmUnavailable`], ...). A failing, crashing or hanging test is a report whose
/// [`TestReport::passed`] is false.
pub fn run_test_elf(elf: &Path, options: &Options) -> Result<TestReport> {
    qemu::validate_memory(&options.memory)?;
    let arch = Arch::of_elf(elf).unwrap_or(options.arch);
    let program = prereq::find_qemu_in_env(arch, options.qemu.as_deref())?;
    let accel = detect_accel(arch, options.accel)?;
    let started = Instant::now();
    let mut log = String::new();
    let mut stream = String::new();
    let mut qemu_stderr = String::new();
    let mut resume: Option<Resume> = None;
    // How the boot before ended inside test `resume.next`, when it did.
    let mut lost: Option<&str> = None;
    let mut boots = 0;
    let (exit, command) = loop {
        boots += 1;
        let append = match (resume, lost) {
            (None, _) => options.append.clone(),
            (Some(resume), None) => format!("{} {}", options.append, resume.option()),
            (Some(resume), Some(lost)) => format!(
                "{} {} {LOST_OPTION}={lost}",
                options.append,
                resume.option()
            ),
        }
        .trim_start()
        .to_owned();
        let invocation = Invocation {
            program: program.clone(),
            arch,
            kernel: elf.to_path_buf(),
            append,
            machine: options.machine,
            bios: options.bios,
            accel,
            memory: options.memory.clone(),
            smp: options.smp,
            display: Display::Headless,
            display_device: options.display_device,
            serial: Serial::Stdio,
            qmp_socket: None,
            gdb: false,
        };
        let command = invocation.display_command();
        if options.verbose {
            eprintln!("boot: {command}");
        }
        let (exit, serial, stderr) = boot_once(&invocation, options)?;
        qemu_stderr.push_str(&stderr);
        let continued = match resume {
            None => {
                stream.push_str(&serial);
                true
            }
            Some(resume) => {
                let lost = lost.map(|lost| format!(" {LOST_OPTION}={lost}"));
                let _ = writeln!(
                    log,
                    "---- boot {boots}: {}{}",
                    resume.option(),
                    lost.unwrap_or_default()
                );
                // Without its continuation line the whole output goes in, so that the
                // report shows it as the output of the test that did not finish.
                let continuation = resume.continuation(&serial);
                stream.push_str(continuation.unwrap_or(&serial));
                continuation.is_some()
            }
        };
        log.push_str(&serial);
        let ended_inside = match exit {
            Exit::TimedOut(_) => Some("hang"),
            Exit::Status(0) => Some("reset"),
            _ => None,
        };
        if !continued || (exit != Exit::Status(qemu::EXIT_CONTINUE) && ended_inside.is_none()) {
            break (exit, command);
        }
        let document = ktap::parse(&stream);
        let next = Resume::after(&document);
        let previous = resume.map_or(1, |resume| resume.next);
        // A restart must make progress, or it would not end: a boot the kernel ended
        // adds a result; a boot that ended inside a test loses a test it has not lost
        // before (the next boot reports it). Past the plan there is nothing to resume.
        let progress = match ended_inside {
            None => next.next > previous,
            Some(_) => lost.is_none() || next.next > previous,
        };
        if !progress || document.plan.is_none_or(|plan| next.next > plan) {
            // The report shows the status and the unfinished test.
            break (exit, command);
        }
        resume = Some(next);
        lost = ended_inside;
    };
    let duration = started.elapsed();
    Ok(TestReport {
        elf: elf.to_path_buf(),
        name: test_name(elf),
        arch,
        machine: options.machine,
        bios: options.bios,
        exit,
        ktap: ktap::parse(&stream),
        log,
        qemu_stderr,
        command,
        duration,
        boots,
    })
}

/// Whether a serial line is a KTAP test result.
fn is_result(line: &str) -> bool {
    line.starts_with("ok ") || line.starts_with("not ok ")
}

/// Boots once and collects the serial output until QEMU ends or the timeout passes
/// without a test result: how it ended, the serial output, and QEMU's stderr.
fn boot_once(invocation: &Invocation, options: &Options) -> Result<(Exit, String, String)> {
    let deadline_from_now = || options.timeout.map(|timeout| Instant::now() + timeout);
    let mut deadline = deadline_from_now();
    let mut session = Session::spawn(
        invocation,
        Wiring {
            stdin: false,
            echo: options.echo,
            capture_stderr: true,
        },
    )?;
    let mut serial = String::new();
    let mut add = |line: &str| {
        serial.push_str(line);
        serial.push('\n');
    };
    let exit = loop {
        match session.next_event(deadline)? {
            Event::Line(line) => {
                if is_result(&line) {
                    deadline = deadline_from_now();
                }
                add(&line);
            }
            Event::Exited(status) => break Exit::from_status(status),
            Event::TimedOut => {
                session.stop().iter().for_each(|line| add(line));
                break Exit::TimedOut(options.timeout.unwrap_or_default());
            }
        }
    };
    Ok((exit, serial, session.stderr()))
}

/// What an interactive boot does besides showing the serial output.
#[derive(Clone, Debug, Default)]
pub struct BootOptions {
    /// Where QEMU runs and what it boots with. `echo` is ignored: the serial output
    /// always goes to stdout.
    pub options: Options,
    /// No window. Implied when there is neither `DISPLAY` nor `WAYLAND_DISPLAY`.
    pub headless: bool,
    /// Take a PNG screenshot here once the kernel has booted, then quit.
    pub screenshot: Option<PathBuf>,
    /// Keep QEMU running after the screenshot.
    pub keep_running: bool,
    /// Wait for a debugger (`-s -S`).
    pub gdb: bool,
}

/// Whether this session has a graphical display for a QEMU window.
#[must_use]
pub fn has_graphical_display() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|name| env::var_os(name).is_some_and(|value| !value.is_empty()))
}

/// Removes the `exit` flag from a kernel command line; returns whether it was there.
#[must_use]
pub fn without_exit_flag(append: &str) -> (String, bool) {
    let kept: Vec<&str> = append
        .split_whitespace()
        .filter(|word| *word != EXIT_FLAG)
        .collect();
    let removed = kept.len() != append.split_whitespace().count();
    (kept.join(" "), removed)
}

/// Boots `kernel` with the serial port on stdio and waits for QEMU to end.
///
/// Success is QEMU's status 33 (the kernel asked to exit), a quit that `boot` asked for
/// after a screenshot, or status 0 in an interactive session (Ctrl-A X, a closed
/// window).
///
/// # Errors
///
/// Missing QEMU, status 35 or any other failing status ([`Error::GuestFailed`]), a
/// timeout ([`Error::Timeout`]), QEMU exiting before the screenshot
/// ([`Error::BootIncomplete`]) and QMP failures.
pub fn boot(kernel: &Path, boot: &BootOptions) -> Result<()> {
    let options = &boot.options;
    qemu::validate_memory(&options.memory)?;
    let arch = Arch::of_elf(kernel).unwrap_or(options.arch);
    let program = prereq::find_qemu_in_env(arch, options.qemu.as_deref())?;
    let accel = detect_accel(arch, options.accel)?;
    let headless = boot.headless || !has_graphical_display();
    if !boot.headless && headless {
        eprintln!("boot: no DISPLAY or WAYLAND_DISPLAY: running headless (-display none)");
    }
    let terminal = std::io::stdin().is_terminal();
    let mut append = options.append.clone();
    let screenshot = match &boot.screenshot {
        Some(path) => {
            let (kept, removed) = without_exit_flag(&append);
            if removed {
                eprintln!(
                    "boot: not passing `{EXIT_FLAG}` to the kernel: boot quits QEMU itself after \
                     the screenshot"
                );
                append = kept;
            }
            Some(absolute(path)?)
        }
        None => None,
    };
    let qmp_dir = match screenshot {
        Some(_) => Some(
            tempfile::Builder::new()
                .prefix("boot-qmp-")
                .tempdir()
                .map_err(|error| Error::io("creating a directory for the QMP socket", error))?,
        ),
        None => None,
    };
    let invocation = Invocation {
        program,
        arch,
        kernel: kernel.to_path_buf(),
        append,
        machine: options.machine,
        bios: options.bios,
        accel,
        memory: options.memory.clone(),
        smp: options.smp,
        display: if headless {
            Display::Headless
        } else {
            Display::Window
        },
        display_device: options.display_device,
        serial: if terminal {
            Serial::MonitorStdio
        } else {
            Serial::Stdio
        },
        qmp_socket: qmp_dir.as_ref().map(|dir| dir.path().join("qmp.sock")),
        gdb: boot.gdb,
    };
    if boot.gdb {
        eprintln!(
            "boot: QEMU waits for a debugger on localhost:1234; attach with:\n  \
             gdb {} -ex 'target remote localhost:1234'",
            kernel.display()
        );
    }
    if terminal {
        eprintln!("boot: serial console on this terminal; Ctrl-A X quits QEMU");
    }
    if options.verbose {
        eprintln!("boot: {}", invocation.display_command());
    }
    let interactive = terminal || !headless;
    let started = Instant::now();
    let deadline = options.timeout.map(|timeout| started + timeout);
    let mut session = Session::spawn(
        &invocation,
        Wiring {
            stdin: terminal,
            echo: true,
            capture_stderr: false,
        },
    )?;
    let mut pending_screenshot = screenshot;
    let mut quit_requested = false;
    loop {
        match session.next_event(deadline)? {
            Event::Line(line) => {
                if line.starts_with(BOOT_COMPLETE)
                    && let Some(path) = pending_screenshot.take()
                    && let Some(socket) = &invocation.qmp_socket
                {
                    quit_requested = take_screenshot(socket, &path, !boot.keep_running)?;
                }
            }
            Event::Exited(status) => {
                return judge_exit(
                    status,
                    quit_requested,
                    pending_screenshot.is_some(),
                    interactive,
                );
            }
            Event::TimedOut => {
                session.stop();
                return Err(Error::Timeout(options.timeout.unwrap_or_default()));
            }
        }
    }
}

/// The accelerator for `arch`: x86_64 follows the request; a riscv64 guest on this
/// (x86_64) host can only run under TCG, so `auto` means TCG there.
fn detect_accel(arch: Arch, request: accel::Request) -> Result<accel::Accel> {
    match (arch, request) {
        (Arch::Riscv64, accel::Request::Auto) => Ok(accel::Accel::Tcg),
        _ => accel::detect(request),
    }
}

/// Writes the screenshot through QMP and quits QEMU if asked; returns whether it did.
fn take_screenshot(socket: &Path, path: &Path, quit: bool) -> Result<bool> {
    let mut client = qmp::Client::connect(socket, Duration::from_secs(10))?;
    client.screendump(path)?;
    eprintln!("boot: screenshot written to {}", path.display());
    if quit {
        client.quit()?;
    }
    Ok(quit)
}

/// The verdict on an interactive boot once QEMU has exited.
fn judge_exit(
    status: ExitStatus,
    quit_requested: bool,
    screenshot_pending: bool,
    interactive: bool,
) -> Result<()> {
    let code = status.code();
    if quit_requested {
        return Ok(());
    }
    if screenshot_pending {
        return Err(Error::BootIncomplete {
            status: qemu::describe_exit(code),
        });
    }
    match code {
        Some(qemu::EXIT_SUCCESS) => Ok(()),
        Some(0) if interactive => Ok(()),
        _ => Err(Error::GuestFailed(format!(
            "QEMU {}",
            qemu::describe_exit(code)
        ))),
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path)
        .map_err(|error| Error::io(format!("resolving {}", path.display()), error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_names_drop_the_hash() {
        assert_eq!(
            test_name(Path::new("/t/debug/deps/fixture_fail-0a1b2c3d4e5f6789")),
            "fixture_fail"
        );
        assert_eq!(test_name(Path::new("/t/debug/kernel")), "kernel");
        assert_eq!(test_name(Path::new("/t/my-test")), "my-test");
        assert_eq!(test_name(Path::new("/t/-abc")), "-abc");
    }

    #[test]
    fn test_elfs_live_in_deps() {
        assert!(is_test_elf(Path::new(
            "/t/x86_64-unknown-none/debug/deps/heap-1234"
        )));
        assert!(!is_test_elf(Path::new(
            "/t/x86_64-unknown-none/debug/kernel"
        )));
        assert!(!is_test_elf(Path::new("kernel")));
    }

    #[test]
    fn the_exit_flag_is_removed_as_a_word() {
        assert_eq!(without_exit_flag("exit"), (String::new(), true));
        assert_eq!(
            without_exit_flag("log=debug exit  x"),
            ("log=debug x".into(), true)
        );
        assert_eq!(
            without_exit_flag("exit=later noexit"),
            ("exit=later noexit".into(), false)
        );
    }

    #[test]
    fn timeouts() {
        assert_eq!(
            parse_timeout("--timeout", "1.5").unwrap(),
            Duration::from_millis(1500)
        );
        for bad in ["0", "-1", "x", "inf", "NaN", ""] {
            assert!(parse_timeout("--timeout", bad).is_err(), "{bad:?}");
        }
    }

    fn report(exit: Exit, log: &str) -> TestReport {
        TestReport {
            elf: "/t/deps/fixture_fail-00".into(),
            name: "fixture_fail".into(),
            arch: Arch::X86_64,
            machine: Machine::Q35,
            bios: Bios::Seabios,
            exit,
            ktap: ktap::parse(log),
            log: log.into(),
            qemu_stderr: String::new(),
            command: "qemu-system-x86_64 -kernel x".into(),
            duration: Duration::from_millis(250),
            boots: 1,
        }
    }

    #[test]
    fn a_passing_report() {
        let report = report(
            Exit::Status(33),
            "KTAP version 1\n1..1\nok 1 passes\n# 1 passed, 0 failed\n",
        );
        assert!(report.passed());
        assert!(report.failed_tests().is_empty());
        assert_eq!(
            report.summary(),
            "kernel test `fixture_fail` (q35, seabios): 1 passed, 0 failed in 0.25s"
        );
    }

    #[test]
    fn a_failure_is_named_with_its_reason() {
        let report = report(
            Exit::Status(35),
            "KTAP version 1\n1..2\nok 1 passes\nassertion at x.rs\nnot ok 2 deliberate_failure # expected 1, got 2\n# 1 passed, 1 failed\n",
        );
        assert!(!report.passed());
        assert_eq!(
            report.failed_tests(),
            [("deliberate_failure".into(), "expected 1, got 2".into())]
        );
        let summary = report.summary();
        assert!(
            summary.contains("not ok 2 deliberate_failure # expected 1, got 2"),
            "{summary}"
        );
        assert!(summary.contains("| assertion at x.rs"), "{summary}");
        assert!(summary.contains("status 35"), "{summary}");
    }

    #[test]
    fn status_33_with_bad_ktap_still_fails() {
        let report = report(
            Exit::Status(33),
            "KTAP version 1\n1..2\nok 1 a\n# 1 passed, 0 failed\n",
        );
        assert!(!report.passed());
        let summary = report.summary();
        assert!(
            summary.contains("test #2 (after `a`) did not finish"),
            "{summary}"
        );
        assert!(
            summary.contains("KTAP: the plan `1..2` does not match the 1 results reported"),
            "{summary}"
        );
    }

    #[test]
    fn a_crash_before_ktap_shows_the_log() {
        let report = report(Exit::TimedOut(Duration::from_secs(2)), "booting\nstuck\n");
        assert!(!report.passed());
        let summary = report.summary();
        assert!(
            summary.contains("QEMU was stopped after the 2s timeout"),
            "{summary}"
        );
        assert!(summary.contains("| stuck"), "{summary}");
        assert!(
            summary.contains("KTAP: no `KTAP version 1` line"),
            "{summary}"
        );
    }

    #[test]
    fn a_resume_point_counts_skips_as_passed() {
        let document = ktap::parse(
            "KTAP version 1\n1..5\nok 1 a\nok 2 b # SKIP filtered\n# a: panicked\nnot ok 3 c # panicked at x\n",
        );
        let resume = Resume::after(&document);
        assert_eq!(
            resume,
            Resume {
                next: 4,
                passed: 2,
                failed: 1
            }
        );
        assert_eq!(resume.option(), "test_resume=4,2,1");
    }

    #[test]
    fn a_restarted_boot_continues_after_its_marker() {
        let resume = Resume {
            next: 4,
            passed: 3,
            failed: 0,
        };
        let serial = "kernel: boot log\n# continuing at test 4 of 5 after a restart\nok 4 d\n";
        assert_eq!(resume.continuation(serial), Some("ok 4 d\n"));
        // Another test's marker, or none: not a continuation.
        let other = "kernel: boot log\n# continuing at test 40 of 50 after a restart\nok 40 d\n";
        assert_eq!(resume.continuation(other), None);
        assert_eq!(resume.continuation("crashed\n"), None);
    }

    #[test]
    fn the_boots_of_a_run_are_named() {
        let mut passing = report(
            Exit::Status(33),
            "KTAP version 1\n1..1\nok 1 passes\n# 1 passed, 0 failed\n",
        );
        passing.boots = 3;
        assert!(passing.summary().ends_with("in 0.25s (3 boots)"));
        let mut failing = report(Exit::Status(35), "KTAP version 1\n1..2\nok 1 a\n");
        failing.boots = 2;
        assert!(failing.summary().contains("(in boot 2 of the run)"));
    }

    #[test]
    fn only_33_is_success_for_a_test() {
        for exit in [Exit::Status(0), Exit::Status(1), Exit::Signal] {
            let report = report(exit, "KTAP version 1\n1..0\n# 0 passed, 0 failed\n");
            assert!(!report.passed(), "{exit:?}");
        }
    }
}
