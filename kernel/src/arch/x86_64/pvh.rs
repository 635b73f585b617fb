//! Reading the PVH `hvm_start_info` block: command line and memory map.
//!
//! The block (Xen's `arch/x86/hvm/start_info.h`, version 1) and the data it points to sit
//! somewhere in RAM that the heap may later claim, so [`read`] copies what the kernel
//! needs into statics first: the command line (truncated to
//! [`COMMAND_LINE_CAPACITY`] bytes) and up to [`MEMORY_MAP_CAPACITY`] memory-map entries.

use spin::Once;

use crate::memory::{MemoryKind, MemoryRegion};
use crate::text::FixedString;

/// `hvm_start_info.magic`.
pub const START_INFO_MAGIC: u32 = 0x336e_c578;
/// Bytes of command line kept.
pub const COMMAND_LINE_CAPACITY: usize = 1024;
/// Memory-map entries kept.
pub const MEMORY_MAP_CAPACITY: usize = 64;

/// `struct hvm_start_info`, version 1.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct RawStartInfo {
    magic: u32,
    version: u32,
    flags: u32,
    nr_modules: u32,
    modlist_paddr: u64,
    cmdline_paddr: u64,
    rsdp_paddr: u64,
    memmap_paddr: u64,
    memmap_entries: u32,
    reserved: u32,
}

/// `struct hvm_memmap_table_entry`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct RawMemmapEntry {
    address: u64,
    size: u64,
    kind: u32,
    reserved: u32,
}

/// What the kernel keeps from the start-info block.
#[derive(Debug)]
pub struct StartInfo {
    /// The command line (`-append`), possibly truncated.
    pub command_line: FixedString<COMMAND_LINE_CAPACITY>,
    /// Memory map entries, in firmware order.
    regions: [MemoryRegion; MEMORY_MAP_CAPACITY],
    region_count: usize,
    /// Physical address of the ACPI RSDP, if given.
    pub rsdp: Option<u64>,
}

impl StartInfo {
    /// The memory map.
    pub fn memory_map(&self) -> &[MemoryRegion] {
        &self.regions[..self.region_count]
    }
}

static START_INFO: Once<StartInfo> = Once::new();

/// The start info copied by [`read`], once it has run.
pub fn start_info() -> Option<&'static StartInfo> {
    START_INFO.get()
}

/// Copies the start-info block at physical address `address` (from `EBX` at entry).
///
/// # Panics
///
/// If the block's magic is wrong (the trampoline already checked it).
pub fn read(address: u32) -> &'static StartInfo {
    START_INFO.call_once(|| {
        let pointer = address as usize as *const RawStartInfo;
        // SAFETY: the trampoline only gets here with EBX pointing at a start-info block
        // (it checked the magic); low memory is identity-mapped; the loader keeps the
        // block intact until we are done copying it (nothing has allocated yet).
        let raw = unsafe { pointer.read_unaligned() };
        assert_eq!(raw.magic, START_INFO_MAGIC, "bad hvm_start_info magic");

        let mut command_line = FixedString::new();
        if raw.cmdline_paddr != 0 {
            let start = raw.cmdline_paddr as usize as *const u8;
            let mut length = 0;
            // SAFETY: the command line is a NUL-terminated string in identity-mapped RAM.
            while length < COMMAND_LINE_CAPACITY && unsafe { start.add(length).read() } != 0 {
                length += 1;
            }
            // SAFETY: the `length` bytes just scanned are readable.
            let bytes = unsafe { core::slice::from_raw_parts(start, length) };
            let text = match core::str::from_utf8(bytes) {
                Ok(text) => text,
                Err(error) => {
                    core::str::from_utf8(&bytes[..error.valid_up_to()]).unwrap_or_default()
                }
            };
            let _ = core::fmt::Write::write_str(&mut command_line, text);
        }

        let mut regions = [MemoryRegion::EMPTY; MEMORY_MAP_CAPACITY];
        let mut region_count = 0;
        if raw.version >= 1 && raw.memmap_paddr != 0 {
            let entries = raw.memmap_paddr as usize as *const RawMemmapEntry;
            let count = (raw.memmap_entries as usize).min(MEMORY_MAP_CAPACITY);
            for (index, region) in regions.iter_mut().enumerate().take(count) {
                // SAFETY: the loader provides `memmap_entries` entries at `memmap_paddr`,
                // in identity-mapped RAM.
                let entry = unsafe { entries.add(index).read_unaligned() };
                *region = MemoryRegion {
                    start: entry.address,
                    size: entry.size,
                    kind: MemoryKind::from_raw(entry.kind),
                };
                region_count += 1;
            }
        }

        StartInfo {
            command_line,
            regions,
            region_count,
            rsdp: (raw.rsdp_paddr != 0).then_some(raw.rsdp_paddr),
        }
    })
}
