//! The one place where the crate waits: a hook the kernel may supply, spinning by default.
//!
//! Every wait of the crate is a loop "until a condition holds", and every such loop goes
//! through one internal function. Without a hook it spins with [`core::hint::spin_loop`]. A kernel
//! with a scheduler installs a [`WaitHook`] once at boot ([`set_hook`]) and can then yield,
//! sleep or park the waiting thread; the crate calls the hook's [`wake`](WaitHook::wake)
//! after every state change that can end a wait.
//!
//! # Wait points
//!
//! | [`WaitPoint`] | Who waits | For what | Woken by |
//! |---|---|---|---|
//! | [`Readers`](WaitPoint::Readers) | a revocation (unbind, delete, a failed probe's release, a [`Devres`](crate::Devres) drop); an unbind or power callback about to take the driver's state | the last [`try_access`](crate::revocable::Revocable::try_access) guard on the value to drop; the last [`DriverData::with`](crate::DriverData::with) access of the binding to end | the drop of the last guard of a revoked value; the end of the last access |
//! | [`Revocation`](WaitPoint::Revocation) | the loser of two racing revocations of one value | the winner to finish dropping the value | the end of the winner's drop |
//! | [`Transition`](WaitPoint::Transition) | a delete, a driver unregistration, a power callback, `wait_for_probe` | a probe, unbind or power callback in flight on that device (`wait_for_probe`: a probe, and with `async-probe` a queued asynchronous probe) | the end of every probe, unbind and power callback, and of every asynchronous probe work |
//! | [`Probes`](WaitPoint::Probes) | [`DeviceModel::wait_for_probes`](crate::DeviceModel::wait_for_probes); with `async-probe`, also a driver unregistration | every probe and deferred retry in flight in the model and every queued asynchronous probe (an unregistration: those queued for its driver) | the end of every probe, of every retry loop and of every asynchronous probe work (run or dropped) |
//! | [`Events`](WaitPoint::Events) | a snapshot ([`DeviceModel::subscribe_with_snapshot`](crate::DeviceModel::subscribe_with_snapshot)); a state change with an event while a snapshot is taken | no state change with an event in flight; the end of the snapshot | the end of the last such change while a snapshot waits; the end of the snapshot |
//!
//! Each wait names a [`Channel`] (Unix's "wait channel"): the point and a key, the address
//! of the object waited on (the revocable value for `Readers` and `Revocation`, the model
//! for `Transition` and `Probes`), so a hook can keep one wait queue per key, as Linux's
//! `wait_var_event` / `wake_up_var` do, or ignore the key and use one queue.
//!
//! # The protocol
//!
//! For each round of a wait, the crate calls [`prepare`](WaitHook::prepare), checks its
//! condition, and if it does not hold yet calls [`wait`](WaitHook::wait) with the ticket
//! `prepare` returned. A wake may land between the check and `wait`: a hook that sleeps
//! must then not sleep (an event count does it: `prepare` reads a counter that `wake`
//! bumps, and `wait` sleeps only while the counter still equals the ticket). `wait` may
//! return early or spuriously: the crate checks again.
//!
//! # What a hook may and may not do
//!
//! A hook runs inside the crate's waits and wakes, sometimes with one of the model's
//! locks held by another thread it waits for, and on hot paths (a wake follows every
//! probe). It **must not call back into any driver model** (no add, delete, bind,
//! unbind, register, devres or `Devres` access: the thread it waits for may need the
//! very state it would touch), must not panic, and must not wait for anything but the
//! wake itself. It may yield, sleep, park, take its own locks, and count. `wake` must not
//! block at all. `wake` may be called when nobody waits.

#![forbid(unsafe_code)]

/// Which wait of the crate is waiting or being woken: see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WaitPoint {
    /// A revocation waits for readers in flight.
    Readers,
    /// A losing revocation waits for the winner to finish dropping the value.
    Revocation,
    /// A delete, driver unregistration or power callback waits for a device's probe,
    /// unbind or power callback in flight.
    Transition,
    /// [`DeviceModel::wait_for_probes`](crate::DeviceModel::wait_for_probes) waits for
    /// every probe and deferred retry (and queued asynchronous probes); a driver
    /// unregistration waits for the asynchronous probes queued for that driver.
    Probes,
    /// A snapshot ([`DeviceModel::subscribe_with_snapshot`](crate::DeviceModel::subscribe_with_snapshot))
    /// waits for a moment with no event in flight, or a state change waits for a
    /// snapshot to finish.
    Events,
}

/// What a wait waits on: its point and the address of the object it waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Channel {
    /// The wait point.
    pub point: WaitPoint,
    /// The address of the object waited on (for keyed wait queues; not dereferenceable).
    pub key: usize,
}

impl Channel {
    pub(crate) fn new<T: ?Sized>(point: WaitPoint, object: &T) -> Self {
        Self {
            point,
            key: (object as *const T).cast::<()>().addr(),
        }
    }
}

/// A kernel's way to wait: see the [module docs](self) for the protocol and the rules.
pub trait WaitHook: Sync {
    /// Starts a round of waiting on `channel`: returns a ticket for [`wait`](Self::wait)
    /// (for example, a wake counter). The default returns 0.
    fn prepare(&self, channel: Channel) -> u64 {
        let _ = channel;
        0
    }

    /// Waits on `channel`, whose condition did not hold after [`prepare`](Self::prepare) returned
    /// `ticket`. May return at any time; must return after a [`wake`](Self::wake) of the
    /// channel that came after that `prepare`.
    fn wait(&self, channel: Channel, ticket: u64);

    /// Something that may end waits on `channel` happened.
    fn wake(&self, channel: Channel);
}

static HOOK: spin::Once<&'static dyn WaitHook> = spin::Once::new();

/// Installs the wait hook for the whole program (once, at boot, like a logger). Returns
/// `false`, and leaves the hook in place, if one was installed already.
pub fn set_hook(hook: &'static dyn WaitHook) -> bool {
    let mut installed = false;
    HOOK.call_once(|| {
        installed = true;
        hook
    });
    installed
}

/// Waits until `done` returns `true`, through the hook (spinning without one).
#[inline]
pub(crate) fn wait_until(channel: Channel, mut done: impl FnMut() -> bool) {
    wait_until_dyn(channel, &mut done);
}

/// A wait's condition as a trait object with one entry (a `dyn FnMut` would also carry
/// a by-value `call_once` entry: a second copy of every condition).
trait Condition {
    fn done(&mut self) -> bool;
}

impl<F: FnMut() -> bool> Condition for F {
    fn done(&mut self) -> bool {
        self()
    }
}

/// [`wait_until`], one copy for every wait point (only the condition differs).
fn wait_until_dyn(channel: Channel, condition: &mut dyn Condition) {
    match HOOK.get() {
        None => {
            while !condition.done() {
                core::hint::spin_loop();
            }
        }
        Some(hook) => loop {
            let ticket = hook.prepare(channel);
            if condition.done() {
                return;
            }
            hook.wait(channel, ticket);
        },
    }
}

/// Tells the hook (if any) that waits on `channel` may be over.
pub(crate) fn wake(channel: Channel) {
    if let Some(hook) = HOOK.get() {
        hook.wake(channel);
    }
}
