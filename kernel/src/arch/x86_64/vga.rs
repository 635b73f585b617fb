//! A banner in the VGA text buffer at `0xb8000`, so a screenshot shows the kernel ran.
//!
//! SeaBIOS leaves the standard VGA in 80x25 text mode; under qboot or without a VGA
//! device the writes land in memory nobody displays, which is harmless.

/// Physical (= virtual) address of the text buffer.
const TEXT_BUFFER: usize = 0xb8000;
/// Characters per row.
const COLUMNS: usize = 80;
/// Rows.
const ROWS: usize = 25;

/// Writes `text` (ASCII; other bytes show as `?`) on `row`, white on blue, padded to the
/// full width. Rows past the screen are ignored.
pub fn write_banner(row: usize, text: &str) {
    if row >= ROWS {
        return;
    }
    let base = (TEXT_BUFFER + row * COLUMNS * 2) as *mut u16;
    let mut bytes = text.bytes();
    for column in 0..COLUMNS {
        let byte = match bytes.next() {
            Some(byte @ 0x20..=0x7e) => byte,
            Some(_) => b'?',
            None => b' ',
        };
        let cell = 0x1f00 | u16::from(byte);
        // SAFETY: the text buffer is 80x25 cells of two bytes at 0xb8000, inside the
        // identity map; it is device (or unused) memory that no Rust object occupies.
        unsafe { base.add(column).write_volatile(cell) };
    }
}
