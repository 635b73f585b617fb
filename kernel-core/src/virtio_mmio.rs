//! The identification registers of a virtio-mmio transport (virtio 1.2, section 4.2.2):
//! what a slot holds, read without a virtio driver.
//!
//! Every slot starts with the magic `"virt"`, the transport version (1: legacy, 2:
//! modern) and the device ID, 0 for an empty slot (QEMU `virt` has eight slots and
//! fills them from the command line's `-device virtio-*-device`).

/// Offset of the magic value.
pub const MAGIC: u64 = 0x000;
/// Offset of the transport version.
pub const VERSION: u64 = 0x004;
/// Offset of the device ID.
pub const DEVICE_ID: u64 = 0x008;
/// Offset of the vendor ID.
pub const VENDOR_ID: u64 = 0x00c;
/// Bytes the identification registers span.
pub const IDENTIFICATION_LENGTH: u64 = 0x10;

/// `"virt"` read as a little-endian 32-bit word.
pub const MAGIC_VALUE: u32 = 0x7472_6976;

/// What a slot's identification registers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// The transport version: 1 (legacy) or 2.
    pub version: u32,
    /// The device ID; 0 for an empty slot.
    pub device_id: u32,
    /// The vendor ID (QEMU's is `0x554d4551`, "QEMU").
    pub vendor_id: u32,
}

/// Why the registers are not a virtio-mmio transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotError {
    /// The magic is not `"virt"`.
    Magic {
        /// The value read.
        found: u32,
    },
    /// A version other than 1 or 2.
    Version {
        /// The value read.
        found: u32,
    },
}

impl core::fmt::Display for SlotError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::Magic { found } => {
                write!(
                    formatter,
                    "magic {found:#010x} is not \"virt\" ({MAGIC_VALUE:#010x})"
                )
            }
            Self::Version { found } => {
                write!(formatter, "virtio-mmio version {found} is not 1 or 2")
            }
        }
    }
}

impl core::error::Error for SlotError {}

impl Slot {
    /// Checks the four identification registers as read.
    ///
    /// # Errors
    ///
    /// [`SlotError`] for a wrong magic or an unknown version.
    pub fn new(
        magic: u32,
        version: u32,
        device_id: u32,
        vendor_id: u32,
    ) -> Result<Self, SlotError> {
        if magic != MAGIC_VALUE {
            return Err(SlotError::Magic { found: magic });
        }
        if !(1..=2).contains(&version) {
            return Err(SlotError::Version { found: version });
        }
        Ok(Self {
            version,
            device_id,
            vendor_id,
        })
    }

    /// Whether no device sits in the slot.
    pub fn is_empty(&self) -> bool {
        self.device_id == 0
    }

    /// What the device ID names (virtio 1.2, section 5), `"empty"` for 0.
    pub fn kind(&self) -> &'static str {
        match self.device_id {
            0 => "empty",
            1 => "network card",
            2 => "block device",
            3 => "console",
            4 => "entropy source",
            5 => "memory balloon",
            8 => "SCSI host",
            9 => "9P transport",
            16 => "GPU",
            18 => "input device",
            19 => "socket device",
            26 => "file system",
            _ => "other device",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QEMU: u32 = 0x554d_4551;

    #[test]
    fn an_empty_legacy_slot() {
        let slot = Slot::new(MAGIC_VALUE, 1, 0, QEMU).unwrap();
        assert!(slot.is_empty());
        assert_eq!(slot.kind(), "empty");
        assert_eq!((slot.version, slot.vendor_id), (1, QEMU));
    }

    #[test]
    fn filled_slots_name_their_device() {
        let entropy = Slot::new(MAGIC_VALUE, 2, 4, QEMU).unwrap();
        assert!(!entropy.is_empty());
        assert_eq!(entropy.kind(), "entropy source");
        assert_eq!(
            Slot::new(MAGIC_VALUE, 2, 1, QEMU).unwrap().kind(),
            "network card"
        );
        assert_eq!(Slot::new(MAGIC_VALUE, 2, 16, QEMU).unwrap().kind(), "GPU");
        assert_eq!(
            Slot::new(MAGIC_VALUE, 2, 999, QEMU).unwrap().kind(),
            "other device"
        );
    }

    #[test]
    fn not_a_virtio_transport() {
        assert_eq!(Slot::new(0, 1, 0, QEMU), Err(SlotError::Magic { found: 0 }));
        // "virt" read big-endian.
        assert_eq!(
            Slot::new(0x7669_7274, 1, 0, QEMU),
            Err(SlotError::Magic { found: 0x7669_7274 })
        );
        assert_eq!(
            Slot::new(MAGIC_VALUE, 3, 0, QEMU),
            Err(SlotError::Version { found: 3 })
        );
        assert_eq!(
            Slot::new(MAGIC_VALUE, 0, 0, QEMU),
            Err(SlotError::Version { found: 0 })
        );
        let message = format!("{}", SlotError::Magic { found: 0 });
        assert!(message.contains("0x00000000"), "{message}");
    }
}
