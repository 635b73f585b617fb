//! A small shell on the serial console: the kernel's stand-in for sysfs.
//!
//! The pure parts live in `kernel_core::shell` and are host-tested there:
//! [`LineEditor`] turns typed bytes into an exact line or a `Refusal` (lost input,
//! invalid byte at column N, too long), and [`parse()`] turns a line into a [`Command`].
//! Here, [`execute`] runs a command against a [`DeviceModel`] and writes the answer to
//! any `fmt::Write`, so tests feed it strings; [`Shell`] joins the two over console
//! input and [`run`] is the binary's loop. A refused line, a bad command or a bad name
//! prints a message that starts with `error:` and changes nothing: nothing that was not
//! typed ever runs.
//!
//! Devices are named `NAME` (unique across buses in practice), `BUS/NAME`
//! (`platform/uart16550.0`, `pci/0000:00:02.0`, `faux/...`, `-/platform` for bus-less), or
//! by their path in the tree (`/devices/platform/uart16550.0`).

use alloc::string::String;
use core::fmt::{self, Write};

use drivermodel::device::BindingState;
use drivermodel::property::{Property, Value};
use drivermodel::resource::Resource;
use drivermodel::{ARef, Device, DeviceModel};

pub use kernel_core::shell::line::{Entry, Input, LineEditor, Refusal as LineRefusal};
use kernel_core::shell::name::DeviceName;
pub use kernel_core::shell::parse::{COMMANDS, Command, ParseError, parse};

use crate::arch::{self, io};
use crate::bus::{pci, platform};
use crate::text::FixedString;
use crate::{console, devices};

/// The prompt.
pub const PROMPT: &str = "devices> ";

/// A bus name copied out of a device that is dropped before the message is written.
type BusName = FixedString<32>;

/// Why a command could not run. It borrows the typed line and holds nothing on the heap:
/// an error message needs no memory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "the message is held inline so that an error needs no heap"
)]
enum Refusal<'a> {
    NoDevice(&'a str),
    Ambiguous(&'a str),
    NoDriver {
        bus: BusName,
        driver: &'a str,
    },
    NotPlatform {
        device: &'a str,
        bus: BusName,
    },
    NotPlatformName(&'a str),
    NoBoardDevice(&'a str),
    NoVirtualDisplay(&'a str),
    NoVgem(&'a str),
    /// The message of a failed operation's error (cut at 256 bytes).
    Failed(FixedString<256>),
    /// The command's own allocation failed.
    OutOfMemory,
}

impl fmt::Display for Refusal<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoDevice(name) => write!(formatter, "no device named `{name}` (see `tree`)"),
            Self::Ambiguous(name) => {
                write!(
                    formatter,
                    "`{name}` names devices on several buses; use BUS/NAME"
                )
            }
            Self::NoDriver { bus, driver } => {
                write!(
                    formatter,
                    "no driver `{driver}` on bus `{bus}` (see `drivers`)"
                )
            }
            Self::NotPlatform { device, bus } => write!(
                formatter,
                "`{device}` is on bus `{bus}`; only platform devices can be deleted or added"
            ),
            Self::NotPlatformName(device) => write!(
                formatter,
                "`{device}` is not a platform device name (NAME, platform/NAME or /devices/platform/NAME)"
            ),
            Self::NoBoardDevice(name) => {
                write!(formatter, "no board device `{name}`; the board has: ")?;
                for (index, entry) in platform::BOARD.iter().enumerate() {
                    if index > 0 {
                        formatter.write_str(", ")?;
                    }
                    formatter.write_str(entry.name)?;
                }
                Ok(())
            }
            Self::NoVirtualDisplay(name) => {
                write!(formatter, "no virtual display `{name}` (see `vkms`)")
            }
            Self::NoVgem(name) => write!(formatter, "no vgem device `{name}` (see `vgem`)"),
            Self::Failed(message) => formatter.write_str(message.as_str()),
            Self::OutOfMemory => formatter.write_str("out of memory; nothing changed"),
        }
    }
}

/// Finds a registered device by its tree path (`/devices/...`), `NAME` or `BUS/NAME`
/// (`-` for bus-less devices).
#[expect(
    clippy::result_large_err,
    reason = "a refusal is inline so that the error path needs no heap (see `Refusal`)"
)]
fn find<'a>(model: &DeviceModel, name: &'a str) -> Result<ARef<Device>, Refusal<'a>> {
    let name = match DeviceName::parse(name) {
        DeviceName::Path(path) => {
            return model.find_by_path(path).ok_or(Refusal::NoDevice(name));
        }
        DeviceName::OnBus { bus, name: device } => {
            return model
                .find_device(bus, device)
                .ok_or(Refusal::NoDevice(name));
        }
        DeviceName::Name(name) => name,
    };
    let mut matches = model
        .devices()
        .into_iter()
        .filter(|device| device.name() == name);
    let first = matches.next().ok_or(Refusal::NoDevice(name))?;
    if matches.next().is_some() {
        return Err(Refusal::Ambiguous(name));
    }
    Ok(first)
}

