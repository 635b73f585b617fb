//! The EDID parser (Linux's `drm_edid.c`, base block only): a monitor's modes.

use alloc::vec::Vec;

use super::error::Result;
use super::mode::Mode;

/// Why an EDID blob was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EdidError {
    /// Shorter than one 128-byte block.
    Truncated,
    /// The 8-byte header is wrong.
    BadHeader,
    /// The block's bytes do not sum to 0 mod 256.
    BadChecksum,
}

/// Established timings (EDID bytes 35..=37), bit by bit from byte 35's bit 7.
const ESTABLISHED: [(u32, u32, u32); 17] = [
    (720, 400, 70),
    (720, 400, 88),
    (640, 480, 60),
    (640, 480, 67),
    (640, 480, 72),
    (640, 480, 75),
    (800, 600, 56),
    (800, 600, 60),
    (800, 600, 72),
    (800, 600, 75),
    (832, 624, 75),
    (1024, 768, 87),
    (1024, 768, 60),
    (1024, 768, 70),
    (1024, 768, 75),
    (1280, 1024, 75),
    (1152, 870, 75),
];

/// The modes an EDID base block lists: detailed timings (the first is the preferred
/// mode), standard timings and established timings, without duplicates, preferred first,
/// then largest first. Modes a caller cannot drive are filtered by the caller.
///
/// # Errors
///
/// [`EdidError`] when the blob is not a valid EDID base block.
pub fn parse_edid(edid: &[u8]) -> Result<Vec<Mode>, EdidError> {
    let block = edid.get(..128).ok_or(EdidError::Truncated)?;
    if block[..8] != [0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00] {
        return Err(EdidError::BadHeader);
    }
    if block.iter().fold(0_u8, |sum, byte| sum.wrapping_add(*byte)) != 0 {
        return Err(EdidError::BadChecksum);
    }
    let mut modes: Vec<Mode> = Vec::new();
    let mut push = |mode: Result<Mode>| {
        if let Ok(mode) = mode
            && !modes.iter().any(|known| known.same_timing(&mode))
        {
            modes.push(mode);
        }
    };
    for (index, descriptor) in block[54..126].chunks_exact(18).enumerate() {
        let clock = u32::from(u16::from_le_bytes([descriptor[0], descriptor[1]])) * 10_000;
        if clock == 0 {
            continue; // a display descriptor (name, range limits), not a timing
        }
        let width = u32::from(descriptor[2]) | (u32::from(descriptor[4] >> 4) << 8);
        let hblank = u32::from(descriptor[3]) | (u32::from(descriptor[4] & 0xf) << 8);
        let height = u32::from(descriptor[5]) | (u32::from(descriptor[7] >> 4) << 8);
        let vblank = u32::from(descriptor[6]) | (u32::from(descriptor[7] & 0xf) << 8);
        let total = (width + hblank) * (height + vblank);
        let refresh = (clock + total / 2).checked_div(total).unwrap_or(60);
        let mode = Mode::new(width, height, refresh);
        push(if index == 0 && block[24] & 0x02 != 0 {
            mode.map(Mode::preferred)
        } else {
            mode
        });
    }
    for pair in block[38..54].chunks_exact(2) {
        if pair == [0x01, 0x01] || pair[0] == 0 {
            continue;
        }
        let width = (u32::from(pair[0]) + 31) * 8;
        let height = match pair[1] >> 6 {
            0 => width * 10 / 16,
            1 => width * 3 / 4,
            2 => width * 4 / 5,
            _ => width * 9 / 16,
        };
        push(Mode::new(width, height, u32::from(pair[1] & 0x3f) + 60));
    }
    let bits = u32::from(block[35]) << 16 | u32::from(block[36]) << 8 | u32::from(block[37]);
    for (bit, (width, height, refresh)) in ESTABLISHED.iter().enumerate() {
        if bits & (1 << (23 - bit)) != 0 {
            push(Mode::new(*width, *height, *refresh));
        }
    }
    modes.sort_by(|a, b| {
        b.is_preferred()
            .cmp(&a.is_preferred())
            .then((b.width() * b.height()).cmp(&(a.width() * a.height())))
            .then(b.refresh_hz().cmp(&a.refresh_hz()))
    });
    Ok(modes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A base block: a preferred detailed timing of 1024×768 at 60 Hz (65 MHz, blanking
    /// 320 × 38), a standard timing of 1280×1024 at 60 Hz, established 640×480@60,
    /// 800×600@60 and 1024×768@60 (a duplicate of the detailed timing), a name
    /// descriptor, and the checksum.
    fn edid() -> [u8; 128] {
        let mut block = [0_u8; 128];
        block[..8].copy_from_slice(&[0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00]);
        block[24] = 0x02;
        block[35] = 0x20 | 0x01;
        block[36] = 0x08;
        for pair in block[38..54].chunks_exact_mut(2) {
            pair.copy_from_slice(&[0x01, 0x01]);
        }
        block[38] = (1280 / 8 - 31) as u8;
        block[39] = 0x80;
        block[54..62].copy_from_slice(&[0x64, 0x19, 0x00, 0x40, 0x41, 0x00, 0x26, 0x30]);
        block[72..77].copy_from_slice(&[0x00, 0x00, 0x00, 0xfc, 0x00]);
        block[127] = checksum(&block);
        block
    }

    fn checksum(block: &[u8; 128]) -> u8 {
        0_u8.wrapping_sub(
            block[..127]
                .iter()
                .fold(0_u8, |sum, byte| sum.wrapping_add(*byte)),
        )
    }

    fn timings(modes: &[Mode]) -> Vec<(u32, u32, u32, bool)> {
        modes
            .iter()
            .map(|mode| {
                (
                    mode.width(),
                    mode.height(),
                    mode.refresh_hz(),
                    mode.is_preferred(),
                )
            })
            .collect()
    }

    #[test]
    fn modes_preferred_first_then_largest_without_duplicates() {
        let modes = parse_edid(&edid()).unwrap();
        assert_eq!(
            timings(&modes),
            [
                (1024, 768, 60, true),
                (1280, 1024, 60, false),
                (800, 600, 60, false),
                (640, 480, 60, false),
            ]
        );
    }

    #[test]
    fn without_the_preferred_flag_nothing_is_preferred() {
        let mut block = edid();
        block[24] = 0;
        block[127] = checksum(&block);
        let modes = parse_edid(&block).unwrap();
        assert!(modes.iter().all(|mode| !mode.is_preferred()));
        assert_eq!((modes[0].width(), modes[0].height()), (1280, 1024));
    }

    #[test]
    fn refusals() {
        let block = edid();
        assert_eq!(parse_edid(&block[..127]), Err(EdidError::Truncated));
        assert_eq!(parse_edid(&[]), Err(EdidError::Truncated));
        let mut bad_header = block;
        bad_header[0] = 0x01;
        bad_header[127] = checksum(&bad_header);
        assert_eq!(parse_edid(&bad_header), Err(EdidError::BadHeader));
        let mut bad_sum = block;
        bad_sum[127] = bad_sum[127].wrapping_add(1);
        assert_eq!(parse_edid(&bad_sum), Err(EdidError::BadChecksum));
        // Extension blocks after the base block are ignored.
        let mut longer = block.to_vec();
        longer.extend_from_slice(&[0xaa; 128]);
        assert_eq!(parse_edid(&longer).unwrap().len(), 4);
    }

    #[test]
    fn impossible_timings_are_skipped_not_fatal() {
        let mut block = edid();
        // A second detailed timing of 0 × 0 with a clock: refused by Mode::new, skipped.
        block[72..80].copy_from_slice(&[0x01, 0x00, 0, 0, 0, 0, 0, 0]);
        block[127] = checksum(&block);
        assert_eq!(parse_edid(&block).unwrap().len(), 4);
    }
}
