//! The PCI bus: the enumerated tree on `q35` and `pc`, BAR sizing and assignment (also
//! under qboot, which assigns nothing), ID-table matching, capabilities, the bound-device
//! API (enable, BAR claims), and the pure parts on a made-up configuration space.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::cell::RefCell;

use drivermodel::{ARef, Device};
use kernel::bus::pci::bar::{self, Allocator, Kind, Refusal};
use kernel::bus::pci::config::{Address, ConfigAccess};
use kernel::bus::pci::{self, Command, Function, regs};
use kernel::devices::model;
use kernel::{check, check_eq, fail, kernel_test};

// The PC's PCI devices (host and ISA bridges, a NIC) are what the x86_64-only tests use.
kernel::only_on!(x86_64, {
    use core::sync::atomic::{AtomicU32, Ordering};

    use drivermodel::context::Core;
    use drivermodel::resource::Resource;
    use drivermodel::{Driver, IdEntry, Match};
    use kernel::arch::io::MmioWindow;
    use kernel::bus::pci::{Id, Pci, PciDevice};
});

kernel::test_main!();

kernel::only_on!(x86_64, {
    fn isa_bridge_driver(vendor: u16, device: u16) -> IsaBridgeDriver {
        IsaBridgeDriver {
            table: [
                IdEntry::new(
                    Id::class(u32::from(regs::class::ISA_BRIDGE) << 8, 0xffff00),
                    1,
                ),
                IdEntry::new(Id::device(vendor, device), 2),
            ],
        }
    }

    fn nic_driver() -> NicDriver {
        NicDriver {
            table: [IdEntry::new(Id::class(0x020000, 0xffff00), ())],
        }
    }
});

/// The machine, told by its host bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Machine {
    Q35,
    Pc,
}

/// Every PCI function of the kernel's model.
fn functions() -> Vec<(ARef<Device>, Function)> {
    model()
        .devices()
        .into_iter()
        .filter_map(|device| {
            let function = pci::function(&device)?.clone();
            Some((device, function))
        })
        .collect()
}

fn find(vendor: u16, device: u16) -> Option<Function> {
    functions()
        .into_iter()
        .map(|(_, function)| function)
        .find(|function| function.vendor == vendor && function.device == device)
}

fn machine() -> Option<Machine> {
    if find(0x8086, 0x29c0).is_some() {
        Some(Machine::Q35)
    } else if find(0x8086, 0x1237).is_some() {
        Some(Machine::Pc)
    } else {
        None
    }
}

kernel_test! {
    /// The host bridge, the display and the ISA bridge are there with the right IDs,
    /// class codes and places, on whichever machine this is.
    #[only_on(x86_64)]
    fn tree_has_host_bridge_display_and_isa_bridge() {
        let Some(machine) = machine() else {
            fail!("no known host bridge (8086:29c0 or 8086:1237)");
        };
        let (host, isa, isa_slot) = match machine {
            Machine::Q35 => ((0x8086, 0x29c0), (0x8086, 0x2918), (0x1f, 0)),
            Machine::Pc => ((0x8086, 0x1237), (0x8086, 0x7000), (0x01, 0)),
        };
        let Some(host) = find(host.0, host.1) else { fail!("host bridge missing") };
        check_eq!(host.class_code(), regs::class::HOST_BRIDGE);
        check_eq!(host.address, Address::new(0, 0, 0).unwrap_or(host.address));
        check_eq!((host.address.bus(), host.address.device()), (0, 0));
        let Some(isa) = find(isa.0, isa.1) else { fail!("ISA bridge missing") };
        check_eq!(isa.class_code(), regs::class::ISA_BRIDGE);
        check_eq!((isa.address.device(), isa.address.function()), isa_slot);
        check!(isa.multifunction, "the ISA bridge's device has other functions");
        let Some(display) = find(0x1234, 0x1111) else { fail!("display 1234:1111 missing") };
        // `-vga std` (boot's default) is class 0x0300; `bochs-display` is 0x0380.
        check!(
            display.class_code() == regs::class::VGA
                || display.class_code() == regs::class::DISPLAY_OTHER,
            "display class {:#06x}",
            display.class_code()
        );
        // Every function is a device on the pci bus below the root (no bridges here).
        for (device, function) in functions() {
            check_eq!(device.bus_name(), Some(pci::BUS_NAME));
            check_eq!(device.name(), pci::device_name(function.address).as_str());
            check_eq!(device.parent().map(|parent| parent.name()), Some(pci::ROOT_NAME));
        }
    }
}

