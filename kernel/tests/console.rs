//! The 16550 console driver on the platform bus: it is the console after boot, receives
//! by interrupt, survives unbind/rebind and delete/re-add with nothing leaked, and its
//! port claim keeps a second driver out. COM1 is the PC's: x86_64 only for now (riscv64's
//! `ns16550a` is the devicetree's).

#![no_std]
#![no_main]

extern crate alloc;

use kernel::kernel_test;

kernel::only_on!(x86_64, {
    use alloc::sync::Arc;
    use alloc::vec::Vec;

    use drivermodel::context::Core;
    use drivermodel::event::EventKind;
    use drivermodel::resource::{IoPortRange, Resource};
    use drivermodel::{Device, DeviceBuilder, Devres, Driver, IdEntry};
    use kernel::arch::io::{self, PortWindow, Span};
    use kernel::arch::irq;
    use kernel::bus::Claim;
    use kernel::bus::platform::{self, Platform};
    use kernel::devices::{self, model};
    use kernel::drivers::uart16550;
    use kernel::test::Failure;
    use kernel::{check, check_eq, console, fail, println};
});

kernel::test_main!();

kernel::only_on!(x86_64, {
    const UART: &str = "uart16550.0";

    fn uart() -> Result<drivermodel::ARef<Device>, Failure> {
        model()
            .find_device(Some(platform::BUS_NAME), UART)
            .ok_or_else(|| Failure::new(format_args!("{UART} not registered")))
    }

    fn sink_is_uart() -> bool {
        console::sink_name().is_some_and(|name| name.as_str() == UART)
    }

    /// Who holds COM1's ports, if anyone.
    fn com1_owner() -> Option<kernel::text::FixedString<64>> {
        let mut owner = None;
        io::for_each_claim(|span, name| {
            if span
                == (Span::Ports {
                    start: 0x3f8,
                    length: 8,
                })
            {
                owner = Some(kernel::text::FixedString::from_fmt(format_args!("{name}")));
            }
        });
        owner
    }

    /// Whether IRQ 4 is free (by taking and dropping it).
    fn irq4_free() -> bool {
        irq::request(4, Arc::new(|| {})).is_ok()
    }

    /// Sends bytes through the UART in loopback and checks they come back by interrupt.
    fn check_receive(bytes: &[u8]) -> Result<(), Failure> {
        while console::read_queued_input().is_some() {}
        match uart16550::loopback(bytes, 1_000_000) {
            Ok(count) => check_eq!(count, bytes.len()),
            Err(error) => fail!("loopback: {error:?}"),
        }
        let mut received = Vec::new();
        while let Some(input) = console::read_queued_input() {
            match input {
                console::Input::Byte(byte) => received.push(byte),
                console::Input::Lost { count } => fail!("{count} byte(s) lost in loopback"),
            }
        }
        check_eq!(received.as_slice(), bytes);
        Ok(())
    }
});

kernel_test! {
    /// After boot the UART driver is bound, is the console, and holds COM1's ports and
    /// IRQ 4; output goes through it.
    #[only_on(x86_64)]
    fn uart_is_the_console_after_boot() {
        let uart = uart()?;
        check_eq!(uart.driver_name().as_deref(), Some(uart16550::DRIVER_NAME));
        check!(sink_is_uart());
        check!(com1_owner().is_some_and(|owner| owner.as_str() == "uart16550 uart16550.0"));
        check!(!irq4_free());
        let before = console::sink_bytes();
        println!("# through the driver");
        check!(console::sink_bytes() > before);
    }
}

kernel_test! {
    /// Received bytes arrive by interrupt (UART loopback) in the console input.
    #[only_on(x86_64)]
    fn receive_is_interrupt_driven() {
        let (_, interrupts_before) = uart16550::receive_statistics();
        check_receive(b"hello, shell")?;
        let (_, interrupts_after) = uart16550::receive_statistics();
        check!(interrupts_after > interrupts_before);
    }
}

