//! A PCI host bridge's devicetree `ranges` (the PCI bus binding, IEEE 1275 PCI): how
//! its bus address spaces appear in the CPU's.
//!
//! Each entry is a 3-cell PCI address (`phys.hi` with the space code in bits 24-25 and
//! the prefetchable flag in bit 30, then a 64-bit bus address), the CPU address in the
//! parent's `#address-cells`, and a size in the bridge's `#size-cells`.

/// A PCI address space (`phys.hi` bits 24-25).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// Configuration space (code 0; not a window).
    Config,
    /// I/O space (code 1).
    Io,
    /// 32-bit memory space (code 2).
    Memory32,
    /// 64-bit memory space (code 3).
    Memory64,
}

/// One `ranges` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The bus address space.
    pub space: Space,
    /// `phys.hi` bit 30.
    pub prefetchable: bool,
    /// The first bus address (a port number for I/O).
    pub bus_address: u64,
    /// The CPU address of `bus_address`.
    pub cpu_address: u64,
    /// Bytes (ports) in the window.
    pub size: u64,
}

/// Why `ranges` could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangesError {
    /// A cell count is 0 (CPU address) or larger than 2, so a value would not fit 64
    /// bits.
    CellCount {
        /// `#address-cells` of the parent.
        parent_cells: usize,
        /// `#size-cells` of the bridge.
        size_cells: usize,
    },
    /// The property's length is not a whole number of entries.
    Length {
        /// Cells in the property.
        cells: usize,
        /// Cells per entry.
        per_entry: usize,
    },
}

impl core::fmt::Display for RangesError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::CellCount {
                parent_cells,
                size_cells,
            } => write!(
                formatter,
                "ranges: #address-cells {parent_cells} / #size-cells {size_cells} not supported"
            ),
            Self::Length { cells, per_entry } => write!(
                formatter,
                "ranges: {cells} cells are not a whole number of {per_entry}-cell entries"
            ),
        }
    }
}

impl core::error::Error for RangesError {}

/// Reads the `ranges` cells of a PCI host bridge whose parent has `parent_cells`
/// address cells and which has `size_cells` size cells.
///
/// # Errors
///
/// [`RangesError`] for unsupported cell counts or a truncated entry.
pub fn parse(
    cells: &[u32],
    parent_cells: usize,
    size_cells: usize,
) -> Result<impl Iterator<Item = Window> + '_, RangesError> {
    if !(1..=2).contains(&parent_cells) || size_cells > 2 {
        return Err(RangesError::CellCount {
            parent_cells,
            size_cells,
        });
    }
    let per_entry = 3 + parent_cells + size_cells;
    if !cells.len().is_multiple_of(per_entry) {
        return Err(RangesError::Length {
            cells: cells.len(),
            per_entry,
        });
    }
    let number = |cells: &[u32]| {
        cells
            .iter()
            .fold(0u64, |value, &cell| value << 32 | u64::from(cell))
    };
    Ok(cells.chunks_exact(per_entry).map(move |entry| {
        let high = entry[0];
        let space = match (high >> 24) & 3 {
            0 => Space::Config,
            1 => Space::Io,
            2 => Space::Memory32,
            _ => Space::Memory64,
        };
        Window {
            space,
            prefetchable: high & (1 << 30) != 0,
            bus_address: number(&entry[1..3]),
            cpu_address: number(&entry[3..3 + parent_cells]),
            size: number(&entry[3 + parent_cells..]),
        }
    }))
}

/// The first window of `space` in `windows` whose bus addresses are usable as they are:
/// for memory, bus address = CPU address (BARs hold bus addresses and the kernel uses
/// CPU addresses, without translation); for I/O, ports that start at 0 (the kernel's port
/// numbers are offsets into the window).
pub fn usable(mut windows: impl Iterator<Item = Window>, space: Space) -> Option<Window> {
    windows.find(|window| {
        window.space == space
            && window.size != 0
            && match space {
                Space::Io => window.bus_address == 0,
                _ => window.bus_address == window.cpu_address,
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QEMU riscv64 `virt`'s `pci@30000000` `ranges` (parent `#address-cells` 2,
    /// `#size-cells` 2).
    const VIRT: [u32; 21] = [
        0x0100_0000,
        0,
        0,
        0,
        0x0300_0000,
        0,
        0x1_0000, // I/O
        0x0200_0000,
        0,
        0x4000_0000,
        0,
        0x4000_0000,
        0,
        0x4000_0000, // 32-bit memory
        0x0300_0000,
        0x4,
        0,
        0x4,
        0,
        0x4,
        0, // 64-bit memory
    ];

    #[test]
    fn virt_windows() {
        let windows: Vec<Window> = parse(&VIRT, 2, 2).unwrap().collect();
        assert_eq!(
            windows,
            [
                Window {
                    space: Space::Io,
                    prefetchable: false,
                    bus_address: 0,
                    cpu_address: 0x300_0000,
                    size: 0x1_0000
                },
                Window {
                    space: Space::Memory32,
                    prefetchable: false,
                    bus_address: 0x4000_0000,
                    cpu_address: 0x4000_0000,
                    size: 0x4000_0000
                },
                Window {
                    space: Space::Memory64,
                    prefetchable: false,
                    bus_address: 0x4_0000_0000,
                    cpu_address: 0x4_0000_0000,
                    size: 0x4_0000_0000
                },
            ]
        );
        let io = usable(windows.iter().copied(), Space::Io).unwrap();
        assert_eq!((io.cpu_address, io.size), (0x300_0000, 0x1_0000));
        let memory = usable(windows.iter().copied(), Space::Memory32).unwrap();
        assert_eq!(memory.cpu_address, 0x4000_0000);
    }

    #[test]
    fn translated_or_empty_windows_are_not_usable() {
        // Memory at bus 0 seen at CPU 0x4000_0000: BARs would need translation.
        let shifted = [0x4200_0000, 0, 0, 0, 0x4000_0000, 0, 0x1000];
        let windows: Vec<Window> = parse(&shifted, 2, 2).unwrap().collect();
        assert!(windows[0].prefetchable);
        assert_eq!(usable(windows.iter().copied(), Space::Memory32), None);
        // I/O not starting at port 0.
        let io = [0x0100_0000, 0, 0x1000, 0x300_0000, 0x1000];
        assert_eq!(usable(parse(&io, 1, 1).unwrap(), Space::Io), None);
        let empty = [0x0200_0000, 0, 0x1000, 0x1000, 0];
        assert_eq!(usable(parse(&empty, 1, 1).unwrap(), Space::Memory32), None);
    }

    #[test]
    fn malformed_ranges_are_errors() {
        assert_eq!(
            parse(&VIRT[..20], 2, 2).err(),
            Some(RangesError::Length {
                cells: 20,
                per_entry: 7
            })
        );
        assert_eq!(
            parse(&VIRT, 3, 2).err(),
            Some(RangesError::CellCount {
                parent_cells: 3,
                size_cells: 2
            })
        );
        assert!(parse(&VIRT, 0, 2).is_err());
        assert!(parse(&VIRT, 2, 3).is_err());
        assert_eq!(parse(&[], 2, 2).unwrap().count(), 0);
    }
}