kernel_test! {
    /// The display's BARs: BAR0 a 16 MiB prefetchable 32-bit framebuffer, BAR2 a 4 KiB
    /// register window, both assigned (by firmware or the kernel) and described as MMIO
    /// resources of the device.
    #[only_on(x86_64)]
    fn display_bars_are_sized_and_assigned() {
        let Some(display) = find(0x1234, 0x1111) else { fail!("display missing") };
        let Some(framebuffer) = display.bar(0) else { fail!("no BAR0") };
        check_eq!(framebuffer.kind, Kind::Memory32 { prefetchable: true });
        check_eq!(framebuffer.size, 16 << 20);
        check!(framebuffer.address != 0);
        let Some(registers) = display.bar(2) else { fail!("no BAR2") };
        check_eq!(registers.kind, Kind::Memory32 { prefetchable: false });
        check_eq!(registers.size, 4096);
        check!(registers.address != 0);
        let Some(device) = model().find_device(Some(pci::BUS_NAME), &pci::device_name(display.address)) else {
            fail!("display device not registered");
        };
        check!(device.mmio(0).is_some_and(|range| range.start() == framebuffer.address && range.length() == framebuffer.size));
        check!(device.mmio(1).is_some_and(|range| range.start() == registers.address));
    }
}

kernel_test! {
    /// Every BAR is non-zero, aligned to its size, inside the identity map, and no two
    /// overlap; the ones the kernel assigned lie in the host bridge's windows. Under qboot
    /// and on riscv64 `virt` all of them are the kernel's; under SeaBIOS none is.
    fn assigned_bars_are_aligned_and_disjoint() {
        let mut ranges: Vec<(bool, u64, u64, Address)> = Vec::new();
        let mut assigned_by_kernel = 0;
        let Some(host) = kernel::bus::pci::host_bridge() else {
            fail!("no PCI host bridge");
        };
        for (_, function) in functions() {
            for bar in &function.bars {
                check!(bar.address != 0, "{} {bar} unassigned", function.address);
                check!(bar.size.is_power_of_two(), "{} {bar}", function.address);
                check!(bar.address.is_multiple_of(bar.size), "{} {bar} misaligned", function.address);
                check!(bar.address + bar.size <= 1 << 32, "{} {bar} above 4 GiB", function.address);
                if bar.assigned_by_kernel {
                    assigned_by_kernel += 1;
                    let window = if bar.kind.is_memory() { host.memory_window.clone() } else { host.io_window.clone() };
                    check!(window.start <= bar.address && bar.address + bar.size <= window.end, "{bar} outside the window");
                }
                ranges.push((bar.kind.is_memory(), bar.address, bar.address + bar.size, function.address));
            }
        }
        for (index, a) in ranges.iter().enumerate() {
            for b in &ranges[index + 1..] {
                if a.0 == b.0 && a.1 < b.2 && b.1 < a.2 {
                    fail!("BARs of {} and {} overlap", a.3, b.3);
                }
            }
        }
        kernel::println!("# {} BARs, {} assigned by the kernel", ranges.len(), assigned_by_kernel);
    }
}

kernel_test! {
    /// Capabilities are read: q35's AHCI controller has MSI; its e1000e NIC has power
    /// management, MSI, PCI Express and MSI-X. (The `pc` machine's functions list none
    /// that are guaranteed, so there it only checks the walk ends.)
    fn capabilities_are_parsed() {
        match machine() {
            Some(Machine::Q35) => {
                let Some(ahci) = find(0x8086, 0x2922) else { fail!("AHCI missing") };
                check!(ahci.capabilities.iter().any(|capability| capability.id == regs::capability::MSI));
                if let Some(nic) = find(0x8086, 0x10d3) {
                    let ids: Vec<u8> = nic.capabilities.iter().map(|capability| capability.id).collect();
                    for id in [regs::capability::POWER_MANAGEMENT, regs::capability::MSI, regs::capability::EXPRESS, regs::capability::MSI_X] {
                        check!(ids.contains(&id), "e1000e lacks capability {id:#x}: {ids:?}");
                    }
                }
            }
            _ => {
                for (_, function) in functions() {
                    check!(function.capabilities.len() < 48);
                }
            }
        }
    }
}

/// One made-up function: its address, 64 configuration dwords, and its BAR masks.
type FakeFunction = (Address, [u32; 64], [u32; 6]);

/// A made-up configuration space: functions with 64 dwords each, BAR sizing emulated.
struct FakeConfig {
    functions: RefCell<Vec<FakeFunction>>,
}

impl FakeConfig {
    fn new() -> Self {
        Self {
            functions: RefCell::new(Vec::new()),
        }
    }

