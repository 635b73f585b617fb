//! The operations of the model test and what an operation can return.
//!
//! Operations name devices by slot (`0..SLOTS`) and drivers by index (`0..DRIVERS`). An
//! operation whose target does not exist (an empty slot, a slot without a handle to its
//! device, a driver that is not registered for `Unregister`, no groups yet) is
//! [`Observed::Skipped`] by both sides, so every random sequence is valid.

use drivermodel::Error;
use drivermodel::link::LinkFlags;

use super::fixture::Plan;

/// What a devres add puts on the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `add_action` (generated key).
    Action,
    /// `add_action_or_reset` (generated key); runs at once if the list is full.
    ActionOrReset,
    /// `alloc` of a [`Tracked`](super::fixture::Tracked) (generated key).
    Alloc,
    /// `add_action` whose closure owns a counted reference to its own device: the
    /// reference loop that delete must break.
    SelfRef,
    /// `add_action_keyed` / `alloc_keyed` under the shared key `tag`.
    Keyed { tag: u8, alloc: bool },
}

/// Which node a by-identity operation targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The `index`-th (modulo) generated key this device handed out.
    Generated(u8),
    /// The newest node under the shared key `tag`.
    Tag(u8),
}

/// How a by-identity operation takes the node out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// `release`: run / drop it now.
    Release,
    /// `destroy`: drop it without running the action (a value is still dropped).
    Destroy,
    /// `remove`: hand it back; the test then drops the value or releases the action.
    Remove,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Add device `d<slot>` (if the slot's previous device has no registration left, the
    /// test first drops its `Devres` handle and held reference and forgets it).
    Add {
        slot: u8,
        compat: u8,
        parent: Option<u8>,
        plan: Plan,
    },
    /// `Registration::delete` of the slot's device.
    Delete {
        slot: u8,
    },
    /// Keep an extra counted reference (`ARef`) to the slot's device.
    Hold {
        slot: u8,
    },
    /// Drop that reference.
    DropHold {
        slot: u8,
    },
    Register {
        driver: u8,
    },
    /// Drop the driver's registration.
    Unregister {
        driver: u8,
    },
    Bind {
        slot: u8,
    },
    BindDriver {
        slot: u8,
        driver: u8,
    },
    Unbind {
        slot: u8,
    },
    AddResource {
        slot: u8,
        kind: Kind,
    },
    OpenGroup {
        slot: u8,
    },
    /// `close_group(None)` or `close_group(Some(the group-th opened group))`.
    CloseGroup {
        slot: u8,
        group: Option<u8>,
    },
    ReleaseGroup {
        slot: u8,
        group: u8,
    },
    RemoveGroup {
        slot: u8,
        group: u8,
    },
    Take {
        slot: u8,
        target: Target,
        how: How,
    },
    /// `try_access` on the device's `Devres<Tracked>` handle.
    TryAccess {
        slot: u8,
    },
    /// Drop the device's `Devres<Tracked>` handle.
    DropDevres {
        slot: u8,
    },
    /// `DeviceModel::retry_deferred`.
    RetryDeferred,
    /// `set_driver_override` to driver `m<driver>`, or clear it.
    SetOverride {
        slot: u8,
        driver: Option<u8>,
    },
    /// `add_link(consumer, supplier, LINK_FLAGS[flags])`.
    AddLink {
        consumer: u8,
        supplier: u8,
        flags: u8,
    },
    /// `remove_link` of the `link`-th (modulo) link added so far (perhaps gone).
    RemoveLink {
        link: u8,
    },
    SuspendAll,
    ResumeAll,
    ShutdownAll,
    /// `set_debug_reprobe(on)`.
    SetDebugReprobe {
        on: bool,
    },
}

/// The flag sets `AddLink` picks from: every combination the crate accepts, and one it
/// refuses (`STATELESS` with another flag).
pub const LINK_FLAGS: [LinkFlags; 7] = [
    LinkFlags::empty(),
    LinkFlags::STATELESS,
    LinkFlags::AUTOREMOVE_CONSUMER,
    LinkFlags::AUTOREMOVE_SUPPLIER,
    LinkFlags::AUTOREMOVE_CONSUMER.union(LinkFlags::AUTOREMOVE_SUPPLIER),
    LinkFlags::AUTOPROBE_CONSUMER,
    LinkFlags::STATELESS.union(LinkFlags::AUTOPROBE_CONSUMER),
];

/// The result of one operation, compared between the real model and the reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    Skipped,
    Ok,
    /// `release_group`'s count.
    Count(usize),
    /// `try_access`: the value's id, or `None` when revoked.
    Access(Option<u32>),
    /// The error variant's name.
    Err(&'static str),
}

/// The variant name of an error.
pub fn error_name(error: &Error) -> &'static str {
    match error {
        Error::DriverExists { .. } => "DriverExists",
        Error::DriverNotRegistered { .. } => "DriverNotRegistered",
        Error::NameTaken { .. } => "NameTaken",
        Error::DeviceDeleted { .. } => "DeviceDeleted",
        Error::ParentDeleted { .. } => "ParentDeleted",
        Error::HasChildren { .. } => "HasChildren",
        Error::NotBound { .. } => "NotBound",
        Error::AlreadyBound { .. } => "AlreadyBound",
        Error::Busy { .. } => "Busy",
        Error::NoMatch { .. } => "NoMatch",
        Error::ResourcesPresent { .. } => "ResourcesPresent",
        Error::Driver { .. } => "Driver",
        Error::DevresNotFound { .. } => "DevresNotFound",
        Error::GroupNotFound { .. } => "GroupNotFound",
        Error::DevresFull { .. } => "DevresFull",
        Error::Deferred { .. } => "Deferred",
        Error::NoDevice { .. } => "NoDevice",
        Error::InvalidLink { .. } => "InvalidLink",
        Error::PowerFailed { .. } => "PowerFailed",
        _ => "unexpected error",
    }
}
