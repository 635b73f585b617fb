//! Interrupt controllers: the legacy 8259 pair is silenced, the local APIC drives the timer.
//!
//! Why the local APIC timer rather than the PIT: it works the same under SeaBIOS, qboot
//! and microvm, whereas the PIT's interrupt only arrives through the 8259 (remapped) under
//! SeaBIOS, and through LINT0 programmed as ExtINT under qboot/microvm.
//!
//! The 8259s are first remapped to vectors 0x20..0x30 (firmware may leave them on 0x08..,
//! on top of CPU exceptions) and then fully masked; their spurious IRQs 7 and 15 land on
//! harmless stubs. The local APIC (xAPIC, MMIO at the base from `IA32_APIC_BASE`,
//! identity-mapped by the trampoline) is software-enabled with spurious vector 0xff, LINT0
//! is masked (no ExtINT: the PIC stays silent), LINT1 delivers NMI, and the timer runs
//! periodically on [`TIMER_VECTOR`], its rate calibrated against the TSC.
//!
//! The other CPUs ([`super::smp`]) enable their own local APIC with `init_other_cpu`:
//! the same spurious vector and task priority, every LVT entry masked (no timer: the
//! boot CPU's alone drives [`ticks`]; no LINT1 NMI: one CPU reports a hardware NMI).
//! Inter-processor interrupts go through the interrupt command register (`send_ipi`).

use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::instructions::port::Port;
use x86_64::registers::model_specific::Msr;

use super::acpi::Doubt;
use super::time;

/// Vector of the local APIC timer.
pub const TIMER_VECTOR: u8 = 0x30;
/// Vector of the local APIC's spurious interrupt.
pub const SPURIOUS_VECTOR: u8 = 0xff;
/// Vector of the call-function IPI ([`super::smp::call_on`]).
pub const CALL_FUNCTION_VECTOR: u8 = 0xf0;
/// Vector of the wake-up IPI ([`super::smp::wake`]).
pub const WAKE_VECTOR: u8 = 0xf1;

/// How long the timer's rate is measured against the TSC.
const CALIBRATION_MICROS: u64 = 5_000;

/// `IA32_APIC_BASE` MSR.
const IA32_APIC_BASE: u32 = 0x1b;

/// Local APIC register offsets (Intel SDM vol. 3, table 11-1).
mod regs {
    pub const ID: usize = 0x20;
    pub const TASK_PRIORITY: usize = 0x80;
    pub const END_OF_INTERRUPT: usize = 0xb0;
    pub const SPURIOUS: usize = 0xf0;
    pub const LVT_TIMER: usize = 0x320;
    pub const LVT_LINT0: usize = 0x350;
    pub const LVT_LINT1: usize = 0x360;
    pub const LVT_ERROR: usize = 0x370;
    pub const TIMER_INITIAL_COUNT: usize = 0x380;
    pub const TIMER_CURRENT_COUNT: usize = 0x390;
    pub const TIMER_DIVIDE: usize = 0x3e0;
    pub const INTERRUPT_COMMAND_LOW: usize = 0x300;
    pub const INTERRUPT_COMMAND_HIGH: usize = 0x310;

    /// Interrupt command: the IPI is still being delivered.
    pub const DELIVERY_PENDING: u32 = 1 << 12;

    /// LVT bit: masked.
    pub const LVT_MASKED: u32 = 1 << 16;
    /// LVT timer mode: periodic.
    pub const LVT_TIMER_PERIODIC: u32 = 1 << 17;
    /// LVT delivery mode NMI.
    pub const LVT_DELIVERY_NMI: u32 = 0b100 << 8;
    /// Spurious register: APIC software enable.
    pub const SPURIOUS_ENABLE: u32 = 1 << 8;
    /// Divide configuration value for "divide by 16".
    pub const DIVIDE_BY_16: u32 = 0b0011;
}

/// Timer interrupts since boot.
static TICKS: AtomicU64 = AtomicU64::new(0);
/// Timer frequency in Hz, once started.
static TICK_HZ: AtomicU64 = AtomicU64::new(0);
/// The local APIC's MMIO base (physical = virtual), once initialized.
static APIC_BASE: AtomicU64 = AtomicU64::new(0);

/// The local APIC register window.
///
/// # Invariants
///
/// `base` is the identity-mapped MMIO base of this CPU's local APIC.
#[derive(Debug, Clone, Copy)]
struct LocalApic {
    base: u64,
}

/// The address bits of `IA32_APIC_BASE`.
const BASE_MASK: u64 = 0x000f_ffff_ffff_f000;
/// The local APIC's base on PCs (and after reset).
const DEFAULT_BASE: u64 = 0xfee0_0000;