    /// Adds a function; `sizes[n]` is BAR n's size mask (the all-ones read-back).
    fn add(&self, address: Address, space: [u32; 64], masks: [u32; 6]) {
        self.functions.borrow_mut().push((address, space, masks));
    }
}

impl ConfigAccess for FakeConfig {
    fn read_u32(&self, address: Address, offset: u8) -> u32 {
        self.functions
            .borrow()
            .iter()
            .find(|(own, _, _)| *own == address)
            .map_or(u32::MAX, |(_, space, _)| space[usize::from(offset / 4)])
    }

    fn write_u32(&self, address: Address, offset: u8, value: u32) {
        let mut functions = self.functions.borrow_mut();
        let Some((_, space, masks)) = functions.iter_mut().find(|(own, _, _)| *own == address)
        else {
            return;
        };
        let index = usize::from(offset / 4);
        // Six BARs for a normal function, two for a bridge.
        let bar_dwords = if (space[3] >> 16) & 0x7f == 1 {
            4..6
        } else {
            4..10
        };
        if bar_dwords.contains(&index) {
            // A BAR keeps only its implemented address bits; its flag bits are fixed.
            let mask = masks[index - 4];
            let flag_bits = if mask & 1 != 0 { 0x3 } else { 0xf };
            space[index] = if mask == u32::MAX {
                value
            } else {
                (value & mask & !flag_bits) | (mask & flag_bits)
            };
        } else {
            space[index] = value;
        }
    }
}

fn header(vendor: u16, device: u16, class: u32, header_type: u8) -> [u32; 64] {
    let mut space = [0_u32; 64];
    space[0] = u32::from(device) << 16 | u32::from(vendor);
    space[2] = class << 8;
    space[3] = u32::from(header_type) << 16;
    space
}

kernel_test! {
    /// Sizing and assignment on a made-up space: a 64-bit prefetchable BAR, a 32-bit BAR
    /// and an I/O BAR left at zero get aligned addresses from the windows, skipping a
    /// firmware assignment; a bridge's secondary bus is scanned (recursion), its
    /// unprogrammed windows are opened and hold the BARs behind it; a multi-function
    /// device yields all its functions.
    fn made_up_space_enumerates_sizes_and_assigns() {
        let config = FakeConfig::new();
        let host = Address::new(0, 0, 0).unwrap_or_else(|| unreachable!());
        config.add(host, header(0x8086, 0x29c0, 0x060000, 0x80), [0; 6]);
        let second = Address::new(0, 0, 3).unwrap_or_else(|| unreachable!());
        config.add(second, header(0x8086, 0x2930, 0x0c0500, 0), [0; 6]);
        // 00:01.0: BAR0+1 64-bit prefetchable 1 MiB, BAR2 32-bit 4 KiB already at 0xe0000000, BAR3 I/O 32 ports.
        let mut space = header(0x1af4, 0x1000, 0x020000, 0);
        space[4] = 0xc; // 64-bit prefetchable, unassigned
        space[6] = 0xe000_0000;
        space[7] = 0x1;
        let nic = Address::new(0, 1, 0).unwrap_or_else(|| unreachable!());
        config.add(nic, space, [0xfff0_000c, 0xffff_ffff, 0xffff_f000, 0xffff_ffe1, 0, 0]);
        // 00:02.0: a bridge to bus 1 (secondary already 1), with one device behind.
        let mut bridge = header(0x1b36, 0x0001, 0x060400, 0x01);
        bridge[6] = 0x00ff_0100; // primary 0, secondary 1, subordinate 0xff
        let bridge_address = Address::new(0, 2, 0).unwrap_or_else(|| unreachable!());
        config.add(bridge_address, bridge, [0; 6]);
        let behind = Address::new(1, 0, 0).unwrap_or_else(|| unreachable!());
        config.add(behind, header(0x1234, 0x1111, 0x030000, 0), [0xff00_0008, 0, 0xffff_f000, 0, 0, 0]);

        let mut allocator = Allocator::new(bar::MEMORY_WINDOW, bar::IO_WINDOW);
        kernel::bus::pci::enumerate::reserve_assigned(&config, &mut allocator);
        let found = kernel::bus::pci::enumerate::scan(&config, &mut allocator);
        let addresses: Vec<Address> = found.iter().map(|function| function.address).collect();
        check_eq!(addresses, [host, second, nic, bridge_address, behind].to_vec());
        let Some(nic_function) = found.iter().find(|function| function.address == nic) else { fail!("nic") };
        check_eq!(nic_function.bars.len(), 3);
        let wide = nic_function.bars[0];
        check_eq!(wide.kind, Kind::Memory64 { prefetchable: true });
        check_eq!(wide.size, 1 << 20);
        check!(wide.assigned_by_kernel && wide.address.is_multiple_of(1 << 20) && wide.address >= 0xe000_0000);
        check!(wide.address >= 0xe000_1000, "overlaps the firmware-assigned BAR2");
        check_eq!(nic_function.bars[1].address, 0xe000_0000);
        check!(!nic_function.bars[1].assigned_by_kernel);
        check_eq!(nic_function.bars[2].kind, Kind::Io);
        check_eq!(nic_function.bars[2].size, 32);
        check_eq!(nic_function.bars[2].address, 0xc000);
        // The assignment was written back to the registers.
        check_eq!(config.read_u32(nic, regs::BAR0) & !0xf, wide.address as u32);
        check_eq!(config.read_u32(nic, regs::BAR0 + 4), 0);
        let Some(display) = found.iter().find(|function| function.address == behind) else { fail!("behind") };
        check_eq!(display.parent, Some(bridge_address));
        check_eq!(display.bars[0].size, 16 << 20);
        check!(display.bars[0].address.is_multiple_of(16 << 20));
        let Some(bridge_function) = found.iter().find(|function| function.address == bridge_address) else { fail!("bridge") };
        check_eq!(bridge_function.secondary_bus, Some(1));
        // The bridge's windows were unprogrammed: the kernel opened them, and the
        // function behind it got its BARs from them.
        let Some((memory, io)) = bridge_function.bridge_windows.clone() else { fail!("bridge windows not opened") };
        check_eq!(memory.end - memory.start, kernel::bus::pci::enumerate::BRIDGE_MEMORY_WINDOW);
        check!(memory.start.is_multiple_of(1 << 20) && io.start.is_multiple_of(4096));
        for bar in &display.bars {
            check!(memory.start <= bar.address && bar.address + bar.size <= memory.end, "{bar} outside {memory:x?}");
        }
        check_eq!(u64::from(config.read_u16(bridge_address, regs::MEMORY_BASE)) << 16, memory.start);
        check_eq!((u64::from(config.read_u16(bridge_address, regs::MEMORY_LIMIT)) << 16) | 0xf_ffff, memory.end - 1);
        check_eq!(u64::from(config.read_u8(bridge_address, regs::IO_BASE)) << 8, io.start);
        let command = config.read_u16(bridge_address, regs::COMMAND);
        check!(command & Command::MEMORY.bits() != 0 && command & Command::IO.bits() != 0);
        // The windows do not overlap the outer assignments.
        check!(wide.address + wide.size <= memory.start || memory.end <= wide.address);
    }
}

