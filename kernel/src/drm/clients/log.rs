//! The on-screen log (Linux's `clients/drm_log.c`): a text [`Console`] on a display and
//! the kernel console [`Sink`](crate::console::Sink) that writes the kernel log to it.
//!
//! The console is a client that owns a full-screen framebuffer, draws 8×16 glyphs (the
//! `font8x8` crate's 8×8 bitmaps, each row doubled) into a text window, scrolls, and
//! flushes only the damaged rows. The sink ([`Log`]) holds one console; when its display
//! is unplugged (an unbind by the demo or the shell) it drops it and asks its opener for
//! a new one with the next line, so the log follows a rebound display.

use alloc::sync::Arc;
use core::fmt;

use font8x8::UnicodeFonts;
use kernel_core::display::console::Grid;

use crate::drm::buffer::Mapping;
use crate::drm::client::{Client, Request};
use crate::drm::device::Device;
use crate::drm::error::{Error, Result};
use crate::drm::mode::Mode;
use crate::drm::rect::Rect;

pub use kernel_core::display::console::{CELL_HEIGHT, CELL_WIDTH};

/// A text console drawing on a display device.
#[derive(Debug)]
pub struct Console {
    client: Client,
    mapping: Mapping,
    framebuffer: u32,
    mode: Mode,
    grid: Grid,
    column: u32,
    row: u32,
    foreground: u32,
    background: u32,
}

impl Console {
    /// Opens `device`, sets `mode` (or the connector's preferred mode) with a cleared
    /// full-screen framebuffer, and puts the text in `window` (`None`: the whole screen).
    ///
    /// # Errors
    ///
    /// Any client error (e.g. [`Error::Unplugged`]); [`Error::InvalidMode`] when the
    /// connector has no mode.
    pub fn new(device: &Arc<Device>, mode: Option<Mode>, window: Option<Rect>) -> Result<Self> {
        Self::with_picture(device, mode, window, |_, _| Ok(()))
    }

    /// As [`new`](Self::new), with `draw` painting the framebuffer before the first frame
    /// is shown (so the first frame on screen is the finished picture).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new), or the error of `draw`.
    pub fn with_picture(
        device: &Arc<Device>,
        mode: Option<Mode>,
        window: Option<Rect>,
        draw: impl FnOnce(&Mapping, Mode) -> Result<()>,
    ) -> Result<Self> {
        let client = Client::open(device)?;
        let objects = client.resources()?;
        let modes = client.connector(objects.connector)?.modes;
        let mode = match mode {
            Some(mode) => mode,
            None => *modes.first().ok_or(Error::InvalidMode {
                reason: "connector has no modes",
            })?,
        };
        let (framebuffer, mapping) = client.create_mapped_framebuffer(mode)?;
        draw(&mapping, mode)?;
        client.commit(&Request::new().show_full_screen(&objects, mode, framebuffer))?;
        let grid = Grid::new(mode.width(), mode.height(), window);
        Ok(Self {
            client,
            mapping,
            framebuffer,
            mode,
            grid,
            column: 0,
            row: 0,
            foreground: 0x00c0_c0c0,
            background: 0x0000_0000,
        })
    }

    /// The mode in use.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The client (to commit further changes).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The framebuffer's mapping, to draw graphics next to the text.
    pub fn mapping(&self) -> &Mapping {
        &self.mapping
    }

    /// The framebuffer's ID.
    pub fn framebuffer(&self) -> u32 {
        self.framebuffer
    }

    /// Sets the text colours (`0x00RRGGBB`).
    pub fn set_colors(&mut self, foreground: u32, background: u32) {
        self.foreground = foreground;
        self.background = background;
    }

    /// Sends `rect` of the framebuffer to the screen.
    ///
    /// # Errors
    ///
    /// As [`Client::dirty_framebuffer`].
    pub fn flush(&self, rect: Rect) -> Result<()> {
        self.client.dirty_framebuffer(self.framebuffer, &[rect])
    }

