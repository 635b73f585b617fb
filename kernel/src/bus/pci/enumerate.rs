//! Enumeration: every function on every bus reachable from bus 0.
//!
//! Depth first: for each device slot 0..32 of a bus, function 0 is read; if its header
//! says multi-function, functions 1..8 are read too. A PCI-to-PCI bridge's secondary bus
//! is scanned right after the bridge. A bridge firmware left unconfigured (secondary bus
//! 0, as qboot may) gets the next free bus number, its subordinate number set to cover
//! what was found behind it. Each function's BARs are sized and, when firmware left them
//! at zero, assigned ([`super::bar`]); its capabilities list is read.
//!
//! A bridge whose forwarding windows firmware left unprogrammed (memory and I/O base and
//! limit all zero, as after reset) gets fixed windows, [`BRIDGE_MEMORY_WINDOW`] bytes of
//! memory and [`BRIDGE_IO_WINDOW`] ports, carved from the allocator; the functions behind
//! it get their BARs from those windows, and the bridge is set to forward (I/O, memory,
//! bus master). Its prefetchable window stays closed: prefetchable BARs behind it live in
//! the plain memory window, which the specification allows. Every BAR behind such a
//! bridge gets its address from the new windows, even one firmware assigned: firmware's
//! addresses are not forwarded by windows it did not program. Limits: a subtree needing
//! more than the fixed windows is left unassigned past them; QEMU's default `q35` and `pc`
//! machines have no bridges.
//!
//! A bridge whose windows firmware programmed keeps them if they make sense: each open
//! window (memory, prefetchable memory, I/O) lies inside the window the bridge itself is
//! reached through (the host's, or its parent bridge's), and overlaps nothing the kernel
//! already handed out (another function's BAR, another bridge's window). The subtree
//! then allocates from the bridge's memory and I/O windows. A window that fails either
//! check is refused ([`WindowRefusal`], reported with the bridge's address), and the
//! bridge is treated as unprogrammed: the kernel opens fresh windows as above, and the
//! functions behind it get addresses inside them. Functions elsewhere are unaffected.

use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use super::bar::{self, Allocator, Bar};
use super::capability::{self, Capability};
use super::config::{Address, ConfigAccess};
use super::regs;

/// Everything the kernel knows about one PCI function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// Its address.
    pub address: Address,
    /// Vendor ID.
    pub vendor: u16,
    /// Device ID.
    pub device: u16,
    /// Class code: base class << 16 | subclass << 8 | programming interface.
    pub class: u32,
    /// Revision ID.
    pub revision: u8,
    /// Header layout (0 normal, 1 bridge).
    pub header_layout: u8,
    /// Function 0 reported more than one function.
    pub multifunction: bool,
    /// Subsystem vendor and ID (normal functions only, else 0).
    pub subsystem: (u16, u16),
    /// Interrupt pin (0 none, 1..=4 INTA#..INTD#) and the line firmware routed.
    pub interrupt: (u8, u8),
    /// Implemented BARs.
    pub bars: Vec<Bar>,
    /// BARs whose registers made no sense, refused (and reported at enumeration).
    pub refused_bars: Vec<bar::Refusal>,
    /// The capabilities list.
    pub capabilities: Vec<Capability>,
    /// For bridges: the secondary bus.
    pub secondary_bus: Option<u8>,
    /// For bridges whose windows the kernel programmed: memory and I/O windows.
    pub bridge_windows: Option<(Range<u64>, Range<u64>)>,
    /// For bridges: windows firmware programmed that made no sense, refused (and
    /// reported at enumeration); the kernel programmed the bridge instead.
    pub refused_windows: Vec<WindowRefusal>,
    /// The bridge this function sits behind (`None` on bus 0).
    pub parent: Option<Address>,
}

impl Function {
    /// Base class and subclass (`0x0300` for VGA).
    pub const fn class_code(&self) -> u16 {
        (self.class >> 8) as u16
    }

    /// The BAR with register index `index`.
    pub fn bar(&self, index: u8) -> Option<&Bar> {
        self.bars.iter().find(|bar| bar.index == index)
    }
}

/// The memory window given to a bridge firmware left unprogrammed.
pub const BRIDGE_MEMORY_WINDOW: u64 = 32 << 20;
/// The I/O window given to a bridge firmware left unprogrammed.
pub const BRIDGE_IO_WINDOW: u64 = 4 << 10;

/// Which of a bridge's forwarding windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// The non-prefetchable memory window.
    Memory,
    /// The prefetchable memory window.
    Prefetchable,
    /// The I/O window.
    Io,
}

