//! The one-time prerequisites: QEMU and the kernel's Rust target.
//!
//! Both checks run before anything expensive, and both fail with a message that says
//! exactly how to install what is missing (see [`Error::QemuNotFound`] and
//! [`Error::TargetNotInstalled`]).

use std::env;
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::qemu::Arch;

/// The Rust target the x86_64 kernel is built for.
pub const KERNEL_TARGET: &str = "x86_64-unknown-none";

/// Finds QEMU for `arch`: the explicit `program` if given (from `--qemu`/`BOOT_QEMU`),
/// otherwise [`Arch::qemu_program`] in the directories of `path` (the `PATH` value).
///
/// # Errors
///
/// [`Error::QemuOverrideMissing`] when the explicit program does not exist;
/// [`Error::QemuNotFound`] when no directory of `path` holds an executable QEMU.
pub fn find_qemu(arch: Arch, program: Option<&Path>, path: Option<&OsStr>) -> Result<PathBuf> {
    if let Some(program) = program {
        // A bare name is looked up in PATH like the default; a path must exist.
        if program.components().count() == 1 {
            return search_path(program.as_os_str(), path).ok_or_else(|| Error::QemuNotFound {
                program: program.display().to_string(),
                package: arch.qemu_package(),
            });
        }
        return if program.is_file() {
            Ok(program.to_path_buf())
        } else {
            Err(Error::QemuOverrideMissing {
                path: program.to_path_buf(),
            })
        };
    }
    search_path(OsStr::new(arch.qemu_program()), path).ok_or_else(|| Error::QemuNotFound {
        program: arch.qemu_program().into(),
        package: arch.qemu_package(),
    })
}

/// Finds QEMU in this process's `PATH`.
///
/// # Errors
///
/// As [`find_qemu`].
pub fn find_qemu_in_env(arch: Arch, program: Option<&Path>) -> Result<PathBuf> {
    find_qemu(arch, program, env::var_os("PATH").as_deref())
}

fn search_path(name: &OsStr, path: Option<&OsStr>) -> Option<PathBuf> {
    env::split_paths(path?)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

/// Whether `sysroot` (as printed by `rustc --print sysroot`) holds the standard library
/// for `target`.
#[must_use]
pub fn target_installed(sysroot: &Path, target: &str) -> bool {
    sysroot
        .join("lib")
        .join("rustlib")
        .join(target)
        .join("lib")
        .is_dir()
}

/// Checks that the kernel target of `arch` is installed for the `rustc` that cargo will use
/// (`$RUSTC` or `rustc`, which rustup resolves through `rust-toolchain.toml`).
///
/// # Errors
///
/// [`Error::TargetNotInstalled`] when it is not; [`Error::Sysroot`] when rustc cannot
/// be asked.
pub fn check_kernel_target(arch: Arch) -> Result<()> {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let sysroot = sysroot(&rustc)?;
    if target_installed(&sysroot, arch.target()) {
        Ok(())
    } else {
        Err(Error::TargetNotInstalled {
            target: arch.target().into(),
        })
    }
}

fn sysroot(rustc: &OsStr) -> Result<PathBuf> {
    let program = rustc.to_string_lossy().into_owned();
    let output = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|error| Error::Sysroot {
            program: program.clone(),
            reason: error.to_string(),
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let sysroot = stdout.trim();
    if !output.status.success() || sysroot.is_empty() {
        return Err(Error::Sysroot {
            program,
            reason: format!(
                "it exited with {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    Ok(PathBuf::from(sysroot))
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn missing_qemu_says_how_to_install_it() {
        let empty = tempfile::tempdir().unwrap();
        let error = find_qemu(Arch::X86_64, None, Some(empty.path().as_os_str())).unwrap_err();
        assert_eq!(
            error.to_string(),
            "qemu-system-x86_64 was not found in PATH; install it with: \
             sudo apt-get install qemu-system-x86"
        );
        let error = find_qemu(Arch::Riscv64, None, Some(empty.path().as_os_str())).unwrap_err();
        assert_eq!(
            error.to_string(),
            "qemu-system-riscv64 was not found in PATH; install it with: \
             sudo apt-get install qemu-system-misc"
        );
        assert!(find_qemu(Arch::X86_64, None, None).is_err());
    }

    #[test]
    fn qemu_is_found_in_path_only_when_executable() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join(crate::qemu::PROGRAM);
        fs::write(&fake, "#!/bin/sh\n").unwrap();
        let path = env::join_paths(["", "/nonexistent", dir.path().to_str().unwrap()]).unwrap();
        assert!(
            find_qemu(Arch::X86_64, None, Some(&path)).is_err(),
            "not executable yet"
        );
        fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_qemu(Arch::X86_64, None, Some(&path)).unwrap(), fake);
    }

    #[test]
    fn an_explicit_qemu_must_exist() {
        let error =
            find_qemu(Arch::X86_64, Some(Path::new("/nonexistent/qemu")), None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the QEMU binary /nonexistent/qemu (from --qemu or BOOT_QEMU) does not exist"
        );
        let error = find_qemu(Arch::X86_64, Some(Path::new("qemu-other")), None).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("qemu-other was not found in PATH")
        );
    }

    #[test]
    fn target_check_looks_in_the_sysroot() {
        let sysroot = tempfile::tempdir().unwrap();
        assert!(!target_installed(sysroot.path(), KERNEL_TARGET));
        let error = Error::TargetNotInstalled {
            target: KERNEL_TARGET.into(),
        };
        assert_eq!(
            error.to_string(),
            "the Rust target x86_64-unknown-none is not installed; install it with: \
             rustup target add x86_64-unknown-none"
        );
        fs::create_dir_all(sysroot.path().join("lib/rustlib/x86_64-unknown-none/lib")).unwrap();
        assert!(target_installed(sysroot.path(), KERNEL_TARGET));
        let error = Error::TargetNotInstalled {
            target: Arch::Riscv64.target().into(),
        };
        assert_eq!(
            error.to_string(),
            "the Rust target riscv64gc-unknown-none-elf is not installed; install it with: \
             rustup target add riscv64gc-unknown-none-elf"
        );
        assert!(!target_installed(sysroot.path(), Arch::Riscv64.target()));
    }
}
