//! Object IDs: every device and every client hands out IDs from its own namespace, so an
//! ID alone says whose it is.
//!
//! An ID is a `u32`: bits 31..20 name the namespace (a device's mode objects and
//! framebuffers, or a client's buffer handles), bits 19..0 count from 1. Namespaces are
//! numbered from one global counter (wrapping past 4095, skipping 0). That is what lets
//! the client API tell apart, with distinct errors, an ID that belongs to someone else
//! ([`Error::ForeignObject`]), one of ours whose object is gone ([`Error::StaleObject`])
//! and one that was never handed out ([`Error::NoSuchObject`]).
//!
//! A `Table` files the objects in a [`kernel_core::id_map::IdMap`]: growing it is
//! fallible ([`Error::OutOfMemory`], nothing changed, no ID used up), and its capacity
//! follows its length down again, so removing what a test added gives the heap back.

use core::sync::atomic::{AtomicU32, Ordering};

use kernel_core::id_map::IdMap;

use super::error::{Error, Result};

/// What an ID names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// A CRTC (scanout engine).
    Crtc,
    /// A plane (primary or cursor).
    Plane,
    /// An encoder.
    Encoder,
    /// A connector.
    Connector,
    /// A framebuffer.
    Framebuffer,
    /// A client's dumb-buffer handle.
    Buffer,
}

const SERIAL_BITS: u32 = 20;
const SERIAL_MASK: u32 = (1 << SERIAL_BITS) - 1;
const NAMESPACES: u32 = 1 << (32 - SERIAL_BITS);

static NEXT_NAMESPACE: AtomicU32 = AtomicU32::new(1);

/// One issuer of IDs.
#[derive(Debug)]
pub(crate) struct Namespace {
    tag: u32,
    next: u32,
}

impl Namespace {
    /// A fresh namespace.
    pub(crate) fn new() -> Self {
        let tag = loop {
            let tag = NEXT_NAMESPACE.fetch_add(1, Ordering::Relaxed) % NAMESPACES;
            if tag != 0 {
                break tag;
            }
        };
        Self { tag, next: 1 }
    }

    /// The next ID.
    pub(crate) fn allocate(&mut self) -> Result<u32> {
        if self.next > SERIAL_MASK {
            return Err(Error::IdsExhausted);
        }
        let id = (self.tag << SERIAL_BITS) | self.next;
        self.next += 1;
        Ok(id)
    }

    /// Why `id` names nothing here.
    pub(crate) fn missing(&self, id: u32) -> Error {
        let serial = id & SERIAL_MASK;
        if id >> SERIAL_BITS != self.tag {
            if id >> SERIAL_BITS == 0 || serial == 0 {
                Error::NoSuchObject { id }
            } else {
                Error::ForeignObject { id }
            }
        } else if serial != 0 && serial < self.next {
            Error::StaleObject { id }
        } else {
            Error::NoSuchObject { id }
        }
    }
}

/// Objects of one namespace by ID.
#[derive(Debug)]
pub(crate) struct Table<T> {
    namespace: Namespace,
    objects: IdMap<T>,
}

impl<T> Table<T> {
    pub(crate) fn new() -> Self {
        Self {
            namespace: Namespace::new(),
            objects: IdMap::new(),
        }
    }

    /// Inserts `make(id)` under a fresh ID.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfMemory`] (before `make` runs), [`Error::IdsExhausted`].
    pub(crate) fn insert_with(&mut self, make: impl FnOnce(u32) -> T) -> Result<u32> {
        self.objects
            .try_reserve_one()
            .map_err(|_| Error::OutOfMemory)?;
        let id = self.namespace.allocate()?;
        // Room was reserved above: this cannot fail.
        self.objects
            .try_insert(id, make(id))
            .map_err(|_| Error::OutOfMemory)?;
        Ok(id)
    }

    /// The object named `id`, or why there is none.
    pub(crate) fn get(&self, id: u32) -> Result<&T> {
        self.objects
            .get(id)
            .ok_or_else(|| self.namespace.missing(id))
    }

    /// Takes the object named `id` out.
    pub(crate) fn remove(&mut self, id: u32) -> Result<T> {
        match self.objects.remove(id) {
            Some(object) => Ok(object),
            None => Err(self.namespace.missing(id)),
        }
    }

    /// The namespace's number (names the owner of the IDs).
    pub(crate) fn namespace_tag(&self) -> u32 {
        self.namespace.tag
    }

    /// Empties the table (giving its memory back) and yields the objects; allocates
    /// nothing.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> + use<T> {
        self.objects.drain()
    }
}
