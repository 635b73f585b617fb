//! The blob, read once into a flat table of nodes whose property values borrow the
//! blob. The `fdt` crate does every structural parse (header, tokens, names, property
//! records) in its no-panic mode; this file only interprets property values (cells,
//! strings), the way a driver does.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use fdt::nodes::Node as FdtNode;
use fdt::parsing::NoPanic;
use fdt::parsing::unaligned::UnalignedParser;

use crate::error::{Error, Result};
use crate::property::{Cells, StringList};
use crate::resource::MmioRange;

type Parser<'a> = (UnalignedParser<'a>, NoPanic);

/// Nodes nested deeper than this are refused (a malformed blob could nest without end).
const MAX_DEPTH: usize = 32;

/// One node of the tree.
pub(crate) struct Node<'a> {
    /// The full path, `/soc/serial@10000000`.
    pub(crate) path: String,
    /// The name without the unit address.
    pub(crate) name: &'a str,
    pub(crate) parent: Option<usize>,
    pub(crate) properties: Vec<(&'a str, &'a [u8])>,
}

/// The whole tree, in depth-first order (a parent before its children).
pub(crate) struct Tree<'a> {
    pub(crate) nodes: Vec<Node<'a>>,
    phandles: BTreeMap<u32, usize>,
}

pub(crate) fn error(node: &str, problem: &'static str) -> Error {
    Error::Devicetree {
        node: node.into(),
        problem,
    }
}

fn blob_error(cause: fdt::FdtError) -> Error {
    use fdt::FdtError;
    let problem = match cause {
        FdtError::BadMagic => "bad magic (not a flattened devicetree)",
        FdtError::SliceTooSmall => "truncated: the blob is shorter than its header says",
        FdtError::ParseError(_) => "malformed structure block (bad token, offset or string)",
        FdtError::InvalidNodeName => "a node name is not valid UTF-8",
        FdtError::InvalidPropertyValue => "a property name is not valid",
        _ => "malformed blob",
    };
    error("/", problem)
}

impl<'a> Tree<'a> {
    /// Reads every node of `blob`.
    ///
    /// # Errors
    ///
    /// [`Error::Devicetree`] for a bad header, a truncated blob, offsets or strings out
    /// of range, nesting deeper than 32 levels, two nodes with one phandle.
    pub(crate) fn parse(blob: &'a [u8]) -> Result<Self> {
        let fdt = fdt::Fdt::<Parser<'a>>::new_unaligned_fallible(blob).map_err(blob_error)?;
        let root = fdt
            .find_node("/")
            .map_err(blob_error)?
            .ok_or_else(|| error("/", "no root node"))?;
        let mut tree = Tree {
            nodes: Vec::new(),
            phandles: BTreeMap::new(),
        };
        tree.add(root, None, 0)?;
        Ok(tree)
    }

    fn add(
        &mut self,
        node: FdtNode<'a, Parser<'a>>,
        parent: Option<usize>,
        depth: usize,
    ) -> Result<()> {
        let parent_path = parent.map_or("", |index| self.nodes[index].path.as_str());
        if depth > MAX_DEPTH {
            return Err(error(parent_path, "nodes nested too deeply"));
        }
        let name = node.name().map_err(blob_error)?;
        let mut path = String::from(parent_path);
        if parent.is_some() {
            if path != "/" {
                path.push('/');
            }
            path.push_str(name.name);
            if let Some(unit) = name.unit_address {
                path.push('@');
                path.push_str(unit);
            }
        } else {
            path.push('/');
        }
        let mut properties = Vec::new();
        for property in node.properties().map_err(blob_error)?.iter() {
            let property = property.map_err(blob_error)?;
            properties.push((property.name, property.value));
        }
        let index = self.nodes.len();
        let phandle = properties
            .iter()
            .find(|(name, _)| *name == "phandle" || *name == "linux,phandle")
            .map(|(_, value)| {
                one_cell(value).ok_or_else(|| error(&path, "phandle is not one cell"))
            })
            .transpose()?;
        if let Some(phandle) = phandle
            && self.phandles.insert(phandle, index).is_some()
        {
            return Err(error(&path, "two nodes have the same phandle"));
        }
        self.nodes.push(Node {
            path,
            name: if parent.is_some() { name.name } else { "" },
            parent,
            properties,
        });
        for child in node.children().map_err(blob_error)?.iter() {
            let child = child.map_err(blob_error)?;
            self.add(child, Some(index), depth + 1)?;
        }
        Ok(())
    }

