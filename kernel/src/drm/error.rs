//! The subsystem's one error type: every refusal of the client API has its own variant.

use core::fmt;

use super::object::Kind;

/// The result type of the display subsystem.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Why a display operation was refused. Nothing changes when one is returned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A width or height of zero.
    ZeroSize {
        /// What was being sized.
        what: &'static str,
    },
    /// A width or height above the subsystem's limit.
    TooLarge {
        /// What was being sized.
        what: &'static str,
        /// The value given.
        value: u32,
        /// The largest value allowed.
        limit: u32,
    },
    /// A size computation (`width × bytes per pixel`, `pitch × height`, `offset + size`)
    /// overflowed.
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
    /// A fourcc code that names no pixel format this subsystem knows.
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
    /// The plane's framebuffer is smaller than the area it must cover (the mode, for a
    /// primary plane).
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
    /// A mode with impossible timings, or one the driver cannot drive.
    InvalidMode {
        /// Why.
        reason: &'static str,
    },
    /// An ID that belongs to another device or another client.
    ForeignObject {
        /// The ID given.
        id: u32,
    },
    /// An ID of this device or client whose object is gone.
    StaleObject {
        /// The ID given.
        id: u32,
    },
    /// An ID that was never handed out.
    NoSuchObject {
        /// The ID given.
        id: u32,
    },
    /// An ID of the wrong kind of object.
    WrongKind {
        /// The ID given.
        id: u32,
        /// The kind the call needs.
        expected: Kind,
        /// The kind it names.
        actual: Kind,
    },
    /// A configuration the hardware pipeline cannot take (an active CRTC without a mode
    /// or connector, a plane without a framebuffer, ...).
    InvalidConfiguration {
        /// Why.
        reason: &'static str,
    },
    /// A page flip is already pending on this CRTC.
    Busy,
    /// The framebuffer is still used by the current configuration.
    InUse {
        /// The framebuffer ID.
        id: u32,
    },
    /// A shared buffer imported into the device that exported it (its clients use the
    /// buffer's own handle; see [`super::prime`]).
    ImportIntoExporter {
        /// The shared buffer's ID.
        id: u32,
    },
    /// The device was unplugged: its hardware is gone.
    Unplugged,
    /// The device has no such capability (e.g. no vblank interrupt).
    NotSupported {
        /// What is missing.
        what: &'static str,
    },
    /// Waiting for an event timed out.
    TimedOut,
    /// A buffer's write fence was not signalled in time for scanout ([`super::fence`]).
    FenceTimeout {
        /// How long the commit waited.
        waited_micros: u64,
    },
    /// The buffer already has an unsignalled write fence.
    FencePending,
    /// The ID space of a device or client is used up.
    IdsExhausted,
    /// An allocation failed.
    OutOfMemory,
    /// A client's or a device's buffer memory would exceed its quota.
    QuotaExceeded {
        /// Whose quota ("client buffer memory", "device buffer memory").
        what: &'static str,
        /// Bytes asked for.
        requested: u64,
        /// Bytes held already.
        used: u64,
        /// The quota.
        limit: u64,
    },
    /// The allocation would take heap memory the kernel keeps in reserve.
    HeapReserve {
        /// Bytes asked for.
        requested: u64,
        /// Bytes display allocations may still take.
        available: u64,
    },
    /// The client's event queue is full (unread plus armed events).
    EventQueueFull {
        /// The most events a queue holds.
        limit: usize,
    },
    /// The driver model refused (registering the device's devres action, ...).
    DriverModel(drivermodel::Error),
    /// The driver's own failure.
    Driver {
        /// The driver's message.
        message: &'static str,
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
            Self::ForeignObject { id } => {
                write!(formatter, "object {id:#x} belongs to someone else")
            }
            Self::StaleObject { id } => write!(formatter, "object {id:#x} no longer exists"),
            Self::NoSuchObject { id } => write!(formatter, "object {id:#x} never existed"),
            Self::WrongKind {
                id,
                expected,
                actual,
            } => write!(
                formatter,
                "object {id:#x} is a {actual:?}, not a {expected:?}"
            ),
            Self::InvalidConfiguration { reason } => {
                write!(formatter, "invalid configuration: {reason}")
            }
            Self::Busy => write!(formatter, "a page flip is pending"),
            Self::InUse { id } => write!(formatter, "framebuffer {id:#x} is in use"),
            Self::ImportIntoExporter { id } => write!(
                formatter,
                "shared buffer {id:#x} was exported by this device: use its own handle"
            ),
            Self::Unplugged => write!(formatter, "device unplugged"),
            Self::NotSupported { what } => write!(formatter, "not supported: {what}"),
            Self::TimedOut => write!(formatter, "timed out"),
            Self::FenceTimeout { waited_micros } => write!(
                formatter,
                "the buffer's rendering was not signalled done within {waited_micros} us"
            ),
            Self::FencePending => write!(formatter, "the buffer already has an unsignalled fence"),
            Self::IdsExhausted => write!(formatter, "object IDs exhausted"),
            Self::OutOfMemory => write!(formatter, "out of memory"),
            Self::QuotaExceeded {
                what,
                requested,
                used,
                limit,
            } => write!(
                formatter,
                "{what}: {requested} more bytes would exceed the limit of {limit} ({used} in use)"
            ),
            Self::HeapReserve {
                requested,
                available,
            } => write!(
                formatter,
                "{requested} bytes would take the kernel's heap reserve ({available} bytes left for display buffers)"
            ),
            Self::EventQueueFull { limit } => write!(
                formatter,
                "event queue full ({limit} unread or pending events): read events first"
            ),
            Self::DriverModel(error) => write!(formatter, "driver model: {error}"),
            Self::Driver { message } => write!(formatter, "driver: {message}"),
        }
    }
}

