//! Owned hardware windows: I/O port ranges and MMIO ranges that exactly one owner holds.
//!
//! A [`PortWindow`] or an [`MmioWindow`] is a token (house style: hardware access through
//! owned values). The only way to get one is to claim its range here; the claim table
//! refuses a range that overlaps one already claimed (with the owner's name in the
//! error), and dropping the window gives the range back. That exclusivity is what makes
//! the accessors safe: nobody else can program the same registers behind the owner's
//! back. MMIO claims must also lie in the identity-mapped range (below 4 GiB) and outside
//! every RAM region of the firmware's memory map, so a window can never alias Rust
//! objects.
//!
//! Kernel code above `arch` does not call [`claim_ports`]/[`claim_mmio`] directly for
//! device resources: drivers claim through their bus (`crate::bus::Claim`), which checks
//! the range belongs to the device and ties the window to the binding's devres.
//!
//! Ports the architecture code keeps for itself (on x86_64 the 8259 pair and the QEMU exit
//! port) are pre-claimed by "arch". COM1 is deliberately not: the early console is only
//! the fallback while no driver owns the UART.
//!
//! Port I/O is the x86 I/O address space on x86_64; on riscv64 it is the PCI host
//! bridge's I/O window, which the CPU reaches as memory (as Linux's `PCI_IOBASE`). Each
//! architecture's `platform` module supplies the accessors, the identity-map limit and
//! the firmware's memory map; this file is the same for both.
//!
//! Limits, documented rather than enforced: a device programmed through its window may
//! still reach memory by DMA (bus mastering), and the PCI configuration ports can move a
//! BAR anywhere; there is no IOMMU. Those windows are held by the PCI bus code only.

use core::fmt;

use spin::Mutex;

use super::platform::{self, MAPPED_LIMIT, RESERVED_PORTS, port};
use super::without_interrupts;
use crate::memory::MemoryKind;
use crate::text::FixedString;

/// How many ranges can be claimed at once.
const CAPACITY: usize = 64;

/// The name of a claim's owner, for conflict reports.
pub type Owner = FixedString<64>;

/// A claimed range of I/O ports or physical memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// I/O ports `start .. start + length`.
    Ports {
        /// First port.
        start: u16,
        /// Number of ports.
        length: u16,
    },
    /// Physical addresses `start .. start + length`.
    Memory {
        /// First address.
        start: u64,
        /// Length in bytes.
        length: u64,
    },
}

impl Span {
    fn overlaps(&self, other: &Self) -> bool {
        match (*self, *other) {
            (
                Self::Ports { start, length },
                Self::Ports {
                    start: other_start,
                    length: other_length,
                },
            ) => {
                let (start, end) = (u32::from(start), u32::from(start) + u32::from(length));
                let other_end = u32::from(other_start) + u32::from(other_length);
                start < other_end && u32::from(other_start) < end
            }
            (
                Self::Memory { start, length },
                Self::Memory {
                    start: other_start,
                    length: other_length,
                },
            ) => {
                start < other_start.saturating_add(other_length)
                    && other_start < start.saturating_add(length)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Ports { start, length } => write!(
                formatter,
                "I/O ports {start:#x}..{:#x}",
                u32::from(start) + u32::from(length)
            ),
            Self::Memory { start, length } => write!(
                formatter,
                "MMIO {start:#x}..{:#x}",
                start.saturating_add(length)
            ),
        }
    }
}

/// Why a claim was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClaimError {
    /// The range overlaps one that `owner` holds.
    Conflict {
        /// What was asked for.
        requested: Span,
        /// The range already claimed.
        existing: Span,
        /// Who holds it.
        owner: Owner,
    },
    /// An empty range, or one past the end of its address space.
    Invalid {
        /// What was asked for.
        requested: Span,
    },
    /// An MMIO range that is RAM or not identity-mapped.
    NotDeviceMemory {
        /// What was asked for.
        requested: Span,
    },
    /// The claim table is full.
    TableFull,
}

impl fmt::Display for ClaimError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Conflict {
                requested,
                existing,
                owner,
            } => write!(
                formatter,
                "{requested} overlap {existing}, already claimed by {owner}"
            ),
            Self::Invalid { requested } => write!(formatter, "{requested}: invalid range"),
            Self::NotDeviceMemory { requested } => write!(
                formatter,
                "{requested}: RAM or not identity-mapped, not device memory"
            ),
            Self::TableFull => write!(formatter, "claim table full ({CAPACITY} ranges)"),
        }
    }
}

impl core::error::Error for ClaimError {}