fn failed(error: impl fmt::Display) -> Refusal<'static> {
    Refusal::Failed(FixedString::from_fmt(format_args!("{error}")))
}

/// Heap a command may need: below this much free heap, a command is refused rather
/// than run.
///
/// The shell's own code allocates nothing infallibly: a refusal borrows the typed line
/// or formats into a fixed buffer, properties are listed sorted without a list, a name
/// kept across a delete is copied fallibly. What it calls does allocate infallibly: the
/// device model's listings and operations (`tree`, finding a device by name, `bind`,
/// `unbind`, `add`, `delete`, `suspend`, `events`) and the display listings (`vkms`,
/// `vgem`, `shared`) and device creation (`vkms add`, `vgem add`: the display
/// subsystem's own rules are in `crate::drm::quota`). Those needs are a few KiB per
/// command, so the shell checks this headroom before it calls them.
pub const HEAP_RESERVE: usize = 64 * 1024;

/// Parses and runs one line, writing the answer (or `error: ...`) to `out`. With less
/// than [`HEAP_RESERVE`] bytes of heap free, the line is refused with `error: out of
/// memory` instead (a display client that took the heap does not take the shell down).
///
/// # Errors
///
/// Only `out`'s errors.
pub fn run_line(model: &DeviceModel, line: &str, out: &mut dyn Write) -> fmt::Result {
    let free = arch::heap::size_bytes().saturating_sub(arch::heap::used_bytes());
    if free < HEAP_RESERVE && !matches!(parse(line), Ok(Command::Empty)) {
        return writeln!(
            out,
            "error: out of memory: {free} bytes of heap free, a command needs {HEAP_RESERVE}; not run"
        );
    }
    match parse(line) {
        Ok(command) => execute(model, command, out),
        Err(error) => writeln!(out, "error: {error}"),
    }
}

/// Runs `command` against `model`, writing the answer (or `error: ...`) to `out`.
///
/// # Errors
///
/// Only `out`'s errors.
pub fn execute(model: &DeviceModel, command: Command<'_>, out: &mut dyn Write) -> fmt::Result {
    match apply(model, command, out) {
        Ok(result) => result,
        Err(refusal) => writeln!(out, "error: {refusal}"),
    }
}

