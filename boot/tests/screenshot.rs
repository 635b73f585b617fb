//! `boot --headless --screenshot PATH` boots the kernel (building it first, as
//! `cargo run` does), waits for the end of boot and writes a PNG through QMP.
//!
//! The demo kernel sets a 1024x768 mode on the bochs display and paints a documented test
//! pattern (`kernel/src/demo.rs`). Only a correct mode set and scanout can put those
//! colours at those coordinates, so the pixel checks below are an end-to-end test of the
//! PCI bus, the bochs driver and the display subsystem. The screenshot is taken at
//! `kernel: boot complete`, after the demo's live unbind and rebind of the driver and its
//! virtual display on a faux device, whose report the log checks.

use std::fs::File;
use std::path::Path;
use std::process::Command;

/// A decoded screenshot: RGB, 8 bits per channel.
struct Screenshot {
    width: u32,
    height: u32,
    bytes_per_pixel: usize,
    pixels: Vec<u8>,
}

impl Screenshot {
    fn load(path: &Path) -> Self {
        let decoder = png::Decoder::new(std::io::BufReader::new(
            File::open(path).expect("the screenshot exists"),
        ));
        let mut reader = decoder.read_info().expect("the screenshot is a PNG");
        let mut pixels = vec![0; reader.output_buffer_size().expect("a sane PNG size")];
        let frame = reader.next_frame(&mut pixels).expect("the PNG decodes");
        assert_eq!(frame.bit_depth, png::BitDepth::Eight, "8-bit channels");
        pixels.truncate(frame.buffer_size());
        Self {
            width: frame.width,
            height: frame.height,
            bytes_per_pixel: frame.line_size / frame.width as usize,
            pixels,
        }
    }

    /// The pixel at (x, y) as `0x00RRGGBB`, the framebuffer's own format.
    fn rgb(&self, x: u32, y: u32) -> u32 {
        let offset = (y as usize * self.width as usize + x as usize) * self.bytes_per_pixel;
        let pixel = &self.pixels[offset..offset + 3];
        u32::from(pixel[0]) << 16 | u32::from(pixel[1]) << 8 | u32::from(pixel[2])
    }
}

/// Runs `boot --headless --screenshot` with `extra` arguments and returns the boot log
/// and the decoded screenshot.
fn boot_and_screenshot(extra: &[&str]) -> (String, Screenshot) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let shot = dir.path().join("shot.png");
    let output = Command::new(env!("CARGO_BIN_EXE_boot"))
        .args(["--headless", "--screenshot"])
        .arg(&shot)
        .args(["--append", "exit", "--timeout", "120"])
        .args(extra)
        .env("CARGO", env!("CARGO"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("running boot");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("---- boot --screenshot {extra:?}\n{stdout}{stderr}");
    assert!(output.status.success(), "boot failed:\n{stdout}\n{stderr}");
    assert!(
        stdout
            .lines()
            .any(|line| line.starts_with("kernel: boot complete")),
        "no `kernel: boot complete` in the boot log:\n{stdout}"
    );
    (stdout, Screenshot::load(&shot))
}

/// Checks the demo's test pattern at 1024x768 (see the module docs).
fn assert_demo_pattern(shot: &Screenshot, log: &str) {
    for line in [
        "(expected ",
        ": match)",
        "kernel: demo: every counter back where it was: yes",
    ] {
        assert!(
            log.contains(line),
            "the demo's virtual display: no `{line}` in the boot log:\n{log}"
        );
    }
    assert_eq!(
        (shot.width, shot.height),
        (1024, 768),
        "the demo's mode is 1024x768; boot log:\n{log}"
    );
    let expect = |x: u32, y: u32, want: u32, what: &str| {
        let got = shot.rgb(x, y);
        assert_eq!(
            got, want,
            "{what} at ({x}, {y}): expected {want:#08x}, got {got:#08x}"
        );
    };
    expect(32, 32, 0xff_0000, "top-left red square");
    expect(992, 32, 0x00_ff00, "top-right green square");
    expect(32, 736, 0x00_00ff, "bottom-left blue square");
    expect(992, 736, 0xff_ffff, "bottom-right white square");
    // Corners are exact: one pixel outside each square is no longer its colour.
    expect(63, 63, 0xff_0000, "last pixel of the red square");
    assert_ne!(shot.rgb(64, 64), 0xff_0000, "the red square ends at 64");
    let bars = [
        0xff_ffff, 0xff_ff00, 0x00_ffff, 0x00_ff00, 0xff_00ff, 0xff_0000, 0x00_00ff, 0x00_0000,
    ];
    for (index, color) in bars.into_iter().enumerate() {
        let x = 64 + 112 * index as u32 + 56;
        expect(x, 32, color, &format!("colour bar {index}"));
    }
    // The grey ramp: column x has level (x - 64) * 255 / 895 in all three channels.
    for x in [64, 300, 512, 959] {
        let level = (x - 64) * 255 / 895;
        expect(x, 736, level << 16 | level << 8 | level, "grey ramp");
    }
    // Left of the text window is black background.
    expect(4, 400, 0, "background beside the text window");
    // The text window holds light-grey glyphs on black: some of each.
    let text_pixels: Vec<u32> = (72..696)
        .step_by(3)
        .flat_map(|y| (8..1016).step_by(3).map(move |x| (x, y)))
        .map(|(x, y)| shot.rgb(x, y))
        .collect();
    assert!(
        text_pixels.iter().all(|&p| p == 0 || p == 0xc0_c0c0),
        "the text window holds only glyph and background colours"
    );
    assert!(
        text_pixels.contains(&0xc0_c0c0),
        "the text window shows text (the kernel log)"
    );
}

#[test]
fn demo_on_std_vga_shows_the_test_pattern() {
    let (log, shot) = boot_and_screenshot(&["--display-device", "std"]);
    assert_demo_pattern(&shot, &log);
}

#[test]
fn demo_on_bochs_display_under_qboot_shows_the_test_pattern() {
    // qboot leaves the BARs unassigned: the kernel's PCI bus assigns them.
    let (log, shot) = boot_and_screenshot(&[
        "--display-device",
        "bochs-display",
        "--machine",
        "pc",
        "--bios",
        "qboot",
    ]);
    assert_demo_pattern(&shot, &log);
}

#[test]
fn demo_on_riscv64_virt_shows_the_same_test_pattern() {
    // Same drivers, other architecture: the PCIe host bridge from the devicetree (ECAM,
    // BARs assigned from its `ranges`) and the same bochs driver on `-device bochs-display`.
    let (log, shot) = boot_and_screenshot(&["--arch", "riscv64"]);
    assert_demo_pattern(&shot, &log);
}
