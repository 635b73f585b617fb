//! vgem and buffer sharing: a render-only device on a faux device, its buffers and
//! quotas, and its deletion while clients still hold it; buffers exported from vgem and
//! imported into vkms (composed, CRC checked) and bochs (scanned out), either side going
//! first, 100 random cycles with the leak check, and every refusal.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use drivermodel::DeviceModel;
use kernel::arch::{self, heap};
use kernel::bus::pci;
use kernel::drivers::bochs;
use kernel::drivers::vgem::Vgem;
use kernel::drivers::vkms::{self, Vkms};
use kernel::drm::{self, Client, Error, Format, Mode, Rect, Request, SharedBuffer};
use kernel::test::Failure;
use kernel::test::support::{
    baseline_counts, bochs_display, bochs_pci_device, check_displays_released, failure,
    reference_crc,
};
use kernel::{check, check_eq, fail, kernel_test};

kernel::test_main!();

const SECOND: u64 = 1_000_000;

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
        check_displays_released(&model)?;
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
        check_displays_released(&model)?;

        let vgem = Vgem::create(&model, "vgem").map_err(failure)?;
        let client = Client::open(vgem.device()).map_err(failure)?;
        client.create_dumb(8, 8, 32).map_err(failure)?;
        drop(client);
        drop(vgem);
        check_displays_released(&model)?;
    }
}

/// The exporter's picture: a pixel of `(x, y)`, with a top byte composition ignores.
fn picture(x: u32, y: u32) -> u32 {
    0x5a00_0000 | (x * 3) << 16 | (y * 5) << 8 | ((x ^ y) & 0xff)
}

/// The CRC of a `width × height` frame that shows [`picture`] full screen: the
/// reference CRC of its pixels with the top byte cleared, as composition leaves them.
fn picture_crc(width: u32, height: u32) -> u32 {
    let pixels: Vec<u32> = (0..height)
        .flat_map(|y| (0..width).map(move |x| picture(x, y) & 0x00ff_ffff))
        .collect();
    reference_crc(&pixels)
}

/// A client's buffer (of vgem, or any device) of `width × height` holding [`picture`],
/// exported.
struct Exported {
    client: Client,
    mapping: drm::Mapping,
    shared: SharedBuffer,
}

fn export_picture(device: &Arc<drm::Device>, width: u32, height: u32) -> Result<Exported, Error> {
    let client = Client::open(device)?;
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
    client.commit(&Request::new().show_full_screen(&objects, mode, framebuffer))?;
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
    drm::shared_buffers()
        .unwrap_or_default()
        .into_iter()
        .find(|info| info.id == id)
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
        let exported = export_picture(vgem.device(), W, H).map_err(failure)?;
        let vkms = Vkms::create(&model, "vkms", small(W, H)).map_err(failure)?;
        let mode = Mode::new(W, H, 60).map_err(failure)?;
        let importer = import_and_show(vkms.device(), exported.shared.id(), mode).map_err(failure)?;
        check!(exported.shared.exporter().driver_name() == "vgem");
        // S, the import's handle and its framebuffer.
        check_eq!(exported.shared.references(), 3);
        let want = picture_crc(W, H);
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
        check_displays_released(&model)?;
        check!(listed(id).is_none());
    }
}

/// Reads a 32-bit pixel of bochs's scanout memory (BAR0), side-effect free.
fn vram_pixel(device: &drivermodel::Device, width: u32, x: u32, y: u32) -> Result<u32, Failure> {
    let base = pci::function(device)
        .and_then(|function| function.bar(0))
        .map(|bar| bar.address)
        .ok_or_else(|| failure("no BAR0"))?;
    let address = base + (u64::from(y) * u64::from(width) + u64::from(x)) * 4;
    Ok(u32::from_le_bytes([
        arch::probe_read(address),
        arch::probe_read(address + 1),
        arch::probe_read(address + 2),
        arch::probe_read(address + 3),
    ]))
}

/// Whether bochs's video memory holds [`picture`] at a few points of a `width × height`
/// mode (the copy keeps the top byte).
fn shows_picture(
    pci_device: &drivermodel::Device,
    width: u32,
    height: u32,
) -> Result<bool, Failure> {
    for (x, y) in [
        (0, 0),
        (width - 1, 0),
        (17, 9),
        (width / 2, height / 2),
        (width - 1, height - 1),
    ] {
        if vram_pixel(pci_device, width, x, y)? != picture(x, y) {
            return Ok(false);
        }
    }
    Ok(true)
}