kernel_test! {
    /// Windows firmware programmed into bridges are kept when they make sense and
    /// refused, with the bridge named, when they do not: one outside the host's window
    /// (in RAM), one overlapping another bridge's window, a 64-bit prefetchable one above
    /// the host's window. A refused bridge gets windows from the kernel, and every BAR
    /// behind it, firmware's included, is placed inside them; the good bridge and the
    /// functions behind it keep firmware's addresses, and new BARs there stay inside its
    /// window.
    fn hostile_bridge_windows_are_refused_and_reprogrammed() {
        use kernel::bus::pci::enumerate::{self, WindowError, WindowKind, WindowRefusal};
        let config = FakeConfig::new();
        let at = |bus, device| Address::new(bus, device, 0).unwrap_or_else(|| unreachable!());
        config.add(at(0, 0), header(0x8086, 0x29c0, 0x060000, 0), [0; 6]);
        // A bridge: buses, I/O base and limit, memory base and limit, prefetchable base
        // and limit with their upper halves (closed where not given).
        let bridge = |buses: u32, io: u32, memory: u32, prefetchable: u32, upper: (u32, u32)| {
            let mut space = header(0x1b36, 0x0001, 0x060400, 0x01);
            space[6] = buses;
            space[7] = io;
            space[8] = memory;
            space[9] = prefetchable;
            space[10] = upper.0;
            space[11] = upper.1;
            space
        };
        const IO_CLOSED: u32 = 0x00f0;
        const MEMORY_CLOSED: u32 = 0x0000_fff0;
        // 00:02.0: sensible windows, memory 0xe1000000..0xe2000000, I/O 0xd000..0xe000.
        config.add(at(0, 2), bridge(0x0001_0100, 0xd0d0, 0xe1f0_e100, MEMORY_CLOSED, (0, 0)), [0; 6]);
        // 01:00.0 behind it: BAR0 firmware-assigned inside the window, BAR1 unassigned.
        let mut kept = header(0x1234, 0x0001, 0x020000, 0);
        kept[4] = 0xe100_0000;
        config.add(at(1, 0), kept, [0xffff_f000, 0xffff_f000, 0, 0, 0, 0]);
        // 00:03.0: its memory window is low RAM, outside the host's window.
        config.add(at(0, 3), bridge(0x0002_0200, IO_CLOSED, 0x0010_0010, MEMORY_CLOSED, (0, 0)), [0; 6]);
        // 02:00.0 behind it, with firmware's address in that window.
        let mut moved = header(0x1234, 0x0002, 0x020000, 0);
        moved[4] = 0x0010_0000;
        config.add(at(2, 0), moved, [0xffff_f000, 0, 0, 0, 0, 0]);
        // 00:04.0: its memory window lies inside 00:02.0's.
        config.add(at(0, 4), bridge(0x0003_0300, IO_CLOSED, 0xe180_e180, MEMORY_CLOSED, (0, 0)), [0; 6]);
        // 00:05.0: a 64-bit prefetchable window at 32 GiB, above the host's window;
        // 04:00.0 behind it needs a BAR.
        config.add(at(0, 5), bridge(0x0004_0400, IO_CLOSED, MEMORY_CLOSED, 0x0001_0001, (8, 8)), [0; 6]);
        config.add(at(4, 0), header(0x1234, 0x0004, 0x020000, 0), [0xffff_f000, 0, 0, 0, 0, 0]);

        let mut allocator = Allocator::new(bar::MEMORY_WINDOW, bar::IO_WINDOW);
        enumerate::reserve_assigned(&config, &mut allocator);
        let found = enumerate::scan(&config, &mut allocator);
        let function = |bus, device| found.iter().find(|function| function.address == at(bus, device));
        let Some(good) = function(0, 2) else { fail!("00:02.0 missing") };
        check!(good.refused_windows.is_empty(), "{:?}", good.refused_windows);
        check!(good.bridge_windows.is_none(), "firmware's windows were replaced");
        check_eq!(config.read_u16(at(0, 2), regs::MEMORY_BASE), 0xe100);
        let Some(behind_good) = function(1, 0) else { fail!("01:00.0 missing") };
        check_eq!(behind_good.bars.len(), 2);
        check!(behind_good.bars[0].address == 0xe100_0000 && !behind_good.bars[0].assigned_by_kernel);
        let new = behind_good.bars[1];
        check!(new.assigned_by_kernel && new.address >= 0xe100_1000 && new.address + new.size <= 0xe200_0000, "{new}");

        let outside = |window: core::ops::Range<u64>, parent| WindowRefusal {
            kind: WindowKind::Memory,
            window,
            error: WindowError::OutsideParent { parent },
        };
        // Each refused bridge: its refusal, fresh windows, and what is behind it inside them.
        let refused = [
            (3, Some(2), [outside(0x10_0000..0x20_0000, bar::MEMORY_WINDOW)].to_vec()),
            (4, None, [WindowRefusal { kind: WindowKind::Memory, window: 0xe180_0000..0xe190_0000, error: WindowError::Overlaps }].to_vec()),
            (5, Some(4), [WindowRefusal { kind: WindowKind::Prefetchable, ..outside(0x8_0000_0000..0x8_0010_0000, bar::MEMORY_WINDOW) }].to_vec()),
        ];
        for (device, behind, refusals) in refused {
            let Some(bridge) = function(0, device) else { fail!("00:0{device}.0 missing") };
            check!(bridge.refused_windows == refusals, "00:0{device}.0: {:?}", bridge.refused_windows);
            let Some((memory, _io)) = bridge.bridge_windows.clone() else { fail!("00:0{device}.0 not reprogrammed") };
            check!(memory.start >= 0xe000_0000 && memory.end <= 0xfec0_0000, "{memory:x?}");
            check_eq!(u64::from(config.read_u16(at(0, device), regs::MEMORY_BASE)) << 16, memory.start);
            if let Some(bus) = behind {
                let Some(function) = function(bus, 0) else { fail!("0{bus}:00.0 missing") };
                let bar = function.bars[0];
                check!(bar.assigned_by_kernel && memory.start <= bar.address && bar.address + bar.size <= memory.end, "{bar} outside {memory:x?}");
            }
        }
        // Nothing the kernel placed overlaps: BARs on bus 0 and the new windows.
        let mut placed: Vec<core::ops::Range<u64>> = Vec::new();
        for function in &found {
            let mut ranges: Vec<core::ops::Range<u64>> = function.bridge_windows.iter().map(|(memory, _)| memory.clone()).collect();
            if function.address.bus() == 0 {
                ranges.extend(function.bars.iter().filter(|bar| bar.kind.is_memory()).map(|bar| bar.range()));
            }
            for range in ranges {
                check!(placed.iter().all(|other| range.end <= other.start || other.end <= range.start), "{} {range:x?} overlaps", function.address);
                placed.push(range);
            }
        }
        let message = alloc::format!("{}", outside(0x10_0000..0x20_0000, bar::MEMORY_WINDOW));
        check_eq!(message.as_str(), "memory window 0x100000..0x200000 refused: outside the window it is reached through (0xe0000000..0xfec00000)");
    }
}

