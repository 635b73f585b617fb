//! The display subsystem on the vkms driver: composition CRCs, lifetimes, leaks, page
//! flips, vblank events, and unplug while a client draws.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use drivermodel::{DeviceModel, faux};
use kernel::arch::heap;
use kernel::drivers::vkms::{self, Vkms};
use kernel::drm::{self, Client, Error, EventKind, Format, Mode, Rect, Request};
use kernel::test::support::{
    Screen, baseline_counts, check_displays_released, failure, reference_crc, run_shell,
};
use kernel::{check, check_eq, fail, kernel_test};

kernel::test_main!();

const SECOND: u64 = 1_000_000;

fn small(width: u32, height: u32) -> vkms::Options {
    vkms::Options {
        modes: Mode::new(width, height, 60).into_iter().collect(),
        cursor: true,
    }
}

/// A client with a `width × height` XRGB framebuffer shown full screen at 60 Hz.
fn show(device: &Arc<drm::Device>, width: u32, height: u32) -> Result<Screen, Error> {
    Screen::show(device, Mode::new(width, height, 60)?)
}

kernel_test! {
    /// A known composition (primary quadrants, an opaque and a half-transparent cursor
    /// partly off screen) gives the CRC of the expected frame, computed independently.
    fn vkms_known_composition_crc() {
        const W: u32 = 64;
        const H: u32 = 48;
        let model = DeviceModel::new();
        let vkms = Vkms::create(&model, "vkms", small(W, H)).map_err(failure)?;
        let screen = show(vkms.device(), W, H).map_err(failure)?;
        // Primary: red left half, blue right half, a green band in rows 10..20; the top
        // byte is garbage that composition must ignore.
        screen.mapping.fill(Rect::sized(W / 2, H), 0xab_ff0000).map_err(failure)?;
        screen.mapping.fill(Rect::new(32, 0, W / 2, H), 0x12_0000ff).map_err(failure)?;
        screen.mapping.fill(Rect::new(0, 10, W, 10), 0x00_00ff00).map_err(failure)?;
        // Cursor 16×16: left half opaque white, right half 50% (alpha 0x80) yellow, at
        // (56, 40): only 8×8 of it is on screen.
        let objects = screen.client.resources().map_err(failure)?;
        let cursor_plane = objects.cursor.ok_or_else(|| failure("no cursor plane"))?;
        let cursor = screen.client.create_dumb(16, 16, 32).map_err(failure)?;
        let cursor_map = screen.client.map_dumb(cursor.handle).map_err(failure)?;
        cursor_map.fill(Rect::sized(8, 16), 0xff_ffffff).map_err(failure)?;
        cursor_map.fill(Rect::new(8, 0, 8, 16), 0x80_ffff00).map_err(failure)?;
        let cursor_fb = screen
            .client
            .add_framebuffer(cursor.handle, 16, 16, Format::Argb8888.fourcc(), cursor.pitch)
            .map_err(failure)?;
        screen
            .client
            .commit(&Request::new().set_plane(
                cursor_plane,
                objects.crtc,
                cursor_fb,
                Rect::sized(16, 16),
                Rect::new(56, 40, 16, 16),
            ))
            .map_err(failure)?;

        let mut expected = vec![0_u32; (W * H) as usize];
        for y in 0..H {
            for x in 0..W {
                let mut pixel = if x < 32 { 0xff0000 } else { 0x0000ff };
                if (10..20).contains(&y) {
                    pixel = 0x00ff00;
                }
                if x >= 56 && y >= 40 {
                    let cx = x - 56;
                    pixel = if cx < 8 {
                        0xffffff
                    } else {
                        // 0x80 over blue: r = g = (255*128 + 0*127 + 127) / 255 = 128,
                        // b = (0*128 + 255*127 + 127) / 255 = 127.
                        0x80807f
                    };
                }
                expected[(y * W + x) as usize] = pixel;
            }
        }
        let want = reference_crc(&expected);
        let sequence = vkms.device().vblank_count();
        let frame = vkms.wait_frame(sequence, SECOND).map_err(failure)?;
        check_eq!(frame.crc, want);
        // The next frame of the same composition has the same CRC.
        let next = vkms.wait_frame(frame.sequence, SECOND).map_err(failure)?;
        check_eq!(next.crc, want);
        check!(next.sequence > frame.sequence);
        drop(cursor_map);
        drop(screen);
        drop(vkms);
        check_displays_released(&model)?;
    }
}

