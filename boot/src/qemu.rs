//! The QEMU command line, built from typed settings (pure: no process is started here).
//!
//! The kernel is booted without a bootloader: `-kernel ELF`. On x86_64 the ELF has a PVH
//! note, and the `isa-debug-exit` device at port `0xf4` lets the kernel end QEMU with a
//! status: writing `v` exits with `(v << 1) | 1`, so the kernel's `0x10` is
//! [`EXIT_SUCCESS`], `0x11` is [`EXIT_FAILURE`] and `0x12` is [`EXIT_CONTINUE`]. On
//! riscv64 the `virt` machine boots OpenSBI (`-bios default`), which enters the ELF in
//! S-mode, and the kernel ends QEMU with the same three statuses through the machine's
//! `sifive,test` finisher. `-no-reboot` turns a triple fault into an exit (status 0)
//! instead of an endless reboot loop.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use crate::accel::Accel;
use crate::error::{Error, Result};

/// QEMU's exit status when the kernel reports success (it wrote `0x10` to port `0xf4`).
pub const EXIT_SUCCESS: i32 = 33;
/// QEMU's exit status when the kernel reports failure (it wrote `0x11` to port `0xf4`).
pub const EXIT_FAILURE: i32 = 35;
/// QEMU's exit status when a test ended the boot and more tests remain (the kernel wrote
/// `0x12`): the runner boots the kernel again to run them.
pub const EXIT_CONTINUE: i32 = 37;
/// The x86_64 QEMU program looked up in `PATH`.
pub const PROGRAM: &str = "qemu-system-x86_64";

/// The architecture the kernel is built for and QEMU emulates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Arch {
    /// x86_64: PVH boot on the q35 or pc machine.
    #[default]
    #[value(name = "x86_64")]
    X86_64,
    /// riscv64: OpenSBI on the virt machine (`--machine` and `--bios` do not apply).
    #[value(name = "riscv64")]
    Riscv64,
}

impl Arch {
    /// The name `--arch` takes.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Riscv64 => "riscv64",
        }
    }

    /// The Rust target the kernel is built for.
    #[must_use]
    pub fn target(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64-unknown-none",
            Self::Riscv64 => "riscv64gc-unknown-none-elf",
        }
    }

    /// The QEMU program looked up in `PATH`.
    #[must_use]
    pub fn qemu_program(self) -> &'static str {
        match self {
            Self::X86_64 => PROGRAM,
            Self::Riscv64 => "qemu-system-riscv64",
        }
    }

    /// The Debian package that provides [`Arch::qemu_program`].
    #[must_use]
    pub fn qemu_package(self) -> &'static str {
        match self {
            Self::X86_64 => "qemu-system-x86",
            Self::Riscv64 => "qemu-system-misc",
        }
    }

    /// The architecture of an ELF file, from its header's `e_machine`; `None` if the file
    /// cannot be read or is not an x86_64 or riscv64 ELF.
    #[must_use]
    pub fn of_elf(path: &std::path::Path) -> Option<Self> {
        use std::io::Read;
        let mut header = [0u8; 20];
        std::fs::File::open(path)
            .and_then(|mut file| file.read_exact(&mut header))
            .ok()?;
        Self::of_elf_header(&header)
    }

    /// As [`Arch::of_elf`], on the first 20 bytes of the file.
    #[must_use]
    pub fn of_elf_header(header: &[u8; 20]) -> Option<Self> {
        if header[..4] != *b"\x7fELF" {
            return None;
        }
        match u16::from_le_bytes([header[18], header[19]]) {
            0x3e => Some(Self::X86_64),
            0xf3 => Some(Self::Riscv64),
            _ => None,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
/// The default guest memory size.
pub const DEFAULT_MEMORY: &str = "256M";

/// The emulated machine (chipset).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Machine {
    /// Q35 + ICH9, PCI Express.
    #[default]
    Q35,
    /// i440FX + PIIX, the classic PC.
    Pc,
}

impl Machine {
    /// The value of QEMU's `-machine` option.
    #[must_use]
    pub fn qemu_name(self) -> &'static str {
        match self {
            Self::Q35 => "q35",
            Self::Pc => "pc",
        }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.qemu_name())
    }
}

