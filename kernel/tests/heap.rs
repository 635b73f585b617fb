//! The heap: allocation and release, large and many allocations, region selection.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use kernel::arch::heap;
use kernel::memory::{MemoryKind, MemoryRegion, heap_region};
use kernel::{check, check_eq, kernel_test};

kernel::test_main!();

kernel_test! {
    /// A box is allocated, holds its value, and its memory returns on drop.
    fn box_allocates_and_frees() {
        let before = heap::used_bytes();
        let value = core::hint::black_box(Box::new(41_u64));
        check!(heap::used_bytes() > before);
        check_eq!(*value + 1, 42);
        drop(value);
        check_eq!(heap::used_bytes(), before);
    }
}

kernel_test! {
    /// Growing a vector reallocates without losing contents.
    fn vec_grows() {
        let mut numbers = Vec::new();
        for number in 0..1000_u32 {
            numbers.push(number);
        }
        check_eq!(numbers.iter().sum::<u32>(), 999 * 1000 / 2);
    }
}

kernel_test! {
    /// A 16 MiB allocation succeeds and is writable end to end.
    fn large_allocation() {
        let mut block = alloc::vec![0_u8; 16 << 20];
        block[0] = 1;
        let last = block.len() - 1;
        block[last] = 2;
        check_eq!(block[0] + block[last], 3);
    }
}

kernel_test! {
    /// Two thousand small allocations, freed in an interleaved order. (The allocator's
    /// free list is address-ordered, so this is quadratic: ten thousand take seconds
    /// under TCG.)
    fn many_allocations() {
        let mut boxes: Vec<Box<u64>> = (0..2_000).map(Box::new).collect();
        let mut index = 0;
        boxes.retain(|_| {
            index += 1;
            index % 2 == 0
        });
        check_eq!(boxes.len(), 1_000);
        check_eq!(*boxes[0], 1);
    }
}

kernel_test! {
    /// Collections that allocate nodes and strings.
    fn collections() {
        let mut map = BTreeMap::new();
        for number in 0..200_u32 {
            map.insert(number, alloc::format!("value {number}"));
        }
        let joined: String = map.values().take(2).cloned().collect::<Vec<_>>().join(", ");
        check_eq!(joined.as_str(), "value 0, value 1");
    }
}

/// A page-aligned type.
#[repr(C, align(4096))]
struct Page([u8; 4096]);

kernel_test! {
    /// Over-aligned allocations honour their alignment.
    fn page_aligned_allocation() {
        let pages: Vec<Box<Page>> = (0..4).map(|_| Box::new(Page([7; 4096]))).collect();
        for page in &pages {
            check_eq!(&raw const **page as usize % 4096, 0);
            check_eq!(page.0[4095], 7);
        }
    }
}

kernel_test! {
    /// The heap covers the RAM after the kernel image (hundreds of MiB with `-m 256M`).
    fn heap_is_sized_from_memory_map() {
        check!(heap::size_bytes() >= 64 << 20, "heap is only {} bytes", heap::size_bytes());
    }
}

const fn ram(start: u64, size: u64) -> MemoryRegion {
    MemoryRegion {
        start,
        size,
        kind: MemoryKind::Ram,
    }
}

kernel_test! {
    /// Region choice: the RAM entry holding the image end, page-aligned, capped.
    fn heap_region_selection() {
        let map = [
            ram(0, 0x9fc00),
            MemoryRegion { start: 0xf0000, size: 0x10000, kind: MemoryKind::Reserved },
            ram(0x10_0000, 0xfee_0000),
        ];
        check_eq!(heap_region(&map, 0x16_d123, 4 << 30), Some(0x16_e000..0xffe_0000));
        check_eq!(heap_region(&map, 0x16_d000, 0x800_0000), Some(0x16_d000..0x800_0000));
        // Image end inside a reserved entry, or past all RAM: no heap.
        check_eq!(heap_region(&map, 0xf_8000, 4 << 30), None);
        check_eq!(heap_region(&map, 0x2000_0000, 4 << 30), None);
        // Nothing left after the image.
        check_eq!(heap_region(&[ram(0x10_0000, 0x10_0000)], 0x1f_f001, 4 << 30), None);
    }
}

kernel_test! {
    /// Initializing the heap again is refused.
    fn heap_init_only_once() {
        let map = [ram(0x10_0000, 0xfee_0000)];
        check!(heap::init(0x800_0000..0x900_0000, &map).is_err());
    }
}

kernel_test! {
    /// An impossible allocation ends in the allocation-error panic. The panic ends the
    /// boot, so this test comes last: a test after it would cost a restart.
    #[should_panic = "memory allocation of"]
    fn exhaustion_panics() {
        let block: Vec<u8> = Vec::with_capacity(1 << 40);
        core::hint::black_box(block);
    }
}
