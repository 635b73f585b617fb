//! In-kernel display clients (Linux's `drivers/gpu/drm/clients/`): users of the client
//! API that live in the kernel.
//!
//! - [`log`]: the kernel log on a text console.

pub mod log;
