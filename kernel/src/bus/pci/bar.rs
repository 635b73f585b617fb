//! Base address registers: decoding, sizing (write all-ones, read back), and assignment
//! of the BARs firmware left at zero.
//!
//! # Sizing
//!
//! With the function's I/O and memory decoding switched off, each BAR is written with
//! all-ones and read back: the bits that stay zero give the size (`!mask + 1`). The
//! original value is written back, then the command register. A 64-bit memory BAR takes
//! two registers (the next one holds the high half). The expansion ROM is left alone.
//!
//! A read-back that no real BAR gives is refused ([`Refusal`], reported by the
//! enumeration with the function's address), and the function keeps its other BARs: a
//! 64-bit BAR in the last slot (it has no high half), a 64-bit BAR whose high half reads
//! back 0 (which would size it as `0xffff_ffff_0010_0000`), address bits that are not
//! contiguous (the size is not a power of two), and an address plus size past the end
//! of its space (4 GiB for a 32-bit BAR, 64 KiB of ports for I/O).
//!
//! # Assignment
//!
//! SeaBIOS assigns every BAR; qboot assigns none. A BAR whose address reads zero is
//! given one by the kernel from an [`Allocator`]: memory from a window below 4 GiB
//! ([`MEMORY_WINDOW`], identity-mapped), I/O from [`IO_WINDOW`], each aligned to its
//! size, skipping every range firmware already assigned. Decoding stays off: the driver
//! turns it on through the bus ([`super::PciDevice::enable`]).

use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use super::config::{Address, ConfigAccess};
use super::regs;

/// Where memory BARs are placed when firmware did not: above q35's MMCONFIG window
/// (0xB000_0000..0xC000_0000) and below the I/O APIC, far above QEMU's low RAM.
pub const MEMORY_WINDOW: Range<u64> = 0xe000_0000..0xfec0_0000;
/// Where I/O BARs are placed when firmware did not.
pub const IO_WINDOW: Range<u64> = 0xc000..0x1_0000;

/// The kind of a BAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// I/O space.
    Io,
    /// 32-bit memory space.
    Memory32 {
        /// Prefetchable.
        prefetchable: bool,
    },
    /// 64-bit memory space (two registers).
    Memory64 {
        /// Prefetchable.
        prefetchable: bool,
    },
}

impl Kind {
    /// Memory (as opposed to I/O) space.
    pub const fn is_memory(self) -> bool {
        !matches!(self, Self::Io)
    }

    /// Decodes the low bits of a BAR value.
    pub const fn decode(value: u32) -> Self {
        if value & regs::BAR_IO != 0 {
            Self::Io
        } else {
            let prefetchable = value & regs::BAR_PREFETCHABLE != 0;
            if value & regs::BAR_MEMORY_TYPE_MASK == regs::BAR_MEMORY_64 {
                Self::Memory64 { prefetchable }
            } else {
                Self::Memory32 { prefetchable }
            }
        }
    }
}

/// One implemented BAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    /// The register index (0..6); a 64-bit BAR also uses `index + 1`.
    pub index: u8,
    /// Its kind.
    pub kind: Kind,
    /// The base address (0 if unassigned).
    pub address: u64,
    /// The size in bytes (a power of two).
    pub size: u64,
    /// Assigned by the kernel (firmware had left it at zero).
    pub assigned_by_kernel: bool,
}

impl Bar {
    /// `address .. address + size`.
    pub fn range(&self) -> Range<u64> {
        self.address..self.address.saturating_add(self.size)
    }
}

impl fmt::Display for Bar {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Io => "io",
            Kind::Memory32 {
                prefetchable: false,
            } => "mem32",
            Kind::Memory32 { prefetchable: true } => "mem32 prefetchable",
            Kind::Memory64 {
                prefetchable: false,
            } => "mem64",
            Kind::Memory64 { prefetchable: true } => "mem64 prefetchable",
        };
        write!(
            formatter,
            "BAR{} {kind} {:#x} size {:#x}",
            self.index, self.address, self.size
        )?;
        if self.assigned_by_kernel {
            formatter.write_str(" (assigned by kernel)")?;
        }
        Ok(())
    }
}

