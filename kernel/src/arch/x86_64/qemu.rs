//! Leaving QEMU with a status code, through the `isa-debug-exit` device.
//!
//! QEMU must be started with `-device isa-debug-exit,iobase=0xf4,iosize=0x04`. Writing `v`
//! to port `0xf4` makes QEMU exit with status `(v << 1) | 1`, so [`ExitCode::Success`]
//! (`0x10`) gives 33, [`ExitCode::Failure`] (`0x11`) gives 35 and [`ExitCode::Continue`]
//! (`0x12`) gives 37; the host runner maps those back to pass, fail and "boot me again".
//! Without the device the write is ignored and the CPU halts. Either way the other CPUs
//! are stopped first ([`super::smp::stop_others`]): leaving stops every CPU.

use x86_64::instructions::port::Port;

/// I/O port of the `isa-debug-exit` device.
const DEBUG_EXIT_PORT: u16 = 0xf4;

/// What the kernel reports to the host when it leaves QEMU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// QEMU exits with status 33.
    Success = 0x10,
    /// QEMU exits with status 35.
    Failure = 0x11,
    /// QEMU exits with status 37: a test ended this boot and more tests remain, so the
    /// host boots the kernel again to run them (see [`crate::test`]).
    Continue = 0x12,
}

/// Exits QEMU with `code`; halts forever if the exit device is missing.
pub fn exit_qemu(code: ExitCode) -> ! {
    super::smp::stop_others();
    let mut port = Port::<u32>::new(DEBUG_EXIT_PORT);
    // SAFETY: port 0xf4 is the debug-exit device (or nothing); writing it touches no memory.
    unsafe { port.write(code as u32) };
    super::halt_forever()
}
