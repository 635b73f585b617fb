//! The core's atomic checks (Linux's `drm_atomic_helper_check` for a simple display
//! pipe) on a plain description of the pipeline's state, and damage clipping.
//!
//! The kernel describes its state as a [`StateView`] (sizes and formats, no buffers) and
//! calls [`check`]; the driver's own checks follow in the kernel.

use alloc::vec::Vec;

use super::error::{Error, Result};
use super::format::Format;
use super::mode::Mode;
use super::rect::Rect;

/// The largest cursor image.
pub const CURSOR_MAX: u32 = 64;
/// Most damage rectangles in one commit.
pub const MAX_DAMAGE_CLIPS: usize = 256;

/// A framebuffer as the checks see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramebufferView {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Its pixel format.
    pub format: Format,
}

/// A plane's part of the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlaneView {
    /// The framebuffer shown, if the plane is on.
    pub framebuffer: Option<FramebufferView>,
    /// The part of the framebuffer shown.
    pub source: Rect,
    /// Where on the CRTC it is shown.
    pub destination: Rect,
}

/// The pipeline's state as the checks see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StateView {
    /// Whether the CRTC scans out.
    pub active: bool,
    /// The CRTC's mode.
    pub mode: Option<Mode>,
    /// Whether the connector is routed to the CRTC.
    pub connected: bool,
    /// The primary plane.
    pub primary: PlaneView,
    /// The cursor plane.
    pub cursor: PlaneView,
}

/// Checks `state` against the core's rules: an active CRTC has a mode (which
/// `mode_valid` accepts), a connector and a primary framebuffer of a format in
/// `primary_formats` covering the whole mode, unscaled; an inactive one shows no plane;
/// a cursor is an ARGB8888 image of at most [`CURSOR_MAX`] square, shown unscaled from
/// inside its framebuffer (its destination may lie partly or wholly off screen).
///
/// # Errors
///
/// [`Error::InvalidConfiguration`], `mode_valid`'s error, [`Error::FormatNotSupported`],
/// [`Error::FramebufferTooSmall`], [`Error::BadRectangle`], [`Error::TooLarge`] for a
/// large cursor; the first broken rule in that order.
pub fn check<E: From<Error>>(
    state: &StateView,
    primary_formats: &[Format],
    mode_valid: impl FnOnce(&Mode) -> Result<(), E>,
) -> Result<(), E> {
    if state.active {
        let mode = state.mode.ok_or(Error::InvalidConfiguration {
            reason: "active CRTC without a mode",
        })?;
        if !state.connected {
            return Err(Error::InvalidConfiguration {
                reason: "active CRTC without a connector",
            }
            .into());
        }
        mode_valid(&mode)?;
        let framebuffer = state
            .primary
            .framebuffer
            .ok_or(Error::InvalidConfiguration {
                reason: "active CRTC without a primary framebuffer",
            })?;
        if !primary_formats.contains(&framebuffer.format) {
            return Err(Error::FormatNotSupported {
                fourcc: framebuffer.format.fourcc(),
            }
            .into());
        }
        if framebuffer.width < mode.width() || framebuffer.height < mode.height() {
            return Err(Error::FramebufferTooSmall {
                framebuffer: (framebuffer.width, framebuffer.height),
                needed: (mode.width(), mode.height()),
            }
            .into());
        }
        let source = state.primary.source;
        if source.width != mode.width()
            || source.height != mode.height()
            || !source.within(framebuffer.width, framebuffer.height)
        {
            return Err(Error::BadRectangle {
                what: "primary plane source",
            }
            .into());
        }
        if state.primary.destination != Rect::sized(mode.width(), mode.height()) {
            return Err(Error::BadRectangle {
                what: "primary plane destination",
            }
            .into());
        }
    } else if state.primary.framebuffer.is_some() || state.cursor.framebuffer.is_some() {
        return Err(Error::InvalidConfiguration {
            reason: "plane on an inactive CRTC",
        }
        .into());
    }
    if let Some(framebuffer) = state.cursor.framebuffer {
        check_cursor(&state.cursor, framebuffer)?;
    }
    Ok(())
}

fn check_cursor(cursor: &PlaneView, framebuffer: FramebufferView) -> Result<()> {
    if framebuffer.format != Format::Argb8888 {
        return Err(Error::FormatNotSupported {
            fourcc: framebuffer.format.fourcc(),
        });
    }
    let source = cursor.source;
    if source.width > CURSOR_MAX || source.height > CURSOR_MAX {
        return Err(Error::TooLarge {
            what: "cursor",
            value: source.width.max(source.height),
            limit: CURSOR_MAX,
        });
    }
    if source.is_empty() || !source.within(framebuffer.width, framebuffer.height) {
        return Err(Error::BadRectangle {
            what: "cursor source",
        });
    }
    let destination = cursor.destination;
    if destination.width != source.width || destination.height != source.height {
        return Err(Error::BadRectangle {
            what: "cursor destination",
        });
    }
    Ok(())
}

