//! What the integration tests share beyond the crate's test kit (`drivermodel::testing`,
//! which adopters use the same way): the kit's names, re-exported under the ones the
//! tests use.
#![allow(
    dead_code,
    unused_imports,
    reason = "each test file uses a different part of the doubles"
)]

pub use drivermodel::testing::{
    BUS, Log, TestBus, TestDriver, TestId, TestState, device as test_device, model,
};
