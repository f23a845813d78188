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
//!
//! [`split_message`] cuts text too long for one message into several, at
//! word boundaries and never inside a grapheme cluster.

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

/// `text` cut into pieces of at most `max_bytes` bytes each, in order:
/// each piece ends at the last whitespace that fits (the whitespace at a
/// cut is dropped, as a wrapped row drops it), or, in a word longer than
/// a piece, at the last grapheme cluster boundary that fits (at a `char`
/// boundary only for a cluster longer than a piece on its own). Blank
/// pieces are left out; text that fits is one piece.
pub fn split_message(text: &str, max_bytes: usize) -> Vec<String> {
    let max_bytes = max_bytes.max(4);
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > max_bytes {
        let (piece, next) = cut_piece(rest, max_bytes);
        if !piece.trim().is_empty() {
            pieces.push(piece.trim_end().to_owned());
        }
        rest = next;
    }
    if !rest.trim().is_empty() {
        pieces.push(rest.to_owned());
    }
    pieces
}

/// The first piece of `text` (longer than `max_bytes`) and what follows it.
fn cut_piece(text: &str, max_bytes: usize) -> (&str, &str) {
    let mut last_space = None;
    let mut last_boundary = 0;
    for (at, g) in text.grapheme_indices(true) {
        if at + g.len() > max_bytes {
            break;
        }
        if g.chars().all(char::is_whitespace) {
            last_space = Some(at);
        }
        last_boundary = at + g.len();
    }
    match last_space {
        Some(at) if at > 0 => {
            let next = text[at..].trim_start();
            (&text[..at], next)
        }
        _ if last_boundary > 0 => text.split_at(last_boundary),
        _ => {
            // One cluster longer than a piece: cut between its chars.
            let mut at = max_bytes;
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text.split_at(at)
        }
    }
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

    #[test]
    fn long_text_is_split_at_words_and_never_inside_a_cluster() {
        assert_eq!(split_message("short", 10), ["short"]);
        assert_eq!(
            split_message("one two three four", 9),
            ["one two", "three", "four"]
        );
        // A word longer than a piece is cut between clusters.
        assert_eq!(split_message("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        // é is two bytes, the family emoji 18: neither is ever cut.
        let family = "👨\u{200d}👩\u{200d}👧";
        for text in ["ééééé", &format!("{family}{family}x")] {
            for max in 4..24 {
                let pieces = split_message(text, max);
                assert_eq!(pieces.concat(), text, "{max}");
                for piece in &pieces {
                    assert!(piece.len() <= max.max(family.len()), "{piece:?}");
                    assert!(piece.graphemes(true).all(|g| text.contains(g)));
                }
            }
        }
        // Spaces and new lines at a cut are dropped; blank pieces too.
        assert_eq!(split_message("aaaa\n\n   bbbb", 6), ["aaaa", "bbbb"]);
        let long = "word ".repeat(2000);
        let pieces = split_message(&long, 4000);
        assert!(pieces.iter().all(|p| p.len() <= 4000));
        assert_eq!(pieces.len(), 3);
        assert_eq!(pieces.join(" "), long, "one space dropped at each cut");
    }
}
