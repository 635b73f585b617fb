//! The client API (Linux's `drm_file.c` and the mode ioctls): the kernel's stand-in for
//! DRM ioctls on an open device file.
//!
//! A [`Client`] is an open file: it holds a reference on the [`Device`] (so the device
//! object outlives an unplug while the client lives), its dumb-buffer handles, the
//! framebuffers it created, and its event queue. Every argument is an allegation: IDs are
//! resolved against the right namespace with distinct errors for foreign, stale and
//! unknown IDs ([`super::object`]); sizes are checked for zero, limits and overflow;
//! formats against the known fourcc codes. A refused call changes nothing.
//!
//! On a render-only device ([`Device::new_render`]) every mode-setting call (resources,
//! objects, framebuffers, commits, flips, vblank events) fails with
//! [`Error::NotSupported`] once the device is known to be plugged.
//!
//! A client shares a buffer with clients of other devices by exporting it
//! ([`Client::export_buffer`]) and they import it ([`Client::import_buffer`]); who then
//! holds what is in [`super::prime`]. A renderer marks its drawing with a fence
//! ([`Client::attach_fence`]) that commits wait for ([`super::fence`]).
//!
//! After an unplug every call that would reach the hardware, or create anything, fails
//! with [`Error::Unplugged`]; so do writes through a [`Mapping`]. Releasing calls
//! (destroying buffers, removing framebuffers, dropping the client) keep working, so a
//! client can always let go of what it holds.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};

use super::atomic::PlaneState;
use super::buffer::{Buffer, Mapping, Reference};
use super::device::Device;
use super::error::{Error, Result};
use super::fence::{self, Fence};
use super::format::Format;
use super::framebuffer::Framebuffer;
use super::mode::Mode;
use super::mode_config::{Lookup, Objects};
use super::object::{Kind, Table};
use super::prime::{self, SharedBuffer};
use super::quota::{self, Quota};
use super::rect::Rect;
use super::vblank::{Event, EventQueue};

pub(crate) static LIVE_CLIENTS: AtomicUsize = AtomicUsize::new(0);

/// What a mode-setting call on a render-only device returns.
pub(crate) const NO_MODESET: Error = Error::NotSupported {
    what: "mode setting (a render-only device)",
};

/// A dumb buffer as created: its handle and layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DumbBuffer {
    /// The client's handle.
    pub handle: u32,
    /// Bytes per row.
    pub pitch: u32,
    /// Size in bytes.
    pub size: u64,
}

/// A connector as listed for a client.
#[derive(Debug, Clone)]
pub struct ConnectorInfo {
    /// Its ID.
    pub id: u32,
    /// Its type ("Virtual", "VGA").
    pub connector_type: &'static str,
    /// Its modes, preferred first.
    pub modes: Vec<Mode>,
    /// Its encoder.
    pub encoder: u32,
    /// Whether it is routed to the CRTC now.
    pub routed: bool,
}

/// A plane's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlaneType {
    /// Scans out the CRTC's picture.
    Primary,
    /// A small ARGB image blended on top.
    Cursor,
}

/// A plane as listed for a client (`GETPLANE`).
#[derive(Debug, Clone)]
pub struct PlaneInfo {
    /// Its ID.
    pub id: u32,
    /// Its role.
    pub plane_type: PlaneType,
    /// The fourcc codes it scans out.
    pub formats: Vec<u32>,
    /// The CRTC it can feed.
    pub possible_crtc: u32,
    /// The framebuffer it shows now, if any.
    pub framebuffer: Option<u32>,
}

/// An encoder as listed for a client (`GETENCODER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderInfo {
    /// Its ID.
    pub id: u32,
    /// The CRTC it is driven by now, if any.
    pub crtc: Option<u32>,
}

/// An open display device.
pub struct Client {
    device: Arc<Device>,
    handles: spin::Mutex<Table<Reference>>,
    owner: u32,
    framebuffers: spin::Mutex<Vec<u32>>,
    events: Arc<EventQueue>,
    buffer_quota: Arc<Quota>,
}

