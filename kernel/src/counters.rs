//! The kernel's live-object counters, in one list that anyone may read: the shell's
//! `counts`, the boot demo (which shows them back where they were after a virtual
//! display is deleted) and the test framework's leak check
//! ([`crate::test::leak`], which reads [`ALL`] before and after every test).
//!
//! Each counter is owned by the code that creates the objects (the driver model's
//! counts, the display subsystem's atomics); this module only names and reads them, so
//! production code never registers anything into the test framework.

use crate::devices;
use crate::drm;

/// One live-object counter.
#[derive(Debug, Clone, Copy)]
pub struct Counter {
    /// What it counts, plural (`leaked 3 <unit>`).
    pub unit: &'static str,
    /// Reads it now.
    pub read: fn() -> i64,
}

/// How many counters [`ALL`] holds.
pub const COUNT: usize = 9;

/// Every live-object counter of the kernel.
pub const ALL: [Counter; COUNT] = [
    Counter {
        unit: "devices",
        read: || devices::model().counts().devices as i64,
    },
    Counter {
        unit: "bindings",
        read: || devices::model().counts().bindings as i64,
    },
    Counter {
        unit: "devres nodes",
        read: || devices::model().counts().devres_nodes as i64,
    },
    Counter {
        unit: "display devices",
        read: || drm::counts().devices as i64,
    },
    Counter {
        unit: "display clients",
        read: || drm::counts().clients as i64,
    },
    Counter {
        unit: "dumb buffers",
        read: || drm::counts().buffers as i64,
    },
    Counter {
        unit: "framebuffers",
        read: || drm::counts().framebuffers as i64,
    },
    Counter {
        unit: "shared buffers",
        read: || drm::counts().shared_buffers as i64,
    },
    Counter {
        unit: "fences",
        read: || drm::counts().fences as i64,
    },
];

/// Every counter's reading at one moment, in the order of [`ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readings(pub [i64; COUNT]);

impl Readings {
    /// Reads every counter now.
    pub fn take() -> Self {
        Self(ALL.map(|counter| (counter.read)()))
    }

    /// The counters that differ from `earlier`: `(unit, now − earlier)`.
    pub fn changes_since(&self, earlier: &Self) -> impl Iterator<Item = (&'static str, i64)> {
        let (now, earlier) = (self.0, earlier.0);
        ALL.iter()
            .zip(now.into_iter().zip(earlier))
            .filter(|(_, (now, earlier))| now != earlier)
            .map(|(counter, (now, earlier))| (counter.unit, now - earlier))
    }
}
