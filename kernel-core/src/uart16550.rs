//! The 16550A UART (National Semiconductor PC16550D datasheet): one register map and
//! one programming sequence, shared by the kernel's early console and its UART driver.
//!
//! Register access goes through [`Registers`], so the same code drives a UART behind
//! I/O ports (the PC's COM1) or behind MMIO (a devicetree's `ns16550a`). Offsets here
//! are register indices, 0 to 7; an MMIO backend turns an index into a byte offset and
//! an access width with [`MmioLayout`], from the node's `reg-shift` and `reg-io-width`.

/// Number of registers the UART decodes.
pub const REGISTER_COUNT: u16 = 8;

/// Receive buffer (read) / transmit holding (write); divisor latch low when DLAB = 1.
pub const DATA: u16 = 0;
/// Interrupt enable; divisor latch high when DLAB = 1.
pub const INTERRUPT_ENABLE: u16 = 1;
/// Interrupt identification (read).
pub const INTERRUPT_ID: u16 = 2;
/// FIFO control (write; the same index as [`INTERRUPT_ID`]).
pub const FIFO_CONTROL: u16 = 2;
/// Line control: word length, stop bits, parity, DLAB.
pub const LINE_CONTROL: u16 = 3;
/// Modem control: DTR, RTS, OUT1, OUT2, loopback.
pub const MODEM_CONTROL: u16 = 4;
/// Line status.
pub const LINE_STATUS: u16 = 5;
/// Modem status.
pub const MODEM_STATUS: u16 = 6;
/// Scratch register.
pub const SCRATCH: u16 = 7;

/// Interrupt enable: received data available.
pub const IER_RECEIVED_DATA: u8 = 1 << 0;

/// FIFO control: enable, clear both FIFOs, 14-byte receive trigger.
pub const FCR_ENABLE_CLEAR_14: u8 = 0xc7;

/// Line control: 8 data bits, no parity, 1 stop bit.
pub const LCR_8N1: u8 = 0x03;
/// Line control: divisor latch access.
pub const LCR_DLAB: u8 = 0x80;

/// Modem control: data terminal ready.
pub const MCR_DTR: u8 = 1 << 0;
/// Modem control: request to send.
pub const MCR_RTS: u8 = 1 << 1;
/// Modem control: OUT2, which gates the interrupt output on PCs.
pub const MCR_OUT2: u8 = 1 << 3;
/// Modem control: loopback (transmitted bytes are received, nothing leaves).
pub const MCR_LOOPBACK: u8 = 1 << 4;

/// Line status: a received byte is waiting.
pub const LSR_DATA_READY: u8 = 1 << 0;
/// Line status: a received byte was lost (the FIFO was full).
pub const LSR_OVERRUN: u8 = 1 << 1;
/// Line status: the transmit holding register is empty.
pub const LSR_THR_EMPTY: u8 = 1 << 5;

/// Divisor for 115200 baud (1.8432 MHz / 16 / 115200).
pub const DIVISOR_115200: u16 = 1;

/// The PC's UART clock: 1.8432 MHz.
pub const PC_CLOCK_HZ: u32 = 1_843_200;

/// The divisor latch value for `baud` from an input clock of `clock_hz` (the
/// devicetree's `clock-frequency`), rounded to the nearest; `None` if no divisor of 1 to
/// 65535 comes within 5% of the rate (a clock too slow or too fast for it).
pub fn divisor(clock_hz: u32, baud: u32) -> Option<u16> {
    let rate = 16 * u64::from(baud);
    if rate == 0 {
        return None;
    }
    let divisor = (u64::from(clock_hz) + rate / 2) / rate;
    let divisor = u16::try_from(divisor)
        .ok()
        .filter(|&divisor| divisor != 0)?;
    let actual = u64::from(clock_hz) / (16 * u64::from(divisor));
    (actual.abs_diff(u64::from(baud)) * 20 <= u64::from(baud)).then_some(divisor)
}

/// How wide each register access is on an MMIO UART (`reg-io-width`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessWidth {
    /// 8-bit accesses (the default).
    Byte = 1,
    /// 16-bit accesses; the register is the low byte.
    Half = 2,
    /// 32-bit accesses; the register is the low byte (little-endian).
    Word = 4,
}

