//! A 16550A UART driver on the platform bus: the kernel console, with interrupt-driven
//! receive. One driver for both ways a 16550 is wired: behind I/O ports (the PC's COM1,
//! a board-table device) and behind MMIO (a devicetree `ns16550a` node, whose
//! `reg-shift`, `reg-io-width` and `clock-frequency` it honours). Only the register
//! access differs (`Registers`); the programming, the receive path and flow control
//! are the same code (`kernel_core::uart16550`).
//!
//! # Probe
//!
//! 1. claim the registers through the bus: the device's I/O ports
//!    ([`Claim::claim_io`]) or its first MMIO range ([`Claim::claim_mmio`], as wide as
//!    the register layout needs); a `Devres`, revoked and released when the binding
//!    ends;
//! 2. check a UART answers (the scratch register holds a value), program 115200 8N1 with
//!    FIFOs (the divisor from `clock-frequency`, 1.8432 MHz without one);
//! 3. a devres action that quiesces the UART (interrupts off) at the end of the binding;
//! 4. take the interrupt line ([`Claim::request_irq`]) with the receive handler, and
//!    enable the receive interrupt;
//! 5. if the UART is the console (a board device, or the node `/chosen/stdout-path`
//!    names), register as the console sink (a devres value: unregistered first at
//!    unbind, so output falls back to the early port before the registers go). The sink
//!    holds a [`DriverData`] handle of this binding's [`Uart`] state, not the port: it
//!    keeps no device object alive, and a write after the binding ended fails instead of
//!    reaching released registers.
//!
//! Suspend turns receive interrupts off, resume programs the UART again; shutdown
//! quiesces it.
//!
//! Remove is the drop of [`Uart`] (the line's `Devres` handle) followed by the devres
//! release, newest first: console, quiesce, registers. Every register access goes
//! through the revocable window, so a late access after unbind does nothing instead of
//! touching registers someone else may own by then.

/// The 16550 register map, shared with the early console (`kernel_core::uart16550`).
pub use kernel_core::uart16550 as regs;

use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use drivermodel::context::Core;
use drivermodel::{Device, Devres, Driver, DriverData, IdEntry};
use spin::Mutex;

use crate::arch;
use crate::arch::io::{MmioWindow, PortWindow};
use crate::arch::irq::IrqLine;
use crate::bus::platform::Platform;
use crate::bus::{Claim, interrupt};
use crate::console;
use drivermodel::devicetree;
use drivermodel::resource::MmioRange;
use regs::{AccessWidth, MmioLayout};

/// The driver name (and the platform name it matches).
pub const DRIVER_NAME: &str = "uart16550";

/// The driver.
#[derive(Debug)]
pub struct Uart16550;

/// Board devices by name; devicetree nodes by `compatible`.
static ID_TABLE: [IdEntry<&str, ()>; 2] =
    [IdEntry::new(DRIVER_NAME, ()), IdEntry::new("ns16550a", ())];

/// How one bound UART's registers are reached.
enum Registers {
    /// Eight I/O ports; register `index` is port `start + index`.
    Ports(Devres<PortWindow>),
    /// An MMIO window laid out by `layout`.
    Mmio {
        window: Devres<MmioWindow>,
        layout: MmioLayout,
    },
}

impl Registers {
    /// Runs `function` on the registers while they are accessible (one revocation check
    /// for a whole transfer); `None` once they are gone.
    fn with<R>(&self, function: impl FnOnce(&dyn regs::Registers) -> R) -> Option<R> {
        match self {
            Self::Ports(window) => window.try_access_with(|window| function(&PortAccess(window))),
            Self::Mmio { window, layout } => window.try_access_with(|window| {
                function(&MmioAccess {
                    window,
                    layout: *layout,
                })
            }),
        }
    }
}

/// The port window while it is accessible.
struct PortAccess<'a>(&'a PortWindow);

impl regs::Registers for PortAccess<'_> {
    fn read(&self, index: u16) -> Option<u8> {
        self.0.read_u8(index).ok()
    }

    fn write(&self, index: u16, value: u8) -> bool {
        self.0.write_u8(index, value).is_ok()
    }
}

/// The MMIO window while it is accessible: `reg-shift` and `reg-io-width` applied.
struct MmioAccess<'a> {
    window: &'a MmioWindow,
    layout: MmioLayout,
}

