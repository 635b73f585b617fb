//! A devicetree platform: devices populated from a flattened devicetree blob, matched by
//! `compatible` (behind the `devicetree` cargo feature).
//!
//! [`populate`] reads the blob (with the [`fdt`](https://docs.rs/fdt) crate, in its
//! no-panic mode: a malformed blob is an error, never a panic) and registers one device
//! per enabled node, the way Linux's `of_platform_populate` does:
//!
//! - **Which nodes**: the root's children, and the children of bus nodes (`simple-bus`,
//!   `simple-mfd`, `simple-pm-bus`, `isa`, `arm,amba-bus`), recursively, that have a
//!   `compatible` and whose `status` is absent, `"okay"` or `"ok"` (a disabled node is
//!   skipped with its subtree). A device's parent is its bus node's device.
//! - **Names**, Linux-style and unique: `10000000.serial` (the translated address of the
//!   first `reg` entry, then the node name), or, without `reg`, the node's full name
//!   prefixed by the parent's device name (`soc:poweroff`; `poweroff` and
//!   `platform-bus@4000000` at the root).
//! - **Properties**: every property of the node, raw (read with the typed reads of
//!   [`property`](crate::property)); the reference properties below are stored as
//!   references to the devices they name (read with
//!   [`Device::read_reference`](crate::Device::read_reference)).
//! - **Resources**: each `reg` entry, translated through the parents' `ranges` (an
//!   empty `ranges` is the identity; a bus without `ranges` has no CPU addresses, and its
//!   children get no MMIO range), is a [`Resource::Mmio`]; each `interrupts` entry is a
//!   [`Resource::Interrupt`] naming its controller (`interrupt-parent`, inherited from
//!   the ancestors) with `#interrupt-cells` cells, and so is each `interrupts-extended`
//!   entry.
//! - **Device links** (Linux's fw_devlink): a node that references another node through
//!   `interrupt-parent`, `interrupts-extended`, `clocks`, `resets`, `power-domains`,
//!   `dmas`, `phys`, `pwms`, `mboxes`, `iommus`, `msi-parent`, `*-supply`, `gpios` or
//!   `*-gpios` becomes a consumer of the referenced node's device (or of its nearest
//!   ancestor that has one; references from a node without a device count for its
//!   nearest ancestor that has one). A consumer therefore probes after its suppliers and
//!   is unbound before them, whatever order the nodes have in the blob. References to
//!   nodes with no device on the way up (a CPU's interrupt controller) make no link.
//!   Linux relaxes links to suppliers that never get a driver once every driver is
//!   registered; here the kernel says when, with [`Population::relax`].
//! - **Console**: `/chosen/stdout-path` (a path or an alias, options after `:`) names
//!   [`Population::console`].
//!
//! Population is all or nothing: the blob is read and checked first (bad magic,
//! truncation, offsets out of range, `reg` or `ranges` cells that do not fit 64 bits or
//! wrap, references to missing phandles, a node that references itself, dependency
//! cycles, duplicate names), then every device is added with probing held back, then
//! the links are made, and only then are the devices bound, suppliers first. If any step
//! fails, everything added so far is deleted again before the error is returned, and no
//! driver has probed.
//!
//! Drivers match with [`Bus`]: their ID table lists `compatible` strings with per-entry
//! data, and a node's first `compatible` entry beats its later ones (the most specific
//! string wins).
//!
//! ```
//! use drivermodel::context::Core;
//! use drivermodel::devicetree::{self, Bus};
//! use drivermodel::{Device, DeviceModel, Driver, IdEntry};
//!
//! /// A 16550 driver; the per-entry data is the register shift.
//! struct Uart;
//!
//! impl Driver for Uart {
//!     type Bus = Bus;
//!     type IdInfo = u32;
//!     type State = u64;
//!     fn name(&self) -> &str { "uart16550" }
//!     fn id_table(&self) -> &[IdEntry<&'static str, u32>] {
//!         static IDS: [IdEntry<&'static str, u32>; 1] = [IdEntry::new("ns16550a", 0)];
//!         &IDS
//!     }
//!     fn probe(&self, device: &Device<Core>, _shift: &u32) -> drivermodel::Result<u64> {
//!         let registers = device.mmio(0).ok_or(drivermodel::Error::driver("no reg"))?;
//!         let _clock = device.read_u32("clock-frequency")?;
//!         Ok(registers.start())
//!     }
//! }
//!
//! let blob = include_bytes!("../../tests/fixtures/qemu-riscv64-virt.dtb");
//! let model = DeviceModel::new();
//! model.register_bus(Bus::new("platform"))?;
//! let driver = model.register_driver(Uart)?;
//! let mut population = devicetree::populate(&model, blob, "platform")?;
//! let console = population.console().expect("stdout-path names the UART").clone();
//! assert_eq!(console.name(), "10000000.serial");
//! // The UART consumes the PLIC (its interrupt parent), which has no driver here.
//! assert!(console.deferred_reason().is_some());
//! // Every driver is registered: stop waiting for suppliers that have none.
//! population.relax(&model);
//! assert_eq!(console.driver_name().as_deref(), Some("uart16550"));
//! let plic = console.interrupt(0).unwrap().controller().unwrap();
//! assert_eq!(plic.name(), "c000000.plic");
//! drop((console, population)); // deletes every device, consumers before suppliers
//! drop(driver);
//! assert!(model.is_quiescent());
//! # Ok::<(), drivermodel::Error>(())
//! ```

