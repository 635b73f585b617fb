//! The boot demo: a user of the display subsystem, living beside the drivers.
//!
//! [`run`] tells three stories after boot:
//!
//! 1. **bochs** (when QEMU has a bochs display): a test pattern, the kernel log and the
//!    device tree on a text console ([`crate::drm::clients::log`]), and a live unbind and
//!    rebind of the bochs driver, after which the picture and the console come back;
//! 2. **a virtual display on a faux device** ([`virtual_display`], the seed's story):
//!    a vkms display created on a faux device, a known picture composed (its CRC-32
//!    printed next to the CRC of the expected frame), the faux device deleted, and every
//!    live-object counter ([`crate::counters`]) and the heap back where they were;
//! 3. **a shared buffer outliving its exporter** ([`sharing`]): a vgem buffer holding
//!    the same picture is exported, a vkms display imports and composes it (CRC checked),
//!    vgem's faux device is deleted and the next frame's CRC is the same; then vkms goes
//!    and every counter is back where it was.
//!
//! The shell's `vkms add NAME` / `vkms delete NAME` do the second story by hand;
//! `vgem add NAME` makes a vgem device whose buffer (the same picture) is exported, and
//! `vkms add NAME SHARED` shows a shared buffer, so that sharing's lifetimes can be
//! watched with `shared` ([`add_vgem`], [`add_virtual`]).
//!
//! # The picture (for the host-side screenshot test)
//!
//! Mode 1024×768 (when the connector offers it, which QEMU's EDID does; otherwise the
//! preferred mode, with the same layout at the same coordinates as far as it fits).
//! Pixels are `0x00RRGGBB`; rectangles are `x0..x1 × y0..y1`, end exclusive:
//!
//! | Area | Colour |
//! |---|---|
//! | `0..64 × 0..64` (top-left) | red `0x00FF0000` |
//! | `960..1024 × 0..64` (top-right) | green `0x0000FF00` |
//! | `0..64 × 704..768` (bottom-left) | blue `0x000000FF` |
//! | `960..1024 × 704..768` (bottom-right) | white `0x00FFFFFF` |
//! | `64..960 × 0..64`: eight bars 112 px wide, bar `i` at `x = 64 + 112 i` | [`BARS`]`[i]`: white, yellow, cyan, green, magenta, red, blue, black |
//! | `64..960 × 704..768`: a grey ramp | column `x` is grey level `(x − 64) × 255 / 895` in all three channels |
//! | `0..1024 × 64..704` outside the text | black `0x00000000` |
//! | text window `8..1016 × 72..696` | light grey `0x00C0C0C0` glyphs on black |
//!
//! This is drawn twice: at boot, and again after the live rebind, so a screenshot taken
//! at `kernel: boot complete` shows it with the rebound driver.

use alloc::sync::Arc;
use core::fmt::Write;

use drivermodel::DeviceModel;

use crate::arch::heap;
use crate::console;
use crate::counters::{self, Readings};
use crate::drivers::{bochs, vgem, vkms};
use crate::drm::clients::log::{Console, Log};
use crate::drm::crc::Crc32;
use crate::drm::{self, Client, Format, Mapping, Mode, Rect, Request, SharedBuffer};
use crate::init::BootInfo;
use crate::println;
use crate::text::FixedString;

/// The colour bars, left to right.
pub const BARS: [u32; 8] = [
    0x00ff_ffff,
    0x00ff_ff00,
    0x0000_ffff,
    0x0000_ff00,
    0x00ff_00ff,
    0x00ff_0000,
    0x0000_00ff,
    0x0000_0000,
];

/// The text window.
pub const TEXT_WINDOW: Rect = Rect::new(8, 72, 1008, 624);

