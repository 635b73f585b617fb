//! A DRM-like display subsystem: display devices tied to a driver-model parent, mode
//! objects, dumb buffers and framebuffers, atomic commits with damage, vblank events,
//! and hot unplug.
//!
//! One concept per file, as in Linux's `drivers/gpu/drm/` and Rust-for-Linux's
//! `rust/kernel/drm/`; each file owns its type and the lock inside it, and the others
//! call its methods. In the order a driver meets them:
//!
//! | file | concept | Linux |
//! |---|---|---|
//! | [`device`] | [`Device`]: lifetime, registration, unplug guard ([`Device::enter`] → [`Hardware`]) | `drm_drv.c` |
//! | [`driver`] | [`Driver`]: what a display driver provides | `struct drm_driver` |
//! | [`managed`] | resources released with the device's last reference | `drm_managed.c` |
//! | [`mode_config`] | [`Config`], the mode objects by ID, the current state, their lock | `drm_mode_config.c` |
//! | [`atomic`] | [`State`], its checks, the commit | `drm_atomic.c`, `drm_atomic_helper.c` |
//! | [`vblank`] | vblank count, armed events, delivery | `drm_vblank.c` |
//! | [`client`] | [`Client`], the ioctl stand-in on an open file | `drm_file.c`, `drm_ioctl.c` |
//! | [`buffer`], [`framebuffer`] | dumb buffers and their [`Mapping`]; framebuffers | `drm_gem.c`, `drm_framebuffer.c` |
//! | [`fence`] | [`Fence`]: "rendering done", waited on before scanout | `dma-fence.c`, vgem's fences |
//! | [`prime`] | [`SharedBuffer`]: buffers shared between devices, who owns what | `drm_prime.c`, `dma-buf.c` |
//! | [`object`] | ID namespaces | `drm_mode_object.c` |
//! | [`format`], [`rect`], [`mode`], [`edid`], [`crc`] | the pure logic, from `kernel_core::display` (host-tested): fourcc formats, rectangles, modes, EDID, CRC-32 | `drm_fourcc.c`, `drm_rect.c`, `drm_modes.c`, `drm_edid.c` |
//! | [`clients`] | in-kernel clients: the on-screen log | `clients/drm_log.c` |
//! | [`quota`] | buffer-memory quotas of clients and devices, the heap reserve | |
//! | [`mod@counts`] | live-object counters | |
//! | [`error`] | the one [`Error`] | |
//!
//! Drivers: `crate::drivers::vkms` (virtual, on a faux device; composes its planes and
//! reports a CRC-32 per frame), `crate::drivers::vgem` (render-only, on a faux device:
//! buffers without mode setting, [`Device::new_render`]) and `crate::drivers::bochs`
//! (QEMU's bochs-display / std VGA on PCI). The boot demo and the exact picture it leaves on the screen (for the
//! host's screenshot check) are documented in `crate::drivers::bochs::demo`.
//!
//! Objects and their IDs: the client sees one CRTC, a primary plane, a cursor plane
//! (vkms), one encoder and one connector per device ([`Client::resources`],
//! [`Client::plane`], [`Client::encoder`], [`Client::connector`] with the mode list).
//!
//! Out of scope: more than one CRTC per device, scaling, formats other than 32-bit RGB
//! for scanout, modifiers, real interrupts for vblank (vkms polls a TSC
//! deadline from waiting clients and [`poll_all`]: the stand-in for an hrtimer plus a
//! workqueue), and preemption: the unplug wait only matters once hardware sections can
//! run on another CPU or in an interrupt; on today's single CPU nothing is in flight
//! when an unbind runs (unplug must never be called from inside a section).

pub mod atomic;
pub mod buffer;
pub mod client;
pub mod clients;
pub mod counts;
pub mod device;
pub mod driver;
pub mod error;
pub mod fence;
pub mod framebuffer;
pub mod managed;
pub mod mode_config;
pub mod object;
pub mod prime;
pub mod quota;
pub mod vblank;

pub use kernel_core::display::{crc, edid, format, mode, rect};

pub use atomic::{Commit, PlaneState, State};
pub use buffer::Mapping;
pub use client::{Client, ConnectorInfo, EncoderInfo, PlaneInfo, PlaneType, Request};
pub use counts::{Counts, counts};
pub use device::{Device, Hardware, devices, poll_all};
pub use driver::Driver;
pub use error::{Error, Result};
pub use fence::Fence;
pub use format::{Format, fourcc};
pub use mode::Mode;
pub use mode_config::{Config, Objects};
pub use prime::{SharedBuffer, SharedInfo, shared_buffers};
pub use rect::Rect;
pub use vblank::{Event, EventKind};
