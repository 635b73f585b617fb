//! The devicetree platform (issue 13, in the crate) against blobs dumped by QEMU
//! (`tests/fixtures/README.md` says how each was made), made-up boards and malformed
//! blobs.

use drivermodel::context::Core;
use drivermodel::devicetree::{self, Bus, Population};
use drivermodel::property::PropertyError;
use drivermodel::resource::Resource;
use drivermodel::testing::Log;
use drivermodel::{Device, DeviceModel, Driver, Error, IdEntry, Result};

const RISCV: &[u8] = include_bytes!("fixtures/qemu-riscv64-virt.dtb");
const AARCH64: &[u8] = include_bytes!("fixtures/qemu-aarch64-virt.dtb");
const BOARD: &[u8] = include_bytes!("fixtures/board.dtb");

/// Binds the `compatible` strings it lists, each with a number as per-entry data, and
/// logs `probe:<driver>:<device>:<data>` and `remove:<driver>:<device>`.
struct Recorder {
    name: &'static str,
    ids: Vec<IdEntry<&'static str, u32>>,
    log: Log,
}

struct Bound {
    entry: String,
    log: Log,
}

impl Drop for Bound {
    fn drop(&mut self) {
        self.log.push(self.entry.clone());
    }
}

impl Driver for Recorder {
    type Bus = Bus;
    type IdInfo = u32;
    type State = Bound;

    fn name(&self) -> &str {
        self.name
    }

    fn id_table(&self) -> &[IdEntry<&'static str, u32>] {
        &self.ids
    }

    fn probe(&self, device: &Device<Core>, data: &u32) -> Result<Bound> {
        let name = device.name();
        self.log.push(format!("probe:{}:{name}:{data}", self.name));
        Ok(Bound {
            entry: format!("remove:{}:{name}", self.name),
            log: self.log.clone(),
        })
    }
}

fn recorder(name: &'static str, ids: &[(&'static str, u32)], log: &Log) -> Recorder {
    Recorder {
        name,
        ids: ids
            .iter()
            .map(|&(id, data)| IdEntry::new(id, data))
            .collect(),
        log: log.clone(),
    }
}

fn model() -> DeviceModel {
    let model = DeviceModel::new();
    model.register_bus(Bus::new("platform")).unwrap();
    model
}

fn names(population: &Population) -> Vec<String> {
    let mut names: Vec<String> = population
        .devices()
        .map(|device| device.name().into())
        .collect();
    names.sort();
    names
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
    names.sort();
    names
}

#[test]
fn riscv64_virt_populates_its_devices() {
    let model = model();
    let population = devicetree::populate(&model, RISCV, "platform").unwrap();
    assert_eq!(
        names(&population),
        sorted(&[
            "100000.test",
            "101000.rtc",
            "10000000.serial",
            "10001000.virtio_mmio",
            "10002000.virtio_mmio",
            "10003000.virtio_mmio",
            "10004000.virtio_mmio",
            "10005000.virtio_mmio",
            "10006000.virtio_mmio",
            "10007000.virtio_mmio",
            "10008000.virtio_mmio",
            "10100000.fw-cfg",
            "2000000.clint",
            "20000000.flash",
            "30000000.pci",
            "platform-bus@4000000",
            "c000000.plic",
            "pmu",
            "poweroff",
            "reboot",
            "soc",
        ])
    );
    let serial = population.find("/soc/serial@10000000").unwrap();
    assert_eq!(serial.parent().unwrap().name(), "soc");
    assert_eq!(serial.bus_name(), Some("platform"));
    assert!(population.console().unwrap().same_as(serial));
    assert_eq!(population.console_options(), None);
    let mmio = serial.mmio(0).unwrap();
    assert_eq!((mmio.start(), mmio.length()), (0x1000_0000, 0x100));
    let interrupt = serial.interrupt(0).unwrap();
    assert_eq!(interrupt.cells(), [10]);
    let plic = population.find("/soc/plic@c000000").unwrap();
    assert!(
        interrupt
            .controller()
            .unwrap()
            .device()
            .unwrap()
            .same_as(plic)
    );
    assert_eq!(serial.read_u32("clock-frequency"), Ok(3_686_400));
    assert_eq!(serial.read_string("compatible"), Ok("ns16550a"));
    let parent = serial.read_reference("interrupt-parent", 0).unwrap();
    assert!(parent.device().same_as(plic));
    drop(parent);
    // The PLIC's parents are the CPU's local interrupt controller: no device, a name.
    let local = plic.interrupt(0).unwrap();
    assert_eq!(
        local.controller().unwrap().name(),
        "/cpus/cpu@0/interrupt-controller"
    );
    assert_eq!(local.cells(), [11]);
    assert_eq!(plic.interrupt(1).unwrap().cells(), [9]);
    assert_eq!(
        plic.read_reference("interrupts-extended", 0).map(|_| ()),
        Err(Error::Property {
            property: "interrupts-extended".into(),
            problem: PropertyError::Dangling
        })
    );
    // Each interrupt consumer of the PLIC links to it; poweroff and reboot to the
    // syscon through `regmap` are not a fw_devlink property.
    let consumers: Vec<&str> = population
        .links()
        .map(|(consumer, supplier)| {
            assert!(supplier.same_as(plic));
            consumer.name()
        })
        .collect();
    assert_eq!(consumers.len(), 10, "{consumers:?}"); // rtc, serial, 8 virtio slots
    let virtio = population.find("/soc/virtio_mmio@10008000").unwrap();
    assert_eq!(virtio.interrupt(0).unwrap().cells(), [8]);
    assert_eq!(
        devicetree::node(virtio).unwrap().path(),
        "/soc/virtio_mmio@10008000"
    );
    let pci = population.find("/soc/pci@30000000").unwrap();
    assert_eq!(pci.mmio(0).unwrap().length(), 0x1000_0000);
    drop(population);
    assert!(model.is_quiescent());
}