#![forbid(unsafe_code)]

mod plan;
mod tree;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::bus::{KeySet, Match, MatchKey};
use crate::device::{ARef, Device, DeviceBuilder, Registration};
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::link::{LinkFlags, LinkId};
use crate::model::DeviceModel;

#[cfg(doc)]
use crate::resource::Resource;

/// What the platform attaches to each device it populates (read it with
/// [`node`]).
pub struct Node {
    path: Box<str>,
    /// `/chosen/stdout-path` names this node.
    stdout: bool,
    /// Probing is held back until the population's links exist.
    ready: AtomicBool,
}

impl Node {
    /// The node's full path in the tree, `/soc/serial@10000000`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether `/chosen/stdout-path` names this node (Linux's `of_stdout`): a UART
    /// driver's probe asks this to know whether its device is the console, before
    /// [`populate`] has returned the [`Population`].
    pub fn is_stdout(&self) -> bool {
        self.stdout
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Node")
            .field("path", &self.path)
            .field("stdout", &self.stdout)
            .finish_non_exhaustive()
    }
}

/// The devicetree node a device was populated from, if it was.
pub fn node(device: &Device) -> Option<&Node> {
    device.data::<Node>()
}

/// A bus whose drivers match devices by `compatible`.
///
/// The ID type is a `compatible` string; a device's keys are all its `compatible`
/// strings, and the score of a match is
/// higher the earlier the string comes in the node's list. A device without
/// `compatible` matches nothing; a device that [`populate`] is still setting up matches
/// nothing until its links exist.
#[derive(Debug)]
pub struct Bus {
    name: String,
}

impl Bus {
    /// A devicetree bus named `name` (Linux calls it `platform`).
    pub fn new(name: &str) -> Self {
        Self { name: name.into() }
    }
}

/// The score of a match on a node's first `compatible` string; each later string scores
/// one less.
const FIRST_COMPATIBLE_SCORE: u32 = 1 << 16;

impl crate::Bus for Bus {
    type Id = &'static str;

    fn name(&self) -> &str {
        &self.name
    }

    fn id_key(&self, id: &&'static str) -> Option<MatchKey> {
        Some(MatchKey::from_name(id))
    }

