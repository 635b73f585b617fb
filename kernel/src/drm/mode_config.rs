//! Mode configuration (Linux's `drm_mode_config.c` with `drm_mode_object.c`'s lookup):
//! the pipeline's static description, its mode objects and framebuffers by ID, and the
//! current atomic state, under one lock that `ModeConfig` owns.
//!
//! Callers never take that lock: they look objects up through `ModeConfig::lookup`,
//! add and remove framebuffers through its methods, and the atomic commit
//! ([`super::atomic`]) replaces the state inside `ModeConfig::transaction`.

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::atomic::State;
use super::error::{Error, Result};
use super::format::Format;
use super::framebuffer::Framebuffer;
use super::mode::Mode;
use super::object::{Kind, Table};

/// The static description of a device's pipeline.
#[derive(Debug, Clone)]
pub struct Config {
    /// The connector's type, for listings ("Virtual", "VGA").
    pub connector_type: &'static str,
    /// The connector's modes (from EDID, or a fixed list), preferred first.
    pub modes: Vec<Mode>,
    /// Formats the primary plane scans out.
    pub primary_formats: &'static [Format],
    /// Whether there is a cursor plane (ARGB8888, up to
    /// [`CURSOR_MAX`](super::atomic::CURSOR_MAX) square).
    pub cursor: bool,
}

/// The mode objects' IDs.
#[derive(Debug, Clone, Copy)]
pub struct Objects {
    /// The CRTC.
    pub crtc: u32,
    /// The primary plane.
    pub primary: u32,
    /// The cursor plane, if any.
    pub cursor: Option<u32>,
    /// The encoder.
    pub encoder: u32,
    /// The connector.
    pub connector: u32,
}

/// What an object table entry is.
#[derive(Debug, Clone)]
pub(crate) enum Object {
    Crtc,
    Plane,
    Encoder,
    Connector,
    Framebuffer(Arc<Framebuffer>),
}

impl Object {
    fn kind(&self) -> Kind {
        match self {
            Self::Crtc => Kind::Crtc,
            Self::Plane => Kind::Plane,
            Self::Encoder => Kind::Encoder,
            Self::Connector => Kind::Connector,
            Self::Framebuffer(_) => Kind::Framebuffer,
        }
    }
}

/// The objects by ID, as seen while the mode configuration is locked.
#[derive(Debug)]
pub(crate) struct Lookup<'a> {
    objects: &'a Table<Object>,
}

impl Lookup<'_> {
    /// Resolves `id` as an object of `kind`.
    ///
    /// # Errors
    ///
    /// An ID error, or [`Error::WrongKind`].
    pub(crate) fn resolve(&self, id: u32, kind: Kind) -> Result<&Object> {
        let object = self.objects.get(id)?;
        if object.kind() != kind {
            return Err(Error::WrongKind {
                id,
                expected: kind,
                actual: object.kind(),
            });
        }
        Ok(object)
    }

    /// Resolves a framebuffer ID that the client `owner` created.
    ///
    /// # Errors
    ///
    /// An ID error; [`Error::ForeignObject`] for another client's framebuffer.
    pub(crate) fn framebuffer(&self, id: u32, owner: u32) -> Result<Arc<Framebuffer>> {
        match self.resolve(id, Kind::Framebuffer)? {
            Object::Framebuffer(framebuffer) if framebuffer.owner == owner => {
                Ok(framebuffer.clone())
            }
            Object::Framebuffer(_) => Err(Error::ForeignObject { id }),
            _ => Err(Error::NoSuchObject { id }),
        }
    }
}

struct Inner {
    objects: Table<Object>,
    state: State,
}

/// A device's mode objects, framebuffers and current state, with their lock.
pub(crate) struct ModeConfig {
    inner: spin::Mutex<Inner>,
}

impl core::fmt::Debug for ModeConfig {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.debug_struct("ModeConfig").finish_non_exhaustive()
    }
}

impl ModeConfig {
    /// The mode objects `config` describes, with fresh IDs, and the empty state.
    ///
    /// # Errors
    ///
    /// [`Error::IdsExhausted`].
    pub(crate) fn new(config: &Config) -> Result<(Self, Objects)> {
        let mut table = Table::new();
        let crtc = table.insert_with(|_| Object::Crtc)?;
        let primary = table.insert_with(|_| Object::Plane)?;
        let cursor = if config.cursor {
            Some(table.insert_with(|_| Object::Plane)?)
        } else {
            None
        };
        let encoder = table.insert_with(|_| Object::Encoder)?;
        let connector = table.insert_with(|_| Object::Connector)?;
        let objects = Objects {
            crtc,
            primary,
            cursor,
            encoder,
            connector,
        };
        let inner = Inner {
            objects: table,
            state: State::default(),
        };
        Ok((
            Self {
                inner: spin::Mutex::new(inner),
            },
            objects,
        ))
    }

    /// No mode objects at all (a render-only device): the IDs are 0, which name nothing.
    pub(crate) fn without_objects() -> (Self, Objects) {
        let objects = Objects {
            crtc: 0,
            primary: 0,
            cursor: None,
            encoder: 0,
            connector: 0,
        };
        let inner = Inner {
            objects: Table::new(),
            state: State::default(),
        };
        (
            Self {
                inner: spin::Mutex::new(inner),
            },
            objects,
        )
    }

    /// A copy of the current state.
    pub(crate) fn state(&self) -> State {
        self.inner.lock().state.clone()
    }

    /// Runs `function` on the objects and the current state, locked.
    pub(crate) fn lookup<R>(&self, function: impl FnOnce(&Lookup<'_>, &State) -> R) -> R {
        let inner = self.inner.lock();
        function(
            &Lookup {
                objects: &inner.objects,
            },
            &inner.state,
        )
    }

    /// Runs `function` on the objects and the current state, locked, for it to replace
    /// the state (the atomic commit).
    pub(crate) fn transaction<R>(&self, function: impl FnOnce(&Lookup<'_>, &mut State) -> R) -> R {
        let mut inner = self.inner.lock();
        let Inner { objects, state } = &mut *inner;
        function(&Lookup { objects }, state)
    }

    /// Edits the current state without any check or hardware (the fallback when a
    /// framebuffer goes from an unplugged device).
    pub(crate) fn force_state(&self, function: impl FnOnce(&mut State)) {
        function(&mut self.inner.lock().state);
    }

    /// Adds `make(id)` as framebuffer `id`.
    ///
    /// # Errors
    ///
    /// [`Error::IdsExhausted`].
    pub(crate) fn add_framebuffer(&self, make: impl FnOnce(u32) -> Framebuffer) -> Result<u32> {
        self.inner
            .lock()
            .objects
            .insert_with(|id| Object::Framebuffer(Arc::new(make(id))))
    }

    /// Removes framebuffer `id`, if `owner` created it (any owner: `None`). The object
    /// is dropped after the lock is released.
    ///
    /// # Errors
    ///
    /// An ID error, [`Error::ForeignObject`].
    pub(crate) fn remove_framebuffer(&self, id: u32, owner: Option<u32>) -> Result<()> {
        let object = {
            let mut inner = self.inner.lock();
            if let Some(owner) = owner {
                Lookup {
                    objects: &inner.objects,
                }
                .framebuffer(id, owner)?;
            }
            inner.objects.remove(id)?
        };
        drop(object);
        Ok(())
    }

    /// Drops every object and the state (the device's final release).
    pub(crate) fn release_all(&mut self) {
        let inner = self.inner.get_mut();
        // Taken out without allocating, dropped after.
        let objects = inner.objects.drain();
        drop(objects);
        inner.state = State::default();
    }
}
