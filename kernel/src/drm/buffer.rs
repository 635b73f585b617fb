//! Dumb buffers (Linux's dumb GEM objects): memory a client draws into, and the
//! client's mapping of it.
//!
//! Buffers live in kernel RAM and belong to the display device's object lifetime, not to
//! the driver's binding: after an unplug a client still holds them until it drops them
//! (Linux keeps GEM objects as `drmm`/refcounted memory for the same reason). Scanout
//! hardware is fed from them by the driver's commit, which copies the damaged area
//! (shadow-buffered planes, as Linux's simple drivers do).
//!
//! Whoever uses a buffer holds a `Reference`: a client's handle, a framebuffer, a
//! mapping. A reference to an imported buffer also holds its shared buffer, and so the
//! exporting device ([`super::prime`]).

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use super::device::Device;
use super::error::{Error, Result};
use super::fence::{self, Fence};
use super::prime::Shared;
use super::quota::{self, Charge, Quota};
use super::rect::Rect;

pub use kernel_core::display::layout::MAX_BUFFER_BYTES;

pub(crate) static LIVE_BUFFERS: AtomicUsize = AtomicUsize::new(0);

/// The size and pitch of a dumb buffer, computed with every overflow checked
/// ([`kernel_core::display::layout::dumb_layout`]).
///
/// # Errors
///
/// [`Error::ZeroSize`], [`Error::TooLarge`] (above 32768 per dimension),
/// [`Error::UnsupportedBpp`] (only 32), [`Error::Overflow`] when `pitch × height`
/// overflows `u32`, [`Error::BufferTooLarge`] above [`MAX_BUFFER_BYTES`].
pub fn dumb_layout(width: u32, height: u32, bpp: u32) -> Result<(u32, u64)> {
    Ok(kernel_core::display::layout::dumb_layout(
        width, height, bpp,
    )?)
}

/// A dumb buffer: zeroed memory, 32-bit words.
#[derive(Debug)]
pub struct Buffer {
    width: u32,
    height: u32,
    pitch: u32,
    memory: spin::Mutex<Vec<u32>>,
    /// Its shared buffer while one lives (so exporting it again gives the same one).
    exported: spin::Mutex<Weak<Shared>>,
    /// Its latest write fence (Linux's exclusive `dma_resv` fence), until signalled.
    fence: spin::Mutex<Option<Arc<fence::State>>>,
    /// Refunded to the client's and the device's quotas when the memory goes.
    _charges: [Charge; 2],
}

