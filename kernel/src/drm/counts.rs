//! The subsystem's live-object counters, read through [`crate::counters`] by the shell,
//! the boot demo and the tests' leak check.

use core::sync::atomic::Ordering;

/// Live objects of the subsystem, for leak checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Display devices not yet released.
    pub devices: usize,
    /// Open clients.
    pub clients: usize,
    /// Dumb buffers.
    pub buffers: usize,
    /// Framebuffers.
    pub framebuffers: usize,
    /// Shared buffers ([`super::prime`]).
    pub shared_buffers: usize,
    /// Fences ([`super::fence`]), signalled or not, until their buffer forgets them.
    pub fences: usize,
}

impl Counts {
    /// Whether nothing is alive.
    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}

/// The live-object counters now.
pub fn counts() -> Counts {
    Counts {
        devices: super::device::LIVE_DEVICES.load(Ordering::Relaxed),
        clients: super::client::LIVE_CLIENTS.load(Ordering::Relaxed),
        buffers: super::buffer::LIVE_BUFFERS.load(Ordering::Relaxed),
        framebuffers: super::framebuffer::LIVE_FRAMEBUFFERS.load(Ordering::Relaxed),
        shared_buffers: super::prime::LIVE_SHARED.load(Ordering::Relaxed),
        fences: super::fence::LIVE_FENCES.load(Ordering::Relaxed),
    }
}