kernel_test! {
    /// BAR arithmetic: sizes from read-backs, addresses from values.
    fn bar_decoding() {
        check_eq!(bar::size_from_readback(0xffff_ffe1, Kind::Io), 32);
        check_eq!(bar::size_from_readback(0x0000_ffe1, Kind::Io), 32);
        check_eq!(bar::size_from_readback(0xff00_0008, Kind::Memory32 { prefetchable: true }), 16 << 20);
        check_eq!(bar::size_from_readback(0xffff_ffff_fe00_000c, Kind::Memory64 { prefetchable: true }), 32 << 20);
        check_eq!(bar::address_of(0xfd00_0008, 0, Kind::Memory32 { prefetchable: true }), 0xfd00_0000);
        check_eq!(bar::address_of(0x0000_000c, 0x1, Kind::Memory64 { prefetchable: true }), 0x1_0000_0000);
        check_eq!(bar::address_of(0xc041, 0, Kind::Io), 0xc040);
        check_eq!(Kind::decode(0x4), Kind::Memory64 { prefetchable: false });
        check_eq!(Kind::decode(0x1), Kind::Io);
        let mut allocator = Allocator::new(0x1000..0x3000, 0..0);
        allocator.reserve(true, 0x1000..0x1800);
        check_eq!(allocator.allocate(true, 0x800), Some(0x1800));
        check_eq!(allocator.allocate(true, 0x1000), Some(0x2000));
        check_eq!(allocator.allocate(true, 0x1000), None);
        check_eq!(allocator.allocate(false, 4), None);
    }
}

