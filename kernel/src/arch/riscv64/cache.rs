//! Memory types for framebuffers: none to choose on riscv64 here.
//!
//! Without paging (and without the Svpbmt extension) the memory type of a physical range
//! is fixed by the platform (its PMAs): device memory is uncached I/O. So a
//! write-combining mapping cannot be made, and a driver keeps its uncached window.

use core::fmt;

use super::io::MmioWindow;

/// Whether [`map_write_combining`] can succeed here: no.
pub const WRITE_COMBINING: bool = false;

/// Why a write-combining mapping was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheError {
    /// The architecture cannot change the memory type here.
    Unsupported,
}

impl fmt::Display for CacheError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("write-combining needs paging (riscv64 runs without)")
    }
}

impl core::error::Error for CacheError {}

/// A write-combining mapping (never made on riscv64, see the module docs).
#[derive(Debug)]
pub struct WriteCombining {
    _private: (),
}

/// Always refuses: see the module docs.
///
/// # Errors
///
/// [`CacheError::Unsupported`].
pub fn map_write_combining(_window: &MmioWindow) -> Result<WriteCombining, CacheError> {
    Err(CacheError::Unsupported)
}

/// Never: no range is write-combining on riscv64.
pub fn is_write_combining(_address: u64) -> bool {
    false
}