/// Paints the test pattern (see the module docs) into a `mode`-sized framebuffer.
///
/// # Errors
///
/// [`drm::Error::Unplugged`].
pub fn draw_pattern(mapping: &Mapping, mode: Mode) -> drm::Result<()> {
    let (width, height) = (mode.width() as i32, mode.height() as i32);
    mapping.fill(Rect::sized(mode.width(), mode.height()), 0)?;
    mapping.fill(Rect::new(0, 0, 64, 64), 0x00ff_0000)?;
    mapping.fill(Rect::new(width - 64, 0, 64, 64), 0x0000_ff00)?;
    mapping.fill(Rect::new(0, height - 64, 64, 64), 0x0000_00ff)?;
    mapping.fill(Rect::new(width - 64, height - 64, 64, 64), 0x00ff_ffff)?;
    for (index, color) in BARS.iter().enumerate() {
        mapping.fill(Rect::new(64 + 112 * index as i32, 0, 112, 64), *color)?;
    }
    for x in 64..960_u32.min(mode.width()) {
        let level = (x - 64) * 255 / 895;
        let grey = level << 16 | level << 8 | level;
        mapping.fill(Rect::new(x as i32, height - 64, 1, 64), grey)?;
    }
    Ok(())
}

/// The registered display sink, kept for the kernel's lifetime.
static SINK: spin::Once<(Arc<Log>, Option<console::Registration>)> = spin::Once::new();

fn open_console() -> Option<Console> {
    let display = bochs::displays().into_iter().next()?;
    let mode = {
        let client = Client::open(&display).ok()?;
        let objects = client.resources().ok()?;
        let modes = client.connector(objects.connector).ok()?.modes;
        drm::mode::pick(&modes, 1024, 768)?
    };
    match Console::with_picture(&display, Some(mode), Some(TEXT_WINDOW), draw_pattern) {
        Ok(console) => Some(console),
        Err(error) => {
            println!("kernel: display: {error}");
            None
        }
    }
}

/// Runs the three stories (see the module docs).
pub fn run(boot: &BootInfo) {
    bochs_story(boot);
    let model = crate::devices::model();
    println!("kernel: demo: a virtual display on a faux device");
    match virtual_display(model, VIRTUAL_NAME) {
        Ok(report) => report.print(),
        Err(error) => println!("kernel: demo: virtual display: {error}"),
    }
    match sharing(model) {
        Ok(report) => report.print(),
        Err(error) => println!("kernel: demo: sharing: {error}"),
    }
}

/// The bochs story: picture and console, device tree, live unbind and rebind. Does
/// nothing without a bochs display.
fn bochs_story(boot: &BootInfo) {
    let started = boot.micros_since_entry();
    let Some(mut first) = open_console() else {
        println!("kernel: display: no bochs display; demo skipped");
        return;
    };
    let micros = boot.micros_since_entry();
    let mode = first.mode();
    let _ = writeln!(
        first,
        "drivermodel toy kernel: display console on {}x{}",
        mode.width(),
        mode.height()
    );
    println!(
        "kernel: display: first frame on screen {micros} us after entry ({}x{}, bochs-drm; demo started at {started} us)",
        mode.width(),
        mode.height()
    );
    let sink = Arc::new(Log::new(Some(first), open_console));
    let registration = match console::register(sink.clone()) {
        Ok(registration) => Some(registration),
        Err(error) => {
            println!("kernel: display: console sink: {error}");
            None
        }
    };
    let (sink, _) = SINK.call_once(|| (sink, registration));

    let model = crate::devices::model();
    println!("kernel: display: device tree:");
    for line in model.tree().lines() {
        println!("  {line}");
    }
    let Some(pci) = bochs::displays()
        .first()
        .and_then(|display| display.parent().map(drivermodel::Device::to_ref))
    else {
        return;
    };
    println!(
        "kernel: display: live unbind of {} from {}",
        bochs::DRIVER_NAME,
        pci.name()
    );
    let unbound = model.unbind(&pci);
    let old = sink.take_console();
    let unplugged = old
        .as_ref()
        .is_some_and(|console| console.client().device().is_unplugged());
    drop(old);
    println!(
        "kernel: display: unbind {:?}; the old display device unplugged: {unplugged}",
        unbound
    );
    let bound = model.bind(&pci);
    // The sink opens a console on the new display with the next line.
    println!("kernel: display: rebind {bound:?}");
    println!(
        "kernel: display: rebound: {} is {}; the picture and this console are back",
        pci.name(),
        pci.driver_name().unwrap_or_default()
    );
    println!("kernel: display: device tree after the rebind:");
    for line in model.tree().lines() {
        println!("  {line}");
    }
}

