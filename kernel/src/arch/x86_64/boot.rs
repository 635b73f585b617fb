//! PVH entry: the ELF note QEMU looks for, and the 32-bit trampoline into long mode.
//!
//! QEMU's `-kernel` loader boots an ELF carrying a `XEN_ELFNOTE_PHYS32_ENTRY` note in
//! 32-bit protected mode with paging off and `EBX` = physical address of the
//! `hvm_start_info` block (magic `0x336ec578`). The trampoline below then:
//!
//! 1. reads the TSC (the "entry" timestamp of the boot-phase timings) and checks the magic;
//! 2. zeroes `.bss` (page tables and stacks live there), then stores that timestamp;
//! 3. builds page tables that identity-map the low 4 GiB with 2 MiB pages (RAM, the
//!    local APIC at `0xfee00000`, PCI BARs such as `0xfd000000`); everything above 4 GiB
//!    stays unmapped, so any access there page-faults;
//! 4. enables PAE, `EFER.LME` (+ `NXE`), paging and write protection, loads a 64-bit GDT
//!    and far-jumps to 64-bit code;
//! 5. loads the data segments, zero-extends the start-info address, switches to the boot
//!    stack and calls `kernel_entry` (in `entry`).
//!
//! The boot stack has a guard page below it; [`super::paging`] unmaps it once Rust runs.

use core::arch::global_asm;

/// Size of the kernel (boot) stack. Debug builds of `core::fmt` are stack hungry.
pub const STACK_SIZE: usize = 256 * 1024;

/// The kernel stack, preceded by a guard page that [`super::paging`] unmaps so that a
/// stack overflow faults (and lands on the double-fault IST stack) instead of silently
/// overwriting whatever lies below.
#[repr(C, align(4096))]
pub(crate) struct BootStack {
    /// Unmapped once paging is set up: the overflow tripwire.
    pub guard: [u8; 4096],
    /// The stack proper; grows down from its end.
    pub stack: [u8; STACK_SIZE],
}

/// Written only by the trampoline before Rust runs.
#[unsafe(no_mangle)]
pub(crate) static mut BOOT_STACK: BootStack = BootStack {
    guard: [0; 4096],
    stack: [0; STACK_SIZE],
};

/// The TSC value read by the first instruction of the trampoline.
#[unsafe(no_mangle)]
pub(crate) static mut ENTRY_TSC: u64 = 0;

/// Page-aligned page-table storage for the trampoline: PML4, PDPT and four page
/// directories of 2 MiB pages (4 GiB).
#[repr(C, align(4096))]
pub(crate) struct BootPageTables {
    /// Level 4; entry 0 points at `pdpt`.
    pub pml4: [u64; 512],
    /// Level 3; entries 0..4 point at the four directories.
    pub pdpt: [u64; 512],
    /// Level 2; 2048 entries of 2 MiB cover 0..4 GiB.
    pub pd: [[u64; 512]; 4],
}

/// Filled by the trampoline; [`super::paging`] edits it afterwards.
#[unsafe(no_mangle)]
pub(crate) static mut BOOT_PAGE_TABLES: BootPageTables = BootPageTables {
    pml4: [0; 512],
    pdpt: [0; 512],
    pd: [[0; 512]; 4],
};

// The PVH note: namesz 4 ("Xen\0"), descsz 4 (32-bit entry), type 18
// (XEN_ELFNOTE_PHYS32_ENTRY). 4-aligned on purpose: QEMU 7.2 rejects an 8-aligned note.
global_asm!(
    r#"
    .pushsection .note.pvh, "a", @note
    .balign 4
    .long 4
    .long 4
    .long 18
    .asciz "Xen"
    .balign 4
    .long pvh_start32
    .balign 4
    .popsection
    "#,
    options(att_syntax)
);

global_asm!(
    r#"
    .pushsection .boot.text, "ax"
    .code32
    .global pvh_start32
pvh_start32:
    cli
    cld
    /* Entry timestamp, before anything else. */
    rdtsc
    movl %eax, %esi
    movl %edx, %ebp

    cmpl $0x336ec578, (%ebx)
    jne 9f

    /* Zero .bss (keeps EBX). */
    movl $__bss_start, %edi
    movl $__bss_end, %ecx
    subl %edi, %ecx
    shrl $2, %ecx
    xorl %eax, %eax
    rep stosl
    movl %esi, ENTRY_TSC
    movl %ebp, ENTRY_TSC + 4

    /* PD entries: 2048 x 2 MiB, present | writable | huge. */
    movl $BOOT_PAGE_TABLES + 8192, %edi
    movl $0x83, %eax
    movl $2048, %ecx
1:
    movl %eax, (%edi)
    movl $0, 4(%edi)
    addl $0x200000, %eax
    addl $8, %edi
    loop 1b

    /* PDPT[0..4] -> the four directories; PML4[0] -> PDPT. */
    movl $BOOT_PAGE_TABLES + 8192 + 3, %eax
    movl %eax, BOOT_PAGE_TABLES + 4096
    addl $4096, %eax
    movl %eax, BOOT_PAGE_TABLES + 4096 + 8
    addl $4096, %eax
    movl %eax, BOOT_PAGE_TABLES + 4096 + 16
    addl $4096, %eax
    movl %eax, BOOT_PAGE_TABLES + 4096 + 24
    movl $BOOT_PAGE_TABLES + 4096 + 3, %eax
    movl %eax, BOOT_PAGE_TABLES

    /* CR4.PAE */
    movl %cr4, %eax
    orl $(1 << 5), %eax
    movl %eax, %cr4
    /* CR3 */
    movl $BOOT_PAGE_TABLES, %eax
    movl %eax, %cr3
    /* EFER.LME | EFER.NXE */
    movl $0xC0000080, %ecx
    rdmsr
    orl $((1 << 8) | (1 << 11)), %eax
    wrmsr
    /* CR0.PG | CR0.WP (CR0.PE is already set) */
    movl %cr0, %eax
    orl $((1 << 31) | (1 << 16)), %eax
    movl %eax, %cr0

    lgdt boot_gdt_pointer
    ljmp $0x08, $pvh_start64

    /* Not started through PVH: say so on COM1 (no setup needed under QEMU), halt. */
9:
    movl $pvh_bad_magic, %esi
    movw $0x3f8, %dx
10:
    lodsb
    testb %al, %al
    jz 11f
    outb %al, %dx
    jmp 10b
11:
    hlt
    jmp 11b

    .code64
pvh_start64:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs
    /* Zero-extend the start-info address into the first argument register. */
    movl %ebx, %edi
    movabsq $BOOT_STACK + 4096 + {stack_size}, %rsp
    xorl %ebp, %ebp
    call kernel_entry
8:
    cli
    hlt
    jmp 8b

    .balign 16
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff /* 0x10: data */
boot_gdt_end:
boot_gdt_pointer:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt
pvh_bad_magic:
    .asciz "kernel: EBX does not point at hvm_start_info (not a PVH boot?); halting\r\n"
    .popsection
    "#,
    stack_size = const STACK_SIZE,
    options(att_syntax)
);
