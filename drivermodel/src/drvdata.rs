//! A bound driver's state from outside its callbacks (Linux `dev_get_drvdata`,
//! Rust-for-Linux `drvdata`): typed, checked, and revoked when the binding ends.
//!
//! The state a driver's [`probe`](crate::Driver::probe) returns lives in the core for as
//! long as the binding lasts. A [`DriverData<T>`] is a handle to the state of **one
//! binding** of one device:
//!
//! - **Typed**: `T` must be the bound driver's [`State`](crate::Driver::State); making a
//!   handle of another type fails with [`Error::WrongType`], naming both types. No
//!   downcast can fail later: the binding, and so the type, never changes under a handle.
//! - **Revocation-aware**: [`with`](DriverData::with) runs a closure on `&T` while the
//!   binding is alive, and fails with [`Error::NotBound`] once it has ended (unbind,
//!   delete, driver unregistration: a later binding of the same device is another
//!   binding, which an old handle never reaches). An access in flight holds the end of the
//!   binding off, as a [`Devres`](crate::Devres) reader does: the unbind waits (through the
//!   [`wait`] hook, [`WaitPoint::Readers`])
//!   before it calls the driver's unbind hook, drops the state or releases devres. So the
//!   closure also receives a [`Device<Bound>`] proof, with which
//!   [`Devres::access`](crate::Devres::access) needs no atomic operation.
//! - **No reference loop**: the handle holds no counted reference, only weak ones, so a
//!   handle kept in a global does not keep the device object (nor the driver state)
//!   alive. Deleting the device releases the object while handles still exist; they then
//!   fail.
//!
//! While a power callback ([`Driver::suspend`](crate::Driver::suspend) and the others)
//! has the state, and while the probe is still running, an access fails with
//! [`Error::Busy`] instead of waiting (a callback that printed through a console handle
//! would otherwise wait for itself).
//!
//! # Rules for the closure
//!
//! Accesses to one binding's state are serialised (the state is `Send`, not `Sync`, so
//! only one thread may look at it at a time): a second access waits for the first. Keep
//! them short, and inside the closure do not access the same state again, nor unbind or
//! delete the device, nor unregister its driver (each of these waits for the closure: a
//! deadlock). In a kernel, an access that an interrupt handler on the same CPU may also
//! make must run with interrupts off, as for any spin lock.
//!
//! # Holding a console in a global
//!
//! A kernel's console (or any subsystem that finds a driver from outside) keeps a
//! `DriverData` of the driver's state, not a counted device reference, a
//! `Devres` or an `Arc` of something that holds one: those keep the device object alive
//! from a global, and nothing tells the global that the binding ended. The handle is made
//! in probe with [`of_binding`](DriverData::of_binding) (accesses fail with `Busy` until
//! the probe returns) or afterwards from any device reference with
//! [`of`](DriverData::of), and replaced when the driver binds again:
//!
//! ```
//! use drivermodel::context::Core;
//! use drivermodel::testing::{self, TestBus, TestId};
//! use drivermodel::{Device, Driver, DriverData, Error, IdEntry};
//!
//! struct Uart { table: [IdEntry<TestId, ()>; 1] }
//! /// The per-device state: what the console needs.
//! struct Port { base: u16 }
//!
//! /// The global console: a handle to the bound UART's state, or none.
//! static CONSOLE: spin::Mutex<Option<DriverData<Port>>> = spin::Mutex::new(None);
//!
//! impl Driver for Uart {
//!     type Bus = TestBus;
//!     type IdInfo = ();
//!     type State = Port;
//!     fn name(&self) -> &str { "uart" }
//!     fn id_table(&self) -> &[IdEntry<TestId, ()>] { &self.table }
//!     fn probe(&self, device: &Device<Core>, _: &()) -> drivermodel::Result<Port> {
//!         // Replaces the handle of an earlier binding, if any.
//!         *CONSOLE.lock() = Some(DriverData::of_binding(device)?);
//!         Ok(Port { base: 0x3f8 })
//!     }
//! }
//!
//! fn console_write(_text: &str) -> Result<u16, Error> {
//!     let console = CONSOLE.lock();
//!     let uart = console.as_ref().ok_or(Error::OutOfMemory)?;
//!     // Short: the unbind waits for this closure.
//!     uart.with(|_device, port| port.base)
//! }
//!
//! let model = testing::model();
//! let driver = model.register_driver(Uart { table: [IdEntry::new(TestId::exact("ns16550"), ())] })?;
//! let com1 = model.add_device(testing::device("com1", "ns16550"))?;
//! assert_eq!(console_write("hello"), Ok(0x3f8));
//! drop(com1); // delete: the binding ends, and the device object goes
//! assert!(matches!(console_write("lost"), Err(Error::NotBound { .. })));
//! assert_eq!(model.counts().devices, 0); // the handle kept nothing alive
//! # drop(driver);
//! # *CONSOLE.lock() = None;
//! # Ok::<(), drivermodel::Error>(())
//! ```
//!
//! A wrong type is an error, not a panic:
//!
//! ```
//! # use drivermodel::{DeviceModel, DriverData, Error, faux};
//! let model = DeviceModel::new();
//! let vkms = faux::Registration::new(&model, "vkms", None)?;
//! // The faux driver's state is `()`.
//! assert!(DriverData::<()>::of(vkms.device()).is_ok());
//! assert!(matches!(DriverData::<u32>::of(vkms.device()), Err(Error::WrongType { .. })));
//! # Ok::<(), drivermodel::Error>(())
//! ```