kernel_test! {
    /// Unbind falls back to the early port and releases ports and IRQ; rebind takes the
    /// console back; three rounds, and the leak check (heap, devices, bindings, devres)
    /// passes around the whole test.
    #[only_on(x86_64)]
    fn unbind_and_rebind_keep_the_console_working() {
        let uart = uart()?;
        for round in 0..3 {
            let removes = uart16550::remove_count();
            check!(model().unbind(&uart).is_ok());
            check_eq!(uart16550::remove_count(), removes + 1);
            check!(console::sink_name().is_none());
            check!(com1_owner().is_none(), "ports still claimed after unbind");
            check!(irq4_free(), "IRQ 4 still taken after unbind");
            let before = console::sink_bytes();
            println!("# round {round}: unbound, printing through the early port");
            check_eq!(console::sink_bytes(), before);
            check!(model().bind(&uart).is_ok());
            check!(sink_is_uart());
            println!("# round {round}: rebound");
            check!(console::sink_bytes() > before);
            check_receive(b"again")?;
        }
    }
}

kernel_test! {
    /// Deleting the bound UART device runs the driver's remove and its devres (console,
    /// IRQ, ports released), in the documented event order; re-adding it from the board
    /// table binds it again.
    #[only_on(x86_64)]
    fn delete_while_bound_runs_remove_and_devres() {
        let removes = uart16550::remove_count();
        let since = devices::event_count();
        let registered = model().counts().registered_devices;
        let objects = model().counts().devices;
        if let Err(error) = platform::delete(UART) {
            fail!("delete: {error}");
        }
        check_eq!(uart16550::remove_count(), removes + 1);
        // The console's handles (its sink's, the self-test's) keep no device object
        // alive, and fail once the binding is gone.
        check_eq!(model().counts().devices, objects - 1);
        check!(matches!(
            uart16550::loopback(b"x", 1_000),
            Err(uart16550::LoopbackError::NotBound)
        ));
        check!(console::sink_name().is_none());
        check!(com1_owner().is_none());
        check!(irq4_free());
        check!(model().find_device(Some(platform::BUS_NAME), UART).is_none());
        check_eq!(model().counts().registered_devices, registered - 1);
        let mut kinds = Vec::new();
        devices::events(since, |event| {
            if event.path.as_str().ends_with(UART) {
                kinds.push(event.kind);
            }
        });
        check_eq!(kinds, [EventKind::Delete, EventKind::Unbind, EventKind::Unbound, EventKind::Removed].to_vec());
        check!(platform::delete(UART).is_err(), "a second delete must fail");
        if let Err(error) = platform::add(model(), UART) {
            fail!("re-add: {error}");
        }
        check!(sink_is_uart());
        check_receive(b"back")?;
    }
}

kernel::only_on!(x86_64, {
    /// A driver for a made-up platform device that describes COM1's ports too.
    struct Thief;

    struct ThiefState {
        _ports: Devres<PortWindow>,
    }

    static THIEF_TABLE: [IdEntry<&str, ()>; 1] = [IdEntry::new("thief", ())];

    impl Driver for Thief {
        type Bus = Platform;
        type IdInfo = ();
        type State = ThiefState;

        fn name(&self) -> &str {
            "thief"
        }

        fn id_table(&self) -> &[IdEntry<&'static str, ()>] {
            &THIEF_TABLE
        }

        fn probe(&self, device: &Device<Core>, _info: &()) -> drivermodel::Result<ThiefState> {
            let ports = device
                .io_ports(0)
                .ok_or_else(|| drivermodel::Error::driver("no ports"))?;
            Ok(ThiefState {
                _ports: device.claim_io(ports)?,
            })
        }
    }
});

