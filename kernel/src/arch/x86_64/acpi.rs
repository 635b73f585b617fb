//! Just enough ACPI to route ISA interrupts and start the other CPUs: the MADT's I/O
//! APIC address, its interrupt source overrides and its processors' local APIC IDs.
//!
//! [`read_interrupt_routing`] follows the RSDP the PVH start info gives to the XSDT (or
//! RSDT), finds the `APIC` table and copies out the I/O APIC that serves GSI 0 and the
//! ISA overrides (QEMU: IRQ 0 → GSI 2; IRQ 5, 9, 10, 11 level-triggered, active high),
//! and the local APIC ID of every enabled processor ([`processors`], for
//! [`super::smp`]).
//! It runs before the heap exists, so the tables are read where the firmware left them,
//! whatever the memory map calls that memory. Every table is checksummed and every
//! length bounded; anything odd makes it return `None`, and [`super::irq`] falls back to
//! the PC defaults.
//!
//! Values that parse are still only the firmware's word: [`super::irq`] and
//! [`super::apic`] check them against the hardware and the memory map before use, and
//! set aside what makes no sense with a [`Doubt`] on the console (an I/O APIC address
//! inside RAM, an override naming an input the I/O APIC lacks, a local APIC base outside
//! the identity map), falling back to the PC default for that value.

use core::ptr;

use spin::Once;

use super::paging::{self, MAPPED_LIMIT};

/// How an ISA line reaches the I/O APIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsaRoute {
    /// The I/O APIC input (GSI).
    pub gsi: u32,
    /// Active-low polarity (ISA default: active high).
    pub active_low: bool,
    /// Level triggered (ISA default: edge).
    pub level: bool,
}

/// What the MADT says about interrupt routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterruptRouting {
    /// The MMIO base of the I/O APIC serving GSI 0.
    pub io_apic_base: u64,
    /// Per ISA line: its route (identity, edge, active high unless overridden).
    pub isa: [IsaRoute; 16],
}

/// A firmware value the kernel would not use, and why; the PC default replaces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Doubt {
    /// The MADT's I/O APIC address is not a register window the kernel can use.
    IoApicBase {
        /// The address.
        base: u64,
        /// Why not.
        reason: &'static str,
    },
    /// An interrupt-source override routes an ISA line to an input the I/O APIC lacks.
    OverrideBeyondIoApic {
        /// The ISA line.
        line: u8,
        /// The GSI it names.
        gsi: u32,
        /// The I/O APIC's inputs (GSIs 0 to `inputs - 1`).
        inputs: u32,
    },
    /// The local APIC's base (`IA32_APIC_BASE`) is not a register window the kernel can
    /// use.
    LocalApicBase {
        /// The address.
        base: u64,
        /// Why not.
        reason: &'static str,
    },
}

impl core::fmt::Display for Doubt {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::IoApicBase { base, reason } => write!(
                formatter,
                "MADT I/O APIC address {base:#x} {reason}; using the PC default 0xfec00000"
            ),
            Self::OverrideBeyondIoApic { line, gsi, inputs } => write!(
                formatter,
                "MADT override routes IRQ {line} to GSI {gsi}, but the I/O APIC has {inputs} inputs; using the PC default route"
            ),
            Self::LocalApicBase { base, reason } => write!(
                formatter,
                "local APIC base {base:#x} {reason}; using the PC default 0xfee00000"
            ),
        }
    }
}

/// Whether `start..start + length` overlaps a RAM region of `memory`.
pub fn overlaps_ram(start: u64, length: u64, memory: &[crate::memory::MemoryRegion]) -> bool {
    let end = start.saturating_add(length);
    memory.iter().any(|region| {
        region.kind == crate::memory::MemoryKind::Ram
            && region.start < end
            && start < region.start.saturating_add(region.size)
    })
}

