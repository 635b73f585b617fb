//! Leak probes: counters that must read the same before and after every test.
//!
//! The heap probe (bytes in use) is built in, and so is every live-object counter of the
//! kernel ([`crate::counters::ALL`]: the driver model's devices, bindings and devres
//! nodes, the display objects). A test may add a probe of its own with [`register`].

use core::fmt;

use spin::Mutex;

use crate::arch::heap;
use crate::counters;

/// A counter that must not change across a test.
#[derive(Debug, Clone, Copy)]
pub struct LeakProbe {
    /// What it counts, for reports (`leaked 3 <unit>`).
    pub unit: &'static str,
    /// Reads the counter.
    pub read: fn() -> i64,
}

/// Room for probes besides the heap.
const CAPACITY: usize = 16;

/// The heap probe.
const HEAP: LeakProbe = LeakProbe {
    unit: "bytes",
    read: heap_used,
};

fn heap_used() -> i64 {
    heap::used_bytes() as i64
}

static PROBES: Mutex<[Option<LeakProbe>; CAPACITY]> = Mutex::new([None; CAPACITY]);

/// The probe table is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableFull;

impl fmt::Display for TableFull {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "leak probe table full ({CAPACITY} probes)")
    }
}

impl core::error::Error for TableFull {}

/// Adds a probe to every following test's leak check.
///
/// # Errors
///
/// [`TableFull`] when `CAPACITY` probes are registered already.
pub fn register(probe: LeakProbe) -> Result<(), TableFull> {
    let mut probes = PROBES.lock();
    let slot = probes
        .iter_mut()
        .find(|slot| slot.is_none())
        .ok_or(TableFull)?;
    *slot = Some(probe);
    Ok(())
}

/// The built-in probes: the heap and the kernel's counters.
const BUILT_IN: usize = 1 + counters::COUNT;

/// Readings of every probe at one moment (heap first, then the kernel's counters).
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    values: [i64; BUILT_IN + CAPACITY],
    probes: [Option<LeakProbe>; BUILT_IN + CAPACITY],
}

impl Snapshot {
    /// Reads every probe now.
    pub fn take() -> Self {
        let mut probes = [None; BUILT_IN + CAPACITY];
        probes[0] = Some(HEAP);
        for (probe, counter) in probes[1..BUILT_IN].iter_mut().zip(counters::ALL) {
            *probe = Some(LeakProbe {
                unit: counter.unit,
                read: counter.read,
            });
        }
        probes[BUILT_IN..].copy_from_slice(&*PROBES.lock());
        let mut values = [0; BUILT_IN + CAPACITY];
        for (value, probe) in values.iter_mut().zip(&probes) {
            if let Some(probe) = probe {
                *value = (probe.read)();
            }
        }
        Self { values, probes }
    }

    /// The first probe that differs between `self` (before) and `after`.
    pub fn first_difference(&self, after: &Self) -> Option<Leak> {
        self.probes
            .iter()
            .zip(self.values.iter().zip(&after.values))
            .find_map(|(probe, (before, after))| {
                let probe = (*probe)?;
                (before != after).then_some(Leak {
                    unit: probe.unit,
                    delta: after - before,
                })
            })
    }
}

/// A probe that changed across a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leak {
    /// The probe's unit.
    pub unit: &'static str,
    /// After minus before.
    pub delta: i64,
}

impl fmt::Display for Leak {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.delta > 0 {
            write!(formatter, "leaked {} {}", self.delta, self.unit)
        } else {
            write!(
                formatter,
                "released {} {} it did not acquire",
                -self.delta, self.unit
            )
        }
    }
}
