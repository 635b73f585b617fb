//! Calls into the SBI firmware (OpenSBI): the timer, the console, system reset.
//!
//! An SBI call is an `ecall` from S-mode with the extension id in `a7`, the function id
//! in `a6` and arguments in `a0..`; the firmware returns an error in `a0` and a value in
//! `a1`. The legacy console extensions (0x01, 0x02) return their value in `a0`.

/// The timer extension, "TIME".
const TIMER: u64 = 0x5449_4d45;
/// The system reset extension, "SRST".
const SYSTEM_RESET: u64 = 0x5352_5354;
/// The base extension (probing for the others).
const BASE: u64 = 0x10;
/// The hart state management extension, "HSM".
const HART_STATE: u64 = 0x0048_534d;
/// The IPI extension, "sPI".
const IPI: u64 = 0x0073_5049;
/// `hart_get_status`'s answer for a hart waiting for `hart_start`.
pub const HART_STOPPED: u64 = 1;
/// Legacy `console_putchar`.
const LEGACY_CONSOLE_PUTCHAR: u64 = 0x01;
/// Legacy `console_getchar`.
const LEGACY_CONSOLE_GETCHAR: u64 = 0x02;

/// Reset types and reasons for [`system_reset`].
const RESET_SHUTDOWN: u64 = 0;
const RESET_COLD_REBOOT: u64 = 1;
const REASON_NONE: u64 = 0;
const REASON_FAILURE: u64 = 1;

/// Makes one SBI call; returns `(a0, a1)`.
fn call(extension: u64, function: u64, arguments: [u64; 3]) -> (i64, u64) {
    let error: i64;
    let value: u64;
    // SAFETY: an `ecall` into the firmware with these registers; the SBI calls used here
    // do not write kernel memory (they take no pointers).
    unsafe {
        core::arch::asm!(
            "ecall",
            inlateout("a0") arguments[0] => error,
            inlateout("a1") arguments[1] => value,
            in("a2") arguments[2],
            in("a6") function,
            in("a7") extension,
            options(nostack),
        );
    }
    (error, value)
}

/// Programs the timer to interrupt when the `time` CSR reaches `deadline` (this also
/// clears a pending timer interrupt).
pub fn set_timer(deadline: u64) {
    call(TIMER, 0, [deadline, 0, 0]);
}

/// Writes one byte to the firmware console.
pub fn console_putchar(byte: u8) {
    call(LEGACY_CONSOLE_PUTCHAR, 0, [u64::from(byte), 0, 0]);
}

/// Reads one byte from the firmware console, if one is waiting.
pub fn console_getchar() -> Option<u8> {
    let (value, _) = call(LEGACY_CONSOLE_GETCHAR, 0, [0, 0, 0]);
    u8::try_from(value).ok()
}

/// Whether the firmware has the HSM (and so also starts harts).
pub fn has_hart_state_management() -> bool {
    let (error, value) = call(BASE, 3, [HART_STATE, 0, 0]);
    error == 0 && value != 0
}

/// The HSM state of hart `hart` (`None`: no such hart, or no HSM).
pub fn hart_status(hart: u64) -> Option<u64> {
    let (error, value) = call(HART_STATE, 2, [hart, 0, 0]);
    (error == 0).then_some(value)
}

/// Starts hart `hart` in S-mode at physical address `entry` with `a0` = its hart id
/// and `a1` = `opaque`; whether the firmware accepted.
pub fn hart_start(hart: u64, entry: u64, opaque: u64) -> bool {
    call(HART_STATE, 0, [hart, entry, opaque]).0 == 0
}

/// Sends a supervisor software interrupt to hart `hart`.
pub fn send_ipi(hart: u64) {
    // The mask is relative to the base: bit 0 is `hart` itself.
    call(IPI, 0, [1, hart, 0]);
}

/// Powers the machine off (QEMU exits with status 0 either way); returns only if the
/// firmware lacks the extension.
pub fn system_reset(failure: bool) {
    let reason = if failure { REASON_FAILURE } else { REASON_NONE };
    call(SYSTEM_RESET, 0, [RESET_SHUTDOWN, reason, 0]);
}

/// Asks the firmware for a cold reboot; returns only if the firmware lacks the extension.
pub fn reboot() {
    call(SYSTEM_RESET, 0, [RESET_COLD_REBOOT, REASON_NONE, 0]);
}
