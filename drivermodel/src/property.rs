//! Device properties: typed values read in place from one compact buffer per device.
//!
//! A device's properties (set with [`DeviceBuilder::property`] and its siblings, or
//! copied from a devicetree node by the `devicetree` platform, a feature) live in **one**
//! heap allocation: a packed sequence of records `kind, name length, value length, name,
//! value`. Nothing is copied into a separate allocation per property, and a device
//! without properties allocates nothing. References to other devices sit in a second,
//! small table of weak references (only when a device has any), so a reference never
//! keeps its target alive and two devices referring to each other leak nothing.
//!
//! Values are stored the way a devicetree stores them: numbers as big-endian cells, a
//! string list as NUL-terminated strings. Reads are typed and fail with a clear
//! [`Error::Property`] naming the property and the [`PropertyError`]:
//!
//! | read | accepts | fails with |
//! |---|---|---|
//! | [`read_u32`](crate::Device::read_u32), [`read_u64`](crate::Device::read_u64) | a value of exactly one number | `Missing`, `WrongType`, `Malformed` |
//! | [`read_u32_array`](crate::Device::read_u32_array), [`read_u64_array`](crate::Device::read_u64_array) | numbers (a devicetree property: any multiple of the cell size) | `Missing`, `WrongType`, `Malformed` |
//! | [`read_u32_at`](crate::Device::read_u32_at) | as the array, one element | also `OutOfRange` |
//! | [`read_string`](crate::Device::read_string) | a string, or the first of a list | `Missing`, `WrongType`, `Malformed` |
//! | [`read_strings`](crate::Device::read_strings) | a string or a string list | `Missing`, `WrongType`, `Malformed` |
//! | [`read_reference`](crate::Device::read_reference) | a reference list | also `OutOfRange`, `Dangling` |
//! | [`read_bool`](crate::Device::read_bool) | anything: presence is `true` (Linux's rule), except a stored `false` | never |
//!
//! A devicetree property is untyped ([`PropertyKind::Raw`]): the read decides how to
//! interpret it, as Linux's `of_property_read_*` do. A property set from Rust keeps its
//! type, and a read of another type is a [`PropertyError::WrongType`].
//!
//! ```
//! use drivermodel::{DeviceBuilder, DeviceModel, Error};
//! use drivermodel::property::PropertyError;
//!
//! let model = DeviceModel::new();
//! let clock = model.add_device(DeviceBuilder::new("clock0"))?;
//! let uart = model.add_device(
//!     DeviceBuilder::new("uart0")
//!         .property("clock-frequency", 3_686_400u32)
//!         .property("reg-shift", 2u32)
//!         .property("compatible", ["vendor,uart-v2", "ns16550a"].as_slice())
//!         .reference("clocks", &clock, &[7]),
//! )?;
//! assert_eq!(uart.read_u32("clock-frequency")?, 3_686_400);
//! assert_eq!(uart.read_string("compatible")?, "vendor,uart-v2");
//! assert_eq!(uart.read_strings("compatible")?.last(), Some("ns16550a"));
//! let clocks = uart.read_reference("clocks", 0)?;
//! assert!(clocks.device().same_as(&clock));
//! assert_eq!(clocks.args().get(0), Some(7));
//! assert!(matches!(
//!     uart.read_string("reg-shift"),
//!     Err(Error::Property { problem: PropertyError::WrongType { .. }, .. })
//! ));
//! assert!(matches!(
//!     uart.read_u32("current-speed"),
//!     Err(Error::Property { problem: PropertyError::Missing, .. })
//! ));
//! # drop((uart, clock));
//! # Ok::<(), drivermodel::Error>(())
//! ```
//!
//! [`DeviceBuilder::property`]: crate::DeviceBuilder::property

#![forbid(unsafe_code)]

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Weak;
use alloc::vec::Vec;
use core::fmt;

use crate::device::{ARef, Device};
use crate::error::{Error, Result};

