//! A `no_std` driver model: buses, devices, drivers, binding, and device-managed
//! resources whose access is revoked when the binding ends.
//!
//! The crate follows the Linux driver core's semantics where they are sound and lets the
//! type system carry the rest:
//!
//! - [`device`] — the three lifetimes of a device (object, registration, binding) and
//!   the children-first rule;
//! - [`binding`] — matching, the probe flow and the unbind flow;
//! - [`devres`] — release ordering, groups, and [`Devres<T>`];
//! - [`context`] — what a `&Device<Bound>` proves and why nobody can forge one;
//! - [`model`] — the instance, its lock order and its live-object counters;
//! - [`faux`] — always-bound virtual devices;
//! - [`link`] — supplier/consumer links;
//! - [`power`] — suspend, resume and shutdown in dependency order;
//! - [`event`] — the event stream;
//! - [`tree`] — a sysfs-like text view.
//!
//! `unsafe` is implemented only in [`revocable`] (the reader/revoker protocol) and
//! [`context`] (casts between device contexts). Their unsafe functions are called at a
//! few documented places: the probe, unbind and power callbacks ([`binding`]), the faux proof
//! ([`faux::Registration::device`]) and [`Devres::access`]. Every other module carries
//! `#![forbid(unsafe_code)]`.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod binding;
pub mod bus;
pub mod context;
pub mod device;
pub mod devres;
pub mod driver;
pub mod error;
pub mod event;
pub mod faux;
pub mod link;
pub mod model;
pub mod power;
pub mod property;
pub mod resource;
pub mod revocable;
pub mod tree;

/// The README's example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use bus::{Bus, IdEntry, KeySet, Match, MatchKey};
pub use device::{ARef, Device, DeviceBuilder};
pub use devres::Devres;
pub use driver::Driver;
pub use error::{Error, Result};
pub use model::{Counts, DeviceModel};
