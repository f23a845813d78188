//! The input: a prompt, the text scrolled sideways so the cursor is
//! always visible, and the terminal cursor placed on it. A message of
//! several lines takes a row per line, up to [`INPUT_MAX_ROWS`], scrolled
//! so the cursor's line shows. The password prompt draws the same way
//! with every character masked, the reaction prompt as one line; a long
//! paste's question takes the row. Who is typing shows on the row above.

use crate::text::ColumnWidth;
use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use unicode_segmentation::UnicodeSegmentation;

use crate::app::{App, InputLine, Mode};
use crate::ui::layout::INPUT_MAX_ROWS;
use crate::ui::theme;

const PROMPT: &str = "> ";
/// Before the rows after the first; `↑`/`↓` when lines are hidden above
/// or below the rows shown.
const MORE_PROMPT: &str = "  ";
const ABOVE_PROMPT: &str = "↑ ";
const BELOW_PROMPT: &str = "↓ ";
const PASSWORD_PROMPT: &str = "password: ";
/// The reaction prompt, after a message was picked and `+` pressed.
const REACT_PROMPT: &str = "react with: ";
const MASK: &str = "*";

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    match &app.mode {
        Mode::Password(line) => {
            let masked: String = MASK.repeat(line.text().graphemes(true).count());
            let cursor = line.cursor() * MASK.width();
            draw_line(
                frame,
                area,
                PASSWORD_PROMPT,
                Style::new().fg(Color::LightRed),
                &masked,
                cursor,
                true,
            );
        }
        Mode::Normal => draw_editor(frame, area, &app.input, true),
        // A popup or the pick has the keyboard: show the line, but no
        // cursor on it.
        Mode::Help | Mode::Rooms(_) | Mode::Confirm(_) | Mode::Pick(_) | Mode::Search(_) => {
            draw_editor(frame, area, &app.input, false)
        }
        Mode::React(prompt) => {
            let text = crate::sanitize::inert(prompt.line.text());
            let cursor = crate::sanitize::inert(prompt.line.before_cursor()).width();
            draw_line(
                frame,
                area,
                REACT_PROMPT,
                Style::new().fg(Color::Cyan),
                &text,
                cursor,
                true,
            );
        }
        Mode::ConfirmPaste(text) => {
            let lines = text.split('\n').count();
            let question = format!("Paste {lines} lines into the input? y/Enter: yes, n/Esc: no");
            let row = Line::styled(
                crate::text::truncate(&question, area.width as usize),
                theme::error(),
            );
            frame.render_widget(Paragraph::new(row), area);
        }
    }
}

/// Takes the history pane's last row for "bob is typing…" when someone
/// is typing in the current room (and the pane has rows to spare).
pub fn split_typing(app: &App, area: Rect) -> (Rect, Option<(Rect, String)>) {
    let Some(text) = app.current_room().and_then(|r| r.typing.line(app.now)) else {
        return (area, None);
    };
    if area.height < 3 {
        return (area, None);
    }
    let row = Rect::new(area.x, area.bottom() - 1, area.width, 1);
    (
        Rect {
            height: area.height - 1,
            ..area
        },
        Some((row, text)),
    )
}

/// The typing line, dim and cut to its row.
pub fn draw_typing(frame: &mut Frame, row: Rect, text: &str) {
    let text = crate::text::truncate(text, row.width.saturating_sub(1) as usize);
    frame.render_widget(
        Paragraph::new(Line::styled(format!(" {text}"), theme::quiet())),
        row,
    );
}

/// The rows the input wants: one per line of the message, capped.
pub fn rows(app: &App) -> u16 {
    match &app.mode {
        Mode::Normal
        | Mode::Help
        | Mode::Rooms(_)
        | Mode::Confirm(_)
        | Mode::Pick(_)
        | Mode::Search(_) => app.input.line_count().min(INPUT_MAX_ROWS as usize) as u16,
        Mode::Password(_) | Mode::ConfirmPaste(_) | Mode::React(_) => 1,
    }
}

fn draw_editor(frame: &mut Frame, area: Rect, input: &InputLine, with_cursor: bool) {
    let lines: Vec<&str> = input.text().split('\n').collect();
    let (cursor_line, _) = input.cursor_line();
    let before = input.before_cursor();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    // Measured on what is drawn: inert notation is wider than what it
    // stands for.
    let cursor = crate::sanitize::inert(&before[line_start..]).width();
    let shown = (area.height as usize).max(1);
    let top = (cursor_line + 1).saturating_sub(shown);
    let skip = columns_to_skip(
        &crate::sanitize::inert(lines[cursor_line]),
        cursor,
        (area.width as usize)
            .saturating_sub(PROMPT.width() + 1)
            .max(1),
    );
    for (row, index) in (top..lines.len()).take(shown).enumerate() {
        let prompt = if index == 0 {
            PROMPT
        } else if row == 0 {
            ABOVE_PROMPT
        } else if row + 1 == shown && index + 1 < lines.len() {
            BELOW_PROMPT
        } else {
            MORE_PROMPT
        };
        let rect = Rect::new(area.x, area.y + row as u16, area.width, 1);
        let text = skip_columns(&crate::sanitize::inert(lines[index]), skip);
        draw_line(
            frame,
            rect,
            prompt,
            Style::new().fg(Color::Cyan),
            &text,
            cursor - skip.min(cursor),
            with_cursor && index == cursor_line,
        );
    }
}

/// How many columns on the left to leave out so display column `cursor`
/// of `text` fits in `room` columns: whole clusters.
fn columns_to_skip(text: &str, cursor: usize, room: usize) -> usize {
    let mut skipped = 0;
    for g in text.graphemes(true) {
        if cursor.saturating_sub(skipped) < room {
            break;
        }
        skipped += g.width();
    }
    skipped
}

/// `text` without the clusters in its first `columns` columns.
fn skip_columns(text: &str, columns: usize) -> String {
    let mut skipped = 0;
    let mut out = String::new();
    for g in text.graphemes(true) {
        if skipped < columns {
            skipped += g.width();
        } else {
            out.push_str(g);
        }
    }
    out
}

/// Draws `prompt` then `text`, skipping text on the left so that display
/// column `cursor` stays inside `area`.
fn draw_line(
    frame: &mut Frame,
    area: Rect,
    prompt: &str,
    prompt_style: Style,
    text: &str,
    cursor: usize,
    with_cursor: bool,
) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    let room = (area.width as usize)
        .saturating_sub(prompt.width() + 1)
        .max(1);
    let mut skipped = 0;
    let mut visible = String::new();
    for g in text.graphemes(true) {
        if cursor.saturating_sub(skipped) >= room {
            skipped += g.width();
        } else {
            visible.push_str(g);
        }
    }
    let line = Line::from(vec![
        Span::styled(prompt.to_owned(), prompt_style),
        Span::raw(visible),
    ]);
    frame.render_widget(Paragraph::new(line), area);
    if with_cursor {
        let x = area.x as usize + prompt.width() + cursor - skipped;
        let x = x.min(area.right().saturating_sub(1) as usize) as u16;
        frame.set_cursor_position(Position::new(x, area.y));
    }
}