/// An access outside a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfWindow {
    /// The offset asked for.
    pub offset: u64,
    /// The access width in bytes.
    pub width: u64,
    /// The window's length.
    pub length: u64,
}

impl fmt::Display for OutOfWindow {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{}-byte access at offset {:#x} outside a window of {:#x} bytes (or misaligned)",
            self.width, self.offset, self.length
        )
    }
}

impl core::error::Error for OutOfWindow {}

type Table = [Option<(Span, Owner)>; CAPACITY];

/// The claim table. The first entries are the architecture's own ports.
static CLAIMS: Mutex<Table> = Mutex::new(initial_claims());

const fn initial_claims() -> Table {
    let mut table: Table = [None; CAPACITY];
    let arch = owner_const(b"arch");
    let mut index = 0;
    while index < RESERVED_PORTS.len() {
        let (start, length) = RESERVED_PORTS[index];
        table[index] = Some((Span::Ports { start, length }, arch));
        index += 1;
    }
    table
}

/// A compile-time owner name.
const fn owner_const(name: &[u8]) -> Owner {
    Owner::from_ascii(name)
}

fn insert(requested: Span, owner: &str) -> Result<usize, ClaimError> {
    without_interrupts(|| {
        let mut table = CLAIMS.lock();
        if let Some((existing, holder)) = table
            .iter()
            .flatten()
            .find(|(existing, _)| existing.overlaps(&requested))
        {
            return Err(ClaimError::Conflict {
                requested,
                existing: *existing,
                owner: *holder,
            });
        }
        let (slot, entry) = table
            .iter_mut()
            .enumerate()
            .find(|(_, entry)| entry.is_none())
            .ok_or(ClaimError::TableFull)?;
        *entry = Some((requested, Owner::from_fmt(format_args!("{owner}"))));
        Ok(slot)
    })
}

fn remove(slot: usize) {
    without_interrupts(|| {
        if let Some(entry) = CLAIMS.lock().get_mut(slot) {
            *entry = None;
        }
    });
}

/// Calls `visit` for every claimed range with its owner, in table order.
pub fn for_each_claim(mut visit: impl FnMut(Span, &str)) {
    let table = without_interrupts(|| *CLAIMS.lock());
    for (span, owner) in table.iter().flatten() {
        visit(*span, owner.as_str());
    }
}

/// Claims I/O ports `start .. start + length` for `owner`.
///
/// # Errors
///
/// [`ClaimError::Invalid`] for an empty range or one past the last port (0xffff on
/// x86_64; riscv64 has only the ports of its PCI I/O window, none without one),
/// [`ClaimError::Conflict`] if any port of it is claimed, [`ClaimError::TableFull`].
pub fn claim_ports(start: u16, length: u16, owner: &str) -> Result<PortWindow, ClaimError> {
    let requested = Span::Ports { start, length };
    if length == 0 || u32::from(start) + u32::from(length) > platform::port_space() {
        return Err(ClaimError::Invalid { requested });
    }
    let slot = insert(requested, owner)?;
    // INVARIANT: the range is now claimed for this window alone.
    Ok(PortWindow {
        start,
        length,
        slot,
    })
}

/// Claims physical memory `start .. start + length` as device memory for `owner`.
///
/// # Errors
///
/// [`ClaimError::Invalid`] for an empty or wrapping range,
/// [`ClaimError::NotDeviceMemory`] if it reaches the identity-map limit or overlaps a
/// RAM region of the memory map (or the memory map is not known yet),
/// [`ClaimError::Conflict`], [`ClaimError::TableFull`].
pub fn claim_mmio(start: u64, length: u64, owner: &str) -> Result<MmioWindow, ClaimError> {
    let requested = Span::Memory { start, length };
    let Some(end) = start.checked_add(length).filter(|_| length > 0) else {
        return Err(ClaimError::Invalid { requested });
    };
    let Some(memory_map) = platform::memory_map() else {
        return Err(ClaimError::NotDeviceMemory { requested });
    };
    let overlaps_ram = memory_map
        .iter()
        .any(|region| region.kind == MemoryKind::Ram && start < region.end() && region.start < end);
    if overlaps_ram || end > MAPPED_LIMIT {
        return Err(ClaimError::NotDeviceMemory { requested });
    }
    let slot = insert(requested, owner)?;
    // INVARIANT: claimed for this window alone; identity-mapped and not RAM (checked).
    Ok(MmioWindow {
        start,
        length,
        slot,
    })
}

/// A claimed range of I/O ports; dropping it releases the claim.
///
/// # Invariants
///
/// `start .. start + length` is claimed in the claim table at `slot` for this value alone.
#[derive(Debug)]
pub struct PortWindow {
    start: u16,
    length: u16,
    slot: usize,
}