/// Checks an MMIO register window of `length` bytes at `base` that firmware named:
/// aligned to `align`, inside the identity map, and outside every RAM region.
///
/// # Errors
///
/// The reason, for a [`Doubt`].
pub fn check_register_window(
    base: u64,
    length: u64,
    align: u64,
    memory: &[crate::memory::MemoryRegion],
) -> Result<u64, &'static str> {
    if base == 0 || !base.is_multiple_of(align) {
        return Err("is not aligned");
    }
    if base
        .checked_add(length)
        .is_none_or(|end| end > MAPPED_LIMIT)
    {
        return Err("is outside the identity map");
    }
    if overlaps_ram(base, length, memory) {
        return Err("is inside RAM");
    }
    Ok(base)
}

static ROUTING: Once<Option<InterruptRouting>> = Once::new();

/// How many processors [`Processors`] keeps (the kernel's CPU limit).
pub const MAX_PROCESSORS: usize = 16;

/// The MADT's enabled processors, by local APIC ID, in table order (the boot CPU is
/// usually first, but nothing relies on that).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Processors {
    apic_ids: [u8; MAX_PROCESSORS],
    count: usize,
    /// Enabled processors past [`MAX_PROCESSORS`], left out.
    pub left_out: usize,
}

impl Processors {
    /// The local APIC IDs.
    pub fn apic_ids(&self) -> &[u8] {
        &self.apic_ids[..self.count]
    }
}

static PROCESSORS: Once<Option<Processors>> = Once::new();

/// The processors read at boot, if the firmware's tables listed any.
pub fn processors() -> Option<Processors> {
    PROCESSORS.get().copied().flatten()
}

/// The routing read at boot, if the firmware's tables gave one.
pub fn interrupt_routing() -> Option<InterruptRouting> {
    ROUTING.get().copied().flatten()
}

/// Largest table accepted.
const MAX_TABLE: u32 = 64 * 1024;
/// An ACPI table header's size.
const HEADER: u32 = 36;

/// Reads `N` bytes at physical `address`, if the range is identity-mapped and misses the
/// stack guard page.
fn read_bytes<const N: usize>(address: u64) -> Option<[u8; N]> {
    let end = address.checked_add(N as u64)?;
    let guard = paging::guard_page();
    if end > MAPPED_LIMIT || (address < guard + 4096 && guard < end) {
        return None;
    }
    // SAFETY: the range is inside the identity map (checked) and not the unmapped guard
    // page, so the load cannot fault; it is a plain byte copy of firmware memory into a
    // local array (firmware tables are not Rust objects, and nothing writes them).
    Some(unsafe { ptr::read_unaligned(address as usize as *const [u8; N]) })
}

fn read_u8(address: u64) -> Option<u8> {
    read_bytes::<1>(address).map(|[byte]| byte)
}

fn read_u16(address: u64) -> Option<u16> {
    read_bytes::<2>(address).map(u16::from_le_bytes)
}

fn read_u32(address: u64) -> Option<u32> {
    read_bytes::<4>(address).map(u32::from_le_bytes)
}

fn read_u64(address: u64) -> Option<u64> {
    read_bytes::<8>(address).map(u64::from_le_bytes)
}

/// Whether the `length` bytes at `address` sum to zero.
fn checksum_ok(address: u64, length: u32) -> bool {
    let mut sum = 0_u8;
    for offset in 0..u64::from(length) {
        match read_u8(address + offset) {
            Some(byte) => sum = sum.wrapping_add(byte),
            None => return false,
        }
    }
    sum == 0
}

/// A checksummed table with `signature` at `address`: its length.
fn table(address: u64, signature: &[u8; 4]) -> Option<u32> {
    let found = read_bytes::<4>(address)?;
    let length = read_u32(address + 4)?;
    (found == *signature && (HEADER..=MAX_TABLE).contains(&length) && checksum_ok(address, length))
        .then_some(length)
}

/// Reads the MADT through `rsdp` (see the module docs): the interrupt routing, and the
/// processors for [`processors`]. Called once, before the heap.
pub fn read_interrupt_routing(rsdp: Option<u64>) -> Option<InterruptRouting> {
    let madt = rsdp.and_then(find_madt);
    PROCESSORS.call_once(|| madt.and_then(|(address, length)| parse_processors(address, length)));
    *ROUTING.call_once(|| madt.and_then(|(address, length)| parse_madt(address, length)))
}