kernel_test! {
    /// vkms created, committed (one composed frame) and destroyed 100 times: the heap,
    /// the driver model and the display counters return to where they started.
    fn vkms_create_commit_destroy_100_times() {
        let heap_before = heap::used_bytes();
        let model = DeviceModel::new();
        // The model's own tables keep their grown capacity while it lives: measure
        // each round against the heap after the first one.
        let mut after_first = None;
        for round in 0..100_u32 {
            let vkms = Vkms::create(&model, "vkms", small(32, 24)).map_err(failure)?;
            let screen = show(vkms.device(), 32, 24).map_err(failure)?;
            screen.mapping.fill(Rect::sized(32, 24), round).map_err(failure)?;
            screen.client.dirty_framebuffer(screen.framebuffer, &[]).map_err(failure)?;
            vkms.wait_frame(0, SECOND).map_err(failure)?;
            drop(screen);
            drop(vkms);
            if !model.is_quiescent() || drm::counts() != baseline_counts() {
                fail!("round {round}: {:?} {:?}", model.counts(), drm::counts());
            }
            let used = heap::used_bytes();
            match after_first {
                None => after_first = Some(used),
                Some(first) if first != used => fail!("round {round}: heap {used}, was {first}"),
                Some(_) => {}
            }
        }
        drop(model);
        check_eq!(heap::used_bytes(), heap_before);
    }
}

/// A driver that only records what happens, for the lifetime tests.
struct Recorder;

impl drm::Driver for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }

    fn atomic_commit(&self, _: &drm::Hardware<'_>, _: &drm::Commit<'_>) -> drm::Result<()> {
        Ok(())
    }
}

fn recorder_config() -> drm::Config {
    drm::Config {
        connector_type: "Virtual",
        modes: Mode::new(64, 64, 60).into_iter().collect(),
        primary_formats: &[Format::Xrgb8888],
        cursor: false,
    }
}

static ORDER: spin::Mutex<Vec<u32>> = spin::Mutex::new(Vec::new());
static RELEASED: AtomicUsize = AtomicUsize::new(0);

kernel_test! {
    /// The seed's scenario: a virtual display device allocated on a faux parent (which
    /// holds it through devres, while it holds the parent), then the parent is deleted:
    /// the display is unplugged, its managed resources are released newest first, the
    /// parent object is freed, and every counter is back to zero.
    fn seed_scenario_virtual_display_on_faux_parent() {
        let model = DeviceModel::new();
        let parent = faux::Registration::new(&model, "vdisplay", None).map_err(failure)?;
        let display = drm::Device::new(parent.device(), Recorder, recorder_config())
            .map_err(failure)?;
        for tag in 1..=3 {
            display
                .add_managed_action(move || ORDER.lock().push(tag))
                .map_err(failure)?;
        }
        check_eq!(drm::devices().len(), baseline_counts().devices + 1);
        check_eq!(model.counts().devices, 1);
        drop(display); // the parent's devres holds the first reference now
        check_eq!(drm::counts().devices, baseline_counts().devices + 1);
        drop(parent); // delete: devres release → unplug → last display reference
        check_eq!(ORDER.lock().as_slice(), &[3, 2, 1]);
        ORDER.lock().clear();
        *ORDER.lock() = Vec::new();
        check_eq!(drm::devices().len(), baseline_counts().devices);
        check_displays_released(&model)?;
    }
}

kernel_test! {
    /// A client keeps the display object (and through it the parent object) alive after
    /// the parent is deleted; managed resources go with the client's last reference.
    fn display_outlives_parent_while_client_holds_it() {
        let model = DeviceModel::new();
        let parent = faux::Registration::new(&model, "vdisplay", None).map_err(failure)?;
        let display = drm::Device::new(parent.device(), Recorder, recorder_config())
            .map_err(failure)?;
        display
            .add_managed_action(|| {
                RELEASED.fetch_add(1, Ordering::Relaxed);
            })
            .map_err(failure)?;
        let client = Client::open(&display).map_err(failure)?;
        let buffer = client.create_dumb(64, 64, 32).map_err(failure)?;
        drop(display);
        drop(parent);
        check!(client.device().is_unplugged());
        check_eq!(RELEASED.load(Ordering::Relaxed), 0);
        check_eq!(model.counts().registered_devices, 0);
        check_eq!(model.counts().devices, 1); // the display's reference on its parent
        check_eq!(client.create_dumb(8, 8, 32), Err(Error::Unplugged));
        client.destroy_dumb(buffer.handle).map_err(failure)?;
        drop(client);
        check_eq!(RELEASED.swap(0, Ordering::Relaxed), 1);
        check_displays_released(&model)?;
    }
}

