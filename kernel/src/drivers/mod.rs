//! Device drivers.

pub mod vkms;
