//! The bochs display's registers (QEMU `hw/display/bochs-display.c`, `vga.c`,
//! `include/hw/display/bochs-vbe.h`): the datasheet, apart from the driver.
//!
//! BAR0 is the linear framebuffer. BAR2 ("mmio") holds an EDID blob at +0, the VGA
//! ioports 0x3c0..0x3e0 at +0x400 (std VGA only), the DISPI (VBE) registers at +0x500
//! (16-bit, index × 2) and QEMU's extension registers at +0x600.

/// PCI IDs of QEMU's bochs-display and std VGA.
pub const VENDOR: u16 = 0x1234;
/// PCI device ID.
pub const DEVICE: u16 = 0x1111;

/// Offset of the EDID blob in BAR2.
pub const EDID_OFFSET: u64 = 0x000;
/// Length of one EDID block.
pub const EDID_BLOCK: usize = 128;
/// Offset of the VGA ioports 0x3c0.. in BAR2 (std VGA).
pub const VGA_IOPORTS_OFFSET: u64 = 0x400;
/// Offset of the DISPI registers in BAR2.
pub const DISPI_OFFSET: u64 = 0x500;

/// VGA attribute controller address/data write (0x3c0).
pub const VGA_ATTRIBUTE_WRITE: u64 = 0x3c0;
/// VGA input status 1, colour (0x3da): reading it resets the attribute flip-flop.
pub const VGA_INPUT_STATUS_1: u64 = 0x3da;
/// Attribute index bit that enables the palette (the screen); 0 blanks.
pub const VGA_ATTRIBUTE_PALETTE_ENABLE: u8 = 0x20;

/// DISPI register indices.
pub mod index {
    /// Interface ID.
    pub const ID: u16 = 0x0;
    /// Horizontal resolution.
    pub const XRES: u16 = 0x1;
    /// Vertical resolution.
    pub const YRES: u16 = 0x2;
    /// Bits per pixel.
    pub const BPP: u16 = 0x3;
    /// Enable flags.
    pub const ENABLE: u16 = 0x4;
    /// Bank (banked mode only).
    pub const BANK: u16 = 0x5;
    /// Virtual width (the pitch in pixels).
    pub const VIRT_WIDTH: u16 = 0x6;
    /// Virtual height.
    pub const VIRT_HEIGHT: u16 = 0x7;
    /// Scanout X offset.
    pub const X_OFFSET: u16 = 0x8;
    /// Scanout Y offset.
    pub const Y_OFFSET: u16 = 0x9;
    /// Video memory in 64 KiB units.
    pub const VIDEO_MEMORY_64K: u16 = 0xa;
}

/// The oldest and newest DISPI interface IDs.
pub const ID_MIN: u16 = 0xb0c0;
/// Newest known ID.
pub const ID_MAX: u16 = 0xb0c5;

/// ENABLE register bits.
pub mod enable {
    /// The DISPI interface drives the display.
    pub const ENABLED: u16 = 0x01;
    /// Reads of XRES/YRES/BPP return the maxima.
    pub const GETCAPS: u16 = 0x02;
    /// The linear framebuffer is used.
    pub const LFB_ENABLED: u16 = 0x40;
    /// Do not clear video memory on enable.
    pub const NO_CLEAR_MEMORY: u16 = 0x80;
}
