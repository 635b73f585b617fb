//! The subsystem's live-object counters, for the shell's `counts` and leak checks.

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
    }
}

/// Adds the display objects to every later kernel test's leak check (once).
pub(crate) fn register_leak_probe() {
    static REGISTERED: spin::Once<()> = spin::Once::new();
    REGISTERED.call_once(|| {
        let probe = crate::test::leak::LeakProbe {
            unit: "display objects",
            read: || {
                let counts = counts();
                (counts.devices + counts.clients + counts.buffers + counts.framebuffers) as i64
            },
        };
        if let Err(error) = crate::test::leak::register(probe) {
            crate::println!("kernel: drm: {error}");
        }
    });
}
