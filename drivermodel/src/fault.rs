//! The fault points of the [`testing`](crate::testing) kit.
//!
//! `point!(counters, Name)` is where the operation `Name` may be made to fail: with the
//! `testing` feature it asks the model's fault plan (through its [`Counters`]) and yields
//! its `Result<()>`; without the feature it is `Ok(())`, and no fault-injection code or
//! state is compiled at all.
//!
//! [`Counters`]: crate::counters::Counters

#![forbid(unsafe_code)]

/// `Err` if this pass of fault point `$point` (a [`FaultPoint`] variant) of the model
/// whose counters are `$counters` must fail.
///
/// [`FaultPoint`]: crate::testing::FaultPoint
macro_rules! point {
    ($counters:expr, $point:ident) => {{
        #[cfg(feature = "testing")]
        let passed = $counters.faults.pass($crate::testing::FaultPoint::$point);
        #[cfg(not(feature = "testing"))]
        let passed: $crate::error::Result<()> = Ok(());
        passed
    }};
}

pub(crate) use point;
