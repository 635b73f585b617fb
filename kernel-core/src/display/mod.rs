//! The display subsystem's pure logic: what the kernel's `drm` module computes without
//! touching hardware, memory it did not ask for, or a lock.
//!
//! | module | what |
//! |---|---|
//! | [`mode`] | [`Mode`], its one checked constructor, mode lists |
//! | [`edid`] | the EDID base-block parser |
//! | [`format`] | fourcc pixel formats |
//! | [`rect`] | rectangles, clipping, plane placement without overflow |
//! | [`layout`] | dumb-buffer and framebuffer layouts |
//! | [`atomic`] | the core's atomic checks, damage clipping |
//! | [`compose`] | alpha blending |
//! | [`crc`] | CRC-32 of composed frames |
//! | [`console`] | the text console's cell grid |
//! | [`error`] | the one [`Error`] |
//!
//! The kernel's `drm` re-exports these types and converts [`Error`] into its own error
//! variant for variant.

pub mod atomic;
pub mod compose;
pub mod console;
pub mod crc;
pub mod edid;
pub mod error;
pub mod format;
pub mod layout;
pub mod mode;
pub mod rect;

pub use error::{Error, Result};
pub use format::{Format, fourcc};
pub use mode::Mode;
pub use rect::Rect;