kernel_test! {
    /// bochs scans out a buffer imported from vgem (by copy into its video memory), then
    /// is unbound while it shows it: the importer's calls fail with Unplugged, its
    /// framebuffer goes with its client, and the exported buffer stays with the
    /// exporter, intact; after a rebind it is imported and shown again.
    fn prime_unbind_bochs_while_showing_import() {
        const W: u32 = 320;
        const H: u32 = 240;
        let model = kernel::devices::model();
        let pci_device = bochs_pci_device()?;
        let vgem = Vgem::create(model, "vgem").map_err(failure)?;
        let exported = export_picture(vgem.device(), W, H).map_err(failure)?;
        let mode = Mode::new(W, H, 60).map_err(failure)?;
        let importer = import_and_show(&bochs_display()?, exported.shared.id(), mode).map_err(failure)?;
        check!(shows_picture(&pci_device, W, H)?, "bochs does not show the imported picture");
        check_eq!(exported.shared.references(), 3);

        model.unbind(&pci_device).map_err(failure)?;
        check!(bochs::displays().is_empty());
        check_eq!(
            importer.client.dirty_framebuffer(importer.framebuffer, &[]),
            Err(Error::Unplugged)
        );
        check_eq!(importer.client.import_buffer(exported.shared.id()), Err(Error::Unplugged));
        drop(importer);
        check_eq!(drm::counts().framebuffers, 0);
        // The exported buffer stays with the exporter, which still draws into it.
        check_eq!(exported.shared.references(), 1);
        check!(!vgem.device().is_unplugged());
        exported
            .mapping
            .with_pixels(|pixels| pixels[0] == picture(0, 0))
            .map_err(failure)?
            .then_some(())
            .ok_or_else(|| failure("exported buffer changed"))?;

        model.bind(&pci_device).map_err(failure)?;
        let again = import_and_show(&bochs_display()?, exported.shared.id(), mode).map_err(failure)?;
        check!(shows_picture(&pci_device, W, H)?, "bochs does not show the picture after rebind");
        drop(again);
        drop(exported);
        drop(vgem);
        check_eq!(drm::counts(), baseline_counts());
        check_eq!(drm::counts().devices, 1);
    }
}

kernel_test! {
    /// The exporter is a hardware device: bochs exports a buffer, vkms shows it, and
    /// bochs is unbound. vkms's frames keep their CRC, bochs's hardware is left alone
    /// (no section can enter its unplug guard, its registers do not change), and its
    /// display device object lives, unplugged, while vkms holds the buffer and goes
    /// with it.
    fn prime_unbind_exporting_bochs_while_vkms_shows_it() {
        const W: u32 = 32;
        const H: u32 = 24;
        let model = kernel::devices::model();
        let pci_device = bochs_pci_device()?;
        let exported = export_picture(&bochs_display()?, W, H).map_err(failure)?;
        let vkms = Vkms::create(model, "vkms", small(W, H)).map_err(failure)?;
        let importer = import_and_show(vkms.device(), exported.shared.id(), Mode::new(W, H, 60).map_err(failure)?)
            .map_err(failure)?;
        let want = picture_crc(W, H);
        let first = vkms.wait_frame(vkms.device().vblank_count(), SECOND).map_err(failure)?;
        check_eq!(first.crc, want);

        let exporter = exported.shared.exporter().clone();
        drop(exported);
        model.unbind(&pci_device).map_err(failure)?;
        check!(exporter.is_unplugged());
        check!(bochs::displays().is_empty());
        let enable = pci::function(&pci_device)
            .and_then(|function| function.bar(2))
            .map(|bar| bar.address + bochs::regs::DISPI_OFFSET + u64::from(bochs::regs::index::ENABLE) * 2)
            .ok_or_else(|| failure("no BAR2"))?;
        // No hardware section can start; DISPI's ENABLE register reads the same across
        // vkms's frames (0 where the BAR still decodes, all ones where unbinding turned
        // memory decoding off).
        check!(exporter.enter().is_none());
        let after_unbind = arch::probe_read(enable);
        let mut sequence = first.sequence;
        for _ in 0..3 {
            let frame = vkms.wait_frame(sequence, SECOND).map_err(failure)?;
            check_eq!(frame.crc, want);
            sequence = frame.sequence;
        }
        check_eq!(arch::probe_read(enable), after_unbind);
        // bochs's old display device object, the vkms one and nothing else.
        check_eq!(drm::counts().devices, 2);
        drop(exporter);
        check_eq!(drm::counts().devices, 2);
        drop(importer);
        check_eq!(drm::counts().devices, 1);
        drop(vkms);
        check_eq!(drm::counts(), drm::Counts::default());
        model.bind(&pci_device).map_err(failure)?;
        check_eq!(drm::counts(), baseline_counts());
        check_eq!(baseline_counts().devices, 1);
    }
}

