//! Why another CPU could not be started or called: one error each for every
//! architecture's `cpu` module (each re-exports them).

use core::fmt;

/// Why the other CPUs were not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartError {
    /// The firmware's tables list no processors (on x86_64: no MADT).
    NoProcessorList,
    /// The page the other CPUs start in is not RAM in the memory map.
    StartPageNotRam {
        /// The page's address.
        address: u64,
    },
}

impl fmt::Display for StartError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoProcessorList => formatter.write_str("the firmware lists no processors"),
            Self::StartPageNotRam { address } => write!(
                formatter,
                "the start-up page at {address:#x} is not RAM in the memory map"
            ),
        }
    }
}

impl core::error::Error for StartError {}

/// Why `call_on` refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallError {
    /// No CPU with that number is up.
    NoSuchCpu {
        /// The number asked for.
        cpu: usize,
        /// How many CPUs are up.
        online: usize,
    },
    /// The caller has interrupts disabled: it could not answer another CPU's call while it
    /// waits for its own.
    InterruptsDisabled,
}

impl fmt::Display for CallError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSuchCpu { cpu, online } => {
                write!(formatter, "no CPU {cpu} (CPUs 0 to {} are up)", online - 1)
            }
            Self::InterruptsDisabled => {
                formatter.write_str("cannot call another CPU with interrupts disabled")
            }
        }
    }
}

impl core::error::Error for CallError {}