kernel_test! {
    /// Two drivers cannot claim the same ports: the second probe fails naming the owner,
    /// changes nothing, and succeeds once the first binding (and its devres) is gone.
    #[only_on(x86_64)]
    fn double_claim_is_refused() {
        let driver = model().register_driver(Thief).map_err(|error| Failure::new(format_args!("{error}")))?;
        let ports = IoPortRange::new(0x3f8, 8).map_err(|error| Failure::new(format_args!("{error}")))?;
        let thief = model()
            .add_device(DeviceBuilder::new("thief.0").bus(platform::BUS_NAME).resource(Resource::IoPorts(ports)))
            .map_err(|error| Failure::new(format_args!("{error}")))?;
        // Added while the UART holds the ports: its automatic probe failed.
        check!(!thief.is_bound());
        match model().bind(&thief) {
            Err(drivermodel::Error::ResourceBusy { resource, owner }) => {
                check_eq!(resource, Resource::IoPorts(ports));
                check_eq!(owner.as_str(), "uart16550 uart16550.0");
            }
            Err(other) => fail!("not a resource conflict: {other}"),
            Ok(()) => fail!("the second claim was granted"),
        }
        check!(sink_is_uart());
        check!(com1_owner().is_some_and(|owner| owner.as_str() == "uart16550 uart16550.0"));
        let uart = uart()?;
        check!(model().unbind(&uart).is_ok());
        check!(model().bind(&thief).is_ok());
        check!(com1_owner().is_some_and(|owner| owner.as_str() == "thief thief.0"));
        check!(model().bind(&uart).is_err(), "the UART bound over the thief's claim");
        check!(console::sink_name().is_none());
        drop(thief);
        check!(com1_owner().is_none());
        check!(model().bind(&uart).is_ok());
        check!(sink_is_uart());
        drop(driver);
    }
}

kernel_test! {
    /// The arch claim table: overlaps are refused, free ranges granted and given back,
    /// invalid ranges and RAM refused.
    #[only_on(x86_64)]
    fn arch_claims_are_exclusive_and_checked() {
        let claimed = io::claim_ports(0x3f8, 1, "test");
        check!(matches!(claimed, Err(io::ClaimError::Conflict { .. })));
        let free = io::claim_ports(0x2f8, 8, "test");
        check!(free.is_ok());
        drop(free);
        check!(matches!(io::claim_ports(0xfffc, 8, "test"), Err(io::ClaimError::Invalid { .. })));
        check!(matches!(io::claim_mmio(0x10_0000, 4096, "test"), Err(io::ClaimError::NotDeviceMemory { .. })));
    }
}

kernel_test! {
    /// A suspend/resume round trip (children first, then back) keeps the console
    /// receiving by interrupt; while suspended, receive interrupts are off.
    #[only_on(x86_64)]
    fn suspend_and_resume_keep_receiving() {
        let suspends = uart16550::suspend_count();
        if let Err(error) = model().suspend_all() {
            fail!("suspend: {error}");
        }
        check_eq!(uart16550::suspend_count(), suspends + 1);
        while console::read_queued_input().is_some() {}
        // Suspended: the looped-back bytes raise no interrupt.
        check!(matches!(uart16550::loopback(b"zz", 20_000), Err(uart16550::LoopbackError::Timeout { received: 0 })));
        if let Err(error) = model().resume_all() {
            fail!("resume: {error}");
        }
        check!(sink_is_uart());
        check_receive(b"resumed")?;
    }
}

kernel_test! {
    /// With the model's debug re-probe mode on, a bind runs probe, remove and probe again
    /// (teardown exercised), and the console comes out working.
    #[only_on(x86_64)]
    fn debug_reprobe_exercises_remove() {
        let uart = uart()?;
        check!(model().unbind(&uart).is_ok());
        let removes = uart16550::remove_count();
        model().set_debug_reprobe(true);
        let bound = model().bind(&uart);
        model().set_debug_reprobe(false);
        check!(bound.is_ok(), "{bound:?}");
        check_eq!(uart16550::remove_count(), removes + 1);
        check!(sink_is_uart());
        check_receive(b"reprobed")?;
    }
}

kernel_test! {
    /// The MADT was read at boot: the I/O APIC and the ISA overrides QEMU declares
    /// (IRQ 0 on GSI 2); COM1's IRQ 4 is identity-routed, edge, active high.
    #[only_on(x86_64)]
    fn madt_routes_isa_lines() {
        let Some(routing) = kernel::arch::acpi::interrupt_routing() else {
            fail!("no MADT routing read at boot");
        };
        check_eq!(routing.io_apic_base, 0xfec0_0000);
        check_eq!(routing.isa[0].gsi, 2);
        check_eq!(routing.isa[4], kernel::arch::acpi::IsaRoute { gsi: 4, active_low: false, level: false });
    }
}

