//! The serial shell's pure parts: the line discipline ([`mod@line`]), the command parser
//! ([`parse`]) and the device-name forms ([`name`]). The kernel's `shell` module runs
//! the commands against its device model.

pub mod line;
pub mod name;
pub mod parse;
