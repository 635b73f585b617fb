//! The `boot` command line and what each command does.
//!
//! ```text
//! boot [OPTIONS]                      build the kernel and boot it (`cargo run`)
//! boot runner [OPTIONS] ELF [ARGS]... the cargo runner for the kernel target
//! ```
//!
//! QEMU settings can also come from the environment (`BOOT_ARCH`, `BOOT_MACHINE`, `BOOT_BIOS`,
//! `BOOT_ACCEL`, `BOOT_MEMORY`, `BOOT_SMP`, `BOOT_DISPLAY_DEVICE`, `BOOT_QEMU`, `BOOT_HEADLESS`,
//! `BOOT_TIMEOUT`, `BOOT_VERBOSE`), which is how they reach `boot runner` under `cargo ktest`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand};

use crate::accel;
use crate::build;
use crate::error::Result;
use crate::prereq;
use crate::qemu::{self, Arch, Bios, DisplayDevice, Machine};
use crate::runner::{self, BootOptions, DEFAULT_TEST_TIMEOUT, Options};

/// Builds the toy kernel and boots it under QEMU; runs kernel test ELFs.
#[derive(Debug, Parser)]
#[command(name = "boot", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// A subcommand; without one, build the kernel and boot it.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of the default command.
    #[command(flatten)]
    pub run: RunArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The cargo runner for the kernel target (`cargo ktest`, `cargo run -p kernel`).
    ///
    /// A test ELF (one in a `deps/` directory) boots headless with a timeout (120 s by
    /// default); its serial output (KTAP) is echoed as it arrives and judged: the exit
    /// status is 0 only if QEMU exited with 33 and the KTAP is complete with no failed
    /// test, and otherwise a summary on stderr names every failed test with its reason.
    /// Any other ELF boots like `boot --kernel ELF`. ARGS are appended to the kernel
    /// command line.
    Runner(RunnerArgs),
}

/// QEMU settings shared by every command.
#[derive(Debug, Args)]
pub struct QemuArgs {
    /// The architecture to build and boot (riscv64: QEMU virt with OpenSBI). `boot runner`
    /// reads it from the ELF.
    #[arg(long, value_enum, env = "BOOT_ARCH", default_value_t)]
    pub arch: Arch,
    /// The accelerator: auto uses KVM only when the CPU has vmx/svm and /dev/kvm works.
    #[arg(long, value_enum, env = "BOOT_ACCEL", default_value_t)]
    pub accel: accel::Request,
    /// The emulated machine (x86_64; riscv64 always boots virt).
    #[arg(long, value_enum, env = "BOOT_MACHINE", default_value_t)]
    pub machine: Machine,
    /// The firmware (x86_64; riscv64 always boots OpenSBI).
    #[arg(long, value_enum, env = "BOOT_BIOS", default_value_t)]
    pub bios: Bios,
    /// Guest memory (QEMU syntax: 256M, 1G).
    #[arg(long, env = "BOOT_MEMORY", default_value = qemu::DEFAULT_MEMORY)]
    pub memory: String,
    /// Virtual CPUs, 1 to 16 (`-smp N`; several run multi-threaded TCG).
    #[arg(long, value_name = "N", env = "BOOT_SMP", default_value_t = 1, value_parser = parse_smp)]
    pub smp: u32,
    /// The display adapter (std = -vga std; bochs-display = -vga none -device bochs-display).
    #[arg(long, value_enum, env = "BOOT_DISPLAY_DEVICE", default_value_t)]
    pub display_device: DisplayDevice,
    /// The QEMU binary (default: qemu-system-x86_64 or qemu-system-riscv64 from PATH).
    #[arg(long, value_name = "PATH", env = "BOOT_QEMU")]
    pub qemu: Option<PathBuf>,
    /// No window (-display none). Implied without DISPLAY or WAYLAND_DISPLAY.
    #[arg(long, env = "BOOT_HEADLESS", value_parser = BoolishValueParser::new())]
    pub headless: bool,
    /// Stop QEMU and fail after this many seconds (kernel tests: 120 by default).
    #[arg(long, value_name = "SECS", env = "BOOT_TIMEOUT", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
    /// Print the QEMU command line before starting it.
    #[arg(long, short, env = "BOOT_VERBOSE", value_parser = BoolishValueParser::new())]
    pub verbose: bool,
}

/// Options of the default command.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// QEMU settings.
    #[command(flatten)]
    pub qemu: QemuArgs,
    /// Wait for `kernel: boot complete`, write a PNG screenshot here (QMP screendump),
    /// then quit QEMU.
    #[arg(long, value_name = "PATH")]
    pub screenshot: Option<PathBuf>,
    /// Keep QEMU running after the screenshot.
    #[arg(long, requires = "screenshot")]
    pub keep_running: bool,
    /// Start QEMU stopped, waiting for gdb on localhost:1234 (-s -S).
    #[arg(long)]
    pub gdb: bool,
    /// The kernel command line (e.g. `exit` to quit QEMU with success after booting).
    #[arg(long, value_name = "CMDLINE", default_value = "")]
    pub append: String,
    /// Boot this ELF instead of building the kernel.
    #[arg(long, value_name = "ELF")]
    pub kernel: Option<PathBuf>,
    /// Build the kernel with the release profile.
    #[arg(long, conflicts_with = "kernel")]
    pub release: bool,
}

