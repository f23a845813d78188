//! Whether a message mentions the user.

/// Whether `text` mentions `name` as a whole word, ignoring ASCII case:
/// "hi Alice!" and "@alice:" do, "malice" and "alice_bot" do not. A name's
/// own punctuation (`.` `-`) ends a word only when no name character
/// follows it, so "alice." at the end of a sentence still counts.
pub fn mentions(text: &str, name: &str) -> bool {
    if name.is_empty() {
        return false;
    }
    let hay = text.as_bytes();
    let needle = name.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let is_name_char = |b: u8| is_word(b) || b == b'.' || b == b'-';
    let mut start = 0;
    while start + needle.len() <= hay.len() {
        let end = start + needle.len();
        if hay[start..end].eq_ignore_ascii_case(needle) {
            let before_ok = start == 0 || !is_name_char(hay[start - 1]);
            let after_ok = match hay.get(end) {
                None => true,
                Some(&b) if is_word(b) => false,
                Some(&b) if b == b'.' || b == b'-' => {
                    !hay.get(end + 1).is_some_and(|&n| is_word(n))
                }
                Some(_) => true,
            };
            if before_ok && after_ok {
                return true;
            }
        }
        start += 1;
    }
    false
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mention_is_a_case_insensitive_word_match() {
        for yes in [
            "alice",
            "hi Alice!",
            "@alice: look",
            "ALICE, hey",
            "thanks alice.",
            "(alice)",
            "ping alice-",
        ] {
            assert!(mentions(yes, "alice"), "{yes}");
        }
        for no in [
            "malice",
            "alice_bot",
            "alices",
            "alice.b",
            "bob.alice",
            "",
            "al ice",
        ] {
            assert!(!mentions(no, "alice"), "{no}");
        }
        assert!(mentions("hey j.doe!", "j.doe"));
        assert!(!mentions("hey xj.doe", "j.doe"));
    }
}
