//! Pixel arithmetic of composition (vkms's `vkms_composer.c`): blending a straight-alpha
//! ARGB8888 pixel over an XRGB8888 one.

/// Blends `over` (ARGB8888, straight alpha `a`) onto `below` (XRGB8888): per channel
/// `(over × a + below × (255 − a) + 127) / 255`; the result's top byte is 0.
pub fn blend(over: u32, below: u32) -> u32 {
    let alpha = over >> 24;
    let channel = |shift: u32| {
        let top = (over >> shift) & 0xff;
        let bottom = (below >> shift) & 0xff;
        ((top * alpha + bottom * (255 - alpha) + 127) / 255) << shift
    };
    channel(16) | channel(8) | channel(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opaque_transparent_and_half() {
        assert_eq!(blend(0xff12_3456, 0x00ab_cdef), 0x0012_3456);
        assert_eq!(blend(0x0012_3456, 0x00ab_cdef), 0x00ab_cdef);
        // (255 × 128 + 0 × 127 + 127) / 255 = 128
        assert_eq!(blend(0x80ff_ffff, 0x0000_0000), 0x0080_8080);
        // the top byte of `below` is ignored, the result's is 0
        assert_eq!(blend(0x0000_0000, 0xff00_0001), 0x0000_0001);
    }
}