/// How a property's value was stored, and so which reads accept it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PropertyKind {
    /// A flag: `true` or `false`.
    Bool,
    /// 32-bit numbers.
    U32,
    /// 64-bit numbers.
    U64,
    /// One string.
    String,
    /// A list of strings.
    Strings,
    /// Opaque bytes.
    Bytes,
    /// References to other devices, each with argument cells.
    References,
    /// Untyped bytes from a devicetree: numbers are read as big-endian cells, strings as
    /// NUL-terminated UTF-8.
    Raw,
}

impl PropertyKind {
    const ALL: [Self; 8] = [
        Self::Bool,
        Self::U32,
        Self::U64,
        Self::String,
        Self::Strings,
        Self::Bytes,
        Self::References,
        Self::Raw,
    ];

    fn code(self) -> u8 {
        self as u8
    }

    fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// A short name for messages: `"u32"`, `"string list"`, ...
    pub fn name(self) -> &'static str {
        match self {
            Self::Bool => "bool",
            Self::U32 => "u32",
            Self::U64 => "u64",
            Self::String => "string",
            Self::Strings => "string list",
            Self::Bytes => "bytes",
            Self::References => "references",
            Self::Raw => "devicetree bytes",
        }
    }
}

/// What is wrong with a property read (in [`Error::Property`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PropertyError {
    /// The device has no property of this name.
    Missing,
    /// The property has another type.
    WrongType {
        /// What the read wanted.
        expected: &'static str,
        /// What the property holds.
        found: PropertyKind,
    },
    /// The index is past the end of the array or list.
    OutOfRange {
        /// The index asked for.
        index: usize,
        /// How many elements there are.
        count: usize,
    },
    /// The bytes cannot be read as asked (length not a multiple of the cell size, a
    /// string without its NUL or not UTF-8, a value of several numbers read as one).
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// The referenced device is gone (or was never found).
    Dangling,
}

impl fmt::Display for PropertyError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => formatter.write_str("missing"),
            Self::WrongType { expected, found } => {
                write!(formatter, "expected {expected}, found {}", found.name())
            }
            Self::OutOfRange { index, count } => {
                write!(formatter, "index {index} out of range ({count} elements)")
            }
            Self::Malformed { reason } => write!(formatter, "malformed: {reason}"),
            Self::Dangling => formatter.write_str("the referenced device is gone"),
        }
    }
}

impl Error {
    fn property(name: &str, problem: PropertyError) -> Self {
        Self::Property {
            property: name.into(),
            problem,
        }
    }
}

/// The size of a record header: kind (1), name length (2), value length (4).
const HEADER: usize = 7;

/// The properties of one device: the packed records and the reference targets.
///
/// # Invariants
///
/// `bytes` is a sequence of well-formed records (made only by [`Encoder`]): each header
/// is followed by a UTF-8 name of its name length and a value of its value length, and
/// every target index inside a `References` value is below `targets.len()`.
#[derive(Default)]
pub(crate) struct Properties {
    bytes: Box<[u8]>,
    targets: Box<[Weak<Device>]>,
}

impl Properties {
    pub(crate) fn iter(&self) -> Iter<'_> {
        Iter {
            rest: &self.bytes,
            targets: &self.targets,
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<Property<'_>> {
        self.iter().find(|property| property.name == name)
    }
}

/// The iterator over a device's properties, in the order they were set.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    rest: &'a [u8],
    targets: &'a [Weak<Device>],
}

impl<'a> Iterator for Iter<'a> {
    type Item = Property<'a>;

    fn next(&mut self) -> Option<Property<'a>> {
        // The invariant of `Properties` makes every step succeed; a short buffer ends the
        // iteration rather than panicking.
        let header = self.rest.get(..HEADER)?;
        let kind = PropertyKind::from_code(header[0])?;
        let name_length = usize::from(u16::from_le_bytes([header[1], header[2]]));
        let value_length =
            u32::from_le_bytes([header[3], header[4], header[5], header[6]]) as usize;
        let body = &self.rest[HEADER..];
        let name = core::str::from_utf8(body.get(..name_length)?).ok()?;
        let value = body.get(name_length..name_length + value_length)?;
        self.rest = &body[name_length + value_length..];
        Some(Property {
            name,
            kind,
            value,
            targets: self.targets,
        })
    }
}