/// The local APIC base to use, given `IA32_APIC_BASE`'s: a page-aligned window inside
/// the identity map and outside every RAM region of `memory`.
///
/// # Errors
///
/// [`Doubt::LocalApicBase`] (the caller uses the PC default, 0xFEE0_0000).
pub fn checked_local_apic_base(
    base: u64,
    memory: &[crate::memory::MemoryRegion],
) -> Result<u64, Doubt> {
    super::acpi::check_register_window(base, 4096, 4096, memory)
        .map_err(|reason| Doubt::LocalApicBase { base, reason })
}

impl LocalApic {
    /// The APIC, if [`init`] has run.
    fn get() -> Option<Self> {
        let base = APIC_BASE.load(Ordering::Acquire);
        // INVARIANT: only `init` stores a non-zero value: a base checked by
        // `checked_local_apic_base` (page-aligned, identity-mapped, not RAM) or the PC
        // default.
        (base != 0).then_some(Self { base })
    }

    fn read(self, register: usize) -> u32 {
        let address = (self.base as usize + register) as *const u32;
        // SAFETY: by the invariant the window is identity-mapped device memory, not RAM,
        // and `register` is one of the page's register offsets; APIC registers are
        // 32-bit, 16-byte aligned, and must be accessed with volatile 32-bit loads.
        unsafe { address.read_volatile() }
    }

    fn write(self, register: usize, value: u32) {
        let address = (self.base as usize + register) as *mut u32;
        // SAFETY: as in `read`.
        unsafe { address.write_volatile(value) }
    }
}

/// Remaps the 8259 PICs to 0x20..0x30 and masks every line.
fn silence_legacy_pic() {
    let write = |port: u16, value: u8| {
        let mut port = Port::<u8>::new(port);
        // SAFETY: 0x20/0x21/0xa0/0xa1 are the 8259 command/data ports; programming them
        // affects interrupt delivery only, not memory.
        unsafe { port.write(value) };
    };
    write(0x20, 0x11); // ICW1: init, ICW4 follows
    write(0xa0, 0x11);
    write(0x21, 0x20); // ICW2: master vectors 0x20..
    write(0xa1, 0x28); // slave vectors 0x28..
    write(0x21, 0x04); // ICW3: slave on IRQ2
    write(0xa1, 0x02);
    write(0x21, 0x01); // ICW4: 8086 mode
    write(0xa1, 0x01);
    write(0x21, 0xff); // mask everything
    write(0xa1, 0xff);
}

/// Sets up the interrupt controllers and starts the timer at `hz` (interrupts stay off;
/// the caller enables them).
///
/// Needs the TSC calibrated ([`time::calibrate`]).
pub fn init(hz: u32) {
    silence_legacy_pic();

    let mut msr = Msr::new(IA32_APIC_BASE);
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU; reading it has no effect.
    let value = unsafe { msr.read() };
    let firmware_base = value & BASE_MASK;
    let memory = super::platform::memory_map().unwrap_or(&[]);
    let base = match checked_local_apic_base(firmware_base, memory) {
        Ok(base) => base,
        Err(doubt) => {
            super::serial::write_fmt(format_args!("kernel: {doubt}\n"));
            DEFAULT_BASE
        }
    };
    // SAFETY: setting the enable bit (11) turns the APIC on, and the base field moves its
    // window (to the checked or default base), which has no effect on memory: the
    // window is not RAM and no Rust object lives there.
    unsafe { msr.write((value & !BASE_MASK) | base | (1 << 11)) };
    // INVARIANT: `base` passed `checked_local_apic_base` or is the PC default.
    APIC_BASE.store(base, Ordering::Release);
    let apic = LocalApic::get().expect("just stored");

    apic.write(regs::TASK_PRIORITY, 0);
    apic.write(
        regs::SPURIOUS,
        regs::SPURIOUS_ENABLE | u32::from(SPURIOUS_VECTOR),
    );
    apic.write(regs::LVT_LINT0, regs::LVT_MASKED);
    apic.write(regs::LVT_LINT1, regs::LVT_DELIVERY_NMI);
    apic.write(regs::LVT_ERROR, regs::LVT_MASKED);

    // Calibrate: count down from the maximum, masked, for about 5 ms of TSC time. The
    // rate is the count over the TSC time actually measured between the start and the
    // reading, so a host stall during the wait (which makes it last longer) does not
    // skew it.
    apic.write(regs::TIMER_DIVIDE, regs::DIVIDE_BY_16);
    apic.write(regs::LVT_TIMER, regs::LVT_MASKED);
    apic.write(regs::TIMER_INITIAL_COUNT, u32::MAX);
    let start = time::rdtsc();
    time::busy_wait_micros(CALIBRATION_MICROS);
    let elapsed = u32::MAX - apic.read(regs::TIMER_CURRENT_COUNT);
    let cycles = (time::rdtsc() - start).max(1);
    apic.write(regs::TIMER_INITIAL_COUNT, 0);
    let counts_per_second =
        (u128::from(elapsed) * u128::from(time::tsc_hz()) / u128::from(cycles)) as u64;

    let hz = hz.max(1);
    let initial = (counts_per_second / u64::from(hz)).clamp(1, u64::from(u32::MAX)) as u32;
    TICK_HZ.store(u64::from(hz), Ordering::Relaxed);
    apic.write(
        regs::LVT_TIMER,
        regs::LVT_TIMER_PERIODIC | u32::from(TIMER_VECTOR),
    );
    apic.write(regs::TIMER_INITIAL_COUNT, initial);
}