#[test]
fn aarch64_virt_links_clock_consumers_and_knows_the_root_controller() {
    let model = model();
    let population = devicetree::populate(&model, AARCH64, "platform").unwrap();
    let uart = population.find("/pl011@9000000").unwrap();
    assert_eq!(uart.name(), "9000000.pl011");
    assert_eq!(uart.read_strings("compatible").unwrap().len(), 2);
    // Three cells on the GIC: SPI 1, level high.
    assert_eq!(uart.interrupt(0).unwrap().cells(), [0, 1, 4]);
    let gic = population.find("/intc@8000000").unwrap();
    assert!(
        uart.interrupt(0)
            .unwrap()
            .controller()
            .unwrap()
            .device()
            .unwrap()
            .same_as(gic)
    );
    let clock = population.find("/apb-pclk").unwrap();
    assert!(
        uart.read_reference("clocks", 1)
            .unwrap()
            .device()
            .same_as(clock)
    );
    let suppliers: Vec<&str> = population
        .links()
        .filter(|(consumer, _)| consumer.same_as(uart))
        .map(|(_, supplier)| supplier.name())
        .collect();
    assert_eq!(suppliers.len(), 2, "{suppliers:?}");
    assert!(suppliers.contains(&"apb-pclk") && suppliers.contains(&"8000000.intc"));
    // The GIC inherits `interrupt-parent` from the root, naming itself: the root
    // controller, neither a link nor an error.
    assert!(
        !population
            .links()
            .any(|(consumer, _)| consumer.same_as(gic))
    );
    assert!(population.console().unwrap().same_as(uart));
    drop(population);
    assert!(model.is_quiescent());
}

#[test]
fn board_names_translation_disabled_nodes_and_console() {
    let model = model();
    let population = devicetree::populate(&model, BOARD, "platform").unwrap();
    assert_eq!(
        names(&population),
        sorted(&[
            "bus@40000000",
            "40000100.serial",
            "bus@40000000:keys",
            "50000000.gpio",
            "50001000.clock-controller",
            "50002000.reset-controller",
            "50003000.interrupt-controller",
            "local-bus",
            "regulator",
            "10.timer",
        ])
    );
    // `ranges = <0x0 0x40000000 0x10000>`: 0x100 on the bus is 0x40000100.
    let serial = population.find("/bus@40000000/serial@100").unwrap();
    assert_eq!(serial.mmio(0).unwrap().start(), 0x4000_0100);
    assert_eq!(serial.read_u32("reg-shift"), Ok(2));
    // A bus without `ranges` has no CPU addresses: named by the bus address, no MMIO.
    let timer = population.find("/local-bus/timer@10").unwrap();
    assert_eq!(timer.mmio(0), None);
    // Disabled: the node, and a disabled bus with its subtree.
    assert!(population.find("/bus@40000000/serial@200").is_none());
    assert!(population.find("/disabled-bus/child@0").is_none());
    // stdout-path through an alias, with options; the node knows it is the console
    // (what a UART's probe asks), and no other node thinks it is.
    assert!(population.console().unwrap().same_as(serial));
    assert_eq!(population.console_options(), Some("115200n8"));
    let stdout: Vec<&str> = population
        .devices()
        .filter(|device| devicetree::node(device).unwrap().is_stdout())
        .map(|device| device.name())
        .collect();
    assert_eq!(stdout, ["40000100.serial"]);
    // The serial consumes its clock, reset, regulator and interrupt controller; the
    // keys device consumes the GPIO controller its child node references.
    let mut serial_suppliers: Vec<&str> = population
        .links()
        .filter(|(consumer, _)| consumer.same_as(serial))
        .map(|(_, supplier)| supplier.name())
        .collect();
    serial_suppliers.sort();
    assert_eq!(
        serial_suppliers,
        [
            "50001000.clock-controller",
            "50002000.reset-controller",
            "50003000.interrupt-controller",
            "regulator"
        ]
    );
    let keys = population.find("/bus@40000000/keys").unwrap();
    assert!(
        population.links().any(
            |(consumer, supplier)| consumer.same_as(keys) && supplier.name() == "50000000.gpio"
        )
    );
    let clock = serial.read_reference("clocks", 0).unwrap();
    assert_eq!(clock.args().iter().collect::<Vec<_>>(), [1]);
    drop(clock);
    drop(population);
    assert!(model.is_quiescent());
}