/// The command's effect; `Err` is a refusal (nothing changed).
#[expect(
    clippy::result_large_err,
    reason = "a refusal is inline so that the error path needs no heap (see `Refusal`)"
)]
fn apply<'a>(
    model: &DeviceModel,
    command: Command<'a>,
    out: &mut dyn Write,
) -> Result<fmt::Result, Refusal<'a>> {
    Ok(match command {
        Command::Empty => Ok(()),
        Command::Help => help(out),
        Command::Tree => tree(model, out),
        Command::Show { device } => {
            let device = find(model, device)?;
            show(model, &device, out)
        }
        Command::Events => {
            let mut result = Ok(());
            devices::events(0, |event| {
                if result.is_ok() {
                    result = writeln!(out, "{event}");
                }
            });
            result
        }
        Command::Deferred => {
            let deferred = model.deferred_devices();
            if deferred.is_empty() {
                writeln!(out, "no deferred devices")
            } else {
                deferred
                    .iter()
                    .try_for_each(|(device, reason)| writeln!(out, "{} {reason}", device.path()))
            }
        }
        Command::Drivers => model.drivers().iter().try_for_each(|driver| {
            writeln!(out, "{}/{} bound={}", driver.bus, driver.name, driver.bound)
        }),
        Command::Bind { device, driver } => {
            let device = find(model, device)?;
            if let Some(driver) = driver {
                check_driver(model, &device, driver)?;
                model.bind_driver(&device, driver).map_err(failed)?;
            } else {
                model.bind(&device).map_err(failed)?;
            }
            writeln!(
                out,
                "{} bound to {}",
                device.name(),
                device.driver_name().as_deref().unwrap_or("?")
            )
        }
        Command::Unbind { device } => {
            let device = find(model, device)?;
            let driver = device.driver_name();
            model.unbind(&device).map_err(failed)?;
            writeln!(
                out,
                "{} unbound from {}",
                device.name(),
                driver.as_deref().unwrap_or("?")
            )
        }
        Command::Override { device, driver } => {
            let device = find(model, device)?;
            if let Some(driver) = driver {
                check_driver(model, &device, driver)?;
            }
            model.set_driver_override(&device, driver).map_err(failed)?;
            match driver {
                Some(driver) => writeln!(out, "{}: driver override {driver}", device.name()),
                None => writeln!(out, "{}: driver override cleared", device.name()),
            }
        }
        Command::Delete { device } => {
            let found = find(model, device)?;
            let bus = found.bus_name().unwrap_or("-");
            if bus != platform::BUS_NAME {
                return Err(Refusal::NotPlatform {
                    device,
                    bus: FixedString::from_fmt(format_args!("{bus}")),
                });
            }
            // The name outlives the reference (which must go before the delete).
            let mut name = String::new();
            name.try_reserve_exact(found.name().len())
                .map_err(|_| Refusal::OutOfMemory)?;
            name.push_str(found.name());
            drop(found);
            platform::delete(&name).map_err(failed)?;
            writeln!(out, "{name} deleted")
        }
        Command::Add { device } => {
            let name = DeviceName::parse(device)
                .on_bus(platform::BUS_NAME)
                .map_err(|_| Refusal::NotPlatformName(device))?;
            if !platform::BOARD.iter().any(|entry| entry.name == name) {
                return Err(Refusal::NoBoardDevice(name));
            }
            platform::add(model, name).map_err(failed)?;
            let driver = model
                .find_device(Some(platform::BUS_NAME), name)
                .and_then(|device| device.driver_name());
            writeln!(
                out,
                "{name} added, driver {}",
                driver.as_deref().unwrap_or("-")
            )
        }
        Command::Lspci => pci::list(model, out),
        Command::Claims => {
            let mut result = Ok(());
            io::for_each_claim(|span, owner| {
                if result.is_ok() {
                    result = writeln!(out, "{span} {owner}");
                }
            });
            result
        }
        Command::Suspend => {
            model.suspend_all().map_err(failed)?;
            model.resume_all().map_err(failed)?;
            writeln!(out, "suspended every bound device, then resumed")
        }
        Command::Counts => {
            let counts = model.counts();
            let input = console::input_statistics();
            writeln!(
                out,
                "devices={} registered={} bindings={} devres={} drivers={}",
                counts.devices,
                counts.registered_devices,
                counts.bindings,
                counts.devres_nodes,
                counts.drivers
            )
            .and_then(|()| {
                let display = crate::drm::counts();
                writeln!(
                    out,
                    "display: devices={} clients={} buffers={} framebuffers={} shared={} fences={}",
                    display.devices,
                    display.clients,
                    display.buffers,
                    display.framebuffers,
                    display.shared_buffers,
                    display.fences
                )
            })
            .and_then(|()| {
                writeln!(
                    out,
                    "console input: received={} dropped={} throttled={} uart-overruns={}; nmis={}",
                    input.received,
                    input.dropped,
                    input.throttled,
                    crate::drivers::uart16550::overrun_count(),
                    arch::trap::nmi_count()
                )
            })
        }
        Command::VkmsList => {
            let displays = crate::demo::virtual_displays().map_err(failed)?;
            if displays.is_empty() {
                return Ok(writeln!(
                    out,
                    "no virtual displays (`vkms add NAME` makes one)"
                ));
            }
            displays.iter().try_for_each(|display| {
                writeln!(
                    out,
                    "{}: {} on faux/{}",
                    display.name, display.card, display.name
                )
            })
        }
        Command::VkmsAdd { name, shared } => {
            let display = crate::demo::add_virtual(model, name, shared).map_err(failed)?;
            writeln!(
                out,
                "{}: {} on a faux device; frame {} CRC {:#010x} (expected {:#010x}: {})",
                display.name,
                display.card,
                display.frame.sequence,
                display.frame.crc,
                display.expected,
                if display.frame.crc == display.expected {
                    "match"
                } else {
                    "MISMATCH"
                }
            )
        }
        Command::VkmsDelete { name } => {
            if !crate::demo::delete_virtual(name) {
                return Err(Refusal::NoVirtualDisplay(name));
            }
            let display = crate::drm::counts();
            writeln!(
                out,
                "{name} deleted; display devices now {}, clients {}",
                display.devices, display.clients
            )
        }
        Command::VgemList => {
            let devices = crate::demo::vgem_devices().map_err(failed)?;
            if devices.is_empty() {
                return Ok(writeln!(out, "no vgem devices (`vgem add NAME` makes one)"));
            }
            devices.iter().try_for_each(|device| {
                writeln!(
                    out,
                    "{}: {} on faux/{}, exports shared buffer {:#010x}",
                    device.name, device.card, device.name, device.shared
                )
            })
        }
        Command::VgemAdd { name } => {
            let device = crate::demo::add_vgem(model, name).map_err(failed)?;
            writeln!(
                out,
                "{}: {} (vgem) on a faux device; its buffer is shared buffer {:#010x} (`vkms add NAME {:#010x}` shows it)",
                device.name, device.card, device.shared, device.shared
            )
        }
        Command::VgemDelete { name } => {
            if !crate::demo::delete_vgem(name) {
                return Err(Refusal::NoVgem(name));
            }
            let display = crate::drm::counts();
            writeln!(
                out,
                "{name} deleted; display devices now {}, shared buffers {}",
                display.devices, display.shared_buffers
            )
        }
        Command::Shared => {
            let shared = crate::drm::shared_buffers().map_err(failed)?;
            if shared.is_empty() {
                return Ok(writeln!(
                    out,
                    "no shared buffers (`vgem add NAME` exports one)"
                ));
            }
            shared.iter().try_for_each(|info| {
                let (width, height, pitch) = info.layout;
                writeln!(
                    out,
                    "{:#010x}: {width}x{height} pitch {pitch}, exported by {} ({}{}), {} references",
                    info.id,
                    info.exporter,
                    info.driver,
                    if info.exporter_unplugged {
                        ", unplugged"
                    } else {
                        ""
                    },
                    info.references
                )
            })
        }
    })
}

