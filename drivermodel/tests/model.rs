//! Model-based property test: random sequences of operations run against the real
//! driver model and against a small reference model, compared after **every** step.
//!
//! The operations ([`ops::Op`]): add / delete a device (with a parent, a compatible ID
//! and a probe plan: how many resources the probe takes, with which drivers it fails or
//! defers, whether its suspend fails, whether a successful probe adds a driver-owned
//! child device that the driver's remove deletes), hold / drop an extra reference, register / unregister a driver, bind /
//! bind to a named driver / unbind, retry deferred devices, set or clear a driver
//! override, and devres: add an action, an `add_action_or_reset`, a managed allocation,
//! a self-referencing action, keyed adds; open / close / release / remove a group;
//! release / destroy / remove by identity (generated key or shared key: the newest match
//! wins); `try_access` on and drop of the `Devres<T>` that probes create; device links
//! (add with each flag set the crate accepts and one it refuses, remove); `suspend_all`
//! (a device's plan may make its suspend fail), `resume_all`, `shutdown_all`; the debug
//! re-probe switch.
//!
//! After each step the test checks:
//!
//! - the operation's result (`Ok`, the error variant, a count, the accessed value);
//! - the log of everything the model ran on the test's behalf (probes, unbind hooks,
//!   driver state drops, devres releases of actions, values and `Devres` values, device
//!   release hooks, and the event stream) against the reference's prediction: exactly
//!   the same entries (so nothing is released twice and nothing is lost), in the same
//!   order per device (so devres is released LIFO), and the probe / unbind / remove
//!   entries in the same global order (so drivers bind in registration order, unregister
//!   newest-bound first, every successful bind retries the deferred devices, consumers
//!   unbind before their supplier, and power callbacks run in dependency order);
//! - the live counters (device objects, registered devices, bindings, devres nodes,
//!   drivers) and the deferred-device list;
//! - every reachable device's registered / bound state, bound driver, devres length,
//!   deferral and suspended flag; each driver's bound devices in binding order; the
//!   model's device list, its links and its power order.
//!
//! At the end the test deletes and drops everything; then the model must be quiescent,
//! every device object freed, and the reference agree.
//!
//! The reference model (`tests/model/reference.rs`) is the place to start reading.
//! Cases: 4,096 sequences of up to 40 operations on the host, 4 under Miri.

#[path = "model/fixture.rs"]
mod fixture;
#[path = "model/ops.rs"]
mod ops;
#[path = "model/real.rs"]
mod real;
#[path = "model/reference.rs"]
mod reference;

use std::collections::BTreeSet;

use drivermodel::DeviceModel;
use drivermodel::link::LinkFlags;
use fixture::{COMPATS, DRIVERS, Entry, Plan, SLOTS, driver_name};
use ops::{How, Kind, LINK_FLAGS, Op, Target};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};
use real::Real;
use reference::{Lifecycle, Reference};

const CASES: u32 = if cfg!(miri) { 4 } else { 4096 };
const MAX_STEPS: usize = 40;

fn plan() -> impl Strategy<Value = Plan> {
    // Mostly successful probes, so that bindings live long enough to be interesting.
    let mask = || prop_oneof![3 => Just(0u8), 1 => 0..8u8];
    let suspend_fails = prop_oneof![7 => Just(false), 1 => Just(true)];
    let child = prop_oneof![3 => Just(false), 1 => Just(true)];
    (
        0..=2u8,
        any::<bool>(),
        (mask(), mask(), mask()),
        suspend_fails,
        child,
    )
        .prop_map(
            |(actions, devres, (fail_mask, defer_mask, not_mine_mask), suspend_fails, child)| {
                Plan {
                    actions,
                    devres,
                    fail_mask,
                    defer_mask,
                    not_mine_mask,
                    suspend_fails,
                    child,
                }
            },
        )
}

fn add() -> impl Strategy<Value = Op> {
    let slot = || 0..SLOTS as u8;
    (slot(), 0..COMPATS, proptest::option::of(slot()), plan()).prop_map(
        |(slot, compat, parent, plan)| Op::Add {
            slot,
            compat,
            parent,
            plan,
        },
    )
}

