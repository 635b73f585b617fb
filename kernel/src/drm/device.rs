//! The display device (Linux's `drm_drv.c`): its lifetime, registration, and the unplug
//! guard.
//!
//! # Two lifetimes
//!
//! A [`Device`] is reference counted (`Arc`). [`Device::new`] takes a counted reference
//! on the **parent** driver-model device and hands the parent's devres one reference of
//! its own (Linux's `devm_drm_dev_alloc`): when the parent's binding ends (unbind, or
//! delete even if nothing was bound) that devres action **unplugs** the device,
//! unregisters it from [`devices`] and drops that first reference. Clients hold
//! references of their own, so the object may outlive the binding; its managed
//! resources ([`super::managed`], `drmm_*` in Linux) are released newest first on the
//! **last** reference, and only then is the parent reference put. Nothing here refers
//! back from the parent to the device after unbind, so there is no loop.
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
//! # Render-only devices
//!
//! [`Device::new_render`] makes a device without mode-setting objects (no CRTC, plane,
//! encoder or connector: Linux's drivers without `DRIVER_MODESET`, such as vgem). Its
//! clients create, map, destroy and share dumb buffers through the same quotas as on any
//! device; every mode-setting call fails with [`Error::NotSupported`].
//!
//! The device's parts each own their lock: the mode objects and state
//! ([`super::mode_config`]), vblank and events ([`super::vblank`]), managed resources
//! ([`super::managed`]); the atomic commit is in [`super::atomic`].

use alloc::boxed::Box;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use drivermodel::context::Bound;
use kernel_core::id_map::IdMap;

use super::atomic::{Commit, State};
use super::driver::Driver;
use super::error::{Error, Result};
use super::managed::Managed;
use super::mode::Mode;
use super::mode_config::{Config, ModeConfig, Objects};
use super::quota::{self, Quota};
use super::vblank::Vblank;
use crate::arch::time;
use crate::text::FixedString;

pub(crate) static LIVE_DEVICES: AtomicUsize = AtomicUsize::new(0);
static NEXT_MINOR: AtomicU32 = AtomicU32::new(0);

/// Registered devices by minor number (the kernel's `/dev/dri`).
static REGISTERED: spin::Mutex<IdMap<Weak<Device>>> = spin::Mutex::new(IdMap::new());

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

/// A display device (Linux's `struct drm_device`).
pub struct Device {
    /// `cardN`: at most 14 bytes.
    name: FixedString<16>,
    minor: u32,
    parent: Option<drivermodel::ARef<drivermodel::Device>>,
    driver: Option<Box<dyn Driver>>,
    config: Config,
    objects: Objects,
    modeset: bool,
    unplugged: AtomicBool,
    readers: AtomicUsize,
    mode_config: ModeConfig,
    vblank: Vblank,
    managed: Managed,
    buffer_quota: Arc<Quota>,
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
    /// already unplugged and released), [`Error::IdsExhausted`], [`Error::OutOfMemory`].
    pub fn new(
        parent: &drivermodel::Device<Bound>,
        driver: impl Driver,
        config: Config,
    ) -> Result<Arc<Self>> {
        let (mode_config, objects) = ModeConfig::new(&config)?;
        Self::register(
            parent,
            Box::new(driver),
            config,
            Some((mode_config, objects)),
        )
    }

    /// Allocates a render-only display device (no mode-setting objects; see the module
    /// docs) for `parent`'s current binding and registers it, as [`new`](Self::new) does.
    ///
    /// # Errors
    ///
    /// [`Error::DriverModel`] if the devres action cannot be added,
    /// [`Error::OutOfMemory`].
    pub fn new_render(
        parent: &drivermodel::Device<Bound>,
        driver: impl Driver,
    ) -> Result<Arc<Self>> {
        let config = Config {
            connector_type: "",
            modes: Vec::new(),
            primary_formats: &[],
            cursor: false,
        };
        Self::register(parent, Box::new(driver), config, None)
    }

    /// The common part of [`new`](Self::new) and [`new_render`](Self::new_render):
    /// `modeset` holds the mode objects, `None` for a render-only device.
    fn register(
        parent: &drivermodel::Device<Bound>,
        driver: Box<dyn Driver>,
        config: Config,
        modeset: Option<(ModeConfig, Objects)>,
    ) -> Result<Arc<Self>> {
        let has_modeset = modeset.is_some();
        let (mode_config, objects) = modeset.unwrap_or_else(ModeConfig::without_objects);
        // The device, its quota and the driver's box are made infallibly (stable Rust
        // has no `Arc::try_new`): the room for them is checked first, and the registry
        // entry is reserved before anything is counted (see `super::quota`).
        quota::object_room()?;
        let mut registered = REGISTERED.lock();
        registered
            .try_reserve_one()
            .map_err(|_| Error::OutOfMemory)?;
        let minor = NEXT_MINOR.fetch_add(1, Ordering::Relaxed);
        LIVE_DEVICES.fetch_add(1, Ordering::Relaxed);
        let device = Arc::new(Self {
            name: FixedString::from_fmt(format_args!("card{minor}")),
            minor,
            parent: Some(drivermodel::ARef::from(&**parent)),
            driver: Some(driver),
            config,
            objects,
            modeset: has_modeset,
            unplugged: AtomicBool::new(false),
            readers: AtomicUsize::new(0),
            mode_config,
            vblank: Vblank::new(),
            managed: Managed::new(),
            buffer_quota: Quota::new("device buffer memory", quota::DEVICE_BUFFER_LIMIT),
        });
        let filed = registered.try_insert(minor, Arc::downgrade(&device));
        drop(registered);
        if filed.is_err() {
            // Not reached (room was reserved above); the device unregisters itself.
            return Err(Error::OutOfMemory);
        }
        let first = device.clone();
        parent.devres().add_action_or_reset(move || {
            first.unplug();
            drop(first);
        })?;
        Ok(device)
    }

