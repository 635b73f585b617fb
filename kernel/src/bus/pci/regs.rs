//! PCI configuration space: the register map (PCI Local Bus Specification 3.0, ch. 6).

/// Configuration address port (mechanism #1).
pub const CONFIG_ADDRESS_PORT: u16 = 0xcf8;
/// Number of ports from [`CONFIG_ADDRESS_PORT`]: address at +0, data at +4..+8.
pub const CONFIG_PORTS: u16 = 8;
/// Offset of the data port from [`CONFIG_ADDRESS_PORT`].
pub const CONFIG_DATA_OFFSET: u16 = 4;
/// Address port bit: enable the configuration cycle.
pub const CONFIG_ENABLE: u32 = 1 << 31;

/// Vendor ID (16 bits); 0xffff means "no function here".
pub const VENDOR_ID: u8 = 0x00;
/// Device ID (16 bits).
pub const DEVICE_ID: u8 = 0x02;
/// Command register (16 bits), see [`Command`].
pub const COMMAND: u8 = 0x04;
/// Status register (16 bits).
pub const STATUS: u8 = 0x06;
/// Revision ID (8 bits).
pub const REVISION_ID: u8 = 0x08;
/// Programming interface (8 bits).
pub const PROG_IF: u8 = 0x09;
/// Subclass (8 bits).
pub const SUBCLASS: u8 = 0x0a;
/// Base class (8 bits).
pub const CLASS: u8 = 0x0b;
/// Header type (8 bits): layout in bits 0..7, multi-function in bit 7.
pub const HEADER_TYPE: u8 = 0x0e;
/// First base address register; BAR `n` is at `BAR0 + 4n`.
pub const BAR0: u8 = 0x10;
/// Bridge (header type 1): primary bus number.
pub const PRIMARY_BUS: u8 = 0x18;
/// Bridge: secondary bus number.
pub const SECONDARY_BUS: u8 = 0x19;
/// Bridge: subordinate (highest downstream) bus number.
pub const SUBORDINATE_BUS: u8 = 0x1a;
/// Bridge: I/O base (8 bits; bits 4..8 are address bits 12..16).
pub const IO_BASE: u8 = 0x1c;
/// Bridge: I/O limit (8 bits, as the base; the window ends at the limit + 0xfff).
pub const IO_LIMIT: u8 = 0x1d;
/// Bridge: memory base (16 bits; bits 4..16 are address bits 20..32).
pub const MEMORY_BASE: u8 = 0x20;
/// Bridge: memory limit (16 bits, as the base; the window ends at the limit + 0xfffff).
pub const MEMORY_LIMIT: u8 = 0x22;
/// Bridge: prefetchable memory base (16 bits).
pub const PREFETCHABLE_BASE: u8 = 0x24;
/// Bridge: prefetchable memory limit (16 bits).
pub const PREFETCHABLE_LIMIT: u8 = 0x26;
/// Bridge: prefetchable memory base, upper 32 bits (64-bit windows).
pub const PREFETCHABLE_BASE_UPPER: u8 = 0x28;
/// Bridge: prefetchable memory limit, upper 32 bits (64-bit windows).
pub const PREFETCHABLE_LIMIT_UPPER: u8 = 0x2c;
/// Header type 0: subsystem vendor ID (16 bits).
pub const SUBSYSTEM_VENDOR_ID: u8 = 0x2c;
/// Header type 0: subsystem ID (16 bits).
pub const SUBSYSTEM_ID: u8 = 0x2e;
/// Capabilities pointer (8 bits, low two bits reserved).
pub const CAPABILITIES_POINTER: u8 = 0x34;
/// Interrupt line (8 bits): the legacy IRQ firmware routed, or 0xff.
pub const INTERRUPT_LINE: u8 = 0x3c;
/// Interrupt pin (8 bits): 0 none, 1..=4 INTA#..INTD#.
pub const INTERRUPT_PIN: u8 = 0x3d;

/// Status bit: the capabilities list exists.
pub const STATUS_CAPABILITIES: u16 = 1 << 4;

/// Header type bit: the device has more than one function.
pub const HEADER_MULTIFUNCTION: u8 = 0x80;
/// Header type: the layout bits.
pub const HEADER_LAYOUT_MASK: u8 = 0x7f;
/// Layout 0: a normal function, six BARs.
pub const HEADER_NORMAL: u8 = 0x00;
/// Layout 1: a PCI-to-PCI bridge, two BARs.
pub const HEADER_BRIDGE: u8 = 0x01;

/// BAR bit 0: an I/O space BAR.
pub const BAR_IO: u32 = 0x1;
/// Memory BAR bits 1..3: the type.
pub const BAR_MEMORY_TYPE_MASK: u32 = 0x6;
/// Memory BAR type: 64-bit (the next BAR holds the high half).
pub const BAR_MEMORY_64: u32 = 0x4;
/// Memory BAR bit 3: prefetchable.
pub const BAR_PREFETCHABLE: u32 = 0x8;
/// The address bits of an I/O BAR.
pub const BAR_IO_ADDRESS_MASK: u32 = !0x3;
/// The address bits of a memory BAR.
pub const BAR_MEMORY_ADDRESS_MASK: u32 = !0xf;

/// Capability IDs (PCI Code and ID Assignment Specification).
pub mod capability {
    /// Power management.
    pub const POWER_MANAGEMENT: u8 = 0x01;
    /// Message signalled interrupts.
    pub const MSI: u8 = 0x05;
    /// Vendor specific.
    pub const VENDOR: u8 = 0x09;
    /// PCI Express.
    pub const EXPRESS: u8 = 0x10;
    /// MSI-X.
    pub const MSI_X: u8 = 0x11;
    /// SATA index/data pair.
    pub const SATA: u8 = 0x12;
}

/// Class codes (base class << 8 | subclass).
pub mod class {
    /// Host bridge.
    pub const HOST_BRIDGE: u16 = 0x0600;
    /// ISA bridge.
    pub const ISA_BRIDGE: u16 = 0x0601;
    /// PCI-to-PCI bridge.
    pub const PCI_BRIDGE: u16 = 0x0604;
    /// VGA-compatible display controller.
    pub const VGA: u16 = 0x0300;
    /// Other display controller.
    pub const DISPLAY_OTHER: u16 = 0x0380;
}

bitflags::bitflags! {
    /// The command register bits a driver controls.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Command: u16 {
        /// Respond to I/O space accesses.
        const IO = 1 << 0;
        /// Respond to memory space accesses.
        const MEMORY = 1 << 1;
        /// Act as a bus master (DMA).
        const BUS_MASTER = 1 << 2;
        /// Disable the legacy INTx interrupt.
        const INTERRUPT_DISABLE = 1 << 10;
    }
}
