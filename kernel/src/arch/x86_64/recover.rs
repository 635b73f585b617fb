//! Recovering from a panic or CPU fault inside a guarded call: how expected-panic and
//! expected-fault tests return to the runner.
//!
//! [`run_guarded`] saves a resume context (callee-saved registers, stack pointer, return
//! address, flags: a `setjmp`) and calls the closure. Without a panic or fault it returns
//! `Ok`. If the closure panics or faults, the panic handler or the fault handler calls
//! [`panic`]/[`fault`], which record what happened and restore the saved context (a
//! `longjmp`): `run_guarded` then returns `Err(Abort)` on the stack and with the flags it
//! was called with. This also leaves the double-fault IST stack, so a later double fault
//! gets it fresh.
//!
//! Limits, by design of a kernel without unwinding (`panic = abort`):
//! - destructors of the abandoned frames never run: heap allocations the closure still
//!   owned are lost (the test runner accounts for that, see [`crate::test`]);
//! - a spin lock held by the closure at the point of the panic/fault stays locked;
//! - a fault inside an interrupt handler aborts the guarded call as well.
//!
//! Outside a guarded call, a fault is reported on the console and QEMU exits with the
//! failure code.

use core::arch::naked_asm;
use core::fmt;
use core::sync::atomic::{AtomicPtr, Ordering};

use spin::Mutex;

use super::idt::Fault;
use super::qemu::{ExitCode, exit_qemu};
use crate::text::FixedString;

/// Capacity of a recorded panic message.
pub const MESSAGE_CAPACITY: usize = 256;

/// What ended a guarded call early.
#[expect(
    clippy::large_enum_variant,
    reason = "recorded on the panic path, which must not allocate; moved once per test"
)]
#[derive(Debug, Clone, Copy)]
pub enum Abort {
    /// A panic: its message and location (`file:line:column`).
    Panic {
        /// The formatted panic message.
        message: FixedString<MESSAGE_CAPACITY>,
        /// Where the panic happened.
        location: FixedString<128>,
    },
    /// A CPU fault.
    Fault(Fault),
}

impl fmt::Display for Abort {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Panic { message, location } => {
                write!(formatter, "panicked at {location}: {message}")
            }
            Self::Fault(fault) => write!(formatter, "unexpected {fault}"),
        }
    }
}

/// The saved context; field offsets are used by the assembly below.
#[repr(C)]
#[derive(Debug, Default)]
struct ResumeContext {
    rbx: u64,
    rbp: u64,
    r12: u64,
    r13: u64,
    r14: u64,
    r15: u64,
    /// Stack pointer as it is after `guarded_call` returns.
    rsp: u64,
    /// `guarded_call`'s return address.
    rip: u64,
    rflags: u64,
}

/// The context to resume on panic/fault, or null outside a guarded call.
static ARMED: AtomicPtr<ResumeContext> = AtomicPtr::new(core::ptr::null_mut());

/// What aborted the current guarded call; written just before resuming.
static ABORT: Mutex<Option<Abort>> = Mutex::new(None);

/// Saves the resume context into `context`, calls `entry(data)`, and returns 0. When the
/// context is resumed instead, returns 1 (from [`resume`]).
///
/// # Safety
///
/// `context` must be valid for writes; `entry(data)` must be safe to call.
#[unsafe(naked)]
unsafe extern "C" fn guarded_call(
    context: *mut ResumeContext,
    entry: extern "C" fn(*mut ()),
    data: *mut (),
) -> u64 {
    naked_asm!(
        "mov [rdi + 0], rbx",
        "mov [rdi + 8], rbp",
        "mov [rdi + 16], r12",
        "mov [rdi + 24], r13",
        "mov [rdi + 32], r14",
        "mov [rdi + 40], r15",
        "lea rax, [rsp + 8]",
        "mov [rdi + 48], rax",
        "mov rax, [rsp]",
        "mov [rdi + 56], rax",
        "pushfq",
        "pop rax",
        "mov [rdi + 64], rax",
        // Entered with rsp = 8 (mod 16); realign for the call.
        "sub rsp, 8",
        "mov rdi, rdx",
        "call rsi",
        "add rsp, 8",
        "xor eax, eax",
        "ret",
    )
}