    /// The device's name (`cardN`).
    pub fn name(&self) -> &str {
        self.name.as_str()
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

    /// The mode objects' IDs (all 0, naming nothing, on a render-only device).
    pub fn objects(&self) -> Objects {
        self.objects
    }

    /// Whether the device has mode-setting objects (not [`new_render`](Self::new_render)).
    pub fn has_modeset(&self) -> bool {
        self.modeset
    }

    pub(crate) fn mode_config(&self) -> &ModeConfig {
        &self.mode_config
    }

    pub(crate) fn vblank(&self) -> &Vblank {
        &self.vblank
    }

    pub(crate) fn managed(&self) -> &Managed {
        &self.managed
    }

    /// The quota on the dumb-buffer memory of all the device's clients.
    pub fn buffer_quota(&self) -> &Arc<Quota> {
        &self.buffer_quota
    }

    /// Whether the driver has a vblank source.
    pub(crate) fn has_vblank(&self) -> bool {
        self.driver
            .as_ref()
            .is_some_and(|driver| driver.has_vblank())
    }

    /// The driver's `mode_valid`.
    pub(crate) fn mode_valid(&self, mode: &Mode) -> Result<()> {
        match &self.driver {
            Some(driver) => driver.mode_valid(mode),
            None => Ok(()),
        }
    }

    /// The driver's `atomic_check`.
    pub(crate) fn driver_atomic_check(&self, state: &State) -> Result<()> {
        match &self.driver {
            Some(driver) => driver.atomic_check(state),
            None => Ok(()),
        }
    }

    /// The driver's `atomic_commit`, inside the unplug guard.
    pub(crate) fn driver_atomic_commit(
        &self,
        hardware: &Hardware<'_>,
        commit: &Commit<'_>,
    ) -> Result<()> {
        let driver = self.driver.as_deref().ok_or(Error::Unplugged)?;
        driver.atomic_commit(hardware, commit)
    }

    /// Enters a hardware section, or `None` once unplugged (`drm_dev_enter`).
    pub fn enter(&self) -> Option<Hardware<'_>> {
        // SeqCst on both sides: with `unplug`'s swap-then-load this is a store-buffering
        // pattern, where acquire/release would let each side miss the other's store (an
        // enter that does not see `unplugged` while the unplug sees no reader).
        self.readers.fetch_add(1, Ordering::SeqCst);
        if self.unplugged.load(Ordering::SeqCst) {
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
        // SeqCst: see `enter`.
        if self.unplugged.swap(true, Ordering::SeqCst) {
            return;
        }
        while self.readers.load(Ordering::SeqCst) != 0 {
            core::hint::spin_loop();
        }
        unregister(self.minor);
        self.vblank.disarm_all();
    }

    /// Runs the driver's deferred work (vblank timers) inside the unplug guard. Called by
    /// waiting clients and by the kernel's idle loop ([`poll_all`]).
    pub fn poll(&self) {
        if let (Some(driver), Some(hardware)) = (self.driver.as_deref(), self.enter()) {
            driver.poll(self, &hardware);
        }
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        // Managed resources first, newest first; then the objects, the driver; the
        // parent last.
        self.managed.release_all();
        self.mode_config.release_all();
        drop(self.driver.take());
        drop(self.parent.take());
        unregister(self.minor);
        LIVE_DEVICES.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Takes `minor` out of the registry (its capacity follows it down: see
/// [`IdMap`]).
fn unregister(minor: u32) {
    let entry = REGISTERED.lock().remove(minor);
    drop(entry);
}

/// The registered (not unplugged) devices, by minor number. For listings and tests: it
/// allocates the vector infallibly; [`poll_all`] walks the registry without allocating.
pub fn devices() -> Vec<Arc<Device>> {
    let mut devices = Vec::new();
    let mut from = 0;
    while let Some((minor, device)) = next_device(from) {
        devices.push(device);
        match minor.checked_add(1) {
            Some(next) => from = next,
            None => break,
        }
    }
    devices
}

/// The live registered device with the smallest minor at or above `from`, taken out
/// under the lock (a device's last reference may go in the caller's hands, and its drop
/// takes the lock).
fn next_device(mut from: u32) -> Option<(u32, Arc<Device>)> {
    let registered = REGISTERED.lock();
    loop {
        let (minor, device) = registered.first_from(from)?;
        if let Some(device) = device.upgrade() {
            return Some((minor, device));
        }
        from = minor.checked_add(1)?;
    }
}

/// Runs every registered device's deferred work ([`Device::poll`]); allocates nothing
/// (it runs in the idle loop, whatever the heap holds).
pub fn poll_all() {
    let mut from = 0;
    while let Some((minor, device)) = next_device(from) {
        device.poll();
        drop(device);
        match minor.checked_add(1) {
            Some(next) => from = next,
            None => break,
        }
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
    let start = time::counter();
    loop {
        device.poll();
        if done() {
            return Ok(());
        }
        if device.is_unplugged() {
            return Err(Error::Unplugged);
        }
        if time::cycles_to_micros(time::counter() - start) > timeout_micros {
            return Err(Error::TimedOut);
        }
        crate::arch::wait_for_interrupt();
    }
}
