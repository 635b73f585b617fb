//! The early read of the flattened devicetree, before the heap.
//!
//! OpenSBI passes the blob's physical address in `a1`. [`read`] checks the header and
//! walks the tree with the `fdt` crate in its no-panic mode (the same parser, and the
//! same version, as drivermodel's devicetree platform; never pointer arithmetic of our
//! own), then copies out what the bring-up needs into [`Facts`]: the memory map (RAM from
//! drivermodel's allocation-free `devicetree::memory`, split around the blob itself,
//! the memory reservation block and `/reserved-memory`, so the heap cannot overwrite
//! them), `/chosen/bootargs`, the timebase frequency, the `sifive,test` finisher (so a
//! panic before the device model can still exit with a code) and the PCI host bridge's
//! I/O window (where port 0 is, for the port accessors). The blob stays where it is, in
//! reserved memory, for [`blob`]'s later reader: the device model's devicetree platform,
//! which populates every device and binds their drivers.

use fdt::parsing::NoPanic;
use fdt::parsing::unaligned::UnalignedParser;
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

/// The `fdt` crate's tree, every access a `Result`.
type Tree<'a> = fdt::Fdt<'a, (UnalignedParser<'a>, NoPanic)>;
/// One node of it.
type Node<'a> = fdt::nodes::Node<'a, (UnalignedParser<'a>, NoPanic)>;

/// What is wrong with a devicetree.
type Problem = &'static str;

/// Reads the devicetree at `address` (once; later calls return the first result).
///
/// # Panics
///
/// If there is no valid devicetree at `address`, or it is malformed: nothing can be
/// found without one.
pub fn read(hart_id: u64, address: u64) -> &'static Facts {
    FACTS.call_once(|| {
        // SAFETY: OpenSBI passes a devicetree in `a1`; `from_ptr_unaligned_fallible`
        // reads only its header first and checks the magic and sizes before touching the
        // rest. The blob lies in RAM that the memory map below reserves, so nothing ever
        // writes over it.
        let tree = unsafe { Tree::from_ptr_unaligned_fallible(address as *const u8) }
            .expect("no valid devicetree in a1");
        // SAFETY: as above: `total_size` bytes from `address` are the blob, never reused.
        let blob = unsafe { core::slice::from_raw_parts(address as *const u8, tree.total_size()) };
        let tree = Tree::new_unaligned_fallible(blob).expect("devicetree changed while reading it");
        match collect(hart_id, &tree, blob) {
            Ok(facts) => facts,
            Err(problem) => panic!("malformed devicetree: {problem}"),
        }
    })
}

fn collect(hart_id: u64, tree: &Tree<'static>, blob: &'static [u8]) -> Result<Facts, Problem> {
    const STRUCTURE: Problem = "bad structure block";
    let root = tree.root().map_err(|_| STRUCTURE)?;
    let node = |path: &str| root.find_node(path).map_err(|_| STRUCTURE);
    let compatible = |with: &[&str]| -> Result<Option<Node<'static>>, Problem> {
        let mut nodes = root.all_compatible(with).map_err(|_| STRUCTURE)?;
        nodes.next().transpose().map_err(|_| STRUCTURE)
    };

    let mut command_line = FixedString::new();
    if let Some(chosen) = node("/chosen")?
        && let Some(arguments) = property(&chosen, "bootargs")?
    {
        let arguments = arguments.split(|&byte| byte == 0).next().unwrap_or(&[]);
        let arguments = core::str::from_utf8(arguments).map_err(|_| "bootargs are not UTF-8")?;
        let _ = core::fmt::Write::write_str(&mut command_line, arguments);
    }
    let timebase_hz = match node("/cpus")? {
        Some(cpus) => match property(&cpus, "timebase-frequency")? {
            Some(value) => number(value).ok_or("timebase-frequency is not 1 or 2 cells")?,
            None => 0,
        },
        None => 0,
    };
    let test_finisher = match compatible(&["sifive,test1", "sifive,test0"])? {
        Some(finisher) => regions(&finisher)?
            .next()
            .transpose()?
            .map(|(start, _)| start),
        None => None,
    };
    let pci_io = match compatible(&["pci-host-ecam-generic"])? {
        Some(host) => property(&host, "ranges")?.and_then(pci_io_window),
        None => None,
    };

    let mut map = MemoryMap::default();
    drivermodel::devicetree::memory(blob, |range| map.add_ram(range.start(), range.length()))
        .map_err(|_| "bad memory node")?;
    map.reserve(blob.as_ptr() as u64, blob.len() as u64);
    reservations(tree, blob, |start, size| map.reserve(start, size))?;
    if let Some(reserved) = node("/reserved-memory")? {
        for child in reserved.children().map_err(|_| STRUCTURE)?.iter() {
            let child = child.map_err(|_| STRUCTURE)?;
            for region in regions(&child)? {
                let (start, size) = region?;
                map.reserve(start, size);
            }
        }
    }
    map.sort();
    Ok(Facts {
        hart_id,
        command_line,
        regions: map.regions,
        region_count: map.count,
        timebase_hz,
        test_finisher,
        pci_io,
        blob,
    })
}

/// The raw value of `node`'s property `name`.
fn property(node: &Node<'static>, name: &str) -> Result<Option<&'static [u8]>, Problem> {
    node.raw_property(name)
        .map(|property| property.map(|property| property.value))
        .map_err(|_| "bad property record")
}

/// A one- or two-cell number.
fn number(value: &[u8]) -> Option<u64> {
    match *value {
        [a, b, c, d] => Some(u32::from_be_bytes([a, b, c, d]).into()),
        [a, b, c, d, e, f, g, h] => Some(u64::from_be_bytes([a, b, c, d, e, f, g, h])),
        _ => None,
    }
}

/// `node`'s `reg` entries as (address, size) pairs (none without `reg`).
fn regions(
    node: &Node<'static>,
) -> Result<impl Iterator<Item = Result<(u64, u64), Problem>>, Problem> {
    let reg = node.reg().map_err(|_| "malformed reg")?;
    Ok(reg.into_iter().flat_map(|reg| {
        reg.iter::<u64, u64>().map(|entry| {
            entry
                .map(|entry| (entry.address, entry.len))
                .map_err(|_| "reg cells do not fit 64 bits")
        })
    }))
}

/// Calls `each` with every entry of the blob's memory reservation block: (address,
/// size) pairs of big-endian `u64`s up to the (0, 0) that ends it. The `fdt` crate gives
/// the block's offset, not its entries; the slice reads here are bounds-checked.
fn reservations(
    tree: &Tree<'static>,
    blob: &[u8],
    mut each: impl FnMut(u64, u64),
) -> Result<(), Problem> {
    const TRUNCATED: Problem = "memory reservation block runs past the blob";
    let offset = tree.header().memory_reserve_map_offset as usize;
    let block = blob.get(offset..).ok_or(TRUNCATED)?;
    for entry in block.chunks(16) {
        let (Some(address), Some(size)) = (
            entry.get(..8).and_then(number),
            entry.get(8..16).and_then(number),
        ) else {
            return Err(TRUNCATED);
        };
        if (address, size) == (0, 0) {
            return Ok(());
        }
        each(address, size);
    }
    Err(TRUNCATED)
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
