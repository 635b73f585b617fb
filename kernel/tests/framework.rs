//! The test framework itself: KTAP formatting, checks, leak snapshots, expected panics.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use core::fmt;

use kernel::test::ktap::Line;
use kernel::test::leak::{self, LeakProbe, Snapshot};
use kernel::test::{Failure, TestResult};
use kernel::text::FixedString;
use kernel::{check, check_eq, fail, kernel_test};

kernel::test_main!();

/// Renders anything displayable into a fixed string.
fn render(value: &dyn fmt::Display) -> FixedString<256> {
    FixedString::from_fmt(format_args!("{value}"))
}

kernel_test! {
    /// Every KTAP line kind renders as the contract says.
    fn ktap_lines() {
        check_eq!(render(&Line::Version).as_str(), "KTAP version 1");
        check_eq!(render(&Line::Plan { count: 3 }).as_str(), "1..3");
        check_eq!(
            render(&Line::Result { number: 1, name: "a", failure: None }).as_str(),
            "ok 1 a"
        );
        check_eq!(
            render(&Line::Result { number: 2, name: "b", failure: Some(&"why\nnot") }).as_str(),
            "not ok 2 b # why not"
        );
        check_eq!(
            render(&Line::Skip { number: 3, name: "c", reason: "filtered" }).as_str(),
            "ok 3 c # SKIP filtered"
        );
        check_eq!(render(&Line::Diagnostic(&"note")).as_str(), "# note");
        check_eq!(
            render(&Line::Summary { passed: 2, failed: 1 }).as_str(),
            "# 2 passed, 1 failed"
        );
    }
}

fn failing_check() -> TestResult {
    check_eq!(1 + 1, 3);
    Ok(())
}

kernel_test! {
    /// `check_eq!` fails with "expected E, got A" instead of panicking.
    fn check_eq_reports_values() {
        match failing_check() {
            Err(failure) => check_eq!(failure.reason(), "`1 + 1`: expected 3, got 2"),
            Ok(()) => fail!("check_eq! passed on unequal values"),
        }
    }
}

kernel_test! {
    /// `?` propagates failures.
    fn question_mark_propagates() {
        let inner = || -> TestResult { Err(Failure::new(format_args!("inner"))) };
        check!(inner().is_err());
    }
}

kernel_test! {
    /// Leak snapshots see a live allocation and its release.
    fn snapshot_sees_allocations() {
        let before = Snapshot::take();
        let value = core::hint::black_box(Box::new([0_u64; 4]));
        let during = Snapshot::take();
        match before.first_difference(&during) {
            Some(leak) => {
                check_eq!(leak.unit, "bytes");
                check!(leak.delta >= 32, "delta {}", leak.delta);
                check!(render(&leak).as_str().starts_with("leaked "));
            }
            None => fail!("a live Box was not seen"),
        }
        drop(value);
        check!(before.first_difference(&Snapshot::take()).is_none());
    }
}

static COUNTER: core::sync::atomic::AtomicI64 = core::sync::atomic::AtomicI64::new(0);

fn read_counter() -> i64 {
    COUNTER.load(core::sync::atomic::Ordering::Relaxed)
}

kernel_test! {
    /// Registered probes take part in snapshots (as driver-model counters will).
    fn registered_probe_is_checked() {
        leak::register(LeakProbe { unit: "widgets", read: read_counter })
            .map_err(|error| Failure::new(format_args!("{error}")))?;
        let before = Snapshot::take();
        COUNTER.fetch_add(2, core::sync::atomic::Ordering::Relaxed);
        let leak = before.first_difference(&Snapshot::take());
        COUNTER.fetch_sub(2, core::sync::atomic::Ordering::Relaxed);
        match leak {
            Some(leak) => check_eq!(render(&leak).as_str(), "leaked 2 widgets"),
            None => fail!("probe change not seen"),
        }
    }
}

kernel_test! {
    /// Fixed strings truncate at the capacity on a character boundary.
    fn fixed_string_truncates() {
        let text = FixedString::<5>::from_fmt(format_args!("ab{}", "cdé"));
        check_eq!(text.as_str(), "abcd");
        check_eq!(text.len(), 4);
    }
}

kernel_test! {
    /// A declared panic passes when its message matches; it ends the boot, so it comes
    /// last (a test after it would cost a restart; `fixture_panic` and `fixture_restart`
    /// check the tests after a panic). It holds an allocation at the panic: with the boot
    /// ended there, that leaks into nothing.
    #[should_panic = "as declared"]
    fn declared_panic_passes() {
        let value = core::hint::black_box(Box::new(7_u64));
        panic!("panicking as declared, holding {value}");
    }
}