impl PortWindow {
    /// The first port.
    pub fn start(&self) -> u16 {
        self.start
    }

    /// The number of ports.
    pub fn length(&self) -> u16 {
        self.length
    }

    fn port(&self, offset: u16, width: u16) -> Result<u16, OutOfWindow> {
        if u32::from(offset) + u32::from(width) <= u32::from(self.length) {
            Ok(self.start + offset)
        } else {
            Err(OutOfWindow {
                offset: offset.into(),
                width: width.into(),
                length: self.length.into(),
            })
        }
    }

    /// Reads the byte port at `offset`.
    ///
    /// # Errors
    ///
    /// [`OutOfWindow`] if the port is not in the window.
    pub fn read_u8(&self, offset: u16) -> Result<u8, OutOfWindow> {
        let port = self.port(offset, 1)?;
        // SAFETY: the port is in this window, which its owner holds exclusively (type
        // invariant); port I/O does not touch Rust memory.
        Ok(unsafe { port::read_u8(port) })
    }

    /// Reads the 16-bit port at `offset`.
    ///
    /// # Errors
    ///
    /// [`OutOfWindow`].
    pub fn read_u16(&self, offset: u16) -> Result<u16, OutOfWindow> {
        let port = self.port(offset, 2)?;
        // SAFETY: as in `read_u8`.
        Ok(unsafe { port::read_u16(port) })
    }

    /// Reads the 32-bit port at `offset`.
    ///
    /// # Errors
    ///
    /// [`OutOfWindow`].
    pub fn read_u32(&self, offset: u16) -> Result<u32, OutOfWindow> {
        let port = self.port(offset, 4)?;
        // SAFETY: as in `read_u8`.
        Ok(unsafe { port::read_u32(port) })
    }

    /// Writes the byte port at `offset`.
    ///
    /// # Errors
    ///
    /// [`OutOfWindow`].
    pub fn write_u8(&self, offset: u16, value: u8) -> Result<(), OutOfWindow> {
        let port = self.port(offset, 1)?;
        // SAFETY: as in `read_u8`.
        unsafe { port::write_u8(port, value) };
        Ok(())
    }

    /// Writes the 16-bit port at `offset`.
    ///
    /// # Errors
    ///
    /// [`OutOfWindow`].
    pub fn write_u16(&self, offset: u16, value: u16) -> Result<(), OutOfWindow> {
        let port = self.port(offset, 2)?;
        // SAFETY: as in `read_u8`.
        unsafe { port::write_u16(port, value) };
        Ok(())
    }

    /// Writes the 32-bit port at `offset`.
    ///
    /// # Errors
    ///
    /// [`OutOfWindow`].
    pub fn write_u32(&self, offset: u16, value: u32) -> Result<(), OutOfWindow> {
        let port = self.port(offset, 4)?;
        // SAFETY: as in `read_u8`.
        unsafe { port::write_u32(port, value) };
        Ok(())
    }
}

impl Drop for PortWindow {
    fn drop(&mut self) {
        remove(self.slot);
    }
}

/// A claimed, identity-mapped range of device memory; dropping it releases the claim.
///
/// # Invariants
///
/// `start .. start + length` is claimed in the claim table at `slot` for this value alone,
/// lies below [`MAPPED_LIMIT`] (identity-mapped) and overlaps no RAM.
#[derive(Debug)]
pub struct MmioWindow {
    start: u64,
    length: u64,
    slot: usize,
}

impl MmioWindow {
    /// The first physical address.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// The length in bytes.
    pub fn length(&self) -> u64 {
        self.length
    }

    /// The address of an aligned `width`-byte access at `offset`.
    fn address(&self, offset: u64, width: u64) -> Result<usize, OutOfWindow> {
        self.span(offset, width, width)
    }

    /// The address of `bytes` bytes at `offset`, all inside the window, with `offset` a
    /// multiple of `align`: the one bounds check every access goes through.
    fn span(&self, offset: u64, bytes: u64, align: u64) -> Result<usize, OutOfWindow> {
        let inside = offset
            .checked_add(bytes)
            .is_some_and(|end| end <= self.length);
        if inside && offset.is_multiple_of(align) {
            Ok((self.start + offset) as usize)
        } else {
            Err(OutOfWindow {
                offset,
                width: bytes,
                length: self.length,
            })
        }
    }

