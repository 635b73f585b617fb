//! Framebuffers (Linux's `drm_framebuffer.c`): a dumb buffer described as an image
//! (size, format, pitch), validated once when it is made.

use core::sync::atomic::{AtomicUsize, Ordering};

use super::buffer::{Buffer, Reference};
use super::error::Result;
use super::format::Format;
use super::rect::Rect;

pub(crate) static LIVE_FRAMEBUFFERS: AtomicUsize = AtomicUsize::new(0);

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
    buffer: Reference,
}

impl Framebuffer {
    /// A framebuffer whose description passed [`validate`](Self::validate) (which
    /// returned `format`).
    pub(crate) fn new(
        id: u32,
        owner: u32,
        buffer: Reference,
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
        Ok(kernel_core::display::layout::framebuffer_layout(
            width,
            height,
            fourcc,
            pitch,
            buffer.size(),
        )?)
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

    /// The unsignalled write fence of its buffer, if any ([`super::fence`]).
    pub(crate) fn pending_fence(&self) -> Option<alloc::sync::Arc<super::fence::State>> {
        self.buffer.buffer().pending_fence()
    }

    /// Runs `function` on each row of `area` (clipped to the image) with its `y`:
    /// `function(y, pixels)` where `pixels` are the 32-bit pixels of the row's part.
    pub fn for_each_row(&self, area: Rect, mut function: impl FnMut(u32, &[u32])) {
        let area = area.intersect(&Rect::sized(self.width, self.height));
        if area.is_empty() {
            return;
        }
        let stride = (self.pitch / 4) as usize;
        self.buffer.buffer().with_words(|words| {
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
