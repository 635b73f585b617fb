//! A RAM disk on a faux device: block storage that lives exactly as long as its device's
//! binding.
//!
//! [`Ramdisk::create`] makes a faux device (bound, or an error: never half-made) and puts
//! the blocks under its devres as a [`Devres`]: when the device goes, the storage is
//! revoked and freed with it, and any later access fails with [`Error::Gone`] instead of
//! touching freed memory. The kernel creates `ram0` at boot ([`init`]); tests create
//! their own.

use alloc::vec::Vec;
use core::fmt;

use drivermodel::context::Bound;
use drivermodel::{Device, DeviceModel, Devres, faux};
use spin::{Mutex, Once};

/// Bytes per block.
pub const BLOCK_SIZE: usize = 512;
/// Blocks of the boot-time `ram0`.
pub const BOOT_BLOCKS: usize = 64;

/// Why a block operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The block index is past the end.
    OutOfRange {
        /// The index asked for.
        index: usize,
        /// How many blocks the disk has.
        blocks: usize,
    },
    /// The device (and its storage) is gone.
    Gone,
}

impl fmt::Display for Error {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfRange { index, blocks } => {
                write!(formatter, "block {index} is past the end ({blocks} blocks)")
            }
            Self::Gone => formatter.write_str("the RAM disk's device is gone"),
        }
    }
}

impl core::error::Error for Error {}

/// A RAM disk; dropping it destroys its faux device (and the storage with it).
pub struct Ramdisk {
    storage: Devres<Mutex<Vec<u8>>>,
    blocks: usize,
    registration: faux::Registration,
}

impl fmt::Debug for Ramdisk {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Ramdisk")
            .field("device", &self.registration.device().name())
            .field("blocks", &self.blocks)
            .finish()
    }
}

impl Ramdisk {
    /// Creates a RAM disk of `blocks` zeroed blocks on a new faux device `name`.
    ///
    /// # Errors
    ///
    /// The faux device's errors (`NameTaken`, ...), or `OutOfMemory`; nothing stays
    /// registered then.
    pub fn create(model: &DeviceModel, name: &str, blocks: usize) -> drivermodel::Result<Self> {
        let bytes = blocks
            .checked_mul(BLOCK_SIZE)
            .ok_or(drivermodel::Error::OutOfMemory)?;
        let mut storage = Vec::new();
        storage
            .try_reserve_exact(bytes)
            .map_err(|_| drivermodel::Error::OutOfMemory)?;
        storage.resize(bytes, 0);
        // The device describes itself: `show ram0` and the shell's tree list its size.
        let registration = faux::Registration::builder(name)
            .property("size", bytes as u64)
            .property("block-size", BLOCK_SIZE as u64)
            .create(model)?;
        let storage = Devres::new(registration.device(), Mutex::new(storage))?;
        Ok(Self {
            storage,
            blocks,
            registration,
        })
    }

    /// The faux device, with the proof that it is bound.
    pub fn device(&self) -> &Device<Bound> {
        self.registration.device()
    }

    /// How many blocks.
    pub fn blocks(&self) -> usize {
        self.blocks
    }

    fn check(&self, index: usize) -> Result<core::ops::Range<usize>, Error> {
        if index < self.blocks {
            Ok(index * BLOCK_SIZE..(index + 1) * BLOCK_SIZE)
        } else {
            Err(Error::OutOfRange {
                index,
                blocks: self.blocks,
            })
        }
    }

    /// Reads block `index` into `buffer`.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfRange`], [`Error::Gone`].
    pub fn read_block(&self, index: usize, buffer: &mut [u8; BLOCK_SIZE]) -> Result<(), Error> {
        let range = self.check(index)?;
        self.storage
            .try_access_with(|storage| buffer.copy_from_slice(&storage.lock()[range]))
            .ok_or(Error::Gone)
    }

    /// Writes `data` to block `index`.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfRange`], [`Error::Gone`].
    pub fn write_block(&self, index: usize, data: &[u8; BLOCK_SIZE]) -> Result<(), Error> {
        let range = self.check(index)?;
        self.storage
            .try_access_with(|storage| storage.lock()[range].copy_from_slice(data))
            .ok_or(Error::Gone)
    }
}

static RAM0: Once<Ramdisk> = Once::new();

/// The boot-time RAM disk, once [`init`] created it.
pub fn ram0() -> Option<&'static Ramdisk> {
    RAM0.get()
}

/// Creates the boot-time RAM disk `ram0`, kept for the kernel's lifetime.
pub fn init(model: &DeviceModel) {
    match Ramdisk::create(model, "ram0", BOOT_BLOCKS) {
        Ok(ramdisk) => {
            RAM0.call_once(|| ramdisk);
        }
        Err(error) => crate::println!("kernel: ram0: {error}"),
    }
}
