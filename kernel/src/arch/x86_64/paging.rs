//! Page tables after boot: the trampoline's identity map, minus the stack guard page.
//!
//! The trampoline maps 0..4 GiB with 2 MiB pages (see [`super::boot`]); nothing above
//! 4 GiB is mapped, so an access there page-faults (tests use that). [`init`] splits the
//! 2 MiB page holding the kernel stack's guard page into 512 4 KiB pages and leaves the
//! guard page not present: running off the bottom of the stack then faults instead of
//! corrupting `.bss`.

use x86_64::VirtAddr;
use x86_64::instructions::tlb;

use super::boot::{BOOT_PAGE_TABLES, BOOT_STACK};

/// Page-table entry flags.
const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const HUGE: u64 = 1 << 7;

/// 4 KiB page table for the 2 MiB region around the guard page.
#[repr(C, align(4096))]
struct PageTable([u64; 512]);

static mut GUARD_TABLE: PageTable = PageTable([0; 512]);

/// First address above the mapped range.
pub const MAPPED_LIMIT: u64 = 4 << 30;

/// Address of the stack guard page (not mapped after [`init`]).
pub fn guard_page() -> u64 {
    (&raw const BOOT_STACK) as u64
}

/// Unmaps the stack guard page. Called once, early, on the boot CPU.
pub fn init() {
    let guard = guard_page();
    let region = guard & !0x1f_ffff;
    let directory_index = (guard >> 21) as usize; // 0..2048 across the four directories
    let table_address = (&raw const GUARD_TABLE) as u64;

    // SAFETY: runs once on the only CPU before anything else uses these tables. The new
    // 4 KiB table maps the same physical pages as the 2 MiB entry it replaces, except the
    // guard page, which nothing references (it sits below the stack and is only touched by
    // an overflow). The TLB entry for the old mapping is flushed below.
    unsafe {
        let table = &raw mut GUARD_TABLE;
        for (index, entry) in (*table).0.iter_mut().enumerate() {
            let address = region + (index as u64) * 4096;
            *entry = if address == guard {
                0
            } else {
                address | PRESENT | WRITABLE
            };
        }
        let tables = &raw mut BOOT_PAGE_TABLES;
        let entry = &mut (*tables).pd[directory_index / 512][directory_index % 512];
        debug_assert!(*entry & HUGE != 0);
        *entry = table_address | PRESENT | WRITABLE;
    }
    // `invlpg` on an address inside a large page drops that page's TLB entries whatever
    // their size (Intel SDM 4.10.4.1); the mapping of every other address in the region is
    // unchanged, so two `invlpg`s suffice. (A CR3 reload works too but costs ~5 ms under
    // TCG, a tenth of the whole boot.)
    tlb::flush(VirtAddr::new(region));
    tlb::flush(VirtAddr::new(guard));
}
