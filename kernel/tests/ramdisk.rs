//! Faux devices used by the kernel: the RAM disk's storage lives and dies with its
//! always-bound faux device.

#![no_std]
#![no_main]

use kernel::devices::model;
use kernel::drivers::ramdisk::{self, BLOCK_SIZE, Error, Ramdisk};
use kernel::test::Failure;
use kernel::{check, check_eq, fail, kernel_test};

kernel::test_main!();

kernel_test! {
    /// The boot-time `ram0` is a bound faux device holding its storage as devres.
    fn boot_ramdisk_is_a_bound_faux_device() {
        let Some(ram0) = ramdisk::ram0() else { fail!("no ram0") };
        check_eq!(ram0.device().bus_name(), Some("faux"));
        check_eq!(ram0.device().driver_name().as_deref(), Some("faux_driver"));
        check_eq!(ram0.device().devres().len(), 1);
        check_eq!(ram0.blocks(), ramdisk::BOOT_BLOCKS);
        // It describes itself (the shell's `show ram0` and tree list these).
        let size = (ramdisk::BOOT_BLOCKS * BLOCK_SIZE) as u64;
        check_eq!(ram0.device().read_u64("size"), Ok(size));
        check_eq!(ram0.device().read_u64("block-size"), Ok(BLOCK_SIZE as u64));
        // Faux devices refuse manual unbind: the storage cannot be pulled from under ram0.
        check!(model().unbind(ram0.device()).is_err());
        let mut buffer = [0xff_u8; BLOCK_SIZE];
        check_eq!(ram0.read_block(0, &mut buffer), Ok(()));
        check!(buffer.iter().all(|byte| *byte == 0));
    }
}

kernel_test! {
    /// Blocks round-trip, bounds are checked, names are unique, and destroying the disk
    /// deletes the device and frees the storage (the leak check covers the rest).
    fn create_write_read_destroy() {
        let counts = model().counts();
        let disk = Ramdisk::create(model(), "ram_test", 8).map_err(|error| Failure::new(format_args!("{error}")))?;
        check_eq!(model().counts().registered_devices, counts.registered_devices + 1);
        check!(Ramdisk::create(model(), "ram_test", 1).is_err(), "a second ram_test was made");
        let mut block = [0_u8; BLOCK_SIZE];
        for (index, byte) in block.iter_mut().enumerate() {
            *byte = index as u8;
        }
        check_eq!(disk.write_block(7, &block), Ok(()));
        let mut back = [0_u8; BLOCK_SIZE];
        check_eq!(disk.read_block(7, &mut back), Ok(()));
        check!(back == block);
        check_eq!(disk.write_block(8, &block), Err(Error::OutOfRange { index: 8, blocks: 8 }));
        drop(disk);
        check!(model().find_device(Some("faux"), "ram_test").is_none());
        check_eq!(model().counts(), counts);
    }
}
