//! The text console's layout: a grid of glyph cells in a window of the screen, and how
//! far it scrolls.

use super::rect::Rect;

/// Glyph cell width in pixels.
pub const CELL_WIDTH: u32 = 8;
/// Glyph cell height in pixels.
pub const CELL_HEIGHT: u32 = 16;

/// A text grid: whole cells of [`CELL_WIDTH`] × [`CELL_HEIGHT`] in a window.
///
/// # Invariants
///
/// The window lies inside the screen it was made for, and `columns × CELL_WIDTH` and
/// `rows × CELL_HEIGHT` fit in it (checked by [`Grid::new`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    window: Rect,
    columns: u32,
    rows: u32,
}

impl Grid {
    /// The grid of `window` (`None`: the whole screen) clipped to a `width × height`
    /// screen.
    pub fn new(width: u32, height: u32, window: Option<Rect>) -> Self {
        let screen = Rect::sized(width, height);
        let window = window.unwrap_or(screen).intersect(&screen);
        // INVARIANT: clipped to the screen; whole cells only.
        Self {
            window,
            columns: window.width / CELL_WIDTH,
            rows: window.height / CELL_HEIGHT,
        }
    }

    /// The window, in screen coordinates.
    pub const fn window(&self) -> Rect {
        self.window
    }

    /// Cells per row.
    pub const fn columns(&self) -> u32 {
        self.columns
    }

    /// Rows of cells.
    pub const fn rows(&self) -> u32 {
        self.rows
    }

    /// Whether not even one cell fits.
    pub const fn is_empty(&self) -> bool {
        self.columns == 0 || self.rows == 0
    }

    /// The screen rectangle of `count` cells from (`column`, `row`) along the row.
    pub fn cells(&self, column: u32, row: u32, count: u32) -> Rect {
        Rect::new(
            self.window.x + (column * CELL_WIDTH) as i32,
            self.window.y + (row * CELL_HEIGHT) as i32,
            count * CELL_WIDTH,
            CELL_HEIGHT,
        )
    }

    /// How many rows one scroll moves: half the grid (at least one), since every scroll
    /// re-sends the whole window and fewer, bigger scrolls cost less.
    pub const fn scroll_rows(&self) -> u32 {
        let half = self.rows / 2;
        if half == 0 { 1 } else { half }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_cells_in_the_window() {
        let grid = Grid::new(1024, 768, Some(Rect::new(8, 72, 1008, 624)));
        assert_eq!((grid.columns(), grid.rows()), (126, 39));
        assert_eq!(grid.cells(0, 0, 1), Rect::new(8, 72, 8, 16));
        assert_eq!(grid.cells(3, 2, 5), Rect::new(32, 104, 40, 16));
        assert_eq!(grid.scroll_rows(), 19);
    }

    #[test]
    fn window_clipped_to_the_screen() {
        let grid = Grid::new(640, 480, Some(Rect::new(8, 72, 1008, 624)));
        assert_eq!(grid.window(), Rect::new(8, 72, 632, 408));
        assert_eq!((grid.columns(), grid.rows()), (79, 25));
        let whole = Grid::new(64, 48, None);
        assert_eq!((whole.columns(), whole.rows()), (8, 3));
    }

    #[test]
    fn tiny_and_empty_grids() {
        assert!(Grid::new(7, 100, None).is_empty());
        assert!(Grid::new(100, 100, Some(Rect::new(200, 0, 10, 10))).is_empty());
        let one_row = Grid::new(64, 20, None);
        assert_eq!((one_row.rows(), one_row.scroll_rows()), (1, 1));
    }
}
