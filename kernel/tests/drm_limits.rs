//! Display resource limits: buffer-memory quotas and the heap reserve, bounded event
//! queues, modes checked against the connector, and planes at the ends of `i32`.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use drivermodel::{DeviceModel, faux};
use kernel::drivers::bochs;
use kernel::drivers::vkms::{self, Vkms};
use kernel::drm::quota::{self, CLIENT_BUFFER_LIMIT, DEVICE_BUFFER_LIMIT, HEAP_RESERVE};
use kernel::drm::vblank::MAX_EVENTS;
use kernel::drm::{self, Client, Error, Format, Mode, Rect, Request};
use kernel::test::Failure;
use kernel::test::support::{failure, run_shell};
use kernel::{check, check_eq, fail, kernel_test};

kernel::test_main!();

const SECOND: u64 = 1_000_000;

fn vkms_with(model: &DeviceModel, name: &str, width: u32, height: u32) -> Result<Vkms, Failure> {
    Vkms::create(
        model,
        name,
        vkms::Options {
            modes: Mode::new(width, height, 60).into_iter().collect(),
            cursor: true,
        },
    )
    .map_err(failure)
}

/// A client showing a full-screen XRGB framebuffer filled with `color`.
fn show(
    device: &Arc<drm::Device>,
    width: u32,
    height: u32,
    color: u32,
) -> Result<(Client, drm::Mapping, u32), Error> {
    let client = Client::open(device)?;
    let objects = client.resources()?;
    let mode = Mode::new(width, height, 60)?;
    let (framebuffer, mapping) = client.create_mapped_framebuffer(mode)?;
    mapping.fill(Rect::sized(width, height), color)?;
    client.commit(&Request::new().show_full_screen(&objects, mode, framebuffer))?;
    Ok((client, mapping, framebuffer))
}

/// 16 MiB: a 2048×2048 XRGB buffer.
const CHUNK: u32 = 2048;

kernel_test! {
    /// One client stops at its quota, one device at its quota, and many clients on many
    /// devices stop at the heap reserve: each with its own error. With the heap so
    /// exhausted through the client API, shell commands, a driver unbind and rebind and
    /// a virtual display still work; then everything is released.
    fn heap_exhausted_through_clients_then_shell_and_rebind_work() {
        let model = DeviceModel::new();
        let chunk_bytes = u64::from(CHUNK) * u64::from(CHUNK) * 4;
        let mut cards: Vec<Vkms> = Vec::new();
        let mut clients: Vec<Client> = Vec::new();
        let mut handles = 0_u64;
        let mut seen_client_quota = false;
        let mut seen_device_quota = false;
        let ended = 'fill: loop {
            let card = vkms_with(&model, &alloc::format!("vkms-full{}", cards.len()), 64, 48)?;
            loop {
                let client = Client::open(card.device()).map_err(failure)?;
                loop {
                    match client.create_dumb(CHUNK, CHUNK, 32) {
                        Ok(_) => handles += 1,
                        Err(Error::QuotaExceeded { what: "client buffer memory", used, limit, .. }) => {
                            check_eq!(limit, CLIENT_BUFFER_LIMIT);
                            check!(used + chunk_bytes > limit);
                            seen_client_quota = true;
                            break;
                        }
                        Err(Error::QuotaExceeded { what: "device buffer memory", used, limit, .. }) => {
                            check_eq!(limit, DEVICE_BUFFER_LIMIT);
                            check_eq!(card.device().buffer_quota().used(), used);
                            seen_device_quota = true;
                            clients.push(client);
                            cards.push(card);
                            continue 'fill;
                        }
                        Err(error @ (Error::HeapReserve { .. } | Error::OutOfMemory)) => {
                            clients.push(client);
                            cards.push(card);
                            break 'fill error;
                        }
                        Err(other) => fail!("unexpected refusal: {other}"),
                    }
                }
                clients.push(client);
            }
        };
        check!(seen_client_quota && seen_device_quota);
        check!(matches!(ended, Error::HeapReserve { .. }), "ended with {ended}");
        kernel::println!(
            "# {handles} buffers of 16 MiB on {} devices, {} clients; {} bytes left above the reserve",
            cards.len(),
            clients.len(),
            quota::available()
        );
        check!(quota::available() < chunk_bytes);
        // The rest of the kernel keeps working on the reserve.
        for line in ["tree", "counts", "drivers", "events"] {
            let out = run_shell(line);
            check!(!out.starts_with("error") && !out.is_empty(), "`{line}`: {out}");
        }
        let out = run_shell("lspci"); // may be empty: a machine without PCI functions
        check!(!out.starts_with("error"), "`lspci`: {out}");
        if kernel::arch::NAME == "x86_64" {
            for line in ["show uart16550.0", "unbind uart16550.0", "bind uart16550.0"] {
                let out = run_shell(line);
                check!(!out.starts_with("error"), "`{line}`: {out}");
            }
        }
        if let Some(pci) = bochs::displays()
            .first()
            .and_then(|display| display.parent().map(drivermodel::Device::to_ref))
        {
            let name = String::from(pci.name());
            drop(pci);
            for line in [alloc::format!("unbind {name}"), alloc::format!("bind {name}")] {
                let out = run_shell(&line);
                check!(!out.starts_with("error"), "`{line}`: {out}");
            }
            check_eq!(bochs::displays().len(), 1);
        }
        // A new display's picture must come from outside the reserve: refused, cleanly.
        let small = vkms_with(&model, "vkms-small", 64, 48)?;
        let refused = show(small.device(), 64, 48, 0x00ff_0000);
        check!(
            matches!(refused, Err(Error::HeapReserve { .. }) | Ok(_)),
            "{:?}",
            refused.err()
        );
        drop(refused);
        drop(small);
        drop(clients);
        drop(cards);
        check!(quota::available() > u64::from(CHUNK) * u64::from(CHUNK) * 4);
        check!(model.is_quiescent(), "driver model not quiescent: {:?}", model.counts());
        // And once released, a display works again.
        let card = vkms_with(&model, "vkms-after", 64, 48)?;
        let shown = show(card.device(), 64, 48, 0x0000_ff00).map_err(failure)?;
        drop(shown);
        drop(card);
        check!(HEAP_RESERVE > 0);
    }
}

