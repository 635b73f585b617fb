//! Runner fixture: tests that end their boot as declared, and tests after them. The
//! whole file passes, in one KTAP document over several boots; a panic inside a driver's
//! probe leaves nothing stuck for the next test.

#![no_std]
#![no_main]

use drivermodel::context::Core;
use drivermodel::{Device, Driver, IdEntry};
use kernel::arch::{self, trap::Exception};
use kernel::bus::platform::{self, Platform};
use kernel::devices::model;
use kernel::test::{ExpectedFault, Failure};
use kernel::{check, check_eq, fail, kernel_test};

kernel::test_main!(runner_fixture);

const UART: &str = "uart16550.0";

fn failure(error: drivermodel::Error) -> Failure {
    Failure::new(format_args!("{error}"))
}

fn uart() -> Result<drivermodel::ARef<Device>, Failure> {
    model()
        .find_device(Some(platform::BUS_NAME), UART)
        .ok_or_else(|| Failure::new(format_args!("no {UART}")))
}

kernel_test! {
    /// Ends the boot with the declared panic.
    #[should_panic = "declared panic"]
    fn expected_panic() {
        panic!("the declared panic");
    }
}

kernel_test! {
    /// Ends the next boot with the declared fault.
    #[expect_fault(ExpectedFault::Exception(Exception::ILLEGAL_INSTRUCTION))]
    fn expected_fault() {
        arch::invalid_instruction();
    }
}

kernel_test! {
    /// Runs in the third boot.
    fn normal_after_fault() {
        check_eq!(1 + 1, 2);
    }
}

kernel_test! {
    /// And so does this one: no restart between tests that return.
    fn second_normal_after_fault() {
        check_eq!(2 + 2, 4);
    }
}

/// A driver for the COM1 UART whose probe panics.
struct PanickingProbe;

static PANICKING_TABLE: [IdEntry<&str, ()>; 1] = [IdEntry::new("uart16550", ())];

impl Driver for PanickingProbe {
    type Bus = Platform;
    type IdInfo = ();
    type State = ();

    fn name(&self) -> &str {
        "panicking_probe"
    }

    fn id_table(&self) -> &[IdEntry<&'static str, ()>] {
        &PANICKING_TABLE
    }

    fn probe(&self, _device: &Device<Core>, _info: &()) -> drivermodel::Result<()> {
        panic!("deliberate panic in probe");
    }
}

kernel_test! {
    /// Panics inside a probe of the UART, in the middle of the driver model's bind.
    #[should_panic = "deliberate panic in probe"]
    fn panic_in_probe() {
        let _registration = model().register_driver(PanickingProbe).map_err(failure)?;
        let uart = uart()?;
        model().unbind(&uart).map_err(failure)?;
        model().bind_driver(&uart, "panicking_probe").map_err(failure)?;
        fail!("the panicking probe returned");
    }
}

kernel_test! {
    /// The same device binds in the next test: the boot is new, nothing is left
    /// "probing" (a jump out of the probe used to leave it so: `Busy` for ever).
    fn bind_after_probe_panic() {
        let uart = uart()?;
        check!(uart.is_bound(), "{UART} not bound after boot");
        model().unbind(&uart).map_err(failure)?;
        model().bind(&uart).map_err(failure)?;
        check!(uart.is_bound());
        check_eq!(uart.driver_name().as_deref(), Some("uart16550"));
    }
}
