//! Atomic modesetting (Linux's `drm_atomic.c` and `drm_atomic_helper.c`): the state of
//! the one pipeline, its checks, and the commit that programs it.
//!
//! Each device has one CRTC fed by a primary plane and optionally a cursor plane, one
//! encoder and one connector with a mode list: the shape of Linux's simple display pipe,
//! which is what bochs and vkms use. The atomic [`State`] is the whole pipeline; a
//! commit builds a new state from the current one, checks it (core rules, then
//! [`Driver::atomic_check`](super::Driver::atomic_check)), and only then programs the
//! hardware through [`Driver::atomic_commit`](super::Driver::atomic_commit) inside the
//! unplug guard. Any error leaves the current state untouched.

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::device::Device;
use super::error::{Error, Result};
use kernel_core::display::atomic::{FramebufferView, PlaneView, StateView, clip_damage};

use super::framebuffer::Framebuffer;
use super::mode::Mode;
use super::mode_config::Lookup;
use super::rect::Rect;
use super::vblank::{EventKind, EventQueue, Pending};

pub use kernel_core::display::atomic::{CURSOR_MAX, MAX_DAMAGE_CLIPS};

/// One plane's part of the state.
#[derive(Debug, Clone, Default)]
pub struct PlaneState {
    /// The framebuffer scanned out, if the plane is on.
    pub framebuffer: Option<Arc<Framebuffer>>,
    /// The part of the framebuffer shown.
    pub source: Rect,
    /// Where on the CRTC it is shown (same size as `source`: no scaling).
    pub destination: Rect,
}

impl PlaneState {
    /// Whether the plane shows something.
    pub fn is_visible(&self) -> bool {
        self.framebuffer.is_some()
    }
}

/// The whole pipeline's state.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// Whether the CRTC scans out.
    pub active: bool,
    /// The CRTC's mode.
    pub mode: Option<Mode>,
    /// Whether the connector is routed to the CRTC.
    pub connected: bool,
    /// The primary plane.
    pub primary: PlaneState,
    /// The cursor plane.
    pub cursor: PlaneState,
}

/// What [`Driver::atomic_commit`](super::Driver::atomic_commit) must do.
#[derive(Debug)]
pub struct Commit<'a> {
    /// The state being replaced.
    pub old: &'a State,
    /// The state to program.
    pub new: &'a State,
    /// The areas of the CRTC to update (already clipped), when only part changed; `None`
    /// means everything (a mode, framebuffer or cursor change).
    pub damage: Option<&'a [Rect]>,
}

impl Commit<'_> {
    /// Whether the mode or the active flag changes (a full mode set).
    pub fn modeset(&self) -> bool {
        self.old.active != self.new.active || self.old.mode != self.new.mode
    }
}

/// The state as the core's checks see it.
fn view(state: &State) -> StateView {
    let plane = |plane: &PlaneState| PlaneView {
        framebuffer: plane
            .framebuffer
            .as_ref()
            .map(|framebuffer| FramebufferView {
                width: framebuffer.width(),
                height: framebuffer.height(),
                format: framebuffer.format(),
            }),
        source: plane.source,
        destination: plane.destination,
    };
    StateView {
        active: state.active,
        mode: state.mode,
        connected: state.connected,
        primary: plane(&state.primary),
        cursor: plane(&state.cursor),
    }
}

/// Checks `new` against the core's rules ([`kernel_core::display::atomic::check`], with
/// the driver's `mode_valid`) and then the driver's `atomic_check`.
fn check(device: &Device, new: &State) -> Result<()> {
    kernel_core::display::atomic::check(&view(new), device.config().primary_formats, |mode| {
        device.mode_valid(mode)
    })?;
    device.driver_atomic_check(new)
}

/// Whether `old` and `new` scan out the same pictures from the same places, so damage
/// rectangles describe the whole change.
fn same_scanout(old: &State, new: &State) -> bool {
    !(old.active != new.active || old.mode != new.mode)
        && same_framebuffer(&old.primary, &new.primary)
        && old.primary.source == new.primary.source
        && same_framebuffer(&old.cursor, &new.cursor)
        && old.cursor.destination == new.cursor.destination
}

