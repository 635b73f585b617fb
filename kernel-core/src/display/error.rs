//! The display logic's error: every refusal has its own variant.

use core::fmt;

/// The result type of the display logic.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Why a display description (mode, buffer layout, format, state) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A width or height of zero.
    ZeroSize {
        /// What was being sized.
        what: &'static str,
    },
    /// A width or height above the limit.
    TooLarge {
        /// What was being sized.
        what: &'static str,
        /// The value given.
        value: u32,
        /// The largest value allowed.
        limit: u32,
    },
    /// A size computation (`width × bytes per pixel`, `pitch × height`) overflowed.
    Overflow {
        /// The computation that overflowed.
        what: &'static str,
    },
    /// A buffer bigger than the subsystem hands out.
    BufferTooLarge {
        /// Bytes requested.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Bits per pixel other than 32.
    UnsupportedBpp {
        /// The value given.
        bpp: u32,
    },
    /// A fourcc code that names no known pixel format.
    UnknownFormat {
        /// The code given.
        fourcc: u32,
    },
    /// A known pixel format that this plane cannot scan out.
    FormatNotSupported {
        /// The code given.
        fourcc: u32,
    },
    /// A framebuffer pitch smaller than `width × bytes per pixel`, or not a multiple of 4.
    BadPitch {
        /// The pitch given.
        pitch: u32,
        /// The smallest pitch allowed.
        minimum: u32,
    },
    /// The framebuffer's extent does not fit in its buffer.
    BufferTooSmall {
        /// Bytes the framebuffer needs.
        needed: u64,
        /// Bytes the buffer has.
        size: u64,
    },
    /// The plane's framebuffer is smaller than the area it must cover.
    FramebufferTooSmall {
        /// Framebuffer size.
        framebuffer: (u32, u32),
        /// Size needed.
        needed: (u32, u32),
    },
    /// A source or destination rectangle outside what it must lie within.
    BadRectangle {
        /// Which rectangle.
        what: &'static str,
    },
    /// A mode with impossible timings, or one the connector does not offer.
    InvalidMode {
        /// Why.
        reason: &'static str,
    },
    /// A configuration the pipeline cannot take.
    InvalidConfiguration {
        /// Why.
        reason: &'static str,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroSize { what } => write!(formatter, "{what}: zero width or height"),
            Self::TooLarge { what, value, limit } => {
                write!(formatter, "{what}: {value} is above the limit {limit}")
            }
            Self::Overflow { what } => write!(formatter, "{what} overflows"),
            Self::BufferTooLarge { size, limit } => {
                write!(
                    formatter,
                    "buffer of {size} bytes is above the limit {limit}"
                )
            }
            Self::UnsupportedBpp { bpp } => write!(formatter, "{bpp} bits per pixel unsupported"),
            Self::UnknownFormat { fourcc } => {
                write!(formatter, "unknown pixel format {fourcc:#010x}")
            }
            Self::FormatNotSupported { fourcc } => {
                write!(
                    formatter,
                    "pixel format {fourcc:#010x} not supported by the plane"
                )
            }
            Self::BadPitch { pitch, minimum } => {
                write!(
                    formatter,
                    "pitch {pitch} (at least {minimum}, a multiple of 4)"
                )
            }
            Self::BufferTooSmall { needed, size } => {
                write!(
                    formatter,
                    "framebuffer needs {needed} bytes, buffer has {size}"
                )
            }
            Self::FramebufferTooSmall {
                framebuffer,
                needed,
            } => write!(
                formatter,
                "framebuffer {}x{} smaller than {}x{}",
                framebuffer.0, framebuffer.1, needed.0, needed.1
            ),
            Self::BadRectangle { what } => write!(formatter, "{what} rectangle out of bounds"),
            Self::InvalidMode { reason } => write!(formatter, "invalid mode: {reason}"),
            Self::InvalidConfiguration { reason } => {
                write!(formatter, "invalid configuration: {reason}")
            }
        }
    }
}

impl core::error::Error for Error {}
