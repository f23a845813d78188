//! Measuring and cutting text by the columns a terminal draws it in: one
//! place for display widths, so the input line, the history pane and the
//! popups agree on where every character lands.

use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// The columns `text` takes on screen.
pub fn width(text: &str) -> usize {
    text.width()
}

/// The columns one grapheme cluster takes on screen.
pub fn grapheme_width(grapheme: &str) -> usize {
    grapheme.width()
}

/// `text` cut to `max` display columns, ending in `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if width(text) <= max {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for g in text.graphemes(true) {
        let w = grapheme_width(g);
        if used + w + 1 > max {
            break;
        }
        used += w;
        out.push_str(g);
    }
    if max > 0 {
        out.push('…');
    }
    out
}
