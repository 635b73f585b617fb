//! The population plan: which nodes become devices, their names, resources, references
//! and links, and the order to add them in. Everything is checked here, before the
//! model sees any device.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::tree::{Tree, error, take_number};
use crate::device::{Device, DeviceBuilder};
use crate::error::Result;
use crate::property::Cells;
use crate::resource::{Controller, Interrupt, MmioRange, Resource};

/// Nodes compatible with one of these have their children populated too (Linux's
/// `of_default_bus_match_table`).
const BUS_COMPATIBLES: [&str; 5] = [
    "simple-bus",
    "simple-mfd",
    "simple-pm-bus",
    "isa",
    "arm,amba-bus",
];

/// Properties that reference other nodes as `<phandle args...>` lists, and the property
/// of the referenced node that says how many argument cells follow (`None`: none).
const REFERENCE_LISTS: [(&str, Option<&str>); 10] = [
    ("clocks", Some("#clock-cells")),
    ("resets", Some("#reset-cells")),
    ("power-domains", Some("#power-domain-cells")),
    ("dmas", Some("#dma-cells")),
    ("phys", Some("#phy-cells")),
    ("pwms", Some("#pwm-cells")),
    ("mboxes", Some("#mbox-cells")),
    ("iommus", Some("#iommu-cells")),
    ("interrupts-extended", Some("#interrupt-cells")),
    ("gpios", Some("#gpio-cells")),
];