/// Builds a [`Properties`] buffer: the only code that writes records.
#[derive(Default)]
pub(crate) struct Encoder {
    bytes: Vec<u8>,
    targets: Vec<Weak<Device>>,
}

impl Encoder {
    /// Appends (or replaces) the property `name`.
    pub(crate) fn set(&mut self, name: &str, kind: PropertyKind, value: &[u8]) {
        self.remove(name);
        // Names longer than 64 KiB and values over 4 GiB are not properties any
        // devicetree or builder can produce; cut the name rather than fail the builder.
        let name = truncate(name, usize::from(u16::MAX));
        let value = &value[..value.len().min(u32::MAX as usize)];
        self.bytes.reserve(HEADER + name.len() + value.len());
        self.bytes.push(kind.code());
        self.bytes
            .extend_from_slice(&(name.len() as u16).to_le_bytes());
        self.bytes
            .extend_from_slice(&(value.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.extend_from_slice(value);
    }

    /// Appends a reference list; `entries` are `(target, argument cells)`.
    pub(crate) fn set_references<'d>(
        &mut self,
        name: &str,
        entries: impl IntoIterator<Item = (Weak<Device>, &'d [u32])>,
    ) {
        let mut value = Vec::new();
        for (target, args) in entries {
            let index = self.targets.len() as u32;
            self.targets.push(target);
            value.extend_from_slice(&index.to_be_bytes());
            let count = args.len().min(usize::from(u8::MAX));
            value.push(count as u8);
            for arg in &args[..count] {
                value.extend_from_slice(&arg.to_be_bytes());
            }
        }
        self.set(name, PropertyKind::References, &value);
    }

    fn remove(&mut self, name: &str) {
        let mut offset = 0;
        while let Some(property) = (Iter {
            rest: &self.bytes[offset..],
            targets: &self.targets,
        })
        .next()
        {
            let length = HEADER + property.name.len() + property.value.len();
            if property.name == name {
                // Its targets stay in the table (unreachable, weak): rare and harmless.
                self.bytes.drain(offset..offset + length);
                return;
            }
            offset += length;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub(crate) fn finish(self) -> Properties {
        // INVARIANT: only `set` wrote records, each whole.
        Properties {
            bytes: self.bytes.into_boxed_slice(),
            targets: self.targets.into_boxed_slice(),
        }
    }
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// One property of a device, borrowed from its buffer.
#[derive(Clone, Copy)]
pub struct Property<'a> {
    name: &'a str,
    kind: PropertyKind,
    value: &'a [u8],
    targets: &'a [Weak<Device>],
}

impl<'a> Property<'a> {
    /// The name.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// How it was stored.
    pub fn kind(&self) -> PropertyKind {
        self.kind
    }

    /// The stored bytes (numbers big-endian, strings NUL-terminated; a devicetree
    /// property's bytes exactly as in the blob).
    pub fn bytes(&self) -> &'a [u8] {
        self.value
    }

    /// The value, decoded by its kind (a devicetree property stays [`Value::Raw`]).
    pub fn value(&self) -> Value<'a> {
        match self.kind {
            PropertyKind::Bool => Value::Bool(self.value.first() != Some(&0)),
            PropertyKind::U32 => Value::U32(Cells(self.value)),
            PropertyKind::U64 => Value::U64(Cells64(self.value)),
            PropertyKind::String => Value::String(
                StringList(self.value)
                    .next_string()
                    .and_then(|(first, _)| first.ok())
                    .unwrap_or(""),
            ),
            PropertyKind::Strings => Value::Strings(StringList(self.value)),
            PropertyKind::Bytes => Value::Bytes(self.value),
            PropertyKind::References => Value::References(References {
                rest: self.value,
                targets: self.targets,
            }),
            PropertyKind::Raw => Value::Raw(self.value),
        }
    }

    fn error(&self, problem: PropertyError) -> Error {
        Error::property(self.name, problem)
    }

    fn wrong_type(&self, expected: &'static str) -> Error {
        self.error(PropertyError::WrongType {
            expected,
            found: self.kind,
        })
    }

    /// As 32-bit cells.
    ///
    /// # Errors
    ///
    /// `WrongType` unless the kind is `U32` or `Raw`; `Malformed` if a raw length is not
    /// a multiple of 4.
    pub fn as_u32_array(&self) -> Result<Cells<'a>> {
        match self.kind {
            PropertyKind::U32 => Ok(Cells(self.value)),
            PropertyKind::Raw if self.value.len().is_multiple_of(4) => Ok(Cells(self.value)),
            PropertyKind::Raw => Err(self.error(PropertyError::Malformed {
                reason: "length is not a multiple of 4 bytes",
            })),
            _ => Err(self.wrong_type("u32 cells")),
        }
    }

    /// As 64-bit numbers.
    ///
    /// # Errors
    ///
    /// `WrongType` unless the kind is `U64` or `Raw`; `Malformed` if a raw length is not
    /// a multiple of 8.
    pub fn as_u64_array(&self) -> Result<Cells64<'a>> {
        match self.kind {
            PropertyKind::U64 => Ok(Cells64(self.value)),
            PropertyKind::Raw if self.value.len().is_multiple_of(8) => Ok(Cells64(self.value)),
            PropertyKind::Raw => Err(self.error(PropertyError::Malformed {
                reason: "length is not a multiple of 8 bytes",
            })),
            _ => Err(self.wrong_type("u64 numbers")),
        }
    }