/// A xorshift64 generator: the seeded random order of the cycles.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

/// What one cycle holds, each let go in a random order.
#[expect(dead_code, reason = "the values are held only to be dropped")]
enum Held {
    Vgem(Vgem),
    ExporterClient(Client),
    Shared(SharedBuffer),
    ExporterMapping(drm::Mapping),
    ImporterFramebuffer(u32),
    ImporterHandle(u32),
    ImporterMapping(drm::Mapping),
}

kernel_test! {
    /// 100 cycles of create, export, import, show and destroy, everything let go in a
    /// random (seeded) order: while anyone holds the import the shared buffer lives, and
    /// after every cycle the heap and every counter are back where they were.
    fn prime_100_cycles_in_random_order_no_leak() {
        let model = DeviceModel::new();
        let mut random = Random(0x9e37_79b9_7f4a_7c15);
        let mut after_first = None;
        for cycle in 0..100_u32 {
            let vgem = Vgem::create(&model, "vgem").map_err(failure)?;
            let exporter = Client::open(vgem.device()).map_err(failure)?;
            let buffer = exporter.create_dumb(16, 16, 32).map_err(failure)?;
            let exporter_mapping = exporter.map_dumb(buffer.handle).map_err(failure)?;
            exporter_mapping.fill(Rect::sized(16, 16), cycle).map_err(failure)?;
            let shared = exporter.export_buffer(buffer.handle).map_err(failure)?;
            if random.below(2) == 0 {
                exporter.destroy_dumb(buffer.handle).map_err(failure)?;
            }
            let vkms = Vkms::create(&model, "vkms", small(16, 16)).map_err(failure)?;
            let importer = if random.below(2) == 0 {
                import_and_show(vkms.device(), shared.id(), Mode::new(16, 16, 60).map_err(failure)?)
                    .map_err(failure)?
            } else {
                let client = Client::open(vkms.device()).map_err(failure)?;
                let import = client.import_buffer(shared.id()).map_err(failure)?;
                let framebuffer = client
                    .add_framebuffer(import.handle, 16, 16, Format::Xrgb8888.fourcc(), import.pitch)
                    .map_err(failure)?;
                Importer { client, handle: import.handle, framebuffer }
            };
            let importer_mapping = importer.client.map_dumb(importer.handle).map_err(failure)?;
            let seen = importer_mapping.with_pixels(|pixels| pixels[255]).map_err(failure)?;
            check_eq!(seen, cycle);
            let Importer { client, handle, framebuffer } = importer;
            let mut held = vec![
                Held::Vgem(vgem),
                Held::ExporterClient(exporter),
                Held::Shared(shared),
                Held::ExporterMapping(exporter_mapping),
                Held::ImporterFramebuffer(framebuffer),
                Held::ImporterHandle(handle),
                Held::ImporterMapping(importer_mapping),
            ];
            // The importer's client goes after its framebuffer and handle or with
            // them; vkms last or not (its client holds the device either way).
            let mut importer_client = Some(client);
            let mut vkms = Some(vkms);
            while !held.is_empty() {
                let next = held.swap_remove(random.below(held.len()));
                match next {
                    Held::ImporterFramebuffer(id) => {
                        if let Some(client) = &importer_client {
                            client.remove_framebuffer(id).map_err(failure)?;
                        }
                    }
                    Held::ImporterHandle(handle) => {
                        if let Some(client) = &importer_client {
                            client.destroy_dumb(handle).map_err(failure)?;
                        }
                    }
                    other => drop(other),
                }
                if random.below(4) == 0 {
                    // The importer closes early: its framebuffers and handles go too.
                    drop(importer_client.take());
                    held.retain(|item| {
                        !matches!(item, Held::ImporterFramebuffer(_) | Held::ImporterHandle(_))
                    });
                }
                if random.below(4) == 0 {
                    drop(vkms.take());
                }
                // The import lives while anything made from it does (the importer's
                // framebuffer and handle went with its client, if it closed).
                let holders = held.iter().any(|item| {
                    matches!(
                        item,
                        Held::Shared(_)
                            | Held::ImporterFramebuffer(_)
                            | Held::ImporterHandle(_)
                            | Held::ImporterMapping(_)
                    )
                });
                check_eq!(drm::counts().shared_buffers, usize::from(holders));
            }
            drop(importer_client);
            drop(vkms);
            if !model.is_quiescent() || drm::counts() != baseline_counts() {
                fail!("cycle {cycle}: {:?} {:?}", model.counts(), drm::counts());
            }
            let used = heap::used_bytes();
            match after_first {
                None => after_first = Some(used),
                Some(first) if first != used => fail!("cycle {cycle}: heap {used}, was {first}"),
                Some(_) => {}
            }
        }
    }
}

