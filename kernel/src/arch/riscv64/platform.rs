//! Bring-up for `crate::init`, and what the shared arch code (`io`, `heap`) needs from
//! riscv64: no identity-map limit short of the physical address space, no reserved ports,
//! the devicetree's memory map, and port accessors over the PCI I/O window.

use core::sync::atomic::{AtomicU64, Ordering};

use drivermodel::DeviceModel;
use drivermodel::driver::Registration;
use spin::Once;

use super::{Handoff, devicetree, irq, qemu, serial, time, timer, trap};
use crate::arch::Firmware;
use crate::bus::pci::HostBridge;
use crate::bus::platform::BoardDevice;
use crate::memory::MemoryRegion;
use crate::println;

/// Without paging every physical address is reachable: the limit is the 56-bit physical
/// address space of Sv-bare.
pub const MAPPED_LIMIT: u64 = 1 << 56;

/// No ports are the architecture's own.
pub const RESERVED_PORTS: &[(u16, u16)] = &[];

/// No legacy board devices: `virt` describes its devices in the devicetree.
pub static BOARD: &[BoardDevice] = &[];

/// No host bridge the architecture knows of: `virt`'s comes from the devicetree, through
/// the `pci-host-ecam-generic` driver (`crate::bus::pci::host`).
pub fn pci_host() -> Option<HostBridge> {
    None
}

/// The flattened devicetree OpenSBI passed (kept in reserved memory).
pub fn devicetree() -> Option<&'static [u8]> {
    devicetree::blob()
}

static PLIC: Once<Registration<irq::Plic>> = Once::new();
static FINISHER: Once<Registration<qemu::Finisher>> = Once::new();

/// Registers the drivers of riscv64's own devicetree devices: the PLIC and the
/// `sifive,test` finisher.
pub fn register_devicetree_drivers(model: &DeviceModel) {
    match model.register_driver(irq::Plic) {
        Ok(registration) => {
            PLIC.call_once(|| registration);
        }
        Err(error) => println!("kernel: {}: {error}", irq::PLIC_DRIVER),
    }
    match model.register_driver(qemu::Finisher) {
        Ok(registration) => {
            FINISHER.call_once(|| registration);
        }
        Err(error) => println!("kernel: {}: {error}", qemu::FINISHER_DRIVER),
    }
}

/// CPU address of port 0 (the PCI host bridge's I/O window), 0 while unknown.
static PORT_BASE: AtomicU64 = AtomicU64::new(0);
/// Size of the I/O window.
static PORT_SPACE: AtomicU64 = AtomicU64::new(0);

/// The devicetree's memory map, once read.
pub fn memory_map() -> Option<&'static [MemoryRegion]> {
    devicetree::facts().map(devicetree::Facts::memory_map)
}

/// How many ports exist: the PCI I/O window's size (at most 64 KiB), 0 without one.
pub fn port_space() -> u32 {
    PORT_SPACE.load(Ordering::Relaxed).min(0x1_0000) as u32
}

/// Early bring-up, before the heap: the trap vector (faults are reported from here on),
/// the devicetree's facts copied out (the blob itself stays reserved), the clock's rate.
pub fn early_init(handoff: Handoff) -> Firmware {
    serial::init();
    trap::init();
    println!(
        "kernel: S-mode on hart {}, devicetree at {:#x}",
        handoff.hart_id, handoff.devicetree
    );
    let facts = devicetree::read(handoff.hart_id, handoff.devicetree);
    time::init(facts.timebase_hz);
    if let Some((base, size)) = facts.pci_io {
        PORT_BASE.store(base, Ordering::Relaxed);
        PORT_SPACE.store(size, Ordering::Relaxed);
    }
    Firmware {
        command_line: facts.command_line.as_str(),
        memory_map: facts.memory_map(),
    }
}

/// Starts the periodic timer (SBI) at `timer_hz`. Returns the clock's rate. (The PLIC
/// starts when its driver binds.)
///
/// # Panics
///
/// If the devicetree gave no timebase frequency.
pub fn start_interrupts(timer_hz: u32) -> u64 {
    let facts = devicetree::facts().expect("early_init reads the devicetree");
    assert!(
        facts.timebase_hz != 0,
        "no timebase-frequency in the devicetree"
    );
    timer::init(timer_hz);
    facts.timebase_hz
}

/// Raw port accessors: loads and stores in the PCI I/O window.
pub mod port {
    use core::sync::atomic::Ordering;

    fn address(port: u16) -> u64 {
        super::PORT_BASE.load(Ordering::Relaxed) + u64::from(port)
    }

    /// Reads the byte port `port`.
    ///
    /// # Safety
    ///
    /// The caller owns `port` (a claimed window, which exists only inside the I/O
    /// window); reading it may have device side effects.
    pub unsafe fn read_u8(port: u16) -> u8 {
        // SAFETY: the port lies in the PCI I/O window (device memory, no Rust object).
        unsafe { (address(port) as *const u8).read_volatile() }
    }

    /// Reads the 16-bit port `port`.
    ///
    /// # Safety
    ///
    /// As [`read_u8`]; `port` is even.
    pub unsafe fn read_u16(port: u16) -> u16 {
        // SAFETY: as in `read_u8`.
        unsafe { (address(port) as *const u16).read_volatile() }
    }

    /// Reads the 32-bit port `port`.
    ///
    /// # Safety
    ///
    /// As [`read_u8`]; `port` is a multiple of 4.
    pub unsafe fn read_u32(port: u16) -> u32 {
        // SAFETY: as in `read_u8`.
        unsafe { (address(port) as *const u32).read_volatile() }
    }

    /// Writes the byte port `port`.
    ///
    /// # Safety
    ///
    /// As [`read_u8`].
    pub unsafe fn write_u8(port: u16, value: u8) {
        // SAFETY: as in `read_u8`.
        unsafe { (address(port) as *mut u8).write_volatile(value) }
    }

    /// Writes the 16-bit port `port`.
    ///
    /// # Safety
    ///
    /// As [`read_u16`].
    pub unsafe fn write_u16(port: u16, value: u16) {
        // SAFETY: as in `read_u8`.
        unsafe { (address(port) as *mut u16).write_volatile(value) }
    }

    /// Writes the 32-bit port `port`.
    ///
    /// # Safety
    ///
    /// As [`read_u32`].
    pub unsafe fn write_u32(port: u16, value: u32) {
        // SAFETY: as in `read_u8`.
        unsafe { (address(port) as *mut u32).write_volatile(value) }
    }
}