/// The faux device of the boot demo's virtual display.
pub const VIRTUAL_NAME: &str = "vkms-demo";

/// The virtual display's mode.
const VIRTUAL_SIZE: (u32, u32) = (64, 48);

/// What [`virtual_display`] saw.
#[derive(Debug, Clone)]
pub struct VirtualReport {
    /// The display device's name (`cardN`; heap-free, so the heap figures are exact).
    pub card: FixedString<16>,
    /// The mode composed.
    pub mode: Mode,
    /// The vblank of the composed frame.
    pub sequence: u64,
    /// The CRC vkms reported for it.
    pub crc: u32,
    /// The CRC of the expected frame, computed here from the picture.
    pub expected: u32,
    /// The counters before the faux device was created.
    pub before: Readings,
    /// The counters after it was deleted.
    pub after: Readings,
    /// Heap bytes in use before and after.
    pub heap: (usize, usize),
}

impl VirtualReport {
    /// Whether the frame was the expected one and everything was released.
    pub fn is_clean(&self) -> bool {
        self.crc == self.expected && self.before == self.after && self.heap.0 == self.heap.1
    }

    fn print(&self) {
        println!(
            "kernel: demo: {VIRTUAL_NAME}: {} on a faux device, {}x{}; frame {} CRC {:#010x} (expected {:#010x}: {})",
            self.card,
            self.mode.width(),
            self.mode.height(),
            self.sequence,
            self.crc,
            self.expected,
            if self.crc == self.expected {
                "match"
            } else {
                "MISMATCH"
            }
        );
        println!("kernel: demo: {VIRTUAL_NAME} deleted; counters before and after:");
        for (counter, (before, after)) in counters::ALL
            .iter()
            .zip(self.before.0.iter().zip(self.after.0))
        {
            println!("  {}: {before} -> {after}", counter.unit);
        }
        println!("  heap bytes: {} -> {}", self.heap.0, self.heap.1);
        println!(
            "kernel: demo: every counter back where it was: {}",
            if self.before == self.after && self.heap.0 == self.heap.1 {
                "yes"
            } else {
                "NO"
            }
        );
    }
}

/// The picture of the virtual display: four quadrants, red, green, blue and white, with
/// a one-pixel grey frame.
fn virtual_pixel(x: u32, y: u32) -> u32 {
    let (width, height) = VIRTUAL_SIZE;
    if x == 0 || y == 0 || x + 1 == width || y + 1 == height {
        return 0x0080_8080;
    }
    match (x < width / 2, y < height / 2) {
        (true, true) => 0x00ff_0000,
        (false, true) => 0x0000_ff00,
        (true, false) => 0x0000_00ff,
        (false, false) => 0x00ff_ffff,
    }
}

/// The seed's story: creates a vkms display named `name` on a faux device of `model`,
/// shows a known picture, waits for a composed frame and its CRC, deletes the faux
/// device, and reads the counters and the heap before and after. (The first faux
/// device of a model also creates its faux bus, which stays: the heap figures are equal
/// from the second faux device of a model on, as at boot, after the ramdisk's.)
///
/// # Errors
///
/// Any display or driver-model error on the way (everything created is released first).
pub fn virtual_display(model: &DeviceModel, name: &str) -> drm::Result<VirtualReport> {
    let before = Readings::take();
    let heap_before = heap::used_bytes();
    let (card, frame) = {
        let shown = Shown::create(model, name, None)?;
        (shown.card, shown.frame)
        // `shown` drops here: its client goes, then the faux device is deleted, the
        // display unplugged and released with its last reference.
    };
    Ok(VirtualReport {
        card,
        mode: virtual_mode()?,
        sequence: frame.sequence,
        crc: frame.crc,
        expected: expected_virtual_crc(),
        before,
        after: Readings::take(),
        heap: (heap_before, heap::used_bytes()),
    })
}

fn virtual_mode() -> drm::Result<Mode> {
    Ok(Mode::new(VIRTUAL_SIZE.0, VIRTUAL_SIZE.1, 60)?)
}

/// The CRC-32 of the virtual display's picture, computed from the picture itself.
fn expected_virtual_crc() -> u32 {
    let (width, height) = VIRTUAL_SIZE;
    let mut expected = Crc32::new();
    for y in 0..height {
        for x in 0..width {
            expected.update_pixels(&[virtual_pixel(x, y)]);
        }
    }
    expected.finish()
}

