//! A fixed-capacity string for messages that must not touch the heap.
//!
//! Panic messages, fault reports and test failure reasons are recorded while the heap may
//! be broken, and must not disturb the leak check around a test; they are formatted into
//! a [`FixedString`] instead of a `String`. Text beyond the capacity is cut off (at a
//! character boundary) rather than reported as an error.

use core::fmt;

/// Up to `N` bytes of UTF-8 text stored inline.
///
/// # Invariants
///
/// `bytes[..length]` is valid UTF-8.
#[derive(Clone, Copy)]
pub struct FixedString<const N: usize> {
    bytes: [u8; N],
    length: usize,
}

impl<const N: usize> FixedString<N> {
    /// An empty string.
    pub const fn new() -> Self {
        // INVARIANT: the empty prefix is valid UTF-8.
        Self {
            bytes: [0; N],
            length: 0,
        }
    }

    /// A string from ASCII bytes, usable in constants: truncated at the capacity, and any
    /// non-ASCII byte is replaced by `?`.
    pub const fn from_ascii(text: &[u8]) -> Self {
        let mut bytes = [0; N];
        let mut length = 0;
        while length < N && length < text.len() {
            bytes[length] = if text[length].is_ascii() {
                text[length]
            } else {
                b'?'
            };
            length += 1;
        }
        // INVARIANT: ASCII bytes are valid UTF-8.
        Self { bytes, length }
    }

    /// Formats `arguments` into a new string, truncating at the capacity.
    pub fn from_fmt(arguments: fmt::Arguments<'_>) -> Self {
        let mut text = Self::new();
        // `write_str` below never fails.
        let _ = fmt::Write::write_fmt(&mut text, arguments);
        text
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match core::str::from_utf8(&self.bytes[..self.length]) {
            Ok(text) => text,
            // Unreachable by the type invariant; be total anyway.
            Err(error) => {
                let valid = error.valid_up_to();
                core::str::from_utf8(&self.bytes[..valid]).unwrap_or_default()
            }
        }
    }

    /// Length of the stored text in bytes.
    pub const fn len(&self) -> usize {
        self.length
    }

    /// Whether the string is empty.
    pub const fn is_empty(&self) -> bool {
        self.length == 0
    }
}

impl<const N: usize> Default for FixedString<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for FixedString<N> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let room = N - self.length;
        let mut take = text.len().min(room);
        while !text.is_char_boundary(take) {
            take -= 1;
        }
        self.bytes[self.length..self.length + take].copy_from_slice(&text.as_bytes()[..take]);
        // INVARIANT: a prefix of `text` cut at a character boundary is valid UTF-8.
        self.length += take;
        Ok(())
    }
}

impl<const N: usize> fmt::Display for FixedString<N> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl<const N: usize> PartialEq for FixedString<N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl<const N: usize> Eq for FixedString<N> {}

impl<const N: usize> fmt::Debug for FixedString<N> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), formatter)
    }
}
