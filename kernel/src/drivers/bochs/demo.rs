//! The boot demo on the bochs display: a test pattern, the kernel log and device tree on
//! a text console, and a live unbind and rebind of the bochs driver.
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

use crate::console;
use crate::drm::clients::log::{Console, Log};
use crate::drm::{self, Mapping, Mode, Rect};
use crate::init::BootInfo;
use crate::println;

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
    let display = super::displays().into_iter().next()?;
    let wanted = Mode::new(1024, 768, 60).ok();
    let mode = {
        let client = drm::Client::open(&display).ok()?;
        let objects = client.resources().ok()?;
        let modes = client.connector(objects.connector).ok()?.modes;
        modes
            .iter()
            .find(|mode| {
                wanted.is_some_and(|wanted| {
                    (mode.width(), mode.height()) == (wanted.width(), wanted.height())
                })
            })
            .or(modes.first())
            .copied()?
    };
    match Console::with_picture(&display, Some(mode), Some(TEXT_WINDOW), draw_pattern) {
        Ok(console) => Some(console),
        Err(error) => {
            println!("kernel: display: {error}");
            None
        }
    }
}

/// Runs the demo: picture and console, device tree, live unbind and rebind of bochs.
/// Does nothing without a bochs display.
pub fn run(boot: &BootInfo) {
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
    let Some(pci) = super::displays()
        .first()
        .and_then(|display| display.parent().map(drivermodel::Device::to_ref))
    else {
        return;
    };
    println!(
        "kernel: display: live unbind of {} from {}",
        super::DRIVER_NAME,
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
