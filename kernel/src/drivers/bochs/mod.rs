//! bochs: QEMU's bochs-display (`-device bochs-display`, class 0x0380) and std VGA
//! (`-vga std`, class 0x0300), PCI 1234:1111, shaped like Linux's
//! `drivers/gpu/drm/tiny/bochs.c`: register constants ([`regs`]); device state grouped
//! by role; raw accessors; hardware ops (init, blank, set mode, set base); the display
//! pipeline's ops; the PCI driver with probe and remove last.
//!
//! # How a frame reaches the screen
//!
//! Clients draw into dumb buffers in RAM. A commit programs the DISPI registers on a mode
//! change (`ENABLE=0`, `XRES`, `YRES`, `BPP=32`, `VIRT_WIDTH`, `VIRT_HEIGHT`, offsets 0,
//! then `ENABLE=ENABLED|LFB_ENABLED`) and copies the damaged rectangles (all of the
//! plane after a mode or framebuffer change) from the framebuffer into BAR0, which is
//! scanned out from offset 0 with a pitch of `width × 4` (a shadow-buffered plane, as
//! Linux's simple drivers do). Disabling blanks the screen (VGA attribute palette off on
//! std VGA) and turns DISPI off. There is no vblank interrupt: flip events complete at
//! the end of the commit.
//!
//! An imported buffer ([`drm::prime`]: a vgem buffer, say) is scanned out the same way:
//! **copied** into BAR0 at each commit and damage update. bochs can only scan out of its
//! own video memory, so a direct scanout of RAM is impossible; the copy also means the
//! exporter's memory is only ever read by the importer's commit, never by the hardware,
//! and nothing of the exporter's driver runs.
//!
//! BAR0 is mapped write-combining through the PAT on x86_64 ([`crate::arch::cache`]) for the
//! binding's lifetime.
//!
//! # Unplug
//!
//! Both BARs are claimed through the PCI bus as `Devres<MmioWindow>`: revoked when the
//! binding ends. Every register or framebuffer access in the display pipeline runs with a
//! [`drm::Hardware`] token (inside the unplug guard) *and* through
//! [`Devres::try_access`](drivermodel::Devres::try_access). Remove (the drop of the
//! binding state) first shuts the pipeline down (blank) and unplugs the display device;
//! then the devres release drops the device's first reference and the BAR claims. A
//! client that still holds the display sees [`drm::Error::Unplugged`] from then on.

pub mod regs;

use alloc::sync::Arc;
use alloc::vec::Vec;

use drivermodel::context::Core;
use drivermodel::{Devres, IdEntry};

use crate::arch::cache;
use crate::arch::io::MmioWindow;
use crate::bus::pci::{self, Command, Id, PciDevice};
use crate::drm::{self, Commit, Format, Hardware, Mode, Rect};
use crate::println;

/// The driver's name.
pub const DRIVER_NAME: &str = "bochs-drm";

/// Modes offered when the device has no EDID.
const FALLBACK_MODES: [(u32, u32); 3] = [(1024, 768), (800, 600), (640, 480)];

// ---- device state, grouped by role ----

/// The display driver object, owned by the display device.
#[derive(Debug)]
struct Bochs {
    /// BAR2: EDID, VGA ioports, DISPI registers.
    mmio: Devres<MmioWindow>,
    /// BAR0: the framebuffer.
    vram: Devres<MmioWindow>,
    /// Whether this is std VGA (class 0x0300), with VGA ioports to blank through.
    vga: bool,
    /// Usable video memory in bytes.
    vram_size: u64,
}

// ---- raw accessors ----

/// The DISPI and VGA registers, borrowed from the claimed BAR2.
struct Registers<'a>(&'a MmioWindow);

fn register_error(_: crate::arch::io::OutOfWindow) -> drm::Error {
    drm::Error::Driver {
        message: "register outside BAR2",
    }
}