impl fmt::Debug for Client {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Client")
            .field("device", &self.device.name())
            .field("framebuffers", &self.framebuffers.lock().len())
            .finish_non_exhaustive()
    }
}

/// An atomic update, built from raw IDs and checked as a whole at commit.
///
/// The builder grows its lists fallibly: a plane or damage rectangle that finds no heap
/// is not added and the request remembers it, so that [`Client::commit`] refuses it with
/// [`Error::OutOfMemory`] instead of committing part of it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    mode: Option<(u32, Option<Mode>)>,
    connector: Option<(u32, Option<u32>)>,
    planes: Vec<PlaneRequest>,
    damage: Option<Vec<Rect>>,
    test_only: bool,
    event: Option<u64>,
    /// A plane or a damage rectangle could not be added.
    out_of_memory: bool,
}

#[derive(Debug, Clone, Copy)]
struct PlaneRequest {
    plane: u32,
    crtc: Option<u32>,
    framebuffer: Option<u32>,
    source: Rect,
    destination: Rect,
}

impl Request {
    /// An empty request (a commit of it changes nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets CRTC `crtc`'s mode and turns it on (`Some`) or off (`None`).
    pub fn set_mode(mut self, crtc: u32, mode: Option<Mode>) -> Self {
        self.mode = Some((crtc, mode));
        self
    }

    /// Routes `connector` to `crtc` (or nowhere).
    pub fn connect(mut self, connector: u32, crtc: Option<u32>) -> Self {
        self.connector = Some((connector, crtc));
        self
    }

    /// Shows `source` of `framebuffer` at `destination` of `crtc` on `plane`.
    pub fn set_plane(
        mut self,
        plane: u32,
        crtc: u32,
        framebuffer: u32,
        source: Rect,
        destination: Rect,
    ) -> Self {
        self.push_plane(PlaneRequest {
            plane,
            crtc: Some(crtc),
            framebuffer: Some(framebuffer),
            source,
            destination,
        });
        self
    }

    /// Lights the whole pipeline of `objects` in `mode` with `framebuffer` full screen:
    /// the CRTC's mode, the connector routed to it, and the primary plane showing the
    /// framebuffer's top-left `mode`-sized rectangle over the whole screen.
    pub fn show_full_screen(self, objects: &Objects, mode: Mode, framebuffer: u32) -> Self {
        let screen = Rect::sized(mode.width(), mode.height());
        self.set_mode(objects.crtc, Some(mode))
            .connect(objects.connector, Some(objects.crtc))
            .set_plane(objects.primary, objects.crtc, framebuffer, screen, screen)
    }

    /// Turns `plane` off.
    pub fn disable_plane(mut self, plane: u32) -> Self {
        self.push_plane(PlaneRequest {
            plane,
            crtc: None,
            framebuffer: None,
            source: Rect::default(),
            destination: Rect::default(),
        });
        self
    }

    /// Adds `plane`, or marks the request out of memory.
    fn push_plane(&mut self, plane: PlaneRequest) {
        if self.planes.try_reserve(1).is_ok() {
            self.planes.push(plane);
        } else {
            self.out_of_memory = true;
        }
    }

    /// Adds a damage rectangle (framebuffer coordinates of the primary plane). Without
    /// any, the whole plane counts as changed.
    pub fn damage(mut self, rect: Rect) -> Self {
        let clips = self.damage.get_or_insert_with(Vec::new);
        if clips.try_reserve(1).is_ok() {
            clips.push(rect);
        } else {
            self.out_of_memory = true;
        }
        self
    }

    /// Only checks; changes nothing (`DRM_MODE_ATOMIC_TEST_ONLY`).
    pub fn test_only(mut self) -> Self {
        self.test_only = true;
        self
    }