use alloc::string::String;
use alloc::sync::{Arc, Weak};
use core::any::{Any, TypeId};
use core::fmt;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::context::Bound;
use crate::device::{Binding, Device, DriverHandle, Handle};
use crate::error::{Error, Result};
use crate::wait::{self, Channel, WaitPoint};

/// The driver state may not be read now: the binding is being probed or the state is
/// lent to a callback (set and cleared by the core, which owns the transitions).
const CLOSED: usize = 1 << (usize::BITS - 1);
/// The binding has ended (or its probe failed): for good.
const ENDED: usize = 1 << (usize::BITS - 2);
const READERS: usize = !(CLOSED | ENDED);
/// More simultaneous accesses than this are refused rather than risk overflowing into
/// the flag bits.
const MAX_READERS: usize = READERS >> 1;

/// The gate in front of one binding's driver state: a count of [`DriverData`] accesses
/// in flight and two flags, in one atomic word (the protocol of
/// [`Revocable`](crate::revocable::Revocable), with a gate that can also reopen).
///
/// # Invariants
///
/// - While an access is counted and neither flag was set when it entered, the binding's
///   state is filed in its slot and the binding has not started to end: every core path
///   that takes the state out or ends the binding first sets a flag and waits for the
///   count to reach zero ([`close`](Self::close), [`end`](Self::end)).
/// - `CLOSED` is set and cleared only by the thread that owns the binding's current
///   transition; `ENDED` is never cleared.
pub(crate) struct Gate {
    state: AtomicUsize,
}

/// Why an access could not enter.
enum Shut {
    Closed,
    Ended,
}

impl Gate {
    /// A gate for a binding that is being probed: closed until the state is filed.
    pub(crate) const fn new() -> Self {
        Self {
            state: AtomicUsize::new(CLOSED),
        }
    }

    fn enter(&self) -> core::result::Result<Entered<'_>, Shut> {
        let previous = self.state.fetch_add(1, Ordering::Acquire);
        // Counted from here on: `Entered` takes it out again, whatever happens.
        let entered = Entered { gate: self };
        if previous & ENDED != 0 {
            return Err(Shut::Ended);
        }
        if previous & CLOSED != 0 || previous & READERS >= MAX_READERS {
            return Err(Shut::Closed);
        }
        Ok(entered)
    }

    fn leave(&self) {
        let previous = self.state.fetch_sub(1, Ordering::Release);
        if previous & (CLOSED | ENDED) != 0 && previous & READERS == 1 {
            wait::wake(Channel::new(WaitPoint::Readers, self));
        }
    }

    fn wait_for_readers(&self) {
        wait::wait_until(Channel::new(WaitPoint::Readers, self), || {
            self.state.load(Ordering::Acquire) & READERS == 0
        });
    }

    /// Opens the gate: the state is filed (probe success, or back from a callback).
    /// Called only by the owner of the transition, with the gate closed.
    pub(crate) fn open(&self) {
        // INVARIANT: `CLOSED` is set (the caller closed it, or the gate is new) and only
        // this thread changes it, so subtracting it clears exactly that bit.
        self.state.fetch_sub(CLOSED, Ordering::Release);
    }

    /// Closes the gate and waits until no access is in flight, so the state can be
    /// lent to a callback. Called only by the owner of the transition, with it open.
    #[cfg(feature = "power")]
    pub(crate) fn close(&self) {
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
        self.wait_for_readers();
    }

    /// Ends the binding for every handle and waits until no access is in flight. From
    /// then on the state may be dropped and the binding's devres released.
    pub(crate) fn end(&self) {
        self.state.fetch_or(ENDED, Ordering::AcqRel);
        self.wait_for_readers();
    }
}

/// An access in flight; leaves the gate when dropped (also if the closure panics).
struct Entered<'a> {
    gate: &'a Gate,
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        self.gate.leave();
    }
}

/// A handle to the state of one binding of one device, of type `T` (the bound driver's
/// [`State`](crate::Driver::State)); see the [module docs](self). It holds only weak
/// references: it keeps neither the device object nor the state alive.
pub struct DriverData<T: Any + Send> {
    device: Weak<Device>,
    binding: Weak<Handle>,
    /// For errors once the device is gone.
    name: String,
    /// The handle never owns a `T`, it only lends one out on the accessing thread, so it
    /// is `Send` and `Sync` whatever `T` is (`T: Send` suffices for the state's lock).
    state: PhantomData<fn() -> T>,
}

