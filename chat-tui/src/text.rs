//! Measuring and cutting text by the columns a terminal draws it in: one
//! place for display widths, so the input line, the history pane, the
//! popups and ratatui's buffer agree on where every character lands.
//!
//! Text is measured one grapheme cluster at a time, as ratatui places it
//! in its buffer: an emoji with a skin tone, a ZWJ family, a flag (a pair
//! of regional indicators) and a keycap are each one cluster of two
//! columns, as terminals with emoji support draw them. A regional
//! indicator without its pair is the one cluster terminals disagree on
//! (one column or two); [`crate::sanitize`] never lets one through.

use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// The columns `text` takes on screen: the sum of its clusters' widths.
pub fn width(text: &str) -> usize {
    text.graphemes(true).map(grapheme_width).sum()
}

/// The columns one grapheme cluster takes on screen.
pub fn grapheme_width(grapheme: &str) -> usize {
    UnicodeWidthStr::width(grapheme)
}

/// Whether `grapheme` is a regional indicator standing alone: half a flag.
pub fn is_lone_regional_indicator(grapheme: &str) -> bool {
    let mut chars = grapheme.chars();
    matches!(
        (chars.next(), chars.next()),
        (Some('\u{1F1E6}'..='\u{1F1FF}'), None)
    )
}

/// `.width()` on text meaning [`width`], for the drawing code.
pub trait ColumnWidth {
    fn width(&self) -> usize;
}

impl ColumnWidth for str {
    fn width(&self) -> usize {
        width(self)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_clusters_take_two_columns() {
        for (text, columns) in [
            ("👍", 2),
            ("👍🏽", 2),
            ("👨\u{200d}👩\u{200d}👧", 2),
            ("🧑🏿\u{200d}🤝\u{200d}🧑🏻", 2),
            ("🇵🇱", 2),
            ("1\u{fe0f}\u{20e3}", 2),
            ("#\u{fe0f}\u{20e3}", 2),
            ("🏳\u{fe0f}\u{200d}🌈", 2),
            ("e\u{301}", 1),
            ("日本", 4),
            ("👍🏽 ok", 5),
        ] {
            assert_eq!(width(text), columns, "{text:?}");
        }
        assert!(is_lone_regional_indicator("🇵"));
        assert!(!is_lone_regional_indicator("🇵🇱"));
        assert!(!is_lone_regional_indicator("P"));
    }

    #[test]
    fn truncation_never_splits_a_cluster() {
        assert_eq!(
            truncate("👨\u{200d}👩\u{200d}👧abc", 3),
            "👨\u{200d}👩\u{200d}👧…"
        );
        assert_eq!(truncate("🇵🇱🇫🇷", 3), "🇵🇱…");
        assert_eq!(truncate("lobby", 5), "lobby");
        assert_eq!(truncate("lobby-long", 5), "lobb…");
    }
}
