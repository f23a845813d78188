//! Popups over the main screen: the help page, the `/rooms` browser and
//! the yes-or-no question before a request that cannot be undone.

use crate::text::ColumnWidth;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::app::{App, Confirm, HelpView, RoomBrowser};
use crate::keymap;
use crate::sanitize;
use crate::ui::history::wrap;
use crate::ui::theme;

/// Every key and command as the help page lists them, from the tables
/// the handling reads.
pub fn help_rows() -> Vec<(&'static str, &'static str)> {
    let keys = keymap::KEYS
        .iter()
        .chain(keymap::PICK_KEYS)
        .map(|row| (row.keys, row.what));
    let commands = keymap::COMMANDS.iter().map(|row| (row.usage, row.what));
    keys.chain(commands)
        .chain([keymap::REBINDING, keymap::LITERAL_SLASH])
        .collect()
}

/// A rectangle of at most `width` x `height`, centred in `area`.
pub(crate) fn centred(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// Descriptions narrower than this go under their key instead of beside it.
const HELP_TEXT_MIN: usize = 16;

/// The help page's lines for an inner width: key and description side by
/// side, the description wrapped at word boundaries under itself; on a
/// screen too narrow for that, each description under its key.
fn help_lines(inner: usize) -> Vec<Line<'static>> {
    let help = help_rows();
    let key_width = help.iter().map(|(k, _)| k.width()).max().unwrap_or(0);
    let side_by_side = inner >= key_width + 4 + HELP_TEXT_MIN;
    let mut lines = Vec::new();
    for (key, what) in help {
        let what = sanitize::sanitize_lines(what);
        if side_by_side {
            let body = wrap(&what, inner - key_width - 4, Style::new());
            for (i, spans) in body.into_iter().enumerate() {
                let label = if i == 0 { key } else { "" };
                let mut row = vec![Span::styled(
                    format!(" {label:<key_width$}  "),
                    theme::room_unread(),
                )];
                row.extend(spans);
                lines.push(Line::from(row));
            }
        } else {
            lines.push(Line::styled(format!(" {key}"), theme::room_unread()));
            for spans in wrap(&what, inner.saturating_sub(5), Style::new()) {
                let mut row = vec![Span::raw("    ")];
                row.extend(spans);
                lines.push(Line::from(row));
            }
        }
    }
    lines
}

/// Draws the help page scrolled to `view.scroll` (kept within what there
/// is); returns how it was drawn, for paging through it.
pub fn draw_help(frame: &mut Frame, view: HelpView, area: Rect) -> HelpView {
    let help = help_rows();
    let key_width = help.iter().map(|(k, _)| k.width()).max().unwrap_or(0);
    let natural = help
        .iter()
        .map(|(_, w)| key_width + w.width() + 5)
        .max()
        .unwrap_or(40);
    let inner = natural.min((area.width as usize).saturating_sub(2));
    let lines = help_lines(inner);
    let rect = centred(area, inner as u16 + 2, lines.len() as u16 + 2);
    let shown = (rect.height as usize).saturating_sub(2);
    let max_scroll = lines.len().saturating_sub(shown);
    let scroll = view.scroll.min(max_scroll);
    let footer = if max_scroll == 0 {
        " Esc closes "
    } else if scroll < max_scroll {
        " ↓ more · ↑↓ PgUp/PgDn scroll · Esc closes "
    } else {
        " ↑↓ PgUp/PgDn scroll · Esc closes "
    };
    let visible: Vec<Line> = lines.into_iter().skip(scroll).take(shown).collect();
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(visible).block(
            Block::bordered()
                .title(" chat-tui help ")
                .title_bottom(footer)
                .border_style(theme::popup_border()),
        ),
        rect,
    );
    HelpView {
        scroll,
        max_scroll,
        page: shown.saturating_sub(1).max(1),
    }
}

/// The widest the rooms browser's name column gets.
const ROOM_NAME_COLUMNS: usize = 28;
/// A browser row's columns besides the name: spaces, members, "joined".
const ROOM_ROW_FIXED: usize = 1 + 1 + 12 + 1 + 7 + 1;

pub fn draw_rooms(frame: &mut Frame, app: &App, browser: &RoomBrowser, area: Rect) {
    let visible = browser.visible();
    // Sized to the list (borders, filter line, blank line, rows).
    let wanted = visible.len().max(1) as u16 + 4;
    let rect = centred(area, 56, wanted.min(area.height.saturating_sub(2)).max(5));
    let inner_height = rect.height.saturating_sub(4) as usize;
    // The name column gives way on narrow screens (cut with `…`), so the
    // member count and "joined" stay on the row.
    let name_width = (rect.width as usize)
        .saturating_sub(2 + ROOM_ROW_FIXED)
        .clamp(4, ROOM_NAME_COLUMNS);
    // Keep the selection on screen.
    let first = browser
        .selected
        .saturating_sub(inner_height.saturating_sub(1));
    let mut lines: Vec<Line> = Vec::new();
    let filter = if browser.filter.is_empty() {
        "type to filter".to_owned()
    } else {
        format!("filter: {}", browser.filter)
    };
    lines.push(Line::styled(format!(" {filter}"), theme::quiet()));
    lines.push(Line::raw(""));
    if visible.is_empty() {
        lines.push(Line::styled(" no rooms match", theme::quiet()));
    }
    for (i, info) in visible.iter().enumerate().skip(first).take(inner_height) {
        let joined = if app.room_index(&info.name).is_some() {
            "joined"
        } else {
            ""
        };
        let people = format!(
            "{} member{}",
            info.members,
            if info.members == 1 { "" } else { "s" }
        );
        let name = crate::text::truncate(&info.name, name_width);
        let pad = " ".repeat(name_width.saturating_sub(name.width()));
        let text = format!(" {name}{pad} {people:>12} {joined:>7} ");
        lines.push(if i == browser.selected {
            Line::styled(text, theme::popup_selected())
        } else {
            Line::raw(text)
        });
    }
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(format!(" rooms on the server ({}) ", browser.rooms.len()))
                .title_bottom(" ↑↓ choose · Enter join · Esc close ")
                .border_style(theme::popup_border()),
        ),
        rect,
    );
}

/// The question before handing a room over or deleting it, wrapped in a
/// box of at most 60 columns, with how to answer at its foot.
pub fn draw_confirm(frame: &mut Frame, confirm: &Confirm, area: Rect) {
    let inner = 56.min((area.width as usize).saturating_sub(4)).max(1);
    let question = sanitize::sanitize_lines(&confirm.question);
    let mut lines: Vec<Line> = wrap(&question, inner, Style::new())
        .into_iter()
        .map(|spans| {
            let mut row = vec![Span::raw(" ")];
            row.extend(spans);
            Line::from(row)
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled(" y: yes · any other key: no", theme::quiet()));
    let rect = centred(area, inner as u16 + 3, lines.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(" are you sure? ")
                .border_style(theme::popup_border()),
        ),
        rect,
    );
}
