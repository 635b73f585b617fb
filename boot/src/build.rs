//! Building the kernel with cargo and finding the executables it produced.
//!
//! `boot` runs `$CARGO` (set when it runs under cargo) or `cargo` with
//! `--message-format=json-render-diagnostics`: diagnostics and progress go to stderr as
//! usual, and stdout carries one JSON message per line, of which the
//! `compiler-artifact` messages name the executables. This is how the kernel ELF and the
//! kernel test ELFs (`deps/NAME-HASH`) are found without guessing paths or hashes.

use std::env;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::error::{Error, Result};
use crate::qemu::Arch;

/// The kernel package.
pub const KERNEL_PACKAGE: &str = "kernel";

/// What to build.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// The cargo to run; `None` runs `$CARGO` (set when running under cargo) or `cargo`.
    pub cargo: Option<OsString>,
    /// The architecture: which target to build for.
    pub arch: Arch,
    /// Further architectures to build in the same cargo run (one more `--target` each):
    /// cargo then schedules the crates of every target on one job server, so that one
    /// kernel's serial steps overlap the other's.
    pub more_arches: Vec<Arch>,
    /// The workspace manifest; `None` lets cargo find it from the current directory.
    pub manifest_path: Option<PathBuf>,
    /// `--release`.
    pub release: bool,
    /// `--tests`: the kernel's test ELFs (and the kernel binary they depend on).
    pub tests: bool,
    /// `--quiet`: only warnings and errors on stderr.
    pub quiet: bool,
}

/// An executable cargo reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Executable {
    /// The target's name (`kernel`, or a test file's stem).
    pub name: String,
    /// The target's kinds (`bin`, `test`).
    pub kinds: Vec<String>,
    /// Whether it was built with the test profile (a test ELF).
    pub test: bool,
    /// The path of the ELF.
    pub path: PathBuf,
}

impl Request {
    /// The cargo program: [`Request::cargo`], else `$CARGO` when set (under cargo), else
    /// `cargo`.
    #[must_use]
    pub fn program(&self) -> OsString {
        self.cargo
            .clone()
            .or_else(|| env::var_os("CARGO"))
            .unwrap_or_else(|| OsString::from("cargo"))
    }

    /// The arguments after `cargo`.
    #[must_use]
    pub fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = ["build", "--package", KERNEL_PACKAGE]
            .into_iter()
            .chain(
                std::iter::once(self.arch)
                    .chain(self.more_arches.iter().copied())
                    .flat_map(|arch| ["--target", arch.target()]),
            )
            .chain(["--message-format=json-render-diagnostics"])
            .map(OsString::from)
            .collect();
        if let Some(manifest) = &self.manifest_path {
            args.push("--manifest-path".into());
            args.push(manifest.clone().into_os_string());
        }
        if self.release {
            args.push("--release".into());
        }
        if self.tests {
            args.push("--tests".into());
        }
        if self.quiet {
            args.push("--quiet".into());
        }
        args
    }

    /// Runs the build and returns the executables it reported.
    ///
    /// # Errors
    ///
    /// [`Error::Spawn`] when cargo cannot be run, [`Error::Build`] when the build fails
    /// (cargo has printed why), [`Error::CargoJson`] on output boot cannot read.
    pub fn run(&self) -> Result<Vec<Executable>> {
        let cargo = self.program();
        let args = self.args();
        let output = Command::new(&cargo)
            .args(&args)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|source| Error::Spawn {
                program: cargo.to_string_lossy().into_owned(),
                source,
            })?;
        if !output.status.success() {
            let command = std::iter::once(&cargo)
                .chain(&args)
                .map(|arg| arg.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ");
            return Err(Error::Build {
                command,
                status: output.status.to_string(),
            });
        }
        parse_messages(&String::from_utf8_lossy(&output.stdout))
    }

    /// Builds the kernel binary and returns its ELF.
    ///
    /// # Errors
    ///
    /// As [`Request::run`], and [`Error::NoExecutable`] when cargo reported no kernel.
    pub fn kernel(&self) -> Result<PathBuf> {
        kernel_binary(&self.run()?)
    }
}