/// What a refusal must leave unchanged: the counters and the shared buffers' listing.
fn snapshot() -> (drm::Counts, Vec<(u32, usize, bool)>) {
    let listing = drm::shared_buffers()
        .unwrap_or_default()
        .into_iter()
        .map(|info| (info.id, info.references, info.exporter_unplugged))
        .collect();
    (drm::counts(), listing)
}

kernel_test! {
    /// Every refusal of sharing has its own error and changes nothing: a stale, a
    /// forged and a foreign shared-buffer ID; a framebuffer bigger than the imported
    /// buffer; unknown and unsupported formats; importing into the exporting device;
    /// importing after the importer was unplugged.
    fn prime_refusals_change_nothing() {
        let model = DeviceModel::new();
        let vgem = Vgem::create(&model, "vgem").map_err(failure)?;
        let exported = export_picture(vgem.device(), 16, 16).map_err(failure)?;
        let id = exported.shared.id();
        let vkms = Vkms::create(&model, "vkms", small(32, 32)).map_err(failure)?;
        let importer = Client::open(vkms.device()).map_err(failure)?;
        let import = importer.import_buffer(id).map_err(failure)?;

        // Stale: a shared buffer exported, then closed by everyone.
        let gone = {
            let handle = exported.client.create_dumb(8, 8, 32).map_err(failure)?.handle;
            let shared = exported.client.export_buffer(handle).map_err(failure)?;
            exported.client.destroy_dumb(handle).map_err(failure)?;
            shared.id()
        };
        let before = snapshot();
        check_eq!(importer.import_buffer(gone), Err(Error::StaleObject { id: gone }));
        // Forged: an ID of the shared buffers' namespace never handed out, and 0.
        let forged = id + 0x1000;
        check_eq!(importer.import_buffer(forged), Err(Error::NoSuchObject { id: forged }));
        check_eq!(importer.import_buffer(0), Err(Error::NoSuchObject { id: 0 }));
        // Foreign: a buffer handle passed as a shared-buffer ID.
        check_eq!(
            importer.import_buffer(import.handle),
            Err(Error::ForeignObject { id: import.handle })
        );
        // A framebuffer bigger than the imported 16×16 buffer.
        let xrgb = Format::Xrgb8888.fourcc();
        check_eq!(
            importer.add_framebuffer(import.handle, 32, 32, xrgb, 128),
            Err(Error::BufferTooSmall { needed: 128 * 32, size: 16 * 64 })
        );
        check_eq!(
            importer.add_framebuffer(import.handle, 16, 17, xrgb, 64),
            Err(Error::BufferTooSmall { needed: 64 * 17, size: 16 * 64 })
        );
        // Unknown and unsupported formats.
        check_eq!(
            importer.add_framebuffer(import.handle, 16, 16, 0x2020_2020, 64),
            Err(Error::UnknownFormat { fourcc: 0x2020_2020 })
        );
        let rgb565 = Format::Rgb565.fourcc();
        check_eq!(
            importer.add_framebuffer(import.handle, 16, 16, rgb565, 64),
            Err(Error::FormatNotSupported { fourcc: rgb565 })
        );
        // Into the exporting device, from the exporting client and from another one.
        check_eq!(exported.client.import_buffer(id), Err(Error::ImportIntoExporter { id }));
        let sibling = Client::open(vgem.device()).map_err(failure)?;
        check_eq!(sibling.import_buffer(id), Err(Error::ImportIntoExporter { id }));
        drop(sibling);
        check_eq!(snapshot(), before);

        // A framebuffer the plane cannot scan out (XBGR on vkms), and one smaller than
        // the mode, are refused at commit.
        let objects = importer.resources().map_err(failure)?;
        let mode = Mode::new(32, 32, 60).map_err(failure)?;
        let show = |framebuffer| {
            Request::new()
                .set_mode(objects.crtc, Some(mode))
                .connect(objects.connector, Some(objects.crtc))
                .set_plane(objects.primary, objects.crtc, framebuffer, Rect::sized(32, 32), Rect::sized(32, 32))
        };
        let xbgr = Format::Xbgr8888.fourcc();
        let unsupported = importer
            .add_framebuffer(import.handle, 16, 16, xbgr, 64)
            .map_err(failure)?;
        let small = importer
            .add_framebuffer(import.handle, 16, 16, xrgb, 64)
            .map_err(failure)?;
        let before = snapshot();
        check_eq!(importer.commit(&show(unsupported)), Err(Error::FormatNotSupported { fourcc: xbgr }));
        check_eq!(
            importer.commit(&show(small)),
            Err(Error::FramebufferTooSmall { framebuffer: (16, 16), needed: (32, 32) })
        );
        check!(!vkms.device().state().active);
        check_eq!(snapshot(), before);
        importer.remove_framebuffer(unsupported).map_err(failure)?;
        importer.remove_framebuffer(small).map_err(failure)?;

        // After the importer was unplugged.
        drop(vkms);
        let before = snapshot();
        check_eq!(importer.import_buffer(id), Err(Error::Unplugged));
        check_eq!(snapshot(), before);
        drop(importer);
        drop(exported);
        drop(vgem);
        check_displays_released(&model)?;
    }
}

