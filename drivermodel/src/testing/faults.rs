//! Fault injection: the per-model plan of each fault point.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::counters::Counters;
use crate::error::{Error, Result};
use crate::model::DeviceModel;

/// A place where [`Faults`] can make an operation fail (see the
/// [module docs](crate::testing#fault-points)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultPoint {
    /// Adding any node to a device's devres list.
    DevresAdd,
    /// A probe, before the driver is called.
    Probe,
    /// A managed allocation (devres data, [`Devres`](crate::Devres)).
    Alloc,
}

impl FaultPoint {
    const ALL: [Self; 3] = [Self::DevresAdd, Self::Probe, Self::Alloc];

    fn index(self) -> usize {
        match self {
            Self::DevresAdd => 0,
            Self::Probe => 1,
            Self::Alloc => 2,
        }
    }
}

/// The plan of one fault point.
#[derive(Debug, Default)]
struct Plan {
    /// Times the point was passed since it was last armed or counted.
    hits: AtomicUsize,
    /// The hit that fails; 0: none.
    fail_at: AtomicUsize,
    /// Every hit from `fail_at` on fails, not just that one.
    and_later: AtomicBool,
    /// Failures injected since it was last armed or counted.
    injected: AtomicUsize,
    /// The error to return; `None`: [`Error::OutOfMemory`].
    error: spin::Mutex<Option<Error>>,
}

impl Plan {
    fn reset(&self, fail_at: usize, and_later: bool, error: Option<Error>) {
        *self.error.lock() = error;
        self.fail_at.store(0, Ordering::SeqCst);
        self.hits.store(0, Ordering::SeqCst);
        self.injected.store(0, Ordering::SeqCst);
        self.and_later.store(and_later, Ordering::SeqCst);
        self.fail_at.store(fail_at, Ordering::SeqCst);
    }

    fn pass(&self) -> Result<()> {
        let hit = self.hits.fetch_add(1, Ordering::SeqCst) + 1;
        let fail_at = self.fail_at.load(Ordering::SeqCst);
        let fails = fail_at != 0
            && (hit == fail_at || (hit > fail_at && self.and_later.load(Ordering::SeqCst)));
        if !fails {
            return Ok(());
        }
        self.injected.fetch_add(1, Ordering::SeqCst);
        Err(self.error.lock().clone().unwrap_or(Error::OutOfMemory))
    }
}

/// The fault-injection state of one model, kept with its counters.
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    /// Set once a [`Faults`] handle exists for the model: until then no point is armed
    /// and nothing is counted, so a model nobody injects faults into pays one relaxed
    /// load per fault point (the benchmarks are built with the feature on).
    watched: AtomicBool,
    plans: [Plan; 3],
}

impl FaultState {
    /// Passes `point`: `Err` if this pass is one to fail. Called by the fault points
    /// (`fault::point!`, cfg-d out without the feature), with no lock held.
    pub(crate) fn pass(&self, point: FaultPoint) -> Result<()> {
        if !self.watched.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.plans[point.index()].pass()
    }
}

/// The fault injector of one model: arms its [fault points](crate::testing#fault-points) and
/// reports how often they were passed.
///
/// Arming a point ([`fail_nth`](Self::fail_nth), [`count`](Self::count), ...) restarts
/// its counts, so "the Nth" is counted from there, on every thread of the model.
#[derive(Debug, Clone)]
pub struct Faults {
    counters: Arc<Counters>,
}

impl Faults {
    /// The injector of `model` (every handle to one model shares one state). The model's
    /// fault points start counting passes when its first injector is made.
    pub fn of(model: &DeviceModel) -> Self {
        let counters = model.shared().counters.clone();
        counters.faults.watched.store(true, Ordering::SeqCst);
        Self { counters }
    }

    fn plan(&self, point: FaultPoint) -> &Plan {
        &self.counters.faults.plans[point.index()]
    }

    /// Makes the `n`th pass of `point` from now fail (once), with the point's default
    /// error ([`Error::OutOfMemory`]). `n` counts from 1; 0 disarms the point.
    pub fn fail_nth(&self, point: FaultPoint, n: usize) {
        self.plan(point).reset(n, false, None);
    }

    /// Makes the `n`th pass of `point` from now fail (once) with `error`, for example
    /// [`Error::defer`] on [`FaultPoint::Probe`].
    pub fn fail_nth_with(&self, point: FaultPoint, n: usize, error: Error) {
        self.plan(point).reset(n, false, Some(error));
    }

    /// Makes the `n`th pass of `point` from now and every later one fail, until the point
    /// is armed again or [cleared](Self::clear) (failslab's `times=-1`).
    pub fn fail_from(&self, point: FaultPoint, n: usize) {
        self.plan(point).reset(n, true, None);
    }

    /// Disarms `point` and restarts its counts: count the passes of a good run.
    pub fn count(&self, point: FaultPoint) {
        self.plan(point).reset(0, false, None);
    }

    /// Disarms every point and restarts every count.
    pub fn clear(&self) {
        for point in FaultPoint::ALL {
            self.count(point);
        }
    }

    /// How many times `point` was passed since it was armed or counted, or since the
    /// model's first injector was made (failed passes included).
    pub fn hits(&self, point: FaultPoint) -> usize {
        self.plan(point).hits.load(Ordering::SeqCst)
    }

    /// How many failures `point` injected since it was armed.
    pub fn injected(&self, point: FaultPoint) -> usize {
        self.plan(point).injected.load(Ordering::SeqCst)
    }
}