kernel_test! {
    /// A full input ring keeps its last slot for a loss mark: the bytes before it arrive,
    /// the mark says how many were dropped, and the counters agree.
    #[only_on(x86_64)]
    fn a_full_ring_marks_the_loss_where_it_happened() {
        while console::read_queued_input().is_some() {}
        let before = console::input_statistics();
        let extra = 10;
        for index in 0..console::INPUT_CAPACITY + extra {
            console::push_input(b'a' + (index % 26) as u8);
        }
        check_eq!(console::input_room(), 0);
        let mut bytes = 0;
        let mut marks = Vec::new();
        while let Some(input) = console::read_queued_input() {
            match input {
                console::Input::Byte(byte) => {
                    check!(marks.is_empty(), "byte after the loss mark");
                    check_eq!(byte, b'a' + (bytes % 26) as u8);
                    bytes += 1;
                }
                console::Input::Lost { count } => marks.push(count),
            }
        }
        check_eq!(bytes, console::INPUT_CAPACITY - 1);
        check_eq!(marks.as_slice(), &[extra as u32 + 1]);
        let after = console::input_statistics();
        check_eq!(after.received - before.received, bytes as u64);
        check_eq!(after.dropped - before.dropped, extra as u64 + 1);
    }
}

// The bochs display is a PC device.
kernel::only_on!(x86_64, {
    /// Draws every console line on the bochs display (as the boot demo's log does) and
    /// checks, inside the draw, that the timer still ticks.
    struct DrawingSink {
        console: spin::Mutex<kernel::drm::clients::log::Console>,
        /// Draws during which a timer tick arrived / draws in all.
        ticked: core::sync::atomic::AtomicU32,
        draws: core::sync::atomic::AtomicU32,
    }

    impl console::Sink for DrawingSink {
        fn name(&self) -> &str {
            "test-display"
        }

        fn write_bytes(&self, text: &[u8]) -> bool {
            use core::sync::atomic::Ordering::Relaxed;
            let Some(mut console) = self.console.try_lock() else {
                return true;
            };
            let drawn = console
                .write_text(core::str::from_utf8(text).unwrap_or("?"))
                .is_ok();
            // With interrupts on, a tick arrives within a timer period; with them off it
            // never does. Two seconds of counter time is a bound, not a speed check.
            let ticks = kernel::arch::timer::ticks();
            let deadline = kernel::arch::time::counter() + 2 * kernel::arch::time::counter_hz();
            while kernel::arch::timer::ticks() == ticks && kernel::arch::time::counter() < deadline
            {
                core::hint::spin_loop();
            }
            if kernel::arch::timer::ticks() != ticks {
                self.ticked.fetch_add(1, Relaxed);
            }
            self.draws.fetch_add(1, Relaxed);
            drawn
        }
    }
});

kernel_test! {
    /// A display console draws with interrupts on, so the UART's receive interrupt gets
    /// in while a line is drawn; prints the longest interrupts-off section of console
    /// output, with the display console drawing, as a diagnostic.
    #[only_on(x86_64)]
    fn display_console_draws_with_interrupts_on() {
        use core::sync::atomic::Ordering::Relaxed;
        let Some(display) = kernel::drivers::bochs::displays().into_iter().next() else {
            fail!("no bochs display");
        };
        let opened = kernel::drm::clients::log::Console::new(&display, None, None);
        let console = match opened {
            Ok(console) => console,
            Err(error) => fail!("console: {error}"),
        };
        let sink = Arc::new(DrawingSink {
            console: spin::Mutex::new(console),
            ticked: core::sync::atomic::AtomicU32::new(0),
            draws: core::sync::atomic::AtomicU32::new(0),
        });
        let registration = match console::register(sink.clone()) {
            Ok(registration) => registration,
            Err(error) => fail!("register: {error}"),
        };
        console::reset_interrupts_off();
        let lines = 20;
        for line in 0..lines {
            kernel::println!("# console line {line}: the quick brown fox jumps over the lazy dog 0123456789");
        }
        let longest = console::longest_interrupts_off_micros();
        let (sections, mean) = console::interrupts_off_sections();
        drop(registration);
        let mode = sink.console.lock().mode();
        kernel::println!(
            "# interrupts-off: longest console-output section {longest} us, mean {mean} us over {sections} sections, {lines} lines drawn on {}x{} ({} draws, {} saw a timer tick)",
            mode.width(),
            mode.height(),
            sink.draws.load(Relaxed),
            sink.ticked.load(Relaxed)
        );
        check!(sink.draws.load(Relaxed) >= lines);
        check_eq!(sink.ticked.load(Relaxed), sink.draws.load(Relaxed));
    }
}

