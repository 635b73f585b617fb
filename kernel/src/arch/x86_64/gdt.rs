//! The kernel's GDT and TSS: flat 64-bit code/data segments and the interrupt stacks.
//!
//! The trampoline's GDT only gets us into long mode; this one adds the TSS, whose
//! interrupt stack table (IST) gives the double-fault handler a stack of its own. A
//! stack overflow faults on the kernel stack's guard page; the CPU cannot push the
//! page-fault frame there either, escalates to a double fault, and switches to
//! [`DOUBLE_FAULT_IST_INDEX`]'s stack, so the handler can still run and report.
//!
//! Every CPU has its own GDT and TSS (a TSS is marked busy by the CPU that loads it, and
//! each CPU needs its own double-fault stack): the boot CPU's are statics built by
//! [`init`], another CPU's are built on the heap by `init_other_cpu` and live for good.

use alloc::boxed::Box;

use spin::Once;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, FS, GS, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::registers::segmentation::SegmentSelector;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable};
use x86_64::structures::tss::TaskStateSegment;

/// IST slot (0-based, as the `x86_64` crate counts) used by the double-fault handler.
pub const DOUBLE_FAULT_IST_INDEX: u16 = 0;

/// Size of each IST stack.
const IST_STACK_SIZE: usize = 32 * 1024;

/// A 16-byte aligned stack for the IST.
#[repr(C, align(16))]
struct IstStack([u8; IST_STACK_SIZE]);

/// The double-fault stack. Only the CPU writes it (through RSP); Rust never forms a
/// reference to it.
static mut DOUBLE_FAULT_STACK: IstStack = IstStack([0; IST_STACK_SIZE]);

static TSS: Once<TaskStateSegment> = Once::new();

/// The GDT and the selectors into it.
#[derive(Debug)]
struct Gdt {
    table: GlobalDescriptorTable,
    code: SegmentSelector,
    data: SegmentSelector,
    tss: SegmentSelector,
}

static GDT: Once<Gdt> = Once::new();

/// The range of addresses of this CPU's double-fault stack (for tests: "did the handler
/// run on the IST stack?").
pub fn double_fault_stack() -> core::ops::Range<u64> {
    super::smp::double_fault_stack()
}

/// The boot CPU's double-fault stack, the static one.
pub(super) fn double_fault_stack_of_boot_cpu() -> core::ops::Range<u64> {
    let start = (&raw const DOUBLE_FAULT_STACK) as u64;
    start..start + IST_STACK_SIZE as u64
}

/// A TSS whose double-fault IST slot is the stack ending at `double_fault_top`.
fn task_state(double_fault_top: u64) -> TaskStateSegment {
    let mut tss = TaskStateSegment::new();
    tss.interrupt_stack_table[usize::from(DOUBLE_FAULT_IST_INDEX)] =
        VirtAddr::new(double_fault_top);
    tss
}

/// A GDT with the flat segments and `tss`.
fn table(tss: &'static TaskStateSegment) -> Gdt {
    let mut table = GlobalDescriptorTable::new();
    let code = table.append(Descriptor::kernel_code_segment());
    let data = table.append(Descriptor::kernel_data_segment());
    let tss = table.append(Descriptor::tss_segment(tss));
    Gdt {
        table,
        code,
        data,
        tss,
    }
}

/// Builds and loads the boot CPU's GDT and TSS and reloads every segment register.
pub fn init() {
    let tss = TSS.call_once(|| task_state(double_fault_stack_of_boot_cpu().end));
    let gdt = GDT.call_once(|| table(tss));
    load(gdt);
}

/// Builds and loads another CPU's GDT and TSS (on the heap, for good), its double-fault
/// stack ending at `double_fault_top`.
pub(super) fn init_other_cpu(double_fault_top: u64) {
    let tss: &'static TaskStateSegment = Box::leak(Box::new(task_state(double_fault_top)));
    let gdt: &'static Gdt = Box::leak(Box::new(table(tss)));
    load(gdt);
}

fn load(gdt: &'static Gdt) {
    gdt.table.load();
    // SAFETY: the selectors index the GDT just loaded, which lives forever; code is a
    // 64-bit code segment, data a writable data segment, tss the TSS descriptor whose TSS
    // is 'static.
    unsafe {
        CS::set_reg(gdt.code);
        SS::set_reg(gdt.data);
        DS::set_reg(gdt.data);
        ES::set_reg(gdt.data);
        FS::set_reg(SegmentSelector(0));
        GS::set_reg(SegmentSelector(0));
        load_tss(gdt.tss);
    }
}
