//! The other CPUs: start-up through the local APIC, per-CPU data, IPIs, stopping them.
//!
//! # Start-up
//!
//! The MADT lists every enabled processor's local APIC ID ([`acpi::processors`]).
//! [`start_others`] starts them one at a time, the way the Intel SDM (vol. 3, 8.4.4)
//! describes: INIT, 10 ms, STARTUP, 200 µs, STARTUP, through the boot CPU's local APIC.
//! STARTUP starts the target in real mode at a page below 1 MiB, and the kernel is linked
//! at 1 MiB, so the start-up code (the *trampoline*, below) is copied to
//! [`TRAMPOLINE_BASE`] first: a page that the PVH memory map must report as RAM and that
//! nothing uses once the firmware's tables were copied out (the heap lies above the
//! kernel image). Before each start the boot CPU writes the trampoline's parameters (the
//! page-table root, a fresh stack, the Rust entry and the CPU's index); the trampoline
//! enters protected mode, then long mode on the boot CPU's page tables, and calls
//! `cpu_entry`, which sets up the CPU's own GDT and TSS (with its own double-fault
//! stack), loads the shared IDT, points `GS` at the CPU's `PerCpu` entry, enables its
//! local APIC, says it is up and calls the kernel's per-CPU main function (the work
//! queue's idle loop). A CPU that does not answer within a second is reported and left
//! out. The handshake with the boot CPU, the CPU table, the calls and wake-ups are the
//! shared `arch::cross_cpu`'s; this file sends their interrupts.
//!
//! # CPU numbers
//!
//! [`current`] reads the CPU's number through `GS` (one load); every CPU's `GS` base
//! points at its entry of a static table, set before anything can ask.
//!
//! # IPIs
//!
//! Each is a local APIC IPI to the CPU's local APIC ID (its hardware id):
//!
//! - [`wake`]: a fixed interrupt on its own vector, whose handler counts it and ends it;
//!   it takes a CPU out of `hlt` (the work queue's idle loop halts with `sti; hlt`, so a
//!   wake-up sent after the queue was found empty is not lost).
//! - [`call_on`]: a fixed interrupt on the call-function vector, whose handler runs the
//!   call waiting in the CPU's slot (the TLB shootdown of [`super::pat`] uses it).
//! - [`stop_others`]: one NMI to every other CPU, whose handler halts for good when the
//!   stop flag is set. A panic or a fault stops the others before it reports (no line
//!   of theirs lands in the middle of the report, no CPU keeps running on a broken
//!   state), and so does every exit from QEMU ([`super::exit_qemu`]).

use alloc::boxed::Box;
use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use x86_64::VirtAddr;
use x86_64::registers::model_specific::GsBase;

pub use super::super::cpu_error::{CallError, StartError};
use super::super::cross_cpu;
pub(super) use super::super::cross_cpu::stopping;
pub use super::super::cross_cpu::{
    call_on, call_on_others, calls, online, stop_others, wake, wakeups,
};
use super::acpi::{self, MAX_PROCESSORS};
use super::apic::{self, Destination, Ipi};
use super::{boot, gdt, idt, pat, time};
use crate::println;

/// The most CPUs the kernel runs.
pub const MAX_CPUS: usize = MAX_PROCESSORS;

/// Where the trampoline is copied: the page of STARTUP vector 8.
pub const TRAMPOLINE_BASE: u64 = 0x8000;

/// Each CPU's stack (the boot CPU keeps the boot stack).
const STACK_SIZE: usize = 64 * 1024;

/// Each CPU's double-fault stack (the boot CPU keeps the static one in [`gdt`]).
const DOUBLE_FAULT_STACK_SIZE: usize = 16 * 1024;

/// Offsets of the trampoline's parameters (see the trampoline's layout).
mod parameter {
    /// The page-table root (CR3), 32 bits used.
    pub const ROOT: u64 = 8;
    /// The stack's top.
    pub const STACK: u64 = 16;
    /// The Rust entry's address.
    pub const ENTRY: u64 = 24;
    /// The CPU's number, the entry's argument.
    pub const CPU: u64 = 32;
}