impl Buffer {
    /// Allocates a zeroed buffer (see [`dumb_layout`]) charged to `quotas` (the
    /// client's and the device's), outside the heap reserve ([`super::quota`]).
    ///
    /// # Errors
    ///
    /// As [`dumb_layout`], [`Error::QuotaExceeded`], [`Error::HeapReserve`],
    /// [`Error::OutOfMemory`].
    pub fn new(width: u32, height: u32, bpp: u32, quotas: [&Arc<Quota>; 2]) -> Result<Self> {
        let (pitch, size) = dumb_layout(width, height, bpp)?;
        let charges = [quotas[0].charge(size)?, quotas[1].charge(size)?];
        let memory = quota::zeroed_words((size / 4) as usize)?;
        LIVE_BUFFERS.fetch_add(1, Ordering::Relaxed);
        Ok(Self {
            width,
            height,
            pitch,
            memory: spin::Mutex::new(memory),
            exported: spin::Mutex::new(Weak::new()),
            fence: spin::Mutex::new(None),
            _charges: charges,
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

    /// Attaches a new unsignalled write fence ([`super::fence`]).
    ///
    /// # Errors
    ///
    /// [`Error::FencePending`] while the last one is unsignalled, [`Error::OutOfMemory`].
    pub(crate) fn attach_fence(&self) -> Result<Fence> {
        let mut slot = self.fence.lock();
        if slot.as_ref().is_some_and(|state| !state.is_signalled()) {
            return Err(Error::FencePending);
        }
        // The fence's `Arc` is made infallibly ([`quota`]).
        quota::object_room()?;
        let (fence, state) = Fence::new();
        let signalled = slot.replace(state);
        drop(slot);
        drop(signalled);
        Ok(fence)
    }

    /// The write fence scanout must wait for, if one is unsignalled (a signalled one is
    /// forgotten here).
    pub(crate) fn pending_fence(&self) -> Option<Arc<fence::State>> {
        let mut slot = self.fence.lock();
        match &*slot {
            Some(state) if state.is_signalled() => {
                let signalled = slot.take();
                drop(slot);
                drop(signalled);
                None
            }
            pending => pending.clone(),
        }
    }

    /// The buffer's shared buffer: the live one, or a new one exported by `exporter`.
    ///
    /// # Errors
    ///
    /// [`Error::IdsExhausted`], [`Error::OutOfMemory`].
    pub(crate) fn shared(self: &Arc<Self>, exporter: &Arc<Device>) -> Result<Arc<Shared>> {
        let mut exported = self.exported.lock();
        if let Some(shared) = exported.upgrade() {
            return Ok(shared);
        }
        let shared = Shared::export(self.clone(), exporter.clone())?;
        *exported = Arc::downgrade(&shared);
        Ok(shared)
    }
}

/// A counted reference to a buffer, as a handle, a framebuffer or a mapping holds it; an
/// imported buffer's also holds the shared buffer (and so the exporting device).
#[derive(Debug, Clone)]
pub(crate) struct Reference {
    buffer: Arc<Buffer>,
    import: Option<Arc<Shared>>,
}

impl Reference {
    /// A reference to a buffer of the client's own device.
    pub(crate) fn own(buffer: Arc<Buffer>) -> Self {
        Self {
            buffer,
            import: None,
        }
    }

    /// A reference to an imported buffer.
    pub(crate) fn imported(shared: Arc<Shared>) -> Self {
        Self {
            buffer: shared.buffer().clone(),
            import: Some(shared),
        }
    }

    /// The buffer.
    pub(crate) fn buffer(&self) -> &Arc<Buffer> {
        &self.buffer
    }

    /// The shared buffer it was imported from, if it was.
    pub(crate) fn import(&self) -> Option<&Arc<Shared>> {
        self.import.as_ref()
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        LIVE_BUFFERS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A dumb buffer mapped for drawing. Every access fails once the device is unplugged
/// (Linux zaps the mappings at unplug).
#[derive(Debug)]
pub struct Mapping {
    buffer: Reference,
    device: Arc<Device>,
}

impl Mapping {
    /// A mapping of `buffer`, valid while `device` (the mapping client's) is plugged.
    pub(crate) fn new(buffer: Reference, device: Arc<Device>) -> Self {
        Self { buffer, device }
    }

    /// Runs `function` on the pixels (row `y` at `y × pitch / 4`).
    ///
    /// # Errors
    ///
    /// [`Error::Unplugged`].
    pub fn with_pixels<R>(&self, function: impl FnOnce(&mut [u32]) -> R) -> Result<R> {
        if self.device.is_unplugged() {
            return Err(Error::Unplugged);
        }
        Ok(self.buffer.buffer().with_words(function))
    }

    /// Fills `rect` (clipped to the buffer) with `color`.
    ///
    /// # Errors
    ///
    /// [`Error::Unplugged`].
    pub fn fill(&self, rect: Rect, color: u32) -> Result<()> {
        let buffer = self.buffer.buffer();
        let area = rect.intersect(&Rect::sized(buffer.width(), buffer.height()));
        let stride = (buffer.pitch() / 4) as usize;
        self.with_pixels(|pixels| {
            for y in area.y as usize..area.bottom() as usize {
                let start = y * stride + area.x as usize;
                if let Some(row) = pixels.get_mut(start..start + area.width as usize) {
                    row.fill(color);
                }
            }
        })
    }

    /// The buffer's pitch in bytes.
    pub fn pitch(&self) -> u32 {
        self.buffer.buffer().pitch()
    }
}
