//! The 16550A UART (National Semiconductor PC16550D datasheet): one register map and
//! one programming sequence, shared by the kernel's early console and its UART driver.
//!
//! Register access goes through [`Registers`], so the same code drives a UART behind
//! I/O ports (the PC's COM1, today) or behind MMIO (a device tree's `ns16550a`, whose
//! `reg-shift` and `reg-io-width` a backend applies when it turns a register index
//! into an address). Offsets here are register indices, 0 to 7.

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

/// How a UART's registers are reached (port I/O, MMIO with a register shift, or a
/// revocable window that may be gone).
pub trait Registers {
    /// Reads register `index` (0 to 7); `None` when the registers are gone.
    fn read(&self, index: u16) -> Option<u8>;

    /// Writes register `index`; `false` when the registers are gone.
    fn write(&self, index: u16, value: u8) -> bool;
}

/// Programs 115200 baud, 8N1, FIFOs on and cleared, every interrupt off, and the modem
/// lines `modem_control` (DTR and RTS; OUT2 too for a driver that takes the interrupt).
/// Pending status is read and dropped.
pub fn program_115200_8n1(registers: &impl Registers, modem_control: u8) {
    let [divisor_low, divisor_high] = DIVISOR_115200.to_le_bytes();
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
