//! The IDT: one naked entry stub per vector, one `extern "C"` dispatcher in Rust.
//!
//! `extern "x86-interrupt"` is unstable, so every vector gets a `#[unsafe(naked)]` stub
//! that makes the stack uniform and jumps to `trap_common`:
//!
//! ```text
//!   CPU pushes   ss, rsp, rflags, cs, rip, [error code]
//!   stub pushes  [0 when the CPU pushed no error code], vector
//!   trap_common  pushes rax rcx rdx rsi rdi r8 r9 r10 r11, calls trap_dispatch(&mut TrapFrame),
//!                pops them, drops vector + error code, iretq
//! ```
//!
//! The CPU aligns RSP to 16 bytes before pushing its frame; 16 quadwords later the call
//! into Rust is aligned as the SysV ABI wants. Only the scratch (caller-saved) registers
//! are saved: the Rust handler preserves the others itself.
//!
//! All 32 exception vectors are installed, reserved ones included, so that nothing ever
//! hits a non-present entry (which would turn into a general-protection fault, then a
//! double fault, hiding the original cause). One table serves every CPU: each loads it. Breakpoint (`int3`) counts and returns; a
//! non-maskable interrupt (vector 2: QEMU's `inject-nmi`, a watchdog, a hardware error
//! line) is reported on the serial port and returns, so the kernel continues; every
//! other exception is a fault, which ends the boot: see [`super::fault`].

use core::arch::naked_asm;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Once;
use x86_64::VirtAddr;
use x86_64::structures::idt::{Entry, HandlerFunc, InterruptDescriptorTable};

use super::gdt::DOUBLE_FAULT_IST_INDEX;
use super::{apic, fault, irq, smp};

/// The register state saved on entry to an interrupt or exception, lowest address first.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TrapFrame {
    /// Saved `r11` (scratch registers come in the reverse order of their pushes).
    pub r11: u64,
    /// Saved `r10`.
    pub r10: u64,
    /// Saved `r9`.
    pub r9: u64,
    /// Saved `r8`.
    pub r8: u64,
    /// Saved `rdi`.
    pub rdi: u64,
    /// Saved `rsi`.
    pub rsi: u64,
    /// Saved `rdx`.
    pub rdx: u64,
    /// Saved `rcx`.
    pub rcx: u64,
    /// Saved `rax`.
    pub rax: u64,
    /// Vector number, pushed by the stub.
    pub vector: u64,
    /// Error code pushed by the CPU, or 0 for vectors without one.
    pub error_code: u64,
    /// Where the interrupted code resumes (for faults: the faulting instruction).
    pub rip: u64,
    /// Code segment of the interrupted code.
    pub cs: u64,
    /// Flags of the interrupted code.
    pub rflags: u64,
    /// Stack pointer of the interrupted code.
    pub rsp: u64,
    /// Stack segment of the interrupted code.
    pub ss: u64,
}

/// The CPU exceptions, by vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exception {
    /// #DE, vector 0.
    DivideError,
    /// #DB, vector 1.
    Debug,
    /// NMI, vector 2.
    NonMaskableInterrupt,
    /// #BP, vector 3.
    Breakpoint,
    /// #OF, vector 4.
    Overflow,
    /// #BR, vector 5.
    BoundRangeExceeded,
    /// #UD, vector 6.
    InvalidOpcode,
    /// #NM, vector 7.
    DeviceNotAvailable,
    /// #DF, vector 8.
    DoubleFault,
    /// Vector 9 (legacy).
    CoprocessorSegmentOverrun,
    /// #TS, vector 10.
    InvalidTss,
    /// #NP, vector 11.
    SegmentNotPresent,
    /// #SS, vector 12.
    StackSegmentFault,
    /// #GP, vector 13.
    GeneralProtection,
    /// #PF, vector 14.
    PageFault,
    /// #MF, vector 16.
    X87FloatingPoint,
    /// #AC, vector 17.
    AlignmentCheck,
    /// #MC, vector 18.
    MachineCheck,
    /// #XM, vector 19.
    SimdFloatingPoint,
    /// #VE, vector 20.
    Virtualization,
    /// #CP, vector 21.
    ControlProtection,
    /// #HV, vector 28.
    HypervisorInjection,
    /// #VC, vector 29.
    VmmCommunication,
    /// #SX, vector 30.
    Security,
    /// A reserved vector below 32 (15, 22..=27, 31).
    Reserved(u8),
}