    /// As exactly one 32-bit number.
    ///
    /// # Errors
    ///
    /// As [`as_u32_array`](Self::as_u32_array), and `Malformed` unless there is exactly
    /// one number.
    pub fn as_u32(&self) -> Result<u32> {
        let cells = self.as_u32_array()?;
        match (cells.len(), cells.get(0)) {
            (1, Some(value)) => Ok(value),
            _ => Err(self.error(PropertyError::Malformed {
                reason: "not exactly one u32",
            })),
        }
    }

    /// As exactly one 64-bit number.
    ///
    /// # Errors
    ///
    /// As [`as_u64_array`](Self::as_u64_array), and `Malformed` unless there is exactly
    /// one number.
    pub fn as_u64(&self) -> Result<u64> {
        let numbers = self.as_u64_array()?;
        match (numbers.len(), numbers.get(0)) {
            (1, Some(value)) => Ok(value),
            _ => Err(self.error(PropertyError::Malformed {
                reason: "not exactly one u64",
            })),
        }
    }

    /// As a string list (one string counts as a list of one).
    ///
    /// # Errors
    ///
    /// `WrongType` unless the kind is `String`, `Strings` or `Raw`; `Malformed` if a
    /// string lacks its NUL or is not UTF-8.
    pub fn as_strings(&self) -> Result<StringList<'a>> {
        match self.kind {
            PropertyKind::String | PropertyKind::Strings | PropertyKind::Raw => {
                let list = StringList(self.value);
                list.check()
                    .map_err(|reason| self.error(PropertyError::Malformed { reason }))?;
                Ok(list)
            }
            _ => Err(self.wrong_type("string")),
        }
    }

    /// As one string: the string, or the first of a list.
    ///
    /// # Errors
    ///
    /// As [`as_strings`](Self::as_strings), and `Malformed` for an empty list.
    pub fn as_str(&self) -> Result<&'a str> {
        self.as_strings()?.first().ok_or_else(|| {
            self.error(PropertyError::Malformed {
                reason: "empty string list",
            })
        })
    }

    /// As a reference list.
    ///
    /// # Errors
    ///
    /// `WrongType` unless the kind is `References`.
    pub fn as_references(&self) -> Result<References<'a>> {
        match self.kind {
            PropertyKind::References => Ok(References {
                rest: self.value,
                targets: self.targets,
            }),
            _ => Err(self.wrong_type("references")),
        }
    }

    /// The `index`-th reference, its target upgraded to a counted reference.
    ///
    /// # Errors
    ///
    /// As [`as_references`](Self::as_references), `OutOfRange`, and `Dangling` if the
    /// target is gone.
    pub fn reference(&self, index: usize) -> Result<Reference<'a>> {
        let references = self.as_references()?;
        let count = references.clone().count();
        let entry = references
            .clone()
            .nth(index)
            .ok_or_else(|| self.error(PropertyError::OutOfRange { index, count }))?;
        let device = entry
            .target
            .ok_or_else(|| self.error(PropertyError::Dangling))?;
        Ok(Reference {
            device,
            args: entry.args,
        })
    }
}

