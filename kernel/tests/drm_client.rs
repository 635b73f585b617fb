//! The client API refuses every invalid argument with its own error and changes nothing.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::sync::Arc;

use drivermodel::DeviceModel;
use kernel::drivers::vkms::{self, Vkms};
use kernel::drm::object::Kind;
use kernel::drm::{self, Client, Error, Format, Mode, Rect, Request, fourcc};
use kernel::test::Failure;
use kernel::test::support::{check_displays_released, failure};
use kernel::{check, check_eq, kernel_test};

kernel::test_main!();

fn vkms(model: &DeviceModel, name: &str) -> Result<Vkms, Failure> {
    Vkms::create(
        model,
        name,
        vkms::Options {
            // A larger mode too, offered but bigger than the test's framebuffer.
            modes: [Mode::new(64, 48, 60), Mode::new(128, 96, 60)]
                .into_iter()
                .flatten()
                .collect(),
            cursor: true,
        },
    )
    .map_err(failure)
}

/// What a refused call must leave unchanged.
fn snapshot(device: &Arc<drm::Device>) -> (drm::Counts, bool, Option<Mode>, Option<u32>) {
    let state = device.state();
    (
        drm::counts(),
        state.active,
        state.mode,
        state
            .primary
            .framebuffer
            .map(|framebuffer| framebuffer.id()),
    )
}

