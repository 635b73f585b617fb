//! The kernel binary: boot, report, then idle (or exit QEMU with `exit`).

#![no_std]
#![no_main]

use kernel::arch::{self, ExitCode, vga};
use kernel::{BootInfo, println};

kernel::entry_point!(kmain);

fn kmain(boot: &'static BootInfo) -> ! {
    for region in boot.memory_map {
        println!("kernel: memory {region}");
    }
    vga::write_banner(
        0,
        "drivermodel toy kernel: booted (PVH, long mode, serial on COM1)",
    );
    boot.print_timings("boot complete");
    println!("kernel: boot complete in {} us", boot.micros_since_entry());
    if boot.options.exit {
        arch::exit_qemu(ExitCode::Success);
    }
    arch::idle_forever()
}
