//! CRC-32 (IEEE 802.3: reflected polynomial 0xEDB88320, initial value and final XOR
//! 0xFFFFFFFF), table-driven, as vkms reports for each composed frame.

/// The byte table, built at compile time.
const TABLE: [u32; 256] = {
    let mut table = [0_u32; 256];
    let mut index = 0;
    while index < 256 {
        let mut value = index as u32;
        let mut bit = 0;
        while bit < 8 {
            value = if value & 1 != 0 {
                (value >> 1) ^ 0xedb8_8320
            } else {
                value >> 1
            };
            bit += 1;
        }
        table[index] = value;
        index += 1;
    }
    table
};

/// A running CRC-32.
#[derive(Debug, Clone, Copy)]
pub struct Crc32(u32);

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32 {
    /// A fresh CRC.
    pub const fn new() -> Self {
        Self(0xffff_ffff)
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = TABLE[((self.0 ^ u32::from(*byte)) & 0xff) as usize] ^ (self.0 >> 8);
        }
    }

    /// Feeds 32-bit pixels as little-endian bytes.
    pub fn update_pixels(&mut self, pixels: &[u32]) {
        for pixel in pixels {
            self.update(&pixel.to_le_bytes());
        }
    }

    /// The CRC of everything fed.
    pub const fn finish(self) -> u32 {
        self.0 ^ 0xffff_ffff
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        let mut crc = Crc32::new();
        crc.update(b"123456789");
        assert_eq!(crc.finish(), 0xcbf4_3926);
        assert_eq!(Crc32::new().finish(), 0);
    }

    #[test]
    fn pixels_are_little_endian_bytes_and_chunking_does_not_matter() {
        let pixels = [0x0011_2233, 0xaabb_ccdd];
        let mut by_pixels = Crc32::new();
        by_pixels.update_pixels(&pixels);
        let mut by_bytes = Crc32::new();
        by_bytes.update(&[0x33, 0x22, 0x11, 0x00]);
        by_bytes.update(&[0xdd, 0xcc, 0xbb, 0xaa]);
        assert_eq!(by_pixels.finish(), by_bytes.finish());
        let mut other = Crc32::new();
        other.update_pixels(&[0xaabb_ccdd, 0x0011_2233]);
        assert_ne!(other.finish(), by_pixels.finish());
    }
}
