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
//! - [`drvdata`] — a bound driver's state from outside its callbacks, typed and revoked
//!   with the binding ([`DriverData<T>`]);
//! - [`context`] — what a `&Device<Bound>` proves and why nobody can forge one;
//! - [`model`] — the instance, its lock order and its live-object counters;
//! - [`faux`] — always-bound virtual devices;
//! - [`link`] — supplier/consumer links;
//! - [`power`] — suspend, resume and shutdown in dependency order;
//! - [`event`] — the event stream;
//! - [`tree`] — unique device paths and a sysfs-like text view;
//! - [`wait`] — the one hook through which every wait of the crate goes;
//! - `async_probe` (feature `async-probe`) — probes run on the kernel's executor;
//! - `testing` (feature `testing`) — a host test kit: test bus, leak assertions, fault
//!   injection;
//! - [`property`] — typed device properties in one buffer per device;
//!   [`resource`] — MMIO and port ranges, interrupts naming their controller;
//! - `devicetree` (feature `devicetree`) — devices populated from a flattened
//!   devicetree.
//!
//! # Layout
//!
//! The facade, [`DeviceModel`], lives in [`model`]: its public entry points read top to
//! bottom and hand over to the file named after what they do. Feature modules ([`link`],
//! [`power`], [`tree`]) add their own entry points to `DeviceModel` in their own files,
//! so that each can be left out as a whole. Behind the facade:
//!
//! - `registry` — the registry core: what the registry lock guards (buses, drivers,
//!   devices, names, links) and the state shared by every handle to one model;
//! - one file per lifetime of a device: [`device`] (the object), `registration` (add and
//!   delete, children first) and [`binding`] (match, probe, unbind, deferred probe);
//! - [`driver`] — the driver trait and the driver registration flows; `driver_table` —
//!   the slab of registered drivers;
//! - `hash_table` — the one hash table, used by the match index ([`bus`]) and the
//!   device-name index (`name_index`); `key_map` — the sorted vectors that replace
//!   `BTreeMap` (registry devices, deferred set, links); `capacity` — vector sizes that
//!   return the heap; `sort` — the one small sort;
//! - `counters` — the live-object counters behind [`Counts`];
//! - `fault` — the fault points of the `testing` kit (compiled out without the feature).
//!
//! # Three `Registration`s
//!
//! Three handles end something when dropped, and each module calls its own
//! `Registration`; the root re-exports them under distinct names:
//!
//! | Type | Root name | Made by | Dropping it |
//! |---|---|---|---|
//! | [`device::Registration`] | [`DeviceRegistration`] | [`DeviceModel::add_device`] | deletes the device |
//! | [`driver::Registration<D>`] | [`DriverRegistration<D>`] | [`DeviceModel::register_driver`] | unregisters the driver, unbinding its devices |
//! | [`faux::Registration`] | [`FauxRegistration`] | [`faux::Registration::new`] | deletes the always-bound virtual device |
//!
//! # Back edges into the core
//!
//! Calls go from the facade inwards, except for these RAII handles and drops, which
//! call back into the model when they end:
//!
//! - dropping a [`device::Registration`] deletes the device (`registration`);
//! - dropping a [`driver::Registration`] unregisters the driver ([`driver`]);
//! - dropping a [`faux::Registration`] does both, through the two above;
//! - dropping a [`Devres`] revokes its value and unlinks its node from the device's
//!   devres list ([`devres`]);
//! - dropping an [`event::Subscription`] unsubscribes ([`event`]);
//! - the last [`ARef<Device>`] put runs the device's final devres pass and release hook
//!   ([`device`]).
//!
//! `unsafe` is implemented only in [`revocable`] (the reader/revoker protocol) and
//! [`context`] (casts between device contexts). Their unsafe functions are called at a
//! few documented places: the probe, unbind and power callbacks ([`binding`]), the faux proof
//! ([`faux::Registration::device`]), [`Devres::access`] and the bound proof a
//! [`DriverData::with`] access hands its closure ([`drvdata`]). Every other module carries
//! `#![forbid(unsafe_code)]`.
#![cfg_attr(not(test), no_std)]
// The docs are written for the whole crate: they link to the parts that features leave
// out (`link`, `power`, the event stream, ...). Built without one of those, such a link
// has nothing to point to and renders as plain text; the full build (default features,
// and CI's `--all-features`) still denies every broken link.
#![cfg_attr(
    not(all(
        feature = "links",
        feature = "power",
        feature = "events",
        feature = "tree",
        feature = "debug-reprobe"
    )),
    allow(
        rustdoc::broken_intra_doc_links,
        reason = "links to parts the enabled features leave out"
    )
)]

extern crate alloc;

#[cfg(feature = "async-probe")]
pub mod async_probe;
pub mod binding;
pub mod bus;
mod capacity;
pub mod context;
mod counters;
pub mod device;
#[cfg(feature = "devicetree")]
pub mod devicetree;
pub mod devres;
pub mod driver;
mod driver_names;
mod driver_table;
pub mod drvdata;
pub mod error;
pub mod event;
mod fault;
pub mod faux;
mod hash_table;
mod key_map;
#[cfg(feature = "links")]
pub mod link;
pub mod model;
mod name_index;
#[cfg(feature = "power")]
pub mod power;
pub mod property;
mod registration;
mod registry;
pub mod resource;
pub mod revocable;
mod sort;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tree;
pub mod wait;

/// The README's example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

// The types most drivers and kernels name, at the root. The crate has three handles
// called `Registration`, one per module; the root names each after what it registers.
pub use bus::{Bus, IdEntry, KeySet, Match, MatchKey};
pub use context::{Bound, Core, Normal};
pub use device::{ARef, BindingState, Device, DeviceBuilder, Registration as DeviceRegistration};
pub use devres::Devres;
pub use driver::{Driver, Registration as DriverRegistration};
pub use drvdata::DriverData;
pub use error::{Error, Result};
pub use event::EventKind;
#[cfg(feature = "events")]
pub use event::{Event, Subscription};
pub use faux::Registration as FauxRegistration;
#[cfg(feature = "links")]
pub use link::{Link, LinkFlags, LinkId};
pub use model::{Counts, DeviceModel};
pub use resource::{Interrupt, IoPortRange, Irq, MmioRange, Resource};
