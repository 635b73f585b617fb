//! The shell's line discipline: typed bytes in, one exact line or a refusal out.
//!
//! [`LineEditor::feed`] takes one [`Input`] at a time (a byte, or a note from the
//! receive path that bytes were lost there), echoes what the terminal should show, and at
//! Enter hands back an [`Entry`]: the line exactly as typed, or a [`Refusal`] saying why
//! it will not run. A line is refused when
//!
//! - the receive path lost bytes while it was typed ([`Refusal::Lost`]): the missing
//!   bytes could have been anywhere, a newline included;
//! - it is longer than the editor holds ([`Refusal::TooLong`]): nothing is cut;
//! - it holds a byte that is not printable ASCII or a tab ([`Refusal::InvalidByte`],
//!   with the 1-based column): `delete pité.0` is refused, never run as `delete pit.0`.
//!
//! Editing: backspace (`0x08` or `0x7f`) erases the last character (a whole UTF-8
//! sequence), Ctrl-U erases the line, Ctrl-C cancels it. Escape sequences (`ESC [ ...
//! final`, `ESC O x`, `ESC x`) are consumed as a unit; Up recalls the last line run,
//! Down clears the line, the others do nothing. `\r\n` is one Enter.

use core::fmt;

/// What the receive path delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// A received byte.
    Byte(u8),
    /// The receive path lost `count` bytes at this point (a full buffer, a UART
    /// overrun); at least one when the hardware cannot count.
    Lost {
        /// How many bytes (at least).
        count: u32,
    },
}

/// Why an entered line is not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Bytes were lost while the line was received.
    Lost {
        /// How many (at least).
        count: u64,
    },
    /// The line is longer than the editor holds.
    TooLong {
        /// Bytes typed.
        length: usize,
        /// Bytes the editor holds.
        capacity: usize,
    },
    /// A byte that is neither printable ASCII nor a tab.
    InvalidByte {
        /// The byte.
        byte: u8,
        /// Its 1-based position in the line.
        column: usize,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Lost { count } => write!(
                formatter,
                "receive overflow: {count} byte(s) of this line were lost; line not run"
            ),
            Self::TooLong { length, capacity } => write!(
                formatter,
                "line too long ({length} bytes, at most {capacity}); line not run"
            ),
            Self::InvalidByte { byte, column } => write!(
                formatter,
                "invalid byte {byte:#04x} at column {column} (only printable ASCII); line not run"
            ),
        }
    }
}

impl core::error::Error for Refusal {}

/// What Enter (or Ctrl-C) produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry<'a> {
    /// The line exactly as typed (printable ASCII and tabs).
    Line(&'a str),
    /// The line is not run, for this reason.
    Refused(Refusal),
    /// Ctrl-C: the line was dropped.
    Cancelled,
}

/// Where the editor is in an escape sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    /// Not in one.
    None,
    /// After `ESC`.
    Start,
    /// In `ESC [`, after `length` parameter or intermediate bytes (saturating).
    Csi { length: u8 },
    /// After `ESC O`: one more byte.
    Ss3,
}

/// A line being typed, holding up to `N` bytes.
#[derive(Debug, Clone)]
pub struct LineEditor<const N: usize = 128> {
    bytes: [u8; N],
    length: usize,
    /// Bytes typed past `N` (echoed, not kept).
    excess: usize,
    /// Bytes the receive path lost during this line.
    lost: u64,
    escape: Escape,
    /// The last byte was `\r` (a following `\n` belongs to it).
    after_return: bool,
    /// The line was handed out; clear it before the next input.
    entered: bool,
    history: [u8; N],
    history_length: usize,
}

impl<const N: usize> Default for LineEditor<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether the line may hold `byte` when it runs.
fn is_valid(byte: u8) -> bool {
    matches!(byte, 0x20..=0x7e | b'\t')
}

/// UTF-8 continuation bytes add no character cell of their own.
fn is_continuation(byte: u8) -> bool {
    matches!(byte, 0x80..=0xbf)
}

