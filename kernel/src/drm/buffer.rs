//! Dumb buffers (memory a client draws into) and framebuffers (a buffer described as an
//! image: size, format, pitch).
//!
//! Buffers live in kernel RAM and belong to the display device's object lifetime, not to
//! the driver's binding: after an unplug a client still holds them until it drops them
//! (Linux keeps GEM objects as `drmm`/refcounted memory for the same reason). Scanout
//! hardware is fed from them by the driver's commit, which copies the damaged area
//! (shadow-buffered planes, as Linux's simple drivers do).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use super::error::{Error, Result};
use super::format::{Format, Rect};
use super::mode::MAX_DIMENSION;

/// The largest dumb buffer handed out (64 MiB).
pub const MAX_BUFFER_BYTES: u64 = 64 << 20;

pub(crate) static LIVE_BUFFERS: AtomicUsize = AtomicUsize::new(0);
pub(crate) static LIVE_FRAMEBUFFERS: AtomicUsize = AtomicUsize::new(0);

/// The size and pitch of a dumb buffer, computed with every overflow checked.
///
/// # Errors
///
/// [`Error::ZeroSize`], [`Error::TooLarge`] (above 32768 per dimension),
/// [`Error::UnsupportedBpp`] (only 32), [`Error::Overflow`] when `pitch × height`
/// overflows `u32`, [`Error::BufferTooLarge`] above [`MAX_BUFFER_BYTES`].
pub fn dumb_layout(width: u32, height: u32, bpp: u32) -> Result<(u32, u64)> {
    /// Dumb buffers may be larger than any mode (a virtual desktop) but not unboundedly.
    const LIMIT: u32 = 4 * MAX_DIMENSION;
    if width == 0 || height == 0 {
        return Err(Error::ZeroSize {
            what: "dumb buffer",
        });
    }
    for (what, value) in [("dumb buffer width", width), ("dumb buffer height", height)] {
        if value > LIMIT {
            return Err(Error::TooLarge {
                what,
                value,
                limit: LIMIT,
            });
        }
    }
    if bpp != 32 {
        return Err(Error::UnsupportedBpp { bpp });
    }
    let pitch = width.checked_mul(bpp / 8).ok_or(Error::Overflow {
        what: "width × bytes per pixel",
    })?;
    let size = pitch.checked_mul(height).ok_or(Error::Overflow {
        what: "pitch × height",
    })?;
    if u64::from(size) > MAX_BUFFER_BYTES {
        return Err(Error::BufferTooLarge {
            size: u64::from(size),
            limit: MAX_BUFFER_BYTES,
        });
    }
    Ok((pitch, u64::from(size)))
}

/// A dumb buffer: zeroed memory, 32-bit words.
#[derive(Debug)]
pub struct Buffer {
    width: u32,
    height: u32,
    pitch: u32,
    memory: spin::Mutex<Vec<u32>>,
}

impl Buffer {
    /// Allocates a zeroed buffer; see [`dumb_layout`].
    ///
    /// # Errors
    ///
    /// As [`dumb_layout`], or [`Error::OutOfMemory`].
    pub fn new(width: u32, height: u32, bpp: u32) -> Result<Self> {
        let (pitch, size) = dumb_layout(width, height, bpp)?;
        let words = (size / 4) as usize;
        let mut memory = Vec::new();
        memory
            .try_reserve_exact(words)
            .map_err(|_| Error::OutOfMemory)?;
        memory.resize(words, 0);
        LIVE_BUFFERS.fetch_add(1, Ordering::Relaxed);
        Ok(Self {
            width,
            height,
            pitch,
            memory: spin::Mutex::new(memory),
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Bytes per row.
    pub fn pitch(&self) -> u32 {
        self.pitch
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        u64::from(self.pitch) * u64::from(self.height)
    }

    /// Runs `function` on the buffer's words (row `y` starts at `y × pitch / 4`).
    pub fn with_words<R>(&self, function: impl FnOnce(&mut [u32]) -> R) -> R {
        function(&mut self.memory.lock())
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        LIVE_BUFFERS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A framebuffer: a buffer seen as a `width × height` image of `format` with `pitch`.
///
/// # Invariants
///
/// The image lies inside the buffer; `pitch` is a multiple of 4 and at least
/// `width × bytes per pixel` (checked by `Framebuffer::validate` before `new`).
#[derive(Debug)]
pub struct Framebuffer {
    pub(crate) id: u32,
    pub(crate) owner: u32,
    width: u32,
    height: u32,
    format: Format,
    pitch: u32,
    buffer: alloc::sync::Arc<Buffer>,
}

impl Framebuffer {
    /// A framebuffer whose description passed [`validate`](Self::validate) (which
    /// returned `format`).
    pub(crate) fn new(
        id: u32,
        owner: u32,
        buffer: alloc::sync::Arc<Buffer>,
        (width, height, pitch): (u32, u32, u32),
        format: Format,
    ) -> Self {
        LIVE_FRAMEBUFFERS.fetch_add(1, Ordering::Relaxed);
        // INVARIANT: the caller validated the description.
        Self {
            id,
            owner,
            width,
            height,
            format,
            pitch,
            buffer,
        }
    }

    /// The checks of [`new`](Self::new), in the order the errors are reported.
    pub(crate) fn validate(
        buffer: &Buffer,
        width: u32,
        height: u32,
        fourcc: u32,
        pitch: u32,
    ) -> Result<Format> {
        if width == 0 || height == 0 {
            return Err(Error::ZeroSize {
                what: "framebuffer",
            });
        }
        for (what, value) in [("framebuffer width", width), ("framebuffer height", height)] {
            if value > MAX_DIMENSION {
                return Err(Error::TooLarge {
                    what,
                    value,
                    limit: MAX_DIMENSION,
                });
            }
        }
        let format = Format::from_fourcc(fourcc)?;
        if format.bytes_per_pixel() != 4 {
            return Err(Error::FormatNotSupported { fourcc });
        }
        let minimum = width * format.bytes_per_pixel();
        if pitch < minimum || !pitch.is_multiple_of(4) {
            return Err(Error::BadPitch { pitch, minimum });
        }
        let needed = pitch.checked_mul(height).ok_or(Error::Overflow {
            what: "pitch × height",
        })?;
        if u64::from(needed) > buffer.size() {
            return Err(Error::BufferTooSmall {
                needed: u64::from(needed),
                size: buffer.size(),
            });
        }
        Ok(format)
    }

    /// The framebuffer's ID.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The pixel format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Bytes per row.
    pub fn pitch(&self) -> u32 {
        self.pitch
    }

    /// Runs `function` on each row of `area` (clipped to the image) with its `y`:
    /// `function(y, pixels)` where `pixels` are the 32-bit pixels of the row's part.
    pub fn for_each_row(&self, area: Rect, mut function: impl FnMut(u32, &[u32])) {
        let area = area.intersect(&Rect::sized(self.width, self.height));
        if area.is_empty() {
            return;
        }
        let stride = (self.pitch / 4) as usize;
        self.buffer.with_words(|words| {
            for y in area.y as u32..area.bottom() as u32 {
                let start = y as usize * stride + area.x as usize;
                if let Some(row) = words.get(start..start + area.width as usize) {
                    function(y, row);
                }
            }
        });
    }
}

impl Drop for Framebuffer {
    fn drop(&mut self) {
        LIVE_FRAMEBUFFERS.fetch_sub(1, Ordering::Relaxed);
    }
}
