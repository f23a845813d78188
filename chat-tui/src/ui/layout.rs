//! Where each part of the screen goes for a given terminal size.

use ratatui::layout::Rect;

/// Terminals narrower than this get a one-line room bar instead of the
/// sidebar, so the history keeps enough width to be readable.
pub const NARROW_BELOW: u16 = 60;
/// The room sidebar's width, its right border included.
pub const SIDEBAR_WIDTH: u16 = 20;

/// The screen's parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    /// Room list on the left (wide terminals).
    pub sidebar: Option<Rect>,
    /// Room list on one line at the top (narrow terminals).
    pub room_bar: Option<Rect>,
    pub history: Rect,
    pub status: Rect,
    pub input: Rect,
}

/// Splits the terminal into its parts.
pub fn areas(area: Rect) -> Areas {
    let input = Rect::new(
        area.x,
        area.bottom().saturating_sub(1),
        area.width,
        area.height.min(1),
    );
    let status = Rect::new(
        area.x,
        area.bottom().saturating_sub(2),
        area.width,
        area.height.saturating_sub(1).min(1),
    );
    let main = Rect::new(area.x, area.y, area.width, area.height.saturating_sub(2));
    if area.width >= NARROW_BELOW {
        let sidebar = Rect::new(main.x, main.y, SIDEBAR_WIDTH, main.height);
        let history = Rect::new(
            main.x + SIDEBAR_WIDTH,
            main.y,
            main.width - SIDEBAR_WIDTH,
            main.height,
        );
        Areas {
            sidebar: Some(sidebar),
            room_bar: None,
            history,
            status,
            input,
        }
    } else {
        let room_bar = Rect::new(main.x, main.y, main.width, main.height.min(1));
        let history = Rect::new(
            main.x,
            main.y + room_bar.height,
            main.width,
            main.height - room_bar.height,
        );
        Areas {
            sidebar: None,
            room_bar: Some(room_bar),
            history,
            status,
            input,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_and_narrow_layouts_cover_the_screen() {
        let a = areas(Rect::new(0, 0, 120, 40));
        assert_eq!(a.sidebar, Some(Rect::new(0, 0, 20, 38)));
        assert_eq!(a.history, Rect::new(20, 0, 100, 38));
        assert_eq!(a.status, Rect::new(0, 38, 120, 1));
        assert_eq!(a.input, Rect::new(0, 39, 120, 1));

        let a = areas(Rect::new(0, 0, 40, 20));
        assert_eq!(a.sidebar, None);
        assert_eq!(a.room_bar, Some(Rect::new(0, 0, 40, 1)));
        assert_eq!(a.history, Rect::new(0, 1, 40, 17));

        // Degenerate sizes do not underflow.
        let a = areas(Rect::new(0, 0, 10, 1));
        assert_eq!(a.history.height, 0);
        assert_eq!(a.input.height, 1);
    }
}
