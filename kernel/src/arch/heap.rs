//! The kernel heap: `linked_list_allocator` behind a spin lock, as the global allocator.
//!
//! [`init`] gives it the region chosen by [`crate::memory::heap_region`], after checking
//! that the region is RAM according to the firmware, lies past the kernel image and inside
//! the identity map. Allocation runs with interrupts off, so an interrupt handler that
//! allocated could not deadlock on the lock (none does today).
//!
//! [`used_bytes`] is what the test runner's heap leak probe reads before and after each
//! test.

use core::alloc::{GlobalAlloc, Layout};
use core::fmt;
use core::ops::Range;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, Ordering};

use linked_list_allocator::Heap;
use spin::Mutex;

use super::linker::kernel_end;
use super::platform::MAPPED_LIMIT;
use super::without_interrupts;
use crate::memory::{MemoryKind, MemoryRegion};

/// The global allocator.
struct KernelAllocator {
    heap: Mutex<Heap>,
}

#[global_allocator]
static ALLOCATOR: KernelAllocator = KernelAllocator {
    heap: Mutex::new(Heap::empty()),
};

static INITIALIZED: AtomicBool = AtomicBool::new(false);

// SAFETY: `linked_list_allocator::Heap` hands out non-overlapping blocks that fit the
// layout, and takes back exactly the blocks it handed out (GlobalAlloc's contract on
// `dealloc` callers). Failure is reported as null, as GlobalAlloc requires.
unsafe impl GlobalAlloc for KernelAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        without_interrupts(|| {
            self.heap
                .lock()
                .allocate_first_fit(layout)
                .map_or(ptr::null_mut(), NonNull::as_ptr)
        })
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        if let Some(pointer) = NonNull::new(pointer) {
            without_interrupts(|| {
                // SAFETY: the caller passes a block from `alloc` with its layout.
                unsafe { self.heap.lock().deallocate(pointer, layout) }
            });
        }
    }
}

/// Why [`init`] refused a region.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeapError {
    /// `init` already ran.
    AlreadyInitialized,
    /// The region is not entirely inside one RAM entry of the memory map.
    NotRam {
        /// The refused region.
        region: Range<u64>,
    },
    /// The region overlaps the kernel image or lies outside the identity map.
    OutOfBounds {
        /// The refused region.
        region: Range<u64>,
    },
}

impl fmt::Display for HeapError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlreadyInitialized => write!(formatter, "heap already initialized"),
            Self::NotRam { region } => {
                write!(
                    formatter,
                    "{:#x}..{:#x} is not RAM",
                    region.start, region.end
                )
            }
            Self::OutOfBounds { region } => write!(
                formatter,
                "{:#x}..{:#x} overlaps the kernel or is not mapped",
                region.start, region.end
            ),
        }
    }
}

impl core::error::Error for HeapError {}

/// Hands `region` to the heap.
///
/// # Errors
///
/// The region must lie within one RAM entry of `map`, after the kernel image and below
/// the identity-map limit; and this works only once.
pub fn init(region: Range<u64>, map: &[MemoryRegion]) -> Result<(), HeapError> {
    let is_ram = map.iter().any(|entry| {
        entry.kind == MemoryKind::Ram && entry.start <= region.start && region.end <= entry.end()
    });
    if !is_ram || region.is_empty() {
        return Err(HeapError::NotRam { region });
    }
    if region.start < kernel_end() || region.end > MAPPED_LIMIT {
        return Err(HeapError::OutOfBounds { region });
    }
    if INITIALIZED.swap(true, Ordering::SeqCst) {
        return Err(HeapError::AlreadyInitialized);
    }
    let size = (region.end - region.start) as usize;
    // SAFETY: checked above: the region is RAM per the firmware, identity-mapped, and not
    // part of the kernel image; the firmware's data in RAM (PVH start info, devicetree)
    // was copied out or lies outside the chosen region (see `crate::memory::heap_region`),
    // and `INITIALIZED` makes this the only owner of the region.
    without_interrupts(|| unsafe {
        ALLOCATOR.heap.lock().init(region.start as *mut u8, size);
    });
    Ok(())
}

/// Heap bytes currently allocated (including allocator overhead rounding).
pub fn used_bytes() -> usize {
    without_interrupts(|| ALLOCATOR.heap.lock().used())
}

/// Heap size in bytes.
pub fn size_bytes() -> usize {
    without_interrupts(|| ALLOCATOR.heap.lock().size())
}