/// Why a devicetree's `reg-shift`/`reg-io-width` pair describes no usable layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutError {
    /// `reg-io-width` is not 1, 2 or 4.
    Width {
        /// The value given.
        width: u32,
    },
    /// `reg-shift` is larger than [`MmioLayout::MAX_SHIFT`].
    Shift {
        /// The value given.
        shift: u32,
    },
    /// The registers would be closer together than one access is wide
    /// (`1 << reg-shift < reg-io-width`), so accesses would overlap or be misaligned.
    Overlap {
        /// `reg-shift`.
        shift: u32,
        /// `reg-io-width`.
        width: u32,
    },
    /// The `reg` window is shorter than the eight registers need.
    Window {
        /// Bytes the registers span.
        needed: u64,
        /// Bytes the window has.
        length: u64,
    },
}

impl core::fmt::Display for LayoutError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::Width { width } => write!(formatter, "reg-io-width {width} is not 1, 2 or 4"),
            Self::Shift { shift } => write!(
                formatter,
                "reg-shift {shift} is larger than {}",
                MmioLayout::MAX_SHIFT
            ),
            Self::Overlap { shift, width } => write!(
                formatter,
                "reg-shift {shift} spaces registers closer than reg-io-width {width}"
            ),
            Self::Window { needed, length } => write!(
                formatter,
                "reg window of {length:#x} bytes is shorter than the {needed:#x} the registers span"
            ),
        }
    }
}

impl core::error::Error for LayoutError {}

/// Where each register of a memory-mapped 16550 lives: register `index` is at byte
/// offset `index << shift`, accessed `width` bytes wide (Linux's `8250_of`: `reg-shift`
/// and `reg-io-width`, defaults 0 and 1).
///
/// # Invariants
///
/// `shift <= MAX_SHIFT` and `1 << shift >= width`: every register's access is aligned to
/// its width and no two overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmioLayout {
    shift: u8,
    width: AccessWidth,
}

impl MmioLayout {
    /// The largest `reg-shift` accepted (registers 256 bytes apart).
    pub const MAX_SHIFT: u32 = 8;

    /// The layout of a UART whose node has `reg-shift = shift` and
    /// `reg-io-width = width` (`None`: the property is absent).
    ///
    /// # Errors
    ///
    /// [`LayoutError::Width`], [`LayoutError::Shift`], [`LayoutError::Overlap`].
    pub fn new(shift: Option<u32>, width: Option<u32>) -> Result<Self, LayoutError> {
        let (shift, width) = (shift.unwrap_or(0), width.unwrap_or(1));
        let access = match width {
            1 => AccessWidth::Byte,
            2 => AccessWidth::Half,
            4 => AccessWidth::Word,
            _ => return Err(LayoutError::Width { width }),
        };
        if shift > Self::MAX_SHIFT {
            return Err(LayoutError::Shift { shift });
        }
        if (1u32 << shift) < width {
            return Err(LayoutError::Overlap { shift, width });
        }
        // INVARIANT: both checked just above.
        Ok(Self {
            shift: shift as u8,
            width: access,
        })
    }

    /// The byte offset of register `index`.
    pub fn offset(&self, index: u16) -> u64 {
        u64::from(index) << self.shift
    }

    /// How wide each access is.
    pub fn width(&self) -> AccessWidth {
        self.width
    }

    /// Bytes from the first register's offset to the end of the last one's access.
    pub fn span(&self) -> u64 {
        self.offset(REGISTER_COUNT - 1) + self.width as u64
    }

    /// Checks that a `reg` window of `length` bytes holds every register.
    ///
    /// # Errors
    ///
    /// [`LayoutError::Window`] if it is too short.
    pub fn check_window(&self, length: u64) -> Result<(), LayoutError> {
        let needed = self.span();
        if length < needed {
            return Err(LayoutError::Window { needed, length });
        }
        Ok(())
    }
}

/// How a UART's registers are reached (port I/O, MMIO with a register shift, or a
/// revocable window that may be gone).
pub trait Registers {
    /// Reads register `index` (0 to 7); `None` when the registers are gone.
    fn read(&self, index: u16) -> Option<u8>;

    /// Writes register `index`; `false` when the registers are gone.
    fn write(&self, index: u16, value: u8) -> bool;
}

impl<T: Registers + ?Sized> Registers for &T {
    fn read(&self, index: u16) -> Option<u8> {
        (**self).read(index)
    }

    fn write(&self, index: u16, value: u8) -> bool {
        (**self).write(index, value)
    }
}

/// Programs 115200 baud, 8N1, FIFOs on and cleared, every interrupt off, and the modem
/// lines `modem_control` (DTR and RTS; OUT2 too for a driver that takes the interrupt).
/// Pending status is read and dropped.
pub fn program_115200_8n1(registers: &impl Registers, modem_control: u8) {
    program_8n1(registers, DIVISOR_115200, modem_control);
}

