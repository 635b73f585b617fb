//! Device contexts: what a `&Device<Ctx>` proves about the device, and the only casts
//! between them. Together with [`revocable`](crate::revocable) this is where the crate's
//! `unsafe` lives.
//!
//! | Context | Who gets one | Proves |
//! |---|---|---|
//! | [`Normal`] | anyone holding a device or an [`ARef`](crate::ARef) | nothing beyond "the object is alive" |
//! | [`Bound`] | the core, inside driver callbacks; a live [`faux::Registration`](crate::faux::Registration) | the device is bound to a driver for as long as the reference lives |
//! | [`Core`] | the core, as the argument of [`Driver::probe`](crate::Driver::probe) and [`Driver::unbind`](crate::Driver::unbind) | all of `Bound`, and that the caller is the driver's own callback |
//!
//! `Device<Core>` dereferences to `Device<Bound>`, which dereferences to `Device` (that is,
//! `Device<Normal>`), so a callback can use every less-proving API. Only `Device<Normal>`
//! can be counted ([`ARef`](crate::ARef)), so a proof cannot be stored: it is a borrowed
//! reference whose lifetime is the callback's (or the faux registration's) scope, the
//! marker types are uninhabited, and the casts below are crate-private. A driver can
//! neither forge nor keep one.
//!
//! A proof cannot be made from a plain device:
//!
//! ```compile_fail
//! use drivermodel::{Device, context::Bound};
//! fn forge(device: &Device) -> &Device<Bound> {
//!     device.into() // no such conversion exists
//! }
//! ```
//!
//! nor kept beyond the callback that received it (driver state is `'static`):
//!
//! ```compile_fail
//! use drivermodel::{Device, context::Bound};
//! struct State<'a> { device: &'a Device<Bound> }
//! fn keep(device: &Device<Bound>) -> State<'static> {
//!     State { device } // the borrow does not live long enough
//! }
//! ```
//!
//! and counting it only ever yields a plain reference:
//!
//! ```
//! use drivermodel::{ARef, Device, context::Bound};
//! fn count(device: &Device<Bound>) -> ARef<Device> {
//!     ARef::from(device) // `ARef<Device<Bound>>` does not exist
//! }
//! ```

use core::ops::Deref;

use crate::device::Device;

mod sealed {
    pub trait Sealed {}
}

/// A device context marker. Sealed: the three contexts of this module are the only ones.
pub trait Context: sealed::Sealed + Send + Sync + 'static {}

/// The plain context: any reference, no claim about binding.
#[derive(Debug)]
pub enum Normal {}

/// A device handed to a driver callback ([`Driver::probe`](crate::Driver::probe),
/// [`Driver::unbind`](crate::Driver::unbind)); implies [`Bound`].
#[derive(Debug)]
pub enum Core {}

/// A device that is bound to a driver for as long as the reference lives.
#[derive(Debug)]
pub enum Bound {}

impl sealed::Sealed for Normal {}
impl sealed::Sealed for Core {}
impl sealed::Sealed for Bound {}
impl Context for Normal {}
impl Context for Core {}
impl Context for Bound {}

impl Device {
    /// Views the device as bound.
    ///
    /// # Safety
    ///
    /// The caller guarantees that the device is bound to a driver (its binding state is
    /// `Probing` with this probe running, `Bound`, `Calling`, or `Unbinding` before devres
    /// release)
    /// and stays bound for as long as the returned reference lives.
    pub(crate) unsafe fn assume_bound(&self) -> &Device<Bound> {
        // SAFETY: `Device<Ctx>` is `repr(transparent)` over the same inner type for every
        // `Ctx` (the marker is a zero-sized `PhantomData`), so the cast keeps layout and
        // provenance; the caller upholds the meaning of the context.
        unsafe { &*(self as *const Device as *const Device<Bound>) }
    }

    /// Views the device as the argument of a driver callback.
    ///
    /// # Safety
    ///
    /// As for [`assume_bound`](Self::assume_bound), and the reference is only handed to
    /// the bound driver's own callback.
    pub(crate) unsafe fn assume_core(&self) -> &Device<Core> {
        // SAFETY: same layout argument as in `assume_bound`; the caller upholds the
        // meaning of the context.
        unsafe { &*(self as *const Device as *const Device<Core>) }
    }
}

impl Deref for Device<Core> {
    type Target = Device<Bound>;

    fn deref(&self) -> &Device<Bound> {
        // SAFETY: same layout as above; `Core` implies `Bound`, so forgetting the
        // callback part of the proof is always allowed.
        unsafe { &*(self as *const Device<Core> as *const Device<Bound>) }
    }
}

impl Deref for Device<Bound> {
    type Target = Device;

    fn deref(&self) -> &Device {
        // SAFETY: same layout as above; `Normal` claims nothing.
        unsafe { &*(self as *const Device<Bound> as *const Device) }
    }
}