impl Registers<'_> {
    fn read(&self, index: u16) -> drm::Result<u16> {
        self.0
            .read_u16(regs::DISPI_OFFSET + u64::from(index) * 2)
            .map_err(register_error)
    }

    fn write(&self, index: u16, value: u16) -> drm::Result<()> {
        self.0
            .write_u16(regs::DISPI_OFFSET + u64::from(index) * 2, value)
            .map_err(register_error)
    }

    fn vga_read(&self, port: u64) -> drm::Result<u8> {
        self.0
            .read_u8(regs::VGA_IOPORTS_OFFSET + port - regs::VGA_ATTRIBUTE_WRITE)
            .map_err(register_error)
    }

    fn vga_write(&self, port: u64, value: u8) -> drm::Result<()> {
        self.0
            .write_u8(
                regs::VGA_IOPORTS_OFFSET + port - regs::VGA_ATTRIBUTE_WRITE,
                value,
            )
            .map_err(register_error)
    }

    // ---- hardware ops ----

    /// Checks the DISPI ID; returns it and the video memory size.
    fn init(&self) -> drm::Result<(u16, u64)> {
        let id = self.read(regs::index::ID)?;
        if !(regs::ID_MIN..=regs::ID_MAX).contains(&id) {
            return Err(drm::Error::Driver {
                message: "no DISPI interface (bad ID)",
            });
        }
        let memory = u64::from(self.read(regs::index::VIDEO_MEMORY_64K)?) * 64 * 1024;
        Ok((id, memory))
    }

    /// Reads the EDID's base block.
    fn edid(&self) -> drm::Result<[u8; regs::EDID_BLOCK]> {
        let mut block = [0; regs::EDID_BLOCK];
        self.0
            .read_bytes(regs::EDID_OFFSET, &mut block)
            .map_err(register_error)?;
        Ok(block)
    }

    /// Blanks (or unblanks) the screen through the VGA attribute controller.
    fn blank(&self, vga: bool, blank: bool) -> drm::Result<()> {
        if vga {
            self.vga_read(regs::VGA_INPUT_STATUS_1)?; // reset the flip-flop
            let value = if blank {
                0
            } else {
                regs::VGA_ATTRIBUTE_PALETTE_ENABLE
            };
            self.vga_write(regs::VGA_ATTRIBUTE_WRITE, value)?;
        }
        Ok(())
    }

    /// Programs `mode` at 32 bpp with the linear framebuffer.
    fn set_mode(&self, vga: bool, mode: &Mode) -> drm::Result<()> {
        use regs::index::*;
        let narrow = |value: u32| {
            u16::try_from(value).map_err(|_| drm::Error::InvalidMode {
                reason: "mode too large for DISPI",
            })
        };
        let (width, height) = (narrow(mode.width())?, narrow(mode.height())?);
        self.blank(vga, false)?;
        self.write(ENABLE, 0)?;
        self.write(XRES, width)?;
        self.write(YRES, height)?;
        self.write(BPP, 32)?;
        self.write(VIRT_WIDTH, width)?;
        self.write(VIRT_HEIGHT, height)?;
        self.write(BANK, 0)?;
        self.set_base(0, 0)?;
        self.write(ENABLE, regs::enable::ENABLED | regs::enable::LFB_ENABLED)
    }

    /// Scans out from pixel `(x, y)` of video memory.
    fn set_base(&self, x: u16, y: u16) -> drm::Result<()> {
        self.write(regs::index::X_OFFSET, x)?;
        self.write(regs::index::Y_OFFSET, y)
    }

    /// Blanks and turns DISPI off.
    fn disable(&self, vga: bool) -> drm::Result<()> {
        self.blank(vga, true)?;
        self.write(regs::index::ENABLE, 0)
    }
}

// ---- display pipeline ops ----

impl drm::Driver for Bochs {
    fn name(&self) -> &'static str {
        DRIVER_NAME
    }

    fn mode_valid(&self, mode: &Mode) -> drm::Result<()> {
        let bytes = u64::from(mode.width()) * u64::from(mode.height()) * 4;
        if bytes > self.vram_size {
            return Err(drm::Error::InvalidMode {
                reason: "mode needs more video memory than the device has",
            });
        }
        if mode.width() > u32::from(u16::MAX) || mode.height() > u32::from(u16::MAX) {
            return Err(drm::Error::InvalidMode {
                reason: "mode too large for DISPI",
            });
        }
        Ok(())
    }

    fn atomic_commit(&self, _hardware: &Hardware<'_>, commit: &Commit<'_>) -> drm::Result<()> {
        let mmio = self.mmio.try_access().ok_or(drm::Error::Unplugged)?;
        let registers = Registers(&mmio);
        let mode = match commit.new.mode.filter(|_| commit.new.active) {
            Some(mode) => mode,
            None => return registers.disable(self.vga),
        };
        if commit.modeset() {
            registers.set_mode(self.vga, &mode)?;
        }
        let Some(framebuffer) = &commit.new.primary.framebuffer else {
            return Ok(());
        };
        let vram = self.vram.try_access().ok_or(drm::Error::Unplugged)?;
        let full = [Rect::sized(mode.width(), mode.height())];
        let damage = commit.damage.unwrap_or(&full);
        let source = commit.new.primary.source;
        let pitch = u64::from(mode.width()) * 4;
        for rect in damage {
            let mut result = Ok(());
            framebuffer.for_each_row(rect.offset(source.x, source.y), |y, row| {
                let screen_y = u64::from(y) - source.y as u64;
                let screen_x = (rect.x.max(0)) as u64;
                if result.is_ok() {
                    result = vram.write_u32_slice(screen_y * pitch + screen_x * 4, row);
                }
            });
            result.map_err(|_| drm::Error::Driver {
                message: "framebuffer copy outside BAR0",
            })?;
        }
        Ok(())
    }
}