/// A display driver without a vblank source: flip events complete at once.
struct Immediate;

impl drm::Driver for Immediate {
    fn name(&self) -> &'static str {
        "immediate"
    }

    fn atomic_commit(&self, _: &drm::Hardware<'_>, _: &drm::Commit<'_>) -> drm::Result<()> {
        Ok(())
    }
}

kernel_test! {
    /// 20,000 page flips that nobody reads: the first MAX_EVENTS complete, the rest are
    /// refused with EventQueueFull and change nothing; reading one frees one slot.
    fn unread_page_flips_hit_the_event_bound() {
        let model = DeviceModel::new();
        let parent = faux::Registration::new(&model, "flipper", None).map_err(failure)?;
        let display = drm::Device::new(
            parent.device(),
            Immediate,
            drm::Config {
                connector_type: "Virtual",
                modes: Mode::new(32, 32, 60).into_iter().collect(),
                primary_formats: &[Format::Xrgb8888],
                cursor: false,
            },
        )
        .map_err(failure)?;
        let (client, mapping, framebuffer) = show(&display, 32, 32, 0).map_err(failure)?;
        let crtc = client.resources().map_err(failure)?.crtc;
        let (mut accepted, mut refused) = (0, 0);
        for flip in 0..20_000_u64 {
            match client.page_flip(crtc, framebuffer, flip) {
                Ok(()) => accepted += 1,
                Err(Error::EventQueueFull { limit }) => {
                    check_eq!(limit, MAX_EVENTS);
                    refused += 1;
                }
                Err(other) => fail!("flip {flip}: {other}"),
            }
        }
        check_eq!((accepted, refused), (MAX_EVENTS, 20_000 - MAX_EVENTS));
        let first = client.read_event().ok_or_else(|| failure("no event"))?;
        check_eq!(first.user_data, 0);
        client.page_flip(crtc, framebuffer, 99).map_err(failure)?;
        check!(matches!(
            client.page_flip(crtc, framebuffer, 100),
            Err(Error::EventQueueFull { .. })
        ));
        let mut events = 0;
        let mut last = 0;
        while let Some(event) = client.read_event() {
            events += 1;
            last = event.user_data;
        }
        check_eq!((events, last), (MAX_EVENTS, 99));
        drop((client, mapping));
        drop(display);
        drop(parent);
        check!(model.is_quiescent());
    }
}

