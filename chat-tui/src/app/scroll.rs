//! Where a room's history pane is scrolled to, kept as an anchor in its
//! entries: lines arriving below a scrolled-up view leave the anchor (and
//! so the view) where it is, and nothing in the state needs to know how
//! many rows an entry takes. The draw resolves the anchor into rows and
//! reports the pane's geometry back as a [`Viewport`], which paging moves
//! by.

/// Where the history pane's bottom row is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Scroll {
    /// Following the newest line.
    #[default]
    Bottom,
    /// The bottom row is `rows_up` rows above the end of the room's first
    /// `entries` entries. When that is all of them, the end is that of the
    /// pending lines drawn after them.
    Anchored { entries: usize, rows_up: usize },
}

/// The current room's history pane as last drawn: its height and how many
/// rows lie above and below what it shows. Set by the runner from what
/// [`crate::ui::render`] reports, and kept current by paging in between.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Viewport {
    /// Rows the pane shows.
    pub height: usize,
    /// Loaded rows above the top row, counted up to one pane's height.
    pub rows_above: usize,
    /// Whether `rows_above` reaches the top of what is loaded.
    pub reached_top: bool,
    /// Rows below the bottom row, down to the newest line. While scrolled
    /// up, the pane draws its "more lines" hint in place of that bottom row.
    pub rows_below: usize,
    /// The first and last of the room's entries (by index) wholly in view,
    /// so picking a message scrolls only when it is not.
    pub shown: Option<(usize, usize)>,
}

impl Viewport {
    /// How far one PgUp/PgDn moves: a pane less two rows of overlap.
    pub fn page(&self) -> usize {
        self.height.saturating_sub(2).max(1)
    }
}

impl Scroll {
    /// The view moved `rows` further up; `entries` is how many the room
    /// holds now.
    pub fn up(self, rows: usize, entries: usize) -> Scroll {
        match self {
            Scroll::Bottom => Scroll::Anchored {
                entries,
                rows_up: rows,
            },
            Scroll::Anchored {
                entries: anchor,
                rows_up,
            } => Scroll::Anchored {
                entries: anchor,
                rows_up: rows_up + rows,
            },
        }
    }

    /// The view moved `rows` down, `viewport` being where it was; at the
    /// newest line it follows new lines again.
    pub fn down(self, rows: usize, viewport: &Viewport, entries: usize) -> Scroll {
        if viewport.rows_below <= rows {
            return Scroll::Bottom;
        }
        match self {
            Scroll::Bottom => Scroll::Bottom,
            Scroll::Anchored {
                entries: anchor,
                rows_up,
            } if rows_up >= rows => Scroll::Anchored {
                entries: anchor,
                rows_up: rows_up - rows,
            },
            // The new bottom row is below the anchor: anchor anew at the
            // end, by what the last draw measured below the view.
            _ => Scroll::Anchored {
                entries,
                rows_up: viewport.rows_below - rows,
            },
        }
    }

    /// `count` older entries were put in front of the room's entries.
    pub fn entries_prepended(self, count: usize) -> Scroll {
        match self {
            Scroll::Bottom => Scroll::Bottom,
            Scroll::Anchored { entries, rows_up } => Scroll::Anchored {
                entries: entries + count,
                rows_up,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_moves_the_anchor_and_returns_to_following() {
        let up = Scroll::Bottom.up(8, 20);
        assert_eq!(
            up,
            Scroll::Anchored {
                entries: 20,
                rows_up: 8
            }
        );
        // Older entries in front keep the anchor on the same entry.
        let up = up.entries_prepended(10);
        assert_eq!(
            up,
            Scroll::Anchored {
                entries: 30,
                rows_up: 8
            }
        );
        let drawn = Viewport {
            height: 10,
            rows_above: 5,
            reached_top: false,
            rows_below: 12,
            shown: None,
        };
        // Down within the rows above the anchor.
        assert_eq!(
            up.down(3, &drawn, 31),
            Scroll::Anchored {
                entries: 30,
                rows_up: 5
            }
        );
        // Down past the anchor: anchored anew at the end.
        assert_eq!(
            up.down(10, &drawn, 31),
            Scroll::Anchored {
                entries: 31,
                rows_up: 2
            }
        );
        assert_eq!(up.down(12, &drawn, 31), Scroll::Bottom);
        assert_eq!(drawn.page(), 8);
        assert_eq!(Viewport::default().page(), 1);
    }
}