/// Restores `context` and makes its `guarded_call` return 1.
///
/// # Safety
///
/// `context` must have been filled by a `guarded_call` that has not returned yet.
#[unsafe(naked)]
unsafe extern "C" fn resume(context: *const ResumeContext) -> ! {
    naked_asm!(
        "mov rbx, [rdi + 0]",
        "mov rbp, [rdi + 8]",
        "mov r12, [rdi + 16]",
        "mov r13, [rdi + 24]",
        "mov r14, [rdi + 32]",
        "mov r15, [rdi + 40]",
        "mov rsp, [rdi + 48]",
        "mov rax, [rdi + 56]",
        "push qword ptr [rdi + 64]",
        "popfq",
        "mov rdx, rax",
        "mov eax, 1",
        "jmp rdx",
    )
}

/// Trampoline from `guarded_call` into the Rust closure.
extern "C" fn call_closure(data: *mut ()) {
    // SAFETY: `run_guarded` passes a pointer to a live `&mut dyn FnMut()`.
    let closure = unsafe { &mut *data.cast::<&mut dyn FnMut()>() };
    closure();
}

/// Runs `body`; a panic or CPU fault inside it returns `Err` instead of ending the kernel.
///
/// Guarded calls nest: the innermost one catches.
///
/// # Errors
///
/// [`Abort`] describes the panic or fault that ended `body` early.
#[expect(
    clippy::result_large_err,
    reason = "the panic message is kept inline: the heap may be broken"
)]
pub fn run_guarded(mut body: impl FnMut()) -> Result<(), Abort> {
    let mut context = ResumeContext::default();
    let mut closure: &mut dyn FnMut() = &mut body;
    let previous = ARMED.swap(&raw mut context, Ordering::SeqCst);
    // SAFETY: `context` lives in this frame, which outlives the call (a resume returns
    // here); `call_closure` is given a pointer to `closure`, alive for the whole call.
    let resumed = unsafe {
        guarded_call(
            &raw mut context,
            call_closure,
            (&raw mut closure).cast::<()>(),
        )
    };
    ARMED.store(previous, Ordering::SeqCst);
    if resumed == 0 {
        Ok(())
    } else {
        Err(ABORT
            .lock()
            .take()
            .expect("a resume always records its cause"))
    }
}

/// Records `abort` and resumes the innermost guarded call, if there is one.
fn abort_guarded_call(abort: Abort) {
    let context = ARMED.load(Ordering::SeqCst);
    if context.is_null() {
        return;
    }
    // The aborted code might hold this lock only if it was aborted inside
    // `run_guarded`'s own bookkeeping, which cannot fault; force it to be safe anyway.
    if ABORT.is_locked() {
        // SAFETY: whoever held the lock is being abandoned and never resumes.
        unsafe { ABORT.force_unlock() };
    }
    *ABORT.lock() = Some(abort);
    // SAFETY: `ARMED` only ever holds the context of a `run_guarded` frame that is still
    // executing (it is reset before that frame returns).
    unsafe { resume(context) }
}

/// Called by the panic handler: resumes the guarded call, if any; otherwise returns.
pub fn panic(message: FixedString<MESSAGE_CAPACITY>, location: FixedString<128>) {
    abort_guarded_call(Abort::Panic { message, location });
}

/// Called for every CPU fault: resumes the guarded call, if any; otherwise reports the
/// fault and exits QEMU with the failure code.
pub fn fault(fault: Fault) {
    abort_guarded_call(Abort::Fault(fault));
    super::serial::emergency_write(format_args!("\nkernel: unhandled {fault}\n"));
    exit_qemu(ExitCode::Failure)
}