impl WindowKind {
    const fn is_memory(self) -> bool {
        !matches!(self, Self::Io)
    }
}

/// Why a window firmware programmed into a bridge was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowError {
    /// It is not inside the window the bridge is reached through.
    OutsideParent {
        /// The window the bridge is reached through.
        parent: Range<u64>,
    },
    /// It overlaps a BAR or window the kernel already handed out.
    Overlaps,
}

/// A refused bridge window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowRefusal {
    /// Which window.
    pub kind: WindowKind,
    /// The range firmware programmed.
    pub window: Range<u64>,
    /// Why.
    pub error: WindowError,
}

impl fmt::Display for WindowRefusal {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            WindowKind::Memory => "memory",
            WindowKind::Prefetchable => "prefetchable",
            WindowKind::Io => "I/O",
        };
        write!(
            formatter,
            "{kind} window {:#x}..{:#x} refused: ",
            self.window.start, self.window.end
        )?;
        match &self.error {
            WindowError::OutsideParent { parent } => write!(
                formatter,
                "outside the window it is reached through ({:#x}..{:#x})",
                parent.start, parent.end
            ),
            WindowError::Overlaps => formatter.write_str("overlaps addresses already in use"),
        }
    }
}

/// The open windows firmware programmed into the bridge at `address` (a window whose
/// base is above its limit is closed).
fn programmed_windows(
    config: &impl ConfigAccess,
    address: Address,
) -> Vec<(WindowKind, Range<u64>)> {
    let memory = |register| u64::from(config.read_u16(address, register) & 0xfff0) << 16;
    let mut windows = Vec::new();
    let (base, limit) = (
        memory(regs::MEMORY_BASE),
        memory(regs::MEMORY_LIMIT) | 0xf_ffff,
    );
    if base <= limit {
        windows.push((WindowKind::Memory, base..limit + 1));
    }
    let (mut base, mut limit) = (
        memory(regs::PREFETCHABLE_BASE),
        memory(regs::PREFETCHABLE_LIMIT) | 0xf_ffff,
    );
    // The low four bits say 1 for a 64-bit window, whose upper halves follow.
    if config.read_u16(address, regs::PREFETCHABLE_BASE) & 0xf == 1 {
        base |= u64::from(config.read_u32(address, regs::PREFETCHABLE_BASE_UPPER)) << 32;
        limit |= u64::from(config.read_u32(address, regs::PREFETCHABLE_LIMIT_UPPER)) << 32;
    }
    if base <= limit {
        windows.push((WindowKind::Prefetchable, base..limit.saturating_add(1)));
    }
    let io = |register| u64::from(config.read_u8(address, register) & 0xf0) << 8;
    let (base, limit) = (io(regs::IO_BASE), io(regs::IO_LIMIT) | 0xfff);
    if base <= limit {
        windows.push((WindowKind::Io, base..limit + 1));
    }
    windows
}

/// Checks firmware's windows against the window the bridge is reached through and what
/// `allocator` handed out; returns the refusals.
fn check_windows(
    windows: &[(WindowKind, Range<u64>)],
    allocator: &Allocator,
) -> Vec<WindowRefusal> {
    let mut refusals = Vec::new();
    for (kind, window) in windows {
        let parent = allocator.window(kind.is_memory());
        let error = if window.start < parent.start || parent.end < window.end {
            WindowError::OutsideParent {
                parent: parent.clone(),
            }
        } else if allocator.overlaps_given(kind.is_memory(), window) {
            WindowError::Overlaps
        } else {
            continue;
        };
        refusals.push(WindowRefusal {
            kind: *kind,
            window: window.clone(),
            error,
        });
    }
    refusals
}

/// Whether the bridge at `address` forwards nothing yet (windows as after reset).
fn windows_unprogrammed(config: &impl ConfigAccess, address: Address) -> bool {
    config.read_u16(address, regs::MEMORY_BASE) == 0
        && config.read_u16(address, regs::MEMORY_LIMIT) == 0
        && config.read_u8(address, regs::IO_BASE) & 0xf0 == 0
        && config.read_u8(address, regs::IO_LIMIT) & 0xf0 == 0
}