/// A vkms display on a faux device showing the virtual picture, with the client that
/// shows it (dropped before the display: fields drop in order).
#[derive(Debug)]
struct Shown {
    /// Shows the picture; held for as long as the display lives, dropped first.
    _client: Client,
    /// The picture's mapping.
    _mapping: Mapping,
    /// The faux device and its display, deleted last.
    _display: vkms::Vkms,
    name: FixedString<32>,
    card: FixedString<16>,
    frame: vkms::FrameCrc,
}

impl Shown {
    /// Creates the display, shows the picture (its own, or the shared buffer `shared`,
    /// imported) and waits for its first composed frame.
    fn create(model: &DeviceModel, name: &str, shared: Option<u32>) -> drm::Result<Self> {
        let (width, height) = VIRTUAL_SIZE;
        let mode = virtual_mode()?;
        let display = vkms::Vkms::create(
            model,
            name,
            vkms::Options {
                modes: alloc::vec![mode.preferred()],
                cursor: false,
            },
        )?;
        let card = FixedString::from_fmt(format_args!("{}", display.device().name()));
        let client = Client::open(display.device())?;
        let objects = client.resources()?;
        let (framebuffer, mapping) = match shared {
            Some(id) => {
                let import = client.import_buffer(id)?;
                let framebuffer = client.add_framebuffer(
                    import.handle,
                    width,
                    height,
                    Format::Xrgb8888.fourcc(),
                    import.pitch,
                )?;
                // The framebuffer and the mapping hold the import; the handle goes.
                let mapping = client.map_dumb(import.handle);
                client.destroy_dumb(import.handle)?;
                (framebuffer, mapping?)
            }
            None => {
                let (framebuffer, mapping) = client.create_mapped_framebuffer(mode)?;
                draw_virtual(&mapping)?;
                (framebuffer, mapping)
            }
        };
        let shown = display.device().vblank_count();
        client.commit(&Request::new().show_full_screen(&objects, mode, framebuffer))?;
        let frame = display.wait_frame(shown, 1_000_000)?;
        Ok(Self {
            _client: client,
            _mapping: mapping,
            _display: display,
            name: FixedString::from_fmt(format_args!("{name}")),
            card,
            frame,
        })
    }
}

/// Draws the virtual picture into `mapping` (a buffer of at least [`VIRTUAL_SIZE`]).
fn draw_virtual(mapping: &Mapping) -> drm::Result<()> {
    let (width, height) = VIRTUAL_SIZE;
    let stride = (mapping.pitch() / 4) as usize;
    mapping.with_pixels(|pixels| {
        for (y, row) in (0..height).zip(pixels.chunks_mut(stride)) {
            for (x, pixel) in (0..width).zip(row.iter_mut()) {
                *pixel = virtual_pixel(x, y);
            }
        }
    })
}

/// The virtual displays the shell created, oldest first.
static SHOWN: spin::Mutex<alloc::vec::Vec<Shown>> = spin::Mutex::new(alloc::vec::Vec::new());

/// A virtual display as the shell lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VirtualDisplay {
    /// The faux device's name.
    pub name: FixedString<32>,
    /// The display device's name (`cardN`).
    pub card: FixedString<16>,
    /// The first composed frame's vblank count and CRC.
    pub frame: vkms::FrameCrc,
    /// The CRC the picture should have.
    pub expected: u32,
}

/// The shell's `vkms add NAME [SHARED]`: a virtual display on a new faux device `NAME` of
/// `model`, showing the demo's picture (or the shared buffer `shared`, imported: a
/// `vgem add` buffer holds the same picture) until [`delete_virtual`].
///
/// # Errors
///
/// The faux device's or the display's error (a taken name:
/// [`drivermodel::Error::NameTaken`]), the import's refusal (a stale ID, a buffer too
/// small); nothing is left behind.
pub fn add_virtual(
    model: &DeviceModel,
    name: &str,
    shared: Option<u32>,
) -> drm::Result<VirtualDisplay> {
    let mut shown = SHOWN.lock();
    shown.try_reserve(1).map_err(|_| drm::Error::OutOfMemory)?;
    let display = Shown::create(model, name, shared)?;
    let listed = VirtualDisplay {
        name: display.name,
        card: display.card,
        frame: display.frame,
        expected: expected_virtual_crc(),
    };
    shown.push(display);
    Ok(listed)
}