/// Suppliers come after their consumers in the blob: the links still make the
/// consumers probe after them and unbind before them.
#[test]
fn consumers_probe_after_suppliers_and_unbind_before_them() {
    let model = model();
    let log = Log::new();
    let drivers = [
        model
            .register_driver(recorder("uart", &[("ns16550a", 1)], &log))
            .unwrap(),
        model
            .register_driver(recorder("clock", &[("example,clock", 2)], &log))
            .unwrap(),
        model
            .register_driver(recorder("reset", &[("example,reset", 3)], &log))
            .unwrap(),
        model
            .register_driver(recorder("regulator", &[("regulator-fixed", 4)], &log))
            .unwrap(),
        model
            .register_driver(recorder("intc", &[("example,intc", 5)], &log))
            .unwrap(),
    ];
    let population = devicetree::populate(&model, BOARD, "platform").unwrap();
    let probes = log.take();
    let position = |entry: &str| {
        probes
            .iter()
            .position(|probed| probed.starts_with(entry))
            .unwrap()
    };
    let uart = position("probe:uart:40000100.serial");
    assert!(position("probe:clock:") < uart, "{probes:?}");
    assert!(position("probe:reset:") < uart, "{probes:?}");
    assert!(position("probe:regulator:") < uart, "{probes:?}");
    assert!(position("probe:intc:") < uart, "{probes:?}");
    // The reset controller consumes the clock too.
    assert!(
        position("probe:clock:") < position("probe:reset:"),
        "{probes:?}"
    );
    let clock = population.find("/clock-controller@50001000").unwrap();
    model.unbind(clock).unwrap();
    assert_eq!(
        log.take(),
        [
            "remove:uart:40000100.serial",
            "remove:reset:50002000.reset-controller",
            "remove:clock:50001000.clock-controller"
        ]
    );
    drop(population);
    let removed = log.take();
    assert!(removed.len() == 2 && removed.iter().all(|entry| entry.starts_with("remove:")));
    drop(drivers);
    assert!(model.is_quiescent());
}

#[test]
fn the_most_specific_compatible_wins_with_its_entry_data() {
    let model = model();
    let log = Log::new();
    // The generic driver registers first and lists both strings; the specific one
    // lists the node's first `compatible` entry.
    let generic = model
        .register_driver(recorder(
            "generic",
            &[("ns16550a", 10), ("example,none", 11)],
            &log,
        ))
        .unwrap();
    let specific = model
        .register_driver(recorder("specific", &[("example,uart-v2", 20)], &log))
        .unwrap();
    let mut population = devicetree::populate(&model, BOARD, "platform").unwrap();
    // Nothing binds the serial's suppliers: it waits, until relaxed.
    let serial = population.find("/bus@40000000/serial@100").unwrap().clone();
    assert!(!serial.is_bound());
    assert!(serial.deferred_reason().is_some());
    // serial: clock, reset, regulator, interrupt controller; reset: clock; keys: GPIO;
    // GPIO: interrupt controller.
    assert_eq!(population.link_count(), 7);
    let relaxed = population.relax(&model);
    assert_eq!(relaxed, 7);
    assert_eq!(population.link_count(), 0);
    assert_eq!(serial.driver_name().as_deref(), Some("specific"));
    assert_eq!(log.take(), ["probe:specific:40000100.serial:20"]);
    // Without the specific driver, the generic one binds, with its own entry's data.
    drop(specific);
    model.bind(&serial).unwrap();
    assert_eq!(serial.driver_name().as_deref(), Some("generic"));
    assert_eq!(
        log.take(),
        [
            "remove:specific:40000100.serial",
            "probe:generic:40000100.serial:10"
        ]
    );
    drop((serial, population, generic));
    assert!(model.is_quiescent());
}