/// Why a BAR's registers were not believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A 64-bit BAR in the function's last BAR slot: there is no register for its high
    /// half.
    LastSlot64,
    /// A 64-bit BAR whose high half reads back 0 after an all-ones write.
    HighHalfZero,
    /// The writable address bits are not contiguous, so the size is not a power of two.
    NotPowerOfTwo {
        /// The all-ones read-back (both halves for a 64-bit BAR).
        readback: u64,
    },
    /// Address plus size runs past the end of the BAR's address space.
    Overflow {
        /// The address.
        address: u64,
        /// The size.
        size: u64,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LastSlot64 => {
                formatter.write_str("a 64-bit BAR in the last slot has no high half")
            }
            Self::HighHalfZero => formatter.write_str("a 64-bit BAR whose high half reads back 0"),
            Self::NotPowerOfTwo { readback } => write!(
                formatter,
                "read-back {readback:#x} has non-contiguous address bits (size not a power of two)"
            ),
            Self::Overflow { address, size } => write!(
                formatter,
                "address {address:#x} plus size {size:#x} runs past the end of its space"
            ),
        }
    }
}

impl core::error::Error for Error {}

/// A BAR that was refused, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The register index.
    pub index: u8,
    /// Why.
    pub error: Error,
}

impl fmt::Display for Refusal {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "BAR{} refused: {}", self.index, self.error)
    }
}

/// Checks a sized BAR: the mask is contiguous and the range fits its space.
///
/// # Errors
///
/// [`Error::NotPowerOfTwo`], [`Error::Overflow`].
pub fn check(readback: u64, kind: Kind, address: u64, size: u64) -> Result<(), Error> {
    if !size.is_power_of_two() {
        return Err(Error::NotPowerOfTwo { readback });
    }
    let space_end: u64 = match kind {
        Kind::Io => 1 << 16,
        Kind::Memory32 { .. } => 1 << 32,
        Kind::Memory64 { .. } => u64::MAX,
    };
    match address.checked_add(size) {
        Some(end) if end <= space_end => Ok(()),
        _ => Err(Error::Overflow { address, size }),
    }
}

/// The size encoded by the read-back of an all-ones write (`mask`: the address bits of
/// the BAR kind, 64-bit for memory BARs). 0 means "not implemented".
pub const fn size_from_readback(readback: u64, kind: Kind) -> u64 {
    let mask = match kind {
        Kind::Io => (readback & regs::BAR_IO_ADDRESS_MASK as u64) | 0xffff_ffff_ffff_0000,
        Kind::Memory32 { .. } => {
            (readback & regs::BAR_MEMORY_ADDRESS_MASK as u64) | 0xffff_ffff_0000_0000
        }
        Kind::Memory64 { .. } => readback & !0xf,
    };
    if mask == 0 || mask == 0xffff_ffff_ffff_0000 || mask == 0xffff_ffff_0000_0000 {
        return 0;
    }
    (!mask).wrapping_add(1)
}

/// The address held in a BAR value (and the high half for 64-bit BARs).
pub const fn address_of(low: u32, high: u32, kind: Kind) -> u64 {
    match kind {
        Kind::Io => (low & regs::BAR_IO_ADDRESS_MASK) as u64,
        Kind::Memory32 { .. } => (low & regs::BAR_MEMORY_ADDRESS_MASK) as u64,
        Kind::Memory64 { .. } => {
            ((high as u64) << 32) | (low & regs::BAR_MEMORY_ADDRESS_MASK) as u64
        }
    }
}

/// Reads and sizes the first `count` BARs of the function at `address` (6 for normal
/// functions, 2 for bridges), and the BARs refused (see the module docs). Decoding is
/// switched off while sizing and restored after.
pub fn probe(config: &impl ConfigAccess, address: Address, count: u8) -> (Vec<Bar>, Vec<Refusal>) {
    let command = config.read_u16(address, regs::COMMAND);
    let decoding = regs::Command::IO.bits() | regs::Command::MEMORY.bits();
    config.write_u16(address, regs::COMMAND, command & !decoding);
    let mut bars = Vec::new();
    let mut refused = Vec::new();
    let mut index = 0;
    while index < count {
        let offset = regs::BAR0 + 4 * index;
        let low = config.read_u32(address, offset);
        config.write_u32(address, offset, u32::MAX);
        let low_readback = config.read_u32(address, offset);
        config.write_u32(address, offset, low);
        let kind = Kind::decode(low_readback);
        let (high, high_readback) = if matches!(kind, Kind::Memory64 { .. }) && index + 1 < count {
            let high_offset = offset + 4;
            let high = config.read_u32(address, high_offset);
            config.write_u32(address, high_offset, u32::MAX);
            let readback = config.read_u32(address, high_offset);
            config.write_u32(address, high_offset, high);
            (high, readback)
        } else {
            (0, 0)
        };
        let readback = (u64::from(high_readback) << 32) | u64::from(low_readback);
        let wide = matches!(kind, Kind::Memory64 { .. });
        let size = if low_readback == 0 {
            0
        } else {
            size_from_readback(readback, kind)
        };
        let bar_address = address_of(low, high, kind);
        let verdict = if size == 0 {
            None
        } else if wide && index + 1 >= count {
            Some(Err(Error::LastSlot64))
        } else if wide && high_readback == 0 {
            Some(Err(Error::HighHalfZero))
        } else {
            Some(check(readback, kind, bar_address, size))
        };
        match verdict {
            None => {}
            Some(Ok(())) => bars.push(Bar {
                index,
                kind,
                address: bar_address,
                size,
                assigned_by_kernel: false,
            }),
            Some(Err(error)) => refused.push(Refusal { index, error }),
        }
        index += if matches!(kind, Kind::Memory64 { .. }) {
            2
        } else {
            1
        };
    }
    config.write_u16(address, regs::COMMAND, command);
    (bars, refused)
}

