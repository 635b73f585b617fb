//! The riscv64 kernel's devices come from the firmware's devicetree through
//! drivermodel's devicetree platform: the shell's `tree` lists them with their drivers
//! (16550 on `ns16550a`, the PLIC, the PCIe host bridge with the bochs display behind
//! it, the `sifive,test` finisher), the console is the UART `/chosen/stdout-path` names,
//! and the device links order the UART after its interrupt controller. The early read
//! (the same `fdt` parser, before the heap) found what the bring-up needs. The PC has no
//! devicetree: riscv64 only.

#![no_std]
#![no_main]

extern crate alloc;

use kernel::kernel_test;

kernel::only_on!(riscv64, {
    use alloc::string::String;
    use alloc::sync::Arc;

    use drivermodel::{ARef, Device};
    use kernel::arch::{devicetree, irq};
    use kernel::bus::platform;
    use kernel::devices::model;
    use kernel::drivers::uart16550;
    use kernel::memory::MemoryKind;
    use kernel::test::Failure;
    use kernel::test::support::run_shell;
    use kernel::{check, check_eq, console, fail};
});

kernel::test_main!();

kernel::only_on!(riscv64, {
    const UART: &str = "10000000.serial";
    const PLIC: &str = "c000000.plic";

    fn device(name: &str) -> Result<ARef<Device>, Failure> {
        model()
            .find_device(Some(platform::BUS_NAME), name)
            .ok_or_else(|| Failure::new(format_args!("{name} not registered")))
    }

    /// The `tree` line of the device at `path`, if it is listed.
    fn tree_line(tree: &str, path: &str) -> Option<String> {
        tree.lines()
            .find(|line| line.split(' ').next() == Some(path))
            .map(String::from)
    }

    fn sink_is_uart() -> bool {
        console::sink_name().is_some_and(|name| name.as_str() == UART)
    }

    /// Sends bytes through the console UART in loopback: they come back through the
    /// PLIC's line 10 and the receive interrupt.
    fn check_receive(bytes: &[u8]) -> Result<(), Failure> {
        while console::read_queued_input().is_some() {}
        match uart16550::loopback(bytes, 1_000_000) {
            Ok(count) => check_eq!(count, bytes.len()),
            Err(error) => fail!("loopback: {error:?}"),
        }
        let mut received = alloc::vec::Vec::new();
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
    /// `tree` names the devicetree's devices (Linux-style, below `soc`) with the drivers
    /// that matched them by `compatible`, and the UART's link to its interrupt parent.
    #[only_on(riscv64)]
    fn tree_lists_devicetree_devices_with_their_drivers() {
        let tree = run_shell("tree");
        for (path, driver) in [
            ("/devices/platform/soc/10000000.serial", "uart16550"),
            ("/devices/platform/soc/c000000.plic", "plic"),
            ("/devices/platform/soc/30000000.pci", "pci-host-ecam-generic"),
            ("/devices/platform/soc/100000.test", "sifive-test"),
            ("/devices/platform/soc/30000000.pci/pci0000:00/0000:00:01.0", "bochs-drm"),
        ] {
            let Some(line) = tree_line(&tree, path) else {
                fail!("{path} not in the tree:\n{tree}");
            };
            check!(line.contains(&alloc::format!(" driver={driver} ")), "{line}");
        }
        let uart = tree_line(&tree, "/devices/platform/soc/10000000.serial").unwrap_or_default();
        check!(uart.contains(" suppliers=c000000.plic"), "{uart}");
        check!(uart.contains(" compatible=\"ns16550a\""), "{uart}");
        // Nodes without a driver are listed unbound; disabled or compatible-less nodes
        // (cpus, memory) are not devices.
        let rtc = tree_line(&tree, "/devices/platform/soc/101000.rtc").unwrap_or_default();
        check!(rtc.contains(" driver=- "), "{tree}");
        check!(!tree.contains("/cpus") && !tree.contains("memory@"), "{tree}");
        check!(tree.contains("/bus/platform/drivers/uart16550 devices=10000000.serial"), "{tree}");
        let show = run_shell("show 10000000.serial");
        check!(show.contains("resource: mmio 0x10000000..0x10000100"), "{show}");
        check!(show.contains("resource: interrupt <0xa> on c000000.plic"), "{show}");
        let claims = run_shell("claims");
        check!(claims.contains("MMIO 0x10000000..0x10000008 uart16550 10000000.serial"), "{claims}");
        check!(claims.contains("MMIO 0xc000000..0xc600000 plic c000000.plic"), "{claims}");
        check!(claims.contains("MMIO 0x30000000..0x40000000 pci bus (ECAM)"), "{claims}");
        check!(claims.contains("MMIO 0x100000..0x101000 sifive-test 100000.test"), "{claims}");
    }
}

kernel_test! {
    /// The console is the `ns16550a` that `/chosen/stdout-path` names, driven over MMIO
    /// by the one 16550 driver, receiving through the PLIC.
    #[only_on(riscv64)]
    fn the_console_is_the_stdout_path_uart() {
        check!(sink_is_uart());
        let before = console::sink_bytes();
        kernel::println!("# through the MMIO 16550");
        check!(console::sink_bytes() > before);
        check_receive(b"devicetree console")?;
        // PLIC line 10 is the UART's.
        check!(irq::request(10, Arc::new(|| {})).is_err());
    }
}

kernel_test! {
    /// Unbinding the PLIC unbinds its consumers first (the devicetree's links: the UART
    /// and the virtio slots): the console falls back to SBI, and no line can be taken;
    /// binding them all again brings the console and its receive interrupt back, with
    /// nothing leaked.
    #[only_on(riscv64)]
    fn the_uart_follows_its_interrupt_controller() {
        let (plic, uart) = (device(PLIC)?, device(UART)?);
        let bound: alloc::vec::Vec<ARef<Device>> = model()
            .devices()
            .into_iter()
            .filter(|device| device.bus_name() == Some(platform::BUS_NAME) && device.is_bound())
            .collect();
        check!(model().unbind(&plic).is_ok());
        check!(!uart.is_bound(), "the consumer outlived its supplier");
        check!(console::sink_name().is_none());
        check!(irq::request(10, Arc::new(|| {})).is_err(), "a line without a PLIC");
        check!(model().bind(&plic).is_ok());
        for device in &bound {
            if !device.is_bound() {
                check!(model().bind(device).is_ok(), "{} does not bind again", device.name());
            }
        }
        drop(bound);
        check!(sink_is_uart());
        check_receive(b"back")?;
    }
}

kernel_test! {
    /// The early read found the timebase, the exit device, the PCI I/O window and a
    /// memory map that keeps the blob and OpenSBI's `/reserved-memory` out of the RAM.
    #[only_on(riscv64)]
    fn the_early_read_finds_what_the_bring_up_needs() {
        let Some(facts) = devicetree::facts() else { fail!("no devicetree facts") };
        check_eq!(facts.timebase_hz, 10_000_000);
        check_eq!(facts.test_finisher, Some(0x10_0000));
        check_eq!(facts.pci_io, Some((0x300_0000, 0x1_0000)));
        let Some(blob) = devicetree::blob() else { fail!("no blob") };
        let (start, end) = (blob.as_ptr() as u64, blob.as_ptr() as u64 + blob.len() as u64);
        let map = facts.memory_map();
        let covering = |start: u64, end: u64, kind: MemoryKind| {
            map.iter().any(|region| region.kind == kind && region.start <= start && end <= region.end())
        };
        check!(covering(start, end, MemoryKind::Reserved), "blob {start:#x}..{end:#x} not reserved: {map:?}");
        // OpenSBI's own memory at the start of RAM (its `/reserved-memory` node).
        check!(covering(0x8000_0000, 0x8000_1000, MemoryKind::Reserved), "{map:?}");
        check!(!map.iter().any(|region| region.kind == MemoryKind::Ram && region.start < end && start < region.end()), "{map:?}");
    }
}

kernel_test! {
    /// The eight virtio-mmio slots of `virt` are bound to the transport driver, and each
    /// has a child on the virtio bus with the device ID its registers hold (0: empty,
    /// QEMU's vendor ID); unbinding a slot deletes its child, binding adds it again.
    #[only_on(riscv64)]
    fn virtio_mmio_slots_show_their_device_ids() {
        let tree = run_shell("tree");
        let mut slots = 0;
        for index in 1..=8 {
            let slot = alloc::format!("/devices/platform/soc/1000{index}000.virtio_mmio");
            let Some(line) = tree_line(&tree, &slot) else { fail!("{slot} missing:\n{tree}") };
            check!(line.contains(" driver=virtio-mmio "), "{line}");
            let child = tree.lines().find(|line| line.starts_with(&alloc::format!("{slot}/virtio")));
            let Some(child) = child else { fail!("{slot} has no virtio device:\n{tree}") };
            check!(child.contains(" bus=virtio driver=- "), "{child}");
            check!(child.contains(" device=\"empty\" device-id=0x0 vendor-id=0x554d4551 version=0x"), "{child}");
            slots += 1;
        }
        check_eq!(slots, 8);
        let slot = device("10001000.virtio_mmio")?;
        let children = || model().devices().into_iter().filter(|device| device.bus_name() == Some("virtio")).count();
        check_eq!(children(), 8);
        check!(model().unbind(&slot).is_ok());
        check_eq!(children(), 7);
        check!(!run_shell("claims").contains("MMIO 0x10001000..0x10002000"));
        check!(model().bind(&slot).is_ok());
        check_eq!(children(), 8);
        check!(run_shell("claims").contains("MMIO 0x10001000..0x10002000 virtio-mmio 10001000.virtio_mmio"));
    }
}
