//! Timing benchmarks of the driver model (`cargo bench -p drivermodel --bench drivermodel`).
//!
//! - `cycle`: a whole device lifetime (add → automatic match and probe taking three
//!   devres resources → delete, which unbinds and releases them), and a bind + unbind
//!   of an added device (same probe);
//! - `devres`: add + release of one resource (action, managed value), and the creation
//!   and drop of a `Devres<T>`;
//! - `access`: `Devres::try_access` and the proof-checked `Devres::access`;
//! - `matching`: with 10 / 1,000 / 100,000 registered drivers (one indexed ID each), a
//!   bind + unbind of a device matching one of them, and a bind that matches none (the
//!   pure lookup). With an indexed match, the three sizes should cost the same.
//!
//! The targets (bind/unbind cycle with three devres under 1 µs, devres add +
//! release under 60 ns, match at 100,000 drivers within 2x of 10 drivers) are for
//! reading the printed figures; nothing here asserts a time. Heap per device is in the
//! `heap` bench.

use divan::{Bencher, black_box};
use drivermodel::context::Core;
use drivermodel::{Device, DeviceBuilder, DeviceModel, Devres, Driver, IdEntry, Result, faux};

#[path = "../tests/common/compat_bus.rs"]
mod compat_bus;
use compat_bus::{Compat, CompatBus};

fn main() {
    divan::main();
}

/// What a probe takes.
#[derive(Clone, Copy)]
enum Resources {
    None,
    /// Three devres actions.
    ThreeActions,
    /// One action, one managed value and one `Devres<u64>` (kept in the state).
    Mixed,
}

struct BenchDriver {
    name: String,
    table: [IdEntry<u64, ()>; 1],
    resources: Resources,
}

impl BenchDriver {
    fn new(id: u64, resources: Resources) -> Self {
        Self {
            name: format!("drv{id}"),
            table: [IdEntry::new(id, ())],
            resources,
        }
    }
}

impl Driver for BenchDriver {
    type Bus = CompatBus;
    type IdInfo = ();
    type State = Option<Devres<u64>>;

    fn name(&self) -> &str {
        &self.name
    }

    fn id_table(&self) -> &[IdEntry<u64, ()>] {
        &self.table
    }

    fn probe(&self, device: &Device<Core>, _info: &()) -> Result<Self::State> {
        let devres = device.devres();
        match self.resources {
            Resources::None => Ok(None),
            Resources::ThreeActions => {
                devres.add_action(|| {})?;
                devres.add_action(|| {})?;
                devres.add_action(|| {})?;
                Ok(None)
            }
            Resources::Mixed => {
                devres.add_action(|| {})?;
                devres.alloc(0u64)?;
                Ok(Some(Devres::new(device, 7u64)?))
            }
        }
    }
}

fn model_with_bus() -> DeviceModel {
    let model = DeviceModel::new();
    model.register_bus(CompatBus).unwrap();
    model
}

fn device(name: &str, compat: u64) -> DeviceBuilder {
    DeviceBuilder::new(name)
        .bus(compat_bus::NAME)
        .data(Compat(compat))
}

mod cycle {
    use super::*;

    fn add_bind_unbind_delete(bencher: Bencher, resources: Resources) {
        let model = model_with_bus();
        let _driver = model
            .register_driver(BenchDriver::new(1, resources))
            .unwrap();
        bencher.bench_local(|| {
            let device = model.add_device(device("dev", 1)).unwrap();
            debug_assert!(device.is_bound());
            drop(black_box(device));
        });
        assert!(model.is_quiescent());
    }

    /// Add (match, probe: three devres actions) + delete (unbind, release, delete).
    #[divan::bench]
    fn add_bind_unbind_delete_three_actions(bencher: Bencher) {
        add_bind_unbind_delete(bencher, Resources::ThreeActions);
    }

    /// As above with an action, a managed value and a `Devres<u64>`.
    #[divan::bench]
    fn add_bind_unbind_delete_mixed(bencher: Bencher) {
        add_bind_unbind_delete(bencher, Resources::Mixed);
    }

    fn bind_unbind(bencher: Bencher, resources: Resources) {
        let model = model_with_bus();
        let _driver = model
            .register_driver(BenchDriver::new(1, resources))
            .unwrap();
        let device = model.add_device(device("dev", 1)).unwrap();
        model.unbind(&device).unwrap();
        bencher.bench_local(|| {
            model.bind(&device).unwrap();
            model.unbind(&device).unwrap();
        });
    }

    /// Bind (match, probe: three devres actions) + unbind (release) of an added device.
    #[divan::bench]
    fn bind_unbind_three_actions(bencher: Bencher) {
        bind_unbind(bencher, Resources::ThreeActions);
    }

