//! Links in the history pane drawn as OSC 8 hyperlinks, so a terminal
//! that knows them makes a URL clickable, all of it, even when it wraps
//! over rows: every cell of one link carries the same URL and `id`.
//!
//! Ratatui has no notion of links, so the sequence goes into each cell's
//! symbol after the text is drawn, with the cell's width forced to what
//! the terminal shows ([`CellDiffOption::ForcedWidth`]): measured with the
//! escape sequence in it, the symbol would look tens of columns wide and
//! the cells after it would never be drawn. The URL is one
//! [`crate::sanitize::links`] found, made of printable ASCII only, and is
//! checked again here: nothing from the network can end or start an
//! escape sequence.

use std::num::NonZeroU16;

use ratatui::buffer::{Buffer, CellDiffOption};
use ratatui::layout::Rect;

use crate::sanitize::is_url_char;

/// A link on a display row: `width` columns from `column` (counted from
/// the row's start), to `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowLink {
    pub column: usize,
    pub width: usize,
    pub url: String,
}

/// `text` as a hyperlink to `url`; the `id` ties the parts of one link
/// together across rows.
pub fn osc8(url: &str, text: &str) -> String {
    format!(
        "\u{1b}]8;id={:08x};{url}\u{1b}\\{text}\u{1b}]8;;\u{1b}\\",
        link_id(url)
    )
}

/// A stable id for a URL (FNV-1a), so the rows of a wrapped link are one.
fn link_id(url: &str) -> u32 {
    url.bytes().fold(0x811c_9dc5, |hash, b| {
        (hash ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Turns the cells of `links` on the row at `y` (starting at column
/// `area.x`) into hyperlinks.
pub fn emit(buffer: &mut Buffer, area: Rect, y: u16, links: &[RowLink]) {
    for link in links {
        if !link.url.chars().all(is_url_char) || y >= area.bottom() {
            continue;
        }
        let start = area.x as usize + link.column;
        let end = (start + link.width).min(area.right() as usize);
        let mut x = start;
        while x < end {
            let cell = &mut buffer[(x as u16, y)];
            let here = cell.symbol().to_owned();
            let columns = crate::text::width(&here).max(1);
            cell.set_symbol(&osc8(&link.url, &here));
            if let Some(width) = u16::try_from(columns).ok().and_then(NonZeroU16::new) {
                cell.set_diff_option(CellDiffOption::ForcedWidth(width));
            }
            x += columns;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_of_a_link_carries_its_url_and_keeps_its_width() {
        let mut buffer = Buffer::with_lines(["ab http://x.y/z cd"]);
        let area = buffer.area;
        let link = RowLink {
            column: 3,
            width: 12,
            url: "http://x.y/z".into(),
        };
        emit(&mut buffer, area, 0, std::slice::from_ref(&link));
        let open = format!(
            "\u{1b}]8;id={:08x};http://x.y/z\u{1b}\\",
            link_id(&link.url)
        );
        let close = "\u{1b}]8;;\u{1b}\\";
        for (x, c) in (3..15).zip("http://x.y/z".chars()) {
            let cell = &buffer[(x, 0)];
            assert_eq!(cell.symbol(), format!("{open}{c}{close}"));
            assert_eq!(
                cell.diff_option,
                CellDiffOption::ForcedWidth(NonZeroU16::MIN)
            );
        }
        assert_eq!(buffer[(2, 0)].symbol(), " ");
        assert_eq!(buffer[(15, 0)].symbol(), " ");
        // A URL with anything outside the safe set is never emitted.
        let mut buffer = Buffer::with_lines(["http://a"]);
        let area = buffer.area;
        emit(
            &mut buffer,
            area,
            0,
            &[RowLink {
                column: 0,
                width: 8,
                url: "http://a\u{7}".into(),
            }],
        );
        assert_eq!(buffer[(0, 0)].symbol(), "h");
    }
}