/// Refuses a driver name the device's bus does not have.
#[expect(
    clippy::result_large_err,
    reason = "a refusal is inline so that the error path needs no heap (see `Refusal`)"
)]
fn check_driver<'a>(
    model: &DeviceModel,
    device: &Device,
    driver: &'a str,
) -> Result<(), Refusal<'a>> {
    let bus = device.bus_name().unwrap_or("-");
    if model
        .drivers()
        .iter()
        .any(|info| info.bus == bus && info.name == driver)
    {
        Ok(())
    } else {
        Err(Refusal::NoDriver {
            bus: FixedString::from_fmt(format_args!("{bus}")),
            driver,
        })
    }
}

/// The model's tree view, each device line followed by the device's properties as
/// `key=value` (numbers in hex, text quoted).
fn tree(model: &DeviceModel, out: &mut dyn Write) -> fmt::Result {
    for line in model.tree().lines() {
        out.write_str(line)?;
        let path = line.split(' ').next().unwrap_or("");
        if let Some(device) = model.find_by_path(path) {
            for_each_sorted_property(&device, |property| {
                let key = property.name();
                match property.value() {
                    Value::U64(numbers) if numbers.len() == 1 => {
                        write!(out, " {key}={:#x}", numbers.get(0).unwrap_or(0))
                    }
                    Value::String(text) => write!(out, " {key}={text:?}"),
                    Value::Bool(flag) => write!(out, " {key}={flag}"),
                    other => write!(out, " {key}={other}"),
                }
            })?;
        }
        out.write_char('\n')?;
    }
    Ok(())
}