impl regs::Registers for MmioAccess<'_> {
    fn read(&self, index: u16) -> Option<u8> {
        let offset = self.layout.offset(index);
        match self.layout.width() {
            AccessWidth::Byte => self.window.read_u8(offset).ok(),
            AccessWidth::Half => self.window.read_u16(offset).ok().map(|value| value as u8),
            AccessWidth::Word => self.window.read_u32(offset).ok().map(|value| value as u8),
        }
    }

    fn write(&self, index: u16, value: u8) -> bool {
        let offset = self.layout.offset(index);
        match self.layout.width() {
            AccessWidth::Byte => self.window.write_u8(offset, value),
            AccessWidth::Half => self.window.write_u16(offset, value.into()),
            AccessWidth::Word => self.window.write_u32(offset, value.into()),
        }
        .is_ok()
    }
}

/// The registers of one bound UART, shared by the console sink and the interrupt handler.
struct Port {
    name: crate::text::FixedString<32>,
    registers: Registers,
    /// The divisor latch value for 115200 baud at this UART's clock.
    divisor: u16,
    /// Serialises transmitters.
    transmit: Mutex<()>,
    /// The receive interrupt is wanted (bound and not suspended), so the console may
    /// resume it after a throttle.
    receiving: AtomicBool,
}

/// Bytes received by interrupt since boot (all UARTs).
static RECEIVED: AtomicU64 = AtomicU64::new(0);
/// Receive interrupts handled since boot.
static INTERRUPTS: AtomicU64 = AtomicU64::new(0);
/// Receive overruns the UART reported since boot (bytes lost in the hardware).
static OVERRUNS: AtomicU64 = AtomicU64::new(0);

/// The binding of the UART that last became the console (for the loopback self-test); a
/// handle of an ended binding fails, so nothing clears it at unbind.
static ACTIVE: Mutex<Option<DriverData<Uart>>> = Mutex::new(None);

impl Port {
    fn read(&self, register: u16) -> Option<u8> {
        self.registers
            .with(|registers| registers.read(register))
            .flatten()
    }

    fn write(&self, register: u16, value: u8) -> bool {
        self.registers
            .with(|registers| registers.write(register, value))
            .unwrap_or(false)
    }

    /// Programs 115200 baud 8N1 with FIFOs, interrupts off; `false` if no UART answers.
    fn initialize(&self) -> bool {
        if !regs::answers(self) {
            return false;
        }
        regs::program_8n1(
            self,
            self.divisor,
            regs::MCR_DTR | regs::MCR_RTS | regs::MCR_OUT2,
        );
        true
    }

    fn enable_receive_interrupt(&self) {
        self.receiving.store(true, Ordering::Relaxed);
        self.write(regs::INTERRUPT_ENABLE, regs::IER_RECEIVED_DATA);
    }

    fn disable_receive_interrupt(&self) {
        self.receiving.store(false, Ordering::Relaxed);
        self.write(regs::INTERRUPT_ENABLE, 0);
    }

    /// Interrupts off, OUT2 off: the state the early console expects.
    fn quiesce(&self) {
        self.disable_receive_interrupt();
        self.write(regs::MODEM_CONTROL, regs::MCR_DTR | regs::MCR_RTS);
    }

    /// The receive interrupt: move every waiting byte into the console's input ring.
    ///
    /// Flow control: when the ring is full the bytes stay in the FIFO and the receive
    /// interrupt goes off until the console resumes it ([`console::Sink::resume_input`]);
    /// a full FIFO holds the sender back (QEMU stops reading its chardev). An overrun the
    /// UART reports is recorded in the input as a loss.
    fn receive_interrupt(&self) {
        INTERRUPTS.fetch_add(1, Ordering::Relaxed);
        // Bounded: a FIFO holds 16 bytes; do not spin forever on a stuck status.
        for _ in 0..64 {
            let Some(status) = self.read(regs::LINE_STATUS) else {
                break;
            };
            if status & regs::LSR_OVERRUN != 0 {
                OVERRUNS.fetch_add(1, Ordering::Relaxed);
                console::push_lost_input(1);
            }
            if status & regs::LSR_DATA_READY == 0 {
                break;
            }
            if console::input_room() == 0 {
                self.write(regs::INTERRUPT_ENABLE, 0);
                console::throttle_input();
                break;
            }
            if let Some(byte) = self.read(regs::DATA) {
                RECEIVED.fetch_add(1, Ordering::Relaxed);
                console::push_input(byte);
            }
        }
    }

    fn transmit(&self, bytes: &[u8]) -> bool {
        let _guard = self.transmit.lock();
        self.registers
            .with(|registers| {
                bytes
                    .iter()
                    .all(|&byte| regs::write_byte_polled(&registers, byte, 1_000_000))
            })
            .unwrap_or(false)
    }
}

impl regs::Registers for Port {
    fn read(&self, index: u16) -> Option<u8> {
        Port::read(self, index)
    }

