//! Buffer layouts: the size and pitch of a dumb buffer, and the checks of a framebuffer's
//! description against its buffer, with every overflow checked.

use super::error::{Error, Result};
use super::format::Format;
use super::mode::MAX_DIMENSION;

/// The largest dumb buffer handed out (64 MiB).
pub const MAX_BUFFER_BYTES: u64 = 64 << 20;

/// Dumb buffers may be larger than any mode (a virtual desktop) but not unboundedly.
pub const MAX_BUFFER_DIMENSION: u32 = 4 * MAX_DIMENSION;

/// The pitch and size in bytes of a dumb buffer.
///
/// # Errors
///
/// [`Error::ZeroSize`], [`Error::TooLarge`] (above [`MAX_BUFFER_DIMENSION`] per
/// dimension), [`Error::UnsupportedBpp`] (only 32), [`Error::Overflow`] when `pitch ×
/// height` overflows `u32`, [`Error::BufferTooLarge`] above [`MAX_BUFFER_BYTES`].
pub fn dumb_layout(width: u32, height: u32, bpp: u32) -> Result<(u32, u64)> {
    if width == 0 || height == 0 {
        return Err(Error::ZeroSize {
            what: "dumb buffer",
        });
    }
    for (what, value) in [("dumb buffer width", width), ("dumb buffer height", height)] {
        if value > MAX_BUFFER_DIMENSION {
            return Err(Error::TooLarge {
                what,
                value,
                limit: MAX_BUFFER_DIMENSION,
            });
        }
    }
    if bpp != 32 {
        return Err(Error::UnsupportedBpp { bpp });
    }
    let pitch = width.checked_mul(bpp / 8).ok_or(Error::Overflow {
        what: "width × bytes per pixel",
    })?;
    let size = pitch.checked_mul(height).ok_or(Error::Overflow {
        what: "pitch × height",
    })?;
    if u64::from(size) > MAX_BUFFER_BYTES {
        return Err(Error::BufferTooLarge {
            size: u64::from(size),
            limit: MAX_BUFFER_BYTES,
        });
    }
    Ok((pitch, u64::from(size)))
}

/// Checks a framebuffer description (`ADDFB2`) against a buffer of `buffer_size` bytes,
/// in the order the errors are reported; returns the format.
///
/// # Errors
///
/// [`Error::ZeroSize`], [`Error::TooLarge`] (above [`MAX_DIMENSION`]),
/// [`Error::UnknownFormat`], [`Error::FormatNotSupported`] (not 32 bits per pixel),
/// [`Error::BadPitch`], [`Error::Overflow`], [`Error::BufferTooSmall`].
pub fn framebuffer_layout(
    width: u32,
    height: u32,
    fourcc: u32,
    pitch: u32,
    buffer_size: u64,
) -> Result<Format> {
    if width == 0 || height == 0 {
        return Err(Error::ZeroSize {
            what: "framebuffer",
        });
    }
    for (what, value) in [("framebuffer width", width), ("framebuffer height", height)] {
        if value > MAX_DIMENSION {
            return Err(Error::TooLarge {
                what,
                value,
                limit: MAX_DIMENSION,
            });
        }
    }
    let format = Format::from_fourcc(fourcc)?;
    if format.bytes_per_pixel() != 4 {
        return Err(Error::FormatNotSupported { fourcc });
    }
    let minimum = width * format.bytes_per_pixel();
    if pitch < minimum || !pitch.is_multiple_of(4) {
        return Err(Error::BadPitch { pitch, minimum });
    }
    let needed = pitch.checked_mul(height).ok_or(Error::Overflow {
        what: "pitch × height",
    })?;
    if u64::from(needed) > buffer_size {
        return Err(Error::BufferTooSmall {
            needed: u64::from(needed),
            size: buffer_size,
        });
    }
    Ok(format)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::display::format::fourcc;

    #[test]
    fn dumb_layouts() {
        assert_eq!(dumb_layout(64, 48, 32), Ok((256, 256 * 48)));
        assert_eq!(
            dumb_layout(0, 48, 32),
            Err(Error::ZeroSize {
                what: "dumb buffer"
            })
        );
        assert_eq!(
            dumb_layout(MAX_BUFFER_DIMENSION + 1, 1, 32),
            Err(Error::TooLarge {
                what: "dumb buffer width",
                value: MAX_BUFFER_DIMENSION + 1,
                limit: MAX_BUFFER_DIMENSION
            })
        );
        assert_eq!(
            dumb_layout(64, 48, 16),
            Err(Error::UnsupportedBpp { bpp: 16 })
        );
        assert_eq!(
            dumb_layout(32768, 32768, 32),
            Err(Error::Overflow {
                what: "pitch × height"
            })
        );
        assert_eq!(
            dumb_layout(8192, 8192, 32),
            Err(Error::BufferTooLarge {
                size: 256 << 20,
                limit: MAX_BUFFER_BYTES
            })
        );
        assert_eq!(dumb_layout(4096, 4096, 32), Ok((16384, MAX_BUFFER_BYTES)));
    }

    #[test]
    fn framebuffer_layouts() {
        let xrgb = fourcc(b"XR24");
        let size = 256 * 48;
        assert_eq!(
            framebuffer_layout(64, 48, xrgb, 256, size),
            Ok(Format::Xrgb8888)
        );
        assert_eq!(
            framebuffer_layout(0, 48, xrgb, 256, size),
            Err(Error::ZeroSize {
                what: "framebuffer"
            })
        );
        assert!(matches!(
            framebuffer_layout(64, 9000, xrgb, 256, size),
            Err(Error::TooLarge {
                what: "framebuffer height",
                ..
            })
        ));
        assert_eq!(
            framebuffer_layout(64, 48, fourcc(b"NV12"), 256, size),
            Err(Error::UnknownFormat {
                fourcc: fourcc(b"NV12")
            })
        );
        assert_eq!(
            framebuffer_layout(64, 48, fourcc(b"RG16"), 256, size),
            Err(Error::FormatNotSupported {
                fourcc: fourcc(b"RG16")
            })
        );
        assert_eq!(
            framebuffer_layout(64, 48, xrgb, 252, size),
            Err(Error::BadPitch {
                pitch: 252,
                minimum: 256
            })
        );
        assert_eq!(
            framebuffer_layout(64, 48, xrgb, 258, size),
            Err(Error::BadPitch {
                pitch: 258,
                minimum: 256
            })
        );
        assert_eq!(
            framebuffer_layout(64, 8000, xrgb, u32::MAX - 3, size),
            Err(Error::Overflow {
                what: "pitch × height"
            })
        );
        assert_eq!(
            framebuffer_layout(64, 48, xrgb, 260, size),
            Err(Error::BufferTooSmall {
                needed: 260 * 48,
                size
            })
        );
    }
}
