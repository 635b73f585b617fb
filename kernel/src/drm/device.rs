//! The display device: its lifetime, managed resources, unplug guard, mode objects,
//! atomic state, and vblank events.
//!
//! # Two lifetimes
//!
//! A [`Device`] is reference counted (`Arc`). [`Device::new`] takes a counted reference
//! on the **parent** driver-model device and hands the parent's devres one reference of
//! its own (Linux's `devm_drm_dev_alloc`): when the parent's binding ends (unbind, or
//! delete even if nothing was bound) that devres action **unplugs** the device,
//! unregisters it from [`super::devices`] and drops that first reference. Clients hold
//! references of their own, so the object may outlive the binding; its managed
//! resources ([`Device::add_managed_action`], `drmm_*` in Linux) are released newest
//! first on the **last** reference, and only then is the parent reference put. Nothing
//! here refers back from the parent to the device after unbind, so there is no loop.
//!
//! # Unplug
//!
//! Every hardware access runs inside [`Device::enter`], which returns a [`Hardware`]
//! token or `None` once the device is unplugged (`drm_dev_enter`). [`Device::unplug`]
//! marks the device gone and then waits until every section in flight has left; after it
//! returns no driver code touches the hardware again, and every client call that would
//! fails with [`Error::Unplugged`]. Sections nest; unplug must not be called from inside
//! one (it would wait for itself).
//!
//! # One pipeline
//!
//! Each device has one CRTC fed by a primary plane and optionally a cursor plane, one
//! encoder and one connector with a mode list: the shape of Linux's simple display pipe,
//! which is what bochs and vkms use. The atomic [`State`] is the whole pipeline; a
//! commit builds a new state from the current one, checks it (core rules, then
//! [`Driver::atomic_check`]), and only then programs the hardware through
//! [`Driver::atomic_commit`] inside the unplug guard. Any error leaves the current state
//! untouched.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use drivermodel::context::Bound;

use super::buffer::Framebuffer;
use super::error::{Error, Result};
use super::format::{Format, Rect};
use super::mode::Mode;
use super::object::{Kind, Table};
use crate::arch::time;

pub(crate) static LIVE_DEVICES: AtomicUsize = AtomicUsize::new(0);
static NEXT_MINOR: AtomicU32 = AtomicU32::new(0);

/// Registered devices by minor number (the kernel's `/dev/dri`).
static REGISTERED: spin::Mutex<BTreeMap<u32, Weak<Device>>> = spin::Mutex::new(BTreeMap::new());

/// The largest cursor image.
pub const CURSOR_MAX: u32 = 64;
/// Most damage rectangles in one commit.
pub const MAX_DAMAGE_CLIPS: usize = 256;

/// What a display driver provides. Hardware callbacks receive a [`Hardware`] token, which
/// only exists inside the unplug guard.
pub trait Driver: Send + Sync + 'static {
    /// The driver's name.
    fn name(&self) -> &'static str;

    /// Whether the hardware can drive `mode` (`mode_valid`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMode`] or another reason.
    fn mode_valid(&self, mode: &Mode) -> Result<()> {
        let _ = mode;
        Ok(())
    }

    /// Driver-specific checks of a new state, after the core's.
    ///
    /// # Errors
    ///
    /// Any error refuses the commit.
    fn atomic_check(&self, state: &State) -> Result<()> {
        let _ = state;
        Ok(())
    }

    /// Programs the hardware for `commit.new`. On error the state stays the old one.
    ///
    /// # Errors
    ///
    /// The driver's failure.
    fn atomic_commit(&self, hardware: &Hardware<'_>, commit: &Commit<'_>) -> Result<()>;

    /// Whether the device has a vblank source. Without one, events are sent at the end
    /// of each commit (a "fake vblank", as Linux does).
    fn has_vblank(&self) -> bool {
        false
    }

    /// Deferred work: called by [`Device::poll`] inside the unplug guard (vkms runs its
    /// timer-driven vblank and composition here).
    fn poll(&self, device: &Device, hardware: &Hardware<'_>) {
        let _ = (device, hardware);
    }
}