    /// Asks for a flip-complete event carrying `user_data` (`DRM_MODE_PAGE_FLIP_EVENT`).
    pub fn event(mut self, user_data: u64) -> Self {
        self.event = Some(user_data);
        self
    }
}

impl Client {
    /// Opens `device`.
    ///
    /// # Errors
    ///
    /// [`Error::Unplugged`], [`Error::OutOfMemory`].
    pub fn open(device: &Arc<Device>) -> Result<Self> {
        if device.is_unplugged() {
            return Err(Error::Unplugged);
        }
        // The event queue's and the quota's `Arc`s are made infallibly ([`quota`]).
        quota::object_room()?;
        let handles = Table::new();
        let owner = handles.namespace_tag();
        LIVE_CLIENTS.fetch_add(1, Ordering::Relaxed);
        Ok(Self {
            device: device.clone(),
            handles: spin::Mutex::new(handles),
            owner,
            framebuffers: spin::Mutex::new(Vec::new()),
            events: Arc::new(EventQueue::new()),
            buffer_quota: Quota::new("client buffer memory", quota::CLIENT_BUFFER_LIMIT),
        })
    }

    /// The device.
    pub fn device(&self) -> &Arc<Device> {
        &self.device
    }

    fn live(&self) -> Result<()> {
        if self.device.is_unplugged() {
            Err(Error::Unplugged)
        } else {
            Ok(())
        }
    }

    /// [`live`](Self::live), and the device has mode-setting objects.
    fn modeset(&self) -> Result<()> {
        self.live()?;
        if self.device.has_modeset() {
            Ok(())
        } else {
            Err(NO_MODESET)
        }
    }

    /// The mode objects' IDs (`GETRESOURCES`).
    ///
    /// # Errors
    ///
    /// [`Error::Unplugged`], [`Error::NotSupported`] on a render-only device.
    pub fn resources(&self) -> Result<Objects> {
        self.modeset()?;
        Ok(self.device.objects())
    }

    /// A connector and its modes (`GETCONNECTOR`).
    ///
    /// # Errors
    ///
    /// [`Error::Unplugged`], [`Error::NotSupported`] on a render-only device, an ID
    /// error, [`Error::OutOfMemory`].
    pub fn connector(&self, id: u32) -> Result<ConnectorInfo> {
        self.modeset()?;
        let routed = self.device.mode_config().lookup(|lookup, state| {
            lookup.resolve(id, Kind::Connector)?;
            Ok::<_, Error>(state.connected)
        })?;
        let mut modes = Vec::new();
        modes
            .try_reserve_exact(self.device.config().modes.len())
            .map_err(|_| Error::OutOfMemory)?;
        modes.extend_from_slice(&self.device.config().modes);
        Ok(ConnectorInfo {
            id,
            connector_type: self.device.config().connector_type,
            modes,
            encoder: self.device.objects().encoder,
            routed,
        })
    }

    /// A plane, its formats and what it shows (`GETPLANE`).
    ///
    /// # Errors
    ///
    /// [`Error::Unplugged`], [`Error::NotSupported`] on a render-only device, an ID
    /// error, [`Error::OutOfMemory`].
    pub fn plane(&self, id: u32) -> Result<PlaneInfo> {
        self.modeset()?;
        let objects = self.device.objects();
        let primary = id == objects.primary;
        let framebuffer = self.device.mode_config().lookup(|lookup, state| {
            lookup.resolve(id, Kind::Plane)?;
            let plane = if primary {
                &state.primary
            } else {
                &state.cursor
            };
            Ok::<_, Error>(
                plane
                    .framebuffer
                    .as_ref()
                    .map(|framebuffer| framebuffer.id()),
            )
        })?;
        let (plane_type, scanned): (_, &[Format]) = if primary {
            (PlaneType::Primary, self.device.config().primary_formats)
        } else {
            (PlaneType::Cursor, &[Format::Argb8888])
        };
        let mut formats = Vec::new();
        formats
            .try_reserve_exact(scanned.len())
            .map_err(|_| Error::OutOfMemory)?;
        formats.extend(scanned.iter().map(|format| format.fourcc()));
        Ok(PlaneInfo {
            id,
            plane_type,
            formats,
            possible_crtc: objects.crtc,
            framebuffer,
        })
    }