/// Enables this (non-boot) CPU's local APIC, with every local interrupt masked (see
/// the module docs). Needs [`init`] to have run on the boot CPU (the shared base).
pub(super) fn init_other_cpu() {
    let Some(apic) = LocalApic::get() else {
        return;
    };
    let mut msr = Msr::new(IA32_APIC_BASE);
    // SAFETY: as in `init`: the global enable bit and the base the boot CPU checked; the
    // window is not RAM.
    unsafe {
        let value = msr.read();
        msr.write((value & !BASE_MASK) | apic.base | (1 << 11));
    }
    apic.write(regs::TASK_PRIORITY, 0);
    apic.write(
        regs::SPURIOUS,
        regs::SPURIOUS_ENABLE | u32::from(SPURIOUS_VECTOR),
    );
    for register in [
        regs::LVT_LINT0,
        regs::LVT_LINT1,
        regs::LVT_ERROR,
        regs::LVT_TIMER,
    ] {
        apic.write(register, regs::LVT_MASKED);
    }
}

/// An inter-processor interrupt to send: the interrupt command register's low word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ipi {
    /// A fixed interrupt on `vector`.
    Fixed(u8),
    /// INIT, asserted: the target waits for STARTUP.
    Init,
    /// STARTUP: the target starts in real mode at `page * 4096`.
    Startup(u8),
    /// A non-maskable interrupt.
    Nmi,
}

impl Ipi {
    fn command(self) -> u32 {
        const ASSERT: u32 = 1 << 14;
        match self {
            Self::Fixed(vector) => u32::from(vector),
            Self::Init => ASSERT | (0b101 << 8),
            Self::Startup(page) => ASSERT | (0b110 << 8) | u32::from(page),
            Self::Nmi => ASSERT | (0b100 << 8),
        }
    }
}

/// Who receives an IPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Destination {
    /// The CPU with this local APIC ID.
    Apic(u8),
    /// Every CPU but the sender (the "all excluding self" shorthand).
    AllButSelf,
}

/// Sends `ipi` to `destination` and waits until the local APIC has delivered it. Does
/// nothing before [`init`].
pub(super) fn send_ipi(destination: Destination, ipi: Ipi) {
    let Some(apic) = LocalApic::get() else {
        return;
    };
    let (high, shorthand) = match destination {
        Destination::Apic(id) => (u32::from(id) << 24, 0),
        Destination::AllButSelf => (0, 0b11 << 18),
    };
    // Interrupts off: an interrupt handler that sends an IPI between the two writes
    // would overwrite the high word (the destination) of this one.
    super::without_interrupts(|| {
        apic.write(regs::INTERRUPT_COMMAND_HIGH, high);
        apic.write(regs::INTERRUPT_COMMAND_LOW, ipi.command() | shorthand);
        while apic.read(regs::INTERRUPT_COMMAND_LOW) & regs::DELIVERY_PENDING != 0 {
            core::hint::spin_loop();
        }
    });
}

/// Timer interrupt handler (called from the IDT dispatcher).
pub(super) fn timer_interrupt() {
    TICKS.fetch_add(1, Ordering::Relaxed);
    if let Some(apic) = LocalApic::get() {
        apic.write(regs::END_OF_INTERRUPT, 0);
    }
}

/// Signals the end of an interrupt to the local APIC (no-op before [`init`]).
pub(super) fn end_of_interrupt() {
    if let Some(apic) = LocalApic::get() {
        apic.write(regs::END_OF_INTERRUPT, 0);
    }
}

/// This CPU's local APIC ID (0 before [`init`]).
pub fn local_apic_id() -> u8 {
    LocalApic::get().map_or(0, |apic| (apic.read(regs::ID) >> 24) as u8)
}

/// Timer interrupts received since the timer started.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// The timer's frequency in Hz (0 before [`init`]).
pub fn tick_hz() -> u64 {
    TICK_HZ.load(Ordering::Relaxed)
}
