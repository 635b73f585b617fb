//! 16550A UART registers (National Semiconductor PC16550D datasheet): offsets from the
//! base port and their bits.

/// Number of I/O ports the UART decodes.
pub const PORT_COUNT: u16 = 8;

/// Receive buffer (read) / transmit holding (write); divisor latch low when DLAB = 1.
pub const DATA: u16 = 0;
/// Interrupt enable; divisor latch high when DLAB = 1.
pub const INTERRUPT_ENABLE: u16 = 1;
/// Interrupt identification (read) / FIFO control (write).
pub const INTERRUPT_ID: u16 = 2;
/// FIFO control (write).
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