    /// An encoder and the CRTC driving it (`GETENCODER`).
    ///
    /// # Errors
    ///
    /// [`Error::Unplugged`], [`Error::NotSupported`] on a render-only device, or an ID
    /// error.
    pub fn encoder(&self, id: u32) -> Result<EncoderInfo> {
        self.modeset()?;
        let active = self.device.mode_config().lookup(|lookup, state| {
            lookup.resolve(id, Kind::Encoder)?;
            Ok::<_, Error>(state.active)
        })?;
        Ok(EncoderInfo {
            id,
            crtc: active.then_some(self.device.objects().crtc),
        })
    }

    /// Creates a zeroed 32-bpp dumb buffer (`CREATE_DUMB`).
    ///
    /// # Errors
    ///
    /// [`Error::Unplugged`]; the size errors of [`super::buffer::dumb_layout`];
    /// [`Error::OutOfMemory`].
    pub fn create_dumb(&self, width: u32, height: u32, bpp: u32) -> Result<DumbBuffer> {
        self.live()?;
        // The buffer's `Arc` is made infallibly ([`quota`]).
        quota::object_room()?;
        let quotas = [&self.buffer_quota, self.device.buffer_quota()];
        let buffer = Arc::new(Buffer::new(width, height, bpp, quotas)?);
        let (pitch, size) = (buffer.pitch(), buffer.size());
        let handle = self
            .handles
            .lock()
            .insert_with(|_| Reference::own(buffer))?;
        Ok(DumbBuffer {
            handle,
            pitch,
            size,
        })
    }

    fn buffer(&self, handle: u32) -> Result<Reference> {
        self.handles.lock().get(handle).cloned()
    }

    /// Exports a buffer as a shared buffer for clients of other devices (`PRIME
    /// HANDLE_TO_FD`). Exporting the same buffer again, while its shared buffer lives,
    /// gives that one; exporting an import gives the shared buffer it came from. The
    /// memory stays charged to the client and device that created it.
    ///
    /// # Errors
    ///
    /// [`Error::Unplugged`], a handle error, [`Error::IdsExhausted`],
    /// [`Error::OutOfMemory`].
    pub fn export_buffer(&self, handle: u32) -> Result<SharedBuffer> {
        self.live()?;
        let buffer = self.buffer(handle)?;
        let shared = match buffer.import() {
            Some(shared) => shared.clone(),
            None => buffer.buffer().shared(&self.device)?,
        };
        Ok(SharedBuffer::new(shared))
    }

    /// Attaches a write fence to a buffer (`VGEM_FENCE_ATTACH`): scanout of the buffer,
    /// on any device, waits until the returned [`Fence`] is signalled (or dropped), at
    /// most [`fence::FENCE_TIMEOUT_MICROS`] ([`super::fence`]).
    ///
    /// # Errors
    ///
    /// [`Error::Unplugged`], a handle error, [`Error::FencePending`] while the buffer's
    /// last fence is unsignalled, [`Error::OutOfMemory`].
    pub fn attach_fence(&self, handle: u32) -> Result<Fence> {
        self.live()?;
        self.buffer(handle)?.buffer().attach_fence()
    }

    /// Waits for the write fences of the buffers behind `framebuffers` (this client's
    /// IDs; an ID that names nothing is left for the caller to refuse).
    ///
    /// # Errors
    ///
    /// [`Error::FenceTimeout`], [`Error::Unplugged`].
    fn wait_for_fences(&self, framebuffers: impl Iterator<Item = u32>) -> Result<()> {
        for id in framebuffers {
            let pending = self.device.mode_config().lookup(|lookup, _| {
                lookup
                    .framebuffer(id, self.owner)
                    .ok()
                    .and_then(|framebuffer| framebuffer.pending_fence())
            });
            if let Some(pending) = pending {
                fence::wait(&self.device, &pending)?;
            }
        }
        Ok(())
    }

