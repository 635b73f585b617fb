//! Buffer sharing between display devices (Linux's dma-buf with DRM PRIME, reduced to
//! what a kernel with one address space needs).
//!
//! A client exports one of its dumb buffers
//! ([`Client::export_buffer`](super::Client::export_buffer)) and gets a [`SharedBuffer`]:
//! a counted, shareable handle (a dma-buf file descriptor; `Clone` duplicates it, drop
//! closes it) with a global ID. A client of **another** display device imports it by
//! that ID ([`Client::import_buffer`](super::Client::import_buffer)) and gets a buffer
//! handle of its own, from which it makes framebuffers as from any dumb buffer.
//!
//! # Who owns what
//!
//! The memory belongs to the buffer object (`Buffer`), counted; nothing of it is devres,
//! so no binding's end frees it. A shared buffer holds the buffer **and the exporting
//! display device** (Linux's dma-buf holds the GEM object, which holds its
//! `drm_device`): the exporter's device object lives until the last reference to a
//! shared buffer of it goes, even after its parent was unbound or deleted. Everything an
//! importer makes from an import (its handle, its framebuffers, its mappings) holds the
//! shared buffer. Nothing points back: the registry and the buffer's export cache hold
//! weak references, and the exporting device holds no shared buffer, so there is no
//! loop. Importing into the exporting device is refused
//! ([`Error::ImportIntoExporter`]): its clients use the buffer's own handle, and a device
//! whose framebuffer held its own device could not be released while it shows it.
//!
//! ```text
//! step                          references afterwards (──► counted, ··► weak)
//! vgem on faux device F         F's devres ──► vgem; the Vgem handle ──► vgem ──► F
//! client A of vgem, create      A ──► vgem; A's handle ──► Buffer (charged to A, vgem)
//! A exports → S                 S ──► Shared ──► Buffer, vgem; registry ··► Shared;
//!                               Buffer ··► Shared (export cache)
//! client B of vkms imports S    B's handle ──► Shared
//! B adds a framebuffer, shows   vkms ──► Framebuffer ──► Shared; vkms state ──► Framebuffer
//! F deleted (or unbound)        vgem unplugged; F's devres reference gone; vgem object
//!                               alive: held by Shared (and A while A lives)
//! A and S dropped               Shared held only by B's handle and framebuffer: vkms
//!                               keeps composing the same picture
//! B closes (or vkms goes)       Shared dropped → Buffer freed, charges refunded, vgem's
//!                               last reference → F's object put: every counter at zero
//! ```
//!
//! If the importer goes first (bochs unbound while it shows an import), its framebuffers
//! go with its clients; the shared buffer and the exporter's handle stay as they were.
//!
//! # Scanout
//!
//! An importer scans out an import as any buffer of its own: vkms composes from its
//! memory at each vblank, bochs **copies** the damaged area into its video memory at each
//! commit (bochs scans out BAR0 only; see `crate::drivers::bochs`). No importer ever
//! calls into the exporter's driver, so the exporter's hardware is never touched after
//! its unplug (or before it: the exporter has no part in scanout).
//!
//! # IDs
//!
//! Shared-buffer IDs come from one namespace of their own ([`super::object`]): an ID
//! whose shared buffer is gone is [`Error::StaleObject`], one never handed out
//! [`Error::NoSuchObject`], and an ID of another namespace (a buffer handle, a
//! framebuffer) [`Error::ForeignObject`].

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};

use kernel_core::id_map::IdMap;

use super::buffer::Buffer;
use super::device::Device;
use super::error::{Error, Result};
use super::object::Namespace;
use crate::text::FixedString;

pub(crate) static LIVE_SHARED: AtomicUsize = AtomicUsize::new(0);

/// The shared buffers by ID, weakly (the kernel's stand-in for the file table).
static REGISTRY: spin::Mutex<Registry> = spin::Mutex::new(Registry {
    namespace: None,
    buffers: IdMap::new(),
});

struct Registry {
    /// Made on the first export.
    namespace: Option<Namespace>,
    buffers: IdMap<Weak<Shared>>,
}