kernel_test! {
    /// Made-up firmware values are checked before use: a MADT fed to the parser with an
    /// I/O APIC inside RAM and an override to GSI 99 parses, and the checks the boot path
    /// applies set both aside (as they do a misaligned or unmapped base and a local APIC
    /// base outside the identity map), keeping the PC defaults.
    #[only_on(x86_64)]
    fn made_up_firmware_values_are_checked() {
        use kernel::arch::acpi::{self, Doubt};
        use kernel::arch::apic;
        let mut table = Vec::from([0_u8; 66]);
        table[0..4].copy_from_slice(b"APIC");
        table[4..8].copy_from_slice(&66_u32.to_le_bytes());
        table[36..40].copy_from_slice(&0xfee0_0000_u32.to_le_bytes());
        // I/O APIC 0 at 0x100000 (RAM), GSI base 0.
        table[44..48].copy_from_slice(&[1, 12, 0, 0]);
        table[48..52].copy_from_slice(&0x0010_0000_u32.to_le_bytes());
        // Override: ISA IRQ 4 to GSI 99, conforming flags.
        table[56..60].copy_from_slice(&[2, 10, 0, 4]);
        table[60..64].copy_from_slice(&99_u32.to_le_bytes());
        let Some(routing) = acpi::parse_madt(table.as_ptr() as u64, 66) else {
            fail!("the made-up MADT did not parse");
        };
        check_eq!(routing.io_apic_base, 0x10_0000);
        check_eq!(routing.isa[4].gsi, 99);
        check_eq!(routing.isa[3].gsi, 3);
        let memory = kernel::arch::platform::memory_map().unwrap_or(&[]);
        check!(!memory.is_empty());
        check_eq!(irq::checked_io_apic_base(Some(routing.io_apic_base), memory), Err(Doubt::IoApicBase { base: 0x10_0000, reason: "is inside RAM" }));
        check!(matches!(irq::checked_io_apic_base(Some(0x1_0000_0000), memory), Err(Doubt::IoApicBase { reason: "is outside the identity map", .. })));
        check!(matches!(irq::checked_io_apic_base(Some(0xfec0_0004), memory), Err(Doubt::IoApicBase { reason: "is not aligned", .. })));
        check_eq!(irq::checked_io_apic_base(Some(0xfec0_0000), memory), Ok(0xfec0_0000));
        check_eq!(irq::checked_io_apic_base(None, memory), Ok(0xfec0_0000));
        check_eq!(irq::checked_route(4, routing.isa[4], 24), Err(Doubt::OverrideBeyondIoApic { line: 4, gsi: 99, inputs: 24 }));
        check_eq!(irq::checked_route(3, routing.isa[3], 24), Ok(routing.isa[3]));
        check!(matches!(apic::checked_local_apic_base(0x1_0000_0000_0000, memory), Err(Doubt::LocalApicBase { reason: "is outside the identity map", .. })));
        check!(matches!(apic::checked_local_apic_base(0x20_0000, memory), Err(Doubt::LocalApicBase { reason: "is inside RAM", .. })));
        check_eq!(apic::checked_local_apic_base(0xfee0_0000, memory), Ok(0xfee0_0000));
        let message = alloc::format!("{}", Doubt::OverrideBeyondIoApic { line: 4, gsi: 99, inputs: 24 });
        check!(message.contains("IRQ 4 to GSI 99") && message.contains("24 inputs"), "{message}");
        // The boot path kept QEMU's sane values: COM1's IRQ 4 still arrives.
        check_receive(b"checked")?;
    }
}
