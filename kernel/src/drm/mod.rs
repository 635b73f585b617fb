//! A DRM-like display subsystem: display devices tied to a driver-model parent, mode
//! objects, dumb buffers and framebuffers, atomic commits with damage, vblank events,
//! and hot unplug.
//!
//! The pieces, in the order a driver meets them:
//!
//! - [`device`]: [`Device`], allocated for a bound parent (`devm_drm_dev_alloc`): the
//!   lifetime rules (the parent's devres drops the first reference and unplugs; managed
//!   resources go, newest first, with the last reference), the unplug guard
//!   ([`Device::enter`] → [`Hardware`]), the one-pipeline atomic state and its checks,
//!   vblank counting and events. A driver implements [`Driver`].
//! - [`client`]: [`Client`], the ioctl stand-in; every argument validated with a distinct
//!   [`Error`], nothing changed on error, clean failures after unplug.
//! - [`buffer`]: dumb buffers in RAM and framebuffers over them.
//! - [`format`], [`mode`] (with the EDID parser), [`object`] (ID namespaces), [`crc`]
//!   (CRC-32 of composed frames), [`console`] (a text console on a display).
//!
//! Drivers: `crate::drivers::vkms` (virtual, on a faux device; composes its planes and
//! reports a CRC-32 per frame) and `crate::drivers::bochs` (QEMU's bochs-display / std
//! VGA on PCI). The boot demo and the exact picture it leaves on the screen (for the
//! host's screenshot check) are documented in `crate::drivers::bochs::demo`.
//!
//! Objects and their IDs: the client sees one CRTC, a primary plane, a cursor plane
//! (vkms), one encoder and one connector per device ([`Client::resources`],
//! [`Client::plane`], [`Client::encoder`], [`Client::connector`] with the mode list).
//!
//! Out of scope: more than one CRTC per device, scaling, formats other than 32-bit RGB
//! for scanout, modifiers, DMA fences, real interrupts for vblank (vkms polls a TSC
//! deadline from waiting clients and [`poll_all`]: the stand-in for an hrtimer plus a
//! workqueue), and preemption: the unplug wait only matters once hardware sections can
//! run on another CPU or in an interrupt; on today's single CPU nothing is in flight
//! when an unbind runs (unplug must never be called from inside a section).

pub mod buffer;
pub mod client;
pub mod console;
pub mod crc;
pub mod device;
pub mod error;
pub mod format;
pub mod mode;
pub mod object;

use core::sync::atomic::Ordering;

pub use client::{Client, ConnectorInfo, EncoderInfo, Mapping, PlaneInfo, PlaneType, Request};
pub use device::{
    Commit, Config, Device, Driver, Event, EventKind, Hardware, State, devices, poll_all,
};
pub use error::{Error, Result};
pub use format::{Format, Rect, fourcc};
pub use mode::Mode;

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

/// The live-object counters now.
pub fn counts() -> Counts {
    Counts {
        devices: device::LIVE_DEVICES.load(Ordering::Relaxed),
        clients: client::LIVE_CLIENTS.load(Ordering::Relaxed),
        buffers: buffer::LIVE_BUFFERS.load(Ordering::Relaxed),
        framebuffers: buffer::LIVE_FRAMEBUFFERS.load(Ordering::Relaxed),
    }
}