impl fmt::Debug for Property<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Property")
            .field("name", &self.name)
            .field("value", &self.value())
            .finish()
    }
}

/// `name = value` in a devicetree-like notation: `<0x10 0x20>`, `"a", "b"`, `[01 02]`.
impl fmt::Display for Property<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} = {}", self.name, self.value())
    }
}

/// A property value decoded by its kind.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Value<'a> {
    /// A flag.
    Bool(bool),
    /// 32-bit numbers.
    U32(Cells<'a>),
    /// 64-bit numbers.
    U64(Cells64<'a>),
    /// One string.
    String(&'a str),
    /// A string list.
    Strings(StringList<'a>),
    /// Opaque bytes.
    Bytes(&'a [u8]),
    /// References to devices.
    References(References<'a>),
    /// Untyped devicetree bytes.
    Raw(&'a [u8]),
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bool(flag) => write!(formatter, "{flag}"),
            Self::U32(cells) => write!(formatter, "{cells}"),
            Self::U64(numbers) => {
                formatter.write_str("/bits/ 64 <")?;
                for (index, number) in numbers.iter().enumerate() {
                    let space = if index == 0 { "" } else { " " };
                    write!(formatter, "{space}{number:#x}")?;
                }
                formatter.write_str(">")
            }
            Self::String(text) => write!(formatter, "{text:?}"),
            Self::Strings(list) => write!(formatter, "{list}"),
            Self::References(references) => {
                for (index, entry) in references.clone().enumerate() {
                    let separator = if index == 0 { "" } else { ", " };
                    let name = entry.target.as_ref().map_or("?", |device| device.name());
                    write!(formatter, "{separator}<&{name}")?;
                    for arg in entry.args.iter() {
                        write!(formatter, " {arg:#x}")?;
                    }
                    formatter.write_str(">")?;
                }
                Ok(())
            }
            Self::Bytes(bytes) => write_bytes(formatter, bytes),
            // Shown as a devicetree would: strings if it reads as strings, else cells.
            Self::Raw(bytes) => {
                let list = StringList(bytes);
                if !bytes.is_empty() && list.check().is_ok() && list.printable() {
                    write!(formatter, "{list}")
                } else if !bytes.is_empty() && bytes.len().is_multiple_of(4) {
                    write!(formatter, "{}", Cells(bytes))
                } else {
                    write_bytes(formatter, bytes)
                }
            }
        }
    }
}

fn write_bytes(formatter: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    formatter.write_str("[")?;
    for (index, byte) in bytes.iter().enumerate() {
        let space = if index == 0 { "" } else { " " };
        write!(formatter, "{space}{byte:02x}")?;
    }
    formatter.write_str("]")
}

/// Big-endian 32-bit cells, read in place.
///
/// # Invariants
///
/// The length is a multiple of 4.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Cells<'a>(&'a [u8]);

impl<'a> Cells<'a> {
    /// Cells over `bytes` (big-endian), or `None` if the length is not a multiple of 4.
    pub fn new(bytes: &'a [u8]) -> Option<Self> {
        (bytes.len().is_multiple_of(4)).then_some(Self(bytes))
    }

    /// How many cells.
    pub fn len(&self) -> usize {
        self.0.len() / 4
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `index`-th cell.
    pub fn get(&self, index: usize) -> Option<u32> {
        let bytes = self.0.get(index.checked_mul(4)?..)?.get(..4)?;
        Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// The cells in order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + 'a {
        self.0
            .chunks_exact(4)
            .map(|cell| u32::from_be_bytes([cell[0], cell[1], cell[2], cell[3]]))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }
}

impl fmt::Debug for Cells<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_list().entries(self.iter()).finish()
    }
}

/// `<0x1 0x2>`.
impl fmt::Display for Cells<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("<")?;
        for (index, cell) in self.iter().enumerate() {
            let space = if index == 0 { "" } else { " " };
            write!(formatter, "{space}{cell:#x}")?;
        }
        formatter.write_str(">")
    }
}

/// Big-endian 64-bit numbers, read in place.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Cells64<'a>(&'a [u8]);

impl<'a> Cells64<'a> {
    /// How many numbers.
    pub fn len(&self) -> usize {
        self.0.len() / 8
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.len() < 8
    }

    /// The `index`-th number.
    pub fn get(&self, index: usize) -> Option<u64> {
        let bytes = self.0.get(index.checked_mul(8)?..)?.get(..8)?;
        let mut array = [0; 8];
        array.copy_from_slice(bytes);
        Some(u64::from_be_bytes(array))
    }

    /// The numbers in order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + 'a {
        self.0.chunks_exact(8).map(|chunk| {
            let mut array = [0; 8];
            array.copy_from_slice(chunk);
            u64::from_be_bytes(array)
        })
    }
}