/// The static description of a device's pipeline.
#[derive(Debug, Clone)]
pub struct Config {
    /// The connector's type, for listings ("Virtual", "VGA").
    pub connector_type: &'static str,
    /// The connector's modes (from EDID, or a fixed list), preferred first.
    pub modes: Vec<Mode>,
    /// Formats the primary plane scans out.
    pub primary_formats: &'static [Format],
    /// Whether there is a cursor plane (ARGB8888, up to [`CURSOR_MAX`] square).
    pub cursor: bool,
}

/// One plane's part of the state.
#[derive(Debug, Clone, Default)]
pub struct PlaneState {
    /// The framebuffer scanned out, if the plane is on.
    pub framebuffer: Option<Arc<Framebuffer>>,
    /// The part of the framebuffer shown.
    pub source: Rect,
    /// Where on the CRTC it is shown (same size as `source`: no scaling).
    pub destination: Rect,
}

impl PlaneState {
    /// Whether the plane shows something.
    pub fn is_visible(&self) -> bool {
        self.framebuffer.is_some()
    }
}

/// The whole pipeline's state.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// Whether the CRTC scans out.
    pub active: bool,
    /// The CRTC's mode.
    pub mode: Option<Mode>,
    /// Whether the connector is routed to the CRTC.
    pub connected: bool,
    /// The primary plane.
    pub primary: PlaneState,
    /// The cursor plane.
    pub cursor: PlaneState,
}

/// What [`Driver::atomic_commit`] must do.
#[derive(Debug)]
pub struct Commit<'a> {
    /// The state being replaced.
    pub old: &'a State,
    /// The state to program.
    pub new: &'a State,
    /// The areas of the CRTC to update (already clipped), when only part changed; `None`
    /// means everything (a mode, framebuffer or cursor change).
    pub damage: Option<&'a [Rect]>,
}

impl Commit<'_> {
    /// Whether the mode or the active flag changes (a full mode set).
    pub fn modeset(&self) -> bool {
        self.old.active != self.new.active || self.old.mode != self.new.mode
    }
}

/// Proof of being inside the unplug guard; dropping it leaves the section.
pub struct Hardware<'a> {
    device: &'a Device,
}

impl Drop for Hardware<'_> {
    fn drop(&mut self) {
        self.device.readers.fetch_sub(1, Ordering::Release);
    }
}

impl fmt::Debug for Hardware<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Hardware")
            .field("device", &self.device.name)
            .finish()
    }
}

/// An event delivered to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// A page flip (or a commit that asked for an event) completed.
    FlipComplete,
    /// A vblank the client asked for.
    Vblank,
}

/// A completion event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The CRTC's ID.
    pub crtc: u32,
    /// The vblank count when it happened.
    pub sequence: u64,
    /// The value the client attached.
    pub user_data: u64,
}

/// A client's event queue.
pub(crate) type EventQueue = spin::Mutex<VecDeque<Event>>;

struct Pending {
    queue: Weak<EventQueue>,
    kind: EventKind,
    user_data: u64,
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

pub(crate) struct ModeConfig {
    pub(crate) objects: Table<Object>,
    pub(crate) state: State,
}

impl ModeConfig {
    /// Resolves `id` as an object of `kind`.
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
}

struct Vblank {
    sequence: u64,
    pending: Vec<Pending>,
}

type ManagedNode = (u64, Box<dyn FnOnce() + Send>);

/// A display device (Linux's `struct drm_device`).
pub struct Device {
    name: String,
    minor: u32,
    parent: Option<drivermodel::ARef<drivermodel::Device>>,
    driver: Option<Box<dyn Driver>>,
    config: Config,
    objects: Objects,
    unplugged: AtomicBool,
    readers: AtomicUsize,
    pub(crate) mode_config: spin::Mutex<ModeConfig>,
    vblank: spin::Mutex<Vblank>,
    managed: spin::Mutex<(u64, Vec<ManagedNode>)>,
}

impl fmt::Debug for Device {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("drm::Device")
            .field("name", &self.name)
            .field("driver", &self.driver_name())
            .field("unplugged", &self.is_unplugged())
            .finish_non_exhaustive()
    }
}