/// A few driver registrations and adds first (so that later operations find bound
/// devices), then anything.
fn ops() -> impl Strategy<Value = Vec<Op>> {
    use proptest::collection::vec;
    let register = (0..DRIVERS as u8).prop_map(|driver| Op::Register { driver });
    (
        vec(register, 0..=2),
        vec(add(), 0..=SLOTS),
        vec(add_link(), 0..=2),
        vec(op(), 1..=MAX_STEPS - SLOTS - 4),
    )
        .prop_map(|(mut ops, adds, links, body)| {
            ops.extend(adds);
            ops.extend(links);
            ops.extend(body);
            ops
        })
}

fn add_link() -> impl Strategy<Value = Op> {
    let slot = || 0..SLOTS as u8;
    (slot(), slot(), 0..LINK_FLAGS.len() as u8).prop_map(|(consumer, supplier, flags)| {
        Op::AddLink {
            consumer,
            supplier,
            flags,
        }
    })
}

fn op() -> impl Strategy<Value = Op> {
    let slot = || 0..SLOTS as u8;
    let driver = || 0..DRIVERS as u8;
    let kind = prop_oneof![
        Just(Kind::Action),
        Just(Kind::ActionOrReset),
        Just(Kind::Alloc),
        Just(Kind::SelfRef),
        (0..2u8, any::<bool>()).prop_map(|(tag, alloc)| Kind::Keyed { tag, alloc }),
    ];
    let target = prop_oneof![
        (0..4u8).prop_map(Target::Generated),
        (0..2u8).prop_map(Target::Tag),
    ];
    let how = prop_oneof![Just(How::Release), Just(How::Destroy), Just(How::Remove)];
    prop_oneof![
        4 => add(),
        2 => slot().prop_map(|slot| Op::Delete { slot }),
        1 => slot().prop_map(|slot| Op::Hold { slot }),
        1 => slot().prop_map(|slot| Op::DropHold { slot }),
        3 => driver().prop_map(|driver| Op::Register { driver }),
        1 => driver().prop_map(|driver| Op::Unregister { driver }),
        2 => slot().prop_map(|slot| Op::Bind { slot }),
        1 => (slot(), driver()).prop_map(|(slot, driver)| Op::BindDriver { slot, driver }),
        2 => slot().prop_map(|slot| Op::Unbind { slot }),
        6 => (slot(), kind).prop_map(|(slot, kind)| Op::AddResource { slot, kind }),
        3 => slot().prop_map(|slot| Op::OpenGroup { slot }),
        2 => (slot(), proptest::option::of(0..4u8))
            .prop_map(|(slot, group)| Op::CloseGroup { slot, group }),
        3 => (slot(), 0..4u8).prop_map(|(slot, group)| Op::ReleaseGroup { slot, group }),
        1 => (slot(), 0..4u8).prop_map(|(slot, group)| Op::RemoveGroup { slot, group }),
        3 => (slot(), target, how).prop_map(|(slot, target, how)| Op::Take { slot, target, how }),
        2 => slot().prop_map(|slot| Op::TryAccess { slot }),
        1 => slot().prop_map(|slot| Op::DropDevres { slot }),
        1 => Just(Op::RetryDeferred),
        1 => (slot(), proptest::option::of(driver()))
            .prop_map(|(slot, driver)| Op::SetOverride { slot, driver }),
        5 => add_link(),
        1 => (0..4u8).prop_map(|link| Op::RemoveLink { link }),
        2 => Just(Op::SuspendAll),
        1 => Just(Op::ResumeAll),
        1 => Just(Op::ShutdownAll),
        1 => any::<bool>().prop_map(|on| Op::SetDebugReprobe { on }),
    ]
}

/// Same entries; same order per device; same order of the binding entries overall.
fn compare_logs(actual: &[Entry], expected: &[Entry]) -> Result<(), String> {
    let sorted = |entries: &[Entry]| {
        let mut entries = entries.to_vec();
        entries.sort_unstable();
        entries
    };
    let per_device = |entries: &[Entry], device: usize| -> Vec<Entry> {
        entries
            .iter()
            .copied()
            .filter(|entry| entry.device() == device)
            .collect()
    };
    let binding = |entries: &[Entry]| -> Vec<Entry> {
        entries.iter().copied().filter(Entry::is_binding).collect()
    };
    let devices: BTreeSet<usize> = actual.iter().chain(expected).map(Entry::device).collect();
    let same = sorted(actual) == sorted(expected)
        && binding(actual) == binding(expected)
        && devices
            .iter()
            .all(|&device| per_device(actual, device) == per_device(expected, device));
    if same {
        Ok(())
    } else {
        Err(format!(
            "log differs\n  actual:   {actual:?}\n  expected: {expected:?}"
        ))
    }
}

