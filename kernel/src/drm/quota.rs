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
