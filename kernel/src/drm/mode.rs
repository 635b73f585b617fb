//! Display modes, their validation, and the EDID parser that finds a monitor's modes.

use alloc::vec::Vec;

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

/// Why an EDID blob was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EdidError {
    /// Shorter than one 128-byte block.
    Truncated,
    /// The 8-byte header is wrong.
    BadHeader,
    /// The block's bytes do not sum to 0 mod 256.
    BadChecksum,
}

/// Established timings (EDID bytes 35..=37), bit by bit from byte 35's bit 7.
const ESTABLISHED: [(u32, u32, u32); 17] = [
    (720, 400, 70),
    (720, 400, 88),
    (640, 480, 60),
    (640, 480, 67),
    (640, 480, 72),
    (640, 480, 75),
    (800, 600, 56),
    (800, 600, 60),
    (800, 600, 72),
    (800, 600, 75),
    (832, 624, 75),
    (1024, 768, 87),
    (1024, 768, 60),
    (1024, 768, 70),
    (1024, 768, 75),
    (1280, 1024, 75),
    (1152, 870, 75),
];

/// The modes an EDID base block lists: detailed timings (the first is the preferred
/// mode), standard timings and established timings, without duplicates, preferred first,
/// then largest first. Modes a caller cannot drive are filtered by the caller.
///
/// # Errors
///
/// [`EdidError`] when the blob is not a valid EDID base block.
pub fn parse_edid(edid: &[u8]) -> Result<Vec<Mode>, EdidError> {
    let block = edid.get(..128).ok_or(EdidError::Truncated)?;
    if block[..8] != [0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00] {
        return Err(EdidError::BadHeader);
    }
    if block.iter().fold(0_u8, |sum, byte| sum.wrapping_add(*byte)) != 0 {
        return Err(EdidError::BadChecksum);
    }
    let mut modes: Vec<Mode> = Vec::new();
    let mut push = |mode: Result<Mode>| {
        if let Ok(mode) = mode
            && !modes.iter().any(|known| known.same_timing(&mode))
        {
            modes.push(mode);
        }
    };
    for (index, descriptor) in block[54..126].chunks_exact(18).enumerate() {
        let clock = u32::from(u16::from_le_bytes([descriptor[0], descriptor[1]])) * 10_000;
        if clock == 0 {
            continue; // a display descriptor (name, range limits), not a timing
        }
        let width = u32::from(descriptor[2]) | (u32::from(descriptor[4] >> 4) << 8);
        let hblank = u32::from(descriptor[3]) | (u32::from(descriptor[4] & 0xf) << 8);
        let height = u32::from(descriptor[5]) | (u32::from(descriptor[7] >> 4) << 8);
        let vblank = u32::from(descriptor[6]) | (u32::from(descriptor[7] & 0xf) << 8);
        let total = (width + hblank) * (height + vblank);
        let refresh = (clock + total / 2).checked_div(total).unwrap_or(60);
        let mode = Mode::new(width, height, refresh);
        push(if index == 0 && block[24] & 0x02 != 0 {
            mode.map(Mode::preferred)
        } else {
            mode
        });
    }
    for pair in block[38..54].chunks_exact(2) {
        if pair == [0x01, 0x01] || pair[0] == 0 {
            continue;
        }
        let width = (u32::from(pair[0]) + 31) * 8;
        let height = match pair[1] >> 6 {
            0 => width * 10 / 16,
            1 => width * 3 / 4,
            2 => width * 4 / 5,
            _ => width * 9 / 16,
        };
        push(Mode::new(width, height, u32::from(pair[1] & 0x3f) + 60));
    }
    let bits = u32::from(block[35]) << 16 | u32::from(block[36]) << 8 | u32::from(block[37]);
    for (bit, (width, height, refresh)) in ESTABLISHED.iter().enumerate() {
        if bits & (1 << (23 - bit)) != 0 {
            push(Mode::new(*width, *height, *refresh));
        }
    }
    modes.sort_by(|a, b| {
        b.preferred
            .cmp(&a.preferred)
            .then((b.width * b.height).cmp(&(a.width * a.height)))
            .then(b.refresh_hz.cmp(&a.refresh_hz))
    });
    Ok(modes)
}
