//! What a display driver provides (Linux's `struct drm_driver` and the simple pipe's
//! `drm_simple_display_pipe_funcs`): mode validation, atomic check and commit, an
//! optional vblank source, and deferred work.

use super::atomic::{Commit, State};
use super::device::{Device, Hardware};
use super::error::Result;
use super::mode::Mode;

/// What a display driver provides. Hardware callbacks receive a [`Hardware`] token, which
/// only exists inside the unplug guard.
pub trait Driver: Send + Sync + 'static {
    /// The driver's name.
    fn name(&self) -> &'static str;

    /// Whether the hardware can drive `mode` (`mode_valid`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMode`](super::Error::InvalidMode) or another reason.
    fn mode_valid(&self, mode: &Mode) -> Result<()> {
        let _ = mode;
        Ok(())
    }

    /// Driver-specific checks of a new state, after the core's.
    ///
    /// # Errors
    ///
    /// Any error refuses the commit.
    fn atomic_check(&self, state: &State) -> Result<()> {
        let _ = state;
        Ok(())
    }

    /// Programs the hardware for `commit.new`. On error the state stays the old one.
    ///
    /// # Errors
    ///
    /// The driver's failure.
    fn atomic_commit(&self, hardware: &Hardware<'_>, commit: &Commit<'_>) -> Result<()>;

    /// Whether the device has a vblank source. Without one, events are sent at the end
    /// of each commit (a "fake vblank", as Linux does).
    fn has_vblank(&self) -> bool {
        false
    }

    /// Deferred work: called by [`Device::poll`] inside the unplug guard (vkms runs its
    /// timer-driven vblank and composition here).
    fn poll(&self, device: &Device, hardware: &Hardware<'_>) {
        let _ = (device, hardware);
    }
}