/// As [`program_115200_8n1`], with the divisor latch set to `divisor` (see
/// [`divisor`](fn@divisor) for a UART whose clock is not the PC's).
pub fn program_8n1(registers: &impl Registers, divisor: u16, modem_control: u8) {
    let [divisor_low, divisor_high] = divisor.to_le_bytes();
    registers.write(INTERRUPT_ENABLE, 0);
    registers.write(LINE_CONTROL, LCR_DLAB);
    registers.write(DATA, divisor_low);
    registers.write(INTERRUPT_ENABLE, divisor_high);
    registers.write(LINE_CONTROL, LCR_8N1);
    registers.write(FIFO_CONTROL, FCR_ENABLE_CLEAR_14);
    registers.write(MODEM_CONTROL, modem_control);
    for index in [LINE_STATUS, DATA, INTERRUPT_ID, MODEM_STATUS] {
        let _ = registers.read(index);
    }
}

/// Whether a UART answers: the scratch register keeps a value.
pub fn answers(registers: &impl Registers) -> bool {
    registers.write(SCRATCH, 0x5a) && registers.read(SCRATCH) == Some(0x5a)
}

/// A received byte, if one is waiting (polled).
pub fn try_read_byte(registers: &impl Registers) -> Option<u8> {
    let status = registers.read(LINE_STATUS)?;
    if status & LSR_DATA_READY == 0 {
        return None;
    }
    registers.read(DATA)
}