kernel_test! {
    /// Every invalid argument of buffers, framebuffers, IDs and commits gets its own
    /// error, and the device's state and object counts are unchanged after each.
    fn every_invalid_argument_refused() {
        let model = DeviceModel::new();
        let card = vkms(&model, "vkms0")?;
        let other_card = vkms(&model, "vkms1")?;
        let device = card.device().clone();
        let client = Client::open(&device).map_err(failure)?;
        let other = Client::open(&device).map_err(failure)?;
        let stranger = Client::open(other_card.device()).map_err(failure)?;
        let objects = client.resources().map_err(failure)?;
        let mode = Mode::new(64, 48, 60).map_err(failure)?;
        let screen = Rect::sized(64, 48);

        // A working configuration to compare against.
        let buffer = client.create_dumb(64, 48, 32).map_err(failure)?;
        let xrgb = Format::Xrgb8888.fourcc();
        let framebuffer = client
            .add_framebuffer(buffer.handle, 64, 48, xrgb, buffer.pitch)
            .map_err(failure)?;
        client
            .commit(&Request::new().show_full_screen(&objects, mode, framebuffer))
            .map_err(failure)?;
        // The mode objects describe the pipeline.
        let primary = client.plane(objects.primary).map_err(failure)?;
        check_eq!(primary.plane_type, drm::PlaneType::Primary);
        check_eq!(primary.framebuffer, Some(framebuffer));
        check!(primary.formats.contains(&xrgb));
        let cursor_info = client
            .plane(objects.cursor.ok_or_else(|| failure("no cursor"))?)
            .map_err(failure)?;
        check_eq!(cursor_info.plane_type, drm::PlaneType::Cursor);
        check_eq!(cursor_info.formats.as_slice(), &[Format::Argb8888.fourcc()]);
        check_eq!(cursor_info.framebuffer, None);
        let connector = client.connector(objects.connector).map_err(failure)?;
        check!(connector.routed);
        check_eq!(connector.encoder, objects.encoder);
        check_eq!(
            client.encoder(objects.encoder).map_err(failure)?.crtc,
            Some(objects.crtc)
        );
        check!(matches!(
            client.plane(objects.encoder),
            Err(Error::WrongKind { expected: Kind::Plane, actual: Kind::Encoder, .. })
        ));
        let small = client.create_dumb(32, 24, 32).map_err(failure)?;
        let small_fb = client
            .add_framebuffer(small.handle, 32, 24, xrgb, small.pitch)
            .map_err(failure)?;
        let stale = client.create_dumb(8, 8, 32).map_err(failure)?;
        client.destroy_dumb(stale.handle).map_err(failure)?;
        let foreign = other.create_dumb(8, 8, 32).map_err(failure)?;
        let stranger_buffer = stranger.create_dumb(64, 48, 32).map_err(failure)?;
        let stranger_fb = stranger
            .add_framebuffer(stranger_buffer.handle, 64, 48, xrgb, stranger_buffer.pitch)
            .map_err(failure)?;
        let before = snapshot(&device);

        macro_rules! refused {
            ($call:expr, $pattern:pat) => {{
                let result = $call;
                check!(
                    matches!(result, Err($pattern)),
                    "`{}` gave {:?}",
                    stringify!($call),
                    result
                );
                check_eq!(snapshot(&device), before);
            }};
        }

        // Dumb buffers: zero, huge, overflow, too big, bpp.
        refused!(client.create_dumb(0, 48, 32), Error::ZeroSize { .. });
        refused!(client.create_dumb(64, 0, 32), Error::ZeroSize { .. });
        refused!(client.create_dumb(40_000, 48, 32), Error::TooLarge { .. });
        refused!(client.create_dumb(64, u32::MAX, 32), Error::TooLarge { .. });
        refused!(client.create_dumb(32_768, 32_768, 32), Error::Overflow { what: "pitch × height" });
        refused!(client.create_dumb(16_384, 16_384, 32), Error::BufferTooLarge { .. });
        refused!(client.create_dumb(64, 48, 24), Error::UnsupportedBpp { bpp: 24 });

        // Framebuffers: format, pitch, size, overflow, zero, huge.
        let h = buffer.handle;
        refused!(client.add_framebuffer(h, 64, 48, fourcc(b"ZZZZ"), 256), Error::UnknownFormat { .. });
        refused!(client.add_framebuffer(h, 64, 48, fourcc(b"RG16"), 256), Error::FormatNotSupported { .. });
        refused!(client.add_framebuffer(h, 64, 48, xrgb, 255), Error::BadPitch { .. });
        refused!(client.add_framebuffer(h, 64, 48, xrgb, 100), Error::BadPitch { .. });
        refused!(client.add_framebuffer(h, 64, 49, xrgb, 256), Error::BufferTooSmall { .. });
        refused!(client.add_framebuffer(h, 64, 4096, xrgb, 1 << 20), Error::Overflow { .. });
        refused!(client.add_framebuffer(h, 0, 48, xrgb, 256), Error::ZeroSize { .. });
        refused!(client.add_framebuffer(h, 9000, 48, xrgb, 36_000), Error::TooLarge { .. });

        // IDs: stale, foreign (another client, another device), never issued, wrong kind.
        refused!(client.map_dumb(stale.handle), Error::StaleObject { .. });
        refused!(client.add_framebuffer(stale.handle, 8, 8, xrgb, 32), Error::StaleObject { .. });
        refused!(client.map_dumb(foreign.handle), Error::ForeignObject { .. });
        refused!(client.destroy_dumb(foreign.handle), Error::ForeignObject { .. });
        refused!(client.map_dumb(buffer.handle + 1000), Error::NoSuchObject { .. });
        refused!(client.map_dumb(0), Error::NoSuchObject { .. });
        refused!(client.connector(objects.crtc), Error::WrongKind { expected: Kind::Connector, actual: Kind::Crtc, .. });
        refused!(client.connector(stranger.resources().map_err(failure)?.connector), Error::ForeignObject { .. });
        refused!(
            client.commit(&Request::new().set_plane(objects.primary, objects.crtc, stranger_fb, screen, screen)),
            Error::ForeignObject { .. }
        );
        refused!(
            client.commit(&Request::new().set_plane(objects.crtc, objects.crtc, framebuffer, screen, screen)),
            Error::WrongKind { expected: Kind::Plane, .. }
        );
        refused!(other.remove_framebuffer(framebuffer), Error::ForeignObject { .. });
        refused!(
            other.commit(&Request::new().set_plane(objects.primary, objects.crtc, framebuffer, screen, screen)),
            Error::ForeignObject { .. }
        );

        // Commits: framebuffer smaller than the mode, bad rectangles, unsupported cursor
        // format, plane without a CRTC mode, mode without a connector.
        refused!(
            client.commit(&Request::new().set_plane(objects.primary, objects.crtc, small_fb, screen, screen)),
            Error::FramebufferTooSmall { framebuffer: (32, 24), needed: (64, 48) }
        );
        refused!(
            client.commit(&Request::new().set_plane(objects.primary, objects.crtc, framebuffer, Rect::new(1, 0, 64, 48), screen)),
            Error::BadRectangle { .. }
        );
        refused!(
            client.commit(&Request::new().set_plane(objects.primary, objects.crtc, framebuffer, screen, Rect::new(0, 0, 32, 48))),
            Error::BadRectangle { .. }
        );
        let cursor = objects.cursor.ok_or_else(|| failure("no cursor"))?;
        refused!(
            client.commit(&Request::new().set_plane(cursor, objects.crtc, small_fb, Rect::sized(16, 16), Rect::sized(16, 16))),
            Error::FormatNotSupported { .. }
        );
        refused!(
            client.commit(&Request::new().connect(objects.connector, None)),
            Error::InvalidConfiguration { reason: "active CRTC without a connector" }
        );
        refused!(
            client.commit(&Request::new().set_mode(objects.crtc, Some(Mode::new(128, 96, 60).map_err(failure)?))),
            Error::FramebufferTooSmall { .. }
        );
        refused!(
            client.commit(&Request::new().set_mode(objects.crtc, Some(Mode::new(4096, 4096, 1000).map_err(failure)?))),
            Error::InvalidMode { reason: "not in the connector's mode list" }
        );
        // Test-only commits of a valid change change nothing either.
        client
            .commit(&Request::new().set_mode(objects.crtc, None).test_only())
            .map_err(failure)?;
        check_eq!(snapshot(&device), before);

        // Use after unplug.
        drop(card);
        refused!(client.create_dumb(8, 8, 32), Error::Unplugged);
        refused!(client.map_dumb(buffer.handle), Error::Unplugged);
        refused!(client.add_framebuffer(buffer.handle, 64, 48, xrgb, 256), Error::Unplugged);
        refused!(client.dirty_framebuffer(framebuffer, &[]), Error::Unplugged);
        refused!(client.page_flip(objects.crtc, framebuffer, 0), Error::Unplugged);
        refused!(client.commit(&Request::new()), Error::Unplugged);
        refused!(client.resources(), Error::Unplugged);
        refused!(Client::open(&device), Error::Unplugged);

        drop((client, other, stranger, other_card, device));
        check_displays_released(&model)?;
    }
}

kernel_test! {
    /// The unplug guard: sections nest and end with their tokens; after unplug no
    /// section starts, and unplug is idempotent.
    fn unplug_guard_sections() {
        let model = DeviceModel::new();
        let card = vkms(&model, "vkms")?;
        let device = card.device().clone();
        {
            let outer = device.enter();
            check!(outer.is_some());
            check!(device.enter().is_some(), "sections nest");
        }
        device.unplug();
        device.unplug();
        check!(device.is_unplugged());
        check!(device.enter().is_none());
        drop(card);
        check!(device.enter().is_none());
        drop(device);
        check!(model.is_quiescent());
    }
}