/// The counters this test models (`Counts` may grow fields the test does not know).
#[derive(Debug, PartialEq, Eq)]
struct Counters {
    devices: usize,
    registered_devices: usize,
    bindings: usize,
    devres_nodes: usize,
    drivers: usize,
    deferred_devices: usize,
}

impl Counters {
    fn of(model: &DeviceModel) -> Self {
        let counts = model.counts();
        Self {
            devices: counts.devices,
            registered_devices: counts.registered_devices,
            bindings: counts.bindings,
            devres_nodes: counts.devres_nodes,
            drivers: counts.drivers,
            deferred_devices: model.deferred_devices().len(),
        }
    }
}

fn expected_counters(reference: &Reference) -> Counters {
    let live = || reference.devices.iter().filter(|device| !device.freed);
    Counters {
        devices: live().count(),
        registered_devices: live()
            .filter(|device| device.lifecycle != Lifecycle::Deleted)
            .count(),
        bindings: live().filter(|device| device.binding.is_some()).count(),
        devres_nodes: live().map(|device| device.list.len()).sum(),
        drivers: reference.drivers.iter().filter(|&&driver| driver).count(),
        deferred_devices: live().filter(|device| device.deferred).count(),
    }
}

/// Everything observable agrees with the reference.
fn check_state(real: &Real, reference: &Reference) -> Result<(), String> {
    let counts = Counters::of(&real.model);
    let expected = expected_counters(reference);
    if counts != expected {
        return Err(format!("counts {counts:?}, expected {expected:?}"));
    }
    for slot in 0..SLOTS {
        let device = real.device(slot);
        let uid = reference.handle(slot);
        if device.is_some() != uid.is_some() {
            return Err(format!(
                "slot {slot}: handle {:?} vs reference {uid:?}",
                device.is_some()
            ));
        }
        let (Some(device), Some(uid)) = (device, uid) else {
            continue;
        };
        let model = &reference.devices[uid];
        let actual = (
            device.is_registered(),
            device.driver_name(),
            device.devres().len(),
            device.deferred_reason().is_some(),
            device.is_suspended(),
        );
        let expected = (
            model.lifecycle != Lifecycle::Deleted,
            model.binding.map(|(driver, _)| driver_name(driver)),
            model.list.len(),
            model.deferred,
            model.suspended,
        );
        if actual != expected {
            return Err(format!(
                "slot {slot} (uid {uid}): (registered, driver, devres, deferred, suspended) = \
                 {actual:?}, expected {expected:?}"
            ));
        }
    }
    for (driver, registration) in real.drivers.iter().enumerate() {
        let Some(registration) = registration else {
            continue;
        };
        let actual: Vec<String> = registration
            .bound_devices()
            .iter()
            .map(|device| device.name().to_owned())
            .collect();
        let mut bound: Vec<(u64, &String)> = reference
            .devices
            .iter()
            .filter_map(|device| match device.binding {
                Some((owner, sequence)) if owner == driver => Some((sequence, &device.name)),
                _ => None,
            })
            .collect();
        bound.sort_unstable();
        let expected: Vec<String> = bound.iter().map(|(_, name)| (*name).clone()).collect();
        if actual != expected {
            return Err(format!(
                "driver m{driver} bound devices {actual:?}, expected {expected:?}"
            ));
        }
    }
    let actual: Vec<String> = real
        .model
        .devices()
        .iter()
        .map(|device| device.name().to_owned())
        .collect();
    let expected: Vec<String> = reference
        .devices
        .iter()
        .filter(|device| device.lifecycle != Lifecycle::Deleted)
        .map(|device| device.name.clone())
        .collect();
    if actual != expected {
        return Err(format!("model devices {actual:?}, expected {expected:?}"));
    }
    let name = |uid: usize| reference.devices[uid].name.clone();
    let actual: Vec<(String, String, LinkFlags)> = real
        .model
        .links()
        .iter()
        .map(|link| {
            let (consumer, supplier) = (link.consumer.name(), link.supplier.name());
            (consumer.to_owned(), supplier.to_owned(), link.flags)
        })
        .collect();
    let expected: Vec<(String, String, LinkFlags)> = reference
        .links
        .iter()
        .filter(|link| link.alive)
        .map(|link| (name(link.consumer), name(link.supplier), link.flags))
        .collect();
    if actual != expected {
        return Err(format!("links {actual:?}, expected {expected:?}"));
    }
    let actual: Vec<String> = real
        .model
        .power_order()
        .iter()
        .map(|device| device.name().to_owned())
        .collect();
    let expected: Vec<String> = reference.power_order().into_iter().map(name).collect();
    if actual != expected {
        return Err(format!("power order {actual:?}, expected {expected:?}"));
    }
    Ok(())
}