fn same_framebuffer(a: &PlaneState, b: &PlaneState) -> bool {
    match (&a.framebuffer, &b.framebuffer) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

impl Device {
    /// A copy of the current state.
    pub fn state(&self) -> State {
        self.mode_config().state()
    }

    /// Turns the pipeline off (`drm_atomic_helper_shutdown`): a best-effort commit of
    /// the empty state; nothing happens once unplugged.
    pub fn shutdown(&self) {
        let _ = self.atomic(
            |_, new| {
                *new = State::default();
                Ok(())
            },
            None,
            false,
            None,
        );
    }

    /// Builds, checks and commits a new state: `update` edits a copy of the current one
    /// (resolving the caller's IDs), `damage` lists changed areas of the primary
    /// framebuffer (`None`: everything), `event` asks for a flip-complete event in a
    /// client's queue (its room is reserved before anything changes).
    pub(crate) fn atomic(
        &self,
        update: impl FnOnce(&Lookup<'_>, &mut State) -> Result<()>,
        damage: Option<&[Rect]>,
        test_only: bool,
        event: Option<(&Arc<EventQueue>, u64)>,
    ) -> Result<()> {
        if self.is_unplugged() {
            return Err(Error::Unplugged);
        }
        if !self.has_modeset() {
            return Err(super::client::NO_MODESET);
        }
        if damage.is_some_and(|clips| clips.len() > MAX_DAMAGE_CLIPS) {
            return Err(Error::TooLarge {
                what: "damage clip count",
                value: damage.map_or(0, |clips| clips.len()) as u32,
                limit: MAX_DAMAGE_CLIPS as u32,
            });
        }
        let committed = self.mode_config().transaction(|lookup, current| {
            let mut new = current.clone();
            update(lookup, &mut new)?;
            check(self, &new)?;
            let pending = match event {
                Some((queue, user_data)) => {
                    if !new.active {
                        return Err(Error::InvalidConfiguration {
                            reason: "event on an inactive CRTC",
                        });
                    }
                    if self.vblank().flip_pending() {
                        return Err(Error::Busy);
                    }
                    Some(Pending::new(queue, EventKind::FlipComplete, user_data)?)
                }
                None => None,
            };
            if test_only {
                return Ok(None);
            }
            let clipped = match damage {
                Some(clips) if same_scanout(current, &new) => {
                    let mut clipped = Vec::new();
                    clipped
                        .try_reserve_exact(clips.len())
                        .map_err(|_| Error::OutOfMemory)?;
                    clipped.extend(clip_damage(
                        clips,
                        new.primary.source,
                        new.primary.destination,
                    ));
                    Some(clipped)
                }
                _ => None,
            };
            let hardware = self.enter().ok_or(Error::Unplugged)?;
            self.driver_atomic_commit(
                &hardware,
                &Commit {
                    old: current,
                    new: &new,
                    damage: clipped.as_deref(),
                },
            )?;
            drop(hardware);
            Ok(Some((core::mem::replace(current, new), pending)))
        })?;
        let Some((old, pending)) = committed else {
            return Ok(()); // test only
        };
        drop(old);
        if let Some(pending) = pending {
            self.send_flip_event(pending)?;
        }
        Ok(())
    }

    /// Turns off every plane showing framebuffer `id` (after its removal), in software
    /// if the device is unplugged.
    pub(crate) fn disable_framebuffer(&self, id: u32) {
        let uses = |plane: &PlaneState| plane.framebuffer.as_ref().is_some_and(|fb| fb.id == id);
        let state = self.state();
        if !uses(&state.primary) && !uses(&state.cursor) {
            return;
        }
        let result = self.atomic(
            |_, new| {
                if uses(&new.cursor) {
                    new.cursor = PlaneState::default();
                }
                if uses(&new.primary) {
                    *new = State::default();
                }
                Ok(())
            },
            None,
            false,
            None,
        );
        if result.is_err() {
            self.mode_config().force_state(|state| {
                if uses(&state.cursor) {
                    state.cursor = PlaneState::default();
                }
                if uses(&state.primary) {
                    *state = State::default();
                }
            });
        }
    }
}