    pub(crate) fn property(&self, node: usize, name: &str) -> Option<&'a [u8]> {
        self.nodes[node]
            .properties
            .iter()
            .find(|(candidate, _)| *candidate == name)
            .map(|(_, value)| *value)
    }

    /// A one-cell property, `Ok(None)` if absent.
    pub(crate) fn u32_property(&self, node: usize, name: &'static str) -> Result<Option<u32>> {
        self.property(node, name)
            .map(|value| {
                one_cell(value).ok_or_else(|| error(&self.nodes[node].path, name_problem(name)))
            })
            .transpose()
    }

    /// A cell-count property (`#address-cells`, `#interrupt-cells`, ...): at most 4.
    pub(crate) fn cell_count(&self, node: usize, name: &'static str) -> Result<Option<usize>> {
        match self.u32_property(node, name)? {
            Some(count) if count > 4 => Err(error(
                &self.nodes[node].path,
                "a #*-cells value is larger than 4",
            )),
            count => Ok(count.map(|count| count as usize)),
        }
    }

    /// `#address-cells` of `node` (for its children's `reg`), 2 when absent.
    pub(crate) fn address_cells(&self, node: usize) -> Result<usize> {
        Ok(self.cell_count(node, "#address-cells")?.unwrap_or(2))
    }

    /// `#size-cells` of `node`, 1 when absent.
    pub(crate) fn size_cells(&self, node: usize) -> Result<usize> {
        Ok(self.cell_count(node, "#size-cells")?.unwrap_or(1))
    }

    pub(crate) fn strings(&self, node: usize, name: &str) -> Option<StringList<'a>> {
        let value = self.property(node, name)?;
        crate::property::raw_strings(value)
    }

    /// Whether `status` is absent, `"okay"` or `"ok"`.
    pub(crate) fn is_enabled(&self, node: usize) -> bool {
        self.strings(node, "status")
            .and_then(|list| list.first())
            .is_none_or(|status| status == "okay" || status == "ok")
    }

    pub(crate) fn by_phandle(&self, phandle: u32) -> Option<usize> {
        self.phandles.get(&phandle).copied()
    }

    /// The node a full path (or an alias, with `/aliases`) names.
    pub(crate) fn find(&self, path: &str) -> Option<usize> {
        if !path.starts_with('/') {
            let aliases = self.nodes.iter().position(|node| node.path == "/aliases")?;
            let target = self.strings(aliases, path)?.first()?;
            return target.starts_with('/').then(|| self.find(target)).flatten();
        }
        self.nodes.iter().position(|node| node.path == path)
    }

    /// The interrupt parent of `node`: its own or its nearest ancestor's
    /// `interrupt-parent`, else the parent node (the devicetree specification's rule).
    pub(crate) fn interrupt_parent(&self, node: usize) -> Result<Option<usize>> {
        let mut current = Some(node);
        while let Some(index) = current {
            if let Some(phandle) = self.u32_property(index, "interrupt-parent")? {
                return self.by_phandle(phandle).map(Some).ok_or_else(|| {
                    error(&self.nodes[node].path, "interrupt-parent names no node")
                });
            }
            current = self.nodes[index].parent;
        }
        Ok(self.nodes[node].parent)
    }
}

/// Calls `each` with every RAM range of `blob` (the `reg` of each `/memory` node, or
/// node whose `device_type` is `"memory"`), without allocating.
pub(crate) fn memory(blob: &[u8], each: &mut dyn FnMut(MmioRange)) -> Result<()> {
    let fdt = fdt::Fdt::<Parser<'_>>::new_unaligned_fallible(blob).map_err(blob_error)?;
    let root = fdt
        .find_node("/")
        .map_err(blob_error)?
        .ok_or_else(|| error("/", "no root node"))?;
    let cells = |name: &'static str, default: usize| -> Result<usize> {
        match root.raw_property(name).map_err(blob_error)? {
            Some(property) => match one_cell(property.value) {
                Some(count) if count <= 4 => Ok(count as usize),
                _ => Err(error("/", "#address-cells or #size-cells is invalid")),
            },
            None => Ok(default),
        }
    };
    let (address_cells, size_cells) = (cells("#address-cells", 2)?, cells("#size-cells", 1)?);
    for child in root.children().map_err(blob_error)?.iter() {
        let child = child.map_err(blob_error)?;
        let name = child.name().map_err(blob_error)?;
        let device_type = child.raw_property("device_type").map_err(blob_error)?;
        let is_memory = device_type.map_or(name.name == "memory", |property| {
            property.value.split(|&byte| byte == 0).next() == Some(b"memory".as_slice())
        });
        let status = child.raw_property("status").map_err(blob_error)?;
        let enabled = status.is_none_or(|property| {
            matches!(
                property.value.split(|&byte| byte == 0).next(),
                Some(b"okay" | b"ok")
            )
        });
        if !is_memory || !enabled {
            continue;
        }
        let Some(reg) = child.raw_property("reg").map_err(blob_error)? else {
            continue;
        };
        let problem = "memory reg is malformed, overflows 64 bits or wraps";
        let cells = Cells::new(reg.value).ok_or_else(|| error("/memory", problem))?;
        let per_entry = address_cells + size_cells;
        if per_entry == 0 || cells.len() % per_entry != 0 {
            return Err(error("/memory", problem));
        }
        let mut at = 0;
        while at < cells.len() {
            let start = take_number(&cells, &mut at, address_cells);
            let length = take_number(&cells, &mut at, size_cells);
            let (Some(start), Some(length)) = (start, length) else {
                return Err(error("/memory", problem));
            };
            if length != 0 {
                each(MmioRange::new(start, length).map_err(|_| error("/memory", problem))?);
            }
        }
    }
    Ok(())
}

fn name_problem(name: &str) -> &'static str {
    match name {
        "interrupt-parent" => "interrupt-parent is not one cell",
        "#address-cells" => "#address-cells is not one cell",
        "#size-cells" => "#size-cells is not one cell",
        "#interrupt-cells" => "#interrupt-cells is not one cell",
        _ => "a cell-count property is not one cell",
    }
}

fn one_cell(value: &[u8]) -> Option<u32> {
    let cells = Cells::new(value)?;
    (cells.len() == 1).then(|| cells.get(0)).flatten()
}

/// Reads `count` cells (at most 2 significant) from `cells` at `*at` as one `u64`.
///
/// # Errors
///
/// `None` if the cells run out or the value does not fit 64 bits.
pub(crate) fn take_number(cells: &Cells<'_>, at: &mut usize, count: usize) -> Option<u64> {
    let mut value: u64 = 0;
    for _ in 0..count {
        let cell = cells.get(*at)?;
        *at += 1;
        if value >> 32 != 0 {
            return None;
        }
        value = value << 32 | u64::from(cell);
    }
    Some(value)
}
