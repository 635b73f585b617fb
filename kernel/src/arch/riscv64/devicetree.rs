//! The early read of the flattened devicetree, before the heap.
//!
//! OpenSBI passes the blob's physical address in `a1`. [`read`] checks the header with
//! the `fdt` crate (never with pointer arithmetic of our own), then copies out what the
//! bring-up needs into [`Facts`]: the memory map (the `/memory` RAM split around the blob
//! itself, the memory reservations and `/reserved-memory`, so the heap cannot overwrite
//! them), `/chosen/bootargs`, the timebase frequency, the `sifive,test` finisher (so a
//! panic before the device model can still exit with a code) and the PCI host bridge's
//! I/O window (where port 0 is, for the port accessors). The blob stays where it is, in
//! reserved memory, for [`blob`]'s later reader: the device model's devicetree platform,
//! which populates every device and binds their drivers.

use fdt::Fdt;
use kernel_core::pci_ranges::{self, Space};
use spin::Once;

use crate::memory::{MemoryKind, MemoryRegion};
use crate::text::FixedString;

/// Memory-map entries kept.
const MEMORY_MAP_CAPACITY: usize = 32;
/// Command-line bytes kept (longer ones are truncated).
pub const COMMAND_LINE_CAPACITY: usize = 512;

/// What the bring-up read from the devicetree.
#[derive(Debug)]
pub struct Facts {
    /// The boot hart's id.
    pub hart_id: u64,
    /// `/chosen/bootargs` (empty without one).
    pub command_line: FixedString<COMMAND_LINE_CAPACITY>,
    regions: [MemoryRegion; MEMORY_MAP_CAPACITY],
    region_count: usize,
    /// `/cpus/timebase-frequency`: the `time` CSR's rate in Hz.
    pub timebase_hz: u64,
    /// The `sifive,test` finisher's register.
    pub test_finisher: Option<u64>,
    /// The PCI host bridge's I/O window: CPU address and size.
    pub pci_io: Option<(u64, u64)>,
    blob: &'static [u8],
}

impl Facts {
    /// The memory map, sorted by address.
    pub fn memory_map(&self) -> &[MemoryRegion] {
        &self.regions[..self.region_count]
    }
}

static FACTS: Once<Facts> = Once::new();

/// The facts, once [`read`] ran.
pub fn facts() -> Option<&'static Facts> {
    FACTS.get()
}

/// The devicetree blob (in reserved memory, never reused), once [`read`] ran.
pub fn blob() -> Option<&'static [u8]> {
    facts().map(|facts| facts.blob)
}

/// Reads the devicetree at `address` (once; later calls return the first result).
///
/// # Panics
///
/// If there is no valid devicetree at `address`: nothing can be found without one.
pub fn read(hart_id: u64, address: u64) -> &'static Facts {
    FACTS.call_once(|| {
        // SAFETY: OpenSBI passes a devicetree in `a1`; `from_ptr` reads only its header
        // first and checks the magic and sizes before touching the rest. The blob lies in
        // RAM that the memory map below reserves, so nothing ever writes over it.
        let tree =
            unsafe { Fdt::from_ptr(address as *const u8) }.expect("no valid devicetree in a1");
        // SAFETY: as above: `total_size` bytes from `address` are the blob, never reused.
        let blob = unsafe { core::slice::from_raw_parts(address as *const u8, tree.total_size()) };
        let tree = Fdt::new(blob).expect("devicetree changed while reading it");
        collect(hart_id, &tree, blob)
    })
}