/// Applies `op` to both sides and compares everything.
fn step(real: &mut Real, reference: &mut Reference, op: Op) -> Result<(), String> {
    let actual = real.apply(op);
    let expected = reference.apply(op);
    if actual != expected {
        return Err(format!("result {actual:?}, expected {expected:?}"));
    }
    compare_logs(&real.take_log(), &reference.take_expected())?;
    check_state(real, reference)
}

/// Drops everything the test holds: `Devres` handles, held references, registrations,
/// drivers, each as an ordinary checked step.
fn teardown() -> Vec<Op> {
    let mut ops = Vec::new();
    for slot in 0..SLOTS as u8 {
        ops.push(Op::DropDevres { slot });
        ops.push(Op::DropHold { slot });
        ops.push(Op::Delete { slot });
    }
    ops.extend((0..DRIVERS as u8).map(|driver| Op::Unregister { driver }));
    ops
}

fn run(ops: &[Op]) -> Result<(), String> {
    let mut real = Real::new();
    let mut reference = Reference::default();
    for (index, &op) in ops.iter().chain(&teardown()).enumerate() {
        step(&mut real, &mut reference, op)
            .map_err(|error| format!("step {index} ({op:?}): {error}"))?;
    }
    if !real.stash.lock().unwrap().is_empty() {
        return Err("Devres handles left after teardown".into());
    }
    if !real.model.is_quiescent() || real.model.counts().drivers != 0 {
        return Err(format!("not quiescent: {:?}", real.model.counts()));
    }
    if let Some(device) = reference.devices.iter().find(|device| !device.freed) {
        return Err(format!("reference device not freed: {device:?}"));
    }
    Ok(())
}

