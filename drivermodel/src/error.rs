//! The crate's one error type and its `Result` alias.
//!
//! Every misuse of the model (registering twice, binding a deleted device, unbinding an
//! unbound one, manual bind on a bus that forbids it, ...) is reported as an [`Error`]
//! value, never as a panic. Drivers use the same type for their own failures:
//! [`Error::driver`] for a plain failure and [`Error::defer`] for "not yet".

#![forbid(unsafe_code)]

use alloc::string::String;
use core::fmt;

use crate::resource::Resource;

/// An owned copy of a device's or driver's name for an error's field. Out of line and
/// cold: every error path of the crate names its device or driver (about 35 places), and
/// each inlined copy of the allocation and copy cost the size of a call many times over.
#[cold]
#[inline(never)]
pub(crate) fn owned(name: &str) -> String {
    String::from(name)
}

/// The result type of every fallible operation in this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Why an operation of the driver model failed.
///
/// Device and driver names in the fields are the names given at registration time.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A bus with this name or type is already registered.
    BusExists {
        /// The bus name.
        bus: String,
    },
    /// No bus with this name (or of the driver's bus type) is registered.
    UnknownBus {
        /// The bus name, or the bus type name for drivers.
        bus: String,
    },
    /// A driver with this name is already registered on this bus.
    DriverExists {
        /// The bus name.
        bus: String,
        /// The driver name.
        driver: String,
    },
    /// The driver is not (or no longer) registered.
    DriverNotRegistered {
        /// The driver name.
        driver: String,
    },
    /// A device with this name already exists in this namespace (its bus, or the set
    /// of bus-less devices).
    NameTaken {
        /// The bus name, or `None` for bus-less devices.
        bus: Option<String>,
        /// The device name.
        name: String,
    },
    /// Another registered device has the path this device would get: a sibling of the
    /// same name on another bus, for example (see [`tree`](crate::tree#paths)).
    PathTaken {
        /// The path, as [`Device::path`](crate::Device::path) would write it.
        path: String,
    },
    /// A device name must not be empty nor contain `/`.
    InvalidName {
        /// The rejected name.
        name: String,
    },
    /// The device belongs to another [`DeviceModel`](crate::DeviceModel).
    ForeignDevice {
        /// The device name.
        device: String,
    },
    /// The device was deleted (or its deletion has started: a dead device, delete-pending
    /// included, is never probed).
    DeviceDeleted {
        /// The device name.
        device: String,
    },
    /// The parent is deleted or waiting for its children to go, so it accepts no new
    /// children.
    ParentDeleted {
        /// The parent's name.
        parent: String,
    },
    /// The device still has registered children after its delete unbound it. It stays
    /// registered, delete-pending (dead, unbound, devres released), and its deletion
    /// completes automatically when the last child is deleted.
    HasChildren {
        /// The device name.
        device: String,
        /// How many registered children it has.
        children: usize,
    },
    /// The device is not bound to a driver (or not to the driver named in the request).
    NotBound {
        /// The device name.
        device: String,
    },
    /// The device is already bound.
    AlreadyBound {
        /// The device name.
        device: String,
        /// The driver it is bound to.
        driver: String,
    },
    /// A probe or an unbind of this device is in progress on another path.
    Busy {
        /// The device name.
        device: String,
    },
    /// No registered driver matches the device (or the named driver does not).
    NoMatch {
        /// The device name.
        device: String,
    },
    /// The driver refuses manual bind and unbind (the faux driver does).
    ManualBindRefused {
        /// The driver name.
        driver: String,
    },
    /// The device has device-managed resources before probing: probe refused.
    ResourcesPresent {
        /// The device name.
        device: String,
        /// How many devres nodes were present.
        count: usize,
    },
    /// A probe (or a match) answered "not yet".
    Deferred {
        /// Why, in the driver's words.
        reason: String,
    },
    /// A probe's answer "this device is not mine" (Linux `-ENODEV` / `-ENXIO`): the
    /// core tries the next matching driver, in score order. Made with
    /// [`Error::no_device`].
    NoDevice {
        /// Why, in the driver's words.
        reason: String,
    },
    /// A driver's own failure, returned by its probe.
    Driver {
        /// The driver's message.
        message: String,
    },
    /// A [`DriverData`](crate::DriverData) of another type than the bound driver's
    /// state was asked for.
    WrongType {
        /// The device name.
        device: String,
        /// The bound driver's state type.
        expected: &'static str,
        /// The type asked for.
        requested: &'static str,
    },
    /// No devres node matches the key.
    DevresNotFound {
        /// The device name.
        device: String,
    },
    /// No open devres group (or no group with this id) exists on the device.
    GroupNotFound {
        /// The device name.
        device: String,
    },
    /// The device's devres list is at its configured capacity.
    DevresFull {
        /// The device name.
        device: String,
        /// The capacity set with
        /// [`DeviceBuilder::devres_capacity`](crate::DeviceBuilder::devres_capacity).
        capacity: usize,
    },
    /// An allocation failed.
    OutOfMemory,
    /// A [`Devres`](crate::Devres) was accessed with a proof of another device or of an
    /// earlier binding.
    WrongDevice {
        /// The device the proof is for.
        device: String,
    },
    /// A device link was refused (or does not exist).
    InvalidLink {
        /// Why.
        reason: &'static str,
    },
    /// A power-management callback failed.
    PowerFailed {
        /// The device whose driver failed.
        device: String,
        /// `"suspend"` or `"resume"`.
        operation: &'static str,
        /// The driver's error.
        cause: alloc::boxed::Box<Error>,
    },
    /// A hardware resource (an I/O port range, an MMIO range, an interrupt line) is
    /// already claimed by someone else, for example when two drivers want the same ports.
    /// Returned by the claim code of the kernel using this crate, so that a refused
    /// probe says who holds what.
    ResourceBusy {
        /// What was asked for.
        resource: Resource,
        /// Who holds it (or an overlapping part of it), in the claimer's words, for
        /// example `"uart16550 uart16550.0"`.
        owner: String,
    },
    /// A devicetree blob or node is malformed, or cannot be populated (see
    /// `devicetree`, behind the feature of that name).
    Devicetree {
        /// The node's full path (`/` for problems of the blob as a whole).
        node: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// A property read failed (see [`property`](crate::property)).
    Property {
        /// The property name.
        property: String,
        /// What is wrong.
        problem: crate::property::PropertyError,
    },
    /// A resource description is invalid (empty or wrapping range).
    InvalidResource {
        /// What is wrong.
        reason: &'static str,
    },
}

