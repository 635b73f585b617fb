//! Display modes (Linux's `drm_modes.c`): the one checked constructor and the
//! connector's mode list.

use super::error::{Error, Result};

/// The largest width or height of a mode, plane or framebuffer.
pub const MAX_DIMENSION: u32 = 8192;

/// A display mode: the visible size and the refresh rate.
///
/// # Invariants
///
/// `1 <= width, height <= MAX_DIMENSION` and `1 <= refresh_hz <= 1000` (checked by
/// [`Mode::new`], the one constructor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    width: u32,
    height: u32,
    refresh_hz: u32,
    preferred: bool,
}

impl Mode {
    /// A mode.
    ///
    /// # Errors
    ///
    /// [`Error::ZeroSize`], [`Error::TooLarge`], or [`Error::InvalidMode`] for a refresh
    /// rate of 0 or above 1000 Hz.
    pub const fn new(width: u32, height: u32, refresh_hz: u32) -> Result<Self> {
        if width == 0 || height == 0 {
            return Err(Error::ZeroSize { what: "mode" });
        }
        if width > MAX_DIMENSION {
            return Err(Error::TooLarge {
                what: "mode width",
                value: width,
                limit: MAX_DIMENSION,
            });
        }
        if height > MAX_DIMENSION {
            return Err(Error::TooLarge {
                what: "mode height",
                value: height,
                limit: MAX_DIMENSION,
            });
        }
        if refresh_hz == 0 || refresh_hz > 1000 {
            return Err(Error::InvalidMode {
                reason: "refresh rate not in 1..=1000 Hz",
            });
        }
        // INVARIANT: checked above.
        Ok(Self {
            width,
            height,
            refresh_hz,
            preferred: false,
        })
    }

    /// The same mode, marked as the monitor's preferred one.
    pub const fn preferred(mut self) -> Self {
        self.preferred = true;
        self
    }

    /// Visible width in pixels.
    pub const fn width(&self) -> u32 {
        self.width
    }

    /// Visible height in pixels.
    pub const fn height(&self) -> u32 {
        self.height
    }

    /// Refresh rate in Hz.
    pub const fn refresh_hz(&self) -> u32 {
        self.refresh_hz
    }

    /// Whether the monitor prefers it.
    pub const fn is_preferred(&self) -> bool {
        self.preferred
    }

    /// Whether `other` has the same size and rate (ignoring the preferred mark).
    pub const fn same_timing(&self, other: &Self) -> bool {
        self.width == other.width
            && self.height == other.height
            && self.refresh_hz == other.refresh_hz
    }
}

/// Whether `mode` is one of `modes` (same size and rate; the preferred mark aside): the
/// connector-side `mode_valid` check.
///
/// # Errors
///
/// [`Error::InvalidMode`] when it is not.
pub fn offered(modes: &[Mode], mode: &Mode) -> Result<()> {
    if modes.iter().any(|offered| offered.same_timing(mode)) {
        Ok(())
    } else {
        Err(Error::InvalidMode {
            reason: "not in the connector's mode list",
        })
    }
}

/// The first mode of `modes` with the size `width × height`, else the first mode (the
/// preferred one): how a client picks a mode it would like.
pub fn pick(modes: &[Mode], width: u32, height: u32) -> Option<Mode> {
    modes
        .iter()
        .find(|mode| (mode.width(), mode.height()) == (width, height))
        .or(modes.first())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructor_refuses_zero_huge_and_bad_rates() {
        assert_eq!(Mode::new(0, 480, 60), Err(Error::ZeroSize { what: "mode" }));
        assert_eq!(Mode::new(640, 0, 60), Err(Error::ZeroSize { what: "mode" }));
        assert_eq!(
            Mode::new(9000, 480, 60),
            Err(Error::TooLarge {
                what: "mode width",
                value: 9000,
                limit: MAX_DIMENSION
            })
        );
        assert_eq!(
            Mode::new(640, 100_000, 60),
            Err(Error::TooLarge {
                what: "mode height",
                value: 100_000,
                limit: MAX_DIMENSION
            })
        );
        assert!(matches!(
            Mode::new(640, 480, 0),
            Err(Error::InvalidMode { .. })
        ));
        assert!(matches!(
            Mode::new(640, 480, 1001),
            Err(Error::InvalidMode { .. })
        ));
        let limit = Mode::new(MAX_DIMENSION, MAX_DIMENSION, 1000).unwrap();
        assert_eq!(
            (limit.width(), limit.height(), limit.refresh_hz()),
            (8192, 8192, 1000)
        );
    }

    #[test]
    fn preferred_mark_is_not_part_of_the_timing() {
        let mode = Mode::new(640, 480, 60).unwrap();
        let preferred = mode.preferred();
        assert!(preferred.is_preferred() && !mode.is_preferred());
        assert!(mode.same_timing(&preferred));
        assert_ne!(mode, preferred);
        assert!(!mode.same_timing(&Mode::new(640, 480, 75).unwrap()));
    }

    #[test]
    fn offered_checks_the_connector_list() {
        let modes = [
            Mode::new(64, 48, 60).unwrap().preferred(),
            Mode::new(32, 24, 60).unwrap(),
        ];
        assert_eq!(offered(&modes, &Mode::new(64, 48, 60).unwrap()), Ok(()));
        assert_eq!(offered(&modes, &Mode::new(32, 24, 60).unwrap()), Ok(()));
        for mode in [(4096, 4096, 1000), (64, 48, 61), (128, 96, 60)] {
            let mode = Mode::new(mode.0, mode.1, mode.2).unwrap();
            assert!(matches!(
                offered(&modes, &mode),
                Err(Error::InvalidMode { .. })
            ));
        }
        assert!(offered(&[], &modes[0]).is_err());
    }

    #[test]
    fn pick_prefers_the_asked_size_then_the_first() {
        let modes = [
            Mode::new(1280, 800, 75).unwrap().preferred(),
            Mode::new(1024, 768, 60).unwrap(),
        ];
        assert_eq!(pick(&modes, 1024, 768), Some(modes[1]));
        assert_eq!(pick(&modes, 640, 480), Some(modes[0]));
        assert_eq!(pick(&[], 640, 480), None);
    }
}
