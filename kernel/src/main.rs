//! The kernel binary: boot, report (memory map, device events and tree as `devices=`
//! asks), then run the serial shell (or exit QEMU with `exit`).

#![no_std]
#![no_main]

use kernel::arch::{self, ExitCode};
use kernel::text::FixedString;
use kernel::{BootInfo, println};

kernel::entry_point!(kmain);

fn kmain(boot: &'static BootInfo) -> ! {
    for region in boot.memory_map {
        println!("kernel: memory {region}");
    }
    kernel::devices::report(boot.options.devices);
    kernel::demo::run(boot);
    boot.print_timings("boot complete");
    let micros = boot.micros_since_entry();
    arch::write_banner(
        0,
        FixedString::<80>::from_fmt(format_args!(
            "drivermodel toy kernel ({})",
            arch::DESCRIPTION
        ))
        .as_str(),
    );
    arch::write_banner(
        1,
        FixedString::<80>::from_fmt(format_args!(
            "boot complete in {micros} us; log on COM1; command line `{}`",
            boot.command_line
        ))
        .as_str(),
    );
    println!("kernel: boot complete in {micros} us");
    if boot.options.exit {
        // Quiesce every device (children and consumers first) before power-off.
        kernel::devices::model().shutdown_all();
        arch::exit_qemu(ExitCode::Success);
    }
    kernel::shell::run(kernel::devices::model())
}
