//! The revocation core: a value that someone else can take away, with readers that are
//! waited for. This module and [`context`](crate::context) are the only places that use
//! `unsafe`.
//!
//! There is no RCU in a `no_std` crate, so the reader/revoker protocol is one atomic word:
//! the top bit says "revoked", the next one "dropped", the other bits count readers in
//! flight.
//!
//! - A reader ([`Revocable::try_access`]) increments the count, then looks at the bit. If it
//!   is set, the reader backs out and gets `None`; otherwise it holds a guard and the count
//!   stays up until the guard drops.
//! - The revoker ([`Revocable::revoke`]) sets the bit, then waits (through the
//!   [`wait`] hook: spinning by default) until the count is zero, then drops
//!   the value in place and sets the "dropped" bit. The last reader of a revoked value
//!   wakes it.
//! - A second revoker (two threads race: a [`Devres`](crate::Devres) dropped while its
//!   binding ends) waits until the "dropped" bit is set. So **every `revoke` returns only
//!   once the value is gone**, whichever call won: that is what lets an unbind return only
//!   after every `Devres` of the binding is fully dropped. Consequently a value's `Drop`
//!   must not end the binding that owns it (that revocation would wait for itself).
//!
//! Both sides modify the same atomic, so every reader increment is ordered either before
//! the revoke (and waited for) or after it (and sees the bit). **Readers must be short**:
//! a revoker spins while any guard is alive, and a thread that revokes while it holds a
//! guard itself spins forever.

use core::cell::UnsafeCell;
use core::fmt;
use core::mem::ManuallyDrop;
use core::ops::Deref;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::wait::{self, Channel, WaitPoint};

const REVOKED: usize = 1 << (usize::BITS - 1);
/// Set by the winning revoker once the value is dropped.
const DROPPED: usize = 1 << (usize::BITS - 2);
const READERS: usize = !(REVOKED | DROPPED);
/// More simultaneous readers than this are refused rather than risk overflowing into the
/// revoked bit.
const MAX_READERS: usize = READERS >> 1;

/// A value that can be revoked (dropped) while shared, with checked access.
///
/// # Invariants
///
/// - While the `REVOKED` bit of `state` is clear, `data` holds a live `T`.
/// - Once the bit is set it is never cleared; `data` is dropped exactly once, by the call
///   to [`revoke`](Self::revoke) that set the bit, after the reader count reached zero.
/// - `DROPPED` is set only after that drop has returned (never while `REVOKED` is clear).
/// - The reader count is the number of live [`RevocableGuard`]s plus readers that are
///   between their increment and their back-out.
pub struct Revocable<T> {
    state: AtomicUsize,
    data: UnsafeCell<ManuallyDrop<T>>,
}

// SAFETY: a `Revocable<T>` owns a `T` and may drop it on whichever thread revokes, so it
// may move between threads when `T: Send`.
unsafe impl<T: Send> Send for Revocable<T> {}

// SAFETY: shared access hands out `&T` to many threads at once (needs `T: Sync`) and any
// thread holding `&Revocable<T>` may revoke, which drops the `T` there (needs `T: Send`).
// All mutation of `state` is atomic and `data` is only dropped with no readers left.
unsafe impl<T: Send + Sync> Sync for Revocable<T> {}

impl<T> Revocable<T> {
    /// A live (not revoked) value.
    pub const fn new(value: T) -> Self {
        // INVARIANT: the bit is clear and `data` holds `value`.
        Self {
            state: AtomicUsize::new(0),
            data: UnsafeCell::new(ManuallyDrop::new(value)),
        }
    }

    /// Shared access, or `None` once revoked. Revocation waits while the guard lives, so
    /// keep it short and do not call into the driver model while holding it.
    pub fn try_access(&self) -> Option<RevocableGuard<'_, T>> {
        let previous = self.state.fetch_add(1, Ordering::Acquire);
        if previous & REVOKED != 0 || previous & READERS >= MAX_READERS {
            self.leave();
            return None;
        }
        // INVARIANT: the count includes this reader until the guard drops.
        Some(RevocableGuard { revocable: self })
    }

    /// Runs `function` on the value unless it is revoked.
    pub fn try_access_with<R>(&self, function: impl FnOnce(&T) -> R) -> Option<R> {
        self.try_access().map(|guard| function(&guard))
    }

    /// Whether the value has been revoked (or its revocation has started).
    pub fn is_revoked(&self) -> bool {
        self.state.load(Ordering::Acquire) & REVOKED != 0
    }

    /// Revokes the value: later [`try_access`](Self::try_access) calls fail, readers in
    /// flight are waited for (through the [`wait`] hook), then the value is
    /// dropped.
    ///
    /// Returns `true` if this call revoked it, `false` if it was already revoked. Either
    /// way the value has been dropped when this returns: when two threads race, the loser
    /// waits (through the [`wait`] hook) until the winner has finished
    /// dropping it.
    pub fn revoke(&self) -> bool {
        let previous = self.state.fetch_or(REVOKED, Ordering::AcqRel);
        if previous & REVOKED != 0 {
            wait::wait_until(Channel::new(WaitPoint::Revocation, self), || {
                self.state.load(Ordering::Acquire) & DROPPED != 0
            });
            return false;
        }
        wait::wait_until(Channel::new(WaitPoint::Readers, self), || {
            self.state.load(Ordering::Acquire) & READERS == 0
        });
        // SAFETY: this call set the bit, so by the type invariant the value is still live
        // and no other call will drop it; the count is zero, and every later reader sees
        // the bit and backs out without touching `data`. The acquire load above orders
        // every former reader's accesses before this drop.
        unsafe { ManuallyDrop::drop(&mut *self.data.get()) };
        // INVARIANT: the drop has returned. Release: a losing revoker that sees the bit
        // sees everything the drop did.
        self.state.fetch_or(DROPPED, Ordering::Release);
        wait::wake(Channel::new(WaitPoint::Revocation, self));
        true
    }

    /// Takes one reader out of the count, waking the revoker if it was the last one of
    /// a revoked value.
    fn leave(&self) {
        let previous = self.state.fetch_sub(1, Ordering::Release);
        if previous & REVOKED != 0 && previous & READERS == 1 {
            wait::wake(Channel::new(WaitPoint::Readers, self));
        }
    }

    /// Access without any check.
    ///
    /// # Safety
    ///
    /// The caller guarantees that the value is not revoked now and that no revocation
    /// starts while the returned reference lives.
    pub unsafe fn access_unchecked(&self) -> &T {
        // SAFETY: by the caller's contract the value is live and stays live for the
        // lifetime of the returned reference; only shared references are handed out.
        unsafe { &*self.data.get() }
    }
}

