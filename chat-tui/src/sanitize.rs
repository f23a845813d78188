//! Making network text safe to draw: control characters, escape sequences
//! and bidi overrides from other users are turned into visible, inert
//! notation (`^[` for ESC, `\x9b` for C1 controls, `<U+202E>` for bidi
//! controls) so nothing a peer sends can move the cursor, recolour the
//! terminal, retitle the window or reorder what the reader sees. A
//! regional indicator without its pair (half a flag) is shown as
//! `<U+1F1F5>` too: terminals disagree on its width, and one drawn wider
//! than measured leaves a stray cell behind.

use std::borrow::Cow;

use unicode_segmentation::UnicodeSegmentation;

use crate::text;

/// One piece of sanitized text: either plain printable text, or the inert
/// notation standing for a character that must never reach the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    /// Notation for a control character, drawn in a distinct style so the
    /// reader can tell it was not typed as such.
    Control(String),
}

/// How a tab is shown: as spaces, since a raw tab would let the terminal
/// decide the column and break our width bookkeeping.
const TAB_AS_SPACES: &str = "    ";

/// The inert notation for `c` when it must not be drawn as is, else `None`.
/// Newlines are handled by the caller (they split rows), so they count as
/// controls here.
pub fn notation(c: char) -> Option<Cow<'static, str>> {
    let code = c as u32;
    match code {
        // C0 controls in caret notation: ESC is `^[`, BEL is `^G`.
        0x00..=0x1f => {
            let caret = char::from_u32(code + 0x40).unwrap_or('?');
            Some(Cow::Owned(format!("^{caret}")))
        }
        0x7f => Some(Cow::Borrowed("^?")),
        // C1 controls: 0x9b is a one-byte CSI on some terminals.
        0x80..=0x9f => Some(Cow::Owned(format!("\\x{code:02x}"))),
        // Bidi embeddings, overrides and isolates reorder the rest of the
        // line; line and paragraph separators break rows behind our back.
        0x200e | 0x200f | 0x202a..=0x202e | 0x2066..=0x2069 | 0x2028 | 0x2029 => {
            Some(Cow::Owned(format!("<U+{code:04X}>")))
        }
        _ => None,
    }
}

/// Splits `text` into lines (on `\n`; a `\r\n` pair counts as one break)
/// and each line into safe pieces.
pub fn sanitize_lines(text: &str) -> Vec<Vec<Piece>> {
    text.split('\n')
        .map(|line| sanitize_line(line.strip_suffix('\r').unwrap_or(line)))
        .collect()
}

/// Sanitizes one line; a newline inside it is shown as `^J`.
pub fn sanitize_line(line: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut plain = String::new();
    let control = |pieces: &mut Vec<Piece>, plain: &mut String, shown: String| {
        if !plain.is_empty() {
            pieces.push(Piece::Text(std::mem::take(plain)));
        }
        pieces.push(Piece::Control(shown));
    };
    for g in line.graphemes(true) {
        if text::is_lone_regional_indicator(g) {
            control(&mut pieces, &mut plain, code_point(g));
            continue;
        }
        for c in g.chars() {
            if c == '\t' {
                plain.push_str(TAB_AS_SPACES);
            } else if let Some(shown) = notation(c) {
                control(&mut pieces, &mut plain, shown.into_owned());
            } else {
                plain.push(c);
            }
        }
    }
    if !plain.is_empty() {
        pieces.push(Piece::Text(plain));
    }
    pieces
}

/// `<U+XXXX>` for a one-character grapheme.
fn code_point(g: &str) -> String {
    g.chars().map(|c| format!("<U+{:04X}>", c as u32)).collect()
}

/// A single-line safe rendering, for names and status text where styling
/// the notation separately is not worth it.
pub fn inert(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for g in text.graphemes(true) {
        if text::is_lone_regional_indicator(g) {
            out.push_str(&code_point(g));
            continue;
        }
        for c in g.chars() {
            match notation(c) {
                Some(shown) => out.push_str(&shown),
                None => out.push(c),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flatten(pieces: &[Piece]) -> String {
        pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) | Piece::Control(t) => t.as_str(),
            })
            .collect()
    }

    #[test]
    fn escape_sequences_become_caret_notation() {
        let pieces = sanitize_line("\u{1b}[2J\u{1b}]0;pwned\u{7}hi");
        assert_eq!(flatten(&pieces), "^[[2J^[]0;pwned^Ghi");
        assert!(pieces.contains(&Piece::Control("^[".into())));
        assert!(!flatten(&pieces).chars().any(|c| c.is_control()));
    }

    #[test]
    fn c1_and_del_and_bidi_are_inert() {
        assert_eq!(inert("a\u{9b}31mb"), "a\\x9b31mb");
        assert_eq!(inert("x\u{7f}"), "x^?");
        assert_eq!(inert("abc\u{202e}fed"), "abc<U+202E>fed");
        assert_eq!(inert("bell\u{7}"), "bell^G");
        assert_eq!(inert("nul\0"), "nul^@");
    }

    #[test]
    fn newlines_split_lines_and_tabs_become_spaces() {
        let lines = sanitize_lines("one\r\ntwo\tx\nthree");
        let texts: Vec<String> = lines.iter().map(|l| flatten(l)).collect();
        assert_eq!(texts, ["one", "two    x", "three"]);
        assert_eq!(inert("a\nb"), "a^Jb");
    }

    #[test]
    fn half_a_flag_is_inert_and_whole_emoji_are_untouched() {
        assert_eq!(inert("🇵🇱🇵"), "🇵🇱<U+1F1F5>");
        assert_eq!(
            sanitize_line("x🇵"),
            vec![Piece::Text("x".into()), Piece::Control("<U+1F1F5>".into())]
        );
        let emoji = "👍🏽 👨\u{200d}👩\u{200d}👧 🇫🇷 1\u{fe0f}\u{20e3}";
        assert_eq!(sanitize_line(emoji), vec![Piece::Text(emoji.into())]);
    }

    #[test]
    fn ordinary_text_including_wide_characters_is_untouched() {
        let text = "héllo 世界 🎉 ok";
        assert_eq!(sanitize_line(text), vec![Piece::Text(text.into())]);
        assert_eq!(inert(text), text);
    }
}
