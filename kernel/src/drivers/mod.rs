//! The kernel's built-in drivers and their registration at boot.
//!
//! - [`uart16550`]: the COM1 console on the platform bus;
//! - [`ramdisk`]: block storage on a faux device (`ram0` at boot);
//! - [`vkms`]: a virtual display on a faux device (the DRM side's);
//! - [`vgem`]: a render-only display device on a faux device, for sharing buffers;
//! - [`bochs`]: QEMU's bochs-display / std VGA on the PCI bus.
//!
//! [`init`] registers each built-in driver once; the registrations live for the kernel's
//! lifetime (tests and the shell unbind and rebind devices, not drivers).

pub mod bochs;
pub mod ramdisk;
pub mod uart16550;
pub mod vgem;
pub mod vkms;

use drivermodel::DeviceModel;
use drivermodel::driver::Registration;
use spin::Once;

use crate::println;

static UART16550: Once<Registration<uart16550::Uart16550>> = Once::new();
static BOCHS: Once<Registration<bochs::Driver>> = Once::new();

/// Registers the built-in drivers (each binds to its devices at once).
pub fn init(model: &DeviceModel) {
    match model.register_driver(uart16550::Uart16550) {
        Ok(registration) => {
            UART16550.call_once(|| registration);
        }
        Err(error) => println!("kernel: uart16550: {error}"),
    }
    ramdisk::init(model);
    match model.register_driver(bochs::Driver) {
        Ok(registration) => {
            BOCHS.call_once(|| registration);
        }
        Err(error) => println!("kernel: {}: {error}", bochs::DRIVER_NAME),
    }
}