    /// As above with an action, a managed value and a `Devres<u64>`.
    #[divan::bench]
    fn bind_unbind_mixed(bencher: Bencher) {
        bind_unbind(bencher, Resources::Mixed);
    }

    /// Bind + unbind with a probe that takes nothing: the core's own cost.
    #[divan::bench]
    fn bind_unbind_no_devres(bencher: Bencher) {
        bind_unbind(bencher, Resources::None);
    }
}

mod devres {
    use super::*;

    /// `add_action` + `release` of one action on a device.
    #[divan::bench]
    fn action_add_release(bencher: Bencher) {
        let model = DeviceModel::new();
        let device = model.add_device(DeviceBuilder::new("dev")).unwrap();
        let devres = device.devres();
        bencher.bench_local(|| {
            let key = devres.add_action(|| {}).unwrap();
            devres.release(black_box(key)).unwrap();
        });
    }

    /// `alloc` + `release` of one managed value.
    #[divan::bench]
    fn alloc_add_release(bencher: Bencher) {
        let model = DeviceModel::new();
        let device = model.add_device(DeviceBuilder::new("dev")).unwrap();
        let devres = device.devres();
        bencher.bench_local(|| {
            let key = devres.alloc(black_box(5u64)).unwrap();
            devres.release(black_box(key)).unwrap();
        });
    }

    /// Three actions added, then all released by an explicit group release.
    #[divan::bench]
    fn group_of_three_actions(bencher: Bencher) {
        let model = DeviceModel::new();
        let device = model.add_device(DeviceBuilder::new("dev")).unwrap();
        let devres = device.devres();
        bencher.bench_local(|| {
            let group = devres.open_group().unwrap();
            devres.add_action(|| {}).unwrap();
            devres.add_action(|| {}).unwrap();
            devres.add_action(|| {}).unwrap();
            devres.close_group(Some(group)).unwrap();
            devres.release_group(group).unwrap();
        });
    }

    /// `Devres::new` + drop (revoke, unlink) on a bound faux device.
    #[divan::bench]
    fn devres_new_drop(bencher: Bencher) {
        let model = DeviceModel::new();
        let faux = faux::Registration::new(&model, "faux", None).unwrap();
        bencher.bench_local(|| {
            drop(black_box(Devres::new(faux.device(), 5u64).unwrap()));
        });
    }
}

mod access {
    use super::*;

    #[divan::bench]
    fn try_access(bencher: Bencher) {
        let model = DeviceModel::new();
        let faux = faux::Registration::new(&model, "faux", None).unwrap();
        let value = Devres::new(faux.device(), 5u64).unwrap();
        bencher.bench_local(|| *black_box(&value).try_access().unwrap());
    }

    /// `access` with the bound-device proof (compares the proof, no atomics).
    #[divan::bench]
    fn access_with_proof(bencher: Bencher) {
        let model = DeviceModel::new();
        let faux = faux::Registration::new(&model, "faux", None).unwrap();
        let value = Devres::new(faux.device(), 5u64).unwrap();
        bencher.bench_local(|| *black_box(&value).access(faux.device()).unwrap());
    }
}

mod matching {
    use super::*;

    const SIZES: [u64; 3] = [10, 1_000, 100_000];

    /// A model with `count` drivers, driver `i` matching ID `i`.
    fn model_with_drivers(count: u64) -> (DeviceModel, Vec<impl Sized>) {
        let model = model_with_bus();
        let drivers = (0..count)
            .map(|id| {
                model
                    .register_driver(BenchDriver::new(id, Resources::None))
                    .unwrap()
            })
            .collect();
        (model, drivers)
    }

    /// Bind + unbind of a device matching driver `count / 2` (probe takes nothing).
    #[divan::bench(args = SIZES, sample_count = 200)]
    fn bind_unbind_among(bencher: Bencher, count: u64) {
        let (model, drivers) = model_with_drivers(count);
        let device = model.add_device(device("dev", count / 2)).unwrap();
        assert!(device.is_bound());
        model.unbind(&device).unwrap();
        bencher.bench_local(|| {
            model.bind(&device).unwrap();
            model.unbind(&device).unwrap();
        });
        drop(device);
        drop(drivers);
    }

    /// A bind that matches no driver: only the lookup.
    #[divan::bench(args = SIZES, sample_count = 200)]
    fn no_match_among(bencher: Bencher, count: u64) {
        let (model, drivers) = model_with_drivers(count);
        let device = model.add_device(device("dev", u64::MAX)).unwrap();
        bencher.bench_local(|| {
            let result = model.bind(black_box(&device));
            debug_assert!(result.is_err());
            result
        });
        drop(device);
        drop(drivers);
    }
}