/// Options of `boot runner`.
#[derive(Debug, Args)]
pub struct RunnerArgs {
    /// QEMU settings.
    #[command(flatten)]
    pub qemu: QemuArgs,
    /// The ELF cargo built.
    pub elf: PathBuf,
    /// Arguments after the ELF: appended to the kernel command line.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

fn parse_smp(value: &str) -> std::result::Result<u32, String> {
    runner::parse_smp("--smp", value).map_err(|error| error.to_string())
}

fn parse_seconds(value: &str) -> std::result::Result<Duration, String> {
    runner::parse_timeout("--timeout", value).map_err(|error| error.to_string())
}

impl QemuArgs {
    fn options(&self, append: String, timeout: Option<Duration>) -> Options {
        Options {
            arch: self.arch,
            machine: self.machine,
            bios: self.bios,
            accel: self.accel,
            memory: self.memory.clone(),
            smp: self.smp,
            display_device: self.display_device,
            qemu: self.qemu.clone(),
            timeout,
            append,
            echo: true,
            verbose: self.verbose,
        }
    }
}

/// Runs a parsed command line.
///
/// # Errors
///
/// Whatever stops the command: missing QEMU or target, a failed build, a failing boot.
/// A kernel test that fails is not an error but [`ExitCode::FAILURE`], after its
/// summary is printed.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Some(Command::Runner(args)) => runner_command(args),
        None => boot_command(cli.run),
    }
}

fn boot_command(args: RunArgs) -> Result<ExitCode> {
    qemu::validate_memory(&args.qemu.memory)?;
    // Look for QEMU before a long build that would be wasted without it.
    let arch = match &args.kernel {
        Some(kernel) => Arch::of_elf(kernel).unwrap_or(args.qemu.arch),
        None => args.qemu.arch,
    };
    let qemu = prereq::find_qemu_in_env(arch, args.qemu.qemu.as_deref())?;
    let kernel = match args.kernel {
        Some(kernel) => kernel,
        None => {
            prereq::check_kernel_target(arch)?;
            build::Request {
                arch,
                release: args.release,
                ..build::Request::default()
            }
            .kernel()?
        }
    };
    let mut options = args.qemu.options(args.append, args.qemu.timeout);
    options.qemu = Some(qemu);
    runner::boot(
        &kernel,
        &BootOptions {
            options,
            headless: args.qemu.headless,
            screenshot: args.screenshot,
            keep_running: args.keep_running,
            gdb: args.gdb,
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

fn runner_command(args: RunnerArgs) -> Result<ExitCode> {
    let append = args.args.join(" ");
    if !runner::is_test_elf(&args.elf) {
        runner::boot(
            &args.elf,
            &BootOptions {
                options: args.qemu.options(append, args.qemu.timeout),
                headless: args.qemu.headless,
                ..BootOptions::default()
            },
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let timeout = args.qemu.timeout.unwrap_or(DEFAULT_TEST_TIMEOUT);
    let report = runner::run_test_elf(&args.elf, &args.qemu.options(append, Some(timeout)))?;
    eprintln!("{}", report.summary());
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn default_command_options() {
        let cli = Cli::try_parse_from([
            "boot",
            "--headless",
            "--screenshot",
            "shot.png",
            "--machine",
            "pc",
            "--bios",
            "qboot",
            "--display-device",
            "bochs-display",
            "--accel",
            "tcg",
            "--append",
            "exit log=debug",
            "--timeout",
            "60",
            "--memory",
            "512M",
            "--arch",
            "riscv64",
            "--smp",
            "4",
        ])
        .unwrap();
        assert!(cli.command.is_none());
        let run = cli.run;
        assert!(run.qemu.headless);
        assert_eq!(run.screenshot, Some(PathBuf::from("shot.png")));
        assert_eq!(run.qemu.machine, Machine::Pc);
        assert_eq!(run.qemu.bios, Bios::Qboot);
        assert_eq!(run.qemu.display_device, DisplayDevice::BochsDisplay);
        assert_eq!(run.qemu.accel, accel::Request::Tcg);
        assert_eq!(run.append, "exit log=debug");
        assert_eq!(run.qemu.timeout, Some(Duration::from_secs(60)));
        assert_eq!(run.qemu.memory, "512M");
        assert_eq!(run.qemu.arch, Arch::Riscv64);
        assert_eq!(run.qemu.smp, 4);
        let default = Cli::try_parse_from(["boot"]).unwrap();
        assert_eq!(default.run.qemu.arch, Arch::X86_64);
        assert_eq!(default.run.qemu.smp, 1);
    }

    #[test]
    fn runner_takes_the_rest_as_kernel_arguments() {
        let cli = Cli::try_parse_from([
            "boot",
            "runner",
            "--machine",
            "pc",
            "/t/deps/x-1",
            "exit",
            "--flag",
        ])
        .unwrap();
        let Some(Command::Runner(args)) = cli.command else {
            panic!("not the runner");
        };
        assert_eq!(args.qemu.machine, Machine::Pc);
        assert_eq!(args.elf, PathBuf::from("/t/deps/x-1"));
        assert_eq!(args.args, ["exit", "--flag"]);
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(Cli::try_parse_from(["boot", "--machine", "microvm"]).is_err());
        assert!(Cli::try_parse_from(["boot", "--arch", "aarch64"]).is_err());
        assert!(Cli::try_parse_from(["boot", "--timeout", "0"]).is_err());
        assert!(Cli::try_parse_from(["boot", "--smp", "0"]).is_err());
        assert!(Cli::try_parse_from(["boot", "--smp", "17"]).is_err());
        assert!(Cli::try_parse_from(["boot", "--keep-running"]).is_err());
        assert!(Cli::try_parse_from(["boot", "runner"]).is_err());
    }
}