impl Exception {
    /// The exception raised on `vector`, which must be below 32.
    pub const fn from_vector(vector: u8) -> Self {
        match vector {
            0 => Self::DivideError,
            1 => Self::Debug,
            2 => Self::NonMaskableInterrupt,
            3 => Self::Breakpoint,
            4 => Self::Overflow,
            5 => Self::BoundRangeExceeded,
            6 => Self::InvalidOpcode,
            7 => Self::DeviceNotAvailable,
            8 => Self::DoubleFault,
            9 => Self::CoprocessorSegmentOverrun,
            10 => Self::InvalidTss,
            11 => Self::SegmentNotPresent,
            12 => Self::StackSegmentFault,
            13 => Self::GeneralProtection,
            14 => Self::PageFault,
            16 => Self::X87FloatingPoint,
            17 => Self::AlignmentCheck,
            18 => Self::MachineCheck,
            19 => Self::SimdFloatingPoint,
            20 => Self::Virtualization,
            21 => Self::ControlProtection,
            28 => Self::HypervisorInjection,
            29 => Self::VmmCommunication,
            30 => Self::Security,
            other => Self::Reserved(other),
        }
    }
}

impl fmt::Display for Exception {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::DivideError => "divide error",
            Self::Debug => "debug",
            Self::NonMaskableInterrupt => "non-maskable interrupt",
            Self::Breakpoint => "breakpoint",
            Self::Overflow => "overflow",
            Self::BoundRangeExceeded => "bound range exceeded",
            Self::InvalidOpcode => "invalid opcode",
            Self::DeviceNotAvailable => "device not available",
            Self::DoubleFault => "double fault",
            Self::CoprocessorSegmentOverrun => "coprocessor segment overrun",
            Self::InvalidTss => "invalid TSS",
            Self::SegmentNotPresent => "segment not present",
            Self::StackSegmentFault => "stack-segment fault",
            Self::GeneralProtection => "general protection fault",
            Self::PageFault => "page fault",
            Self::X87FloatingPoint => "x87 floating-point exception",
            Self::AlignmentCheck => "alignment check",
            Self::MachineCheck => "machine check",
            Self::SimdFloatingPoint => "SIMD floating-point exception",
            Self::Virtualization => "virtualization exception",
            Self::ControlProtection => "control-protection exception",
            Self::HypervisorInjection => "hypervisor injection exception",
            Self::VmmCommunication => "VMM communication exception",
            Self::Security => "security exception",
            Self::Reserved(vector) => return write!(formatter, "reserved exception {vector}"),
        };
        formatter.write_str(name)
    }
}

/// A CPU fault as the handler saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// Which exception.
    pub exception: Exception,
    /// The CPU's error code (0 if the exception has none).
    pub error_code: u64,
    /// Instruction pointer saved by the CPU.
    pub rip: u64,
    /// Faulting linear address (CR2) for page faults, `None` otherwise.
    pub address: Option<u64>,
    /// Where the trap frame was: tells whether the handler ran on an IST stack.
    pub handler_stack: u64,
}

impl fmt::Display for Fault {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} at rip {:#x}", self.exception, self.rip)?;
        if let Some(address) = self.address {
            write!(formatter, ", address {address:#x}")?;
        }
        write!(formatter, ", error code {:#x}", self.error_code)
    }
}

/// Number of `int3` breakpoints handled so far.
static BREAKPOINTS: AtomicU64 = AtomicU64::new(0);

/// How many breakpoint exceptions have been handled (and returned from).
pub fn breakpoint_count() -> u64 {
    BREAKPOINTS.load(Ordering::Relaxed)
}

/// Number of NMIs handled so far.
static NMIS: AtomicU64 = AtomicU64::new(0);

/// How many non-maskable interrupts have been reported (and returned from).
pub fn nmi_count() -> u64 {
    NMIS.load(Ordering::Relaxed)
}

/// The PC's NMI status and control port (system control port B).
const NMI_STATUS_PORT: u16 = 0x61;

/// An NMI: report it with the PC's reason bits and return. The report bypasses the
/// console lock ([`super::serial::emergency_write`]): an NMI arrives even while
/// interrupts are off, so the code it interrupted may hold any lock. Nothing here takes
/// one. After [`smp::stop_others`] an NMI is the stop signal instead: the CPU halts for
/// good (NMIs stay blocked, since the handler never returns).
fn non_maskable_interrupt(frame: &TrapFrame) {
    if smp::stopping() {
        super::halt_forever();
    }
    let count = NMIS.fetch_add(1, Ordering::Relaxed) + 1;
    // SAFETY: port 0x61 is the PC's system control port B on every machine the kernel
    // boots on (q35, pc); reading it has no side effect.
    let status = unsafe { x86_64::instructions::port::Port::<u8>::new(NMI_STATUS_PORT).read() };
    let reason = match status & 0xc0 {
        0 => "no hardware reason (a watchdog, a debugger or `inject-nmi`)",
        0x80 => "memory parity / PCI SERR#",
        0x40 => "I/O channel check",
        _ => "memory parity / PCI SERR# and I/O channel check",
    };
    super::serial::emergency_write(format_args!(
        "\nkernel: NMI #{count} at rip {:#x}: {reason} (port 0x61 = {status:#04x}); continuing\n",
        frame.rip
    ));
}

