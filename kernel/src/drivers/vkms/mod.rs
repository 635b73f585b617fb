//! vkms: a virtual display on a faux device, composing its planes in memory at each
//! timer-driven vblank and reporting a CRC-32 of every composed frame.
//!
//! # Lifecycle (Linux's `vkms_create` / `vkms_destroy`)
//!
//! [`Vkms::create`] makes a faux device (bound, or an error), opens a devres group on it,
//! allocates the display device inside that group ([`drm::Device::new`]: the group then
//! holds the action that unplugs the display and drops its first reference), closes the
//! group and returns. Dropping the [`Vkms`] releases the group (unplug), drops the
//! handle's reference and destroys the faux device. If a client still holds the display
//! device, the object (and its managed output buffer) lives on, unplugged, until the
//! client drops it; the faux device is deleted at once regardless, and its parent
//! reference is put with the display's last reference.
//!
//! # Modes
//!
//! A virtual display has no timing limits of its own, so `mode_valid` accepts exactly
//! the connector's modes ([`Options::modes`]); anything else is refused before the
//! output frame is allocated (which comes from outside the heap reserve,
//! [`drm::quota`]).
//!
//! # Vblank and composition
//!
//! While the CRTC is active, a vblank is due every `1 / refresh` seconds of TSC time.
//! [`drm::Device::poll`] (called by waiting clients, [`drm::poll_all`] and
//! [`Vkms::wait_frame`]) runs a due vblank: compose, CRC, then
//! [`drm::Device::handle_vblank`] (which completes page flips). This is the kernel's
//! stand-in for vkms's hrtimer + composer workqueue; the timer tick wakes the waiter.
//!
//! Composition, for each pixel of the mode: start from black; the primary plane's pixel
//! (its top byte ignored) replaces it; the cursor plane (ARGB8888, straight alpha `a`)
//! blends over it per channel as `(cursor × a + below × (255 − a) + 127) / 255`, placed
//! by `kernel_core::display::rect::place`, which clips in `i64` (a cursor anywhere in
//! `i32` is composed or skipped, never overflowed). The
//! frame's top bytes are 0. The CRC is [`drm::crc::Crc32`] over the frame's pixels as
//! little-endian bytes, row by row.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;

use drivermodel::devres::GroupId;
use drivermodel::{DeviceModel, faux};
use kernel_core::display::compose::blend;
use kernel_core::display::rect;

use crate::arch::time;
use crate::drm::crc::Crc32;
use crate::drm::{self, Commit, Format, Hardware, Mode, Rect, State};

/// How many frame CRCs are kept.
const CRC_HISTORY: usize = 16;

/// The CRC of one composed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameCrc {
    /// The vblank count of the frame.
    pub sequence: u64,
    /// CRC-32 of the frame.
    pub crc: u32,
}

/// A vkms instance's configuration.
#[derive(Debug, Clone)]
pub struct Options {
    /// The connector's modes (preferred first).
    pub modes: Vec<Mode>,
    /// Whether there is a cursor plane.
    pub cursor: bool,
}

impl Default for Options {
    fn default() -> Self {
        let mode = |width, height| Mode::new(width, height, 60);
        let modes = [
            mode(1024, 768),
            mode(800, 600),
            mode(640, 480),
            mode(320, 240),
        ]
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(index, mode)| if index == 0 { mode.preferred() } else { mode })
        .collect();
        Self {
            modes,
            cursor: true,
        }
    }
}

/// The output side, shared by the driver (inside the display device) and the handle.
#[derive(Debug, Default)]
struct Output {
    /// Composed frame of the current mode (empty while off).
    frame: Vec<u32>,
    /// TSC deadline of the next vblank, and the period (0 while off).
    deadline: u64,
    period: u64,
    crcs: VecDeque<FrameCrc>,
}

/// The display driver object.
#[derive(Debug)]
struct Driver {
    output: Arc<spin::Mutex<Output>>,
    /// The connector's modes: the only ones `mode_valid` accepts.
    modes: Vec<Mode>,
}

impl drm::Driver for Driver {
    fn name(&self) -> &'static str {
        "vkms"
    }

    /// Only the connector's modes: a virtual display has no timing limits of its own,
    /// so without this check any mode up to 8192×8192 at 1000 Hz would be composed.
    fn mode_valid(&self, mode: &Mode) -> drm::Result<()> {
        Ok(drm::mode::offered(&self.modes, mode)?)
    }

    fn atomic_commit(&self, _hardware: &Hardware<'_>, commit: &Commit<'_>) -> drm::Result<()> {
        if !commit.modeset() {
            return Ok(()); // the next vblank composes the new planes
        }
        let mut output = self.output.lock();
        match commit.new.mode.filter(|_| commit.new.active) {
            Some(mode) => {
                let pixels = (mode.width() * mode.height()) as usize;
                output.frame = drm::quota::zeroed_words(pixels)?;
                output.period = time::counter_hz() / u64::from(mode.refresh_hz());
                output.deadline = time::counter() + output.period;
            }
            None => {
                output.frame = Vec::new();
                output.period = 0;
                output.crcs = VecDeque::new();
            }
        }
        Ok(())
    }

    fn has_vblank(&self) -> bool {
        true
    }

    fn poll(&self, device: &drm::Device, _hardware: &Hardware<'_>) {
        {
            let mut output = self.output.lock();
            let now = time::counter();
            if output.period == 0 || now < output.deadline {
                return;
            }
            output.deadline = (output.deadline + output.period).max(now + output.period / 2);
            let state = device.state();
            let crc = compose(&state, &mut output.frame);
            let sequence = device.vblank_count() + 1;
            if output.crcs.len() >= CRC_HISTORY {
                output.crcs.pop_front();
            }
            // The history grows fallibly: on an exhausted heap this frame's CRC is not
            // recorded (a vblank never aborts the kernel).
            if output.crcs.try_reserve(1).is_ok() {
                output.crcs.push_back(FrameCrc { sequence, crc });
            }
        }
        device.handle_vblank();
    }
}