/// How the argument cells of a reference property are counted.
#[derive(Clone, Copy)]
enum Arguments {
    /// One phandle, no arguments (`interrupt-parent`, `*-supply`).
    None,
    /// The referenced node's property of this name (required).
    Cells(&'static str),
    /// The referenced node's property of this name, 0 when absent (`msi-parent`).
    CellsOrZero(&'static str),
}

fn reference_kind(name: &str) -> Option<Arguments> {
    if let Some((_, cells)) = REFERENCE_LISTS.iter().find(|(list, _)| *list == name) {
        return Some(cells.map_or(Arguments::None, Arguments::Cells));
    }
    if name == "interrupt-parent" || name.ends_with("-supply") {
        return Some(Arguments::None);
    }
    if name == "msi-parent" {
        return Some(Arguments::CellsOrZero("#msi-cells"));
    }
    // `*-gpios`, but not the `#gpio-cells`-like or `gpio-*` properties.
    if name.ends_with("-gpios") && !name.starts_with('#') {
        return Some(Arguments::Cells("#gpio-cells"));
    }
    None
}

/// One reference of a property: the node (`None`: a phandle 0 hole) and the arguments.
pub(crate) struct Entry {
    target: Option<usize>,
    args: Vec<u32>,
}

/// A node that becomes a device.
pub(crate) struct Planned {
    pub(crate) node: usize,
    pub(crate) name: String,
    /// The parent's index in [`Plan::devices`].
    pub(crate) parent: Option<usize>,
    mmio: Vec<MmioRange>,
    /// Controller node and specifier cells.
    interrupts: Vec<(usize, Vec<u32>)>,
    /// Reference properties of the node itself, by name.
    references: Vec<(usize, Vec<Entry>)>,
}

pub(crate) struct Plan {
    pub(crate) devices: Vec<Planned>,
    /// Indices into `devices`: parents and suppliers first.
    pub(crate) order: Vec<usize>,
    /// `(consumer, supplier)` indices into `devices`, without duplicates.
    pub(crate) links: Vec<(usize, usize)>,
    pub(crate) console: Option<(usize, Option<Box<str>>)>,
    /// For each tree node, its index in `devices` if it becomes one.
    device_of_node: Vec<Option<usize>>,
}

impl Plan {
    /// Chooses the devices and checks everything about them.
    pub(crate) fn make(tree: &Tree<'_>) -> Result<Self> {
        let mut plan = Plan {
            devices: Vec::new(),
            order: Vec::new(),
            links: Vec::new(),
            console: None,
            device_of_node: alloc::vec![None; tree.nodes.len()],
        };
        plan.choose(tree, 0, None)?;
        let mut names = BTreeSet::new();
        for planned in &plan.devices {
            if !names.insert(planned.name.as_str()) {
                return Err(error(
                    &tree.nodes[planned.node].path,
                    "two devices would get the same name",
                ));
            }
        }
        let suppliers = plan.suppliers(tree)?;
        plan.order(tree, &suppliers)?;
        plan.console = plan.console(tree);
        Ok(plan)
    }

    /// Plans the enabled children of `node` (and of its bus children), recursively.
    fn choose(&mut self, tree: &Tree<'_>, node: usize, parent: Option<usize>) -> Result<()> {
        let children: Vec<usize> = (node + 1..tree.nodes.len())
            .filter(|&child| tree.nodes[child].parent == Some(node))
            .collect();
        for child in children {
            if !tree.is_enabled(child) || tree.property(child, "compatible").is_none() {
                continue;
            }
            let index = self.devices.len();
            let planned = self.plan_device(tree, child, parent)?;
            self.devices.push(planned);
            self.device_of_node[child] = Some(index);
            let is_bus = tree
                .strings(child, "compatible")
                .is_some_and(|list| list.iter().any(|entry| BUS_COMPATIBLES.contains(&entry)));
            if is_bus {
                self.choose(tree, child, Some(index))?;
            }
        }
        Ok(())
    }

    fn plan_device(&self, tree: &Tree<'_>, node: usize, parent: Option<usize>) -> Result<Planned> {
        let path = &tree.nodes[node].path;
        let (mmio, first_address) = registers(tree, node)?;
        let node_name = tree.nodes[node].name;
        // Without `reg`, the name with its unit address, as Linux's `kbasename`.
        let full_name = path.rsplit('/').next().unwrap_or(node_name);
        let name = match (first_address, parent) {
            (Some(address), _) => format!("{address:x}.{node_name}"),
            (None, Some(parent)) => format!("{}:{full_name}", self.devices[parent].name),
            (None, None) => String::from(full_name),
        };
        let mut interrupts = Vec::new();
        if let Some(value) = tree.property(node, "interrupts") {
            let controller = tree
                .interrupt_parent(node)?
                .ok_or_else(|| error(path, "interrupts without an interrupt parent"))?;
            let count = tree
                .cell_count(controller, "#interrupt-cells")?
                .ok_or_else(|| error(path, "the interrupt parent has no #interrupt-cells"))?;
            let cells = Cells::new(value)
                .ok_or_else(|| error(path, "interrupts is not a whole number of cells"))?;
            if count == 0 || cells.len() % count != 0 {
                return Err(error(path, "interrupts does not fit #interrupt-cells"));
            }
            let all: Vec<u32> = cells.iter().collect();
            for specifier in all.chunks(count) {
                interrupts.push((controller, specifier.to_vec()));
            }
        }
        let mut references = Vec::new();
        for (position, &(name, _)) in tree.nodes[node].properties.iter().enumerate() {
            if let Some(arguments) = reference_kind(name) {
                let entries = reference_entries(tree, node, name, arguments)?;
                if name == "interrupts-extended" {
                    for entry in &entries {
                        if let Some(target) = entry.target {
                            interrupts.push((target, entry.args.clone()));
                        }
                    }
                }
                references.push((position, entries));
            }
        }
        Ok(Planned {
            node,
            name,
            parent,
            mmio,
            interrupts,
            references,
        })
    }

    /// The nearest planned ancestor-or-self of `node`, if the way up is enabled.
    fn owner(&self, tree: &Tree<'_>, node: usize) -> Option<usize> {
        let mut current = Some(node);
        while let Some(index) = current {
            if !tree.is_enabled(index) {
                return None;
            }
            if let Some(device) = self.device_of_node[index] {
                return Some(device);
            }
            current = tree.nodes[index].parent;
        }
        None
    }

    /// The suppliers of every planned device, from the references of its node and of the
    /// descendants without a device of their own.
    fn suppliers(&mut self, tree: &Tree<'_>) -> Result<Vec<BTreeSet<usize>>> {
        let mut suppliers = alloc::vec![BTreeSet::new(); self.devices.len()];
        for node in 0..tree.nodes.len() {
            let Some(consumer) = self.owner(tree, node) else {
                continue;
            };
            let mut targets = Vec::new();
            for &(name, _) in &tree.nodes[node].properties {
                if name == "interrupt-parent" {
                    continue; // counted below, only where interrupts use it
                }
                if let Some(arguments) = reference_kind(name) {
                    for entry in reference_entries(tree, node, name, arguments)? {
                        targets.extend(entry.target);
                    }
                }
            }
            if tree.property(node, "interrupts").is_some()
                && let Some(controller) = tree.interrupt_parent(node)?
                && controller != node
            {
                targets.push(controller);
            }
            for target in targets {
                if let Some(supplier) = self.owner(tree, target)
                    && supplier != consumer
                    && suppliers[consumer].insert(supplier)
                {
                    self.links.push((consumer, supplier));
                }
            }
        }
        Ok(suppliers)
    }

    /// Orders the devices so that parents and suppliers come first.
    ///
    /// # Errors
    ///
    /// A dependency cycle, naming one node on it.
    fn order(&mut self, tree: &Tree<'_>, suppliers: &[BTreeSet<usize>]) -> Result<()> {
        let count = self.devices.len();
        let mut waiting_on = alloc::vec![0usize; count];
        let mut dependents: Vec<Vec<usize>> = alloc::vec![Vec::new(); count];
        for (device, planned) in self.devices.iter().enumerate() {
            let before = planned
                .parent
                .into_iter()
                .chain(suppliers[device].iter().copied());
            for first in before.collect::<BTreeSet<usize>>() {
                waiting_on[device] += 1;
                dependents[first].push(device);
            }
        }
        let mut ready: VecDeque<usize> = (0..count)
            .filter(|&device| waiting_on[device] == 0)
            .collect();
        while let Some(device) = ready.pop_front() {
            self.order.push(device);
            for &dependent in &dependents[device] {
                waiting_on[dependent] -= 1;
                if waiting_on[dependent] == 0 {
                    ready.push_back(dependent);
                }
            }
        }
        if let Some(stuck) = (0..count).find(|&device| waiting_on[device] != 0) {
            return Err(error(
                &tree.nodes[self.devices[stuck].node].path,
                "a cycle of references (or of references and parents) goes through this node",
            ));
        }
        Ok(())
    }

    fn console(&self, tree: &Tree<'_>) -> Option<(usize, Option<Box<str>>)> {
        let chosen = tree.find("/chosen")?;
        let value = tree
            .strings(chosen, "stdout-path")
            .or_else(|| tree.strings(chosen, "linux,stdout-path"))?
            .first()?;
        let (path, options) = match value.split_once(':') {
            Some((path, options)) => (path, Some(options.into())),
            None => (value, None),
        };
        let node = tree.find(path)?;
        Some((self.device_of_node[node]?, options))
    }

    /// Describes device `index` on `builder`: its properties (references resolved to
    /// the devices `device_of` gives) and resources.
    pub(crate) fn describe<'d>(
        &self,
        tree: &Tree<'_>,
        index: usize,
        mut builder: DeviceBuilder,
        device_of: &impl Fn(usize) -> Option<&'d Device>,
    ) -> Result<DeviceBuilder> {
        let planned = &self.devices[index];
        let node = &tree.nodes[planned.node];
        let target_device = |target: usize| self.device_of_node[target].and_then(device_of);
        for (position, &(name, value)) in node.properties.iter().enumerate() {
            match planned.references.iter().find(|(at, _)| *at == position) {
                Some((_, entries)) => {
                    let resolved = entries
                        .iter()
                        .map(|entry| (entry.target.and_then(target_device), entry.args.as_slice()));
                    builder = builder.references(name, resolved.collect::<Vec<_>>());
                }
                None => builder = builder.raw_property(name, value),
            }
        }
        for range in &planned.mmio {
            builder = builder.resource(Resource::Mmio(*range));
        }
        let mut controllers: BTreeMap<usize, Controller> = BTreeMap::new();
        for (controller_node, cells) in &planned.interrupts {
            let controller = controllers.entry(*controller_node).or_insert_with(|| {
                match target_device(*controller_node) {
                    Some(device) => Controller::of(device),
                    None if *controller_node == planned.node => Controller::named(&planned.name),
                    None => Controller::named(&tree.nodes[*controller_node].path),
                }
            });
            let interrupt = Interrupt::new(Some(controller.clone()), cells)?;
            builder = builder.resource(Resource::Interrupt(interrupt));
        }
        Ok(builder)
    }
}

/// The MMIO ranges of `node`'s `reg`, translated to CPU addresses, and the address of
/// the first entry for the name (translated if possible).
fn registers(tree: &Tree<'_>, node: usize) -> Result<(Vec<MmioRange>, Option<u64>)> {
    let path = &tree.nodes[node].path;
    let Some(value) = tree.property(node, "reg") else {
        return Ok((Vec::new(), None));
    };
    let Some(parent) = tree.nodes[node].parent else {
        return Ok((Vec::new(), None));
    };
    let (address_cells, size_cells) = (tree.address_cells(parent)?, tree.size_cells(parent)?);
    let cells =
        Cells::new(value).ok_or_else(|| error(path, "reg is not a whole number of cells"))?;
    let per_entry = address_cells + size_cells;
    if per_entry == 0 || cells.len() % per_entry != 0 {
        return Err(error(
            path,
            "reg does not fit #address-cells and #size-cells",
        ));
    }
    let mut ranges = Vec::new();
    let mut first = None;
    let mut at = 0;
    while at < cells.len() {
        let overflow = || error(path, "reg cells do not fit 64 bits");
        let address = take_number(&cells, &mut at, address_cells).ok_or_else(overflow)?;
        let size = take_number(&cells, &mut at, size_cells).ok_or_else(overflow)?;
        let translated = translate(tree, parent, address)?;
        first.get_or_insert(translated.unwrap_or(address));
        if let Some(start) = translated
            && size != 0
        {
            let range = MmioRange::new(start, size).map_err(|_| error(path, "reg wraps around"))?;
            ranges.push(range);
        }
    }
    Ok((ranges, first))
}

/// `address` on the bus `bus`, translated through the `ranges` of `bus` and its
/// ancestors; `None` if some bus on the way has no (matching) `ranges`.
fn translate(tree: &Tree<'_>, mut bus: usize, mut address: u64) -> Result<Option<u64>> {
    while let Some(grandparent) = tree.nodes[bus].parent {
        let path = &tree.nodes[bus].path;
        let Some(value) = tree.property(bus, "ranges") else {
            return Ok(None);
        };
        if !value.is_empty() {
            let child_cells = tree.address_cells(bus)?;
            let parent_cells = tree.address_cells(grandparent)?;
            let size_cells = tree.size_cells(bus)?;
            let per_entry = child_cells + parent_cells + size_cells;
            let cells = Cells::new(value)
                .ok_or_else(|| error(path, "ranges is not a whole number of cells"))?;
            if per_entry == 0 || cells.len() % per_entry != 0 {
                return Err(error(
                    path,
                    "ranges does not fit the address and size cells",
                ));
            }
            let mut at = 0;
            let mut found = None;
            while at < cells.len() {
                let overflow = || error(path, "ranges cells do not fit 64 bits");
                let child = take_number(&cells, &mut at, child_cells).ok_or_else(overflow)?;
                let parent = take_number(&cells, &mut at, parent_cells).ok_or_else(overflow)?;
                let size = take_number(&cells, &mut at, size_cells).ok_or_else(overflow)?;
                if address >= child && address - child < size {
                    let translated = parent
                        .checked_add(address - child)
                        .ok_or_else(|| error(path, "ranges translation wraps around"))?;
                    found = Some(translated);
                    break;
                }
            }
            let Some(translated) = found else {
                return Ok(None);
            };
            address = translated;
        }
        bus = grandparent;
    }
    Ok(Some(address))
}

/// The entries of the reference property `name` of `node`.
fn reference_entries(
    tree: &Tree<'_>,
    node: usize,
    name: &str,
    arguments: Arguments,
) -> Result<Vec<Entry>> {
    let path = &tree.nodes[node].path;
    let value = tree.property(node, name).unwrap_or(&[]);
    let cells = Cells::new(value)
        .ok_or_else(|| error(path, "a reference property is not a whole number of cells"))?;
    let mut entries = Vec::new();
    let mut at = 0;
    while let Some(phandle) = cells.get(at) {
        at += 1;
        if phandle == 0 {
            // A hole in a list (Linux allows it in `*-gpios`).
            entries.push(Entry {
                target: None,
                args: Vec::new(),
            });
            continue;
        }
        let target = tree
            .by_phandle(phandle)
            .ok_or_else(|| error(path, "a reference names a phandle no node has"))?;
        let is_root_controller =
            name == "interrupt-parent" && tree.property(node, "interrupt-controller").is_some();
        if target == node && !is_root_controller {
            return Err(error(path, "the node references itself"));
        }
        let count = match arguments {
            Arguments::None => 0,
            Arguments::Cells(cells_name) => tree
                .cell_count(target, cells_name)?
                .ok_or_else(|| error(path, "the referenced node lacks the #*-cells property"))?,
            Arguments::CellsOrZero(cells_name) => tree.cell_count(target, cells_name)?.unwrap_or(0),
        };
        let args: Vec<u32> = (0..count)
            .filter_map(|offset| cells.get(at + offset))
            .collect();
        if args.len() != count {
            return Err(error(
                path,
                "a reference has fewer argument cells than its target says",
            ));
        }
        at += count;
        entries.push(Entry {
            target: Some(target),
            args,
        });
    }
    Ok(entries)
}
