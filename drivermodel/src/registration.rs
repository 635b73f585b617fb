//! The registration lifetime of a device: its handle, the add flow and the delete flow (see
//! [`device`] for the steps and the children-first rule).

#![forbid(unsafe_code)]

use alloc::sync::Arc;
use core::fmt;
use core::ops::Deref;
use core::sync::atomic::Ordering;

use crate::device::{self, ARef, Device, DeviceBuilder, Lifecycle};
use crate::error::{Error, Result};
use crate::event::EventKind;
use crate::registry::{DeviceRecord, Shared};

/// A registered device (re-exported as [`DeviceRegistration`](crate::DeviceRegistration);
/// not to be confused with [`driver::Registration`](crate::driver::Registration) nor
/// [`faux::Registration`](crate::faux::Registration)). Dropping it deletes the device
/// (see [`device`] for the children-first rule) and puts its counted reference.
pub struct Registration {
    pub(crate) device: ARef<Device>,
    pub(crate) model: Arc<Shared>,
}

impl Registration {
    /// A counted reference to the device.
    pub fn device(&self) -> &ARef<Device> {
        &self.device
    }

    /// Deletes the device now: marks it dead, unbinds it, releases its devres and leaves
    /// the bus (see [`device`]).
    ///
    /// # Errors
    ///
    /// [`Error::HasChildren`] if children are still registered after the unbind (the
    /// driver's remove may delete the children it owns): the device has been unbound and
    /// its devres released, and it stays registered, delete-pending, until the last of
    /// them is deleted, which completes the deletion.
    pub fn delete(self) -> Result<()> {
        // `Drop` then calls `delete_device` again, a no-op for a deleted or
        // delete-pending device.
        self.model.delete_device(&self.device)
    }
}

impl Deref for Registration {
    type Target = Device;

    fn deref(&self) -> &Device {
        &self.device
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = self.model.delete_device(&self.device);
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_tuple("device::Registration")
            .field(&*self.device)
            .finish()
    }
}

impl Shared {
    /// Creates and registers a device object.
    pub(crate) fn add_device(&self, builder: DeviceBuilder) -> Result<ARef<Device>> {
        // A byte loop rather than `str::contains`, which links a word-wise `memchr`.
        if builder.name.is_empty() || builder.name.bytes().any(|byte| byte == b'/') {
            return Err(Error::InvalidName { name: builder.name });
        }
        if let Some(parent) = &builder.parent {
            self.check_own(parent)?;
        }
        // The add and its event form one pair (`event`).
        let pair = self.event_pair();
        let mut registry = self.registry.lock();
        // Step 1: validate everything before creating the object.
        let checked = (|| {
            let bus = match &builder.bus {
                Some(name) => Some(
                    registry
                        .bus_index(name)
                        .ok_or_else(|| Error::UnknownBus { bus: name.clone() })?,
                ),
                None => None,
            };
            let names = match bus {
                Some(bus) => &registry.buses[bus].names,
                None => &registry.root_names,
            };
            if names.find(&builder.name).is_some() {
                return Err(Error::NameTaken {
                    bus: builder.bus.clone(),
                    name: builder.name.clone(),
                });
            }
            if let Some(parent) = &builder.parent {
                let lifecycle = parent.inner().state.lock().lifecycle;
                if lifecycle != Lifecycle::Registered
                    || !registry.devices.contains_key(&parent.inner().key)
                {
                    return Err(Error::ParentDeleted {
                        parent: crate::error::owned(parent.name()),
                    });
                }
            }
            crate::tree::check_path_free(&registry, &builder.name, bus, builder.parent.as_deref())?;
            Ok(bus)
        })();
        let bus = match checked {
            Ok(bus) => bus,
            Err(error) => {
                drop(registry);
                // The builder (and the parent reference in it) drops with no lock held.
                drop(builder);
                return Err(error);
            }
        };
        // Step 2: create and file it.
        let key = registry.next_device;
        registry.next_device += 1;
        if let Some(parent) = &builder.parent {
            parent.inner().state.lock().children += 1;
        }
        let bus_name = bus.map(|bus| registry.buses[bus].name.clone());
        let device = Device::create(builder, key, bus_name, self.counters.clone());
        match bus {
            Some(bus) => registry.buses[bus].names.insert(&device),
            None => registry.root_names.insert(&device),
        }
        registry.devices.insert(DeviceRecord {
            device: device.clone(),
        });
        drop(registry);
        self.counters.registered.fetch_add(1, Ordering::Relaxed);
        self.notify(EventKind::Add, &device, None);
        drop(pair);
        Ok(device)
    }