kernel_test! {
    /// 20,000 vblank requests on vkms: MAX_EVENTS are armed, the rest refused; the armed
    /// ones arrive at the next vblank; an unplug with events armed gives their room back.
    fn vblank_requests_hit_the_event_bound() {
        let model = DeviceModel::new();
        let card = vkms_with(&model, "vkms-vblank", 32, 32)?;
        let (client, mapping, _) = show(card.device(), 32, 32, 0).map_err(failure)?;
        let mut refused = 0;
        for request in 0..20_000_u64 {
            match client.request_vblank(request) {
                Ok(()) => {}
                Err(Error::EventQueueFull { .. }) => refused += 1,
                Err(other) => fail!("request {request}: {other}"),
            }
        }
        check_eq!(refused, 20_000 - MAX_EVENTS);
        for expected in 0..MAX_EVENTS as u64 {
            let event = client.wait_event(SECOND).map_err(failure)?;
            check_eq!(event.user_data, expected);
        }
        check!(client.read_event().is_none());
        // Armed, then unplugged: the room comes back (the queue is empty and refillable).
        for request in 0..MAX_EVENTS as u64 {
            client.request_vblank(request).map_err(failure)?;
        }
        check!(matches!(client.request_vblank(0), Err(Error::EventQueueFull { .. })));
        let device = card.device().clone();
        drop(card);
        check!(device.is_unplugged());
        check!(client.read_event().is_none());
        check_eq!(client.request_vblank(0), Err(Error::Unplugged));
        drop((client, mapping));
        drop(device);
        check!(model.is_quiescent());
    }
}

kernel_test! {
    /// vkms refuses a mode its connector does not list (before any allocation), and the
    /// state is unchanged; a listed mode works.
    fn mode_not_in_the_connector_list_refused() {
        let model = DeviceModel::new();
        let card = vkms_with(&model, "vkms-modes", 64, 48)?;
        let client = Client::open(card.device()).map_err(failure)?;
        let objects = client.resources().map_err(failure)?;
        let buffer = client.create_dumb(64, 48, 32).map_err(failure)?;
        let framebuffer = client
            .add_framebuffer(buffer.handle, 64, 48, Format::Xrgb8888.fourcc(), buffer.pitch)
            .map_err(failure)?;
        let heap = kernel::arch::heap::used_bytes();
        for (width, height, rate) in [(4096, 4096, 1000), (64, 48, 75), (32, 24, 60)] {
            let mode = Mode::new(width, height, rate).map_err(failure)?;
            let result =
                client.commit(&Request::new().show_full_screen(&objects, mode, framebuffer));
            check_eq!(
                result,
                Err(Error::InvalidMode { reason: "not in the connector's mode list" })
            );
            check!(!card.device().state().active);
        }
        check_eq!(kernel::arch::heap::used_bytes(), heap);
        let screen = Rect::sized(64, 48);
        client
            .commit(
                &Request::new()
                    .set_mode(objects.crtc, Mode::new(64, 48, 60).ok())
                    .connect(objects.connector, Some(objects.crtc))
                    .set_plane(objects.primary, objects.crtc, framebuffer, screen, screen),
            )
            .map_err(failure)?;
        drop(client);
        drop(card);
        check!(model.is_quiescent());
    }
}

kernel_test! {
    /// A cursor at the ends of i32 is accepted and composed as off screen (the frame's
    /// CRC is that of the frame without it), in every build; a primary plane source or a
    /// damage rectangle at the ends of i32 is refused or clipped, never overflowed.
    fn planes_at_i32_limits_never_overflow() {
        let model = DeviceModel::new();
        let card = vkms_with(&model, "vkms-edges", 64, 48)?;
        let (client, mapping, framebuffer) =
            show(card.device(), 64, 48, 0x0012_3456).map_err(failure)?;
        let objects = client.resources().map_err(failure)?;
        let cursor_plane = objects.cursor.ok_or_else(|| failure("no cursor plane"))?;
        let plain = card.wait_frame(card.device().vblank_count(), SECOND).map_err(failure)?;
        let cursor = client.create_dumb(64, 64, 32).map_err(failure)?;
        let cursor_framebuffer = client
            .add_framebuffer(cursor.handle, 64, 64, Format::Argb8888.fourcc(), cursor.pitch)
            .map_err(failure)?;
        client
            .map_dumb(cursor.handle)
            .and_then(|mapping| mapping.fill(Rect::sized(64, 64), 0xffff_ffff))
            .map_err(failure)?;
        for (x, y) in [
            (i32::MIN, i32::MIN),
            (i32::MAX, i32::MAX),
            (i32::MIN, 0),
            (0, i32::MAX),
            (i32::MAX - 63, i32::MIN + 1),
        ] {
            client
                .commit(&Request::new().set_plane(
                    cursor_plane,
                    objects.crtc,
                    cursor_framebuffer,
                    Rect::sized(64, 64),
                    Rect::new(x, y, 64, 64),
                ))
                .map_err(failure)?;
            let frame = card
                .wait_frame(card.device().vblank_count(), SECOND)
                .map_err(failure)?;
            check!(frame.crc == plain.crc, "cursor at ({x}, {y}) changed the frame");
        }
        // Partly on screen at the top-left corner: composed, so the CRC changes.
        client
            .commit(&Request::new().set_plane(
                cursor_plane,
                objects.crtc,
                cursor_framebuffer,
                Rect::sized(64, 64),
                Rect::new(-60, -40, 64, 64),
            ))
            .map_err(failure)?;
        let corner = card
            .wait_frame(card.device().vblank_count(), SECOND)
            .map_err(failure)?;
        check!(corner.crc != plain.crc);
        let screen = Rect::sized(64, 48);
        for source in [
            Rect::new(i32::MAX, 0, 64, 48),
            Rect::new(i32::MIN, i32::MIN, 64, 48),
            Rect::new(0, i32::MAX, 64, 48),
        ] {
            check_eq!(
                client.commit(&Request::new().set_plane(
                    objects.primary,
                    objects.crtc,
                    framebuffer,
                    source,
                    screen,
                )),
                Err(Error::BadRectangle { what: "primary plane source" })
            );
        }
        for clip in [
            Rect::new(i32::MIN, i32::MIN, u32::MAX, u32::MAX),
            Rect::new(i32::MAX, i32::MAX, u32::MAX, u32::MAX),
        ] {
            client.dirty_framebuffer(framebuffer, &[clip]).map_err(failure)?;
        }
        drop((client, mapping));
        drop(card);
        check!(model.is_quiescent());
    }
}

