//! Kernel bring-up: the order in which the pieces start, and the boot-phase timings.
//!
//! Order, and why:
//! 1. serial, so everything after can report;
//! 2. GDT/TSS and IDT, so faults are reported (with a double-fault stack) from here on;
//! 3. the stack guard page;
//! 4. the PVH start info is copied out, and the MADT's interrupt routing read (before the
//!    heap may reuse their memory);
//! 5. the heap, from the memory map ("heap ready");
//! 6. TSC calibration (PIT, polled), then the local APIC timer; interrupts on;
//! 7. the device model: buses, enumeration, built-in drivers ([`crate::devices`]); the
//!    16550 driver takes over the console from the early port.
//!
//! Timings are TSC differences from the trampoline's first instruction ("entry"), to the
//! first Rust instruction ("kmain"), to heap ready, and to whatever the kernel prints them
//! at ("boot complete" or "tests started"); see [`BootInfo::print_timings`].

use crate::arch::{self, apic, heap, paging, pvh, serial, time};
use crate::cmdline::{self, Options};
use crate::{memory, println};

/// What the kernel learned while booting, handed to `kernel_main`.
#[derive(Debug)]
pub struct BootInfo {
    /// Parsed command-line options.
    pub options: Options<'static>,
    /// The raw command line.
    pub command_line: &'static str,
    /// The firmware's memory map.
    pub memory_map: &'static [memory::MemoryRegion],
    /// The heap's region.
    pub heap: core::ops::Range<u64>,
    /// TSC at the PVH entry, at the first Rust instruction, and when the heap was ready.
    timestamps: Timestamps,
}

/// Boot-phase TSC readings.
#[derive(Debug, Clone, Copy)]
struct Timestamps {
    entry: u64,
    kmain: u64,
    heap_ready: u64,
}

impl BootInfo {
    /// Prints the boot-phase timings, ending at "now" under the name `phase`:
    /// `kernel: boot timings (TSC 2400 MHz): entry->kmain 10 us, ->heap ready 120 us, -><phase> 35000 us`.
    pub fn print_timings(&self, phase: &str) {
        let now = time::rdtsc();
        let micros = |tsc: u64| time::cycles_to_micros(tsc.saturating_sub(self.timestamps.entry));
        println!(
            "kernel: boot timings (TSC {} MHz): entry->kmain {} us, ->heap ready {} us, ->{} {} us",
            time::tsc_hz() / 1_000_000,
            micros(self.timestamps.kmain),
            micros(self.timestamps.heap_ready),
            phase,
            micros(now)
        );
    }

    /// Microseconds from the PVH entry until now.
    pub fn micros_since_entry(&self) -> u64 {
        time::cycles_to_micros(time::rdtsc().saturating_sub(self.timestamps.entry))
    }
}

static BOOT_INFO: spin::Once<BootInfo> = spin::Once::new();

/// Brings the kernel up (see the module docs) and returns what it learned.
pub(crate) fn start(start_info_address: u32) -> &'static BootInfo {
    let kmain = time::rdtsc();
    serial::init();
    println!("kernel: long mode, start info at {start_info_address:#x}");
    arch::gdt::init();
    arch::idt::init();
    paging::init();

    let start_info = pvh::read(start_info_address);
    // Before the heap may reuse the memory the firmware's tables sit in.
    let routing = arch::acpi::read_interrupt_routing(start_info.rsdp);
    let command_line: &'static str = start_info.command_line.as_str();
    let memory_map = start_info.memory_map();
    let options = cmdline::parse(command_line, |problem| {
        println!("kernel: command line: {problem}")
    });

    let heap_region =
        memory::heap_region(memory_map, arch::linker::kernel_end(), paging::MAPPED_LIMIT)
            .expect("no RAM after the kernel image in the PVH memory map");
    heap::init(heap_region.clone(), memory_map).expect("heap region rejected");
    let heap_ready = time::rdtsc();

    let tsc_hz = time::calibrate().expect("TSC calibration");
    apic::init(options.timer_hz);
    arch::irq::init();
    match routing {
        Some(routing) => println!(
            "kernel: MADT: I/O APIC at {:#x}, ISA IRQ 0 on GSI {}",
            routing.io_apic_base, routing.isa[0].gsi
        ),
        None => println!("kernel: no MADT: I/O APIC assumed at 0xfec00000"),
    }
    arch::enable_interrupts();

    println!(
        "kernel: command line `{command_line}`; TSC {}.{:03} MHz; timer {} Hz; heap {} KiB at {:#x}",
        tsc_hz / 1_000_000,
        (tsc_hz / 1_000) % 1_000,
        options.timer_hz,
        (heap_region.end - heap_region.start) / 1024,
        heap_region.start
    );

    crate::devices::init(&options);

    BOOT_INFO.call_once(|| BootInfo {
        options,
        command_line,
        memory_map,
        heap: heap_region,
        timestamps: Timestamps {
            entry: time::entry_tsc(),
            kmain,
            heap_ready,
        },
    })
}
