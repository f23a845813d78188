//! Making network text safe to draw: control characters, escape sequences
//! and bidi overrides from other users are turned into visible, inert
//! notation (`^[` for ESC, `\x9b` for C1 controls, `<U+202E>` for bidi
//! controls) so nothing a peer sends can move the cursor, recolour the
//! terminal, retitle the window or reorder what the reader sees. A
//! regional indicator without its pair (half a flag) is shown as
//! `<U+1F1F5>` too: terminals disagree on its width, and one drawn wider
//! than measured leaves a stray cell behind.
//!
//! [`links`] finds the `http`/`https` URLs the client draws as OSC 8
//! hyperlinks ([`crate::ui::link`]): only URL characters of RFC 3986, all
//! printable ASCII, so a URL can never end the escape sequence around it
//! or start another one; the sequence itself is only ever the client's.

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

/// The grapheme as `<U+…>` code points in hex, as in `<U+1F1F5>`.
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

/// Whether `c` may be part of a URL drawn as a link: RFC 3986's
/// unreserved and reserved characters and `%`. No control character, no
/// space, no `\\`, `"`, `<`, `>`, backtick, `^`, `{`, `|` or `}`.
pub fn is_url_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c)
}

/// The byte ranges of the `http://` and `https://` URLs in `text` (text
/// already made inert: pieces of [`Piece::Text`]). A URL starts where a
/// word does, runs over URL characters, and leaves out punctuation that
/// ends the sentence around it (and a `)` it did not open).
pub fn links(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("http").map(|i| i + from) {
        let starts_word = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        let rest = &text[at..];
        let scheme = ["https://", "http://"]
            .into_iter()
            .find(|s| rest.starts_with(s));
        let (Some(scheme), true) = (scheme, starts_word) else {
            from = at + 4;
            continue;
        };
        let len = rest.find(|c| !is_url_char(c)).unwrap_or(rest.len());
        let mut url = &rest[..len];
        while let Some(last) = url.chars().next_back() {
            let unopened = last == ')' && url.matches('(').count() < url.matches(')').count();
            if ".,;:!?'".contains(last) || unopened {
                url = &url[..url.len() - 1];
            } else {
                break;
            }
        }
        if url.len() > scheme.len() {
            found.push(at..at + url.len());
        }
        from = at + len.max(4);
    }
    found
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

    #[test]
    fn links_are_found_with_safe_characters_only() {
        let text = "see https://example.com/a_(b)?q=1&r=%20. or (http://x.org/y), \
                    nothttps://no.pe, https:// and http://a.b/\u{1b}]8;;evil";
        let urls: Vec<&str> = links(text).into_iter().map(|r| &text[r]).collect();
        assert_eq!(
            urls,
            [
                "https://example.com/a_(b)?q=1&r=%20",
                "http://x.org/y",
                "http://a.b/"
            ]
        );
        for url in urls {
            assert!(url.chars().all(is_url_char), "{url}");
        }
        assert!(!is_url_char('\u{1b}') && !is_url_char('\u{7}') && !is_url_char('\\'));
        assert!(links("plain words").is_empty());
    }
}
