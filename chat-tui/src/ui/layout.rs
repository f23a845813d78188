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

/// The most rows the input grows to for a message of several lines (it
/// scrolls within them past that).
pub const INPUT_MAX_ROWS: u16 = 5;

/// Splits the terminal into its parts, the input taking `input_rows` rows
/// (1 to [`INPUT_MAX_ROWS`], and never more than half the screen).
pub fn areas(area: Rect, input_rows: u16) -> Areas {
    let input_rows = input_rows
        .clamp(1, INPUT_MAX_ROWS)
        .min((area.height / 2).max(1));
    let input_height = area.height.min(input_rows);
    let input = Rect::new(
        area.x,
        area.bottom().saturating_sub(input_height),
        area.width,
        input_height,
    );
    let status = Rect::new(
        area.x,
        input.y.saturating_sub(1),
        area.width,
        area.height.saturating_sub(input_height).min(1),
    );
    let main = Rect::new(
        area.x,
        area.y,
        area.width,
        area.height.saturating_sub(input_height + 1),
    );
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
        let a = areas(Rect::new(0, 0, 120, 40), 1);
        assert_eq!(a.sidebar, Some(Rect::new(0, 0, 20, 38)));
        assert_eq!(a.history, Rect::new(20, 0, 100, 38));
        assert_eq!(a.status, Rect::new(0, 38, 120, 1));
        assert_eq!(a.input, Rect::new(0, 39, 120, 1));

        let a = areas(Rect::new(0, 0, 40, 20), 1);
        assert_eq!(a.sidebar, None);
        assert_eq!(a.room_bar, Some(Rect::new(0, 0, 40, 1)));
        assert_eq!(a.history, Rect::new(0, 1, 40, 17));

        // Degenerate sizes do not underflow.
        let a = areas(Rect::new(0, 0, 10, 1), 3);
        assert_eq!(a.history.height, 0);
        assert_eq!(a.input.height, 1);

        // A message of several lines: the input grows, up to its cap.
        let a = areas(Rect::new(0, 0, 100, 30), 3);
        assert_eq!(a.input, Rect::new(0, 27, 100, 3));
        assert_eq!(a.status, Rect::new(0, 26, 100, 1));
        assert_eq!(a.history, Rect::new(20, 0, 80, 26));
        let a = areas(Rect::new(0, 0, 100, 30), 40);
        assert_eq!(a.input.height, INPUT_MAX_ROWS);
    }
}