    fn write(&self, index: u16, value: u8) -> bool {
        Port::write(self, index, value)
    }
}

/// The console sink: reaches the port through the binding's state, so it holds no
/// device (the console's global sink list must not keep the UART's device object
/// alive). While the probe runs, a power callback has the state, or after the binding
/// ended, a write fails and the console uses the early port.
struct Console {
    name: crate::text::FixedString<32>,
    uart: DriverData<Uart>,
}

impl console::Sink for Console {
    fn name(&self) -> &str {
        self.name.as_str()
    }

    /// Called with interrupts off (the console writes the serial sink that way), as
    /// every access to the binding's state here is.
    fn write_bytes(&self, text: &[u8]) -> bool {
        self.uart
            .with(|_, uart| uart.port.transmit(text))
            .unwrap_or(false)
    }

    fn replaces_early_port(&self) -> bool {
        true
    }

    fn resume_input(&self) {
        // Interrupts off: an interrupt handler that prints on this CPU would wait for
        // this access (accesses to one binding's state are serialised).
        let _ = arch::without_interrupts(|| {
            self.uart.with(|_, uart| {
                if uart.port.receiving.load(Ordering::Relaxed) {
                    uart.port
                        .write(regs::INTERRUPT_ENABLE, regs::IER_RECEIVED_DATA);
                }
            })
        });
    }
}

/// Per-binding state; dropping it (remove) releases the interrupt line.
pub struct Uart {
    port: Arc<Port>,
    _line: Devres<IrqLine>,
}

impl core::fmt::Debug for Uart {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("Uart")
            .field("device", &self.port.name)
            .finish_non_exhaustive()
    }
}

/// Suspends since boot.
static SUSPENDS: AtomicU64 = AtomicU64::new(0);

/// How many times the driver's suspend ran since boot.
pub fn suspend_count() -> u64 {
    SUSPENDS.load(Ordering::Relaxed)
}

/// Bindings removed since boot (drops of [`Uart`]).
static REMOVED: AtomicU64 = AtomicU64::new(0);

impl Drop for Uart {
    fn drop(&mut self) {
        REMOVED.fetch_add(1, Ordering::Relaxed);
    }
}

/// How many times the driver's remove ran since boot.
pub fn remove_count() -> u64 {
    REMOVED.load(Ordering::Relaxed)
}

fn probe_error(message: &str) -> drivermodel::Error {
    drivermodel::Error::driver(message)
}

/// A `u32` property, `None` when absent.
fn optional_u32(device: &Device<Core>, name: &str) -> drivermodel::Result<Option<u32>> {
    device
        .property(name)
        .map(|property| property.as_u32())
        .transpose()
}

/// Whether the UART is the console: a board device (COM1), or the devicetree node
/// `/chosen/stdout-path` names.
fn is_console(device: &Device<Core>) -> bool {
    devicetree::node(device).is_none_or(devicetree::Node::is_stdout)
}

/// Claims the UART's registers: its eight I/O ports if it has a port range, else its
/// first MMIO range, as wide as `reg-shift` and `reg-io-width` lay the registers out.
fn claim_registers(device: &Device<Core>) -> drivermodel::Result<Registers> {
    if let Some(ports) = device.io_ports(0) {
        let ports = Some(ports)
            .filter(|ports| ports.length() >= regs::REGISTER_COUNT)
            .ok_or_else(|| probe_error("I/O port range shorter than 8 ports"))?;
        return Ok(Registers::Ports(device.claim_io(ports)?));
    }
    let range = device
        .mmio(0)
        .ok_or_else(|| probe_error("neither I/O ports nor an MMIO range"))?;
    let layout = MmioLayout::new(
        optional_u32(device, "reg-shift")?,
        optional_u32(device, "reg-io-width")?,
    )
    .and_then(|layout| layout.check_window(range.length()).map(|()| layout))
    .map_err(|error| probe_error(&alloc::format!("{error}")))?;
    let window = device.claim_mmio(MmioRange::new(range.start(), layout.span())?)?;
    Ok(Registers::Mmio { window, layout })
}

impl Driver for Uart16550 {
    type Bus = Platform;
    type IdInfo = ();
    type State = Uart;

    fn name(&self) -> &str {
        DRIVER_NAME
    }

    fn id_table(&self) -> &[IdEntry<&'static str, ()>] {
        &ID_TABLE
    }

