//! Managed resources (Linux's `drm_managed.c`): actions and values tied to the display
//! device object's **final release**, not to the driver's binding.
//!
//! They run newest first when the last reference to the [`Device`] goes, before the
//! driver object and the parent reference are dropped (see [`super::device`]). The list
//! and its lock belong to `Managed`; the device only calls its methods.

use alloc::boxed::Box;
use alloc::vec::Vec;

use super::device::Device;
use super::error::{Error, Result};

/// A key for [`Device::release_managed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManagedKey(u64);

type Node = (u64, Box<dyn FnOnce() + Send>);

/// The list of a device's managed actions, newest last.
pub(crate) struct Managed {
    inner: spin::Mutex<(u64, Vec<Node>)>,
}

impl core::fmt::Debug for Managed {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("Managed")
            .field("actions", &self.inner.lock().1.len())
            .finish()
    }
}

impl Managed {
    /// An empty list.
    pub(crate) const fn new() -> Self {
        Self {
            inner: spin::Mutex::new((0, Vec::new())),
        }
    }

    fn add(&self, action: impl FnOnce() + Send + 'static) -> Result<ManagedKey> {
        let mut managed = self.inner.lock();
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

    fn release(&self, key: ManagedKey) -> Result<()> {
        let node = {
            let mut managed = self.inner.lock();
            let position = managed.1.iter().position(|(own, _)| *own == key.0);
            position.map(|position| managed.1.remove(position))
        };
        let (_, action) = node.ok_or(Error::NoSuchObject { id: key.0 as u32 })?;
        action();
        Ok(())
    }

    /// Runs every action, newest first (the device's final release).
    pub(crate) fn release_all(&mut self) {
        let nodes = core::mem::take(&mut self.inner.get_mut().1);
        for (_, action) in nodes.into_iter().rev() {
            action();
        }
    }
}

impl Device {
    /// Adds an action run at the device's final release, newest first (`drmm_add_action`).
    ///
    /// # Errors
    ///
    /// [`Error::OutOfMemory`]; the action is then run at once (`_or_reset`).
    pub fn add_managed_action(&self, action: impl FnOnce() + Send + 'static) -> Result<ManagedKey> {
        self.managed().add(action)
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
        self.managed().release(key)
    }
}
