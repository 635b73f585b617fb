//! What the shared arch code (`io`, `heap`) needs from x86_64: the identity-map limit,
//! the ports the architecture keeps, the firmware's memory map and port accessors.

pub use super::paging::MAPPED_LIMIT;
use super::{acpi, apic, gdt, idt, irq, paging, pvh, serial, smp, time};
use crate::arch::Firmware;
use crate::bus::pci::{ConfigMechanism, HostBridge, bar};
use crate::bus::platform::BoardDevice;
use crate::memory::MemoryRegion;
use crate::println;

/// Early bring-up, before the heap: the serial console, GDT/TSS, the boot CPU's per-CPU
/// entry (CPU number 0) and IDT (faults are
/// reported from here on, with a double-fault stack), the stack guard page; then the PVH
/// start info is copied out and the MADT's interrupt routing read, before the heap may
/// reuse their memory.
pub fn early_init(start_info_address: super::Handoff) -> Firmware {
    serial::init();
    println!("kernel: long mode, start info at {start_info_address:#x}");
    gdt::init();
    smp::init_boot_cpu();
    idt::init();
    paging::init();
    let start_info = pvh::read(start_info_address);
    acpi::read_interrupt_routing(start_info.rsdp);
    Firmware {
        command_line: start_info.command_line.as_str(),
        memory_map: start_info.memory_map(),
    }
}

/// Starts the clock and interrupts (still masked): TSC calibration (PIT, polled), the
/// local APIC timer at `timer_hz`, the I/O APIC lines. Returns the clock's frequency.
///
/// # Panics
///
/// If the PIT does not count (the TSC cannot be calibrated).
pub fn start_interrupts(timer_hz: u32) -> u64 {
    let hz = time::calibrate().expect("TSC calibration");
    apic::init(timer_hz);
    irq::init();
    match acpi::interrupt_routing() {
        Some(routing) => println!(
            "kernel: MADT: I/O APIC at {:#x}, ISA IRQ 0 on GSI {}",
            routing.io_apic_base, routing.isa[0].gsi
        ),
        None => println!("kernel: no MADT: I/O APIC assumed at 0xfec00000"),
    }
    hz
}

/// Ports the architecture code keeps for itself: the two 8259 PICs and the QEMU exit port.
pub const RESERVED_PORTS: &[(u16, u16)] = &[(0x20, 2), (0xa0, 2), (0xf4, 4)];

/// The PC board (the platform bus's table): COM1, the PIT and the RTC at their ISA addresses and lines.
pub static BOARD: &[BoardDevice] = &[
    BoardDevice {
        name: "uart16550.0",
        description: "COM1, 16550A UART",
        ports: (0x3f8, 8),
        irq: 4,
    },
    BoardDevice {
        name: "pit.0",
        description: "8254 programmable interval timer",
        ports: (0x40, 4),
        irq: 0,
    },
    BoardDevice {
        name: "rtc.0",
        description: "MC146818 real-time clock and CMOS",
        ports: (0x70, 2),
        irq: 8,
    },
];

/// The PC's host bridge: the 0xCF8/0xCFC ports, BARs from the fixed windows.
pub fn pci_host() -> Option<HostBridge> {
    Some(HostBridge {
        config: ConfigMechanism::Ports,
        memory_window: bar::MEMORY_WINDOW,
        io_window: bar::IO_WINDOW,
    })
}

/// No devicetree on the PC: its devices come from the board table, PCI and ACPI.
pub fn devicetree() -> Option<&'static [u8]> {
    None
}

/// No devicetree drivers of the architecture's own.
pub fn register_devicetree_drivers(_model: &drivermodel::DeviceModel) {}

/// Every port of the 64 KiB I/O space exists.
pub fn port_space() -> u32 {
    0x1_0000
}

/// The PVH memory map, once the start info was read.
pub fn memory_map() -> Option<&'static [MemoryRegion]> {
    super::pvh::start_info().map(super::pvh::StartInfo::memory_map)
}

/// Raw port accessors: the `in`/`out` instructions.
pub mod port {
    use x86_64::instructions::port::Port;

    /// Reads the byte port `port`.
    ///
    /// # Safety
    ///
    /// The caller owns `port` (a claimed window); reading it may have device side effects.
    pub unsafe fn read_u8(port: u16) -> u8 {
        // SAFETY: the caller owns the port; port I/O does not touch Rust memory.
        unsafe { Port::<u8>::new(port).read() }
    }

    /// Reads the 16-bit port `port`.
    ///
    /// # Safety
    ///
    /// As [`read_u8`].
    pub unsafe fn read_u16(port: u16) -> u16 {
        // SAFETY: as in `read_u8`.
        unsafe { Port::<u16>::new(port).read() }
    }

    /// Reads the 32-bit port `port`.
    ///
    /// # Safety
    ///
    /// As [`read_u8`].
    pub unsafe fn read_u32(port: u16) -> u32 {
        // SAFETY: as in `read_u8`.
        unsafe { Port::<u32>::new(port).read() }
    }

    /// Writes the byte port `port`.
    ///
    /// # Safety
    ///
    /// As [`read_u8`].
    pub unsafe fn write_u8(port: u16, value: u8) {
        // SAFETY: as in `read_u8`.
        unsafe { Port::<u8>::new(port).write(value) }
    }

    /// Writes the 16-bit port `port`.
    ///
    /// # Safety
    ///
    /// As [`read_u8`].
    pub unsafe fn write_u16(port: u16, value: u16) {
        // SAFETY: as in `read_u8`.
        unsafe { Port::<u16>::new(port).write(value) }
    }

    /// Writes the 32-bit port `port`.
    ///
    /// # Safety
    ///
    /// As [`read_u8`].
    pub unsafe fn write_u32(port: u16, value: u32) {
        // SAFETY: as in `read_u8`.
        unsafe { Port::<u32>::new(port).write(value) }
    }
}
