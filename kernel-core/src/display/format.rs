//! Pixel formats (DRM fourcc codes, Linux's `drm_fourcc.c`).

use super::error::{Error, Result};

/// Builds a fourcc code from its four characters.
pub const fn fourcc(code: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*code)
}

/// A pixel format the subsystem knows (not every plane scans out every one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// `XR24`: 32-bit `0x00RRGGBB`, the top byte ignored.
    Xrgb8888,
    /// `AR24`: 32-bit `0xAARRGGBB` with straight alpha.
    Argb8888,
    /// `XB24`: 32-bit `0x00BBGGRR`.
    Xbgr8888,
    /// `RG16`: 16-bit 5-6-5.
    Rgb565,
}

impl Format {
    /// Decodes a fourcc code.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownFormat`] for any other code.
    pub const fn from_fourcc(code: u32) -> Result<Self> {
        match code {
            _ if code == fourcc(b"XR24") => Ok(Self::Xrgb8888),
            _ if code == fourcc(b"AR24") => Ok(Self::Argb8888),
            _ if code == fourcc(b"XB24") => Ok(Self::Xbgr8888),
            _ if code == fourcc(b"RG16") => Ok(Self::Rgb565),
            _ => Err(Error::UnknownFormat { fourcc: code }),
        }
    }

    /// The fourcc code.
    pub const fn fourcc(self) -> u32 {
        match self {
            Self::Xrgb8888 => fourcc(b"XR24"),
            Self::Argb8888 => fourcc(b"AR24"),
            Self::Xbgr8888 => fourcc(b"XB24"),
            Self::Rgb565 => fourcc(b"RG16"),
        }
    }

    /// Bytes per pixel.
    pub const fn bytes_per_pixel(self) -> u32 {
        match self {
            Self::Rgb565 => 2,
            _ => 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fourcc_codes_round_trip() {
        assert_eq!(fourcc(b"XR24"), 0x3432_5258);
        for format in [
            Format::Xrgb8888,
            Format::Argb8888,
            Format::Xbgr8888,
            Format::Rgb565,
        ] {
            assert_eq!(Format::from_fourcc(format.fourcc()), Ok(format));
        }
        assert_eq!(Format::Rgb565.bytes_per_pixel(), 2);
        assert_eq!(Format::Argb8888.bytes_per_pixel(), 4);
    }

    #[test]
    fn unknown_codes_refused() {
        for code in [0, fourcc(b"NV12"), u32::MAX] {
            assert_eq!(
                Format::from_fourcc(code),
                Err(Error::UnknownFormat { fourcc: code })
            );
        }
    }
}