/// A key for [`Device::release_managed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManagedKey(u64);

impl Device {
    /// Allocates a display device for `parent`'s current binding and registers it.
    ///
    /// The device holds a counted reference on `parent`; the parent's devres gets an
    /// action that unplugs and unregisters the device and drops the first reference
    /// (see the module docs). The returned `Arc` is a second reference, the caller's.
    ///
    /// # Errors
    ///
    /// [`Error::DriverModel`] if the devres action cannot be added (the device is then
    /// already unplugged and released), [`Error::IdsExhausted`].
    pub fn new(
        parent: &drivermodel::Device<Bound>,
        driver: impl Driver,
        config: Config,
    ) -> Result<Arc<Self>> {
        super::register_leak_probe();
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
        let minor = NEXT_MINOR.fetch_add(1, Ordering::Relaxed);
        LIVE_DEVICES.fetch_add(1, Ordering::Relaxed);
        let device = Arc::new(Self {
            name: alloc::format!("card{minor}"),
            minor,
            parent: Some(drivermodel::ARef::from(&**parent)),
            driver: Some(Box::new(driver)),
            config,
            objects: Objects {
                crtc,
                primary,
                cursor,
                encoder,
                connector,
            },
            unplugged: AtomicBool::new(false),
            readers: AtomicUsize::new(0),
            mode_config: spin::Mutex::new(ModeConfig {
                objects: table,
                state: State::default(),
            }),
            vblank: spin::Mutex::new(Vblank {
                sequence: 0,
                pending: Vec::new(),
            }),
            managed: spin::Mutex::new((0, Vec::new())),
        });
        REGISTERED.lock().insert(minor, Arc::downgrade(&device));
        let first = device.clone();
        parent.devres().add_action_or_reset(move || {
            first.unplug();
            drop(first);
        })?;
        Ok(device)
    }

    /// The device's name (`cardN`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The minor number.
    pub fn minor(&self) -> u32 {
        self.minor
    }

