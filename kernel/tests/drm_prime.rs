//! vgem and buffer sharing: a render-only device on a faux device, its buffers and
//! quotas, and its deletion while clients still hold it; buffers exported from vgem and
//! imported into vkms (composed, CRC checked) and bochs (scanned out), either side going
//! first, 100 random cycles with the leak check, and every refusal.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::sync::Arc;
use alloc::vec;

use drivermodel::DeviceModel;
use kernel::drivers::vgem::Vgem;
use kernel::drivers::vkms::{self, Vkms};
use kernel::drm::{self, Client, Error, Format, Mode, Rect, Request, SharedBuffer};
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

const SECOND: u64 = 1_000_000;

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
        check!(drm::devices().iter().all(|other| !Arc::ptr_eq(other, &device)));
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

/// Bitwise CRC-32 (IEEE), independent of the kernel's table-driven one.
fn reference_crc(pixels: &[u32]) -> u32 {
    let mut crc = 0xffff_ffff_u32;
    for pixel in pixels {
        for byte in pixel.to_le_bytes() {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
    }
    !crc
}

/// The exporter's picture: a pixel of `(x, y)`, with a top byte composition ignores.
fn picture(x: u32, y: u32) -> u32 {
    0x5a00_0000 | (x * 3) << 16 | (y * 5) << 8 | ((x ^ y) & 0xff)
}

/// A vgem client's buffer of `width × height` holding [`picture`], exported.
struct Exported {
    client: Client,
    mapping: drm::Mapping,
    shared: SharedBuffer,
}

fn export_picture(vgem: &Vgem, width: u32, height: u32) -> Result<Exported, Error> {
    let client = Client::open(vgem.device())?;
    let buffer = client.create_dumb(width, height, 32)?;
    let mapping = client.map_dumb(buffer.handle)?;
    let stride = (buffer.pitch / 4) as usize;
    mapping.with_pixels(|pixels| {
        for y in 0..height {
            for x in 0..width {
                pixels[y as usize * stride + x as usize] = picture(x, y);
            }
        }
    })?;
    let shared = client.export_buffer(buffer.handle)?;
    client.destroy_dumb(buffer.handle)?;
    Ok(Exported {
        client,
        mapping,
        shared,
    })
}

/// A client of `device` showing the imported shared buffer `id` full screen in `mode`.
struct Importer {
    client: Client,
    handle: u32,
    framebuffer: u32,
}

fn import_and_show(device: &Arc<drm::Device>, id: u32, mode: Mode) -> Result<Importer, Error> {
    let client = Client::open(device)?;
    let import = client.import_buffer(id)?;
    let framebuffer = client.add_framebuffer(
        import.handle,
        mode.width(),
        mode.height(),
        Format::Xrgb8888.fourcc(),
        import.pitch,
    )?;
    let objects = client.resources()?;
    let screen = Rect::sized(mode.width(), mode.height());
    client.commit(
        &Request::new()
            .set_mode(objects.crtc, Some(mode))
            .connect(objects.connector, Some(objects.crtc))
            .set_plane(objects.primary, objects.crtc, framebuffer, screen, screen),
    )?;
    Ok(Importer {
        client,
        handle: import.handle,
        framebuffer,
    })
}

fn small(width: u32, height: u32) -> vkms::Options {
    vkms::Options {
        modes: Mode::new(width, height, 60).into_iter().collect(),
        cursor: false,
    }
}

/// The listing's entry for shared buffer `id`.
fn listed(id: u32) -> Option<drm::SharedInfo> {
    drm::shared_buffers().into_iter().find(|info| info.id == id)
}

kernel_test! {
    /// Export from vgem, import into vkms, compose: the CRC is that of the exporter's
    /// picture computed here. Then vgem's faux device is deleted while vkms scans out:
    /// the next frames' CRC is unchanged, the exporter's device object lives (unplugged)
    /// until the importer lets go, and every counter ends at zero.
    fn prime_vgem_to_vkms_crc_survives_exporter_deletion() {
        const W: u32 = 48;
        const H: u32 = 32;
        let model = DeviceModel::new();
        let vgem = Vgem::create(&model, "vgem").map_err(failure)?;
        let exported = export_picture(&vgem, W, H).map_err(failure)?;
        let vkms = Vkms::create(&model, "vkms", small(W, H)).map_err(failure)?;
        let mode = Mode::new(W, H, 60).map_err(failure)?;
        let importer = import_and_show(vkms.device(), exported.shared.id(), mode).map_err(failure)?;
        check!(exported.shared.exporter().driver_name() == "vgem");
        // S, the import's handle and its framebuffer.
        check_eq!(exported.shared.references(), 3);
        let mut expected = vec![0_u32; (W * H) as usize];
        for y in 0..H {
            for x in 0..W {
                expected[(y * W + x) as usize] = picture(x, y) & 0x00ff_ffff;
            }
        }
        let want = reference_crc(&expected);
        let first = vkms.wait_frame(vkms.device().vblank_count(), SECOND).map_err(failure)?;
        check_eq!(first.crc, want);

        // The exporter's faux device goes while vkms shows its buffer.
        let exporter = exported.shared.exporter().clone();
        drop(vgem);
        check!(exporter.is_unplugged());
        check_eq!(exported.mapping.fill(Rect::sized(1, 1), 0), Err(Error::Unplugged));
        let after = vkms.wait_frame(first.sequence, SECOND).map_err(failure)?;
        check_eq!(after.crc, want);
        let Exported { client, mapping, shared } = exported;
        let id = shared.id();
        drop((client, mapping, shared));
        drop(exporter);
        // Held now only by the importer: the exporter's device object with it.
        check_eq!(drm::counts().devices, baseline_counts().devices + 2);
        check_eq!(drm::counts().shared_buffers, 1);
        let info = listed(id).ok_or_else(|| failure("shared buffer not listed"))?;
        check!(info.exporter_unplugged);
        check_eq!(info.driver, "vgem");
        check_eq!(info.references, 2);
        let later = vkms.wait_frame(after.sequence, SECOND).map_err(failure)?;
        check_eq!(later.crc, want);
        // The importer draws into the memory it holds: the picture changes as drawn.
        let mapping = importer.client.map_dumb(importer.handle).map_err(failure)?;
        mapping.fill(Rect::sized(W, H), 0x00_123456).map_err(failure)?;
        let filled = reference_crc(&vec![0x0012_3456; (W * H) as usize]);
        let next = vkms.wait_frame(later.sequence, SECOND).map_err(failure)?;
        check_eq!(next.crc, filled);
        // Removing the framebuffer turns the plane off; the handle and the mapping
        // still hold the import.
        importer
            .client
            .remove_framebuffer(importer.framebuffer)
            .map_err(failure)?;
        check!(!vkms.device().state().active);
        check_eq!(listed(id).map(|info| info.references), Some(2));
        drop(mapping);
        drop(importer);
        check_eq!(drm::counts().shared_buffers, 0);
        check_eq!(drm::counts().devices, baseline_counts().devices + 1);
        drop(vkms);
        check!(model.is_quiescent(), "driver model not quiescent: {:?}", model.counts());
        check_eq!(drm::counts(), baseline_counts());
        check!(listed(id).is_none());
    }
}