/// Sends `byte` once the transmitter has room, polling the line status at most `spins`
/// times; `false` if it never had room or the registers are gone.
pub fn write_byte_polled(registers: &impl Registers, byte: u8, spins: u32) -> bool {
    for _ in 0..spins {
        match registers.read(LINE_STATUS) {
            Some(status) if status & LSR_THR_EMPTY != 0 => return registers.write(DATA, byte),
            Some(_) => core::hint::spin_loop(),
            None => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use core::cell::RefCell;

    use super::*;

    /// A register file that logs every access and answers from a script.
    #[derive(Default)]
    struct Fake {
        values: RefCell<[u8; 8]>,
        log: RefCell<Vec<(char, u16, u8)>>,
        /// Line status reads that say "busy" before the transmitter is empty.
        busy: RefCell<u32>,
    }

    impl Registers for Fake {
        fn read(&self, index: u16) -> Option<u8> {
            let mut value = self.values.borrow()[usize::from(index)];
            if index == LINE_STATUS {
                let mut busy = self.busy.borrow_mut();
                if *busy > 0 {
                    *busy -= 1;
                    value &= !LSR_THR_EMPTY;
                }
            }
            self.log.borrow_mut().push(('r', index, value));
            Some(value)
        }

        fn write(&self, index: u16, value: u8) -> bool {
            self.values.borrow_mut()[usize::from(index)] = value;
            self.log.borrow_mut().push(('w', index, value));
            true
        }
    }

    #[test]
    fn programming_sets_the_divisor_under_dlab_then_8n1() {
        let fake = Fake::default();
        program_115200_8n1(&fake, MCR_DTR | MCR_RTS);
        let writes: Vec<(u16, u8)> = fake
            .log
            .borrow()
            .iter()
            .filter(|(kind, ..)| *kind == 'w')
            .map(|&(_, index, value)| (index, value))
            .collect();
        assert_eq!(
            writes,
            [
                (INTERRUPT_ENABLE, 0),
                (LINE_CONTROL, LCR_DLAB),
                (DATA, 1),
                (INTERRUPT_ENABLE, 0),
                (LINE_CONTROL, LCR_8N1),
                (FIFO_CONTROL, FCR_ENABLE_CLEAR_14),
                (MODEM_CONTROL, MCR_DTR | MCR_RTS),
            ]
        );
    }

    #[test]
    fn polled_transfers_wait_for_the_status_bits() {
        let fake = Fake::default();
        assert_eq!(try_read_byte(&fake), None);
        fake.values.borrow_mut()[usize::from(DATA)] = b'x';
        fake.values.borrow_mut()[usize::from(LINE_STATUS)] = LSR_DATA_READY | LSR_THR_EMPTY;
        assert_eq!(try_read_byte(&fake), Some(b'x'));
        *fake.busy.borrow_mut() = 3;
        assert!(write_byte_polled(&fake, b'y', 10));
        assert_eq!(fake.values.borrow()[usize::from(DATA)], b'y');
        *fake.busy.borrow_mut() = 10;
        assert!(!write_byte_polled(&fake, b'z', 5), "gives up after 5 polls");
        assert!(answers(&fake));
    }

    #[test]
    fn the_divisor_follows_the_clock() {
        assert_eq!(divisor(PC_CLOCK_HZ, 115_200), Some(DIVISOR_115200));
        // QEMU virt's ns16550a: clock-frequency 3686400.
        assert_eq!(divisor(3_686_400, 115_200), Some(2));
        assert_eq!(divisor(3_686_400, 9_600), Some(24));
        // 1 MHz / 16 / 115200 = 0.54: divisor 1 gives 62500 baud, far off.
        assert_eq!(divisor(1_000_000, 115_200), None);
        assert_eq!(divisor(0, 115_200), None);
        assert_eq!(divisor(PC_CLOCK_HZ, 0), None);
        // Beyond 65535.
        assert_eq!(divisor(u32::MAX, 1), None);
    }

    #[test]
    fn programming_writes_the_given_divisor() {
        let fake = Fake::default();
        program_8n1(&fake, 0x1234, 0);
        let writes: Vec<(u16, u8)> = fake
            .log
            .borrow()
            .iter()
            .filter(|(kind, ..)| *kind == 'w')
            .map(|&(_, index, value)| (index, value))
            .collect();
        assert_eq!(writes[2..4], [(DATA, 0x34), (INTERRUPT_ENABLE, 0x12)]);
    }

    #[test]
    fn mmio_layout_defaults_to_bytes_side_by_side() {
        let layout = MmioLayout::new(None, None).unwrap();
        assert_eq!(layout.width(), AccessWidth::Byte);
        assert_eq!(
            (0..REGISTER_COUNT)
                .map(|index| layout.offset(index))
                .collect::<Vec<_>>(),
            [0, 1, 2, 3, 4, 5, 6, 7]
        );
        assert_eq!(layout.span(), 8);
        assert_eq!(layout.check_window(0x100), Ok(()));
        assert_eq!(
            layout.check_window(7),
            Err(LayoutError::Window {
                needed: 8,
                length: 7
            })
        );
    }

    #[test]
    fn mmio_layout_honours_shift_and_width() {
        // The DesignWare APB UART (reg-shift 2, reg-io-width 4): one 32-bit word each.
        let layout = MmioLayout::new(Some(2), Some(4)).unwrap();
        assert_eq!(layout.width(), AccessWidth::Word);
        assert_eq!(layout.offset(LINE_STATUS), 20);
        assert_eq!(layout.offset(SCRATCH), 28);
        assert_eq!(layout.span(), 32);
        assert!(layout.check_window(31).is_err());
        // Byte accesses spread out: the register is the first byte of each word.
        let spread = MmioLayout::new(Some(2), None).unwrap();
        assert_eq!((spread.offset(SCRATCH), spread.span()), (28, 29));
        let half = MmioLayout::new(Some(1), Some(2)).unwrap();
        assert_eq!((half.offset(LINE_STATUS), half.span()), (10, 16));
        assert_eq!(MmioLayout::new(Some(8), Some(4)).unwrap().offset(1), 256);
    }

    #[test]
    fn bad_mmio_layouts_are_refused() {
        assert_eq!(
            MmioLayout::new(None, Some(3)),
            Err(LayoutError::Width { width: 3 })
        );
        assert_eq!(
            MmioLayout::new(None, Some(8)),
            Err(LayoutError::Width { width: 8 })
        );
        assert_eq!(
            MmioLayout::new(Some(9), None),
            Err(LayoutError::Shift { shift: 9 })
        );
        assert_eq!(
            MmioLayout::new(Some(u32::MAX), None),
            Err(LayoutError::Shift { shift: u32::MAX })
        );
        // 32-bit accesses one byte apart would overlap.
        assert_eq!(
            MmioLayout::new(Some(0), Some(4)),
            Err(LayoutError::Overlap { shift: 0, width: 4 })
        );
        assert_eq!(
            MmioLayout::new(Some(1), Some(4)),
            Err(LayoutError::Overlap { shift: 1, width: 4 })
        );
        let message = format!("{}", MmioLayout::new(Some(0), Some(4)).unwrap_err());
        assert!(message.contains("reg-shift 0"), "{message}");
    }

    /// Registers that are gone (an unbound driver's revoked window).
    struct Gone;

    impl Registers for Gone {
        fn read(&self, _index: u16) -> Option<u8> {
            None
        }

        fn write(&self, _index: u16, _value: u8) -> bool {
            false
        }
    }

    #[test]
    fn gone_registers_fail_softly() {
        assert!(!answers(&Gone));
        assert_eq!(try_read_byte(&Gone), None);
        assert!(!write_byte_polled(&Gone, b'a', 10));
        program_115200_8n1(&Gone, 0);
    }
}