    /// Deletes a device (its registration ends): mark it dead, unbind it, release its
    /// devres, then leave the registry, unless registered children remain (then the
    /// device stays registered, delete-pending, until the last of them is deleted).
    pub(crate) fn delete_device(&self, device: &Device) -> Result<()> {
        self.check_own(device)?;
        // Step 1: mark it dead. From here no probe starts (every probe path checks the
        // lifecycle under the device's state lock), no child is added (child adds check
        // it under the registry lock, held here) and it leaves the deferred set.
        let pair = self.event_pair();
        {
            let _registry = self.registry.lock();
            let mut state = device.inner().state.lock();
            match state.lifecycle {
                Lifecycle::Registered => {}
                Lifecycle::DeletePending => {
                    let children = state.children as usize;
                    return Err(Error::HasChildren {
                        device: crate::error::owned(device.name()),
                        children,
                    });
                }
                Lifecycle::Deleting | Lifecycle::Deleted => return Err(Error::deleted(device)),
            }
            state.lifecycle = Lifecycle::Deleting;
            self.record_deferral(device, &mut state, None);
        }
        self.notify(EventKind::Delete, device, None);
        drop(pair);
        // Its queued asynchronous probes would find it dead: cancel them now.
        #[cfg(feature = "async-probe")]
        self.cancel_device_works(device);
        // Step 2: unbind (waiting for a probe or an unbind in flight). The driver's
        // remove may delete children it owns; their deletions do not wait for this one.
        loop {
            self.wait_for_transition(device);
            let bound = matches!(
                device.inner().state.lock().binding(),
                device::Binding::Bound { .. }
            );
            if !bound {
                break;
            }
            let _ = self.release_driver(device, None, false);
        }
        // Step 3: purge device links, release devres, bound or not.
        #[cfg(feature = "links")]
        self.registry.lock().links.purge(device.inner().key);
        crate::devres::release_all(device);
        // Step 4: children first. Child deletions update `children` under the registry
        // lock, so the decision and the pending mark are atomic with respect to them.
        {
            let _registry = self.registry.lock();
            let mut state = device.inner().state.lock();
            let children = state.children as usize;
            if children > 0 {
                state.lifecycle = Lifecycle::DeletePending;
                return Err(Error::HasChildren {
                    device: crate::error::owned(device.name()),
                    children,
                });
            }
        }
        self.finish_delete(device);
        Ok(())
    }

    /// The rest of a delete once the device is dead, unbound, released and childless:
    /// leave the registry, then complete any parent whose deletion waited for it.
    fn finish_delete(&self, device: &Device) {
        let mut next = Some(device.to_ref());
        while let Some(device) = next.take() {
            next = self.finish_delete_one(&device);
        }
    }

    /// Leaves the registry. Returns the parent if this deletion completed its pending
    /// deletion (the parent is then marked `Deleting` again; it is unbound and has no
    /// transition, so completing it never waits for anything).
    fn finish_delete_one(&self, device: &Device) -> Option<ARef<Device>> {
        // Anything added to the devres list since step 3 (a delete-pending device).
        crate::devres::release_all(device);
        let pair = self.event_pair();
        let (record, parent) = {
            let mut registry = self.registry.lock();
            let key = device.inner().key;
            let record = registry.devices.remove(&key);
            let mut parent_to_delete = None;
            if record.is_some() {
                match registry.bus_of(device) {
                    Some(bus) => registry.buses[bus].names.remove(device),
                    None => registry.root_names.remove(device),
                }
                if let Some(parent) = device.parent() {
                    let mut parent_state = parent.inner().state.lock();
                    parent_state.children -= 1;
                    // A pending parent is dead, unbound and released: only its
                    // registry entry waited for this child. (A parent still in steps 1
                    // to 3 of its delete is `Deleting`, and checks its children itself.)
                    if parent_state.children == 0
                        && parent_state.lifecycle == Lifecycle::DeletePending
                    {
                        parent_state.lifecycle = Lifecycle::Deleting;
                        parent_to_delete = Some(parent.to_ref());
                    }
                }
            }
            let mut state = device.inner().state.lock();
            state.lifecycle = Lifecycle::Deleted;
            self.record_deferral(device, &mut state, None);
            drop(state);
            (record, parent_to_delete)
        };
        self.counters.registered.fetch_sub(1, Ordering::Relaxed);
        self.notify(EventKind::Removed, device, None);
        drop(pair);
        // The registry's reference drops with no lock held.
        drop(record);
        parent
    }
}
