//! Why a device interrupt line could not be requested: one error for every architecture's
//! `irq` module (each re-exports it).

use core::fmt;

use super::io::Owner;

/// Why a line could not be requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IrqError {
    /// Not a line of this machine's interrupt controller: on x86_64 an ISA line (0..16)
    /// other than line 2 (the cascade), on riscv64 a PLIC source (0 is "no interrupt").
    InvalidLine {
        /// The line asked for.
        line: u32,
    },
    /// Someone else owns the line.
    Busy {
        /// The line asked for.
        line: u32,
        /// Who holds it.
        owner: Owner,
    },
}

impl fmt::Display for IrqError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidLine { line } => write!(
                formatter,
                "IRQ {line} is not a usable line of this machine's interrupt controller"
            ),
            Self::Busy { line, owner } => {
                write!(
                    formatter,
                    "IRQ {line} already has a handler, owned by {owner}"
                )
            }
        }
    }
}

impl core::error::Error for IrqError {}