    fn device_keys(&self, device: &Device) -> KeySet {
        let mut keys = KeySet::new();
        if let Ok(compatible) = device.read_strings("compatible") {
            for entry in compatible.iter() {
                // Out of memory: the set says it is incomplete, and the model refuses it.
                if keys.push(MatchKey::from_name(entry)).is_err() {
                    break;
                }
            }
        }
        keys
    }

    fn match_id(&self, device: &Device, id: &&'static str) -> Match {
        if node(device).is_some_and(|node| !node.ready.load(Ordering::Acquire)) {
            return Match::No;
        }
        let Ok(compatible) = device.read_strings("compatible") else {
            return Match::No;
        };
        match compatible.position(id) {
            Some(position) => Match::Yes {
                score: FIRST_COMPATIBLE_SCORE
                    .saturating_sub(position as u32)
                    .max(1),
            },
            None => Match::No,
        }
    }
}

/// The devices populated from one blob. Dropping it deletes them, consumers and
/// children before their suppliers and parents.
pub struct Population {
    /// In population order: parents and suppliers first.
    devices: Vec<Registration>,
    /// Each link with its consumer's and supplier's index in `devices`.
    links: Vec<(LinkId, usize, usize)>,
    console: Option<(usize, Option<Box<str>>)>,
}

impl Population {
    /// The populated devices, parents and suppliers before children and consumers.
    pub fn devices(&self) -> impl Iterator<Item = &ARef<Device>> {
        self.devices.iter().map(Registration::device)
    }

    /// The device populated from the node at `path` (a full path such as
    /// `/soc/serial@10000000`).
    pub fn find(&self, path: &str) -> Option<&ARef<Device>> {
        self.devices()
            .find(|device| node(device).is_some_and(|node| node.path() == path))
    }

    /// The device `/chosen/stdout-path` names, if it names a populated node.
    pub fn console(&self) -> Option<&ARef<Device>> {
        let (index, _) = self.console.as_ref()?;
        self.devices.get(*index).map(Registration::device)
    }

    /// The options after `:` in `/chosen/stdout-path` (`"115200n8"`), if any.
    pub fn console_options(&self) -> Option<&str> {
        self.console.as_ref()?.1.as_deref()
    }

    /// How many device links the population made (and has not relaxed).
    pub fn link_count(&self) -> usize {
        self.links.len()
    }

    /// The population's links as `(consumer, supplier)` pairs.
    pub fn links(&self) -> impl Iterator<Item = (&ARef<Device>, &ARef<Device>)> {
        self.links.iter().map(|&(_, consumer, supplier)| {
            (
                self.devices[consumer].device(),
                self.devices[supplier].device(),
            )
        })
    }

    /// Drops the links whose supplier is still unbound, and binds their consumers:
    /// Linux's `fw_devlink` relaxing once every driver is registered. A kernel that
    /// has no driver for some supplier (an interrupt controller it programs itself, a
    /// fixed clock) calls this after registering all its drivers, so that the consumers
    /// do not wait for that supplier for ever. Returns how many links were dropped.
    pub fn relax(&mut self, model: &DeviceModel) -> usize {
        let mut relaxed = Vec::new();
        self.links.retain(|&(link, consumer, supplier)| {
            if self.devices[supplier].is_bound() {
                return true;
            }
            // The link exists unless an end was deleted, which removed it already.
            let _ = model.remove_link(link);
            relaxed.push(consumer);
            false
        });
        for &consumer in &relaxed {
            let device = self.devices[consumer].device();
            if !device.is_bound() {
                let _ = model.bind(device);
            }
        }
        relaxed.len()
    }
}

impl Drop for Population {
    fn drop(&mut self) {
        // Consumers and children were added after their suppliers and parents.
        while let Some(registration) = self.devices.pop() {
            drop(registration);
        }
    }
}

impl fmt::Debug for Population {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Population")
            .field("devices", &self.devices.len())
            .field("links", &self.links.len())
            .finish_non_exhaustive()
    }
}