/// One CPU's x86-only data, reached through its `GS` base (the rest is in the shared
/// CPU table of `cross_cpu`).
///
/// # Invariants
///
/// `index` (first field, read at `gs:[0]` by [`current`]) is the entry's position in
/// [`CPUS`]; it is written before the entry's address goes into any CPU's `GS` base.
#[repr(C)]
#[derive(Debug)]
struct PerCpu {
    index: AtomicUsize,
    /// This CPU's double-fault stack, `start..end`.
    double_fault_stack: (AtomicU64, AtomicU64),
}

impl PerCpu {
    const fn new() -> Self {
        Self {
            index: AtomicUsize::new(0),
            double_fault_stack: (AtomicU64::new(0), AtomicU64::new(0)),
        }
    }
}

static CPUS: [PerCpu; MAX_CPUS] = [const { PerCpu::new() }; MAX_CPUS];

/// Points this CPU's `GS` base at entry `index` of [`CPUS`].
fn set_gs_base(index: usize) {
    let entry = &CPUS[index];
    // INVARIANT: `index` is the entry's position, stored before its address is published.
    entry.index.store(index, Ordering::Relaxed);
    GsBase::write(VirtAddr::from_ptr(entry));
}

/// Sets the boot CPU's per-CPU entry (number 0). Called in the early bring-up, right
/// after the GDT is loaded (which clears `GS`).
pub(super) fn init_boot_cpu() {
    set_gs_base(0);
    // The local APIC ID is recorded in `start_others`, once the APIC is up.
    cross_cpu::boot_cpu_is(0);
    let stack = gdt::double_fault_stack_of_boot_cpu();
    CPUS[0]
        .double_fault_stack
        .0
        .store(stack.start, Ordering::Relaxed);
    CPUS[0]
        .double_fault_stack
        .1
        .store(stack.end, Ordering::Relaxed);
}

/// This CPU's number (0 is the boot CPU).
pub fn current() -> usize {
    let index: usize;
    // SAFETY: every CPU's `GS` base points at its `PerCpu` entry before any Rust code on
    // it can call this (`init_boot_cpu`, `cpu_entry`); `index` is its first field, an
    // `AtomicUsize` read here with a plain aligned load (an atomic load on x86).
    unsafe {
        core::arch::asm!("mov {}, gs:[0]", out(reg) index, options(nostack, readonly, preserves_flags));
    }
    index
}

/// This CPU's double-fault stack.
pub fn double_fault_stack() -> core::ops::Range<u64> {
    let entry = &CPUS[current()];
    entry.double_fault_stack.0.load(Ordering::Relaxed)
        ..entry.double_fault_stack.1.load(Ordering::Relaxed)
}

// The trampoline, assembled into the kernel image and run from its copy at
// TRAMPOLINE_BASE. Layout: a jump over the parameter block (offsets in `parameter`),
// real-mode code, 32-bit code, 64-bit code, its own GDT. Every absolute address in it is
// TRAMPOLINE_BASE + the offset of a label; the 64-bit part reads its parameters at
// their absolute addresses.
global_asm!(
    r#"
    .pushsection .rodata.ap_trampoline, "a"
    .balign 16
    .global ap_trampoline_start
ap_trampoline_start:
ap_t0:
    .code16
    jmp ap_t_real
    .balign 8
    .quad 0 /* 8: page-table root */
    .quad 0 /* 16: stack top */
    .quad 0 /* 24: entry */
    .quad 0 /* 32: CPU number */
ap_t_real:
    cli
    cld
    movw %cs, %ax
    movw %ax, %ds
    lgdtl ap_t_gdt_pointer - ap_t0
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmpl $0x18, ${base} + ap_t_protected - ap_t0

    .code32
ap_t_protected:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    /* CR4.PAE, CR3, EFER.LME | NXE, CR0.PG | WP: as the boot CPU's trampoline. */
    movl %cr4, %eax
    orl $(1 << 5), %eax
    movl %eax, %cr4
    movl {root}, %eax
    movl %eax, %cr3
    movl $0xC0000080, %ecx
    rdmsr
    orl $((1 << 8) | (1 << 11)), %eax
    wrmsr
    movl %cr0, %eax
    orl $((1 << 31) | (1 << 16)), %eax
    movl %eax, %cr0
    ljmp $0x08, ${base} + ap_t_long - ap_t0

    .code64
ap_t_long:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs
    movq {stack}, %rsp
    movq {cpu}, %rdi
    movq {entry}, %rax
    xorl %ebp, %ebp
    call *%rax
1:
    cli
    hlt
    jmp 1b

    .balign 8
ap_t_gdt:
    .quad 0
    .quad 0x00af9a000000ffff /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff /* 0x10: data */
    .quad 0x00cf9a000000ffff /* 0x18: 32-bit code */
ap_t_gdt_end:
ap_t_gdt_pointer:
    .word ap_t_gdt_end - ap_t_gdt - 1
    .long {base} + ap_t_gdt - ap_t0
    .global ap_trampoline_end
ap_trampoline_end:
    .popsection
    "#,
    base = const TRAMPOLINE_BASE,
    root = const TRAMPOLINE_BASE + parameter::ROOT,
    stack = const TRAMPOLINE_BASE + parameter::STACK,
    entry = const TRAMPOLINE_BASE + parameter::ENTRY,
    cpu = const TRAMPOLINE_BASE + parameter::CPU,
    options(att_syntax)
);

