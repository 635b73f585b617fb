//! `boot --headless --screenshot PATH` boots the kernel (building it first, as
//! `cargo run` does), waits for the end of boot and writes a PNG through QMP.

use std::fs::File;
use std::process::Command;

#[test]
fn a_headless_boot_writes_a_png_screenshot() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let shot = dir.path().join("shot.png");
    let output = Command::new(env!("CARGO_BIN_EXE_boot"))
        .args(["--headless", "--screenshot"])
        .arg(&shot)
        .args(["--append", "exit", "--timeout", "60"])
        .env("CARGO", env!("CARGO"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("running boot");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("---- boot --screenshot\n{stdout}{stderr}");
    assert!(output.status.success(), "boot failed:\n{stdout}\n{stderr}");
    assert!(
        stdout
            .lines()
            .any(|line| line.starts_with("kernel: boot complete")),
        "no `kernel: boot complete` in the boot log:\n{stdout}"
    );

    let decoder = png::Decoder::new(std::io::BufReader::new(
        File::open(&shot).expect("the screenshot exists"),
    ));
    let mut reader = decoder.read_info().expect("the screenshot is a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a sane PNG size")];
    let frame = reader.next_frame(&mut pixels).expect("the PNG decodes");
    let (width, height) = (frame.width, frame.height);
    assert!(
        (width, height) == (720, 400) || (width >= 640 && height >= 480),
        "implausible screen size {width}x{height}"
    );
    let bytes_per_pixel = frame.line_size / width as usize;
    let first = &pixels[..bytes_per_pixel];
    assert!(
        pixels[..frame.buffer_size()]
            .chunks(bytes_per_pixel)
            .any(|pixel| pixel != first),
        "the screenshot is one flat colour"
    );
}