    /// Imports the shared buffer `id` exported by another device's client (`PRIME
    /// FD_TO_HANDLE`): a new handle of this client that holds the shared buffer. Each
    /// import is a new handle; nothing is allocated or charged but the handle.
    ///
    /// # Errors
    ///
    /// [`Error::Unplugged`] (this client's device); [`Error::StaleObject`],
    /// [`Error::NoSuchObject`] or [`Error::ForeignObject`] for an ID that names no live
    /// shared buffer ([`super::prime`]); [`Error::ImportIntoExporter`] for a buffer this
    /// device exported; [`Error::IdsExhausted`], [`Error::OutOfMemory`]. Nothing changes
    /// on an error.
    pub fn import_buffer(&self, id: u32) -> Result<DumbBuffer> {
        self.live()?;
        let shared = prime::Shared::lookup(id)?;
        if Arc::ptr_eq(shared.exporter(), &self.device) {
            return Err(Error::ImportIntoExporter { id });
        }
        let (pitch, size) = (shared.buffer().pitch(), shared.buffer().size());
        let handle = self
            .handles
            .lock()
            .insert_with(|_| Reference::imported(shared))?;
        Ok(DumbBuffer {
            handle,
            pitch,
            size,
        })
    }

    /// Maps a dumb buffer for drawing (`MAP_DUMB` + `mmap`).
    ///
    /// # Errors
    ///
    /// [`Error::Unplugged`], or a handle error.
    pub fn map_dumb(&self, handle: u32) -> Result<Mapping> {
        self.live()?;
        Ok(Mapping::new(self.buffer(handle)?, self.device.clone()))
    }

    /// Destroys a handle (`DESTROY_DUMB`); framebuffers made from it keep the memory.
    /// Works after unplug.
    ///
    /// # Errors
    ///
    /// A handle error.
    pub fn destroy_dumb(&self, handle: u32) -> Result<()> {
        let buffer = self.handles.lock().remove(handle)?;
        drop(buffer);
        Ok(())
    }

    /// Creates a framebuffer from a dumb buffer (`ADDFB2`).
    ///
    /// # Errors
    ///
    /// [`Error::Unplugged`], [`Error::NotSupported`] on a render-only device, a handle
    /// error, or a validation error of the description
    /// (zero or huge size, unknown or unsupported format, bad pitch, overflow, buffer too
    /// small), [`Error::OutOfMemory`].
    pub fn add_framebuffer(
        &self,
        handle: u32,
        width: u32,
        height: u32,
        fourcc: u32,
        pitch: u32,
    ) -> Result<u32> {
        self.modeset()?;
        let buffer = self.buffer(handle)?;
        let format = Framebuffer::validate(buffer.buffer(), width, height, fourcc, pitch)?;
        let mut framebuffers = self.framebuffers.lock();
        framebuffers
            .try_reserve(1)
            .map_err(|_| Error::OutOfMemory)?;
        // The framebuffer's `Arc` is made infallibly ([`quota`]).
        quota::object_room()?;
        let id = self.device.mode_config().add_framebuffer(|id| {
            Framebuffer::new(id, self.owner, buffer, (width, height, pitch), format)
        })?;
        framebuffers.push(id);
        Ok(id)
    }