    /// The driver's name.
    pub fn driver_name(&self) -> &'static str {
        self.driver.as_ref().map_or("", |driver| driver.name())
    }

    /// The parent device.
    pub fn parent(&self) -> Option<&drivermodel::Device> {
        self.parent.as_deref()
    }

    /// The pipeline's description.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The mode objects' IDs.
    pub fn objects(&self) -> Objects {
        self.objects
    }

    // ---- unplug guard ----

    /// Enters a hardware section, or `None` once unplugged (`drm_dev_enter`).
    pub fn enter(&self) -> Option<Hardware<'_>> {
        self.readers.fetch_add(1, Ordering::AcqRel);
        if self.unplugged.load(Ordering::Acquire) {
            self.readers.fetch_sub(1, Ordering::Release);
            return None;
        }
        Some(Hardware { device: self })
    }

    /// Whether [`unplug`](Self::unplug) ran.
    pub fn is_unplugged(&self) -> bool {
        self.unplugged.load(Ordering::Acquire)
    }

    /// Marks the device gone, waits for hardware sections in flight, unregisters it and
    /// drops pending events (`drm_dev_unplug`). Idempotent.
    pub fn unplug(&self) {
        if self.unplugged.swap(true, Ordering::AcqRel) {
            return;
        }
        while self.readers.load(Ordering::Acquire) != 0 {
            core::hint::spin_loop();
        }
        unregister(self.minor);
        let pending = core::mem::take(&mut self.vblank.lock().pending);
        drop(pending);
    }

    /// Turns the pipeline off (`drm_atomic_helper_shutdown`): a best-effort commit of
    /// the empty state; nothing happens once unplugged.
    pub fn shutdown(&self) {
        let _ = self.atomic(
            |_, new| {
                *new = State::default();
                Ok(())
            },
            None,
            false,
            None,
        );
    }

    // ---- managed resources ----

    /// Adds an action run at the device's final release, newest first (`drmm_add_action`).
    ///
    /// # Errors
    ///
    /// [`Error::OutOfMemory`]; the action is then run at once (`_or_reset`).
    pub fn add_managed_action(&self, action: impl FnOnce() + Send + 'static) -> Result<ManagedKey> {
        let mut managed = self.managed.lock();
        if managed.1.try_reserve(1).is_err() {
            drop(managed);
            action();
            return Err(Error::OutOfMemory);
        }
        let key = managed.0;
        managed.0 += 1;
        managed.1.push((key, Box::new(action)));
        Ok(ManagedKey(key))
    }

    /// Keeps `value` until the device's final release (`drmm_kmalloc`).
    ///
    /// # Errors
    ///
    /// [`Error::OutOfMemory`]; the value is dropped.
    pub fn managed_value<T: Send + 'static>(&self, value: T) -> Result<ManagedKey> {
        self.add_managed_action(move || drop(value))
    }

    /// Runs a managed action now and forgets it (`drmm_release_action`).
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchObject`] if `key` is not (or no longer) on the list.
    pub fn release_managed(&self, key: ManagedKey) -> Result<()> {
        let node = {
            let mut managed = self.managed.lock();
            let position = managed.1.iter().position(|(own, _)| *own == key.0);
            position.map(|position| managed.1.remove(position))
        };
        let (_, action) = node.ok_or(Error::NoSuchObject { id: key.0 as u32 })?;
        action();
        Ok(())
    }

    // ---- state ----

    /// A copy of the current state.
    pub fn state(&self) -> State {
        self.mode_config.lock().state.clone()
    }

    /// The current vblank count.
    pub fn vblank_count(&self) -> u64 {
        self.vblank.lock().sequence
    }

    /// Runs the driver's deferred work (vblank timers) inside the unplug guard. Called by
    /// waiting clients and by the kernel's idle loop ([`super::poll_all`]).
    pub fn poll(&self) {
        if let (Some(driver), Some(hardware)) = (self.driver.as_deref(), self.enter()) {
            driver.poll(self, &hardware);
        }
    }

    /// Signals a vblank: counts it and delivers the events waiting for it
    /// (`drm_crtc_handle_vblank`). Drivers with a vblank source call this.
    pub fn handle_vblank(&self) {
        let (sequence, pending) = {
            let mut vblank = self.vblank.lock();
            vblank.sequence += 1;
            (vblank.sequence, core::mem::take(&mut vblank.pending))
        };
        self.deliver(sequence, pending);
    }

    fn deliver(&self, sequence: u64, pending: Vec<Pending>) {
        for event in pending {
            if let Some(queue) = event.queue.upgrade() {
                queue.lock().push_back(Event {
                    kind: event.kind,
                    crtc: self.objects.crtc,
                    sequence,
                    user_data: event.user_data,
                });
            }
        }
    }

    /// Whether an event is armed (a flip is pending).
    pub(crate) fn flip_pending(&self) -> bool {
        self.vblank
            .lock()
            .pending
            .iter()
            .any(|event| event.kind == EventKind::FlipComplete)
    }

    /// Arms a vblank event for a client (`drm_wait_vblank` with an event).
    pub(crate) fn arm_vblank_event(&self, queue: Weak<EventQueue>, user_data: u64) -> Result<()> {
        if !self
            .driver
            .as_ref()
            .is_some_and(|driver| driver.has_vblank())
        {
            return Err(Error::NotSupported { what: "vblank" });
        }
        if !self.mode_config.lock().state.active {
            return Err(Error::InvalidConfiguration {
                reason: "vblank wait on an inactive CRTC",
            });
        }
        let mut vblank = self.vblank.lock();
        vblank
            .pending
            .try_reserve(1)
            .map_err(|_| Error::OutOfMemory)?;
        vblank.pending.push(Pending {
            queue,
            kind: EventKind::Vblank,
            user_data,
        });
        Ok(())
    }

    /// Checks `new` against the core's rules and the driver's.
    fn check(&self, new: &State) -> Result<()> {
        if new.active {
            let mode = new.mode.ok_or(Error::InvalidConfiguration {
                reason: "active CRTC without a mode",
            })?;
            if !new.connected {
                return Err(Error::InvalidConfiguration {
                    reason: "active CRTC without a connector",
                });
            }
            if let Some(driver) = &self.driver {
                driver.mode_valid(&mode)?;
            }
            let framebuffer =
                new.primary
                    .framebuffer
                    .as_ref()
                    .ok_or(Error::InvalidConfiguration {
                        reason: "active CRTC without a primary framebuffer",
                    })?;
            if !self.config.primary_formats.contains(&framebuffer.format()) {
                return Err(Error::FormatNotSupported {
                    fourcc: framebuffer.format().fourcc(),
                });
            }
            if framebuffer.width() < mode.width() || framebuffer.height() < mode.height() {
                return Err(Error::FramebufferTooSmall {
                    framebuffer: (framebuffer.width(), framebuffer.height()),
                    needed: (mode.width(), mode.height()),
                });
            }
            let source = new.primary.source;
            if source.width != mode.width()
                || source.height != mode.height()
                || !source.within(framebuffer.width(), framebuffer.height())
            {
                return Err(Error::BadRectangle {
                    what: "primary plane source",
                });
            }
            if new.primary.destination != Rect::sized(mode.width(), mode.height()) {
                return Err(Error::BadRectangle {
                    what: "primary plane destination",
                });
            }
        } else if new.primary.is_visible() || new.cursor.is_visible() {
            return Err(Error::InvalidConfiguration {
                reason: "plane on an inactive CRTC",
            });
        }
        if let Some(framebuffer) = &new.cursor.framebuffer {
            if framebuffer.format() != Format::Argb8888 {
                return Err(Error::FormatNotSupported {
                    fourcc: framebuffer.format().fourcc(),
                });
            }
            let source = new.cursor.source;
            if source.width > CURSOR_MAX || source.height > CURSOR_MAX {
                return Err(Error::TooLarge {
                    what: "cursor",
                    value: source.width.max(source.height),
                    limit: CURSOR_MAX,
                });
            }
            if source.is_empty() || !source.within(framebuffer.width(), framebuffer.height()) {
                return Err(Error::BadRectangle {
                    what: "cursor source",
                });
            }
            let destination = new.cursor.destination;
            if destination.width != source.width || destination.height != source.height {
                return Err(Error::BadRectangle {
                    what: "cursor destination",
                });
            }
        }
        match &self.driver {
            Some(driver) => driver.atomic_check(new),
            None => Ok(()),
        }
    }

    /// Builds, checks and commits a new state: `update` edits a copy of the current one
    /// (resolving the caller's IDs), `damage` lists changed areas of the primary
    /// framebuffer (`None`: everything), `event` arms a flip-complete event.
    pub(crate) fn atomic(
        &self,
        update: impl FnOnce(&ModeConfig, &mut State) -> Result<()>,
        damage: Option<&[Rect]>,
        test_only: bool,
        event: Option<(Weak<EventQueue>, u64)>,
    ) -> Result<()> {
        if self.is_unplugged() {
            return Err(Error::Unplugged);
        }
        if damage.is_some_and(|clips| clips.len() > MAX_DAMAGE_CLIPS) {
            return Err(Error::TooLarge {
                what: "damage clip count",
                value: damage.map_or(0, |clips| clips.len()) as u32,
                limit: MAX_DAMAGE_CLIPS as u32,
            });
        }
        let mut config = self.mode_config.lock();
        let mut new = config.state.clone();
        update(&config, &mut new)?;
        self.check(&new)?;
        if event.is_some() {
            if !new.active {
                return Err(Error::InvalidConfiguration {
                    reason: "event on an inactive CRTC",
                });
            }
            if self.flip_pending() {
                return Err(Error::Busy);
            }
        }
        if test_only {
            return Ok(());
        }
        let old = &config.state;
        let same_scanout = !(old.active != new.active || old.mode != new.mode)
            && same_framebuffer(&old.primary, &new.primary)
            && old.primary.source == new.primary.source
            && same_framebuffer(&old.cursor, &new.cursor)
            && old.cursor.destination == new.cursor.destination;
        let clipped: Option<Vec<Rect>> = match damage {
            Some(clips) if same_scanout => Some(
                clips
                    .iter()
                    .map(|clip| {
                        clip.offset(-new.primary.source.x, -new.primary.source.y)
                            .intersect(&new.primary.destination)
                    })
                    .filter(|clip| !clip.is_empty())
                    .collect(),
            ),
            _ => None,
        };
        let driver = self.driver.as_deref().ok_or(Error::Unplugged)?;
        let hardware = self.enter().ok_or(Error::Unplugged)?;
        driver.atomic_commit(
            &hardware,
            &Commit {
                old,
                new: &new,
                damage: clipped.as_deref(),
            },
        )?;
        drop(hardware);
        let old = core::mem::replace(&mut config.state, new);
        drop(config);
        drop(old);
        if let Some((queue, user_data)) = event {
            let pending = Pending {
                queue,
                kind: EventKind::FlipComplete,
                user_data,
            };
            if driver.has_vblank() {
                let mut vblank = self.vblank.lock();
                vblank
                    .pending
                    .try_reserve(1)
                    .map_err(|_| Error::OutOfMemory)?;
                vblank.pending.push(pending);
            } else {
                let sequence = {
                    let mut vblank = self.vblank.lock();
                    vblank.sequence += 1;
                    vblank.sequence
                };
                self.deliver(sequence, alloc::vec![pending]);
            }
        }
        Ok(())
    }

    /// Turns off every plane showing framebuffer `id` (after its removal), in software
    /// if the device is unplugged.
    pub(crate) fn disable_framebuffer(&self, id: u32) {
        let uses = |plane: &PlaneState| plane.framebuffer.as_ref().is_some_and(|fb| fb.id == id);
        let state = self.state();
        if !uses(&state.primary) && !uses(&state.cursor) {
            return;
        }
        let result = self.atomic(
            |_, new| {
                if uses(&new.cursor) {
                    new.cursor = PlaneState::default();
                }
                if uses(&new.primary) {
                    *new = State::default();
                }
                Ok(())
            },
            None,
            false,
            None,
        );
        if result.is_err() {
            let mut config = self.mode_config.lock();
            if uses(&config.state.cursor) {
                config.state.cursor = PlaneState::default();
            }
            if uses(&config.state.primary) {
                config.state = State::default();
            }
        }
    }
}

fn same_framebuffer(a: &PlaneState, b: &PlaneState) -> bool {
    match (&a.framebuffer, &b.framebuffer) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        // Managed resources first, newest first; then the driver; the parent last.
        let nodes = core::mem::take(&mut self.managed.get_mut().1);
        for (_, action) in nodes.into_iter().rev() {
            action();
        }
        let objects: Vec<Object> = self.mode_config.get_mut().objects.drain().collect();
        drop(objects);
        self.mode_config.get_mut().state = State::default();
        drop(self.driver.take());
        drop(self.parent.take());
        unregister(self.minor);
        LIVE_DEVICES.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Takes `minor` out of the registry; an emptied map gives its node back to the heap.
fn unregister(minor: u32) {
    let mut registered = REGISTERED.lock();
    registered.remove(&minor);
    if registered.is_empty() {
        *registered = BTreeMap::new();
    }
}

/// The registered (not unplugged) devices, by minor number.
pub fn devices() -> Vec<Arc<Device>> {
    REGISTERED
        .lock()
        .values()
        .filter_map(Weak::upgrade)
        .collect()
}

/// Runs every registered device's deferred work ([`Device::poll`]).
pub fn poll_all() {
    for device in devices() {
        device.poll();
    }
}

/// Waits (polling the device, halting between timer ticks) until `done` holds, or
/// `timeout_micros` pass.
///
/// # Errors
///
/// [`Error::TimedOut`], or [`Error::Unplugged`] if the device goes while waiting.
pub fn wait_until(
    device: &Device,
    timeout_micros: u64,
    mut done: impl FnMut() -> bool,
) -> Result<()> {
    let start = time::rdtsc();
    loop {
        device.poll();
        if done() {
            return Ok(());
        }
        if device.is_unplugged() {
            return Err(Error::Unplugged);
        }
        if time::cycles_to_micros(time::rdtsc() - start) > timeout_micros {
            return Err(Error::TimedOut);
        }
        crate::arch::wait_for_interrupt();
    }
}