kernel_test! {
    /// Page flips complete at the next vblank with the client's data; a second flip
    /// before that is refused as busy; vblank events arrive; the flipped-to buffer is
    /// what gets composed.
    fn page_flip_and_vblank_events() {
        let model = DeviceModel::new();
        let vkms = Vkms::create(&model, "vkms", small(32, 32)).map_err(failure)?;
        let screen = show(vkms.device(), 32, 32).map_err(failure)?;
        let objects = screen.client.resources().map_err(failure)?;
        let back = screen.client.create_dumb(32, 32, 32).map_err(failure)?;
        let back_map = screen.client.map_dumb(back.handle).map_err(failure)?;
        back_map.fill(Rect::sized(32, 32), 0x00_123456).map_err(failure)?;
        let back_fb = screen
            .client
            .add_framebuffer(back.handle, 32, 32, Format::Xrgb8888.fourcc(), back.pitch)
            .map_err(failure)?;
        screen.client.page_flip(objects.crtc, back_fb, 77).map_err(failure)?;
        check_eq!(
            screen.client.page_flip(objects.crtc, screen.framebuffer, 78),
            Err(Error::Busy)
        );
        let event = screen.client.wait_event(SECOND).map_err(failure)?;
        check_eq!(event.kind, EventKind::FlipComplete);
        check_eq!(event.user_data, 77);
        check_eq!(event.crtc, objects.crtc);
        let frame = vkms.wait_frame(event.sequence - 1, SECOND).map_err(failure)?;
        check_eq!(frame.crc, reference_crc(&[0x123456; 32 * 32]));

        screen.client.request_vblank(5).map_err(failure)?;
        let vblank = screen.client.wait_event(SECOND).map_err(failure)?;
        check_eq!(vblank.kind, EventKind::Vblank);
        check_eq!(vblank.user_data, 5);
        check!(vblank.sequence > event.sequence);
        drop(back_map);
        drop(screen);
        drop(vkms);
        check!(model.is_quiescent());
        check_eq!(drm::counts(), baseline_counts());
    }
}

kernel_test! {
    /// Unplug (the vkms instance destroyed) while a client holds buffers and keeps
    /// drawing: every draw after it fails cleanly, releasing still works, and the heap
    /// is back to its baseline once the client drops.
    fn unplug_while_client_draws() {
        let baseline = heap::used_bytes();
        let model = DeviceModel::new();
        let vkms = Vkms::create(&model, "vkms", small(64, 48)).map_err(failure)?;
        let screen = show(vkms.device(), 64, 48).map_err(failure)?;
        let spare = screen.client.create_dumb(64, 48, 32).map_err(failure)?;
        let mut vkms = Some(vkms);
        let mut ok_draws = 0;
        let mut failed_draws = 0;
        for frame in 0..40_u32 {
            if frame == 20 {
                drop(vkms.take()); // hot unplug in the middle of the drawing loop
            }
            let rect = Rect::new((frame % 8 * 8) as i32, 0, 8, 48);
            let drawn = screen
                .mapping
                .fill(rect, frame)
                .and_then(|()| screen.client.dirty_framebuffer(screen.framebuffer, &[rect]));
            match drawn {
                Ok(()) if frame < 20 => ok_draws += 1,
                Err(Error::Unplugged) if frame >= 20 => failed_draws += 1,
                other => fail!("frame {frame}: {other:?}"),
            }
        }
        check_eq!((ok_draws, failed_draws), (20, 20));
        check_eq!(screen.client.create_dumb(8, 8, 32), Err(Error::Unplugged));
        check!(screen.client.map_dumb(spare.handle).is_err());
        check_eq!(screen.client.request_vblank(1), Err(Error::Unplugged));
        check!(matches!(screen.client.commit(&Request::new()), Err(Error::Unplugged)));
        // Releasing still works.
        screen.client.destroy_dumb(spare.handle).map_err(failure)?;
        screen.client.remove_framebuffer(screen.framebuffer).map_err(failure)?;
        check_eq!(drm::counts().devices, baseline_counts().devices + 1);
        drop(screen);
        check_displays_released(&model)?;
        drop(model);
        check_eq!(heap::used_bytes(), baseline);
    }
}