    /// A full-screen XRGB8888 framebuffer for `mode`, mapped for drawing: a dumb buffer,
    /// its framebuffer ID and its mapping. The dumb handle is closed on every path; the
    /// framebuffer and the mapping keep the buffer alive.
    ///
    /// # Errors
    ///
    /// As [`create_dumb`](Self::create_dumb), [`add_framebuffer`](Self::add_framebuffer)
    /// and [`map_dumb`](Self::map_dumb).
    pub fn create_mapped_framebuffer(&self, mode: Mode) -> Result<(u32, Mapping)> {
        let buffer = self.create_dumb(mode.width(), mode.height(), 32)?;
        let made = self
            .add_framebuffer(
                buffer.handle,
                mode.width(),
                mode.height(),
                Format::Xrgb8888.fourcc(),
                buffer.pitch,
            )
            .and_then(|framebuffer| Ok((framebuffer, self.map_dumb(buffer.handle)?)));
        let closed = self.destroy_dumb(buffer.handle);
        let made = made?;
        closed?;
        Ok(made)
    }

    /// Removes a framebuffer (`RMFB`); planes showing it are turned off. Works after
    /// unplug (then only in software).
    ///
    /// # Errors
    ///
    /// An ID error (another client's framebuffer is foreign).
    pub fn remove_framebuffer(&self, id: u32) -> Result<()> {
        self.device
            .mode_config()
            .remove_framebuffer(id, Some(self.owner))?;
        self.framebuffers.lock().retain(|own| *own != id);
        self.device.disable_framebuffer(id);
        Ok(())
    }

    /// Commits (or with `test_only`, checks) an atomic request (`ATOMIC`).
    ///
    /// # Errors
    ///
    /// [`Error::Unplugged`], [`Error::NotSupported`] on a render-only device, ID errors,
    /// and every check of the new state
    /// ([`Error::FramebufferTooSmall`], [`Error::InvalidConfiguration`], ...),
    /// [`Error::Busy`] if an event is asked while a flip is pending,
    /// [`Error::FenceTimeout`] if a framebuffer's buffer has a write fence that is not
    /// signalled in time ([`super::fence`]; a test-only request does not wait),
    /// [`Error::OutOfMemory`] if the request could not be built whole ([`Request`]) or
    /// the commit finds no memory for its event or damage.
    pub fn commit(&self, request: &Request) -> Result<()> {
        if request.out_of_memory {
            return Err(Error::OutOfMemory);
        }
        if !request.test_only {
            self.wait_for_fences(request.planes.iter().filter_map(|plane| plane.framebuffer))?;
        }
        let objects = self.device.objects();
        let queue = request.event.map(|user_data| (&self.events, user_data));
        self.device.atomic(
            |lookup, new| {
                if let Some((crtc, mode)) = request.mode {
                    Self::expect(lookup, crtc, Kind::Crtc, objects.crtc)?;
                    new.mode = mode;
                    new.active = mode.is_some();
                    if mode.is_none() {
                        new.primary = PlaneState::default();
                        new.cursor = PlaneState::default();
                    }
                }
                if let Some((connector, crtc)) = request.connector {
                    Self::expect(lookup, connector, Kind::Connector, objects.connector)?;
                    if let Some(crtc) = crtc {
                        Self::expect(lookup, crtc, Kind::Crtc, objects.crtc)?;
                    }
                    new.connected = crtc.is_some();
                }
                for plane in &request.planes {
                    lookup.resolve(plane.plane, Kind::Plane)?;
                    let state = if plane.plane == objects.primary {
                        &mut new.primary
                    } else {
                        &mut new.cursor
                    };
                    match (plane.crtc, plane.framebuffer) {
                        (Some(crtc), Some(framebuffer)) => {
                            Self::expect(lookup, crtc, Kind::Crtc, objects.crtc)?;
                            *state = PlaneState {
                                framebuffer: Some(lookup.framebuffer(framebuffer, self.owner)?),
                                source: plane.source,
                                destination: plane.destination,
                            };
                        }
                        _ => *state = PlaneState::default(),
                    }
                }
                Ok(())
            },
            request.damage.as_deref(),
            request.test_only,
            queue,
        )
    }