/// The firmware that runs before the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Bios {
    /// QEMU's default BIOS; it assigns PCI BARs.
    #[default]
    Seabios,
    /// The minimal qboot firmware: faster, and it leaves PCI BARs unassigned.
    Qboot,
}

impl Bios {
    /// The name used on the command line and in test names.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Seabios => "seabios",
            Self::Qboot => "qboot",
        }
    }
}

impl fmt::Display for Bios {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The display adapter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DisplayDevice {
    /// Standard VGA (`-vga std`): the Bochs DISPI interface with legacy VGA.
    #[default]
    Std,
    /// `-device bochs-display`: the DISPI interface without legacy VGA.
    BochsDisplay,
    /// No display adapter at all.
    None,
}

/// Where the QEMU window goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Display {
    /// QEMU's default user interface (a window).
    Window,
    /// No window (`-display none`); screenshots still work through QMP.
    Headless,
}

/// Where the guest's first serial port goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Serial {
    /// QEMU's stdio, output only in practice (stdin is not a terminal); no monitor.
    Stdio,
    /// QEMU's stdio multiplexed with the monitor (`mon:stdio`): typing reaches the
    /// guest, Ctrl-A X quits, Ctrl-A C switches to the monitor.
    MonitorStdio,
}

/// A complete QEMU invocation.
#[derive(Clone, Debug)]
pub struct Invocation {
    /// The QEMU executable.
    pub program: PathBuf,
    /// The architecture (riscv64 ignores `machine` and `bios`: it boots `virt` with
    /// OpenSBI).
    pub arch: Arch,
    /// The kernel ELF (with a PVH note).
    pub kernel: PathBuf,
    /// The kernel command line (omitted when empty).
    pub append: String,
    /// The machine.
    pub machine: Machine,
    /// The firmware.
    pub bios: Bios,
    /// The accelerator.
    pub accel: Accel,
    /// Guest memory, in QEMU's syntax (`256M`, `1G`).
    pub memory: String,
    /// Virtual CPUs (`-smp`); more than one runs TCG multi-threaded, one host thread
    /// per vCPU.
    pub smp: u32,
    /// Window or headless.
    pub display: Display,
    /// The display adapter.
    pub display_device: DisplayDevice,
    /// The serial port's wiring.
    pub serial: Serial,
    /// A QMP server socket to create, if any.
    pub qmp_socket: Option<PathBuf>,
    /// Wait for a debugger on TCP port 1234 before running (`-s -S`).
    pub gdb: bool,
}

