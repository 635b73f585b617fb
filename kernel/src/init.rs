//! Kernel bring-up: the order in which the pieces start, and the boot-phase timings.
//!
//! Order, and why:
//! 1. the architecture's early bring-up (`arch::platform::early_init`): the console, so
//!    everything after can report; traps, so faults are reported from here on; the
//!    firmware's tables (PVH start info and ACPI on x86_64, the devicetree on riscv64)
//!    copied out before the heap may reuse their memory;
//! 2. the heap, from the memory map ("heap ready");
//! 3. the clock, the periodic timer and the interrupt controller
//!    (`arch::platform::start_interrupts`); interrupts on;
//! 4. the other CPUs (`arch::cpu::start_others`), each in [`crate::work::cpu_main`],
//!    before the device model so that work can run on them from the first probe on:
//!    `kernel: N CPUs online`;
//! 5. the device model: buses, enumeration, built-in drivers ([`crate::devices`]); the
//!    16550 driver takes over the console from the early port.
//!
//! Timings are clock differences (the TSC on x86_64) from the kernel's first instruction ("entry"), to the
//! first Rust instruction ("kmain"), to heap ready, and to whatever the kernel prints them
//! at ("boot complete" or "tests started"); see [`BootInfo::print_timings`].

use crate::arch::{self, heap, platform, time};
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
    /// The clock at the kernel's entry, at the first Rust instruction, and when the heap
    /// was ready.
    timestamps: Timestamps,
}

/// Boot-phase clock readings.
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
        let now = time::counter();
        let micros = |tsc: u64| time::cycles_to_micros(tsc.saturating_sub(self.timestamps.entry));
        println!(
            "kernel: boot timings ({} {} MHz): entry->kmain {} us, ->heap ready {} us, ->{} {} us",
            time::COUNTER_NAME,
            time::counter_hz() / 1_000_000,
            micros(self.timestamps.kmain),
            micros(self.timestamps.heap_ready),
            phase,
            micros(now)
        );
    }

    /// Microseconds from the kernel's entry until now.
    pub fn micros_since_entry(&self) -> u64 {
        time::cycles_to_micros(time::counter().saturating_sub(self.timestamps.entry))
    }
}

static BOOT_INFO: spin::Once<BootInfo> = spin::Once::new();

/// Brings the kernel up (see the module docs) and returns what it learned.
pub(crate) fn start(handoff: arch::Handoff) -> &'static BootInfo {
    let kmain = time::counter();
    let firmware = platform::early_init(handoff);
    let command_line = firmware.command_line;
    let memory_map = firmware.memory_map;
    let options = cmdline::parse(command_line, |problem| {
        println!("kernel: command line: {problem}")
    });

    let heap_region = memory::heap_region(
        memory_map,
        arch::linker::kernel_end(),
        platform::MAPPED_LIMIT,
    )
    .expect("no RAM after the kernel image in the memory map");
    heap::init(heap_region.clone(), memory_map).expect("heap region rejected");
    let heap_ready = time::counter();

    let clock_hz = platform::start_interrupts(options.timer_hz);
    arch::enable_interrupts();

    println!(
        "kernel: command line `{command_line}`; {} {}.{:03} MHz; timer {} Hz; heap {} KiB at {:#x}",
        time::COUNTER_NAME,
        clock_hz / 1_000_000,
        (clock_hz / 1_000) % 1_000,
        options.timer_hz,
        (heap_region.end - heap_region.start) / 1024,
        heap_region.start
    );

    let cpus = match arch::cpu::start_others(crate::work::cpu_main) {
        Ok(cpus) => cpus,
        Err(error) => {
            println!("kernel: other CPUs not started: {error}");
            arch::cpu::online()
        }
    };
    println!(
        "kernel: {cpus} CPU{} online",
        if cpus == 1 { "" } else { "s" }
    );

    crate::devices::init(&options);

    BOOT_INFO.call_once(|| BootInfo {
        options,
        command_line,
        memory_map,
        heap: heap_region,
        timestamps: Timestamps {
            entry: time::entry_counter(),
            kmain,
            heap_ready,
        },
    })
}