kernel_test! {
    /// ID matching: an exact vendor/device entry scores above a class entry; a class
    /// entry compares under its mask.
    #[only_on(x86_64)]
    fn id_matching_scores() {
        let Some(display) = find(0x1234, 0x1111) else { fail!("display missing") };
        check_eq!(Id::device(0x1234, 0x1111).matches(&display), Match::Yes { score: 2 });
        check_eq!(Id::device(0x1234, 0x1112).matches(&display), Match::No);
        check_eq!(Id::class(display.class, 0xffff00).matches(&display), Match::Yes { score: 1 });
        check_eq!(Id::class(0x030000, 0xff0000).matches(&display), Match::Yes { score: 1 });
        check_eq!(Id::class(0x020000, 0xff0000).matches(&display), Match::No);
    }
}

kernel::only_on!(x86_64, {
    /// How many times the test driver's probe and remove ran.
    static PROBES: AtomicU32 = AtomicU32::new(0);
    static REMOVES: AtomicU32 = AtomicU32::new(0);

    /// A driver for the ISA bridge (nothing else binds it): by class, with an exact entry
    /// that must win when both match.
    struct IsaBridgeDriver {
        table: [IdEntry<Id, u32>; 2],
    }

    struct IsaBridgeState {
        _window: Option<drivermodel::Devres<MmioWindow>>,
    }

    impl Drop for IsaBridgeState {
        fn drop(&mut self) {
            REMOVES.fetch_add(1, Ordering::Relaxed);
        }
    }

    impl Driver for IsaBridgeDriver {
        type Bus = Pci;
        type IdInfo = u32;
        type State = IsaBridgeState;

        fn name(&self) -> &str {
            "test_isa"
        }

        fn id_table(&self) -> &[IdEntry<Id, u32>] {
            &self.table
        }

        fn probe(&self, device: &Device<Core>, info: &u32) -> drivermodel::Result<IsaBridgeState> {
            PROBES.fetch_add(1, Ordering::Relaxed);
            if *info != 2 {
                return Err(drivermodel::Error::driver(
                    "the class entry won over the exact entry",
                ));
            }
            let pci = PciDevice::new(device)?;
            pci.enable(Command::IO | Command::BUS_MASTER)?;
            Ok(IsaBridgeState { _window: None })
        }
    }

    fn isa_bridge() -> Option<(ARef<Device>, Function)> {
        functions()
            .into_iter()
            .find(|(_, function)| function.class_code() == regs::class::ISA_BRIDGE)
    }
});