impl<const N: usize> LineEditor<N> {
    /// An empty line.
    pub const fn new() -> Self {
        Self {
            bytes: [0; N],
            length: 0,
            excess: 0,
            lost: 0,
            escape: Escape::None,
            after_return: false,
            entered: false,
            history: [0; N],
            history_length: 0,
        }
    }

    /// The bytes typed so far (not counting any past the capacity).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.length]
    }

    /// Takes one input, echoing to `echo`; at Enter or Ctrl-C returns the [`Entry`].
    ///
    /// # Errors
    ///
    /// Only `echo`'s errors (the editor's state is kept either way).
    pub fn feed(
        &mut self,
        input: Input,
        echo: &mut dyn fmt::Write,
    ) -> Result<Option<Entry<'_>>, fmt::Error> {
        if self.entered {
            self.clear();
        }
        let byte = match input {
            Input::Lost { count } => {
                self.lost = self.lost.saturating_add(u64::from(count.max(1)));
                self.after_return = false;
                return Ok(None);
            }
            Input::Byte(byte) => byte,
        };
        if core::mem::take(&mut self.after_return) && byte == b'\n' {
            return Ok(None);
        }
        if self.escape != Escape::None && self.escape_byte(byte, echo)? {
            return Ok(None);
        }
        match byte {
            b'\r' | b'\n' => {
                self.after_return = byte == b'\r';
                echo.write_char('\n')?;
                return Ok(Some(self.enter()));
            }
            0x1b => self.escape = Escape::Start,
            0x08 | 0x7f => self.erase_one(echo)?,
            0x15 => self.erase_all(echo)?,
            0x03 => {
                echo.write_str("^C\n")?;
                self.entered = true;
                return Ok(Some(Entry::Cancelled));
            }
            _ if self.length == N => {
                self.excess += 1;
                self.echo_byte(byte, echo)?;
            }
            _ => {
                self.bytes[self.length] = byte;
                self.length += 1;
                self.echo_byte(byte, echo)?;
            }
        }
        Ok(None)
    }

    /// The line is over: what it gives.
    fn enter(&mut self) -> Entry<'_> {
        self.entered = true;
        if self.lost > 0 {
            return Entry::Refused(Refusal::Lost { count: self.lost });
        }
        if self.excess > 0 {
            return Entry::Refused(Refusal::TooLong {
                length: self.length + self.excess,
                capacity: N,
            });
        }
        let line = &self.bytes[..self.length];
        if let Some(index) = line.iter().position(|&byte| !is_valid(byte)) {
            return Entry::Refused(Refusal::InvalidByte {
                byte: line[index],
                column: index + 1,
            });
        }
        if line.iter().any(|byte| !byte.is_ascii_whitespace()) {
            self.history[..line.len()].copy_from_slice(line);
            self.history_length = line.len();
        }
        // Printable ASCII is UTF-8; the fallback is unreachable but costs no panic.
        Entry::Line(core::str::from_utf8(line).unwrap_or(""))
    }

    /// One byte inside an escape sequence; `false` when the byte ended the sequence
    /// without belonging to it (the caller handles it as an ordinary byte).
    fn escape_byte(&mut self, byte: u8, echo: &mut dyn fmt::Write) -> Result<bool, fmt::Error> {
        let control = byte < 0x20 || byte == 0x7f;
        match self.escape {
            Escape::None => return Ok(false),
            _ if control => {
                self.escape = Escape::None;
                return Ok(false);
            }
            Escape::Start => {
                self.escape = match byte {
                    b'[' => Escape::Csi { length: 0 },
                    b'O' => Escape::Ss3,
                    _ => Escape::None,
                };
            }
            Escape::Csi { length } => match byte {
                0x20..=0x3f => {
                    self.escape = Escape::Csi {
                        length: length.saturating_add(1),
                    };
                }
                0x40..=0x7e => {
                    self.escape = Escape::None;
                    if length == 0 {
                        self.key(byte, echo)?;
                    }
                }
                // A byte no sequence has: abandon the sequence, consumed.
                _ => self.escape = Escape::None,
            },
            Escape::Ss3 => {
                self.escape = Escape::None;
                self.key(byte, echo)?;
            }
        }
        Ok(true)
    }

    /// A cursor key (the final byte of `ESC [ x` or `ESC O x`).
    fn key(&mut self, key: u8, echo: &mut dyn fmt::Write) -> fmt::Result {
        match key {
            b'A' => {
                self.erase_all(echo)?;
                self.length = self.history_length;
                self.bytes[..self.length].copy_from_slice(&self.history[..self.length]);
                for &byte in &self.history[..self.history_length] {
                    self.echo_byte(byte, echo)?;
                }
                Ok(())
            }
            b'B' => self.erase_all(echo),
            _ => Ok(()),
        }
    }

    fn echo_byte(&self, byte: u8, echo: &mut dyn fmt::Write) -> fmt::Result {
        match byte {
            0x20..=0x7e => echo.write_char(char::from(byte)),
            b'\t' => echo.write_char(' '),
            _ if is_continuation(byte) => Ok(()),
            // One visible cell for anything the line will refuse.
            _ => echo.write_char('?'),
        }
    }

    /// Backspace: the last character cell (with its UTF-8 continuation bytes).
    fn erase_one(&mut self, echo: &mut dyn fmt::Write) -> fmt::Result {
        if self.excess > 0 {
            self.excess -= 1;
            return echo.write_str("\x08 \x08");
        }
        while self.length > 0 && is_continuation(self.bytes[self.length - 1]) {
            self.length -= 1;
        }
        if self.length > 0 {
            self.length -= 1;
            echo.write_str("\x08 \x08")?;
        }
        Ok(())
    }

    /// Ctrl-U: the whole line.
    fn erase_all(&mut self, echo: &mut dyn fmt::Write) -> fmt::Result {
        while self.length > 0 || self.excess > 0 {
            self.erase_one(echo)?;
        }
        self.lost = 0;
        Ok(())
    }

    /// Starts a new line.
    fn clear(&mut self) {
        self.length = 0;
        self.excess = 0;
        self.lost = 0;
        self.escape = Escape::None;
        self.entered = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What typing `bytes` gave: the echo and every entry (lines owned).
    fn type_bytes<const N: usize>(
        editor: &mut LineEditor<N>,
        bytes: &[u8],
    ) -> (String, Vec<Result<String, Option<Refusal>>>) {
        let mut echo = String::new();
        let mut entries = Vec::new();
        for &byte in bytes {
            match editor.feed(Input::Byte(byte), &mut echo).unwrap() {
                Some(Entry::Line(line)) => entries.push(Ok(line.to_owned())),
                Some(Entry::Refused(refusal)) => entries.push(Err(Some(refusal))),
                Some(Entry::Cancelled) => entries.push(Err(None)),
                None => {}
            }
        }
        (echo, entries)
    }

    fn lines(bytes: &[u8]) -> Vec<Result<String, Option<Refusal>>> {
        type_bytes(&mut LineEditor::<128>::new(), bytes).1
    }

    #[test]
    fn a_line_runs_exactly_as_typed() {
        let (echo, entries) = type_bytes(&mut LineEditor::<128>::new(), b"show pit.0\r");
        assert_eq!(entries, [Ok("show pit.0".to_owned())]);
        assert_eq!(echo, "show pit.0\n");
        assert_eq!(lines(b"a\tb\n"), [Ok("a\tb".to_owned())]);
    }

    #[test]
    fn a_non_ascii_byte_refuses_the_line_with_its_column() {
        let entries = lines("delete pité.0\r".as_bytes());
        assert_eq!(
            entries,
            [Err(Some(Refusal::InvalidByte {
                byte: 0xc3,
                column: 11
            }))]
        );
        assert_eq!(
            lines(b"tree\0\r"),
            [Err(Some(Refusal::InvalidByte { byte: 0, column: 5 }))]
        );
        let message = Refusal::InvalidByte {
            byte: 0xc3,
            column: 11,
        }
        .to_string();
        assert!(message.contains("0xc3 at column 11"), "{message}");
    }

    #[test]
    fn backspace_erases_a_whole_utf8_character() {
        let (echo, entries) = type_bytes(&mut LineEditor::<128>::new(), "pé\x7f\x7fx\r".as_bytes());
        assert_eq!(entries, [Ok("x".to_owned())]);
        assert_eq!(echo, "p?\x08 \x08\x08 \x08x\n");
    }

    #[test]
    fn a_long_line_is_refused_not_cut() {
        let mut editor = LineEditor::<8>::new();
        let (_, entries) = type_bytes(&mut editor, b"123456789\r");
        assert_eq!(
            entries,
            [Err(Some(Refusal::TooLong {
                length: 9,
                capacity: 8
            }))]
        );
        // Erasing the excess makes it fit again; the next line starts clean.
        let (_, entries) = type_bytes(&mut editor, b"123456789\x7f\r12345678\r");
        assert_eq!(
            entries,
            [Ok("12345678".to_owned()), Ok("12345678".to_owned())]
        );
    }

    #[test]
    fn lost_input_refuses_the_line_it_fell_in_only() {
        let mut editor = LineEditor::<128>::new();
        let mut echo = String::new();
        let mut entries = Vec::new();
        let inputs = [
            Input::Byte(b'c'),
            Input::Lost { count: 3 },
            Input::Byte(b's'),
            Input::Byte(b'\r'),
            Input::Byte(b'x'),
            Input::Byte(b'\r'),
        ];
        for input in inputs {
            if let Some(entry) = editor.feed(input, &mut echo).unwrap() {
                entries.push(format!("{entry:?}"));
            }
        }
        assert_eq!(entries, ["Refused(Lost { count: 3 })", "Line(\"x\")"]);
        assert!(Refusal::Lost { count: 3 }.to_string().contains("3 byte(s)"));
    }

    #[test]
    fn escape_sequences_are_consumed_whole() {
        // Left, right, Home (CSI 1~), F1 (SS3 P), Alt-x, a long CSI: none leaves a byte.
        let entries = lines(b"\x1b[Dtr\x1b[C\x1b[1~\x1bOP\x1bxee\x1b[1;2;3;4;5;6;7;8;9;10m\r");
        assert_eq!(entries, [Ok("tree".to_owned())]);
        // A control byte ends a broken sequence and still counts.
        assert_eq!(lines(b"tree\x1b[\r"), [Ok("tree".to_owned())]);
    }

    #[test]
    fn up_recalls_the_last_line_and_down_clears() {
        let mut editor = LineEditor::<128>::new();
        let (_, entries) = type_bytes(&mut editor, b"counts\r\x1b[A\r\x1bOA\x1b[B\r");
        assert_eq!(
            entries,
            [
                Ok("counts".to_owned()),
                Ok("counts".to_owned()),
                Ok(String::new())
            ]
        );
    }

    #[test]
    fn crlf_is_one_enter_and_ctrl_keys_edit() {
        assert_eq!(
            lines(b"a\r\nb\n\nc\r\r"),
            [
                Ok("a".to_owned()),
                Ok("b".to_owned()),
                Ok(String::new()),
                Ok("c".to_owned()),
                Ok(String::new())
            ]
        );
        assert_eq!(lines(b"junk\x15tree\r"), [Ok("tree".to_owned())]);
        assert_eq!(
            lines(b"delete x\x03tree\r"),
            [Err(None), Ok("tree".to_owned())]
        );
    }

    #[test]
    fn a_paste_of_many_lines_gives_every_line() {
        let paste = "counts\n".repeat(300);
        let entries = lines(paste.as_bytes());
        assert_eq!(entries.len(), 300);
        assert!(entries.iter().all(|entry| entry.as_deref() == Ok("counts")));
    }
}