/// Each malformed blob is refused with a clear error, and the model is as it was: no
/// device, no link, no probe.
#[test]
fn malformed_blobs_register_nothing() {
    fn refused(blob: &[u8], expected_node: &str, expected: &str) {
        let model = model();
        let log = Log::new();
        let driver = model
            .register_driver(recorder(
                "any",
                &[("example,clock", 0), ("example,device", 0)],
                &log,
            ))
            .unwrap();
        let before = model.counts();
        let error = devicetree::populate(&model, blob, "platform").unwrap_err();
        match &error {
            Error::Devicetree { node, problem } => {
                assert_eq!(node, expected_node, "{error}");
                assert!(problem.contains(expected), "{error}");
            }
            other => panic!("expected a devicetree error, got {other:?}"),
        }
        assert_eq!(model.counts(), before, "{error}");
        assert!(
            model.devices().is_empty() && model.links().is_empty(),
            "{error}"
        );
        assert!(log.take().is_empty(), "{error}");
        drop(driver);
        assert!(model.is_quiescent());
    }

    let mut bad_magic = RISCV.to_vec();
    bad_magic[0] ^= 0xff;
    refused(&bad_magic, "/", "bad magic");
    refused(&RISCV[..RISCV.len() / 2], "/", "truncated");
    refused(&RISCV[..20], "/", "");
    // The strings block's offset (header word 3) past the end of the blob.
    let mut strings_out = RISCV.to_vec();
    strings_out[12..16].copy_from_slice(&0x00ff_0000u32.to_be_bytes());
    refused(&strings_out, "/", "");
    // The structure block's offset (header word 2) into the middle of a token.
    let mut structs_off = RISCV.to_vec();
    let offset = u32::from_be_bytes(structs_off[8..12].try_into().unwrap());
    structs_off[8..12].copy_from_slice(&(offset + 2).to_be_bytes());
    refused(&structs_off, "/", "");
    refused(
        include_bytes!("fixtures/reg-overflow.dtb"),
        "/device@1,0,0",
        "64 bits",
    );
    refused(
        include_bytes!("fixtures/reg-wraps.dtb"),
        "/device@ffffffff00000000",
        "wraps",
    );
    refused(include_bytes!("fixtures/cycle.dtb"), "/clock@1000", "cycle");
    refused(
        include_bytes!("fixtures/self-reference.dtb"),
        "/clock@1000",
        "itself",
    );
}

/// A failure after some devices were added (here a name already taken on the bus) is
/// rolled back: nothing stays registered.
#[test]
fn a_late_failure_is_rolled_back() {
    let model = model();
    let taken_name = model
        .add_device(drivermodel::DeviceBuilder::new("c000000.plic").bus("platform"))
        .unwrap();
    let before = model.counts();
    let error = devicetree::populate(&model, RISCV, "platform").unwrap_err();
    assert!(matches!(error, Error::NameTaken { .. }), "{error}");
    assert_eq!(model.counts(), before);
    assert_eq!(model.devices().len(), 1);
    assert!(model.links().is_empty());
    drop(taken_name);
    let error = devicetree::populate(&model, RISCV, "no-such-bus").unwrap_err();
    assert!(matches!(error, Error::UnknownBus { .. }), "{error}");
    assert!(model.is_quiescent());
}

#[test]
fn mmio_resources_come_in_reg_order() {
    let model = model();
    let population = devicetree::populate(&model, RISCV, "platform").unwrap();
    let flash = population.find("/flash@20000000").unwrap();
    let ranges: Vec<(u64, u64)> = flash
        .resources()
        .iter()
        .filter_map(|resource| match resource {
            Resource::Mmio(range) => Some((range.start(), range.length())),
            _ => None,
        })
        .collect();
    assert_eq!(
        ranges,
        [(0x2000_0000, 0x200_0000), (0x2200_0000, 0x200_0000)]
    );
    drop(population);
    assert!(model.is_quiescent());
}

#[test]
fn memory_ranges_for_an_early_heap() {
    let mut riscv = Vec::new();
    devicetree::memory(RISCV, |range| riscv.push((range.start(), range.length()))).unwrap();
    assert_eq!(riscv, [(0x8000_0000, 128 << 20)]);
    let mut aarch64 = Vec::new();
    devicetree::memory(AARCH64, |range| {
        aarch64.push((range.start(), range.length()))
    })
    .unwrap();
    assert_eq!(aarch64, [(0x4000_0000, 128 << 20)]);
    let mut bad_magic = RISCV.to_vec();
    bad_magic[0] ^= 0xff;
    let error = devicetree::memory(&bad_magic, |_| panic!("no range from a bad blob"));
    assert!(matches!(error, Err(Error::Devicetree { .. })), "{error:?}");
    assert!(devicetree::memory(&RISCV[..100], |_| ()).is_err());
}