/// The MADT's address and length, found through the RSDP at `rsdp`.
fn find_madt(rsdp: u64) -> Option<(u64, u32)> {
    if read_bytes::<8>(rsdp)? != *b"RSD PTR " || !checksum_ok(rsdp, 20) {
        return None;
    }
    let revision = read_u8(rsdp + 15)?;
    let (root, entry_size, signature) = if revision >= 2 {
        (read_u64(rsdp + 24)?, 8, b"XSDT")
    } else {
        (u64::from(read_u32(rsdp + 16)?), 4, b"RSDT")
    };
    let root_length = table(root, signature)?;
    let entries = u64::from(root_length - HEADER) / entry_size;
    let madt = (0..entries).find_map(|index| {
        let slot = root + u64::from(HEADER) + index * entry_size;
        let address = if entry_size == 8 {
            read_u64(slot)?
        } else {
            u64::from(read_u32(slot)?)
        };
        table(address, b"APIC").map(|length| (address, length))
    })?;
    Some(madt)
}

/// Calls `visit(kind, offset, length)` for each entry of the MADT at `madt` (`length`
/// bytes); `None` if an entry's length is malformed.
fn madt_entries(
    madt: u64,
    length: u32,
    mut visit: impl FnMut(u8, u64, u64) -> Option<()>,
) -> Option<()> {
    // Entries follow the header, the local APIC address and the flags.
    let mut offset = u64::from(HEADER) + 8;
    while offset + 2 <= u64::from(length) {
        let kind = read_u8(madt + offset)?;
        let entry_length = u64::from(read_u8(madt + offset + 1)?);
        if entry_length < 2 || offset + entry_length > u64::from(length) {
            return None;
        }
        visit(kind, madt + offset, entry_length)?;
        offset += entry_length;
    }
    Some(())
}

/// Parses the MADT's processor local APIC entries (type 0: processor UID, APIC ID,
/// flags) and keeps the enabled ones (flags bit 0); `None` if the table is malformed or
/// lists none. Public so that tests feed it made-up tables.
pub fn parse_processors(madt: u64, length: u32) -> Option<Processors> {
    let mut processors = Processors {
        apic_ids: [0; MAX_PROCESSORS],
        count: 0,
        left_out: 0,
    };
    madt_entries(madt, length, |kind, entry, entry_length| {
        if kind == 0 && entry_length >= 8 {
            let apic_id = read_u8(entry + 3)?;
            let flags = read_u32(entry + 4)?;
            if flags & 1 != 0 {
                if processors.count < MAX_PROCESSORS {
                    processors.apic_ids[processors.count] = apic_id;
                    processors.count += 1;
                } else {
                    processors.left_out += 1;
                }
            }
        }
        Some(())
    })?;
    (processors.count != 0).then_some(processors)
}

/// Parses the MADT at `madt` (`length` bytes, header included; its checksum is the
/// caller's business): the I/O APIC serving GSI 0 and the ISA overrides. Public so that
/// tests feed it made-up tables.
pub fn parse_madt(madt: u64, length: u32) -> Option<InterruptRouting> {
    let mut routing = InterruptRouting {
        io_apic_base: 0,
        isa: core::array::from_fn(|line| IsaRoute {
            gsi: line as u32,
            active_low: false,
            level: false,
        }),
    };
    madt_entries(madt, length, |kind, entry, entry_length| {
        match (kind, entry_length) {
            // I/O APIC: id, reserved, address, GSI base.
            (1, 12..) => {
                let address = read_u32(entry + 4)?;
                let gsi_base = read_u32(entry + 8)?;
                if gsi_base == 0 {
                    routing.io_apic_base = u64::from(address);
                }
            }
            // Interrupt source override: bus, source, GSI, flags.
            (2, 10..) => {
                let source = read_u8(entry + 3)?;
                let gsi = read_u32(entry + 4)?;
                let flags = read_u16(entry + 8)?;
                if let Some(route) = routing.isa.get_mut(usize::from(source)) {
                    *route = IsaRoute {
                        gsi,
                        active_low: flags & 0b11 == 0b11,
                        level: (flags >> 2) & 0b11 == 0b11,
                    };
                }
            }
            _ => {}
        }
        Some(())
    })?;
    (routing.io_apic_base != 0).then_some(routing)
}