/// Writes `bar.address` into the BAR registers.
pub fn write(config: &impl ConfigAccess, address: Address, bar: &Bar) {
    let offset = regs::BAR0 + 4 * bar.index;
    let low = config.read_u32(address, offset);
    let flags = low & 0xf;
    let flags = if bar.kind == Kind::Io {
        flags & 0x3
    } else {
        flags
    };
    config.write_u32(address, offset, (bar.address as u32) | flags);
    if matches!(bar.kind, Kind::Memory64 { .. }) {
        config.write_u32(address, offset + 4, (bar.address >> 32) as u32);
    }
}

/// A bump allocator for BAR addresses that skips ranges already in use.
#[derive(Debug, Clone)]
pub struct Allocator {
    memory: Range<u64>,
    io: Range<u64>,
    /// Ranges firmware assigned: never overlapped.
    reserved: Vec<(bool, Range<u64>)>,
    /// Ranges the kernel handed out (BARs, bridge windows): never overlapped, and a
    /// window firmware programmed into a bridge must not overlap them either.
    given: Vec<(bool, Range<u64>)>,
}

/// Whether two ranges share an address.
const fn intersect(one: &Range<u64>, other: &Range<u64>) -> bool {
    one.start < other.end && other.start < one.end
}

impl Allocator {
    /// An allocator over the given windows.
    pub fn new(memory: Range<u64>, io: Range<u64>) -> Self {
        Self {
            memory,
            io,
            reserved: Vec::new(),
            given: Vec::new(),
        }
    }

    /// An allocator over windows inside this one's (a bridge's), knowing the firmware
    /// assignments this one knows.
    pub fn within(&self, memory: Range<u64>, io: Range<u64>) -> Self {
        Self {
            memory,
            io,
            reserved: self.reserved.clone(),
            given: Vec::new(),
        }
    }

    /// The memory or I/O window it allocates from.
    pub fn window(&self, memory: bool) -> &Range<u64> {
        if memory { &self.memory } else { &self.io }
    }

    /// Records a range in use (firmware's assignment).
    pub fn reserve(&mut self, memory: bool, range: Range<u64>) {
        self.reserved.push((memory, range));
    }

    /// Records a range as handed out (a bridge window firmware programmed and the
    /// kernel accepted): later allocations skip it.
    pub fn claim(&mut self, memory: bool, range: Range<u64>) {
        self.given.push((memory, range));
    }

    /// Whether `range` overlaps something the kernel handed out.
    pub fn overlaps_given(&self, memory: bool, range: &Range<u64>) -> bool {
        self.given
            .iter()
            .any(|(kind, given)| *kind == memory && intersect(given, range))
    }

    /// A free, size-aligned range of `size` bytes in the memory or I/O window.
    pub fn allocate(&mut self, memory: bool, size: u64) -> Option<u64> {
        let window = self.window(memory).clone();
        let align = size.max(if memory { 16 } else { 4 });
        if !align.is_power_of_two() {
            return None;
        }
        let mut candidate = window.start.checked_next_multiple_of(align)?;
        loop {
            let end = candidate.checked_add(size)?;
            if end > window.end {
                return None;
            }
            let clash = self
                .reserved
                .iter()
                .chain(&self.given)
                .filter(|(kind, range)| *kind == memory && intersect(range, &(candidate..end)))
                .map(|(_, range)| range.end)
                .max();
            match clash {
                Some(clash_end) => candidate = clash_end.checked_next_multiple_of(align)?,
                None => {
                    self.given.push((memory, candidate..end));
                    return Some(candidate);
                }
            }
        }
    }
}
