//! Write-combining for framebuffers through the page attribute table (PAT).
//!
//! The trampoline maps 0..4 GiB with 2 MiB pages and no cache-control bits, so device
//! memory gets whatever the firmware's MTRRs say (uncached for the PCI hole under
//! SeaBIOS, write-back under qboot, which sets no MTRRs). A linear framebuffer is
//! fastest write-combined. [`map_write_combining`] reprograms PAT entry 1 (selected by
//! `PWT=1, PCD=0, PAT=0`; power-on value write-through, used by nothing else here) to
//! write-combining once, then sets `PWT` on the 2 MiB entries that cover an owned
//! [`MmioWindow`]. The returned [`WriteCombining`] puts the entries back when dropped,
//! before the window (and with it the range) can pass to another owner.
//!
//! Under QEMU's TCG memory types are not emulated: the mapping is right for hardware and
//! changes no figure measured under TCG.
//!
//! With several CPUs: every other CPU programs entry 1 the same way when it starts
//! (`init_other_cpu`; harmless, since only this module's mappings select entry 1), the
//! entries are edited under `TABLES` (interrupts off), and after an edit every other
//! CPU flushes the changed range from its TLB through a call-function IPI (a TLB
//! shootdown), so no CPU keeps using the old memory type. The shootdown needs interrupts
//! enabled (see [`super::smp::call_on`]); an edit made with interrupts disabled says so
//! on the console and leaves the other CPUs' TLBs to their next flush.

use core::fmt;

use x86_64::VirtAddr;
use x86_64::instructions::tlb;
use x86_64::registers::model_specific::Msr;

use super::boot::BOOT_PAGE_TABLES;
use super::io::MmioWindow;
use super::paging::MAPPED_LIMIT;

/// `IA32_PAT`.
const IA32_PAT: u32 = 0x277;
/// PAT memory type: write-combining.
const TYPE_WRITE_COMBINING: u64 = 0x01;
/// Page-table bits.
const PWT: u64 = 1 << 3;
const PCD: u64 = 1 << 4;
const HUGE: u64 = 1 << 7;
const PRESENT: u64 = 1;
const LARGE_PAGE: u64 = 2 << 20;

static PAT_PROGRAMMED: spin::Once<()> = spin::Once::new();

/// Serialises page-table edits between CPUs (taken with interrupts off).
static TABLES: spin::Mutex<()> = spin::Mutex::new(());

/// Programs PAT entry 1 as write-combining on this CPU.
fn program_entry_1() {
    let mut msr = Msr::new(IA32_PAT);
    // SAFETY: IA32_PAT exists on every x86_64 CPU. Entry 1 changes from write-through to
    // write-combining; no mapping of this kernel selects entry 1 except the ones this
    // module makes, so no existing mapping changes type.
    unsafe {
        let value = msr.read();
        msr.write((value & !(0xff << 8)) | (TYPE_WRITE_COMBINING << 8));
    }
}

/// Programs this (non-boot) CPU's PAT as the boot CPU's is, or will be, programmed.
pub(super) fn init_other_cpu() {
    program_entry_1();
}

/// Whether [`map_write_combining`] can succeed here: yes, through the PAT.
pub const WRITE_COMBINING: bool = true;

/// Why a window cannot be mapped write-combining.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PatError {
    /// The window does not start and end on 2 MiB boundaries (its large pages would be
    /// shared with other ranges).
    NotAligned,
    /// Part of the window is not mapped by a 2 MiB entry of the identity map.
    NotLargePages,
}

impl fmt::Display for PatError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAligned => formatter.write_str("window not 2 MiB aligned"),
            Self::NotLargePages => formatter.write_str("window not mapped by 2 MiB pages"),
        }
    }
}

impl core::error::Error for PatError {}

/// The write-combining mapping of a window's pages; dropping it restores them.
#[derive(Debug)]
pub struct WriteCombining {
    start: u64,
    end: u64,
}

/// Page-directory indices (0..2048) covering `start..end`.
fn directory_entries(start: u64, end: u64) -> core::ops::Range<usize> {
    (start / LARGE_PAGE) as usize..(end / LARGE_PAGE) as usize
}

/// Drops `start..end`'s 2 MiB pages from this CPU's TLB.
fn flush_range(start: u64, end: u64) {
    for index in directory_entries(start, end) {
        tlb::flush(VirtAddr::new(index as u64 * LARGE_PAGE));
    }
}

/// Sets or clears `PWT` on the entries of `start..end` and flushes them on every CPU.
fn set_write_combining(start: u64, end: u64, on: bool) {
    super::without_interrupts(|| {
        let _tables = TABLES.lock();
        for index in directory_entries(start, end) {
            // SAFETY: `TABLES` held, interrupts off: nothing else edits the tables now. The
            // entry maps the same frames as before; only its memory type changes, for a
            // range owned by the caller's window (not RAM, so no Rust object is mapped
            // there), and its TLB entry is flushed right after (on the other CPUs by
            // the shootdown below).
            unsafe {
                let tables = &raw mut BOOT_PAGE_TABLES;
                let entry = &mut (*tables).pd[index / 512][index % 512];
                *entry = if on {
                    (*entry | PWT) & !PCD
                } else {
                    *entry & !PWT
                };
            }
        }
        flush_range(start, end);
    });
    if let Err(error) = super::smp::call_on_others(&|| flush_range(start, end)) {
        crate::println!("kernel: PAT: no TLB shootdown for {start:#x}..{end:#x}: {error}");
    }
}

/// Maps `window` write-combining (see the module docs).
///
/// # Errors
///
/// [`PatError`]; nothing changes then.
pub fn map_write_combining(window: &MmioWindow) -> Result<WriteCombining, PatError> {
    let (start, end) = (window.start(), window.start() + window.length());
    if !start.is_multiple_of(LARGE_PAGE) || !end.is_multiple_of(LARGE_PAGE) || end > MAPPED_LIMIT {
        return Err(PatError::NotAligned);
    }
    let tables = &raw const BOOT_PAGE_TABLES;
    for index in directory_entries(start, end) {
        // SAFETY: a plain read of a page-table entry; only the owner of the window it
        // maps (the caller) has it written, so no other CPU writes it concurrently.
        let entry = unsafe { (*tables).pd[index / 512][index % 512] };
        if entry & (PRESENT | HUGE) != PRESENT | HUGE {
            return Err(PatError::NotLargePages);
        }
    }
    PAT_PROGRAMMED.call_once(program_entry_1);
    set_write_combining(start, end, true);
    Ok(WriteCombining { start, end })
}

/// Whether `address` is mapped write-combining by this module (for tests and reports).
pub fn is_write_combining(address: u64) -> bool {
    if address >= MAPPED_LIMIT || PAT_PROGRAMMED.get().is_none() {
        return false;
    }
    let index = (address / LARGE_PAGE) as usize;
    let tables = &raw const BOOT_PAGE_TABLES;
    // SAFETY: a plain read of a page-table entry, as in `map_write_combining`.
    let entry = unsafe { (*tables).pd[index / 512][index % 512] };
    entry & (HUGE | PWT | PCD) == HUGE | PWT
}

impl Drop for WriteCombining {
    fn drop(&mut self) {
        set_write_combining(self.start, self.end, false);
    }
}