impl core::error::Error for Error {}

impl From<kernel_core::display::Error> for Error {
    /// The pure logic's refusals keep their variant and fields.
    fn from(error: kernel_core::display::Error) -> Self {
        use kernel_core::display::Error as Pure;
        match error {
            Pure::ZeroSize { what } => Self::ZeroSize { what },
            Pure::TooLarge { what, value, limit } => Self::TooLarge { what, value, limit },
            Pure::Overflow { what } => Self::Overflow { what },
            Pure::BufferTooLarge { size, limit } => Self::BufferTooLarge { size, limit },
            Pure::UnsupportedBpp { bpp } => Self::UnsupportedBpp { bpp },
            Pure::UnknownFormat { fourcc } => Self::UnknownFormat { fourcc },
            Pure::FormatNotSupported { fourcc } => Self::FormatNotSupported { fourcc },
            Pure::BadPitch { pitch, minimum } => Self::BadPitch { pitch, minimum },
            Pure::BufferTooSmall { needed, size } => Self::BufferTooSmall { needed, size },
            Pure::FramebufferTooSmall {
                framebuffer,
                needed,
            } => Self::FramebufferTooSmall {
                framebuffer,
                needed,
            },
            Pure::BadRectangle { what } => Self::BadRectangle { what },
            Pure::InvalidMode { reason } => Self::InvalidMode { reason },
            Pure::InvalidConfiguration { reason } => Self::InvalidConfiguration { reason },
            _ => Self::Driver {
                message: "unknown display logic error",
            },
        }
    }
}

impl From<drivermodel::Error> for Error {
    fn from(error: drivermodel::Error) -> Self {
        Self::DriverModel(error)
    }
}

impl From<Error> for drivermodel::Error {
    /// For a display driver's probe: a driver-model error comes back as itself, an
    /// allocation failure as [`drivermodel::Error::OutOfMemory`], anything else as the
    /// driver's own failure with the display error's message.
    fn from(error: Error) -> Self {
        match error {
            Error::DriverModel(error) => error,
            Error::OutOfMemory => Self::OutOfMemory,
            other => Self::driver(alloc::format!("{other}")),
        }
    }
}
