//! Every colour and text style of the client in one place, including the
//! stable per-user name colours.

use ratatui::style::{Color, Modifier, Style};

/// Name colours: readable on dark and light backgrounds, none of them the
/// terminal's default foreground, so a name never looks like message text.
const NICK_PALETTE: [Color; 12] = [
    Color::Red,
    Color::Green,
    Color::Yellow,
    Color::Blue,
    Color::Magenta,
    Color::Cyan,
    Color::LightRed,
    Color::LightGreen,
    Color::LightYellow,
    Color::LightBlue,
    Color::LightMagenta,
    Color::LightCyan,
];

/// The colour for a user name: an FNV-1a hash of the name picks from the
/// palette, so a name has the same colour in every room and every run.
pub fn nick_color(name: &str) -> Color {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in name.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    NICK_PALETTE[hash as usize % NICK_PALETTE.len()]
}

pub fn nick(name: &str) -> Style {
    Style::new()
        .fg(nick_color(name))
        .add_modifier(Modifier::BOLD)
}

pub fn time() -> Style {
    Style::new().fg(Color::DarkGray)
}

pub fn separator() -> Style {
    Style::new().fg(Color::DarkGray)
}

/// Join/leave lines, notices, day separators: present but out of the way.
pub fn quiet() -> Style {
    Style::new().fg(Color::DarkGray)
}

/// A room change (topic, roles, kicks, privacy): a dim system line.
pub fn room_change() -> Style {
    Style::new().add_modifier(Modifier::DIM)
}

/// The title line above the history: the topic.
pub fn title_topic() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

/// The title line's privacy and role, and "no topic".
pub fn title_meta() -> Style {
    Style::new().fg(Color::DarkGray)
}

pub fn joined() -> Style {
    Style::new().fg(Color::Green).add_modifier(Modifier::DIM)
}

pub fn left() -> Style {
    Style::new().fg(Color::Red).add_modifier(Modifier::DIM)
}

pub fn error() -> Style {
    Style::new().fg(Color::LightRed)
}

/// A line the server has not acknowledged yet.
pub fn pending() -> Style {
    Style::new()
        .fg(Color::DarkGray)
        .add_modifier(Modifier::ITALIC)
}

/// A deleted message's `(deleted)`, in place of its text.
pub fn deleted() -> Style {
    Style::new()
        .fg(Color::DarkGray)
        .add_modifier(Modifier::DIM | Modifier::ITALIC)
}

/// The rows of the picked message.
pub fn picked() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

/// Someone else's reaction under a message.
pub fn reaction() -> Style {
    Style::new().fg(Color::DarkGray)
}

/// A reaction that is also ours.
pub fn own_reaction() -> Style {
    Style::new()
        .fg(Color::LightCyan)
        .add_modifier(Modifier::BOLD)
}

/// Text of a message that mentions the user.
pub fn mention_text() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

/// The sender's name on a message that mentions the user: a highlight
/// that no name colour can be confused with.
pub fn mention_nick() -> Style {
    Style::new()
        .fg(Color::Black)
        .bg(Color::LightYellow)
        .add_modifier(Modifier::BOLD)
}

/// Inert notation for control characters from the network.
/// A URL in a message, also an OSC 8 hyperlink where the terminal has them.
pub fn link() -> Style {
    Style::new().add_modifier(Modifier::UNDERLINED)
}

pub fn control() -> Style {
    Style::new()
        .fg(Color::LightRed)
        .add_modifier(Modifier::REVERSED)
}

pub fn marker() -> Style {
    Style::new().fg(Color::LightRed)
}

pub fn scroll_hint() -> Style {
    Style::new().fg(Color::Black).bg(Color::Yellow)
}

pub fn status_bar() -> Style {
    Style::new().fg(Color::White).bg(Color::DarkGray)
}

pub fn room_current() -> Style {
    Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
}

pub fn room_unread() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

pub fn room_mention() -> Style {
    Style::new()
        .fg(Color::LightMagenta)
        .add_modifier(Modifier::BOLD)
}

/// A room not joined on the current socket yet.
pub fn room_offline() -> Style {
    Style::new().fg(Color::DarkGray)
}

pub fn popup_border() -> Style {
    Style::new().fg(Color::Cyan)
}

pub fn popup_selected() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

/// A word of a search result that the query matched.
pub fn search_match() -> Style {
    Style::new()
        .fg(Color::Yellow)
        .add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nick_colours_are_stable_and_spread() {
        assert_eq!(nick_color("alice"), nick_color("alice"));
        let colours: std::collections::BTreeSet<String> =
            ["alice", "bob", "carol", "dave", "erin", "frank"]
                .iter()
                .map(|n| format!("{:?}", nick_color(n)))
                .collect();
        assert!(colours.len() >= 4, "{colours:?}");
    }
}
