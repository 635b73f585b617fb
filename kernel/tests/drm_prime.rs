//! vgem and buffer sharing: a render-only device on a faux device, its buffers and
//! quotas, and its deletion while clients still hold it.

#![no_std]
#![no_main]

extern crate alloc;

use drivermodel::DeviceModel;
use kernel::drivers::vgem::Vgem;
use kernel::drm::{self, Client, Error, Format, Mode, Rect, Request};
use kernel::test::Failure;
use kernel::{check, check_eq, kernel_test};

kernel::test_main!();

/// The display objects alive outside these tests: the kernel binds its own display
/// driver (bochs) at boot when QEMU has a display adapter.
fn baseline_counts() -> drm::Counts {
    drm::Counts {
        devices: kernel::drivers::bochs::displays().len(),
        ..drm::Counts::default()
    }
}

fn failure(error: impl core::fmt::Display) -> Failure {
    Failure::new(format_args!("{error}"))
}

fn render_only(result: Result<impl core::fmt::Debug, Error>) -> bool {
    matches!(result, Err(Error::NotSupported { .. }))
}

kernel_test! {
    /// vgem has no mode-setting objects: every mode-setting call is refused with
    /// NotSupported, while buffers can be created.
    fn vgem_is_render_only() {
        let model = DeviceModel::new();
        let vgem = Vgem::create(&model, "vgem").map_err(failure)?;
        check!(!vgem.device().has_modeset());
        check_eq!(vgem.device().driver_name(), "vgem");
        let client = Client::open(vgem.device()).map_err(failure)?;
        check!(render_only(client.resources()));
        check!(render_only(client.connector(1)));
        check!(render_only(client.plane(1)));
        check!(render_only(client.encoder(1)));
        let buffer = client.create_dumb(16, 16, 32).map_err(failure)?;
        check!(render_only(client.add_framebuffer(
            buffer.handle,
            16,
            16,
            Format::Xrgb8888.fourcc(),
            buffer.pitch
        )));
        check!(render_only(client.commit(&Request::new())));
        check!(render_only(client.commit(
            &Request::new().set_mode(0, Some(Mode::new(16, 16, 60).map_err(failure)?))
        )));
        check!(render_only(client.page_flip(0, 0, 0)));
        check!(render_only(client.request_vblank(0)));
        check!(render_only(client.dirty_framebuffer(0, &[])));
        check_eq!(drm::counts().framebuffers, 0);
        check_eq!(drm::counts().buffers, 1);
        drop(client);
        drop(vgem);
        check!(model.is_quiescent(), "driver model not quiescent: {:?}", model.counts());
        check_eq!(drm::counts(), baseline_counts());
    }
}

kernel_test! {
    /// vgem's buffers go through the managed path of every display device: charged to
    /// the device's quota while they live, mapped for drawing, refused past the limits,
    /// and a destroyed handle is stale.
    fn vgem_buffers_create_map_destroy() {
        let model = DeviceModel::new();
        let vgem = Vgem::create(&model, "vgem").map_err(failure)?;
        let client = Client::open(vgem.device()).map_err(failure)?;
        let quota = vgem.device().buffer_quota().clone();
        check_eq!(quota.used(), 0);
        let buffer = client.create_dumb(40, 30, 32).map_err(failure)?;
        check_eq!(buffer.pitch, 160);
        check_eq!(buffer.size, 160 * 30);
        check_eq!(quota.used(), 160 * 30);
        let mapping = client.map_dumb(buffer.handle).map_err(failure)?;
        mapping.fill(Rect::new(10, 5, 4, 2), 0x00ab_cdef).map_err(failure)?;
        let (inside, outside) = mapping
            .with_pixels(|pixels| (pixels[6 * 40 + 13], pixels[6 * 40 + 14]))
            .map_err(failure)?;
        check_eq!((inside, outside), (0x00ab_cdef, 0));
        check!(matches!(client.create_dumb(0, 8, 32), Err(Error::ZeroSize { .. })));
        check!(matches!(client.create_dumb(8, 8, 16), Err(Error::UnsupportedBpp { bpp: 16 })));
        check!(matches!(
            client.create_dumb(16384, 16384, 32),
            Err(Error::BufferTooLarge { .. })
        ));
        check_eq!(quota.used(), 160 * 30);
        client.destroy_dumb(buffer.handle).map_err(failure)?;
        // The mapping still holds the memory (and its charge); the handle is stale.
        check_eq!(quota.used(), 160 * 30);
        check!(matches!(client.map_dumb(buffer.handle), Err(Error::StaleObject { .. })));
        check!(matches!(client.destroy_dumb(buffer.handle), Err(Error::StaleObject { .. })));
        drop(mapping);
        check_eq!(quota.used(), 0);
        check_eq!(drm::counts().buffers, 0);
        drop(client);
        drop(vgem);
        check!(model.is_quiescent(), "driver model not quiescent: {:?}", model.counts());
    }
}

kernel_test! {
    /// Deleting vgem's faux device while a client holds buffers and a mapping: the
    /// device is unplugged at once (creating and drawing fail), releasing still works,
    /// and when the client lets go every counter is back to zero. Without clients, the
    /// deletion alone releases everything.
    fn vgem_delete_faux_device_releases_everything() {
        let model = DeviceModel::new();
        let vgem = Vgem::create(&model, "vgem").map_err(failure)?;
        let client = Client::open(vgem.device()).map_err(failure)?;
        let kept = client.create_dumb(32, 32, 32).map_err(failure)?;
        let mapped = client.create_dumb(16, 16, 32).map_err(failure)?;
        let mapping = client.map_dumb(mapped.handle).map_err(failure)?;
        client.destroy_dumb(mapped.handle).map_err(failure)?;
        let device = vgem.device().clone();
        drop(vgem);
        check!(device.is_unplugged());
        check!(drm::devices().iter().all(|other| !alloc::sync::Arc::ptr_eq(other, &device)));
        check_eq!(model.counts().registered_devices, 0);
        check_eq!(client.create_dumb(8, 8, 32), Err(Error::Unplugged));
        check_eq!(mapping.fill(Rect::sized(4, 4), 1), Err(Error::Unplugged));
        check!(matches!(client.map_dumb(kept.handle), Err(Error::Unplugged)));
        client.destroy_dumb(kept.handle).map_err(failure)?;
        drop(mapping);
        drop(client);
        check_eq!(drm::counts().devices, baseline_counts().devices + 1);
        drop(device);
        check!(model.is_quiescent(), "driver model not quiescent: {:?}", model.counts());
        check_eq!(drm::counts(), baseline_counts());

        let vgem = Vgem::create(&model, "vgem").map_err(failure)?;
        let client = Client::open(vgem.device()).map_err(failure)?;
        client.create_dumb(8, 8, 32).map_err(failure)?;
        drop(client);
        drop(vgem);
        check!(model.is_quiescent(), "driver model not quiescent: {:?}", model.counts());
        check_eq!(drm::counts(), baseline_counts());
    }
}