kernel_test! {
    /// The boot demo's virtual display (the seed's story): a vkms display on a faux
    /// device shows a known picture whose CRC matches the expected frame's, and once the
    /// faux device is deleted every counter and the heap are back where they were.
    fn demo_virtual_display_story() {
        let model = DeviceModel::new();
        // The model's faux bus exists before, as at boot (the ramdisk's faux device).
        let ramdisk = faux::Registration::new(&model, "ram0", None).map_err(failure)?;
        let report = kernel::demo::virtual_display(&model, "vkms-demo").map_err(failure)?;
        drop(ramdisk);
        check_eq!(report.crc, report.expected);
        check_eq!((report.mode.width(), report.mode.height()), (64, 48));
        check_eq!(report.before, report.after);
        check_eq!(report.heap.0, report.heap.1);
        check!(report.is_clean());
        check!(model.is_quiescent(), "driver model not quiescent: {:?}", model.counts());
        // The picture matters: a reference CRC of a black frame differs.
        check!(report.crc != reference_crc(&[0; 64 * 48]));
    }
}

kernel_test! {
    /// The shell's `vkms` commands parse with clear refusals.
    fn shell_vkms_commands_parse() {
        use kernel::shell::{Command, ParseError, parse};
        check_eq!(parse("vkms"), Ok(Command::VkmsList));
        check_eq!(parse("vkms add v0"), Ok(Command::VkmsAdd { name: "v0", shared: None }));
        check_eq!(parse("vkms delete v0"), Ok(Command::VkmsDelete { name: "v0" }));
        check!(matches!(parse("vkms add"), Err(ParseError::MissingArgument { command: "vkms", .. })));
        check!(matches!(
            parse("vkms frob v0"),
            Err(ParseError::UnknownSubcommand { command: "vkms", word: "frob", .. })
        ));
        check!(matches!(parse("vkms list"), Err(ParseError::UnknownSubcommand { word: "list", .. })));
        check_eq!(
            parse("vkms add v0 v1"),
            Err(ParseError::BadNumber { command: "vkms", word: "v1" })
        );
        check_eq!(
            parse("vkms add v0 1 2"),
            Err(ParseError::TooManyArguments { command: "vkms", extra: "2" })
        );
    }
}

kernel_test! {
    /// `vkms add NAME` makes a virtual display on a faux device of the kernel's model and
    /// shows a picture with the expected CRC; `vkms delete NAME` deletes it and every
    /// counter is back; a taken or unknown name is refused and changes nothing.
    fn shell_creates_and_deletes_a_virtual_display() {
        let before = kernel::counters::Readings::take();
        check!(run_shell("vkms").starts_with("no virtual displays"));
        let added = run_shell("vkms add vshell0");
        check!(added.starts_with("vshell0: card") && added.contains(": match)"), "{added}");
        check!(run_shell("vkms").starts_with("vshell0: card"));
        check_eq!(drm::counts().devices, baseline_counts().devices + 1);
        check!(kernel::devices::model().find_device(Some("faux"), "vshell0").is_some());
        let during = kernel::counters::Readings::take();
        let taken = run_shell("vkms add vshell0");
        check!(taken.starts_with("error: "), "{taken}");
        check_eq!(kernel::counters::Readings::take(), during);
        check!(run_shell("counts").contains("display: devices="));
        let deleted = run_shell("vkms delete vshell0");
        check!(deleted.starts_with("vshell0 deleted"), "{deleted}");
        check_eq!(kernel::counters::Readings::take(), before);
        check!(kernel::devices::model().find_device(Some("faux"), "vshell0").is_none());
        let unknown = run_shell("vkms delete vshell0");
        check!(unknown.starts_with("error: no virtual display"), "{unknown}");
        check!(run_shell("vkms").starts_with("no virtual displays"));
    }
}
