//! Pixel formats (DRM fourcc codes) and rectangles.

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

/// A rectangle: origin (may be negative for a cursor's destination) and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rect {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl Rect {
    /// A rectangle.
    pub const fn new(x: i32, y: i32, width: u32, height: u32) -> Self {
        Self {
            x,
            y,
            width,
            height,
        }
    }

    /// The rectangle at the origin of a `width × height` area.
    pub const fn sized(width: u32, height: u32) -> Self {
        Self::new(0, 0, width, height)
    }

    /// Whether it has no pixels.
    pub const fn is_empty(&self) -> bool {
        self.width == 0 || self.height == 0
    }

    /// Right edge (exclusive), widened so it cannot overflow.
    pub const fn right(&self) -> i64 {
        self.x as i64 + self.width as i64
    }

    /// Bottom edge (exclusive).
    pub const fn bottom(&self) -> i64 {
        self.y as i64 + self.height as i64
    }

    /// Whether it lies within `0..width × 0..height`.
    pub const fn within(&self, width: u32, height: u32) -> bool {
        self.x >= 0 && self.y >= 0 && self.right() <= width as i64 && self.bottom() <= height as i64
    }

    /// The intersection (empty if none).
    pub fn intersect(&self, other: &Self) -> Self {
        let left = i64::from(self.x).max(i64::from(other.x));
        let top = i64::from(self.y).max(i64::from(other.y));
        let right = self.right().min(other.right());
        let bottom = self.bottom().min(other.bottom());
        if right <= left || bottom <= top {
            return Self::default();
        }
        Self::new(
            left as i32,
            top as i32,
            (right - left) as u32,
            (bottom - top) as u32,
        )
    }

    /// Moved by `(dx, dy)` (saturating).
    pub fn offset(&self, dx: i32, dy: i32) -> Self {
        Self::new(
            self.x.saturating_add(dx),
            self.y.saturating_add(dy),
            self.width,
            self.height,
        )
    }
}