unsafe extern "C" {
    /// The trampoline's first byte (in the kernel image).
    static ap_trampoline_start: u8;
    /// Just past the trampoline's last byte.
    static ap_trampoline_end: u8;
}

/// Whether the page at [`TRAMPOLINE_BASE`] lies inside one RAM region of `memory`.
fn trampoline_page_is_ram(memory: &[crate::memory::MemoryRegion]) -> bool {
    memory.iter().any(|region| {
        region.kind == crate::memory::MemoryKind::Ram
            && region.start <= TRAMPOLINE_BASE
            && TRAMPOLINE_BASE + 4096 <= region.start.saturating_add(region.size)
    })
}

/// Starts every other CPU the MADT lists (see the module docs); each runs `main(cpu)`
/// once it is up. Returns how many CPUs are up, the boot CPU included. Called once,
/// on the boot CPU, after the heap, the clock and the local APIC are up.
///
/// # Errors
///
/// [`StartError`] when no other CPU can be started (the boot CPU runs alone); a CPU
/// that does not come up is reported on the console and left out.
pub fn start_others(main: fn(usize) -> !) -> Result<usize, StartError> {
    cross_cpu::set_main(main);
    let processors = acpi::processors().ok_or(StartError::NoProcessorList)?;
    let boot_apic_id = apic::local_apic_id();
    cross_cpu::boot_cpu_is(u64::from(boot_apic_id));
    let others = processors
        .apic_ids()
        .iter()
        .copied()
        .filter(|&id| id != boot_apic_id);
    if processors.apic_ids().len() <= 1 {
        return Ok(online());
    }
    let memory = super::platform::memory_map().unwrap_or(&[]);
    if !trampoline_page_is_ram(memory) {
        return Err(StartError::StartPageNotRam {
            address: TRAMPOLINE_BASE,
        });
    }
    copy_trampoline();
    for apic_id in others {
        let cpu = online();
        if cpu >= MAX_CPUS {
            break;
        }
        if !start_one(cpu, apic_id) {
            println!("kernel: CPU with local APIC ID {apic_id} did not start; left out");
        }
    }
    if processors.left_out > 0 {
        println!(
            "kernel: {} more processors left out (the kernel runs at most {MAX_CPUS})",
            processors.left_out
        );
    }
    Ok(online())
}

/// Copies the trampoline to [`TRAMPOLINE_BASE`].
fn copy_trampoline() {
    let start = (&raw const ap_trampoline_start).cast::<u8>();
    let end = (&raw const ap_trampoline_end).cast::<u8>();
    let length = end as usize - start as usize;
    assert!(length <= 4096, "the trampoline outgrew its page");
    // SAFETY: the source is the trampoline's bytes in the kernel image; the destination
    // is the page at TRAMPOLINE_BASE, RAM by the memory map (checked by the caller),
    // identity-mapped, below the kernel image and the heap, so no Rust object lives
    // there; the firmware data that may have lived there was copied out in the early
    // bring-up. No other CPU runs the trampoline while it is written (they start later).
    unsafe {
        core::ptr::copy_nonoverlapping(start, TRAMPOLINE_BASE as usize as *mut u8, length);
    }
}