/// Composes `state` into `frame` (the mode's size) and returns its CRC.
fn compose(state: &State, frame: &mut [u32]) -> u32 {
    let Some(mode) = state.mode else {
        return 0;
    };
    let width = mode.width() as usize;
    frame.fill(0);
    if let Some(framebuffer) = &state.primary.framebuffer {
        let source = state.primary.source;
        framebuffer.for_each_row(source, |y, row| {
            let out_y = (y as i64 - i64::from(source.y)) as usize;
            if let Some(line) = frame.get_mut(out_y * width..out_y * width + row.len()) {
                for (pixel, input) in line.iter_mut().zip(row) {
                    *pixel = input & 0x00ff_ffff;
                }
            }
        });
    }
    if let Some(cursor) = &state.cursor.framebuffer {
        let screen = Rect::sized(mode.width(), mode.height());
        // Clipped in i64: a cursor anywhere in i32 lands on screen or is skipped.
        if let Some(placed) = rect::place(state.cursor.source, state.cursor.destination, screen) {
            let (source, visible) = (placed.source, placed.destination);
            cursor.for_each_row(source, |y, row| {
                let out_y = (i64::from(visible.y) + i64::from(y) - i64::from(source.y)) as usize;
                let start = out_y * width + visible.x as usize;
                if let Some(line) = frame.get_mut(start..start + row.len()) {
                    for (pixel, input) in line.iter_mut().zip(row) {
                        *pixel = blend(*input, *pixel);
                    }
                }
            });
        }
    }
    let mut crc = Crc32::new();
    crc.update_pixels(frame);
    crc.finish()
}

/// A vkms instance: a faux device with a display device on it.
#[derive(Debug)]
pub struct Vkms {
    device: Arc<drm::Device>,
    group: GroupId,
    output: Arc<spin::Mutex<Output>>,
    faux: Option<faux::Registration>,
}

impl Vkms {
    /// Creates a vkms instance named `name` on `model`'s faux bus.
    ///
    /// # Errors
    ///
    /// The faux device's or the display device's creation error; nothing is left behind.
    pub fn create(model: &DeviceModel, name: &str, options: Options) -> drm::Result<Self> {
        let faux = faux::Registration::new(model, name, None)?;
        let devres = faux.device().devres();
        let group = devres.open_group()?;
        let output = Arc::new(spin::Mutex::new(Output::default()));
        let created = drm::Device::new(
            faux.device(),
            Driver {
                output: output.clone(),
                modes: options.modes.clone(),
            },
            drm::Config {
                connector_type: "Virtual",
                modes: options.modes,
                primary_formats: &[Format::Xrgb8888, Format::Argb8888],
                cursor: options.cursor,
            },
        );
        let device = match created.and_then(|device| {
            devres.close_group(Some(group))?;
            Ok(device)
        }) {
            Ok(device) => device,
            Err(error) => {
                let _ = devres.release_group(group);
                return Err(error);
            }
        };
        Ok(Self {
            device,
            group,
            output,
            faux: Some(faux),
        })
    }

    /// The display device.
    pub fn device(&self) -> &Arc<drm::Device> {
        &self.device
    }

    /// The faux device.
    pub fn faux_device(&self) -> Option<&drivermodel::Device> {
        self.faux.as_ref().map(|faux| &**faux.device())
    }

    /// The CRCs of the last frames, oldest first.
    pub fn crcs(&self) -> Vec<FrameCrc> {
        self.output.lock().crcs.iter().copied().collect()
    }

    /// Waits up to `timeout_micros` for a frame composed after vblank `after`.
    ///
    /// # Errors
    ///
    /// [`drm::Error::TimedOut`], [`drm::Error::Unplugged`].
    pub fn wait_frame(&self, after: u64, timeout_micros: u64) -> drm::Result<FrameCrc> {
        let mut found = None;
        drm::device::wait_until(self.device(), timeout_micros, || {
            found = self
                .output
                .lock()
                .crcs
                .iter()
                .find(|frame| frame.sequence > after)
                .copied();
            found.is_some()
        })?;
        found.ok_or(drm::Error::TimedOut)
    }
}

impl Drop for Vkms {
    fn drop(&mut self) {
        // vkms_destroy: the group's release unplugs the display and drops its first
        // reference; then the faux device goes. The handle's own reference to the
        // display is dropped with the fields, after this.
        if let Some(faux) = self.faux.take() {
            let _ = faux.device().devres().release_group(self.group);
            drop(faux);
        }
    }
}
