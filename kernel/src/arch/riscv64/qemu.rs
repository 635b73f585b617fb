//! Leaving QEMU with a status code, through the `sifive,test` finisher of `virt`.
//!
//! Writing `0x3333 | code << 16` to the finisher makes QEMU exit with status `code`, so
//! the kernel exits with the same statuses as on x86_64 (33 = pass, 35 = fail, 37 = boot
//! again for the remaining tests) and the
//! host runner needs no per-architecture table. The finisher's address comes from the
//! devicetree; without one, SBI system reset powers off (status 0 from QEMU).

use super::{devicetree, sbi};

/// The finisher's "fail with code" command; the code goes in the upper 16 bits.
const FINISHER_FAIL: u32 = 0x3333;

/// What the kernel reports to the host when it leaves QEMU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// QEMU exits with status 33.
    Success = 33,
    /// QEMU exits with status 35.
    Failure = 35,
    /// QEMU exits with status 37: a test ended this boot and more tests remain, so the
    /// host boots the kernel again to run them (see [`crate::test`]).
    Continue = 37,
}

/// Exits QEMU with `code`; halts forever if neither exit path works.
pub fn exit_qemu(code: ExitCode) -> ! {
    super::cpu::stop_others();
    if let Some(finisher) = devicetree::facts().and_then(|facts| facts.test_finisher) {
        // SAFETY: `finisher` is the `sifive,test` register from the devicetree: device
        // memory no Rust object lives in; the write ends the machine.
        unsafe { (finisher as *mut u32).write_volatile(FINISHER_FAIL | (code as u32) << 16) };
    }
    sbi::system_reset(code == ExitCode::Failure);
    super::halt_forever()
}
