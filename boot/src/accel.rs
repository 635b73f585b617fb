//! Choosing QEMU's accelerator: TCG (the emulator) or KVM.
//!
//! `auto` uses KVM only when the host CPU advertises hardware virtualization (`vmx` on
//! Intel, `svm` on AMD) *and* `/dev/kvm` can be opened. A `/dev/kvm` without those flags
//! is a software backend that is slower than TCG and kills the guest on `int3`, so `auto`
//! ignores it. The decision is a pure function of the `/proc/cpuinfo` text and the
//! usability of `/dev/kvm`, so it is unit tested without either.

use std::fmt;
use std::fs::OpenOptions;

use crate::error::{Error, Result};

/// The accelerator the user asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Request {
    /// KVM when the CPU has `vmx`/`svm` and `/dev/kvm` is usable, TCG otherwise.
    #[default]
    Auto,
    /// Always TCG.
    Tcg,
    /// Always KVM (an error if `/dev/kvm` cannot be opened).
    Kvm,
}

/// The accelerator QEMU is started with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// QEMU's tiny code generator: pure emulation.
    Tcg,
    /// The Linux kernel virtual machine.
    Kvm,
}

impl Accel {
    /// The value of QEMU's `-accel` option.
    #[must_use]
    pub fn qemu_name(self) -> &'static str {
        match self {
            Self::Tcg => "tcg",
            Self::Kvm => "kvm",
        }
    }
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.qemu_name())
    }
}

/// Whether the `flags` lines of `/proc/cpuinfo` text list `vmx` or `svm`.
#[must_use]
pub fn has_hardware_virtualization(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(key, _)| key.trim() == "flags")
        .any(|(_, flags)| {
            flags
                .split_whitespace()
                .any(|flag| flag == "vmx" || flag == "svm")
        })
}

/// Resolves a request given the host's facts.
///
/// # Errors
///
/// [`Error::KvmUnavailable`] when KVM is requested explicitly and `/dev/kvm` is not
/// usable.
pub fn resolve(request: Request, cpuinfo: &str, kvm_usable: bool) -> Result<Accel> {
    match request {
        Request::Tcg => Ok(Accel::Tcg),
        Request::Auto if kvm_usable && has_hardware_virtualization(cpuinfo) => Ok(Accel::Kvm),
        Request::Auto => Ok(Accel::Tcg),
        Request::Kvm if kvm_usable => Ok(Accel::Kvm),
        Request::Kvm => Err(Error::KvmUnavailable {
            reason: "/dev/kvm cannot be opened for reading and writing".into(),
        }),
    }
}

/// Resolves a request on this host, reading `/proc/cpuinfo` and trying `/dev/kvm`.
///
/// # Errors
///
/// As [`resolve`].
pub fn detect(request: Request) -> Result<Accel> {
    if request == Request::Tcg {
        return Ok(Accel::Tcg);
    }
    // An unreadable cpuinfo reads as "no vmx/svm": TCG, the safe choice.
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let kvm_usable = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    resolve(request, &cpuinfo, kvm_usable)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTEL: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme de pse vmx sse2\n\nprocessor\t: 1\nflags\t\t: fpu vme de pse vmx sse2\n";
    const AMD: &str = "processor\t: 0\nflags\t\t: fpu svm lm\n";
    const NONE: &str = "processor\t: 0\nflags\t\t: fpu vme hypervisor lm\nvmx flags\t: ept\n";

    #[test]
    fn flags_are_found_only_in_the_flags_line() {
        assert!(has_hardware_virtualization(INTEL));
        assert!(has_hardware_virtualization(AMD));
        // "vmx flags" is a different key; `vmxx` is not `vmx`.
        assert!(!has_hardware_virtualization(NONE));
        assert!(!has_hardware_virtualization("flags : vmxx svm2\n"));
        assert!(!has_hardware_virtualization(""));
    }

    #[test]
    fn auto_needs_both_the_flag_and_a_usable_device() {
        assert_eq!(resolve(Request::Auto, INTEL, true).unwrap(), Accel::Kvm);
        assert_eq!(resolve(Request::Auto, AMD, true).unwrap(), Accel::Kvm);
        assert_eq!(resolve(Request::Auto, NONE, true).unwrap(), Accel::Tcg);
        assert_eq!(resolve(Request::Auto, INTEL, false).unwrap(), Accel::Tcg);
    }

    #[test]
    fn explicit_requests() {
        assert_eq!(resolve(Request::Tcg, INTEL, true).unwrap(), Accel::Tcg);
        // An explicit request is honoured even without the flags (the user knows).
        assert_eq!(resolve(Request::Kvm, NONE, true).unwrap(), Accel::Kvm);
        let error = resolve(Request::Kvm, INTEL, false).unwrap_err();
        assert!(error.to_string().contains("--accel tcg"), "{error}");
    }
}
