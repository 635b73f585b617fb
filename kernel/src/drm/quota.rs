//! Limits on display memory: quotas on the dumb-buffer memory of each client and each
//! device, and a heap reserve that display allocations never take.
//!
//! Every allocation whose size a client chooses (dumb buffers; vkms's output frame, sized
//! by the mode) goes through `zeroed_words`, which refuses to dip into the last
//! [`HEAP_RESERVE`] bytes of the heap and allocates fallibly; a dumb buffer is also
//! charged to its client's and its device's [`Quota`], and refunded when the buffer's
//! memory is freed (which may be long after the client or the device went: the charge
//! holds the quota, not its owner). So one client cannot take the heap, many clients
//! together cannot take the reserve, and the rest of the kernel (the shell, bind and
//! unbind, the console) keeps the memory it needs. Small fixed-size objects (an `Arc`
//! header, an ID-table entry) are not charged: they are bounded by the buffers they
//! describe and covered by the reserve.
//!
//! The figures, for the default 256 MiB guest (about 253 MiB of heap): a client may hold
//! [`CLIENT_BUFFER_LIMIT`] (96 MiB: a few full-screen buffers at the largest dumb-buffer
//! size, 64 MiB), a device [`DEVICE_BUFFER_LIMIT`] (128 MiB: two such clients), and the
//! reserve is [`HEAP_RESERVE`] (8 MiB: the kernel's own use after boot is a few hundred
//! KiB; a whole boot with every driver bound uses about 3 MiB).
//!
//! # Allocation after boot: an error, never an abort
//!
//! Every allocation on the display client paths (open and close, dumb create and
//! destroy, framebuffer add and remove, atomic commit, page flip, vblank requests and
//! delivery, prime export and import, fences, vgem's buffers) either is fallible or is
//! preceded by `object_room`; an exhausted heap is answered with
//! [`Error::OutOfMemory`] (or [`Error::HeapReserve`]) and changes nothing:
//!
//! - fallible (`try_reserve`): buffer memory (`zeroed_words`); the ID tables (client
//!   handles, mode objects and framebuffers, the registered devices, the shared
//!   buffers: [`kernel_core::id_map::IdMap`], whose capacity follows its length back
//!   down without ever allocating infallibly); a client's framebuffer list; event room
//!   and armed events ([`super::vblank`]); damage clips of a commit; a [`Request`](super::Request)'s
//!   planes and damage (it answers [`Error::OutOfMemory`] at commit); the connector's
//!   modes and a plane's formats as listed; vkms's CRC history;
//! - allocation-free: closing a client, destroying handles, removing framebuffers,
//!   vblank delivery (into room reserved when the event was asked for), and the idle
//!   loop's [`poll_all`](super::poll_all) (which walks the registry without a list).
//!
//! What stable Rust cannot make fallible (`Arc::try_new` and `Box::try_new` are
//! unstable) stays infallible, each site after an `object_room` check that a free
//! block of [`OBJECT_ROOM`] bytes exists; the objects are a few hundred bytes, covered
//! by the reserve (which buffers never take):
//!
//! - `Client::open`: the client's `Arc<EventQueue>` and its `Arc<Quota>`;
//! - `Client::create_dumb`: the `Arc<Buffer>` (its memory is fallible);
//! - `Client::add_framebuffer`: the `Arc<Framebuffer>`;
//! - `Client::export_buffer`: the `Arc<Shared>` (a new shared buffer);
//! - `Client::attach_fence`: the fence's `Arc`;
//! - `Device::new` and `Device::new_render` (a driver's probe: bind, `vkms add`, `vgem
//!   add`): the `Arc<Device>`, the `Box<dyn Driver>` and the device's `Arc<Quota>`.
//!
//! Left infallible, without that check, because they run only at a driver's probe or in
//! listings that the shell guards with its own headroom check
//! (`crate::shell::HEAP_RESERVE`): a managed action's `Box` ([`super::managed`]), a
//! failed probe's message (`From<Error> for drivermodel::Error`), and the listing
//! [`devices`](super::devices) (for drivers and tests; [`poll_all`](super::poll_all)
//! walks the registry without it). The shell's listings ([`shared_buffers`](super::shared_buffers),
//! `crate::demo`'s displays) reserve fallibly.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use super::error::{Error, Result};
use crate::arch::heap;