impl fmt::Debug for Cells64<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_list().entries(self.iter()).finish()
    }
}

/// NUL-terminated UTF-8 strings, read in place. Made only by checking reads, so every
/// string in it is whole.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct StringList<'a>(&'a [u8]);

impl<'a> StringList<'a> {
    fn next_string(&self) -> Option<(core::result::Result<&'a str, &'static str>, &'a [u8])> {
        if self.0.is_empty() {
            return None;
        }
        let Some(end) = self.0.iter().position(|&byte| byte == 0) else {
            return Some((Err("a string without its terminating NUL"), &[]));
        };
        let text = core::str::from_utf8(&self.0[..end]).map_err(|_| "a string not in UTF-8");
        Some((text, &self.0[end + 1..]))
    }

    fn check(&self) -> core::result::Result<(), &'static str> {
        let mut rest = *self;
        while let Some((text, tail)) = rest.next_string() {
            text?;
            rest = StringList(tail);
        }
        Ok(())
    }

    fn printable(&self) -> bool {
        self.iter()
            .all(|text| !text.is_empty() && text.chars().all(|c| !c.is_control()))
    }

    /// The strings in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + 'a {
        let mut rest = *self;
        core::iter::from_fn(move || {
            let (text, tail) = rest.next_string()?;
            rest = StringList(tail);
            text.ok()
        })
    }

    /// The first string.
    pub fn first(&self) -> Option<&'a str> {
        self.iter().next()
    }

    /// The last string.
    pub fn last(&self) -> Option<&'a str> {
        self.iter().last()
    }

    /// How many strings.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The position of `text` in the list (Linux's `of_property_match_string`).
    pub fn position(&self, text: &str) -> Option<usize> {
        self.iter().position(|candidate| candidate == text)
    }
}

impl fmt::Debug for StringList<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_list().entries(self.iter()).finish()
    }
}

/// `"a", "b"`.
impl fmt::Display for StringList<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, text) in self.iter().enumerate() {
            let separator = if index == 0 { "" } else { ", " };
            write!(formatter, "{separator}{text:?}")?;
        }
        Ok(())
    }
}

/// `bytes` as a checked string list (for the devicetree platform).
#[cfg(feature = "devicetree")]
pub(crate) fn raw_strings(bytes: &[u8]) -> Option<StringList<'_>> {
    let list = StringList(bytes);
    list.check().ok().map(|()| list)
}

/// A reference list, read in place: each entry names a target device and carries
/// argument cells (a devicetree phandle and its specifier).
#[derive(Clone)]
pub struct References<'a> {
    rest: &'a [u8],
    targets: &'a [Weak<Device>],
}