/// Calls `each` on a device's properties sorted by name (then by the order they were
/// set in), so the views do not depend on the order the bus code set them in. Without
/// allocating: each step picks the next property by a walk of them all (a device has a
/// handful).
fn for_each_sorted_property(
    device: &Device,
    mut each: impl FnMut(Property<'_>) -> fmt::Result,
) -> fmt::Result {
    let mut last: Option<(&str, usize)> = None;
    loop {
        let next = device
            .properties()
            .enumerate()
            .filter(|(index, property)| last.is_none_or(|last| (property.name(), *index) > last))
            .min_by(|(left_index, left), (right_index, right)| {
                (left.name(), left_index).cmp(&(right.name(), right_index))
            });
        let Some((index, property)) = next else {
            return Ok(());
        };
        last = Some((property.name(), index));
        each(property)?;
    }
}

fn help(out: &mut dyn Write) -> fmt::Result {
    writeln!(
        out,
        "commands (DEVICE is NAME, BUS/NAME or a tree path such as /devices/platform/uart16550.0):"
    )?;
    for (usage, description) in COMMANDS {
        writeln!(out, "  {usage:<26} {description}")?;
    }
    Ok(())
}

fn show(model: &DeviceModel, device: &Device, out: &mut dyn Write) -> fmt::Result {
    writeln!(out, "{}", device.path())?;
    writeln!(out, "  bus: {}", device.bus_name().unwrap_or("-"))?;
    match device.binding_state() {
        BindingState::Unbound => writeln!(out, "  driver: unbound"),
        BindingState::Bound { driver } => writeln!(out, "  driver: bound to {driver}"),
        BindingState::Probing { driver } => writeln!(out, "  driver: probing by {driver}"),
        BindingState::Unbinding { driver } => {
            writeln!(out, "  driver: unbinding from {driver}")
        }
        _ => writeln!(out, "  driver: ?"),
    }?;
    if let Some(reason) = device.deferred_reason() {
        writeln!(out, "  deferred: {reason}")?;
    }
    writeln!(out, "  devres nodes: {}", device.devres().len())?;
    for resource in device.resources() {
        match resource {
            Resource::IoPorts(range) => writeln!(
                out,
                "  resource: io {:#x}..{:#x}",
                range.start(),
                u32::from(range.start()) + u32::from(range.length())
            )?,
            Resource::Mmio(range) => writeln!(
                out,
                "  resource: mmio {:#x}..{:#x}",
                range.start(),
                range.end()
            )?,
            Resource::Irq(irq) => writeln!(out, "  resource: irq {}", irq.0)?,
            _ => writeln!(out, "  resource: {resource}")?,
        }
    }
    for_each_sorted_property(device, |property| {
        let key = property.name();
        match property.value() {
            Value::U64(numbers) if numbers.len() == 1 => {
                writeln!(out, "  {key}: {:#x}", numbers.get(0).unwrap_or(0))
            }
            Value::String(text) => writeln!(out, "  {key}: {text}"),
            Value::Bool(flag) => writeln!(out, "  {key}: {flag}"),
            other => writeln!(out, "  {key}: {other}"),
        }
    })?;
    if let Some(function) = pci::function(device) {
        writeln!(
            out,
            "  pci: {} {:04x}:{:04x} class {:06x} rev {:02x} ({})",
            function.address,
            function.vendor,
            function.device,
            function.class,
            function.revision,
            pci::class_name(function.class_code())
        )?;
        for bar in &function.bars {
            writeln!(out, "  {bar}")?;
        }
        for refusal in &function.refused_bars {
            writeln!(out, "  {refusal}")?;
        }
        for refusal in &function.refused_windows {
            writeln!(out, "  bridge {refusal}")?;
        }
        for capability in &function.capabilities {
            writeln!(out, "  capability: {capability}")?;
        }
    }
    for child in model.children(device) {
        writeln!(out, "  child: {}", child.name())?;
    }
    Ok(())
}

/// The longest line the shell takes, in bytes; a longer one is refused at Enter.
pub const LINE_CAPACITY: usize = 128;

/// The shell over console input: a [`LineEditor`] whose entries run against the model.
#[derive(Debug, Default)]
pub struct Shell {
    editor: LineEditor<LINE_CAPACITY>,
}

impl Shell {
    /// An empty line.
    pub const fn new() -> Self {
        Self {
            editor: LineEditor::new(),
        }
    }

    /// Handles one input (see [`LineEditor`] for the editing keys): at Enter the line
    /// runs, or is refused with `error: ...` saying why, and the prompt is printed again.
    ///
    /// # Errors
    ///
    /// Only `out`'s errors.
    pub fn feed(&mut self, model: &DeviceModel, input: Input, out: &mut dyn Write) -> fmt::Result {
        let result = match self.editor.feed(input, out)? {
            None => return Ok(()),
            Some(Entry::Line(line)) => run_line(model, line, out),
            Some(Entry::Refused(refusal)) => writeln!(out, "error: {refusal}"),
            Some(Entry::Cancelled) => Ok(()),
        };
        result?;
        out.write_str(PROMPT)
    }
}

/// Writes to the console.
struct ConsoleOut;

impl Write for ConsoleOut {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        console::write_fmt(format_args!("{text}"));
        Ok(())
    }
}

/// The binary's shell loop on the console input; never returns.
pub fn run(model: &DeviceModel) -> ! {
    let mut shell = Shell::new();
    let _ = ConsoleOut.write_str(PROMPT);
    loop {
        while let Some(input) = console::read_input() {
            let _ = shell.feed(model, input, &mut ConsoleOut);
        }
        // Deferred work after each wake (a timer tick or input): due vblanks compose and
        // complete here, outside interrupt context, so no spin lock the interrupted code
        // holds can deadlock them.
        crate::drm::poll_all();
        arch::wait_for_interrupt();
    }
}