impl Invocation {
    /// The arguments after the program name.
    #[must_use]
    pub fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
        // One vCPU keeps QEMU's defaults; several ask for multi-threaded TCG explicitly.
        let accel = match (self.accel, self.smp) {
            (Accel::Tcg, 2..) => "tcg,thread=multi",
            (accel, _) => accel.qemu_name(),
        };
        let smp = self.smp.to_string();
        match self.arch {
            Arch::X86_64 => {
                push(&["-machine", self.machine.qemu_name()]);
                push(&["-accel", accel]);
                push(&["-cpu", "max", "-m", &self.memory]);
                if self.bios == Bios::Qboot {
                    // QEMU looks a bare name up in its own firmware directory.
                    push(&["-bios", "qboot.rom"]);
                }
            }
            Arch::Riscv64 => {
                push(&["-machine", "virt", "-accel", accel]);
                push(&["-m", &self.memory, "-bios", "default"]);
            }
        }
        if self.smp > 1 {
            push(&["-smp", &smp]);
        }
        match self.serial {
            Serial::Stdio => push(&["-serial", "stdio", "-monitor", "none"]),
            Serial::MonitorStdio => push(&["-serial", "mon:stdio"]),
        }
        if self.display == Display::Headless {
            push(&["-display", "none"]);
        }
        match (self.arch, self.display_device) {
            (Arch::X86_64, DisplayDevice::Std) => push(&["-vga", "std"]),
            (Arch::X86_64, DisplayDevice::BochsDisplay) => {
                push(&["-vga", "none", "-device", "bochs-display"]);
            }
            (Arch::X86_64, DisplayDevice::None) => push(&["-vga", "none"]),
            // `virt` has no VGA: the same DISPI interface comes as a PCI bochs-display.
            (Arch::Riscv64, DisplayDevice::Std | DisplayDevice::BochsDisplay) => {
                push(&["-device", "bochs-display"]);
            }
            (Arch::Riscv64, DisplayDevice::None) => {}
        }
        if self.arch == Arch::X86_64 {
            push(&["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]);
        }
        push(&["-no-reboot"]);
        if let Some(socket) = &self.qmp_socket {
            let mut spec = OsString::from("unix:");
            spec.push(socket);
            spec.push(",server=on,wait=off");
            args.push("-qmp".into());
            args.push(spec);
        }
        if self.gdb {
            args.extend(["-s", "-S"].map(OsString::from));
        }
        args.push("-kernel".into());
        args.push(self.kernel.clone().into_os_string());
        if !self.append.is_empty() {
            args.push("-append".into());
            args.push(self.append.clone().into());
        }
        args
    }

    /// The command line as a shell-like string, for messages.
    #[must_use]
    pub fn display_command(&self) -> String {
        std::iter::once(self.program.clone().into_os_string())
            .chain(self.args())
            .map(|arg| {
                let arg = arg.to_string_lossy().into_owned();
                if arg.is_empty() || arg.contains([' ', '"', '\'']) {
                    format!("'{}'", arg.replace('\'', r"'\''"))
                } else {
                    arg
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Checks a memory size in QEMU's syntax: a positive number with an optional
/// `K`/`M`/`G`/`T` suffix (a bare number means MiB).
///
/// # Errors
///
/// [`Error::InvalidOption`] when the value is not of that form.
pub fn validate_memory(value: &str) -> Result<()> {
    let digits = value.strip_suffix(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
    let digits = digits.unwrap_or(value);
    let valid = !digits.is_empty()
        && digits.bytes().all(|byte| byte.is_ascii_digit())
        && digits.bytes().any(|byte| byte != b'0');
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidOption {
            option: "--memory",
            value: value.to_owned(),
            reason: "expected a size such as 256M or 1G",
        })
    }
}

/// What a QEMU exit status means, as a phrase that follows "QEMU".
#[must_use]
pub fn describe_exit(code: Option<i32>) -> String {
    match code {
        Some(EXIT_SUCCESS) => {
            format!("exited with status {EXIT_SUCCESS}: the kernel reported success")
        }
        Some(EXIT_FAILURE) => {
            format!("exited with status {EXIT_FAILURE}: the kernel reported failure")
        }
        Some(EXIT_CONTINUE) => format!(
            "exited with status {EXIT_CONTINUE}: a test ended the boot and the kernel asked to \
             be booted again for the tests after it"
        ),
        Some(0) => "exited with status 0: the guest reset (a triple fault, with -no-reboot) \
                    or QEMU was quit, without the kernel reporting a result"
            .into(),
        Some(code) => {
            format!("exited with status {code}: QEMU itself failed (see its messages)")
        }
        None => "was killed by a signal".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation() -> Invocation {
        Invocation {
            program: PROGRAM.into(),
            arch: Arch::X86_64,
            kernel: "/k/kernel".into(),
            append: String::new(),
            machine: Machine::Q35,
            bios: Bios::Seabios,
            accel: Accel::Tcg,
            memory: DEFAULT_MEMORY.into(),
            smp: 1,
            display: Display::Headless,
            display_device: DisplayDevice::Std,
            serial: Serial::Stdio,
            qmp_socket: None,
            gdb: false,
        }
    }

    fn joined(invocation: &Invocation) -> String {
        invocation
            .args()
            .iter()
            .map(|arg| arg.to_str().unwrap())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_contract_command_line() {
        assert_eq!(
            joined(&invocation()),
            "-machine q35 -accel tcg -cpu max -m 256M -serial stdio -monitor none \
             -display none -vga std -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
             -no-reboot -kernel /k/kernel"
        );
    }

    #[test]
    fn every_option_changes_its_own_part() {
        let mut full = invocation();
        full.machine = Machine::Pc;
        full.bios = Bios::Qboot;
        full.accel = Accel::Kvm;
        full.memory = "1G".into();
        full.display = Display::Window;
        full.display_device = DisplayDevice::BochsDisplay;
        full.serial = Serial::MonitorStdio;
        full.qmp_socket = Some("/tmp/x/qmp.sock".into());
        full.gdb = true;
        full.append = "exit log=debug".into();
        assert_eq!(
            joined(&full),
            "-machine pc -accel kvm -cpu max -m 1G -bios qboot.rom -serial mon:stdio \
             -vga none -device bochs-display -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
             -no-reboot -qmp unix:/tmp/x/qmp.sock,server=on,wait=off -s -S \
             -kernel /k/kernel -append exit log=debug"
        );
        // The command line keeps the kernel command line as one argument.
        let args = full.args();
        assert_eq!(args.last().unwrap(), "exit log=debug");
        assert!(full.display_command().ends_with("-append 'exit log=debug'"));
    }

    #[test]
    fn several_cpus_run_multi_threaded_tcg() {
        let mut smp = invocation();
        smp.smp = 4;
        assert!(joined(&smp).starts_with(
            "-machine q35 -accel tcg,thread=multi -cpu max -m 256M -smp 4 -serial stdio"
        ));
        smp.accel = Accel::Kvm;
        assert!(joined(&smp).contains("-accel kvm -cpu max -m 256M -smp 4 "));
        smp.arch = Arch::Riscv64;
        smp.accel = Accel::Tcg;
        assert!(
            joined(&smp)
                .starts_with("-machine virt -accel tcg,thread=multi -m 256M -bios default -smp 4 ")
        );
    }

    #[test]
    fn no_display_adapter() {
        let mut none = invocation();
        none.display_device = DisplayDevice::None;
        assert!(joined(&none).contains("-vga none -device isa-debug-exit"));
    }

    #[test]
    fn riscv64_boots_virt_with_opensbi_and_no_exit_port() {
        let mut riscv = invocation();
        riscv.arch = Arch::Riscv64;
        // The x86 machine and firmware do not apply.
        riscv.machine = Machine::Pc;
        riscv.bios = Bios::Qboot;
        assert_eq!(
            joined(&riscv),
            "-machine virt -accel tcg -m 256M -bios default -serial stdio -monitor none \
             -display none -device bochs-display -no-reboot -kernel /k/kernel"
        );
        riscv.display_device = DisplayDevice::None;
        assert!(joined(&riscv).contains("-display none -no-reboot"));
    }

    #[test]
    fn elf_architectures() {
        let header = |machine: u16| {
            let mut header = [0u8; 20];
            header[..4].copy_from_slice(b"\x7fELF");
            header[18..].copy_from_slice(&machine.to_le_bytes());
            header
        };
        assert_eq!(Arch::of_elf_header(&header(0x3e)), Some(Arch::X86_64));
        assert_eq!(Arch::of_elf_header(&header(0xf3)), Some(Arch::Riscv64));
        assert_eq!(Arch::of_elf_header(&header(0xb7)), None);
        let mut not_elf = header(0x3e);
        not_elf[0] = 0;
        assert_eq!(Arch::of_elf_header(&not_elf), None);
        assert_eq!(Arch::of_elf(std::path::Path::new("/nonexistent")), None);
    }

    #[test]
    fn memory_sizes() {
        for good in ["256M", "1G", "512", "64m", "2T"] {
            validate_memory(good).unwrap();
        }
        for bad in ["", "M", "0", "0M", "-1G", "1.5G", "12Q", "1 G"] {
            assert!(validate_memory(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn exit_descriptions() {
        assert!(describe_exit(Some(33)).contains("success"));
        assert!(describe_exit(Some(35)).contains("reported failure"));
        assert!(describe_exit(Some(0)).contains("triple fault"));
        assert!(describe_exit(Some(37)).contains("booted again"));
        assert!(describe_exit(Some(1)).contains("QEMU itself"));
        assert!(describe_exit(None).contains("signal"));
    }
}
