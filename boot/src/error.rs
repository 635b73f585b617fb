//! The crate's one error type.
//!
//! Every message is written for the person at the terminal: what went wrong and, where
//! there is one, the command that fixes it. `main` prints them as `error: {message}`.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// The `boot` result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `boot`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// QEMU is not installed (not found in `PATH`).
    #[error("{program} was not found in PATH; install it with: sudo apt-get install {package}")]
    QemuNotFound {
        /// The program that was looked for.
        program: String,
        /// The Debian package that provides it.
        package: &'static str,
    },

    /// `--qemu` or `BOOT_QEMU` names a file that does not exist.
    #[error("the QEMU binary {} (from --qemu or BOOT_QEMU) does not exist", path.display())]
    QemuOverrideMissing {
        /// The path that was given.
        path: PathBuf,
    },

    /// The Rust target the kernel is built for is not installed in the toolchain.
    #[error(
        "the Rust target {target} is not installed; install it with: rustup target add {target}"
    )]
    TargetNotInstalled {
        /// The target triple.
        target: String,
    },

    /// `rustc --print sysroot` could not be run or gave no answer.
    #[error("could not ask {program} for its sysroot: {reason}")]
    Sysroot {
        /// The rustc that was run.
        program: String,
        /// Why it failed.
        reason: String,
    },

    /// A child process could not be started.
    #[error("could not run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// An I/O operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// `cargo build` of the kernel failed (its diagnostics went to stderr).
    #[error("building the kernel failed (`{command}` exited with {status})")]
    Build {
        /// The command line, for the user to rerun.
        command: String,
        /// Its exit status.
        status: String,
    },

    /// `cargo build` succeeded but did not report the executable that was asked for.
    #[error("cargo built no executable for {what}")]
    NoExecutable {
        /// A description of the wanted artifact.
        what: String,
    },

    /// A line of cargo's JSON output could not be parsed.
    #[error("cargo printed a JSON message boot cannot read ({reason}): {line}")]
    CargoJson {
        /// The offending line.
        line: String,
        /// The parser's complaint.
        reason: String,
    },

    /// The QMP conversation with QEMU failed.
    #[error("QMP: {0}")]
    Qmp(String),

    /// QEMU answered a QMP command with an error.
    #[error("QMP command `{command}` failed: {class}: {description}")]
    QmpCommand {
        /// The command that was sent.
        command: String,
        /// QEMU's error class.
        class: String,
        /// QEMU's description.
        description: String,
    },

    /// KVM was asked for but cannot be used.
    #[error("KVM was requested (--accel kvm) but {reason}; use --accel tcg or --accel auto")]
    KvmUnavailable {
        /// Why not.
        reason: String,
    },

    /// An option value is malformed.
    #[error("invalid {option} `{value}`: {reason}")]
    InvalidOption {
        /// The option.
        option: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// QEMU ran longer than the timeout and was stopped.
    #[error("QEMU was stopped after the {}s timeout", .0.as_secs_f64())]
    Timeout(Duration),

    /// QEMU exited before the kernel finished booting.
    #[error("QEMU {status}, before the kernel printed `kernel: boot complete`")]
    BootIncomplete {
        /// How QEMU ended.
        status: String,
    },

    /// The KTAP output breaks the format.
    #[error("the KTAP output is malformed: {}", join_problems(problems))]
    Ktap {
        /// Every problem found.
        problems: Vec<crate::ktap::Problem>,
    },

    /// The guest ended in a way that counts as failure.
    #[error("{0}")]
    GuestFailed(String),
}

fn join_problems(problems: &[crate::ktap::Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}