/// Carves windows for the bridge at `address` from `allocator`, programs them and turns
/// forwarding on; returns them.
fn open_windows(
    config: &impl ConfigAccess,
    address: Address,
    allocator: &mut Allocator,
) -> Option<(Range<u64>, Range<u64>)> {
    let memory = allocator.allocate(true, BRIDGE_MEMORY_WINDOW)?;
    let io = allocator.allocate(false, BRIDGE_IO_WINDOW)?;
    let memory = memory..memory + BRIDGE_MEMORY_WINDOW;
    let io = io..io + BRIDGE_IO_WINDOW;
    config.write_u16(
        address,
        regs::MEMORY_BASE,
        ((memory.start >> 16) & 0xfff0) as u16,
    );
    config.write_u16(
        address,
        regs::MEMORY_LIMIT,
        (((memory.end - 1) >> 16) & 0xfff0) as u16,
    );
    config.write_u8(address, regs::IO_BASE, ((io.start >> 8) & 0xf0) as u8);
    config.write_u8(address, regs::IO_LIMIT, (((io.end - 1) >> 8) & 0xf0) as u8);
    // Prefetchable window closed (base above limit).
    config.write_u16(address, regs::PREFETCHABLE_BASE, 0xfff0);
    config.write_u16(address, regs::PREFETCHABLE_LIMIT, 0);
    let command = config.read_u16(address, regs::COMMAND);
    let forward = regs::Command::IO | regs::Command::MEMORY | regs::Command::BUS_MASTER;
    config.write_u16(address, regs::COMMAND, command | forward.bits());
    Some((memory, io))
}

/// Walks the buses.
struct Scan<'a, C: ConfigAccess> {
    config: &'a C,
    allocator: &'a mut Allocator,
    found: Vec<Function>,
    next_bus: u8,
    /// Inside a subtree whose windows the kernel programmed: every BAR gets a new address.
    reassign: bool,
}

/// Enumerates every function reachable from bus 0, assigning unassigned BARs from
/// `allocator` (which should already know firmware's assignments, see [`reserve_assigned`]).
pub fn scan(config: &impl ConfigAccess, allocator: &mut Allocator) -> Vec<Function> {
    let mut scan = Scan {
        config,
        allocator,
        found: Vec::new(),
        next_bus: 1,
        reassign: false,
    };
    scan.bus(0, None, 0);
    scan.found
}

/// Records every BAR firmware assigned (non-zero address) in `allocator`, so that the
/// kernel's assignments never overlap them. Reads BARs of bus 0 and configured bridges.
pub fn reserve_assigned(config: &impl ConfigAccess, allocator: &mut Allocator) {
    let mut buses = Vec::from([0_u8]);
    let mut visited = [false; 256];
    while let Some(bus) = buses.pop() {
        if core::mem::replace(&mut visited[usize::from(bus)], true) {
            continue;
        }
        for_each_function(config, bus, |address, header| {
            let layout = header & regs::HEADER_LAYOUT_MASK;
            let count = if layout == regs::HEADER_BRIDGE { 2 } else { 6 };
            // Refused BARs are reported by the scan that follows.
            for bar in bar::probe(config, address, count).0 {
                if bar.address != 0 {
                    allocator.reserve(bar.kind.is_memory(), bar.range());
                }
            }
            if layout == regs::HEADER_BRIDGE {
                let secondary = config.read_u8(address, regs::SECONDARY_BUS);
                if secondary != 0 {
                    buses.push(secondary);
                }
            }
        });
    }
}

/// Calls `visit(address, header_type)` for every present function of `bus`.
fn for_each_function(config: &impl ConfigAccess, bus: u8, mut visit: impl FnMut(Address, u8)) {
    for device in 0..32 {
        let Some(first) = Address::new(bus, device, 0) else {
            continue;
        };
        if config.read_u16(first, regs::VENDOR_ID) == 0xffff {
            continue;
        }
        let header = config.read_u8(first, regs::HEADER_TYPE);
        let functions = if header & regs::HEADER_MULTIFUNCTION != 0 {
            8
        } else {
            1
        };
        for function in 0..functions {
            let Some(address) = Address::new(bus, device, function) else {
                continue;
            };
            if function > 0 && config.read_u16(address, regs::VENDOR_ID) == 0xffff {
                continue;
            }
            visit(address, config.read_u8(address, regs::HEADER_TYPE));
        }
    }
}