/// Damage rectangles in the primary framebuffer's coordinates, moved to the CRTC's
/// (by `-source` origin) and clipped to `destination`; empty ones dropped.
pub fn clip_damage(clips: &[Rect], source: Rect, destination: Rect) -> Vec<Rect> {
    clips
        .iter()
        .map(|clip| {
            clip.offset(source.x.saturating_neg(), source.y.saturating_neg())
                .intersect(&destination)
        })
        .filter(|clip| !clip.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORMATS: &[Format] = &[Format::Xrgb8888, Format::Argb8888];

    fn framebuffer(width: u32, height: u32, format: Format) -> Option<FramebufferView> {
        Some(FramebufferView {
            width,
            height,
            format,
        })
    }

    /// 64×48 on, primary covering it, cursor off.
    fn on() -> StateView {
        let screen = Rect::sized(64, 48);
        StateView {
            active: true,
            mode: Mode::new(64, 48, 60).ok(),
            connected: true,
            primary: PlaneView {
                framebuffer: framebuffer(64, 48, Format::Xrgb8888),
                source: screen,
                destination: screen,
            },
            cursor: PlaneView::default(),
        }
    }

    fn with_cursor(destination: Rect) -> StateView {
        StateView {
            cursor: PlaneView {
                framebuffer: framebuffer(64, 64, Format::Argb8888),
                source: Rect::sized(16, 16),
                destination,
            },
            ..on()
        }
    }

    fn run(state: &StateView) -> Result<()> {
        check(state, FORMATS, |_| Ok::<_, Error>(()))
    }

    fn refusal(state: StateView) -> Error {
        run(&state).unwrap_err()
    }

    #[test]
    fn valid_states_pass() {
        assert_eq!(run(&StateView::default()), Ok(()));
        assert_eq!(run(&on()), Ok(()));
        assert_eq!(run(&with_cursor(Rect::new(-8, 40, 16, 16))), Ok(()));
    }

    #[test]
    fn each_rule_has_its_error() {
        let configuration = |state| match refusal(state) {
            Error::InvalidConfiguration { reason } => reason,
            other => panic!("{other}"),
        };
        assert_eq!(
            configuration(StateView { mode: None, ..on() }),
            "active CRTC without a mode"
        );
        assert_eq!(
            configuration(StateView {
                connected: false,
                ..on()
            }),
            "active CRTC without a connector"
        );
        let mut state = on();
        state.primary.framebuffer = None;
        assert_eq!(
            configuration(state),
            "active CRTC without a primary framebuffer"
        );
        let mut state = on();
        state.active = false;
        assert_eq!(configuration(state), "plane on an inactive CRTC");

        let mut state = on();
        state.primary.framebuffer = framebuffer(64, 48, Format::Xbgr8888);
        assert!(matches!(refusal(state), Error::FormatNotSupported { .. }));
        let mut state = on();
        state.primary.framebuffer = framebuffer(32, 48, Format::Xrgb8888);
        assert_eq!(
            refusal(state),
            Error::FramebufferTooSmall {
                framebuffer: (32, 48),
                needed: (64, 48)
            }
        );
        let mut state = on();
        state.primary.source = Rect::new(1, 0, 64, 48);
        assert_eq!(
            refusal(state),
            Error::BadRectangle {
                what: "primary plane source"
            }
        );
        let mut state = on();
        state.primary.destination = Rect::new(0, 1, 64, 48);
        assert_eq!(
            refusal(state),
            Error::BadRectangle {
                what: "primary plane destination"
            }
        );
    }

    #[test]
    fn cursor_rules() {
        let mut state = with_cursor(Rect::sized(16, 16));
        state.cursor.framebuffer = framebuffer(64, 64, Format::Xrgb8888);
        assert!(matches!(refusal(state), Error::FormatNotSupported { .. }));
        let mut state = with_cursor(Rect::sized(65, 65));
        state.cursor.source = Rect::sized(65, 65);
        state.cursor.framebuffer = framebuffer(128, 128, Format::Argb8888);
        assert_eq!(
            refusal(state),
            Error::TooLarge {
                what: "cursor",
                value: 65,
                limit: CURSOR_MAX
            }
        );
        let mut state = with_cursor(Rect::sized(16, 16));
        state.cursor.source = Rect::new(56, 0, 16, 16);
        assert_eq!(
            refusal(state),
            Error::BadRectangle {
                what: "cursor source"
            }
        );
        let mut state = with_cursor(Rect::sized(16, 16));
        state.cursor.source = Rect::new(i32::MIN, i32::MAX, 16, 16);
        assert_eq!(
            refusal(state),
            Error::BadRectangle {
                what: "cursor source"
            }
        );
        assert_eq!(
            refusal(with_cursor(Rect::sized(16, 8))),
            Error::BadRectangle {
                what: "cursor destination"
            }
        );
    }

    #[test]
    fn cursor_destination_anywhere_in_i32_is_accepted() {
        for (x, y) in [
            (i32::MIN, i32::MIN),
            (i32::MAX, i32::MAX),
            (i32::MIN, i32::MAX),
        ] {
            assert_eq!(run(&with_cursor(Rect::new(x, y, 16, 16))), Ok(()));
        }
    }

    #[test]
    fn mode_valid_runs_after_the_connector_check() {
        let mut calls = 0;
        let refused = check(&on(), FORMATS, |_| {
            calls += 1;
            Err(Error::InvalidMode { reason: "driver" })
        });
        assert_eq!(refused, Err(Error::InvalidMode { reason: "driver" }));
        assert_eq!(calls, 1);
        let disconnected = StateView {
            connected: false,
            ..on()
        };
        let refused = check(&disconnected, FORMATS, |_| -> Result<()> {
            panic!("mode_valid before the connector check")
        });
        assert!(matches!(refused, Err(Error::InvalidConfiguration { .. })));
    }

    #[test]
    fn damage_moves_to_crtc_coordinates_and_is_clipped() {
        let clips = [
            Rect::new(10, 10, 4, 4),
            Rect::new(-100, -100, 50, 50),
            Rect::new(60, 40, 100, 100),
            Rect::new(i32::MIN, i32::MIN, u32::MAX, u32::MAX),
        ];
        let clipped = clip_damage(&clips, Rect::new(8, 8, 64, 48), Rect::sized(64, 48));
        assert_eq!(
            clipped,
            [
                Rect::new(2, 2, 4, 4),
                Rect::new(52, 32, 12, 16),
                Rect::new(0, 0, 64, 48)
            ]
        );
    }
}
