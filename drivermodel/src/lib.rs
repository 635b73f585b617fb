//! A `no_std` driver model: buses, devices, drivers, binding and device-managed resources.
#![cfg_attr(not(test), no_std)]

extern crate alloc;
