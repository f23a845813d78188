//! The input line: a prompt, the text scrolled sideways so the cursor is
//! always visible, and the terminal cursor placed on it. The password
//! prompt draws the same way with every character masked.

use crate::text::ColumnWidth;
use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use unicode_segmentation::UnicodeSegmentation;

use crate::app::{App, InputLine, Mode};

const PROMPT: &str = "> ";
const PASSWORD_PROMPT: &str = "password: ";
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
        // A popup has the keyboard: show the line, but no cursor on it.
        Mode::Help | Mode::Rooms(_) => draw_editor(frame, area, &app.input, false),
    }
}

fn draw_editor(frame: &mut Frame, area: Rect, line: &InputLine, with_cursor: bool) {
    let shown = crate::sanitize::inert(line.text());
    // Measured on what is drawn: inert notation is wider than what it
    // stands for.
    let cursor = crate::sanitize::inert(line.before_cursor()).width();
    draw_line(
        frame,
        area,
        PROMPT,
        Style::new().fg(Color::Cyan),
        &shown,
        cursor,
        with_cursor,
    );
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
