//! Locks, and the rules for taking them with interrupts on several CPUs.
//!
//! The kernel has no scheduler: code runs on a CPU until it returns, interrupted only by
//! interrupt handlers on that CPU. Its locks are spin locks, and the rules below keep
//! them free of deadlocks.
//!
//! 1. **A lock that an interrupt handler takes is an interrupt-safe lock: [`SpinLock`].**
//!    It disables interrupts on the local CPU while held, everywhere it is taken;
//!    otherwise a handler interrupting the holder on the same CPU would spin on it for
//!    ever. Such locks are the heap's, the early console's, the interrupt lines' handler
//!    tables, the claims table, the console's sink list and input ring, and the work
//!    queues ([`crate::work`]); the older ones take a `spin::Mutex` inside
//!    `arch::without_interrupts`, which is the same thing spelled out.
//! 2. **Any other lock is a plain `spin::Mutex`, held with interrupts on** (the driver
//!    model's and the display subsystem's locks, the call-function IPI's caller lock): a
//!    long hold then delays no interrupt. No interrupt handler may take one.
//! 3. **Nothing waits for another CPU while holding a lock or with interrupts
//!    disabled**: `arch::cpu::call_on` refuses to run with interrupts off, because the
//!    CPU it waits for may itself be waiting, interrupts off, for this one. Work queued
//!    on another CPU ([`crate::work`]) is waited for with interrupts on.
//! 4. **NMI handlers take no lock at all**: an NMI arrives even with interrupts off, in
//!    the middle of any critical section. They report through the lock-free
//!    `arch::serial::emergency_write`.
//!
//! Output from several CPUs: [`crate::console::write_fmt`] writes each call's text
//! whole, under a console-wide writer lock that a CPU re-enters freely (an interrupt
//! handler printing in the middle of its own CPU's line does not deadlock; it
//! interleaves, as on one CPU); another CPU waits, interrupts on, for the line to end.
//! A panic or fault report bypasses every lock (`emergency_write`); then the exit stops
//! every other CPU (`arch::cpu::stop_others`: an NMI on x86_64, an IPI on riscv64)
//! before QEMU is left, wherever the panic happened (see `panic.rs`). A CPU that waits for a lock held by a stopped CPU
//! waits for ever, which is why nothing on the exit path takes one.

use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

use crate::arch;

/// A spin lock that disables interrupts on the local CPU while held (rule 1 of the
/// module docs): safe to take in interrupt handlers and in the code they interrupt.
#[derive(Debug, Default)]
pub struct SpinLock<T> {
    inner: spin::Mutex<T>,
}

impl<T> SpinLock<T> {
    /// A lock holding `value`.
    pub const fn new(value: T) -> Self {
        Self {
            inner: spin::Mutex::new(value),
        }
    }

    /// Disables interrupts, then spins until the lock is free. Interrupts come back (if
    /// they were on) when the guard is dropped, after the lock is released.
    pub fn lock(&self) -> SpinLockGuard<'_, T> {
        let interrupts_were_enabled = arch::interrupts_enabled();
        arch::disable_interrupts();
        SpinLockGuard {
            guard: Some(self.inner.lock()),
            interrupts_were_enabled,
            _not_send: PhantomData,
        }
    }

    /// Takes the lock if it is free (interrupts disabled while held, as [`Self::lock`]).
    pub fn try_lock(&self) -> Option<SpinLockGuard<'_, T>> {
        let interrupts_were_enabled = arch::interrupts_enabled();
        arch::disable_interrupts();
        match self.inner.try_lock() {
            Some(guard) => Some(SpinLockGuard {
                guard: Some(guard),
                interrupts_were_enabled,
                _not_send: PhantomData,
            }),
            None => {
                if interrupts_were_enabled {
                    arch::enable_interrupts();
                }
                None
            }
        }
    }
}

/// A held [`SpinLock`]; dropping it releases the lock, then restores interrupts.
///
/// Not `Send`: the interrupt state it restores is its CPU's.
#[derive(Debug)]
pub struct SpinLockGuard<'a, T> {
    /// `Some` until dropped.
    guard: Option<spin::MutexGuard<'a, T>>,
    interrupts_were_enabled: bool,
    _not_send: PhantomData<*const ()>,
}

impl<T> Deref for SpinLockGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.guard.as_deref().expect("held until dropped")
    }
}

impl<T> DerefMut for SpinLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_deref_mut().expect("held until dropped")
    }
}

impl<T> Drop for SpinLockGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.guard.take());
        if self.interrupts_were_enabled {
            arch::enable_interrupts();
        }
    }
}