    fn draw_glyph(&self, character: char, column: u32, row: u32) -> Result<()> {
        let glyph = font8x8::BASIC_FONTS
            .get(character)
            .or_else(|| font8x8::BASIC_FONTS.get('?'))
            .unwrap_or([0; 8]);
        let cell = self.grid.cells(column, row, 1);
        let stride = (self.mapping.pitch() / 4) as usize;
        let (foreground, background) = (self.foreground, self.background);
        self.mapping.with_pixels(|pixels| {
            for (line, bits) in glyph.iter().enumerate() {
                for half in 0..2 {
                    let y = cell.y as usize + line * 2 + half;
                    let start = y * stride + cell.x as usize;
                    if let Some(span) = pixels.get_mut(start..start + CELL_WIDTH as usize) {
                        for (bit, pixel) in span.iter_mut().enumerate() {
                            *pixel = if bits & (1 << bit) != 0 {
                                foreground
                            } else {
                                background
                            };
                        }
                    }
                }
            }
        })
    }

    /// Scrolls half the window at once: every scroll re-sends the whole window to the
    /// screen, so fewer, bigger scrolls cost less.
    fn scroll(&mut self) -> Result<()> {
        let stride = (self.mapping.pitch() / 4) as usize;
        let window = self.grid.window();
        let background = self.background;
        let shift_rows = self.grid.scroll_rows();
        let shift = (shift_rows * CELL_HEIGHT) as usize;
        self.mapping.with_pixels(|pixels| {
            let top = window.y as usize;
            let kept = window.height as usize - shift;
            let x = window.x as usize;
            for y in top..top + kept {
                let (to, from) = (y * stride, (y + shift) * stride);
                pixels.copy_within(from + x..from + x + window.width as usize, to + x);
            }
            for y in top + kept..top + window.height as usize {
                let start = y * stride + x;
                if let Some(span) = pixels.get_mut(start..start + window.width as usize) {
                    span.fill(background);
                }
            }
        })?;
        self.row = self.grid.rows().saturating_sub(shift_rows);
        self.flush(window)
    }

    fn newline(&mut self) -> Result<()> {
        self.column = 0;
        if self.row + 1 >= self.grid.rows() {
            self.scroll()
        } else {
            self.row += 1;
            Ok(())
        }
    }

    /// Writes text: `\n` starts a line, long lines wrap, the window scrolls. Each line
    /// is flushed when it ends or the text does.
    ///
    /// # Errors
    ///
    /// [`Error::Unplugged`] once the display is gone.
    pub fn write_text(&mut self, text: &str) -> Result<()> {
        if self.grid.is_empty() {
            return Ok(());
        }
        let mut dirty_from = self.column;
        for character in text.chars() {
            if character == '\r' {
                continue;
            }
            if character == '\n' {
                self.flush_line(dirty_from)?;
                self.newline()?;
                dirty_from = 0;
                continue;
            }
            if self.column >= self.grid.columns() {
                self.flush_line(dirty_from)?;
                self.newline()?;
                dirty_from = 0;
            }
            self.draw_glyph(character, self.column, self.row)?;
            self.column += 1;
        }
        self.flush_line(dirty_from)
    }

    fn flush_line(&self, from: u32) -> Result<()> {
        if self.column <= from {
            return Ok(());
        }
        self.flush(self.grid.cells(from, self.row, self.column - from))
    }
}

impl fmt::Write for Console {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.write_text(text).map_err(|_| fmt::Error)
    }
}

/// The kernel log on a display: a console sink that reopens its console through `open`
/// after its display is unplugged, and drops text rather than wait when the console is
/// busy (a print from inside the console's own work).
#[derive(Debug)]
pub struct Log {
    console: spin::Mutex<Option<Console>>,
    open: fn() -> Option<Console>,
}

impl Log {
    /// A log showing on `console` first, reopened through `open` when needed.
    pub fn new(console: Option<Console>, open: fn() -> Option<Console>) -> Self {
        Self {
            console: spin::Mutex::new(console),
            open,
        }
    }

    /// Takes the current console out (the next line opens a new one).
    pub fn take_console(&self) -> Option<Console> {
        self.console.lock().take()
    }
}

impl crate::console::Sink for Log {
    fn name(&self) -> &str {
        "display"
    }

    fn write_bytes(&self, text: &[u8]) -> bool {
        let Some(mut console) = self.console.try_lock() else {
            return true;
        };
        if console
            .as_ref()
            .is_some_and(|console| console.client().device().is_unplugged())
        {
            *console = None;
        }
        if console.is_none() {
            *console = (self.open)();
        }
        let Some(console) = console.as_mut() else {
            return false;
        };
        let text = core::str::from_utf8(text).unwrap_or("?");
        console.write_text(text).is_ok()
    }
}
