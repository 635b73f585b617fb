//! Resources a non-PC kernel needs (issue 10, point 9): interrupts that name their
//! controller and carry its specifier cells, and resource kinds the crate does not know.

use drivermodel::resource::{Controller, Interrupt, Irq, MmioRange, OtherResource, Resource};
use drivermodel::{DeviceBuilder, DeviceModel};

#[test]
fn interrupts_name_their_controller_without_keeping_it() {
    let model = DeviceModel::new();
    let gic = model.add_device(DeviceBuilder::new("8000000.gic")).unwrap();
    let spi = Interrupt::new(Some(Controller::of(&gic)), &[0, 1, 4]).unwrap();
    let local = Interrupt::new(
        Some(Controller::named("/cpus/cpu@0/interrupt-controller")),
        &[9],
    )
    .unwrap();
    let uart = model
        .add_device(
            DeviceBuilder::new("9000000.pl011")
                .resource(Resource::Mmio(MmioRange::new(0x900_0000, 0x1000).unwrap()))
                .resource(Resource::Interrupt(spi.clone()))
                .resource(Resource::Irq(Irq(4)))
                .resource(Resource::Interrupt(local))
                .resource(Resource::Other(
                    OtherResource::new("dma-channel", 2, 2).unwrap(),
                )),
        )
        .unwrap();
    assert_eq!(uart.interrupt(0), Some(&spi));
    assert_eq!(uart.interrupt(0).unwrap().cells(), [0, 1, 4]);
    let controller = uart.interrupt(0).unwrap().controller().unwrap();
    assert!(controller.device().unwrap().same_as(&gic));
    assert_eq!(controller.name(), "8000000.gic");
    let local = uart.interrupt(1).unwrap().controller().unwrap();
    assert!(local.device().is_none());
    assert_eq!(uart.irq(0), Some(Irq(4)));
    assert_eq!(uart.interrupt(2), None);
    let shown: Vec<String> = uart.resources().iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "mmio 0x9000000..0x9001000",
            "interrupt <0x0 0x1 0x4> on 8000000.gic",
            "irq 4",
            "interrupt <0x9> on /cpus/cpu@0/interrupt-controller",
            "dma-channel 0x2..0x4",
        ]
    );
    // The controller reference is weak: the controller goes when it is deleted.
    drop(gic);
    assert!(
        uart.interrupt(0)
            .unwrap()
            .controller()
            .unwrap()
            .device()
            .is_none()
    );
    drop((uart, spi));
    assert!(model.is_quiescent());
}
