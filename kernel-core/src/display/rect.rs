//! Rectangles and clipping. Edges are computed in `i64`, so no coordinate overflows, for
//! any `i32` origin and `u32` size.

/// A rectangle: origin (may be negative for a cursor's destination) and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rect {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl Rect {
    /// A rectangle.
    pub const fn new(x: i32, y: i32, width: u32, height: u32) -> Self {
        Self {
            x,
            y,
            width,
            height,
        }
    }

    /// The rectangle at the origin of a `width × height` area.
    pub const fn sized(width: u32, height: u32) -> Self {
        Self::new(0, 0, width, height)
    }

    /// Whether it has no pixels.
    pub const fn is_empty(&self) -> bool {
        self.width == 0 || self.height == 0
    }

    /// Right edge (exclusive), widened so it cannot overflow.
    pub const fn right(&self) -> i64 {
        self.x as i64 + self.width as i64
    }

    /// Bottom edge (exclusive).
    pub const fn bottom(&self) -> i64 {
        self.y as i64 + self.height as i64
    }

    /// Whether it lies within `0..width × 0..height`.
    pub const fn within(&self, width: u32, height: u32) -> bool {
        self.x >= 0 && self.y >= 0 && self.right() <= width as i64 && self.bottom() <= height as i64
    }

    /// The intersection (empty if none).
    pub fn intersect(&self, other: &Self) -> Self {
        let left = i64::from(self.x).max(i64::from(other.x));
        let top = i64::from(self.y).max(i64::from(other.y));
        let right = self.right().min(other.right());
        let bottom = self.bottom().min(other.bottom());
        if right <= left || bottom <= top {
            return Self::default();
        }
        Self::new(
            left as i32,
            top as i32,
            (right - left) as u32,
            (bottom - top) as u32,
        )
    }

    /// Moved by `(dx, dy)` (saturating).
    pub fn offset(&self, dx: i32, dy: i32) -> Self {
        Self::new(
            self.x.saturating_add(dx),
            self.y.saturating_add(dy),
            self.width,
            self.height,
        )
    }
}

/// Where a plane's image lands on the screen, clipped: [`place`]'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// The part of the framebuffer that is visible (framebuffer coordinates).
    pub source: Rect,
    /// Where it is shown (screen coordinates, inside the screen).
    pub destination: Rect,
}

/// Clips an unscaled plane showing `source` of its framebuffer at `destination` (same
/// size) to `screen`: the visible part, or `None` when nothing is visible. Exact for
/// every `i32` origin (a cursor at `i32::MIN` or `i32::MAX` is simply off screen).
pub fn place(source: Rect, destination: Rect, screen: Rect) -> Option<Placement> {
    let visible = destination.intersect(&screen);
    if visible.is_empty() {
        return None;
    }
    let x = i64::from(source.x) + (i64::from(visible.x) - i64::from(destination.x));
    let y = i64::from(source.y) + (i64::from(visible.y) - i64::from(destination.y));
    let source = Rect::new(
        i32::try_from(x).ok()?,
        i32::try_from(y).ok()?,
        visible.width,
        visible.height,
    );
    Some(Placement {
        source,
        destination: visible,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intersect_and_within() {
        let screen = Rect::sized(64, 48);
        assert_eq!(
            Rect::new(-8, -8, 16, 16).intersect(&screen),
            Rect::new(0, 0, 8, 8)
        );
        assert_eq!(
            Rect::new(60, 40, 16, 16).intersect(&screen),
            Rect::new(60, 40, 4, 8)
        );
        assert!(Rect::new(64, 0, 1, 1).intersect(&screen).is_empty());
        assert!(Rect::new(0, 0, 64, 48).within(64, 48));
        assert!(!Rect::new(1, 0, 64, 48).within(64, 48));
        assert!(!Rect::new(-1, 0, 1, 1).within(64, 48));
    }

    #[test]
    fn extreme_coordinates_do_not_overflow() {
        let huge = Rect::new(i32::MAX, i32::MAX, u32::MAX, u32::MAX);
        assert_eq!(huge.right(), i64::from(i32::MAX) + i64::from(u32::MAX));
        assert!(!huge.within(u32::MAX, u32::MAX));
        let screen = Rect::sized(64, 48);
        assert!(huge.intersect(&screen).is_empty());
        assert!(
            Rect::new(i32::MIN, i32::MIN, 64, 64)
                .intersect(&screen)
                .is_empty()
        );
        // A rectangle from i32::MIN wide enough to reach the screen is clipped exactly.
        let wide = Rect::new(i32::MIN, 0, u32::MAX, 48);
        assert_eq!(wide.intersect(&screen), Rect::new(0, 0, 64, 48));
        assert_eq!(
            Rect::new(i32::MAX, i32::MIN, 1, 1).offset(1, -1),
            Rect::new(i32::MAX, i32::MIN, 1, 1)
        );
    }

    #[test]
    fn place_clips_a_cursor_at_the_edges() {
        let screen = Rect::sized(64, 48);
        let source = Rect::sized(16, 16);
        assert_eq!(
            place(source, Rect::new(-4, 40, 16, 16), screen),
            Some(Placement {
                source: Rect::new(4, 0, 12, 8),
                destination: Rect::new(0, 40, 12, 8),
            })
        );
        assert_eq!(
            place(Rect::new(8, 8, 8, 8), Rect::new(10, 10, 8, 8), screen),
            Some(Placement {
                source: Rect::new(8, 8, 8, 8),
                destination: Rect::new(10, 10, 8, 8),
            })
        );
    }

    #[test]
    fn place_at_i32_limits_is_off_screen_in_every_build() {
        let screen = Rect::sized(64, 48);
        let source = Rect::sized(64, 64);
        for (x, y) in [
            (i32::MIN, 0),
            (0, i32::MIN),
            (i32::MAX, 0),
            (0, i32::MAX),
            (i32::MIN, i32::MAX),
            (i32::MAX - 63, i32::MAX - 63),
        ] {
            assert_eq!(
                place(source, Rect::new(x, y, 64, 64), screen),
                None,
                "{x},{y}"
            );
        }
        // Partly visible from far left: the source offset is computed in i64.
        let far = Rect::new(i32::MIN, 0, u32::MAX, 48);
        let placed = place(Rect::new(0, 0, u32::MAX, 48), far, screen);
        assert_eq!(
            placed, None,
            "source offset beyond i32 is not representable"
        );
    }
}
