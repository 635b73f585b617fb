//! vgem: a render-only display device on a faux device, which only creates, maps,
//! destroys and shares dumb buffers in RAM (Linux's `drivers/gpu/drm/vgem`).
//!
//! It has no mode-setting objects ([`drm::Device::new_render`]): no CRTC, plane, encoder
//! or connector, and no hardware. Its buffers come from the same client path and quotas
//! as every display device's ([`drm::Client::create_dumb`], [`drm::quota`]). A client
//! shares one with another device by exporting it ([`drm::Client::export_buffer`]; see
//! [`drm::prime`] for who holds what) and marks its rendering with fences that scanout
//! waits for ([`drm::Client::attach_fence`], [`drm::fence`]), as Linux's vgem does for
//! testing synchronisation.
//!
//! # Lifecycle
//!
//! As vkms's: [`Vgem::create`] makes a faux device (bound, or an error) and allocates the
//! display device inside a devres group on it; dropping the [`Vgem`] releases the group
//! (unplug, first reference dropped) and deletes the faux device. Clients and shared
//! buffers that still hold the display device keep the object (unplugged) until they let
//! go: a shared buffer holds the device object until its last reference goes.

use alloc::sync::Arc;

use drivermodel::devres::GroupId;
use drivermodel::{DeviceModel, faux};

use crate::drm::{self, Commit, Hardware};

/// The driver's name.
pub const DRIVER_NAME: &str = "vgem";

/// The display driver object: nothing to program.
#[derive(Debug)]
struct Driver;

impl drm::Driver for Driver {
    fn name(&self) -> &'static str {
        DRIVER_NAME
    }

    /// Never called: the core refuses every commit of a render-only device.
    fn atomic_commit(&self, _hardware: &Hardware<'_>, _commit: &Commit<'_>) -> drm::Result<()> {
        Err(drm::client::NO_MODESET)
    }
}

/// A vgem instance: a faux device with a render-only display device on it.
#[derive(Debug)]
pub struct Vgem {
    device: Arc<drm::Device>,
    group: GroupId,
    faux: Option<faux::Registration>,
}

impl Vgem {
    /// Creates a vgem instance named `name` on `model`'s faux bus.
    ///
    /// # Errors
    ///
    /// The faux device's or the display device's creation error; nothing is left behind.
    pub fn create(model: &DeviceModel, name: &str) -> drm::Result<Self> {
        let faux = faux::Registration::new(model, name, None)?;
        let devres = faux.device().devres();
        let group = devres.open_group()?;
        let created = drm::Device::new_render(faux.device(), Driver).and_then(|device| {
            devres.close_group(Some(group))?;
            Ok(device)
        });
        match created {
            Ok(device) => Ok(Self {
                device,
                group,
                faux: Some(faux),
            }),
            Err(error) => {
                let _ = devres.release_group(group);
                Err(error)
            }
        }
    }

    /// The display device.
    pub fn device(&self) -> &Arc<drm::Device> {
        &self.device
    }

    /// The faux device.
    pub fn faux_device(&self) -> Option<&drivermodel::Device> {
        self.faux.as_ref().map(|faux| &**faux.device())
    }
}

impl Drop for Vgem {
    fn drop(&mut self) {
        // The group's release unplugs the display and drops its first reference; then
        // the faux device goes. The handle's own reference goes with the fields.
        if let Some(faux) = self.faux.take() {
            let _ = faux.device().devres().release_group(self.group);
            drop(faux);
        }
    }
}
