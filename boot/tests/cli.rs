//! The `boot` binary's messages when a prerequisite is missing: exact, actionable, and
//! a non-zero exit status.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn boot(configure: impl FnOnce(&mut Command)) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_boot"));
    command.env_remove("BOOT_QEMU");
    configure(&mut command);
    command.output().expect("running boot")
}

fn executable(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn missing_qemu() {
    let empty = tempfile::tempdir().unwrap();
    let output = boot(|command| {
        command
            .env("PATH", empty.path())
            .args(["--kernel", "/nonexistent/kernel"]);
    });
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: qemu-system-x86_64 was not found in PATH; install it with: \
         sudo apt-get install qemu-system-x86\n"
    );
}

#[test]
fn missing_kernel_target() {
    let dir = tempfile::tempdir().unwrap();
    let qemu = dir.path().join("qemu-system-x86_64");
    executable(&qemu, "#!/bin/sh\nexit 1\n");
    // A rustc whose sysroot has no x86_64-unknown-none.
    let sysroot = dir.path().join("sysroot");
    fs::create_dir_all(sysroot.join("lib/rustlib/x86_64-unknown-linux-gnu/lib")).unwrap();
    let rustc = dir.path().join("rustc");
    executable(
        &rustc,
        &format!("#!/bin/sh\necho '{}'\n", sysroot.display()),
    );
    let output = boot(|command| {
        command.env("RUSTC", &rustc).arg("--qemu").arg(&qemu);
    });
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: the Rust target x86_64-unknown-none is not installed; install it with: \
         rustup target add x86_64-unknown-none\n"
    );
}

#[test]
fn usage_errors_exit_2() {
    let output = boot(|command| {
        command.args(["--machine", "microvm"]);
    });
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("[possible values: q35, pc]"));
}
