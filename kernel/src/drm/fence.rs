//! Fences (Linux's `dma_fence`, as vgem's `VGEM_FENCE_ATTACH` / `VGEM_FENCE_SIGNAL` hand
//! them to user space): "rendering into this buffer is done", signalled once by whoever
//! renders and waited on before the buffer is scanned out.
//!
//! A client attaches a fence to one of its buffers ([`Client::attach_fence`]) and gets
//! the [`Fence`]; it signals it when its drawing is complete. While a buffer has an
//! unsignalled fence, a commit, flip or damage flush that would scan it out (on any
//! device, so an importer waits for the exporter's rendering) first waits for it, at most
//! [`FENCE_TIMEOUT_MICROS`], and fails with [`Error::FenceTimeout`] without changing
//! anything if it is not signalled by then. A buffer holds at most one unsignalled fence
//! (its latest write, the exclusive fence of Linux's `dma_resv`); attaching another is
//! [`Error::FencePending`].
//!
//! Dropping an unsignalled [`Fence`] signals it: a renderer that goes away cannot leave a
//! buffer that no commit can ever show (Linux's vgem signals its fences after a timeout
//! for the same reason).
//!
//! [`Client::attach_fence`]: super::Client::attach_fence

use alloc::sync::Arc;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::device::{self, Device};
use super::error::{Error, Result};

/// The longest a commit waits for a buffer's fence.
pub const FENCE_TIMEOUT_MICROS: u64 = 100_000;

pub(crate) static LIVE_FENCES: AtomicUsize = AtomicUsize::new(0);

/// The shared state of one fence.
#[derive(Debug)]
pub(crate) struct State {
    signalled: AtomicBool,
}

impl State {
    /// Whether it was signalled.
    pub(crate) fn is_signalled(&self) -> bool {
        self.signalled.load(Ordering::Acquire)
    }
}

impl Drop for State {
    fn drop(&mut self) {
        LIVE_FENCES.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The renderer's side of a fence: [`signal`](Self::signal) when the drawing is done.
/// Dropping it signals it.
pub struct Fence {
    state: Arc<State>,
}

impl fmt::Debug for Fence {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Fence")
            .field("signalled", &self.is_signalled())
            .finish()
    }
}

impl Fence {
    /// A new unsignalled fence, and the state the buffer keeps.
    pub(crate) fn new() -> (Self, Arc<State>) {
        LIVE_FENCES.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(State {
            signalled: AtomicBool::new(false),
        });
        (
            Self {
                state: state.clone(),
            },
            state,
        )
    }

    /// Signals that the rendering is done (`VGEM_FENCE_SIGNAL`). Idempotent.
    pub fn signal(&self) {
        self.state.signalled.store(true, Ordering::Release);
    }

    /// Whether it was signalled.
    pub fn is_signalled(&self) -> bool {
        self.state.is_signalled()
    }
}

impl Drop for Fence {
    fn drop(&mut self) {
        self.signal();
    }
}

/// Waits, polling `device` (the one about to scan out), until `fence` is signalled.
///
/// # Errors
///
/// [`Error::FenceTimeout`] after [`FENCE_TIMEOUT_MICROS`], [`Error::Unplugged`] if
/// `device` goes while waiting.
pub(crate) fn wait(device: &Device, fence: &State) -> Result<()> {
    if fence.is_signalled() {
        return Ok(());
    }
    device::wait_until(device, FENCE_TIMEOUT_MICROS, || fence.is_signalled()).map_err(|error| {
        match error {
            Error::TimedOut => Error::FenceTimeout {
                waited_micros: FENCE_TIMEOUT_MICROS,
            },
            other => other,
        }
    })
}