/// Calls `each` with every RAM range the blob describes (the `reg` of its enabled
/// `memory` nodes), without allocating: for a kernel that sizes its heap from the
/// devicetree before it has one.
///
/// ```
/// let blob = include_bytes!("../../tests/fixtures/qemu-riscv64-virt.dtb");
/// let mut ram = None;
/// drivermodel::devicetree::memory(blob, |range| ram = Some(range))?;
/// let ram = ram.unwrap();
/// assert_eq!((ram.start(), ram.length()), (0x8000_0000, 128 << 20));
/// # Ok::<(), drivermodel::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::Devicetree`] for a malformed blob or memory `reg`.
pub fn memory(blob: &[u8], mut each: impl FnMut(crate::resource::MmioRange)) -> Result<()> {
    tree::memory(blob, &mut each)
}

/// Populates `model` from the flattened devicetree `blob`: one device per enabled node on
/// the bus `bus` (a [`Bus`] registered by the caller), with parents, properties,
/// resources, device links and the console, then binds them (see the
/// [module docs](self)).
///
/// The blob is only read during the call: what the devices need is copied, so the
/// blob's memory may be reused afterwards.
///
/// # Errors
///
/// [`Error::Devicetree`] naming the node and the problem for a malformed blob or tree;
/// the errors of [`DeviceModel::add_device`] (for example [`Error::UnknownBus`] or
/// [`Error::NameTaken`] when a device of that name is already on the bus) and of
/// [`DeviceModel::add_link`]. Whatever the error, nothing stays registered. A driver's
/// probe failure is not an error of the population (the device stays unbound, as in
/// Linux).
pub fn populate(model: &DeviceModel, blob: &[u8], bus: &str) -> Result<Population> {
    let tree = tree::Tree::parse(blob)?;
    let plan = plan::Plan::make(&tree)?;
    let mut population = Population {
        devices: Vec::with_capacity(plan.devices.len()),
        links: Vec::new(),
        console: None,
    };
    // Devices go in dependency order, so every reference and controller already exists.
    // Dropping `population` on an error deletes what was added.
    let mut registered: Vec<Option<usize>> = alloc::vec![None; plan.devices.len()];
    for &index in &plan.order {
        let planned = &plan.devices[index];
        let device_of = |planned_index: usize| {
            registered[planned_index].map(|slot| &**population.devices[slot].device())
        };
        let mut builder = DeviceBuilder::new(planned.name.as_str())
            .bus(bus)
            .data(Node {
                path: tree.nodes[planned.node].path.as_str().into(),
                stdout: plan
                    .console
                    .as_ref()
                    .is_some_and(|(console, _)| *console == index),
                ready: AtomicBool::new(false),
            });
        if let Some(parent) = planned.parent.and_then(device_of) {
            builder = builder.parent(parent);
        }
        builder = plan.describe(&tree, index, builder, &device_of)?;
        let registration = model.add_device(builder)?;
        registered[index] = Some(population.devices.len());
        population.devices.push(registration);
    }
    for &(consumer, supplier) in &plan.links {
        let (Some(consumer), Some(supplier)) = (registered[consumer], registered[supplier]) else {
            continue;
        };
        let link = model.add_link(
            population.devices[consumer].device(),
            population.devices[supplier].device(),
            LinkFlags::empty(),
        )?;
        population.links.push((link, consumer, supplier));
    }
    population.console = plan
        .console
        .and_then(|(index, options)| Some((registered[index]?, options)));
    for registration in &population.devices {
        if let Some(node) = node(registration.device()) {
            node.ready.store(true, Ordering::Release);
        }
    }
    for registration in &population.devices {
        // No driver yet, a refused probe, a deferral: the device stays unbound (or
        // deferred) and a later driver registration or supplier bind retries it.
        let _ = model.bind(registration.device());
    }
    Ok(population)
}