kernel_test! {
    /// A driver binds by its ID table (the exact entry beats the class entry), enables
    /// I/O and bus mastering through the bus API, and the command register is restored
    /// when the binding ends.
    #[only_on(x86_64)]
    fn driver_enables_and_unbind_restores_command() {
        let Some((device, function)) = isa_bridge() else { fail!("no ISA bridge") };
        let read_command = || -> Option<u16> {
            pci::config::with_config(|config| config.read_u16(function.address, regs::COMMAND))
        };
        let before = read_command();
        let driver = model()
            .register_driver(isa_bridge_driver(function.vendor, function.device))
            .map_err(|error| kernel::test::Failure::new(format_args!("{error}")))?;
        check_eq!(device.driver_name().as_deref(), Some("test_isa"));
        let during = read_command().unwrap_or(0);
        check!(during & (Command::IO | Command::BUS_MASTER).bits() == (Command::IO | Command::BUS_MASTER).bits(), "command {during:#x}");
        check!(model().unbind(&device).is_ok());
        check_eq!(read_command(), before);
        check_eq!(REMOVES.load(Ordering::Relaxed), 1);
        drop(driver);
        check!(!device.is_bound());
    }
}

kernel::only_on!(x86_64, {
    /// A driver that claims BAR0 of the NIC; a second instance of it must be refused.
    struct NicDriver {
        table: [IdEntry<Id, ()>; 1],
    }

    struct NicState {
        _registers: drivermodel::Devres<MmioWindow>,
    }

    impl Driver for NicDriver {
        type Bus = Pci;
        type IdInfo = ();
        type State = NicState;

        fn name(&self) -> &str {
            "test_nic"
        }

        fn id_table(&self) -> &[IdEntry<Id, ()>] {
            &self.table
        }

        fn probe(&self, device: &Device<Core>, _info: &()) -> drivermodel::Result<NicState> {
            let pci = PciDevice::new(device)?;
            let registers = pci.claim_memory_bar(0)?;
            // Claiming the same BAR twice is refused, even by the same binding.
            // Passed on to the device model, the conflict is the typed `ResourceBusy`,
            // naming the BAR's range and this very binding as its holder.
            match pci.claim_memory_bar(0) {
                Err(
                    error @ kernel::bus::Error::Claim(kernel::arch::io::ClaimError::Conflict {
                        ..
                    }),
                ) => {
                    let typed = drivermodel::Error::from(error);
                    let owner = alloc::format!("test_nic {}", device.name());
                    let named = matches!(
                        &typed,
                        drivermodel::Error::ResourceBusy { resource: Resource::Mmio(_), owner: holder }
                            if *holder == owner
                    );
                    if !named {
                        return Err(drivermodel::Error::driver(alloc::format!(
                            "a BAR conflict is not ResourceBusy: {typed:?}"
                        )));
                    }
                }
                _ => {
                    return Err(drivermodel::Error::driver(
                        "second claim of BAR0 not refused",
                    ));
                }
            }
            pci.enable(Command::MEMORY)?;
            // The device answers through the claimed window (e1000's status register).
            let _status = registers
                .try_access_with(|window| window.read_u32(8).unwrap_or(0))
                .unwrap_or(0);
            Ok(NicState {
                _registers: registers,
            })
        }
    }
});

kernel_test! {
    /// A driver matched by class claims a memory BAR through the bus; the claim is
    /// listed with its owner while bound, a double claim is refused, and the range is
    /// released by the binding's devres at unbind.
    #[only_on(x86_64)]
    fn bar_claim_is_released_with_the_binding() {
        let driver = model()
            .register_driver(nic_driver())
            .map_err(|error| kernel::test::Failure::new(format_args!("{error}")))?;
        let Some(nic) = driver.bound_devices().into_iter().next() else {
            drop(driver);
            fail!("no ethernet controller bound to test_nic");
        };
        let Some(range) = nic.mmio(0) else { fail!("NIC has no MMIO") };
        let listed = || {
            let mut owner = None;
            kernel::arch::io::for_each_claim(|span, name| {
                if span == (kernel::arch::io::Span::Memory { start: range.start(), length: range.length() }) {
                    owner = Some(kernel::text::FixedString::<64>::from_fmt(format_args!("{name}")));
                }
            });
            owner
        };
        let owner = listed();
        check!(owner.is_some_and(|owner| owner.as_str().starts_with("test_nic ")), "claim not listed: {owner:?}");
        check!(model().unbind(&nic).is_ok());
        check!(listed().is_none(), "claim survived the unbind");
        drop(nic);
        drop(driver);
    }
}