impl<C: ConfigAccess> Scan<'_, C> {
    fn bus(&mut self, bus: u8, parent: Option<Address>, depth: u8) {
        let mut addresses = Vec::new();
        for_each_function(self.config, bus, |address, header| {
            addresses.push((address, header))
        });
        for (address, header) in addresses {
            let multifunction = {
                let Some(first) = Address::new(bus, address.device(), 0) else {
                    continue;
                };
                self.config.read_u8(first, regs::HEADER_TYPE) & regs::HEADER_MULTIFUNCTION != 0
            };
            self.function(address, header, multifunction, parent, depth);
        }
    }

    fn function(
        &mut self,
        address: Address,
        header: u8,
        multifunction: bool,
        parent: Option<Address>,
        depth: u8,
    ) {
        let config = self.config;
        let layout = header & regs::HEADER_LAYOUT_MASK;
        let bar_count = match layout {
            regs::HEADER_NORMAL => 6,
            regs::HEADER_BRIDGE => 2,
            _ => 0,
        };
        let (mut bars, refused_bars) = bar::probe(config, address, bar_count);
        for refusal in &refused_bars {
            crate::println!("pci {address}: {refusal}; the function's other BARs are kept");
        }
        for bar in &mut bars {
            if (bar.address == 0 || self.reassign)
                && let Some(assigned) = self.allocator.allocate(bar.kind.is_memory(), bar.size)
            {
                bar.address = assigned;
                bar.assigned_by_kernel = true;
                bar::write(config, address, bar);
            }
        }
        let class = config.read_u32(address, regs::REVISION_ID) >> 8;
        let subsystem = if layout == regs::HEADER_NORMAL {
            (
                config.read_u16(address, regs::SUBSYSTEM_VENDOR_ID),
                config.read_u16(address, regs::SUBSYSTEM_ID),
            )
        } else {
            (0, 0)
        };
        let mut function = Function {
            address,
            vendor: config.read_u16(address, regs::VENDOR_ID),
            device: config.read_u16(address, regs::DEVICE_ID),
            class,
            revision: config.read_u8(address, regs::REVISION_ID),
            header_layout: layout,
            multifunction,
            subsystem,
            interrupt: (
                config.read_u8(address, regs::INTERRUPT_PIN),
                config.read_u8(address, regs::INTERRUPT_LINE),
            ),
            bars,
            refused_bars,
            capabilities: capability::read(config, address),
            secondary_bus: None,
            bridge_windows: None,
            refused_windows: Vec::new(),
            parent,
        };
        if layout != regs::HEADER_BRIDGE {
            self.found.push(function);
            return;
        }
        // A bridge: scan behind it (bounded depth guards against misconfigured loops).
        let mut secondary = config.read_u8(address, regs::SECONDARY_BUS);
        let configure = secondary == 0 || secondary <= address.bus();
        if configure {
            secondary = self.next_bus;
            config.write_u8(address, regs::PRIMARY_BUS, address.bus());
            config.write_u8(address, regs::SECONDARY_BUS, secondary);
            config.write_u8(address, regs::SUBORDINATE_BUS, 0xff);
        }
        self.next_bus = self.next_bus.max(secondary.saturating_add(1));
        function.secondary_bus = Some(secondary);
        // Firmware's windows, if it programmed any: kept if they make sense.
        let programmed = if windows_unprogrammed(config, address) {
            None
        } else {
            let windows = programmed_windows(config, address);
            function.refused_windows = check_windows(&windows, self.allocator);
            for refusal in &function.refused_windows {
                crate::println!("pci {address}: bridge {refusal}; the kernel programs it");
            }
            function.refused_windows.is_empty().then_some(windows)
        };
        let opened = match programmed {
            Some(_) => None,
            None => open_windows(config, address, self.allocator),
        };
        function.bridge_windows = opened.clone();
        self.found.push(function);
        // The subtree allocates from the bridge's windows only.
        let inner = match (&programmed, &opened) {
            (Some(windows), _) => {
                let window = |wanted| {
                    windows
                        .iter()
                        .find(|(kind, _)| *kind == wanted)
                        .map_or(0..0, |(_, range)| range.clone())
                };
                for (kind, range) in windows {
                    self.allocator.claim(kind.is_memory(), range.clone());
                }
                Some((
                    self.allocator
                        .within(window(WindowKind::Memory), window(WindowKind::Io)),
                    false,
                ))
            }
            (None, Some((memory, io))) => Some((Allocator::new(memory.clone(), io.clone()), true)),
            // No room for windows: the functions behind it are listed, but nothing there
            // can be reached, so nothing is assigned.
            (None, None) => Some((Allocator::new(0..0, 0..0), true)),
        };
        if depth < 16
            && let Some((inner, reassign)) = inner
        {
            let outer = core::mem::replace(&mut *self.allocator, inner);
            let nested = self.reassign || reassign;
            let outer_reassign = core::mem::replace(&mut self.reassign, nested);
            self.bus(secondary, Some(address), depth + 1);
            *self.allocator = outer;
            self.reassign = outer_reassign;
        }
        if configure {
            let subordinate = self.next_bus.saturating_sub(1).max(secondary);
            config.write_u8(address, regs::SUBORDINATE_BUS, subordinate);
        }
    }
}
