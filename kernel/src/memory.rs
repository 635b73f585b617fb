//! Physical memory as the firmware describes it, and the choice of the heap's region.
//!
//! The PVH memory map lists RAM (type 1) and everything else. The heap takes the RAM
//! region that holds the end of the kernel image (QEMU's loader puts the kernel at 1 MiB,
//! inside the big region of low RAM), from the first page past the image to the end of
//! that region, capped at the identity-mapped limit (4 GiB). This is pure logic so the
//! in-kernel tests can check it on made-up maps; [`crate::arch::heap`] does the claiming.

use core::fmt;
use core::ops::Range;

/// The type of a memory-map entry (PVH uses the E820 numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemoryKind {
    /// Type 1: usable RAM.
    Ram,
    /// Type 2: reserved.
    Reserved,
    /// Type 3: ACPI tables, reclaimable after reading them.
    AcpiReclaimable,
    /// Type 4: ACPI non-volatile storage.
    AcpiNvs,
    /// Type 5: unusable (bad) memory.
    Unusable,
    /// Any other type.
    Other(u32),
}

impl MemoryKind {
    /// Decodes a raw E820/PVH type.
    pub const fn from_raw(kind: u32) -> Self {
        match kind {
            1 => Self::Ram,
            2 => Self::Reserved,
            3 => Self::AcpiReclaimable,
            4 => Self::AcpiNvs,
            5 => Self::Unusable,
            other => Self::Other(other),
        }
    }
}

/// One memory-map entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryRegion {
    /// First physical address.
    pub start: u64,
    /// Size in bytes.
    pub size: u64,
    /// What the memory is.
    pub kind: MemoryKind,
}

impl MemoryRegion {
    /// A zero-sized placeholder.
    pub const EMPTY: Self = Self {
        start: 0,
        size: 0,
        kind: MemoryKind::Reserved,
    };

    /// One past the last address (saturating).
    pub const fn end(&self) -> u64 {
        self.start.saturating_add(self.size)
    }
}

impl fmt::Display for MemoryRegion {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{:#012x}..{:#012x} {:?}",
            self.start,
            self.end(),
            self.kind
        )
    }
}

/// Rounds `value` up to a multiple of 4096 (saturating).
const fn page_align_up(value: u64) -> u64 {
    value.saturating_add(4095) & !4095
}

/// The heap region for a kernel image ending at `kernel_end`: from the first page past
/// the image to the end of the RAM region containing `kernel_end`, capped at `limit`.
/// `None` if no RAM region holds the image's end or nothing is left.
pub fn heap_region(map: &[MemoryRegion], kernel_end: u64, limit: u64) -> Option<Range<u64>> {
    let start = page_align_up(kernel_end);
    let region = map.iter().find(|region| {
        region.kind == MemoryKind::Ram && region.start <= start && start < region.end()
    })?;
    let end = region.end().min(limit) & !4095;
    (start < end).then_some(start..end)
}