/// Runs one shell line into `out` (cleared first, its capacity kept: nothing allocates
/// while the answer fits).
fn shell_into(out: &mut String, line: &str) {
    out.clear();
    let _ = kernel::shell::run_line(kernel::devices::model(), line, out);
}

/// Free heap bytes now.
fn free_heap() -> usize {
    kernel::arch::heap::size_bytes().saturating_sub(kernel::arch::heap::used_bytes())
}

/// Takes every free byte of the heap, the reserve included, into `blocks` (whose
/// capacity bounds the count): the largest block that fits, again and again, halving
/// the size on each refusal, down to one byte.
fn take_the_heap(blocks: &mut Vec<Vec<u8>>) {
    let mut size = free_heap();
    while size > 0 && blocks.len() < blocks.capacity() {
        let mut block = Vec::new();
        if block.try_reserve_exact(size).is_ok() {
            blocks.push(block);
        } else {
            size /= 2;
        }
    }
}

/// Whether `result` is a clear out-of-memory refusal.
fn out_of_memory<T>(result: &drm::Result<T>) -> bool {
    matches!(result, Err(Error::OutOfMemory | Error::HeapReserve { .. }))
}

kernel_test! {
    /// With the whole heap taken (reserve included), every display client call that
    /// needs memory answers OutOfMemory and changes nothing, releasing calls and vblanks
    /// still work, and shell commands answer `error: out of memory`; with a little heap
    /// back, a command whose display needs more is refused cleanly. Once the heap is
    /// given back the same calls work, and the heap ends where it began.
    fn exhausted_heap_answers_out_of_memory_then_works_again() {
        let model = DeviceModel::new();
        let card = vkms_with(&model, "vkms-oom", 64, 48)?;
        let (client, mapping, framebuffer) =
            show(card.device(), 64, 48, 0x0040_4040).map_err(failure)?;
        let objects = client.resources().map_err(failure)?;
        let handle = client.create_dumb(64, 48, 32).map_err(failure)?.handle;
        let spare = client.create_dumb(16, 16, 32).map_err(failure)?.handle;
        let fresh = Client::open(card.device()).map_err(failure)?;
        let closing = Client::open(card.device()).map_err(failure)?;
        closing.create_dumb(16, 16, 32).map_err(failure)?;
        let vgem = kernel::drivers::vgem::Vgem::create(&model, "vgem-oom").map_err(failure)?;
        let exporter = Client::open(vgem.device()).map_err(failure)?;
        let exported = exporter.create_dumb(64, 48, 32).map_err(failure)?;
        let shared = exporter.export_buffer(exported.handle).map_err(failure)?;
        let mut out = String::new();
        out.try_reserve_exact(4096).map_err(|_| failure("no room for the shell's answers"))?;
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        blocks.try_reserve_exact(512).map_err(|_| failure("no room for the block list"))?;

        take_the_heap(&mut blocks);
        let exhausted = Vec::<u8>::new().try_reserve_exact(1).is_err();
        let connector = client.connector(objects.connector);
        let plane = client.plane(objects.primary);
        let answers = [
            ("open", out_of_memory(&Client::open(card.device()))),
            ("create_dumb", out_of_memory(&client.create_dumb(16, 16, 32))),
            ("import_buffer", out_of_memory(&fresh.import_buffer(shared.id()))),
            ("export_buffer", out_of_memory(&client.export_buffer(handle))),
            ("attach_fence", out_of_memory(&client.attach_fence(handle))),
            (
                "add_framebuffer",
                out_of_memory(&client.add_framebuffer(handle, 64, 48, Format::Xrgb8888.fourcc(), 256)),
            ),
            ("page_flip", out_of_memory(&client.page_flip(objects.crtc, framebuffer, 1))),
            ("request_vblank", out_of_memory(&client.request_vblank(2))),
            (
                "dirty_framebuffer",
                out_of_memory(&client.dirty_framebuffer(framebuffer, &[Rect::sized(8, 8)])),
            ),
            ("connector", out_of_memory(&connector)),
            ("plane", out_of_memory(&plane)),
            ("shared_buffers", out_of_memory(&drm::shared_buffers())),
        ];
        drop((connector, plane));
        // Releasing calls, a client's close and vblanks need no memory.
        let destroyed = client.destroy_dumb(spare);
        drop(closing);
        let before = card.device().vblank_count();
        let ticked = drm::device::wait_until(card.device(), SECOND, || {
            card.device().vblank_count() > before + 1
        });
        drm::poll_all();
        let mut shell_answers = [false; 4];
        for (answer, line) in shell_answers.iter_mut().zip(["counts", "tree", "vkms add oom", "vgem add oom"]) {
            shell_into(&mut out, line);
            *answer = out.starts_with("error: out of memory");
        }
        // A little heap back: the shell runs commands again, and one whose display
        // needs more than the reserve allows is refused with the display's error.
        while free_heap() < 2 * kernel::shell::HEAP_RESERVE {
            if blocks.pop().is_none() {
                break;
            }
        }
        shell_into(&mut out, "counts");
        let counts_ran = out.starts_with("devices=");
        shell_into(&mut out, "vkms add oom");
        let vkms_refused = out.starts_with("error:") && out.contains("heap reserve");
        let refusal: kernel::text::FixedString<160> =
            kernel::text::FixedString::from_fmt(format_args!("{out}"));
        drop(blocks);

        check!(exhausted, "the heap still had a free byte");
        for (call, answered) in answers {
            check!(answered, "`{call}` on an exhausted heap did not answer out of memory");
        }
        destroyed.map_err(failure)?;
        ticked.map_err(failure)?;
        check!(shell_answers.iter().all(|answered| *answered), "shell answers: {shell_answers:?}");
        check!(counts_ran && vkms_refused, "counts ran: {counts_ran}; `vkms add`: {refusal}");

        // The heap is back: the same calls work.
        let again = Client::open(card.device()).map_err(failure)?;
        check_eq!(again.import_buffer(shared.id()).map(|buffer| buffer.size), Ok(64 * 48 * 4));
        drop(again);
        client.create_dumb(16, 16, 32).map_err(failure)?;
        client.export_buffer(handle).map_err(failure)?;
        client.attach_fence(handle).map_err(failure)?.signal();
        let second = client
            .add_framebuffer(handle, 64, 48, Format::Xrgb8888.fourcc(), 256)
            .map_err(failure)?;
        client.connector(objects.connector).map_err(failure)?;
        client.plane(objects.primary).map_err(failure)?;
        check_eq!(drm::shared_buffers().map(|listed| listed.len()), Ok(1));
        client.dirty_framebuffer(framebuffer, &[Rect::sized(8, 8)]).map_err(failure)?;
        client.page_flip(objects.crtc, second, 1).map_err(failure)?;
        client.request_vblank(2).map_err(failure)?;
        check_eq!(client.wait_event(SECOND).map(|event| event.user_data), Ok(1));
        check_eq!(client.wait_event(SECOND).map(|event| event.user_data), Ok(2));
        shell_into(&mut out, "vkms add oom");
        check!(out.starts_with("oom: "), "`vkms add oom`: {out}");
        shell_into(&mut out, "vkms delete oom");
        check!(out.starts_with("oom deleted"), "`vkms delete oom`: {out}");
        drop((client, mapping, fresh, exporter, shared));
        drop(vgem);
        drop(card);
        check!(model.is_quiescent());
    }
}
