//! A bare-metal program that uses drivermodel the way a small kernel does, so that the
//! size report measures what the crate adds to a real binary (after the linker dropped
//! everything unreachable), not the size of an rlib.
//!
//! It is linked, never run: its heap is empty (a run would stop at the first allocation,
//! in the panic handler). Inputs go through `black_box` so the optimizer cannot fold the
//! model's work away.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::hint::black_box;

#[global_allocator]
static HEAP: linked_list_allocator::LockedHeap = linked_list_allocator::LockedHeap::empty();

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// The entry point the linker keeps (`_start` is its default entry symbol); everything
/// the binary holds is reachable from here.
// The symbol name is the linker's contract; nothing else in the program defines it.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    // The baseline: the allocator is used, so its code is not counted as drivermodel's.
    let mut values: Vec<Box<u32>> = Vec::with_capacity(black_box(2));
    values.push(Box::new(black_box(1)));
    black_box(&values);
    #[cfg(feature = "minimal")]
    black_box(uses::minimal().is_ok());
    #[cfg(feature = "full")]
    black_box(uses::full().is_ok());
    loop {
        core::hint::spin_loop();
    }
}

#[cfg(feature = "minimal")]
mod uses {
    use core::hint::black_box;

    use drivermodel::context::Core;
    use drivermodel::{
        Bus, Device, DeviceBuilder, DeviceModel, Devres, Driver, IdEntry, KeySet, Match, MatchKey,
        Result,
    };

    /// A platform bus: devices and IDs matched by name.
    pub struct Platform;

    impl Bus for Platform {
        type Id = &'static str;
        fn name(&self) -> &str {
            "platform"
        }
        fn id_key(&self, id: &&'static str) -> Option<MatchKey> {
            Some(MatchKey::from_name(id))
        }
        fn device_keys(&self, device: &Device) -> KeySet {
            KeySet::one(MatchKey::from_name(device.name()))
        }
        fn match_id(&self, device: &Device, id: &&'static str) -> Match {
            if device.name() == *id {
                Match::Yes { score: 1 }
            } else {
                Match::No
            }
        }
    }

    /// A UART driver holding its registers as devres.
    pub struct Uart;

    /// The driver's per-device state.
    pub struct Port {
        registers: Devres<usize>,
    }

    impl Driver for Uart {
        type Bus = Platform;
        type IdInfo = u32;
        type State = Port;
        fn name(&self) -> &str {
            "uart"
        }
        fn id_table(&self) -> &[IdEntry<&'static str, u32>] {
            static TABLE: [IdEntry<&'static str, u32>; 2] =
                [IdEntry::new("uart0", 0), IdEntry::new("uart1", 1)];
            &TABLE
        }
        fn probe(&self, device: &Device<Core>, info: &u32) -> Result<Port> {
            let info = *info;
            device.devres().add_action(move || {
                black_box(info);
            })?;
            Ok(Port {
                registers: Devres::new(device, black_box(0x1000_0000))?,
            })
        }
    }

    impl Drop for Port {
        fn drop(&mut self) {
            black_box(self.registers.try_access().map(|base| *base));
        }
    }

    /// Register, add (bind), access, unbind, rebind, delete: the core a small kernel uses.
    pub fn minimal() -> Result<DeviceModel> {
        let model = DeviceModel::new();
        model.register_bus(Platform)?;
        let driver = model.register_driver(Uart)?;
        let uart = model.add_device(DeviceBuilder::new(black_box("uart0")).bus("platform"))?;
        black_box(uart.device().is_bound());
        model.unbind(uart.device())?;
        model.bind(uart.device())?;
        black_box(
            model
                .find_device(Some("platform"), black_box("uart0"))
                .is_some(),
        );
        uart.delete()?;
        drop(driver);
        black_box(model.is_quiescent());
        Ok(model)
    }

    /// An executor that runs each asynchronous probe at once (a kernel's would queue it
    /// on another CPU): enough to link the `async-probe` paths.
    #[cfg(feature = "full")]
    struct RunAtOnce;

    #[cfg(feature = "full")]
    impl drivermodel::async_probe::Executor for RunAtOnce {
        fn spawn(
            &self,
            work: drivermodel::async_probe::Work,
        ) -> core::result::Result<(), drivermodel::async_probe::Work> {
            work.run();
            Ok(())
        }
    }

    /// The rest of the crate: links, power ordering, events, the text tree, faux devices,
    /// debug re-probe and asynchronous probe.
    #[cfg(feature = "full")]
    pub fn full() -> Result<()> {
        use drivermodel::driver::ProbeType;
        use drivermodel::faux;
        use drivermodel::link::LinkFlags;

        let model = minimal()?;
        model.set_executor(Some(alloc::sync::Arc::new(RunAtOnce)));
        model.force_probe_type(black_box(ProbeType::Asynchronous));
        let _subscription = model.subscribe(|event| {
            black_box(event);
        });
        model.set_debug_reprobe(black_box(true));
        let driver = model.register_driver(Uart)?;
        let uart0 = model.add_device(DeviceBuilder::new("uart0").bus("platform"))?;
        let uart1 = model.add_device(DeviceBuilder::new("uart1").bus("platform"))?;
        let link = model.add_link(uart1.device(), uart0.device(), LinkFlags::empty())?;
        let display = faux::Registration::new(&model, "display", Some(uart0.device()))?;
        black_box(
            Devres::new(display.device(), 0u64)?
                .try_access()
                .map(|value| *value),
        );
        model.suspend_all()?;
        model.resume_all()?;
        black_box(model.tree());
        black_box(model.find_by_path(black_box("/devices/platform/uart0")));
        model.remove_link(link)?;
        model.shutdown_all();
        model.wait_for_probes();
        drop(display);
        drop((uart1, uart0, driver));
        Ok(())
    }
}