/// Common tail of every stub: save scratch registers, call Rust, restore, return.
#[unsafe(naked)]
unsafe extern "C" fn trap_common() {
    naked_asm!(
        "push rax",
        "push rcx",
        "push rdx",
        "push rsi",
        "push rdi",
        "push r8",
        "push r9",
        "push r10",
        "push r11",
        "mov rdi, rsp",
        "cld",
        "call {dispatch}",
        "pop r11",
        "pop r10",
        "pop r9",
        "pop r8",
        "pop rdi",
        "pop rsi",
        "pop rdx",
        "pop rcx",
        "pop rax",
        "add rsp, 16",
        "iretq",
        dispatch = sym trap_dispatch,
    )
}

/// Defines an entry stub for a vector without a CPU error code (pushes a 0 in its place).
macro_rules! stub {
    ($name:ident, $vector:literal) => {
        #[unsafe(naked)]
        unsafe extern "C" fn $name() {
            naked_asm!(
                "push 0",
                "push {vector}",
                "jmp {common}",
                vector = const $vector,
                common = sym trap_common,
            )
        }
    };
}

/// Defines an entry stub for a vector where the CPU pushes an error code.
macro_rules! stub_with_error_code {
    ($name:ident, $vector:literal) => {
        #[unsafe(naked)]
        unsafe extern "C" fn $name() {
            naked_asm!(
                "push {vector}",
                "jmp {common}",
                vector = const $vector,
                common = sym trap_common,
            )
        }
    };
}

stub!(vector_0, 0);
stub!(vector_1, 1);
stub!(vector_2, 2);
stub!(vector_3, 3);
stub!(vector_4, 4);
stub!(vector_5, 5);
stub!(vector_6, 6);
stub!(vector_7, 7);
stub_with_error_code!(vector_8, 8);
stub!(vector_9, 9);
stub_with_error_code!(vector_10, 10);
stub_with_error_code!(vector_11, 11);
stub_with_error_code!(vector_12, 12);
stub_with_error_code!(vector_13, 13);
stub_with_error_code!(vector_14, 14);
stub!(vector_15, 15);
stub!(vector_16, 16);
stub_with_error_code!(vector_17, 17);
stub!(vector_18, 18);
stub!(vector_19, 19);
stub!(vector_20, 20);
stub_with_error_code!(vector_21, 21);
stub!(vector_22, 22);
stub!(vector_23, 23);
stub!(vector_24, 24);
stub!(vector_25, 25);
stub!(vector_26, 26);
stub!(vector_27, 27);
stub!(vector_28, 28);
stub_with_error_code!(vector_29, 29);
stub_with_error_code!(vector_30, 30);
stub!(vector_31, 31);
stub!(vector_timer, 0x30);
stub!(vector_pic_spurious_master, 0x27);
stub!(vector_pic_spurious_slave, 0x2f);
stub!(vector_apic_spurious, 0xff);
stub!(vector_call_function, 0xf0);
stub!(vector_wake, 0xf1);
stub!(vector_irq_0, 0x40);
stub!(vector_irq_1, 0x41);
stub!(vector_irq_2, 0x42);
stub!(vector_irq_3, 0x43);
stub!(vector_irq_4, 0x44);
stub!(vector_irq_5, 0x45);
stub!(vector_irq_6, 0x46);
stub!(vector_irq_7, 0x47);
stub!(vector_irq_8, 0x48);
stub!(vector_irq_9, 0x49);
stub!(vector_irq_10, 0x4a);
stub!(vector_irq_11, 0x4b);
stub!(vector_irq_12, 0x4c);
stub!(vector_irq_13, 0x4d);
stub!(vector_irq_14, 0x4e);
stub!(vector_irq_15, 0x4f);

/// Entry stubs of the device interrupt vectors (`irq::VECTOR_BASE + line`), by line.
const IRQ_STUBS: [unsafe extern "C" fn(); irq::LINES as usize] = [
    vector_irq_0,
    vector_irq_1,
    vector_irq_2,
    vector_irq_3,
    vector_irq_4,
    vector_irq_5,
    vector_irq_6,
    vector_irq_7,
    vector_irq_8,
    vector_irq_9,
    vector_irq_10,
    vector_irq_11,
    vector_irq_12,
    vector_irq_13,
    vector_irq_14,
    vector_irq_15,
];