/// Writes the trampoline's parameter at `offset`.
fn write_parameter(offset: u64, value: u64) {
    // SAFETY: the parameter block lies inside the trampoline's page (copied by
    // `copy_trampoline`); no CPU reads it now: the previous CPU said it was done
    // (STARTED), the next one is not started yet.
    unsafe { ((TRAMPOLINE_BASE + offset) as usize as *mut u64).write_volatile(value) };
}

/// A stack of `size` bytes that lives for good; returns its top.
fn leak_stack(size: usize) -> core::ops::Range<u64> {
    let stack: &'static mut [u8] = Box::leak(alloc::vec![0_u8; size].into_boxed_slice());
    let start = stack.as_ptr() as u64;
    // The SysV ABI wants a 16-byte aligned stack at calls.
    start..(start + size as u64) & !0xf
}

/// Starts CPU `cpu` (local APIC `apic_id`); whether it came up.
fn start_one(cpu: usize, apic_id: u8) -> bool {
    let stack = leak_stack(STACK_SIZE);
    let double_fault = leak_stack(DOUBLE_FAULT_STACK_SIZE);
    let entry = &CPUS[cpu];
    entry
        .double_fault_stack
        .0
        .store(double_fault.start, Ordering::Relaxed);
    entry
        .double_fault_stack
        .1
        .store(double_fault.end, Ordering::Relaxed);

    let root = (&raw const boot::BOOT_PAGE_TABLES) as u64;
    write_parameter(parameter::ROOT, root);
    write_parameter(parameter::STACK, stack.end);
    write_parameter(parameter::ENTRY, cpu_entry as *const () as u64);
    write_parameter(parameter::CPU, cpu as u64);

    cross_cpu::start(cpu, u64::from(apic_id), || {
        let page = (TRAMPOLINE_BASE / 4096) as u8;
        apic::send_ipi(Destination::Apic(apic_id), Ipi::Init);
        time::busy_wait_micros(10_000);
        for _ in 0..2 {
            apic::send_ipi(Destination::Apic(apic_id), Ipi::Startup(page));
            time::busy_wait_micros(200);
            if cross_cpu::has_started() {
                break;
            }
        }
        true
    })
}

/// The first Rust code on a started CPU, called by the trampoline on its own stack.
extern "C" fn cpu_entry(cpu: u64) -> ! {
    let cpu = cpu as usize;
    let stack = CPUS[cpu].double_fault_stack.1.load(Ordering::Relaxed);
    gdt::init_other_cpu(stack);
    idt::init();
    set_gs_base(cpu);
    pat::init_other_cpu();
    apic::init_other_cpu();
    cross_cpu::entered(cpu)
}

/// The local APIC ID in a hardware id of the CPU table.
fn apic_id(hardware_id: u64) -> u8 {
    hardware_id as u8
}

/// Sends the call-function IPI to the CPU with local APIC ID `hardware_id`.
pub(in crate::arch) fn send_call(hardware_id: u64) {
    apic::send_ipi(
        Destination::Apic(apic_id(hardware_id)),
        Ipi::Fixed(apic::CALL_FUNCTION_VECTOR),
    );
}

/// The call-function IPI's handler (called from the IDT dispatcher).
pub(super) fn call_function_interrupt() {
    cross_cpu::run_pending_call();
    apic::end_of_interrupt();
}

/// Sends the wake-up IPI to the CPU with local APIC ID `hardware_id`.
pub(in crate::arch) fn send_wake(hardware_id: u64) {
    apic::send_ipi(
        Destination::Apic(apic_id(hardware_id)),
        Ipi::Fixed(apic::WAKE_VECTOR),
    );
}

/// The wake-up IPI's handler (called from the IDT dispatcher).
pub(super) fn wake_interrupt() {
    cross_cpu::count_wakeup();
    apic::end_of_interrupt();
}

/// Sends the stop NMI to every other CPU (see the module docs).
pub(in crate::arch) fn send_stop_to_others() {
    apic::send_ipi(Destination::AllButSelf, Ipi::Nmi);
}