    /// Resolves `id` as the device's object of `kind` (there is one of each).
    fn expect(lookup: &Lookup<'_>, id: u32, kind: Kind, own: u32) -> Result<()> {
        lookup.resolve(id, kind)?;
        if id == own {
            Ok(())
        } else {
            Err(Error::NoSuchObject { id })
        }
    }

    /// Flushes changed areas of a framebuffer to the screen (`DIRTYFB`); nothing to do
    /// when it is not shown.
    ///
    /// # Errors
    ///
    /// [`Error::Unplugged`], [`Error::NotSupported`] on a render-only device, an ID
    /// error, [`Error::TooLarge`] for too many clips,
    /// [`Error::FenceTimeout`] (as [`commit`](Self::commit)).
    pub fn dirty_framebuffer(&self, id: u32, clips: &[Rect]) -> Result<()> {
        self.modeset()?;
        let shown = self.device.mode_config().lookup(|lookup, state| {
            let framebuffer = lookup.framebuffer(id, self.owner)?;
            Ok::<_, Error>(
                state
                    .primary
                    .framebuffer
                    .as_ref()
                    .is_some_and(|shown| Arc::ptr_eq(shown, &framebuffer)),
            )
        })?;
        if !shown {
            return Ok(());
        }
        self.wait_for_fences(core::iter::once(id))?;
        let full;
        let clips = if clips.is_empty() {
            full = [Rect::sized(u32::MAX >> 1, u32::MAX >> 1)];
            &full[..]
        } else {
            clips
        };
        self.device.atomic(|_, _| Ok(()), Some(clips), false, None)
    }

    /// Shows `framebuffer` on the primary plane at the next vblank and queues a
    /// flip-complete event with `user_data` (`PAGE_FLIP`).
    ///
    /// # Errors
    ///
    /// As [`commit`](Self::commit); [`Error::Busy`] while the previous flip is pending.
    pub fn page_flip(&self, crtc: u32, framebuffer: u32, user_data: u64) -> Result<()> {
        self.modeset()?;
        let state = self.device.state();
        let mode = state.mode.ok_or(Error::InvalidConfiguration {
            reason: "page flip on an inactive CRTC",
        })?;
        let objects = self.device.objects();
        self.commit(
            &Request::new()
                .set_plane(
                    objects.primary,
                    crtc,
                    framebuffer,
                    state.primary.source,
                    Rect::sized(mode.width(), mode.height()),
                )
                .event(user_data),
        )
    }

    /// Asks for a vblank event carrying `user_data` (`WAIT_VBLANK` with an event).
    ///
    /// # Errors
    ///
    /// [`Error::Unplugged`], [`Error::NotSupported`] without a vblank source,
    /// [`Error::InvalidConfiguration`] when the CRTC is off.
    pub fn request_vblank(&self, user_data: u64) -> Result<()> {
        self.modeset()?;
        self.device.arm_vblank_event(&self.events, user_data)
    }

    /// Takes the oldest queued event (`read`).
    pub fn read_event(&self) -> Option<Event> {
        self.events.pop()
    }

    /// Waits up to `timeout_micros` for an event.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`], [`Error::Unplugged`].
    pub fn wait_event(&self, timeout_micros: u64) -> Result<Event> {
        let mut event = None;
        super::device::wait_until(&self.device, timeout_micros, || {
            event = self.read_event();
            event.is_some()
        })?;
        event.ok_or(Error::TimedOut)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // The file's framebuffers go with it (drm_fb_release), then its handles.
        let framebuffers = core::mem::take(&mut *self.framebuffers.lock());
        for id in framebuffers {
            let _ = self.device.mode_config().remove_framebuffer(id, None);
            self.device.disable_framebuffer(id);
        }
        // Taken out under the lock without allocating, dropped after it.
        let handles = self.handles.lock().drain();
        drop(handles);
        LIVE_CLIENTS.fetch_sub(1, Ordering::Relaxed);
    }
}
