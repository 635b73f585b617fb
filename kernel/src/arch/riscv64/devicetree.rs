//! The early read of the flattened devicetree, before the heap.
//!
//! OpenSBI passes the blob's physical address in `a1`. [`read`] checks the header with
//! the `fdt` crate (never with pointer arithmetic of our own), then copies out what the
//! bring-up needs into [`Facts`]: the memory map (the `/memory` RAM split around the blob
//! itself, the memory reservations and `/reserved-memory`, so the heap cannot overwrite
//! them), `/chosen/bootargs`, the timebase frequency, the PLIC, the `sifive,test`
//! finisher and the PCI host bridge's I/O window. The blob stays where it is, in reserved
//! memory, for [`blob`]'s later readers (the device model's devicetree platform).

use fdt::Fdt;
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
    /// The PLIC's register base and its number of sources (`riscv,ndev`).
    pub plic: Option<(u64, u32)>,
    /// The `sifive,test` finisher's register.
    pub test_finisher: Option<u64>,
    /// The PCI host bridge's I/O window: CPU address and size.
    pub pci_io: Option<(u64, u64)>,
    /// The PCI host bridge's ECAM window: address and size.
    pub pci_ecam: Option<(u64, u64)>,
    /// The PCI host bridge's 32-bit memory window (CPU address = bus address): start, size.
    pub pci_memory: Option<(u64, u64)>,
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
    let plic = tree
        .find_compatible(&["sifive,plic-1.0.0", "riscv,plic0"])
        .and_then(|node| {
            let base = first_reg(node)?;
            let sources = node.property("riscv,ndev")?.as_usize()?;
            Some((base, u32::try_from(sources).ok()?))
        });
    let test_finisher = tree
        .find_compatible(&["sifive,test1", "sifive,test0"])
        .and_then(first_reg);
    let pci = tree.find_compatible(&["pci-host-ecam-generic"]);
    let ranges = pci
        .and_then(|node| node.property("ranges"))
        .map(|property| property.value);
    let pci_io = ranges.and_then(|ranges| pci_window(ranges, 1));
    let pci_memory = ranges.and_then(|ranges| pci_window(ranges, 2));
    let pci_ecam = pci.and_then(|node| node.reg()?.next()).map(|region| {
        (
            region.starting_address as u64,
            region.size.unwrap_or(0) as u64,
        )
    });

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
        plic,
        test_finisher,
        pci_io,
        pci_ecam,
        pci_memory,
        blob,
    }
}

fn first_reg(node: fdt::node::FdtNode<'_, '_>) -> Option<u64> {
    node.reg()?
        .next()
        .map(|region| region.starting_address as u64)
}

/// The entry of space `space` (1 = I/O, 2 = 32-bit memory) of a PCI host bridge's
/// `ranges`: 3 child cells (space code in bits 24-25 of the first), 2 parent cells, 2 size
/// cells, as on `virt`. Only a window whose bus addresses equal its CPU addresses (or, for
/// I/O, that starts at port 0) is usable as is; its CPU address and size.
fn pci_window(ranges: &[u8], space: u64) -> Option<(u64, u64)> {
    const ENTRY: usize = 7 * 4;
    if !ranges.len().is_multiple_of(ENTRY) {
        return None;
    }
    let cell = |entry: &[u8], index: usize| {
        u64::from(u32::from_be_bytes([
            entry[index * 4],
            entry[index * 4 + 1],
            entry[index * 4 + 2],
            entry[index * 4 + 3],
        ]))
    };
    ranges.chunks_exact(ENTRY).find_map(|entry| {
        let child = cell(entry, 1) << 32 | cell(entry, 2);
        let parent = cell(entry, 3) << 32 | cell(entry, 4);
        let size = cell(entry, 5) << 32 | cell(entry, 6);
        let usable = if space == 1 {
            child == 0
        } else {
            child == parent
        };
        ((cell(entry, 0) >> 24) & 3 == space && usable).then_some((parent, size))
    })
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