impl<T: Any + Send> DriverData<T> {
    /// A handle to the state of the binding `device` proves, from inside a driver
    /// callback: in [`probe`](crate::Driver::probe) too, where accesses fail with
    /// [`Error::Busy`] until the probe has returned successfully.
    ///
    /// # Errors
    ///
    /// [`Error::WrongType`] if `T` is not the bound driver's state type,
    /// [`Error::NotBound`] if the binding has ended.
    pub fn of_binding(device: &Device<Bound>) -> Result<Self> {
        let handle = match device.inner().state.lock().binding() {
            Binding::Probing { driver }
            | Binding::Bound { driver }
            | Binding::Calling { driver }
            | Binding::Unbinding { driver } => driver.clone(),
            Binding::Unbound => return Err(not_bound(device.name())),
        };
        Self::for_handle(device, &handle)
    }

    /// A handle to the state of the driver bound to `device` now.
    ///
    /// # Errors
    ///
    /// [`Error::NotBound`] if no driver is bound, [`Error::Busy`] while a probe or an
    /// unbind is running, [`Error::WrongType`] if `T` is not the bound driver's state
    /// type.
    pub fn of(device: &Device) -> Result<Self> {
        let handle = match device.inner().state.lock().binding() {
            Binding::Bound { driver } | Binding::Calling { driver } => driver.clone(),
            Binding::Probing { .. } | Binding::Unbinding { .. } => {
                return Err(Error::busy(device));
            }
            Binding::Unbound => return Err(not_bound(device.name())),
        };
        Self::for_handle(device, &handle)
    }

    fn for_handle(device: &Device, handle: &DriverHandle) -> Result<Self> {
        let (state_type, state_name) = handle.object.state_type();
        if state_type != TypeId::of::<T>() {
            return Err(Error::WrongType {
                device: crate::error::owned(device.name()),
                expected: state_name,
                requested: core::any::type_name::<T>(),
            });
        }
        Ok(Self {
            device: device.inner().weak(),
            binding: Arc::downgrade(handle),
            name: crate::error::owned(device.name()),
            state: PhantomData,
        })
    }

    /// Runs `function` on the driver state and the bound device, unless the binding has
    /// ended. The binding cannot end while `function` runs: its unbind waits.
    ///
    /// # Errors
    ///
    /// [`Error::NotBound`] once the binding has ended (the device may be gone), and
    /// [`Error::Busy`] while the probe is still running or the state is lent to a power
    /// callback; `function` is then not called.
    pub fn with<R>(&self, function: impl FnOnce(&Device<Bound>, &T) -> R) -> Result<R> {
        let ended = || not_bound(&self.name);
        let binding = self.binding.upgrade().ok_or_else(ended)?;
        let device = self.device.upgrade().ok_or_else(ended)?;
        let entered = binding.gate.enter().map_err(|shut| match shut {
            Shut::Ended => ended(),
            Shut::Closed => Error::Busy {
                device: self.name.clone(),
            },
        })?;
        let slot = binding.state.lock();
        let Some(state) = slot.as_deref().and_then(|state| state.downcast_ref::<T>()) else {
            // The type was checked when the handle was made and an open gate means the
            // state is filed, so this is not reached; stay total anyway.
            return Err(ended());
        };
        // SAFETY: the access entered an open gate and stays counted (`entered`) until
        // after the proof is gone: by the gate's invariant the device is bound (`Bound`,
        // or `Unbinding`/`Calling` before the gate was shut) and no unbind can reach its
        // devres release, nor any callback get the state, before `entered` drops. The
        // proof lives only for the call of `function`.
        let result = function(unsafe { device.assume_bound() }, state);
        drop(slot);
        drop(entered);
        // The last counted reference to the device may drop here, with no lock held.
        drop(device);
        Ok(result)
    }

    /// Whether the binding is still alive (it may end right after this returns).
    pub fn is_bound(&self) -> bool {
        self.binding
            .upgrade()
            .is_some_and(|binding| binding.gate.state.load(Ordering::Acquire) & ENDED == 0)
    }
}

fn not_bound(device: &str) -> Error {
    Error::NotBound {
        device: device.into(),
    }
}

impl<T: Any + Send> Clone for DriverData<T> {
    fn clone(&self) -> Self {
        Self {
            device: self.device.clone(),
            binding: self.binding.clone(),
            name: self.name.clone(),
            state: PhantomData,
        }
    }
}

impl<T: Any + Send> fmt::Debug for DriverData<T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("DriverData")
            .field("device", &self.name)
            .field("state", &core::any::type_name::<T>())
            .field("bound", &self.is_bound())
            .finish()
    }
}