/// Entry stubs for vectors 0..32, indexed by vector.
const EXCEPTION_STUBS: [unsafe extern "C" fn(); 32] = [
    vector_0, vector_1, vector_2, vector_3, vector_4, vector_5, vector_6, vector_7, vector_8,
    vector_9, vector_10, vector_11, vector_12, vector_13, vector_14, vector_15, vector_16,
    vector_17, vector_18, vector_19, vector_20, vector_21, vector_22, vector_23, vector_24,
    vector_25, vector_26, vector_27, vector_28, vector_29, vector_30, vector_31,
];

/// Hardware interrupt vectors with their stubs.
const INTERRUPT_STUBS: [(u8, unsafe extern "C" fn()); 6] = [
    (apic::TIMER_VECTOR, vector_timer),
    (apic::CALL_FUNCTION_VECTOR, vector_call_function),
    (apic::WAKE_VECTOR, vector_wake),
    (0x27, vector_pic_spurious_master),
    (0x2f, vector_pic_spurious_slave),
    (apic::SPURIOUS_VECTOR, vector_apic_spurious),
];

static IDT: Once<InterruptDescriptorTable> = Once::new();

/// Builds and loads the IDT.
pub fn init() {
    let idt = IDT.call_once(|| {
        let mut idt = InterruptDescriptorTable::new();
        // `x86_64` keeps the reserved vectors private and types the others by handler
        // signature. All our stubs share one (raw address) shape, so view the table as
        // its 256 entries.
        //
        // SAFETY: `InterruptDescriptorTable` is `#[repr(C)]` and consists of exactly 256
        // `Entry<F>` fields in vector order; `Entry<F>` is `#[repr(C)]` and its layout does
        // not depend on `F` (which only appears in a `PhantomData`).
        let entries = unsafe { &mut *(&raw mut idt).cast::<[Entry<HandlerFunc>; 256]>() };
        for (vector, stub) in EXCEPTION_STUBS.iter().enumerate() {
            let address = VirtAddr::new(*stub as usize as u64);
            // SAFETY: the stub is an interrupt entry point following the frame protocol
            // described in the module docs.
            let options = unsafe { entries[vector].set_handler_addr(address) };
            if vector == 8 {
                // SAFETY: the TSS installed by `gdt::init` has a valid stack in this slot.
                unsafe { options.set_stack_index(DOUBLE_FAULT_IST_INDEX) };
            }
        }
        for (vector, stub) in INTERRUPT_STUBS {
            let address = VirtAddr::new(stub as usize as u64);
            // SAFETY: as above.
            unsafe { entries[usize::from(vector)].set_handler_addr(address) };
        }
        for (line, stub) in IRQ_STUBS.iter().enumerate() {
            let address = VirtAddr::new(*stub as usize as u64);
            // SAFETY: as above.
            unsafe { entries[usize::from(irq::VECTOR_BASE) + line].set_handler_addr(address) };
        }
        idt
    });
    idt.load();
}

/// Reads CR2, the faulting address of the last page fault.
fn read_cr2() -> u64 {
    let value: u64;
    // SAFETY: reading CR2 has no side effects.
    unsafe {
        core::arch::asm!("mov {}, cr2", out(reg) value, options(nomem, nostack, preserves_flags))
    };
    value
}

/// Rust side of every vector.
extern "C" fn trap_dispatch(frame: &mut TrapFrame) {
    let vector = frame.vector as u8;
    match vector {
        2 => non_maskable_interrupt(frame),
        3 => {
            BREAKPOINTS.fetch_add(1, Ordering::Relaxed);
        }
        0..32 => {
            let exception = Exception::from_vector(vector);
            let fault = Fault {
                exception,
                error_code: frame.error_code,
                rip: frame.rip,
                address: (exception == Exception::PageFault).then(read_cr2),
                handler_stack: core::ptr::from_mut(frame) as u64,
            };
            fault::end_boot(fault);
        }
        apic::TIMER_VECTOR => apic::timer_interrupt(),
        apic::CALL_FUNCTION_VECTOR => smp::call_function_interrupt(),
        apic::WAKE_VECTOR => smp::wake_interrupt(),
        irq::VECTOR_BASE..0x50 => irq::dispatch(vector - irq::VECTOR_BASE),
        // Spurious interrupts: no end-of-interrupt, nothing to do.
        0x27 | 0x2f | apic::SPURIOUS_VECTOR => {}
        _ => {}
    }
}