impl Error {
    /// A driver failure with a message, for use in [`Driver::probe`](crate::Driver::probe).
    pub fn driver(message: impl Into<String>) -> Self {
        Self::Driver {
            message: message.into(),
        }
    }

    /// A resource conflict: `resource` is held by `owner`.
    pub fn resource_busy(resource: Resource, owner: impl Into<String>) -> Self {
        Self::ResourceBusy {
            resource,
            owner: owner.into(),
        }
    }

    /// A "not my device" answer with a reason, for use in
    /// [`Driver::probe`](crate::Driver::probe): the core falls through to the next
    /// matching driver.
    pub fn no_device(reason: impl Into<String>) -> Self {
        Self::NoDevice {
            reason: reason.into(),
        }
    }

    /// A "not yet" answer with a reason, for use in [`Driver::probe`](crate::Driver::probe).
    pub fn defer(reason: impl Into<String>) -> Self {
        Self::Deferred {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BusExists { bus } => write!(formatter, "bus {bus:?} is already registered"),
            Self::UnknownBus { bus } => write!(formatter, "bus {bus:?} is not registered"),
            Self::DriverExists { bus, driver } => {
                write!(
                    formatter,
                    "driver {driver:?} is already registered on bus {bus:?}"
                )
            }
            Self::DriverNotRegistered { driver } => {
                write!(formatter, "driver {driver:?} is not registered")
            }
            Self::NameTaken {
                bus: Some(bus),
                name,
            } => {
                write!(formatter, "device name {name:?} is taken on bus {bus:?}")
            }
            Self::NameTaken { bus: None, name } => {
                write!(
                    formatter,
                    "device name {name:?} is taken among bus-less devices"
                )
            }
            Self::PathTaken { path } => {
                write!(formatter, "device path {path:?} is taken by another device")
            }
            Self::InvalidName { name } => write!(formatter, "invalid device name {name:?}"),
            Self::ForeignDevice { device } => {
                write!(
                    formatter,
                    "device {device:?} belongs to another device model"
                )
            }
            Self::DeviceDeleted { device } => write!(formatter, "device {device:?} is deleted"),
            Self::ParentDeleted { parent } => {
                write!(formatter, "parent {parent:?} is being deleted")
            }
            Self::HasChildren { device, children } => write!(
                formatter,
                "device {device:?} still has {children} registered children; \
                 its deletion completes when they are gone"
            ),
            Self::NotBound { device } => write!(formatter, "device {device:?} is not bound"),
            Self::AlreadyBound { device, driver } => {
                write!(
                    formatter,
                    "device {device:?} is already bound to {driver:?}"
                )
            }
            Self::Busy { device } => {
                write!(formatter, "device {device:?} is being probed or unbound")
            }
            Self::NoMatch { device } => write!(formatter, "no driver matches device {device:?}"),
            Self::NoDevice { reason } => write!(formatter, "not the driver's device: {reason}"),
            Self::ManualBindRefused { driver } => {
                write!(
                    formatter,
                    "driver {driver:?} refuses manual bind and unbind"
                )
            }
            Self::ResourcesPresent { device, count } => write!(
                formatter,
                "device {device:?}: resources present before probing ({count} devres nodes)"
            ),
            Self::Deferred { reason } => write!(formatter, "probe deferred: {reason}"),
            Self::Driver { message } => write!(formatter, "driver failure: {message}"),
            Self::WrongType {
                device,
                expected,
                requested,
            } => write!(
                formatter,
                "device {device:?}: its driver's state is {expected}, not {requested}"
            ),
            Self::DevresNotFound { device } => {
                write!(formatter, "device {device:?}: no matching devres node")
            }
            Self::GroupNotFound { device } => {
                write!(formatter, "device {device:?}: no such devres group")
            }
            Self::DevresFull { device, capacity } => write!(
                formatter,
                "device {device:?}: devres list is full ({capacity} nodes)"
            ),
            Self::OutOfMemory => formatter.write_str("out of memory"),
            Self::WrongDevice { device } => write!(
                formatter,
                "the bound-device proof for {device:?} does not cover this resource"
            ),
            Self::InvalidLink { reason } => write!(formatter, "invalid device link: {reason}"),
            Self::PowerFailed {
                device,
                operation,
                cause,
            } => write!(
                formatter,
                "{operation} of device {device:?} failed: {cause}"
            ),
            Self::ResourceBusy { resource, owner } => {
                write!(formatter, "{resource} is already claimed by {owner}")
            }
            Self::InvalidResource { reason } => write!(formatter, "invalid resource: {reason}"),
            Self::Devicetree { node, problem } => write!(formatter, "devicetree {node}: {problem}"),
            Self::Property { property, problem } => {
                write!(formatter, "property {property:?}: {problem}")
            }
        }
    }
}

impl core::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn display_names_the_culprit() {
        let error = Error::ResourcesPresent {
            device: "uart0".into(),
            count: 2,
        };
        let text = error.to_string();
        assert!(text.contains("uart0"), "{text}");
        assert!(text.contains("resources present before probing"), "{text}");
        let busy = Error::resource_busy(
            Resource::IoPorts(crate::resource::IoPortRange::new(0x3f8, 8).unwrap()),
            "uart16550 uart16550.0",
        );
        assert_eq!(
            busy.to_string(),
            "io 0x3f8..0x400 is already claimed by uart16550 uart16550.0"
        );
        assert_eq!(
            Error::resource_busy(Resource::Irq(crate::resource::Irq(4)), "x").to_string(),
            "irq 4 is already claimed by x"
        );
        assert_eq!(
            Error::defer("clock"),
            Error::Deferred {
                reason: "clock".into()
            }
        );
    }
}