kernel_test! {
    /// A write fence attached by the exporter holds back the importer's scanout: an
    /// unsignalled fence makes the commit (and a damage flush) fail with FenceTimeout
    /// after a bounded wait and change nothing; once signalled (or dropped, which
    /// signals) the commit shows the exporter's picture.
    fn prime_fence_waited_before_scanout() {
        const W: u32 = 32;
        const H: u32 = 16;
        let model = DeviceModel::new();
        let vgem = Vgem::create(&model, "vgem").map_err(failure)?;
        let exporter = Client::open(vgem.device()).map_err(failure)?;
        let buffer = exporter.create_dumb(W, H, 32).map_err(failure)?;
        let mapping = exporter.map_dumb(buffer.handle).map_err(failure)?;
        let shared = exporter.export_buffer(buffer.handle).map_err(failure)?;
        let fence = exporter.attach_fence(buffer.handle).map_err(failure)?;
        check_eq!(drm::counts().fences, 1);
        check_eq!(exporter.attach_fence(buffer.handle).map(|_| ()), Err(Error::FencePending));
        // "Rendering", not yet signalled.
        mapping.fill(Rect::sized(W, H), 0x00_c0ffee).map_err(failure)?;

        let vkms = Vkms::create(&model, "vkms", small(W, H)).map_err(failure)?;
        let mode = Mode::new(W, H, 60).map_err(failure)?;
        let before = snapshot();
        check!(matches!(
            import_and_show(vkms.device(), shared.id(), mode),
            Err(Error::FenceTimeout { waited_micros: drm::fence::FENCE_TIMEOUT_MICROS })
        ));
        check_eq!(snapshot(), before);
        check!(!fence.is_signalled());
        fence.signal();
        let importer = import_and_show(vkms.device(), shared.id(), mode).map_err(failure)?;
        let frame = vkms.wait_frame(vkms.device().vblank_count(), SECOND).map_err(failure)?;
        check_eq!(frame.crc, reference_crc(&vec![0x00c0_ffee; (W * H) as usize]));
        // The signalled fence is forgotten; a new one holds back the damage flush.
        check_eq!(drm::counts().fences, 1);
        drop(fence);
        check_eq!(drm::counts().fences, 0);
        let next = exporter.attach_fence(buffer.handle).map_err(failure)?;
        check_eq!(
            importer.client.dirty_framebuffer(importer.framebuffer, &[]),
            Err(Error::FenceTimeout { waited_micros: drm::fence::FENCE_TIMEOUT_MICROS })
        );
        drop(next);
        importer
            .client
            .dirty_framebuffer(importer.framebuffer, &[])
            .map_err(failure)?;
        drop(importer);
        drop(vkms);
        drop((mapping, shared, exporter, vgem));
        check_displays_released(&model)?;
    }
}

kernel_test! {
    /// The boot demo's sharing story on a model of its own: both frames are the picture,
    /// vgem's display object outlives its faux device, and every counter comes back.
    fn demo_sharing_story() {
        let model = DeviceModel::new();
        let report = kernel::demo::sharing(&model).map_err(failure)?;
        check!(report.is_clean(), "{report:?}");
        check!(model.is_quiescent(), "driver model not quiescent: {:?}", model.counts());
    }
}