    fn probe(&self, device: &Device<Core>, _info: &()) -> drivermodel::Result<Uart> {
        let line = interrupt::irq(device, 0)
            .ok_or_else(|| probe_error("no interrupt line of the kernel's controller"))?;
        let clock_hz = match device.property("clock-frequency") {
            Some(property) => property.as_u32()?,
            None => regs::PC_CLOCK_HZ,
        };
        let divisor = regs::divisor(clock_hz, 115_200).ok_or_else(|| {
            probe_error(&alloc::format!(
                "clock-frequency {clock_hz} Hz cannot make 115200 baud"
            ))
        })?;
        let port = Arc::new(Port {
            name: crate::text::FixedString::from_fmt(format_args!("{}", device.name())),
            registers: claim_registers(device)?,
            divisor,
            transmit: Mutex::new(()),
            receiving: AtomicBool::new(false),
        });
        if !port.initialize() {
            return Err(probe_error("no UART answers at these ports"));
        }
        let quiesce = port.clone();
        device
            .devres()
            .add_action_or_reset(move || quiesce.quiesce())?;
        let handler_port = port.clone();
        let line = device
            .request_irq(line, Arc::new(move || handler_port.receive_interrupt()))
            .map_err(drivermodel::Error::from)?;
        port.enable_receive_interrupt();
        if !is_console(device) {
            return Ok(Uart { port, _line: line });
        }
        let uart = DriverData::of_binding(device)?;
        let sink: Arc<dyn console::Sink> = Arc::new(Console {
            name: port.name,
            uart: uart.clone(),
        });
        let console =
            console::register(sink).map_err(|busy| probe_error(&alloc::format!("{busy}")))?;
        let old = arch::without_interrupts(|| ACTIVE.lock().replace(uart));
        drop(old);
        device.devres().alloc(console)?;
        Ok(Uart { port, _line: line })
    }

    /// Suspend: receive interrupts off (output keeps working, polled).
    fn suspend(&self, _device: &Device<Core>, uart: &mut Uart) -> drivermodel::Result<()> {
        SUSPENDS.fetch_add(1, Ordering::Relaxed);
        uart.port.disable_receive_interrupt();
        Ok(())
    }

    /// Resume: program the UART again and turn receive interrupts back on.
    fn resume(&self, _device: &Device<Core>, uart: &mut Uart) -> drivermodel::Result<()> {
        if !uart.port.initialize() {
            return Err(probe_error("no UART answers after resume"));
        }
        uart.port.enable_receive_interrupt();
        Ok(())
    }

    /// Shutdown: quiesce (interrupts and OUT2 off) before power-off.
    fn shutdown(&self, _device: &Device<Core>, uart: &mut Uart) {
        uart.port.quiesce();
    }
}

/// Receive overruns reported by the UARTs since boot.
pub fn overrun_count() -> u64 {
    OVERRUNS.load(Ordering::Relaxed)
}

/// Bytes received by interrupt and receive interrupts handled, since boot.
pub fn receive_statistics() -> (u64, u64) {
    (
        RECEIVED.load(Ordering::Relaxed),
        INTERRUPTS.load(Ordering::Relaxed),
    )
}

/// Why the loopback self-test could not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopbackError {
    /// No UART is bound as the console.
    NotBound,
    /// The bytes did not all come back before the deadline.
    Timeout {
        /// How many came back.
        received: usize,
    },
}

/// Sends `bytes` through the bound console UART in loopback mode and waits (up to
/// `timeout_micros`, interrupts on) until the receive interrupt has queued them all in
/// the console input; returns how many came back. Prints nothing meanwhile: in loopback,
/// output would come back as input.
///
/// # Errors
///
/// [`LoopbackError`].
pub fn loopback(bytes: &[u8], timeout_micros: u64) -> Result<usize, LoopbackError> {
    // The port, counted for the self-test only (its registers stay revocable).
    let port = arch::without_interrupts(|| {
        let active = ACTIVE.lock();
        active.as_ref()?.with(|_, uart| uart.port.clone()).ok()
    })
    .ok_or(LoopbackError::NotBound)?;
    let (before, _) = receive_statistics();
    port.write(
        regs::MODEM_CONTROL,
        regs::MCR_DTR | regs::MCR_RTS | regs::MCR_OUT2 | regs::MCR_LOOPBACK,
    );
    port.transmit(bytes);
    let deadline =
        arch::time::counter() + timeout_micros.saturating_mul(arch::time::counter_hz() / 1_000_000);
    let expected = bytes.len() as u64;
    while receive_statistics().0 - before < expected && arch::time::counter() < deadline {
        arch::wait_for_interrupt();
    }
    port.write(
        regs::MODEM_CONTROL,
        regs::MCR_DTR | regs::MCR_RTS | regs::MCR_OUT2,
    );
    let received = (receive_statistics().0 - before) as usize;
    if received < bytes.len() {
        return Err(LoopbackError::Timeout { received });
    }
    Ok(received)
}
