//! Helpers the kernel's integration tests (`kernel/tests/*.rs`) share: each test file is
//! its own kernel image, so what more than one of them needs lives here, once.

use alloc::string::String;
use alloc::sync::Arc;
use core::fmt;

use drivermodel::{ARef, DeviceModel};

use super::{Failure, TestResult};
use crate::bus::pci;
use crate::drivers::bochs;
use crate::drm::{self, Client, Mode, Request};
use crate::shell;

/// A test failure whose reason is `error`'s `Display` text: `result.map_err(failure)?`.
pub fn failure(error: impl fmt::Display) -> Failure {
    Failure::new(format_args!("{error}"))
}

/// Runs one shell line against the kernel's device model and returns what it printed:
/// the answer, or `error: ...` ([`shell::run_line`]).
pub fn run_shell(line: &str) -> String {
    let mut out = String::new();
    // Writing to a `String` cannot fail, and `run_line` fails only when `out` does.
    let _ = shell::run_line(crate::devices::model(), line, &mut out);
    out
}

/// The display objects alive outside the tests: the kernel binds its own display driver
/// (bochs) at boot when QEMU has a display adapter, so a test that counts display
/// objects compares against this.
pub fn baseline_counts() -> drm::Counts {
    drm::Counts {
        devices: bochs::displays().len(),
        ..drm::Counts::default()
    }
}

/// Checks that a display test released everything: `model` is quiescent and the
/// display objects alive are the boot's ([`baseline_counts`]).
///
/// # Errors
///
/// A [`Failure`] naming the model's counts, or the display counts expected and found.
pub fn check_displays_released(model: &DeviceModel) -> TestResult {
    crate::check!(
        model.is_quiescent(),
        "driver model not quiescent: {:?}",
        model.counts()
    );
    crate::check_eq!(drm::counts(), baseline_counts());
    Ok(())
}

/// A client showing a full-screen XRGB8888 framebuffer, mapped for drawing.
#[derive(Debug)]
pub struct Screen {
    /// The client that owns the framebuffer and committed it.
    pub client: Client,
    /// The framebuffer's buffer, mapped.
    pub mapping: drm::Mapping,
    /// The framebuffer's ID.
    pub framebuffer: u32,
}

impl Screen {
    /// Opens a client on `device`, makes a framebuffer for `mode`
    /// ([`Client::create_mapped_framebuffer`]) and shows it full screen in `mode`
    /// ([`Request::show_full_screen`]).
    ///
    /// # Errors
    ///
    /// Any error of opening the client, making the framebuffer or the commit.
    pub fn show(device: &Arc<drm::Device>, mode: Mode) -> drm::Result<Self> {
        let client = Client::open(device)?;
        let objects = client.resources()?;
        let (framebuffer, mapping) = client.create_mapped_framebuffer(mode)?;
        client.commit(&Request::new().show_full_screen(&objects, mode, framebuffer))?;
        Ok(Self {
            client,
            mapping,
            framebuffer,
        })
    }
}

/// The PCI device of the bochs display (1234:1111).
///
/// # Errors
///
/// A [`Failure`] when the PCI bus has no such device (QEMU ran without one).
pub fn bochs_pci_device() -> Result<ARef<drivermodel::Device>, Failure> {
    crate::devices::model()
        .devices()
        .into_iter()
        .find(|device| {
            pci::function(device).is_some_and(|function| {
                (function.vendor, function.device) == (bochs::regs::VENDOR, bochs::regs::DEVICE)
            })
        })
        .ok_or_else(|| failure("no 1234:1111 display on the PCI bus (run with a display device)"))
}

/// The display device bochs registered at bind.
///
/// # Errors
///
/// A [`Failure`] when bochs is not bound.
pub fn bochs_display() -> Result<Arc<drm::Device>, Failure> {
    bochs::displays()
        .into_iter()
        .next()
        .ok_or_else(|| failure("bochs is not bound"))
}

/// Bitwise CRC-32 (IEEE) of `pixels` in little-endian bytes, independent of the
/// kernel's table-driven one: the reference the composition CRCs are checked against.
pub fn reference_crc(pixels: &[u32]) -> u32 {
    let mut crc = 0xffff_ffff_u32;
    for pixel in pixels {
        for byte in pixel.to_le_bytes() {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
    }
    !crc
}