/// The executables in cargo's JSON messages, in the order reported.
///
/// # Errors
///
/// [`Error::CargoJson`] when a line is not a JSON object.
pub fn parse_messages(stdout: &str) -> Result<Vec<Executable>> {
    let mut executables = Vec::new();
    for line in stdout.lines().filter(|line| !line.trim().is_empty()) {
        let message: Value = serde_json::from_str(line).map_err(|error| Error::CargoJson {
            line: line.to_owned(),
            reason: error.to_string(),
        })?;
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(path) = message["executable"].as_str() else {
            continue;
        };
        let target = &message["target"];
        let strings = |value: &Value| -> Vec<String> {
            value
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        };
        executables.push(Executable {
            name: target["name"].as_str().unwrap_or_default().to_owned(),
            kinds: strings(&target["kind"]),
            test: message["profile"]["test"].as_bool().unwrap_or(false),
            path: PathBuf::from(path),
        });
    }
    Ok(executables)
}

/// The kernel binary among `executables`.
///
/// # Errors
///
/// [`Error::NoExecutable`] when there is none.
pub fn kernel_binary(executables: &[Executable]) -> Result<PathBuf> {
    executables
        .iter()
        .find(|executable| {
            !executable.test
                && executable.name == KERNEL_PACKAGE
                && executable.kinds.iter().any(|kind| kind == "bin")
        })
        .map(|executable| executable.path.clone())
        .ok_or_else(|| Error::NoExecutable {
            what: "the kernel binary".into(),
        })
}

/// The test ELFs among `executables`.
pub fn test_executables(executables: &[Executable]) -> impl Iterator<Item = &Executable> {
    executables.iter().filter(|executable| executable.test)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGES: &str = r#"
{"reason":"compiler-artifact","package_id":"path+file:///w/kernel#0.1.0","target":{"kind":["lib"],"name":"kernel"},"profile":{"test":false},"executable":null,"fresh":true}
{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"kernel"},"profile":{"test":false},"executable":"/w/target/x86_64-unknown-none/debug/kernel","fresh":false}
{"reason":"compiler-artifact","target":{"kind":["test"],"name":"heap"},"profile":{"test":true},"executable":"/w/target/x86_64-unknown-none/debug/deps/heap-0123abcd","fresh":false}
{"reason":"build-finished","success":true}
"#;

    #[test]
    fn executables_are_read_from_artifacts() {
        let executables = parse_messages(MESSAGES).unwrap();
        assert_eq!(executables.len(), 2);
        assert_eq!(
            kernel_binary(&executables).unwrap(),
            PathBuf::from("/w/target/x86_64-unknown-none/debug/kernel")
        );
        let tests: Vec<_> = test_executables(&executables).collect();
        assert_eq!(tests.len(), 1);
        assert_eq!(tests[0].name, "heap");
        assert!(tests[0].path.ends_with("deps/heap-0123abcd"));
    }

    #[test]
    fn no_kernel_is_an_error() {
        let error = kernel_binary(&[]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "cargo built no executable for the kernel binary"
        );
    }

    #[test]
    fn garbage_is_an_error() {
        let error = parse_messages("Compiling kernel\n").unwrap_err();
        assert!(matches!(error, Error::CargoJson { .. }), "{error}");
    }

    #[test]
    fn build_arguments() {
        let request = Request {
            cargo: None,
            arch: Arch::X86_64,
            more_arches: Vec::new(),
            manifest_path: Some("/w/Cargo.toml".into()),
            release: true,
            tests: true,
            quiet: true,
        };
        let args: Vec<_> = request
            .args()
            .into_iter()
            .map(|arg| arg.into_string().unwrap())
            .collect();
        assert_eq!(
            args.join(" "),
            "build --package kernel --target x86_64-unknown-none \
             --message-format=json-render-diagnostics --manifest-path /w/Cargo.toml \
             --release --tests --quiet"
        );
        let riscv = Request {
            arch: Arch::Riscv64,
            ..Request::default()
        };
        assert!(
            riscv
                .args()
                .join(std::ffi::OsStr::new(" "))
                .to_string_lossy()
                .starts_with("build --package kernel --target riscv64gc-unknown-none-elf ")
        );
        let both = Request {
            more_arches: vec![Arch::Riscv64],
            ..Request::default()
        };
        assert!(
            both.args()
                .join(std::ffi::OsStr::new(" "))
                .to_string_lossy()
                .starts_with(
                    "build --package kernel --target x86_64-unknown-none \
                     --target riscv64gc-unknown-none-elf --message-format="
                )
        );
    }
}