    /// Reads the byte at `offset`.
    ///
    /// # Errors
    ///
    /// [`OutOfWindow`] outside the window.
    pub fn read_u8(&self, offset: u64) -> Result<u8, OutOfWindow> {
        let address = self.address(offset, 1)?;
        // SAFETY: identity-mapped device memory owned by this window (type invariant),
        // never RAM, so no Rust object aliases it; volatile, aligned access.
        Ok(unsafe { (address as *const u8).read_volatile() })
    }

    /// Reads the aligned 16-bit value at `offset`.
    ///
    /// # Errors
    ///
    /// [`OutOfWindow`] outside the window or misaligned.
    pub fn read_u16(&self, offset: u64) -> Result<u16, OutOfWindow> {
        let address = self.address(offset, 2)?;
        // SAFETY: as in `read_u8`; `address` checks the alignment.
        Ok(unsafe { (address as *const u16).read_volatile() })
    }

    /// Reads the aligned 32-bit value at `offset`.
    ///
    /// # Errors
    ///
    /// [`OutOfWindow`] outside the window or misaligned.
    pub fn read_u32(&self, offset: u64) -> Result<u32, OutOfWindow> {
        let address = self.address(offset, 4)?;
        // SAFETY: as in `read_u16`.
        Ok(unsafe { (address as *const u32).read_volatile() })
    }

    /// Writes the byte at `offset`.
    ///
    /// # Errors
    ///
    /// [`OutOfWindow`] outside the window.
    pub fn write_u8(&self, offset: u64, value: u8) -> Result<(), OutOfWindow> {
        let address = self.address(offset, 1)?;
        // SAFETY: as in `read_u8`.
        unsafe { (address as *mut u8).write_volatile(value) };
        Ok(())
    }

    /// Writes the aligned 16-bit value at `offset`.
    ///
    /// # Errors
    ///
    /// [`OutOfWindow`] outside the window or misaligned.
    pub fn write_u16(&self, offset: u64, value: u16) -> Result<(), OutOfWindow> {
        let address = self.address(offset, 2)?;
        // SAFETY: as in `read_u16`.
        unsafe { (address as *mut u16).write_volatile(value) };
        Ok(())
    }

    /// Writes the aligned 32-bit value at `offset`.
    ///
    /// # Errors
    ///
    /// [`OutOfWindow`] outside the window or misaligned.
    pub fn write_u32(&self, offset: u64, value: u32) -> Result<(), OutOfWindow> {
        let address = self.address(offset, 4)?;
        // SAFETY: as in `read_u16`.
        unsafe { (address as *mut u32).write_volatile(value) };
        Ok(())
    }

    /// Writes `values` as consecutive 32-bit words starting at `offset` (a framebuffer
    /// line, for example).
    ///
    /// # Errors
    ///
    /// [`OutOfWindow`] if any word would fall outside the window, or `offset` is
    /// misaligned; nothing is written then.
    pub fn write_u32_slice(&self, offset: u64, values: &[u32]) -> Result<(), OutOfWindow> {
        let bytes = (values.len() as u64).saturating_mul(4);
        if values.is_empty() {
            return Ok(());
        }
        let base = self.span(offset, bytes, 4)? as *mut u32;
        for (index, value) in values.iter().enumerate() {
            // SAFETY: every word lies inside the window (checked above), aligned.
            unsafe { base.add(index).write_volatile(*value) };
        }
        Ok(())
    }

    /// Fills `count` 32-bit words from `offset` with `value`.
    ///
    /// # Errors
    ///
    /// As [`write_u32_slice`](Self::write_u32_slice).
    pub fn fill_u32(&self, offset: u64, count: u64, value: u32) -> Result<(), OutOfWindow> {
        if count == 0 {
            return Ok(());
        }
        let base = self.span(offset, count.saturating_mul(4), 4)? as *mut u32;
        for index in 0..count as usize {
            // SAFETY: as in `write_u32_slice`.
            unsafe { base.add(index).write_volatile(value) };
        }
        Ok(())
    }

    /// Reads bytes from `offset` into `buffer` (an EDID blob, for example).
    ///
    /// # Errors
    ///
    /// [`OutOfWindow`] if the range leaves the window; nothing is read then.
    pub fn read_bytes(&self, offset: u64, buffer: &mut [u8]) -> Result<(), OutOfWindow> {
        let base = self.span(offset, buffer.len() as u64, 1)? as *const u8;
        for (index, byte) in buffer.iter_mut().enumerate() {
            // SAFETY: inside the window (checked above).
            *byte = unsafe { base.add(index).read_volatile() };
        }
        Ok(())
    }
}

impl Drop for MmioWindow {
    fn drop(&mut self) {
        remove(self.slot);
    }
}