fn config() -> Config {
    Config {
        cases: CASES,
        // Keep the shrunk failure in the test output only: no regression files in the
        // source tree (and no file system access under Miri).
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn model_agrees_with_reference(ops in ops()) {
        run(&ops).map_err(TestCaseError::fail)?;
    }
}

/// Hand-written sequences that must pass (and document typical interleavings).
#[test]
fn scripted_sequences_agree() {
    let plan = |actions, devres, fail_mask| Plan {
        actions,
        devres,
        fail_mask,
        defer_mask: 0,
        not_mine_mask: 0,
        suspend_fails: false,
        child: false,
    };
    let sequences: Vec<Vec<Op>> = vec![
        // Reference loop: a self-referencing action on an unbound device, then delete.
        vec![
            Op::Add {
                slot: 0,
                compat: 3,
                parent: None,
                plan: plan(0, false, 0),
            },
            Op::AddResource {
                slot: 0,
                kind: Kind::SelfRef,
            },
            Op::Delete { slot: 0 },
        ],
        // Bind with a Devres, read it, unbind revokes it, the handle outlives the binding.
        vec![
            Op::Register { driver: 1 },
            Op::Add {
                slot: 1,
                compat: 0,
                parent: None,
                plan: plan(2, true, 0),
            },
            Op::TryAccess { slot: 1 },
            Op::AddResource {
                slot: 1,
                kind: Kind::Alloc,
            },
            Op::Unbind { slot: 1 },
            Op::TryAccess { slot: 1 },
            Op::Bind { slot: 1 },
            Op::Delete { slot: 1 },
            Op::DropDevres { slot: 1 },
        ],
        // Parent deletion pending on a bound child; newest-bound-first unregister.
        vec![
            Op::Register { driver: 0 },
            Op::Add {
                slot: 0,
                compat: 1,
                parent: None,
                plan: plan(1, false, 0),
            },
            Op::Add {
                slot: 1,
                compat: 0,
                parent: Some(0),
                plan: plan(1, true, 0),
            },
            Op::Hold { slot: 0 },
            Op::Delete { slot: 0 },
            Op::AddResource {
                slot: 0,
                kind: Kind::Action,
            },
            Op::Unregister { driver: 0 },
            Op::Delete { slot: 1 },
        ],
        // Links: two consumers of d0 (added while all are bound); unbinding d0 unbinds
        // both consumers first; a consumer then waits (defers) for d0.
        vec![
            Op::Register { driver: 0 },
            Op::Add {
                slot: 0,
                compat: 0,
                parent: None,
                plan: plan(1, false, 0),
            },
            Op::Add {
                slot: 1,
                compat: 0,
                parent: None,
                plan: plan(1, false, 0),
            },
            Op::Add {
                slot: 2,
                compat: 0,
                parent: None,
                plan: plan(1, false, 0),
            },
            Op::AddLink {
                consumer: 1,
                supplier: 0,
                flags: 0,
            },
            Op::AddLink {
                consumer: 2,
                supplier: 0,
                flags: 0,
            },
            Op::AddLink {
                consumer: 0,
                supplier: 2,
                flags: 1,
            },
            Op::SuspendAll,
            Op::Unbind { slot: 0 },
            Op::Bind { slot: 1 },
            Op::Bind { slot: 0 },
            Op::ShutdownAll,
        ],
        // Delete unbinds first: a pending parent is dead and unbound; its child's driver
        // owns a grandchild, deleted by the child's remove; then the parent completes.
        vec![
            Op::Register { driver: 0 },
            Op::Add {
                slot: 0,
                compat: 0,
                parent: None,
                plan: plan(1, true, 0),
            },
            Op::Add {
                slot: 1,
                compat: 0,
                parent: Some(0),
                plan: Plan {
                    child: true,
                    ..plan(1, false, 0)
                },
            },
            Op::Hold { slot: 0 },
            Op::Delete { slot: 0 },
            Op::Bind { slot: 0 },
            Op::AddResource {
                slot: 0,
                kind: Kind::Alloc,
            },
            Op::Delete { slot: 1 },
        ],
        // A deferred device is retried when another device binds.
        vec![
            Op::Register { driver: 0 },
            Op::Add {
                slot: 0,
                compat: 1,
                parent: None,
                plan: Plan {
                    defer_mask: 1,
                    ..plan(1, true, 0)
                },
            },
            Op::RetryDeferred,
            Op::Register { driver: 2 },
            Op::Add {
                slot: 1,
                compat: 2,
                parent: None,
                plan: plan(0, false, 0),
            },
        ],
        // Groups: nested, released, removed; keyed newest-match-wins.
        vec![
            Op::Add {
                slot: 2,
                compat: 3,
                parent: None,
                plan: plan(0, false, 0),
            },
            Op::AddResource {
                slot: 2,
                kind: Kind::Keyed {
                    tag: 0,
                    alloc: true,
                },
            },
            Op::OpenGroup { slot: 2 },
            Op::AddResource {
                slot: 2,
                kind: Kind::Keyed {
                    tag: 0,
                    alloc: false,
                },
            },
            Op::OpenGroup { slot: 2 },
            Op::CloseGroup {
                slot: 2,
                group: Some(0),
            },
            Op::Take {
                slot: 2,
                target: Target::Tag(0),
                how: How::Remove,
            },
            Op::ReleaseGroup { slot: 2, group: 0 },
            Op::AddResource {
                slot: 2,
                kind: Kind::ActionOrReset,
            },
            Op::Bind { slot: 2 },
        ],
    ];
    for ops in sequences {
        if let Err(error) = run(&ops) {
            panic!("{ops:?}\n{error}");
        }
    }
}