fn collect(hart_id: u64, tree: &Fdt<'static>, blob: &'static [u8]) -> Facts {
    let mut command_line = FixedString::new();
    if let Some(arguments) = tree.chosen().bootargs() {
        let _ = core::fmt::Write::write_str(&mut command_line, arguments);
    }
    let timebase_hz = tree
        .find_node("/cpus")
        .and_then(|cpus| cpus.property("timebase-frequency"))
        .and_then(|property| property.as_usize())
        .unwrap_or(0) as u64;
    let test_finisher = tree
        .find_compatible(&["sifive,test1", "sifive,test0"])
        .and_then(first_reg);
    let pci_io = tree
        .find_compatible(&["pci-host-ecam-generic"])
        .and_then(|node| node.property("ranges"))
        .and_then(|property| pci_io_window(property.value));

    let mut map = MemoryMap::default();
    for region in tree.memory().regions() {
        map.add_ram(
            region.starting_address as u64,
            region.size.unwrap_or(0) as u64,
        );
    }
    map.reserve(blob.as_ptr() as u64, blob.len() as u64);
    for reservation in tree.memory_reservations() {
        map.reserve(reservation.address() as u64, reservation.size() as u64);
    }
    if let Some(reserved) = tree.find_node("/reserved-memory") {
        for child in reserved.children() {
            for region in child.reg().into_iter().flatten() {
                map.reserve(
                    region.starting_address as u64,
                    region.size.unwrap_or(0) as u64,
                );
            }
        }
    }
    map.sort();
    Facts {
        hart_id,
        command_line,
        regions: map.regions,
        region_count: map.count,
        timebase_hz,
        test_finisher,
        pci_io,
        blob,
    }
}

fn first_reg(node: fdt::node::FdtNode<'_, '_>) -> Option<u64> {
    node.reg()?
        .next()
        .map(|region| region.starting_address as u64)
}

/// The I/O window of a PCI host bridge's `ranges` (2 parent address cells and 2 size
/// cells, as on `virt`), if it starts at port 0: its CPU address and size.
fn pci_io_window(ranges: &[u8]) -> Option<(u64, u64)> {
    let mut cells = [0u32; 7 * 8];
    let count = ranges.len() / 4;
    if !ranges.len().is_multiple_of(4) || count > cells.len() {
        return None;
    }
    for (cell, bytes) in cells.iter_mut().zip(ranges.chunks_exact(4)) {
        *cell = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    let windows = pci_ranges::parse(&cells[..count], 2, 2).ok()?;
    pci_ranges::usable(windows, Space::Io).map(|window| (window.cpu_address, window.size))
}

/// A fixed-capacity memory map being built: RAM entries split around reservations.
struct MemoryMap {
    regions: [MemoryRegion; MEMORY_MAP_CAPACITY],
    count: usize,
}

impl Default for MemoryMap {
    fn default() -> Self {
        Self {
            regions: [MemoryRegion::EMPTY; MEMORY_MAP_CAPACITY],
            count: 0,
        }
    }
}

impl MemoryMap {
    fn push(&mut self, start: u64, end: u64, kind: MemoryKind) {
        if start < end && self.count < MEMORY_MAP_CAPACITY {
            self.regions[self.count] = MemoryRegion {
                start,
                size: end - start,
                kind,
            };
            self.count += 1;
        }
    }

    fn add_ram(&mut self, start: u64, size: u64) {
        self.push(start, start.saturating_add(size), MemoryKind::Ram);
    }

    /// Cuts `start .. start + size` out of every RAM entry and records it as reserved.
    fn reserve(&mut self, start: u64, size: u64) {
        let end = start.saturating_add(size);
        if start >= end {
            return;
        }
        let mut index = 0;
        while index < self.count {
            let region = self.regions[index];
            if region.kind == MemoryKind::Ram && start < region.end() && region.start < end {
                self.regions[index] = MemoryRegion {
                    start: region.start,
                    size: start.saturating_sub(region.start).min(region.size),
                    kind: MemoryKind::Ram,
                };
                self.push(end.min(region.end()), region.end(), MemoryKind::Ram);
                self.push(
                    start.max(region.start),
                    end.min(region.end()),
                    MemoryKind::Reserved,
                );
            }
            index += 1;
        }
        // Drop the RAM entries the cut emptied.
        let mut kept = 0;
        for index in 0..self.count {
            if self.regions[index].size != 0 {
                self.regions[kept] = self.regions[index];
                kept += 1;
            }
        }
        self.count = kept;
    }

    fn sort(&mut self) {
        self.regions[..self.count].sort_unstable_by_key(|region| region.start);
    }
}