// ---- PCI driver: probe and remove ----

/// The PCI driver.
#[derive(Debug)]
pub struct Driver;

/// What a binding keeps: the display device. Dropping it is remove.
#[derive(Debug)]
pub struct State {
    display: Arc<drm::Device>,
}

impl State {
    /// The display device.
    pub fn display(&self) -> &Arc<drm::Device> {
        &self.display
    }
}

impl Drop for State {
    fn drop(&mut self) {
        // Remove: blank while the hardware is still ours, then fence every later access.
        self.display.shutdown();
        self.display.unplug();
    }
}

static ID_TABLE: [IdEntry<Id, ()>; 1] = [IdEntry::new(Id::device(regs::VENDOR, regs::DEVICE), ())];

/// The connector's modes: the EDID's that fit, else a fixed list.
fn modes(registers: &Registers<'_>, vram_size: u64) -> Vec<Mode> {
    let fits = |mode: &Mode| u64::from(mode.width()) * u64::from(mode.height()) * 4 <= vram_size;
    let mut modes: Vec<Mode> = registers
        .edid()
        .ok()
        .and_then(|edid| drm::edid::parse_edid(&edid).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(fits)
        .collect();
    if modes.is_empty() {
        modes = FALLBACK_MODES
            .iter()
            .filter_map(|(width, height)| Mode::new(*width, *height, 60).ok())
            .filter(fits)
            .collect();
    }
    modes
}

impl drivermodel::Driver for Driver {
    type Bus = pci::Pci;
    type IdInfo = ();
    type State = State;

    fn name(&self) -> &str {
        DRIVER_NAME
    }

    fn id_table(&self) -> &[IdEntry<Id, ()>] {
        &ID_TABLE
    }

    fn probe(&self, device: &drivermodel::Device<Core>, _info: &()) -> drivermodel::Result<State> {
        let pci = PciDevice::new(device)?;
        let vga = pci.function().class >> 8 == u32::from(pci::regs::class::VGA);
        pci.enable(Command::MEMORY)?;
        let mmio = pci.claim_memory_bar(2)?;
        let vram = pci.claim_memory_bar(0)?;
        // Write-combining for the framebuffer, undone at unbind before the BAR goes.
        match cache::map_write_combining(vram.access(device)?) {
            Ok(mapping) => {
                device.devres().alloc(mapping)?;
            }
            Err(error) => println!("{DRIVER_NAME}: framebuffer not write-combined: {error}"),
        }
        let (modes, vram_size) = {
            let registers = Registers(mmio.access(device)?);
            let (_, memory) = registers.init()?;
            let vram_size = memory.min(vram.access(device)?.length());
            (modes(&registers, vram_size), vram_size)
        };
        let display = drm::Device::new(
            device,
            Bochs {
                mmio,
                vram,
                vga,
                vram_size,
            },
            drm::Config {
                connector_type: if vga { "VGA" } else { "Virtual" },
                modes,
                primary_formats: &[Format::Xrgb8888, Format::Argb8888],
                cursor: false,
            },
        )?;
        Ok(State { display })
    }
}

/// The bochs display devices bound now (their display devices).
pub fn displays() -> Vec<Arc<drm::Device>> {
    drm::devices()
        .into_iter()
        .filter(|device| device.driver_name() == DRIVER_NAME)
        .collect()
}
