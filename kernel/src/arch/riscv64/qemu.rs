//! Leaving QEMU with a status code, through the `sifive,test` finisher of `virt`.
//!
//! Writing `0x3333 | code << 16` to the finisher makes QEMU exit with status `code`, so
//! the kernel exits with the same statuses as on x86_64 (33 = pass, 35 = fail, 37 = boot
//! again for the remaining tests) and the
//! host runner needs no per-architecture table.
//!
//! The finisher is a devicetree device with a driver, [`Finisher`]: bound, it owns the
//! register window, and [`exit_qemu`] writes through it. Before it binds (a panic early
//! in the boot) and after it unbinds, the exit writes the address the early devicetree
//! read found, since leaving the machine needs no ownership any more; without a
//! finisher, SBI system reset powers off (status 0 from QEMU).

use alloc::sync::Arc;

use drivermodel::context::Core;
use drivermodel::{Device, Devres, Driver, IdEntry};
use spin::Mutex;

use super::io::MmioWindow;
use super::{devicetree, sbi};
use crate::bus::Claim;
use crate::bus::platform::Platform;

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

/// The finisher's driver name.
pub const FINISHER_DRIVER: &str = "sifive-test";

/// The `sifive,test` finisher's driver.
#[derive(Debug)]
pub struct Finisher;

static FINISHER_IDS: [IdEntry<&str, ()>; 2] = [
    IdEntry::new("sifive,test1", ()),
    IdEntry::new("sifive,test0", ()),
];

/// The bound finisher's register window.
static WINDOW: Mutex<Option<Arc<Devres<MmioWindow>>>> = Mutex::new(None);

impl Driver for Finisher {
    type Bus = Platform;
    type IdInfo = ();
    type State = ();

    fn name(&self) -> &str {
        FINISHER_DRIVER
    }

    fn id_table(&self) -> &[IdEntry<&'static str, ()>] {
        &FINISHER_IDS
    }

    fn probe(&self, device: &Device<Core>, _info: &()) -> drivermodel::Result<()> {
        let range = device
            .mmio(0)
            .ok_or_else(|| drivermodel::Error::driver("no finisher register (reg)"))?;
        let window = Arc::new(device.claim_mmio(range)?);
        super::without_interrupts(|| *WINDOW.lock() = Some(window));
        device.devres().add_action_or_reset(|| {
            let old = super::without_interrupts(|| WINDOW.lock().take());
            drop(old);
        })?;
        Ok(())
    }
}

/// Exits QEMU with `code`; halts forever if neither exit path works.
pub fn exit_qemu(code: ExitCode) -> ! {
    super::cpu::stop_others();
    let command = FINISHER_FAIL | (code as u32) << 16;
    // `try_lock`: a panic may interrupt a holder of the lock.
    let window = WINDOW.try_lock().and_then(|window| window.clone());
    if let Some(window) = window {
        let _ = window.try_access_with(|window| window.write_u32(0, command));
    }
    if let Some(finisher) = devicetree::facts().and_then(|facts| facts.test_finisher) {
        // SAFETY: `finisher` is the `sifive,test` register from the devicetree: device
        // memory no Rust object lives in; the write ends the machine.
        unsafe { (finisher as *mut u32).write_volatile(command) };
    }
    sbi::system_reset(code == ExitCode::Failure);
    super::halt_forever()
}
