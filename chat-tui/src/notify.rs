//! What the terminal is sent to announce a mention or a conversation
//! message: the bell (BEL) and a desktop notification the terminal
//! shows for us, as OSC 9 (iTerm2, WezTerm, kitty, Windows Terminal) and
//! OSC 777 (rxvt, foot, VTE terminals). A terminal ignores the OSC it
//! does not know.

/// Longest notification body sent, in characters: a desktop popup shows
/// a line or two.
const BODY_MAX_CHARS: usize = 200;

/// A desktop notification: who and where, and what they wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desktop {
    pub title: String,
    pub body: String,
}

/// One announcement for the runner to write to the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub bell: bool,
    pub desktop: Option<Desktop>,
}

impl Notification {
    /// The bytes to write: BEL, then OSC 9 and OSC 777 each ended by ST.
    pub fn escape_sequences(&self) -> String {
        let mut out = String::new();
        if self.bell {
            out.push('\x07');
        }
        if let Some(desktop) = &self.desktop {
            let title = plain(&desktop.title, BODY_MAX_CHARS);
            let body = plain(&desktop.body, BODY_MAX_CHARS);
            out.push_str(&format!("\x1b]9;{title}: {body}\x1b\\"));
            // OSC 777 separates its fields with `;`.
            let title = title.replace(';', ",");
            out.push_str(&format!("\x1b]777;notify;{title};{body}\x1b\\"));
        }
        out
    }
}

/// Text from the network made safe inside an OSC: no control characters
/// (ESC or BEL would end the sequence early and let the rest reach the
/// screen as commands), cut to `max` characters.
fn plain(text: &str, max: usize) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bell_and_desktop_sequences_carry_no_control_characters_from_the_text() {
        let bell = Notification {
            bell: true,
            desktop: None,
        };
        assert_eq!(bell.escape_sequences(), "\x07");
        let desktop = Notification {
            bell: false,
            desktop: Some(Desktop {
                title: "bob in #rust; hi".into(),
                body: "look\x1b]0;pwned\x07 here".into(),
            }),
        };
        assert_eq!(
            desktop.escape_sequences(),
            "\x1b]9;bob in #rust; hi: look ]0;pwned  here\x1b\\\
             \x1b]777;notify;bob in #rust, hi;look ]0;pwned  here\x1b\\"
        );
        let long = Notification {
            bell: false,
            desktop: Some(Desktop {
                title: "t".into(),
                body: "x".repeat(500),
            }),
        };
        assert!(long.escape_sequences().len() < 500);
    }
}