/// One entry of a [`References`] list.
#[derive(Debug)]
pub struct ReferenceEntry<'a> {
    /// The target, if it still exists (or was found at all).
    pub target: Option<ARef<Device>>,
    /// The argument cells.
    pub args: Cells<'a>,
}

impl<'a> Iterator for References<'a> {
    type Item = ReferenceEntry<'a>;

    fn next(&mut self) -> Option<ReferenceEntry<'a>> {
        let head = self.rest.get(..5)?;
        let index = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let count = usize::from(head[4]);
        let args = self.rest.get(5..5 + 4 * count)?;
        self.rest = &self.rest[5 + 4 * count..];
        let target = self.targets.get(index).and_then(Weak::upgrade).map(ARef);
        Some(ReferenceEntry {
            target,
            args: Cells(args),
        })
    }
}

impl fmt::Debug for References<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_list().entries(self.clone()).finish()
    }
}

/// A resolved reference: the target device and the argument cells.
#[derive(Debug)]
pub struct Reference<'a> {
    device: ARef<Device>,
    args: Cells<'a>,
}

impl<'a> Reference<'a> {
    /// The referenced device.
    pub fn device(&self) -> &ARef<Device> {
        &self.device
    }

    /// The argument cells (for example a clock index).
    pub fn args(&self) -> Cells<'a> {
        self.args
    }
}