impl<T> Drop for Revocable<T> {
    fn drop(&mut self) {
        if *self.state.get_mut() & REVOKED == 0 {
            // SAFETY: not revoked, so the value is live (type invariant), and `&mut self`
            // means no reader or revoker exists any more.
            unsafe { ManuallyDrop::drop(self.data.get_mut()) };
        }
    }
}

impl<T> fmt::Debug for Revocable<T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.load(Ordering::Relaxed);
        formatter
            .debug_struct("Revocable")
            .field("revoked", &(state & REVOKED != 0))
            .field("readers", &(state & READERS))
            .finish_non_exhaustive()
    }
}

/// Proof of a reader in flight: the value cannot be dropped while this lives.
///
/// # Invariants
///
/// The reader count of `revocable` includes this guard, and the value was not revoked
/// when the guard was made.
pub struct RevocableGuard<'a, T> {
    revocable: &'a Revocable<T>,
}

impl<T> Deref for RevocableGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: by the guard's invariant the value was live when the guard was made
        // and revocation waits for this guard's count before dropping it.
        unsafe { &*self.revocable.data.get() }
    }
}

impl<T> Drop for RevocableGuard<'_, T> {
    fn drop(&mut self) {
        self.revocable.leave();
    }
}

impl<T: fmt::Debug> fmt::Debug for RevocableGuard<'_, T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, formatter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::sync::Arc;
    use core::sync::atomic::AtomicBool;

    struct Flagged(Arc<AtomicBool>);

    impl Drop for Flagged {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn access_until_revoked() {
        let dropped = Arc::new(AtomicBool::new(false));
        let revocable = Revocable::new(Flagged(dropped.clone()));
        assert!(revocable.try_access().is_some());
        assert!(revocable.revoke());
        assert!(dropped.load(Ordering::SeqCst));
        assert!(revocable.try_access().is_none());
        assert!(!revocable.revoke(), "second revoke is a no-op");
        assert!(revocable.is_revoked());
    }

    #[test]
    fn drop_without_revoke_drops_value_once() {
        let dropped = Arc::new(AtomicBool::new(false));
        drop(Revocable::new(Flagged(dropped.clone())));
        assert!(dropped.load(Ordering::SeqCst));
    }

    #[test]
    fn revoke_waits_for_reader_in_flight() {
        let dropped = Arc::new(AtomicBool::new(false));
        let revocable = Arc::new(Revocable::new(Flagged(dropped.clone())));
        let reader_inside = Arc::new(AtomicBool::new(false));
        let release_reader = Arc::new(AtomicBool::new(false));
        let reader = {
            let revocable = revocable.clone();
            let reader_inside = reader_inside.clone();
            let release_reader = release_reader.clone();
            std::thread::spawn(move || {
                let guard = revocable.try_access().expect("not yet revoked");
                reader_inside.store(true, Ordering::SeqCst);
                while !release_reader.load(Ordering::SeqCst) {
                    std::thread::yield_now();
                }
                // The value must still be alive while we hold the guard.
                assert!(!guard.0.load(Ordering::SeqCst));
                drop(guard);
            })
        };
        while !reader_inside.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let revoker = {
            let revocable = revocable.clone();
            std::thread::spawn(move || revocable.revoke())
        };
        // The revoker has set the bit (new readers fail) but cannot finish.
        while !revocable.is_revoked() {
            std::thread::yield_now();
        }
        assert!(revocable.try_access().is_none());
        assert!(!dropped.load(Ordering::SeqCst), "dropped under a reader");
        release_reader.store(true, Ordering::SeqCst);
        reader.join().unwrap();
        assert!(revoker.join().unwrap());
        assert!(dropped.load(Ordering::SeqCst));
    }
}