/// A shared buffer: the memory and the exporting device it keeps alive.
pub(crate) struct Shared {
    id: u32,
    buffer: Arc<Buffer>,
    exporter: Arc<Device>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Shared")
            .field("id", &self.id)
            .field("exporter", &self.exporter.name())
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Registers a new shared buffer of `buffer`, exported by `exporter`.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfMemory`], [`Error::IdsExhausted`].
    pub(crate) fn export(buffer: Arc<Buffer>, exporter: Arc<Device>) -> Result<Arc<Self>> {
        // The `Arc` is made infallibly: its room is checked first ([`super::quota`]).
        super::quota::object_room()?;
        let mut registry = REGISTRY.lock();
        registry
            .buffers
            .try_reserve_one()
            .map_err(|_| Error::OutOfMemory)?;
        let id = registry
            .namespace
            .get_or_insert_with(Namespace::new)
            .allocate()?;
        LIVE_SHARED.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::new(Self {
            id,
            buffer,
            exporter,
        });
        // Room was reserved above: this cannot fail.
        let _ = registry.buffers.try_insert(id, Arc::downgrade(&shared));
        Ok(shared)
    }

    /// The shared buffer named `id`.
    ///
    /// # Errors
    ///
    /// [`Error::StaleObject`], [`Error::NoSuchObject`], [`Error::ForeignObject`] (see
    /// the module docs).
    pub(crate) fn lookup(id: u32) -> Result<Arc<Self>> {
        let registry = REGISTRY.lock();
        let Some(namespace) = &registry.namespace else {
            return Err(Error::NoSuchObject { id });
        };
        match registry.buffers.get(id) {
            // Its last reference is going right now.
            Some(shared) => shared.upgrade().ok_or(Error::StaleObject { id }),
            None => Err(namespace.missing(id)),
        }
    }

    /// The memory.
    pub(crate) fn buffer(&self) -> &Arc<Buffer> {
        &self.buffer
    }

    /// The exporting device.
    pub(crate) fn exporter(&self) -> &Arc<Device> {
        &self.exporter
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Only the registry's entry here; the buffer and the exporter are dropped with
        // the fields, after the registry lock is released (the exporter's release may
        // drop other shared buffers).
        // (An emptied map gives its memory back to the heap: see `IdMap`.)
        let entry = REGISTRY.lock().buffers.remove(self.id);
        drop(entry);
        LIVE_SHARED.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A counted, shareable handle on a shared buffer (a dma-buf file descriptor): `Clone`
/// duplicates it, drop closes it. Made by
/// [`Client::export_buffer`](super::Client::export_buffer).
#[derive(Debug, Clone)]
pub struct SharedBuffer {
    shared: Arc<Shared>,
}

impl SharedBuffer {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// The ID another device's client imports it by
    /// ([`Client::import_buffer`](super::Client::import_buffer)).
    pub fn id(&self) -> u32 {
        self.shared.id
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.shared.buffer.size()
    }

    /// The exporting display device.
    pub fn exporter(&self) -> &Arc<Device> {
        &self.shared.exporter
    }

    /// How many references hold the shared buffer now (handles like this one, imports,
    /// framebuffers and mappings made from imports).
    pub fn references(&self) -> usize {
        Arc::strong_count(&self.shared)
    }
}

/// A shared buffer as listed (the shell's `shared`).
#[derive(Debug, Clone)]
pub struct SharedInfo {
    /// Its ID.
    pub id: u32,
    /// Width, height and pitch of the buffer.
    pub layout: (u32, u32, u32),
    /// The exporting device's name (`cardN`).
    pub exporter: FixedString<16>,
    /// The exporting device's driver.
    pub driver: &'static str,
    /// Whether the exporting device is unplugged (its object lives on for the buffer).
    pub exporter_unplugged: bool,
    /// References held on the shared buffer (not counting the listing's own).
    pub references: usize,
}

/// Every live shared buffer, by ID (the shell's `shared`).
///
/// # Errors
///
/// [`Error::OutOfMemory`] when the heap has no room for the listing.
pub fn shared_buffers() -> Result<Vec<SharedInfo>> {
    let mut live: Vec<Arc<Shared>> = Vec::new();
    let mut infos = Vec::new();
    {
        let registry = REGISTRY.lock();
        let count = registry.buffers.len();
        live.try_reserve_exact(count)
            .and_then(|()| infos.try_reserve_exact(count))
            .map_err(|_| Error::OutOfMemory)?;
        live.extend(registry.buffers.values().filter_map(Weak::upgrade));
    }
    // Built and dropped outside the lock: a listed buffer's last reference may go here,
    // and its drop takes the lock.
    infos.extend(live.iter().map(|shared| SharedInfo {
        id: shared.id,
        layout: (
            shared.buffer.width(),
            shared.buffer.height(),
            shared.buffer.pitch(),
        ),
        exporter: FixedString::from_fmt(format_args!("{}", shared.exporter.name())),
        driver: shared.exporter.driver_name(),
        exporter_unplugged: shared.exporter.is_unplugged(),
        // The listing's own upgrade is one.
        references: Arc::strong_count(shared) - 1,
    }));
    drop(live);
    Ok(infos)
}
