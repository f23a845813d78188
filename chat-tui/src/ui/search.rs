//! The search popup: the query line, then one row per found message
//! (room, author, time, text with the matched words marked), the chosen
//! one highlighted and kept on screen.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::app::{App, SearchView};
use crate::sanitize;
use crate::ui::popup::centred;
use crate::ui::theme;

/// The popup's widest, in columns.
const SEARCH_COLUMNS: u16 = 96;
/// A popup narrower than this puts each result's text on its own row.
const TWO_ROW_COLUMNS: u16 = 70;

pub fn draw(frame: &mut Frame, app: &App, view: &SearchView, area: Rect) {
    let rect = centred(
        area,
        SEARCH_COLUMNS.min(area.width.saturating_sub(2)),
        area.height.saturating_sub(2).max(5),
    );
    // Borders, the query line and a blank line.
    let rows = rect.height.saturating_sub(4) as usize;
    let mut lines = vec![
        Line::from(vec![
            Span::styled(" search: ", theme::quiet()),
            Span::raw(sanitize::inert(view.input.text())),
            Span::styled("▏", theme::quiet()),
        ]),
        Line::raw(""),
    ];
    if view.waiting {
        lines.push(Line::styled(" searching…", theme::quiet()));
    } else if view.asked.is_none() {
        lines.push(Line::styled(
            " type words, Enter searches every room you can read",
            theme::quiet(),
        ));
    } else if view.results.is_empty() {
        lines.push(Line::styled(" no messages match", theme::quiet()));
    }
    if !view.waiting {
        lines.extend(result_lines(app, view, rect.width < TWO_ROW_COLUMNS, rows));
    }
    let count = match (view.results.len(), view.more) {
        (n, true) => format!(" search ({n}+) "),
        (n, false) => format!(" search ({n}) "),
    };
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(count)
                .title_bottom(" ↑↓ choose · Enter search / go · Esc close ")
                .border_style(theme::popup_border()),
        ),
        rect,
    );
}

/// The rows of the results that fit in `rows`, keeping the chosen one on
/// screen: one row each, or on a narrow popup two (room, author and time,
/// then the text under them).
fn result_lines(app: &App, view: &SearchView, two_rows: bool, rows: usize) -> Vec<Line<'static>> {
    let per_result = if two_rows { 2 } else { 1 };
    let fit = (rows / per_result).max(1);
    let first = view.selected.saturating_sub(fit - 1);
    let words = view.words();
    let mut lines = Vec::new();
    for (i, found) in view.results.iter().enumerate().skip(first).take(fit) {
        let when = app.time_zone.datetime(found.ts).format("%d %b %H:%M");
        let mut spans = vec![
            Span::raw(format!(" #{} ", sanitize::inert(&found.room))),
            Span::styled(sanitize::inert(&found.user), theme::nick(&found.user)),
            Span::styled(format!(" {when} "), theme::time()),
        ];
        let text = marked(&sanitize::inert(&found.text), &words);
        let mut rows = if two_rows {
            let mut under = vec![Span::raw("   ")];
            under.extend(text);
            vec![Line::from(spans), Line::from(under)]
        } else {
            spans.extend(text);
            vec![Line::from(spans)]
        };
        if i == view.selected {
            rows = rows
                .into_iter()
                .map(|line| line.style(theme::popup_selected()))
                .collect();
        }
        lines.extend(rows);
    }
    lines
}

/// The text in spans, the words that start with a query word marked.
fn marked(text: &str, words: &[String]) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let word_len = rest
            .char_indices()
            .find(|(_, c)| !c.is_alphanumeric())
            .map_or(rest.len(), |(i, _)| i);
        if word_len == 0 {
            let gap_len = rest
                .char_indices()
                .find(|(_, c)| c.is_alphanumeric())
                .map_or(rest.len(), |(i, _)| i);
            spans.push(Span::raw(rest[..gap_len].to_owned()));
            rest = &rest[gap_len..];
            continue;
        }
        let word = &rest[..word_len];
        let folded = word.to_lowercase();
        let style = if words.iter().any(|w| folded.starts_with(w.as_str())) {
            theme::search_match()
        } else {
            Style::new()
        };
        spans.push(Span::styled(word.to_owned(), style));
        rest = &rest[word_len..];
    }
    spans
}