/// The shell's `vkms delete NAME`: deletes the virtual display `NAME` (its client, then
/// its faux device). Returns whether there was one.
pub fn delete_virtual(name: &str) -> bool {
    let removed = {
        let mut shown = SHOWN.lock();
        let position = shown.iter().position(|shown| shown.name.as_str() == name);
        let removed = position.map(|position| shown.remove(position));
        if shown.is_empty() {
            *shown = alloc::vec::Vec::new(); // give the list's memory back
        }
        removed
    };
    // Dropped outside the lock: the client, then the faux device and its display.
    let found = removed.is_some();
    drop(removed);
    found
}

/// The virtual displays the shell created.
///
/// # Errors
///
/// [`drm::Error::OutOfMemory`] when the heap has no room for the listing.
pub fn virtual_displays() -> drm::Result<alloc::vec::Vec<VirtualDisplay>> {
    let expected = expected_virtual_crc();
    let shown = SHOWN.lock();
    let mut displays = alloc::vec::Vec::new();
    displays
        .try_reserve_exact(shown.len())
        .map_err(|_| drm::Error::OutOfMemory)?;
    displays.extend(shown.iter().map(|shown| VirtualDisplay {
        name: shown.name,
        card: shown.card,
        frame: shown.frame,
        expected,
    }));
    Ok(displays)
}

/// A vgem device the shell created, with the client whose buffer it exported.
#[derive(Debug)]
struct Exporting {
    /// The shared buffer handle; dropped first.
    _shared: SharedBuffer,
    /// The picture's mapping.
    _mapping: Mapping,
    /// The client that created the buffer.
    _client: Client,
    /// The faux device and its display device, deleted last.
    _vgem: vgem::Vgem,
    listed: VgemDevice,
}

/// A vgem device as the shell lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VgemDevice {
    /// The faux device's name.
    pub name: FixedString<32>,
    /// The display device's name (`cardN`).
    pub card: FixedString<16>,
    /// The ID of the shared buffer it exported.
    pub shared: u32,
}

/// The vgem devices the shell created, oldest first.
static EXPORTING: spin::Mutex<alloc::vec::Vec<Exporting>> =
    spin::Mutex::new(alloc::vec::Vec::new());

/// The shell's `vgem add NAME`: a vgem device on a new faux device `NAME` of `model`,
/// with a client holding a buffer of the virtual picture, exported, until
/// [`delete_vgem`].
///
/// # Errors
///
/// The faux device's, the display device's or the buffer's error; nothing is left
/// behind.
pub fn add_vgem(model: &DeviceModel, name: &str) -> drm::Result<VgemDevice> {
    let mut exporting = EXPORTING.lock();
    exporting
        .try_reserve(1)
        .map_err(|_| drm::Error::OutOfMemory)?;
    let device = vgem::Vgem::create(model, name)?;
    let client = Client::open(device.device())?;
    let (width, height) = VIRTUAL_SIZE;
    let buffer = client.create_dumb(width, height, 32)?;
    let mapping = client.map_dumb(buffer.handle)?;
    draw_virtual(&mapping)?;
    let shared = client.export_buffer(buffer.handle)?;
    client.destroy_dumb(buffer.handle)?;
    let listed = VgemDevice {
        name: FixedString::from_fmt(format_args!("{name}")),
        card: FixedString::from_fmt(format_args!("{}", device.device().name())),
        shared: shared.id(),
    };
    exporting.push(Exporting {
        _shared: shared,
        _mapping: mapping,
        _client: client,
        _vgem: device,
        listed,
    });
    Ok(listed)
}

/// The shell's `vgem delete NAME`: drops the shared buffer handle and the client, then
/// deletes the faux device. A display that shows the buffer keeps it (and the vgem
/// device object) until it lets go. Returns whether there was one.
pub fn delete_vgem(name: &str) -> bool {
    let removed = {
        let mut exporting = EXPORTING.lock();
        let position = exporting
            .iter()
            .position(|exporting| exporting.listed.name.as_str() == name);
        let removed = position.map(|position| exporting.remove(position));
        if exporting.is_empty() {
            *exporting = alloc::vec::Vec::new(); // give the list's memory back
        }
        removed
    };
    let found = removed.is_some();
    drop(removed);
    found
}