kernel_test! {
    /// Hostile BARs are refused with the function named, and the function's other BARs
    /// and other functions are unaffected: a 64-bit BAR in the last slot, a 64-bit BAR
    /// whose high half reads back 0 (once sized 0xffff_ffff_0010_0000, reserving
    /// everything above the window), non-contiguous address bits, and ranges past the
    /// end of their space.
    fn hostile_bars_are_refused_and_others_unaffected() {
        let config = FakeConfig::new();
        let at = |device| Address::new(0, device, 0).unwrap_or_else(|| unreachable!());
        config.add(at(0), header(0x8086, 0x29c0, 0x060000, 0), [0; 6]);
        // 00:03.0: BAR0 fine (4 KiB), BAR5 64-bit in the last slot.
        config.add(at(3), header(0x1af4, 0x0003, 0x020000, 0), [0xffff_f000, 0, 0, 0, 0, 0xfff0_000c]);
        // 00:04.0: BAR0+1 64-bit with a high half that reads back 0; BAR2 fine.
        config.add(at(4), header(0x1af4, 0x0004, 0x020000, 0), [0xfff0_000c, 0, 0xffff_f000, 0, 0, 0]);
        // 00:05.0: BAR0 non-contiguous address bits; BAR1 fine.
        config.add(at(5), header(0x1af4, 0x0005, 0x020000, 0), [0xfff0_f000, 0xffff_f000, 0, 0, 0, 0]);
        // 00:06.0: BAR0+1 64-bit at the top of the address space; BAR2 I/O at 0x10000.
        let mut space = header(0x1af4, 0x0006, 0x020000, 0);
        space[4] = 0xfff0_000c;
        space[5] = 0xffff_ffff;
        space[6] = 0x0001_0001;
        config.add(at(6), space, [0xfff0_000c, 0xffff_ffff, 0xffff_ffe1, 0, 0, 0]);
        // 00:07.0: an ordinary device after them all.
        config.add(at(7), header(0x1234, 0x1111, 0x030000, 0), [0xff00_0008, 0, 0, 0, 0, 0]);

        let mut allocator = Allocator::new(bar::MEMORY_WINDOW, bar::IO_WINDOW);
        kernel::bus::pci::enumerate::reserve_assigned(&config, &mut allocator);
        let found = kernel::bus::pci::enumerate::scan(&config, &mut allocator);
        let function = |device| found.iter().find(|function| function.address == at(device));
        let refused = |device| function(device).map(|function| function.refused_bars.clone()).unwrap_or_default();
        let indices = |device| -> Vec<u8> {
            function(device).map(|function| function.bars.iter().map(|bar| bar.index).collect()).unwrap_or_default()
        };
        check_eq!(refused(3), [Refusal { index: 5, error: bar::Error::LastSlot64 }].to_vec());
        check_eq!(indices(3), [0].to_vec());
        check_eq!(refused(4), [Refusal { index: 0, error: bar::Error::HighHalfZero }].to_vec());
        check_eq!(indices(4), [2].to_vec());
        check!(matches!(refused(5)[..], [Refusal { index: 0, error: bar::Error::NotPowerOfTwo { .. } }]), "{:?}", refused(5));
        check_eq!(indices(5), [1].to_vec());
        check!(matches!(refused(6)[..], [
            Refusal { index: 0, error: bar::Error::Overflow { .. } },
            Refusal { index: 2, error: bar::Error::Overflow { address: 0x1_0000, size: 32 } },
        ]), "{:?}", refused(6));
        check!(indices(6).is_empty());
        // Every accepted BAR got a sane, disjoint place inside the windows, the ordinary
        // device's 16 MiB BAR included.
        let mut placed: Vec<(u64, u64)> = Vec::new();
        for function in &found {
            for bar in &function.bars {
                let window = if bar.kind.is_memory() { bar::MEMORY_WINDOW } else { bar::IO_WINDOW };
                check!(bar.assigned_by_kernel && window.start <= bar.address && bar.address + bar.size <= window.end, "{} {bar}", function.address);
                check!(placed.iter().all(|&(start, end)| bar.address + bar.size <= start || end <= bar.address), "{} {bar} overlaps", function.address);
                placed.push((bar.address, bar.address + bar.size));
            }
        }
        check_eq!(function(7).map(|function| function.bars.len()), Some(1));
        let message = alloc::format!("{}", Refusal { index: 0, error: bar::Error::HighHalfZero });
        check_eq!(message.as_str(), "BAR0 refused: a 64-bit BAR whose high half reads back 0");
    }
}