/// The most dumb-buffer memory one client holds.
pub const CLIENT_BUFFER_LIMIT: u64 = 96 << 20;
/// The most dumb-buffer memory all clients of one device hold.
pub const DEVICE_BUFFER_LIMIT: u64 = 128 << 20;
/// Heap bytes that display allocations leave free.
pub const HEAP_RESERVE: u64 = 8 << 20;

/// Bytes charged against a limit.
#[derive(Debug)]
pub struct Quota {
    what: &'static str,
    used: AtomicU64,
    limit: u64,
}

impl Quota {
    /// A quota of `limit` bytes for `what` (named in its error).
    pub(crate) fn new(what: &'static str, limit: u64) -> Arc<Self> {
        Arc::new(Self {
            what,
            used: AtomicU64::new(0),
            limit,
        })
    }

    /// Bytes charged now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// The limit.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Charges `bytes`, refunded when the [`Charge`] drops.
    ///
    /// # Errors
    ///
    /// [`Error::QuotaExceeded`]; nothing is charged.
    pub(crate) fn charge(self: &Arc<Self>, bytes: u64) -> Result<Charge> {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let total = used.saturating_add(bytes);
            if total > self.limit {
                return Err(Error::QuotaExceeded {
                    what: self.what,
                    requested: bytes,
                    used,
                    limit: self.limit,
                });
            }
            match self
                .used
                .compare_exchange(used, total, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    return Ok(Charge {
                        quota: self.clone(),
                        bytes,
                    });
                }
                Err(now) => used = now,
            }
        }
    }
}

/// Bytes charged to a [`Quota`], refunded on drop.
#[derive(Debug)]
pub(crate) struct Charge {
    quota: Arc<Quota>,
    bytes: u64,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.quota.used.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// The free block `object_room` asks for: more than the small objects one display
/// call makes infallibly (the largest, a `Device`, is well under 1 KiB).
pub const OBJECT_ROOM: usize = 4 << 10;

/// Checks that the heap has a free block of [`OBJECT_ROOM`] bytes, so that the few small
/// objects a display call then makes infallibly (see the module docs) find their room.
/// The check takes and frees such a block; it may dip into the reserve (the objects are
/// covered by it), so it fails only when the heap itself is nearly exhausted. It is a
/// check, not a reservation: another CPU could take the block before the objects are
/// made, but display allocations leave the reserve free, so only code outside the
/// display subsystem that exhausts the heap at that very moment could then end the
/// kernel.
///
/// # Errors
///
/// [`Error::OutOfMemory`].
pub(crate) fn object_room() -> Result<()> {
    let mut probe: Vec<u64> = Vec::new();
    probe
        .try_reserve_exact(OBJECT_ROOM / 8)
        .map_err(|_| Error::OutOfMemory)
}

/// Heap bytes display allocations may still take (free bytes above the reserve).
pub fn available() -> u64 {
    let free = (heap::size_bytes() as u64).saturating_sub(heap::used_bytes() as u64);
    free.saturating_sub(HEAP_RESERVE)
}

/// `words` zeroed 32-bit words, allocated fallibly and never from the heap reserve.
///
/// # Errors
///
/// [`Error::HeapReserve`] when the allocation would dip into the reserve,
/// [`Error::OutOfMemory`] when the heap has no block that large.
pub(crate) fn zeroed_words(words: usize) -> Result<Vec<u32>> {
    let bytes = (words as u64).saturating_mul(4);
    let available = available();
    if bytes > available {
        return Err(Error::HeapReserve {
            requested: bytes,
            available,
        });
    }
    let mut memory = Vec::new();
    memory
        .try_reserve_exact(words)
        .map_err(|_| Error::OutOfMemory)?;
    memory.resize(words, 0);
    Ok(memory)
}