/// The vgem devices the shell created.
///
/// # Errors
///
/// [`drm::Error::OutOfMemory`] when the heap has no room for the listing.
pub fn vgem_devices() -> drm::Result<alloc::vec::Vec<VgemDevice>> {
    let exporting = EXPORTING.lock();
    let mut devices = alloc::vec::Vec::new();
    devices
        .try_reserve_exact(exporting.len())
        .map_err(|_| drm::Error::OutOfMemory)?;
    devices.extend(exporting.iter().map(|exporting| exporting.listed));
    Ok(devices)
}

/// What [`sharing`] saw.
#[derive(Debug, Clone, Copy)]
pub struct SharingReport {
    /// The shared buffer's ID.
    pub shared: u32,
    /// vkms's CRC of the first frame showing the import, and of the first frame after
    /// vgem's faux device was deleted.
    pub crcs: (u32, u32),
    /// The CRC of the picture, computed here.
    pub expected: u32,
    /// Whether vgem's display device object was still alive (unplugged) while vkms
    /// showed its buffer, after its faux device was deleted.
    pub exporter_outlived: bool,
    /// The counters before and after.
    pub counters: (Readings, Readings),
}

impl SharingReport {
    /// Whether both frames were the picture, the exporter outlived its faux device and
    /// every counter came back.
    pub fn is_clean(&self) -> bool {
        self.crcs == (self.expected, self.expected)
            && self.exporter_outlived
            && self.counters.0 == self.counters.1
    }

    fn print(&self) {
        let verdict = |crc: u32| {
            if crc == self.expected {
                "match"
            } else {
                "MISMATCH"
            }
        };
        println!(
            "kernel: demo: sharing: vgem-demo exported shared buffer {:#010x}; vkms-share composes it: CRC {:#010x} (expected {:#010x}: {})",
            self.shared,
            self.crcs.0,
            self.expected,
            verdict(self.crcs.0)
        );
        println!(
            "kernel: demo: sharing: vgem-demo deleted; next frame CRC {:#010x} ({}); vgem's display object lived on: {}; counters back where they were: {}",
            self.crcs.1,
            verdict(self.crcs.1),
            if self.exporter_outlived { "yes" } else { "NO" },
            if self.counters.0 == self.counters.1 {
                "yes"
            } else {
                "NO"
            }
        );
    }
}

/// The third story: a vgem device on faux device `vgem-demo` exports a buffer of the
/// virtual picture, a vkms display on `vkms-share` shows it, `vgem-demo` is deleted while
/// vkms composes, and then vkms goes (see [`drm::prime`]).
///
/// # Errors
///
/// Any display or driver-model error on the way (everything created is released first).
pub fn sharing(model: &DeviceModel) -> drm::Result<SharingReport> {
    let before = Readings::take();
    let (shared, crcs, exporter_outlived) = {
        let exporter = vgem::Vgem::create(model, "vgem-demo")?;
        let client = Client::open(exporter.device())?;
        let (width, height) = VIRTUAL_SIZE;
        let buffer = client.create_dumb(width, height, 32)?;
        let mapping = client.map_dumb(buffer.handle)?;
        draw_virtual(&mapping)?;
        let shared = client.export_buffer(buffer.handle)?;
        drop((mapping, client));
        let shown = Shown::create(model, "vkms-share", Some(shared.id()))?;
        let id = shared.id();
        let devices = drm::counts().devices;
        // The faux device goes, and with the handle the exporter's last reference
        // but the import's.
        drop((shared, exporter));
        let exporter_outlived = drm::counts().devices == devices;
        let after = shown._display.wait_frame(shown.frame.sequence, 1_000_000)?;
        (id, (shown.frame.crc, after.crc), exporter_outlived)
    };
    Ok(SharingReport {
        shared,
        crcs,
        expected: expected_virtual_crc(),
        exporter_outlived,
        counters: (before, Readings::take()),
    })
}