/// A value that [`DeviceBuilder::property`](crate::DeviceBuilder::property) can store:
/// `bool`, `u32`, `u64`, `&str`, `String`, `&[u32]`, `&[u64]`, `&[&str]`, `&[u8]` and
/// `Vec<u8>`.
pub trait PropertyValue: sealed::Sealed {
    /// Writes the value; the crate's encoder calls it.
    #[doc(hidden)]
    fn encode(&self, out: &mut Vec<u8>) -> PropertyKind;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! value {
    ($type:ty, |$value:ident, $out:ident| $body:expr) => {
        impl sealed::Sealed for $type {}
        impl PropertyValue for $type {
            fn encode(&self, $out: &mut Vec<u8>) -> PropertyKind {
                let $value = self;
                $body
            }
        }
    };
}

value!(bool, |flag, out| {
    out.push(u8::from(*flag));
    PropertyKind::Bool
});
value!(u32, |number, out| {
    out.extend_from_slice(&number.to_be_bytes());
    PropertyKind::U32
});
value!(u64, |number, out| {
    out.extend_from_slice(&number.to_be_bytes());
    PropertyKind::U64
});
value!(&[u32], |numbers, out| {
    numbers
        .iter()
        .for_each(|number| out.extend_from_slice(&number.to_be_bytes()));
    PropertyKind::U32
});
value!(&[u64], |numbers, out| {
    numbers
        .iter()
        .for_each(|number| out.extend_from_slice(&number.to_be_bytes()));
    PropertyKind::U64
});
value!(&str, |text, out| {
    encode_string(text, out);
    PropertyKind::String
});
value!(String, |text, out| {
    encode_string(text, out);
    PropertyKind::String
});
value!(&[&str], |list, out| {
    list.iter().for_each(|text| encode_string(text, out));
    PropertyKind::Strings
});
value!(&[u8], |bytes, out| {
    out.extend_from_slice(bytes);
    PropertyKind::Bytes
});
value!(Vec<u8>, |bytes, out| {
    out.extend_from_slice(bytes);
    PropertyKind::Bytes
});

/// A string as stored: its bytes up to any NUL (a NUL would end it early), then a NUL.
fn encode_string(text: &str, out: &mut Vec<u8>) {
    let end = text.find('\0').unwrap_or(text.len());
    out.extend_from_slice(&text.as_bytes()[..end]);
    out.push(0);
}

/// Encodes `value` under `name` (used by the builders).
pub(crate) fn set_value(encoder: &mut Encoder, name: &str, value: &dyn PropertyValue) {
    let mut bytes = Vec::new();
    let kind = value.encode(&mut bytes);
    encoder.set(name, kind, &bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Properties {
        /// The heap bytes this set uses (the buffer and the target table).
        fn heap_bytes(&self) -> usize {
            self.bytes.len() + self.targets.len() * core::mem::size_of::<Weak<Device>>()
        }

        fn require(&self, name: &str) -> Result<Property<'_>> {
            self.get(name)
                .ok_or_else(|| Error::property(name, PropertyError::Missing))
        }
    }

    fn properties(build: impl FnOnce(&mut Encoder)) -> Properties {
        let mut encoder = Encoder::default();
        build(&mut encoder);
        encoder.finish()
    }

    #[test]
    fn typed_values_round_trip() {
        let set = properties(|encoder| {
            set_value(encoder, "a", &7u32);
            set_value(encoder, "b", &[1u32, 2, 3].as_slice());
            set_value(encoder, "c", &u64::MAX);
            set_value(encoder, "d", &"text");
            set_value(encoder, "e", &["x", "yz"].as_slice());
            set_value(encoder, "f", &false);
        });
        assert_eq!(set.require("a").unwrap().as_u32().unwrap(), 7);
        let cells = set.require("b").unwrap().as_u32_array().unwrap();
        assert_eq!(cells.iter().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(set.require("c").unwrap().as_u64().unwrap(), u64::MAX);
        assert_eq!(set.require("d").unwrap().as_str().unwrap(), "text");
        let list = set.require("e").unwrap().as_strings().unwrap();
        assert_eq!(list.iter().collect::<Vec<_>>(), ["x", "yz"]);
        assert_eq!(list.position("yz"), Some(1));
        assert!(matches!(
            set.require("f").unwrap().value(),
            Value::Bool(false)
        ));
        assert_eq!(set.iter().count(), 6);
    }

    #[test]
    fn setting_twice_replaces() {
        let set = properties(|encoder| {
            set_value(encoder, "a", &1u32);
            set_value(encoder, "b", &2u32);
            set_value(encoder, "a", &"now a string");
        });
        assert_eq!(set.iter().count(), 2);
        assert_eq!(set.require("a").unwrap().as_str().unwrap(), "now a string");
        assert_eq!(set.require("b").unwrap().as_u32().unwrap(), 2);
    }

    #[test]
    fn raw_bytes_are_read_like_a_devicetree() {
        let set = properties(|encoder| {
            encoder.set("reg", PropertyKind::Raw, &[0, 0, 0, 1, 0, 0, 0, 2]);
            encoder.set("odd", PropertyKind::Raw, &[0, 0, 1]);
            encoder.set("names", PropertyKind::Raw, b"ns16550a\0uart\0");
            encoder.set("unterminated", PropertyKind::Raw, b"abc");
        });
        let reg = set.require("reg").unwrap();
        assert_eq!(reg.as_u64().unwrap(), 0x1_0000_0002);
        assert_eq!(reg.as_u32_array().unwrap().get(1), Some(2));
        let many = reg.as_u32().unwrap_err();
        assert!(matches!(
            many,
            Error::Property {
                problem: PropertyError::Malformed { .. },
                ..
            }
        ));
        assert!(matches!(
            set.require("odd").unwrap().as_u32_array(),
            Err(Error::Property {
                problem: PropertyError::Malformed { .. },
                ..
            })
        ));
        assert_eq!(set.require("names").unwrap().as_str().unwrap(), "ns16550a");
        assert!(set.require("unterminated").unwrap().as_strings().is_err());
        assert!(matches!(
            set.require("nothing"),
            Err(Error::Property {
                problem: PropertyError::Missing,
                ..
            })
        ));
        assert_eq!(
            alloc::format!("{}", set.require("names").unwrap()),
            "names = \"ns16550a\", \"uart\""
        );
        assert_eq!(alloc::format!("{}", reg), "reg = <0x1 0x2>");
    }

    #[test]
    fn one_allocation_holds_every_value() {
        let set = properties(|encoder| {
            for index in 0..10u32 {
                set_value(encoder, &alloc::format!("p{index}"), &index);
            }
        });
        // Ten records of 7 header bytes, a 2-byte name and a 4-byte value.
        assert_eq!(set.heap_bytes(), 10 * (HEADER + 2 + 4));
    }
}
