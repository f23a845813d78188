//! The history pane: turns a room's entries and its pending lines into
//! display rows (time, sender in its own colour, wrapped text aligned under
//! itself, day separators, a "new messages" marker), built bottom-up from
//! the room's scroll anchor so a draw lays out only what is near the view,
//! and reports what it showed as a [`Viewport`] for paging.

use crate::text::ColumnWidth;
use chat_proto::Message;
use chrono::NaiveDate;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use unicode_segmentation::UnicodeSegmentation;

use crate::app::{App, Entry, Level, Mode, Older, Pending, Scroll, Viewport, mentions};
use crate::sanitize::{self, Piece};
use crate::ui::link::{self, RowLink};
use crate::ui::theme;

/// Width of the `HH:MM` column.
const TIME_WIDTH: usize = 5;
/// History panes narrower than this use a shorter name column and no
/// separator bar.
const COMPACT_BELOW: u16 = 50;

/// Column widths for one pane width.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    width: usize,
    nick: usize,
    separator: &'static str,
    text: usize,
    compact: bool,
}

impl Geometry {
    fn new(width: u16) -> Self {
        let compact = width < COMPACT_BELOW;
        let (nick, separator) = if compact { (8, " ") } else { (12, " │ ") };
        let prefix = TIME_WIDTH + 1 + nick + separator.width();
        Self {
            width: width as usize,
            nick,
            separator,
            text: (width as usize).saturating_sub(prefix).max(1),
            compact,
        }
    }

    fn indent(&self) -> String {
        " ".repeat(TIME_WIDTH + 1 + self.nick)
    }
}

/// One display row of the pane and the links on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub line: Line<'static>,
    pub links: Vec<RowLink>,
}

impl From<Line<'static>> for Row {
    fn from(line: Line<'static>) -> Self {
        Row {
            line,
            links: Vec::new(),
        }
    }
}

/// One wrapped row of text: its spans and the links in it.
pub(crate) struct Wrapped {
    spans: Vec<Span<'static>>,
    links: Vec<RowLink>,
}

/// One thing shown in the pane.
#[derive(Debug, Clone, Copy)]
enum Item<'a> {
    Entry(&'a Entry),
    /// A line typed but not acknowledged yet: drawn dimmed at the bottom.
    Pending(&'a Pending),
}

impl Item<'_> {
    fn ts(&self) -> i64 {
        match self {
            Item::Entry(e) => e.ts(),
            Item::Pending(p) => p.typed_ms,
        }
    }

    fn message_id(&self) -> Option<u64> {
        match self {
            Item::Entry(e) => e.message_id(),
            Item::Pending(_) => None,
        }
    }
}

/// The pane's items in display order (entries, then pending lines), the
/// index the "new messages" marker goes before, and the first item shown
/// (entries before a `/clear` are not).
fn items(app: &App) -> (Vec<Item<'_>>, Option<usize>, usize) {
    let room = app.current_room();
    let entries = room.map_or(app.status_log.as_slice(), |r| r.entries.as_slice());
    let mut items: Vec<Item> = entries.iter().map(Item::Entry).collect();
    if let Some(room) = room {
        items.extend(app.outbox.lines_in(&room.name).map(Item::Pending));
    }
    let marker_at = room.and_then(|r| r.new_marker).and_then(|after| {
        items
            .iter()
            .position(|i| i.message_id().is_some_and(|id| id > after))
    });
    let first = room.map_or(0, |r| r.cleared.min(r.entries.len()));
    (items, marker_at, first)
}

/// Walks the items bottom-up, handing `take` each one's index and rows
/// (with the day separator and marker above it) until `take` says stop;
/// returns whether every item was taken.
fn walk_up(app: &App, geometry: &Geometry, mut take: impl FnMut(usize, Vec<Row>) -> bool) -> bool {
    let (items, marker_at, first) = items(app);
    let day = |item: &Item| app.time_zone.datetime(item.ts()).date();
    for index in (first..items.len()).rev() {
        let item = items[index];
        let mut chunk = item_rows(app, item, geometry);
        if marker_at == Some(index) {
            chunk.insert(
                0,
                separator_row("new messages", geometry.width, theme::marker()).into(),
            );
        }
        if index == first || day(&items[index - 1]) != day(&item) {
            chunk.insert(0, day_row(day(&item), geometry).into());
        }
        if !take(index, chunk) {
            return index == first;
        }
    }
    true
}

/// Where the current room's anchor is: the entry boundary (none: the very
/// end) and the rows above it.
fn anchor(app: &App) -> (Option<usize>, usize) {
    match app.current_room() {
        Some(room) => match room.scroll {
            Scroll::Bottom => (None, 0),
            Scroll::Anchored { entries, rows_up } if entries < room.entries.len() => {
                (Some(entries), rows_up)
            }
            Scroll::Anchored { rows_up, .. } => (None, rows_up),
        },
        None => (None, 0),
    }
}

/// The rows a pane of `height` rows shows for the current room (or the
/// status log when no room is joined), top to bottom, and where they
/// stand in what is loaded. Lays out only what is under the view and up
/// to one more pane above it.
pub fn pane(app: &App, width: u16, height: usize) -> (Vec<Row>, Viewport) {
    let geometry = Geometry::new(width);
    let (boundary, rows_up) = anchor(app);
    let mut reversed: Vec<Row> = Vec::new();
    // Rows under the anchor, known once the walk passes it.
    let mut below = if boundary.is_none() { Some(0) } else { None };
    // Each item's rows, as a range of `reversed`.
    let mut placed: Vec<(usize, usize, usize)> = Vec::new();
    let reached_top = walk_up(app, &geometry, |index, chunk| {
        if below.is_none() && boundary.is_some_and(|b| index < b) {
            below = Some(reversed.len());
        }
        let from = reversed.len();
        reversed.extend(chunk.into_iter().rev());
        placed.push((index, from, reversed.len()));
        below.is_none_or(|below| reversed.len() < below + rows_up + 2 * height)
    });
    let below = below.unwrap_or(reversed.len());
    if reached_top && let Some(banner) = top_banner(app, &geometry) {
        reversed.push(banner.into());
    }
    reversed.reverse();
    let rows = reversed;
    let mut from_bottom = below + rows_up;
    if reached_top {
        from_bottom = from_bottom.min(rows.len().saturating_sub(height));
    }
    let end = rows.len() - from_bottom.min(rows.len());
    let start = end.saturating_sub(height);
    // The "more lines" hint takes the last row when scrolled up.
    let last_row = if from_bottom > 0 {
        end.saturating_sub(1)
    } else {
        end
    };
    let entries = app.current_room().map_or(0, |r| r.entries.len());
    let total = rows.len();
    let whole = placed.iter().filter(|&&(index, from, to)| {
        index < entries && total - to >= start && total - from <= last_row
    });
    let shown = whole
        .clone()
        .map(|p| p.0)
        .min()
        .zip(whole.map(|p| p.0).max());
    let viewport = Viewport {
        height,
        rows_above: start,
        reached_top,
        rows_below: from_bottom,
        shown,
    };
    (rows[start..end].to_vec(), viewport)
}

fn top_banner(app: &App, geometry: &Geometry) -> Option<Line<'static>> {
    let room = app.current_room().filter(|r| r.cleared == 0)?;
    let text = match room.older {
        Older::Exhausted if room.has_messages() => format!("start of {}", room.place(&app.user)),
        Older::Loading => "loading older messages…".to_owned(),
        _ => return None,
    };
    let pad = geometry.width.saturating_sub(text.width()) / 2;
    Some(Line::from(Span::styled(
        format!("{}{text}", " ".repeat(pad)),
        theme::quiet(),
    )))
}

fn day_row(date: NaiveDate, geometry: &Geometry) -> Line<'static> {
    let format = if geometry.compact {
        "%a %-d %b %Y"
    } else {
        "%A %-d %B %Y"
    };
    separator_row(
        &date.format(format).to_string(),
        geometry.width,
        theme::quiet(),
    )
}

/// `──── text ────` centred across the pane.
fn separator_row(text: &str, width: usize, style: Style) -> Line<'static> {
    let label = format!(" {text} ");
    let side = width.saturating_sub(label.width()) / 2;
    let right = width.saturating_sub(label.width() + side);
    Line::from(Span::styled(
        format!("{}{label}{}", "─".repeat(side), "─".repeat(right)),
        style,
    ))
}

fn item_rows(app: &App, item: Item, geometry: &Geometry) -> Vec<Row> {
    let time = |ts| app.time_zone.datetime(ts).format("%H:%M").to_string();
    match item {
        Item::Entry(Entry::Message(m)) => message_rows(app, m, geometry, &time(m.ts), false),
        Item::Pending(p) => {
            let (reply_to, action) = match &p.frame {
                chat_proto::ClientFrame::Message {
                    reply_to, action, ..
                } => (*reply_to, *action),
                _ => (None, false),
            };
            let m = Message {
                room: p.room.clone(),
                id: 0,
                user: app.user.clone(),
                text: p.text().unwrap_or_default().to_owned(),
                ts: p.typed_ms,
                reply_to,
                action,
                ..Message::default()
            };
            message_rows(app, &m, geometry, &time(p.typed_ms), true)
        }
        Item::Entry(Entry::Join { user, ts }) => system_rows(
            &time(*ts),
            "-->",
            &format!("{} joined", sanitize::inert(user)),
            theme::joined(),
            theme::quiet(),
            geometry,
        ),
        Item::Entry(Entry::Leave { user, ts }) => system_rows(
            &time(*ts),
            "<--",
            &format!("{} left", sanitize::inert(user)),
            theme::left(),
            theme::quiet(),
            geometry,
        ),
        Item::Entry(Entry::Change(change)) => system_rows(
            &time(change.ts()),
            "--",
            &crate::ui::change::describe(change, &app.user),
            theme::quiet(),
            theme::room_change(),
            geometry,
        ),
        Item::Entry(Entry::Notice { text, ts, level }) => {
            let (mark, style) = match level {
                Level::Info => ("--", theme::quiet()),
                Level::Error => ("!!", theme::error()),
            };
            system_rows(&time(*ts), mark, text, style, style, geometry)
        }
    }
}

fn message_rows(
    app: &App,
    m: &Message,
    geometry: &Geometry,
    time: &str,
    pending: bool,
) -> Vec<Row> {
    let own = m.user == app.user;
    let mention = !own && !m.deleted && mentions(&m.text, &app.user);
    let mut text_style = if mention {
        theme::mention_text()
    } else {
        Style::new()
    };
    let mut nick_style = if mention {
        theme::mention_nick()
    } else {
        theme::nick(&m.user)
    };
    let mut time_style = theme::time();
    if pending {
        text_style = theme::pending();
        nick_style = nick_style.add_modifier(Modifier::DIM);
        time_style = theme::pending();
    }
    if m.deleted {
        nick_style = nick_style.add_modifier(Modifier::DIM);
    }
    let name = sanitize::inert(&m.user);
    // An action: `* alice waves`, the name in its colour in the text.
    let (nick, text) = if m.action {
        (String::new(), format!("* {name} {}", m.text))
    } else {
        (name.clone(), m.text.clone())
    };
    let first_prefix = vec![
        Span::styled(time.to_owned(), time_style),
        Span::raw(" "),
        Span::styled(fit_right(&nick, geometry.nick), nick_style),
        Span::styled(geometry.separator, theme::separator()),
    ];
    let mut body = if m.deleted {
        wrap_rows(
            &sanitize::sanitize_lines("(deleted)"),
            geometry.text,
            theme::deleted(),
        )
    } else {
        wrap_rows(&sanitize::sanitize_lines(&text), geometry.text, text_style)
    };
    if m.action
        && !m.deleted
        && let Some(first) = body.first_mut()
    {
        colour_action_name(first, &name, nick_style);
    }
    if m.edited.is_some() && !m.deleted {
        append_quiet(&mut body, " (edited)", geometry.text);
    }
    let mut rows = Vec::new();
    if let Some(parent) = m.reply_to {
        rows.push(quote_row(app, parent, geometry));
    }
    rows.extend(prefix_rows(first_prefix, body, geometry));
    if !m.reactions.is_empty() && !m.deleted {
        let reactions = reaction_rows(m, &app.user, geometry.text);
        rows.extend(indented_rows(reactions, geometry));
    }
    let picked = match &app.mode {
        Mode::Pick(id) => Some(*id),
        Mode::React(prompt) => Some(prompt.target),
        _ => None,
    };
    if !pending && picked == Some(m.id) {
        for row in &mut rows {
            row.line.style = theme::picked();
        }
    }
    rows
}

/// The first row of an action names its sender in the sender's style.
fn colour_action_name(row: &mut Wrapped, name: &str, style: Style) {
    let lead = format!("* {name}");
    let Some(first) = row.spans.first_mut() else {
        return;
    };
    if let Some(rest) = first.content.strip_prefix(lead.as_str()) {
        let rest = Span::styled(rest.to_owned(), first.style);
        *first = Span::styled(lead, style);
        row.spans.insert(1, rest);
    }
}

/// `text` after the last row in the quiet style, or on a row of its own
/// when it does not fit there.
fn append_quiet(body: &mut Vec<Wrapped>, text: &str, width: usize) {
    let used = body
        .last()
        .map_or(0, |row| row.spans.iter().map(|s| s.content.width()).sum());
    match body.last_mut() {
        Some(row) if used + text.width() <= width => {
            row.spans
                .push(Span::styled(text.to_owned(), theme::quiet()));
        }
        _ => body.push(Wrapped {
            spans: vec![Span::styled(text.trim_start().to_owned(), theme::quiet())],
            links: Vec::new(),
        }),
    }
}

/// The row above a reply: the first line of the message it answers, or
/// that it is older than what is loaded.
fn quote_row(app: &App, parent: u64, geometry: &Geometry) -> Row {
    let found = app.current_room().and_then(|room| room.message(parent));
    let quote = match found {
        Some(p) if p.deleted => format!("↱ {}: (deleted)", sanitize::inert(&p.user)),
        Some(p) => {
            let first = p.text.lines().next().unwrap_or_default();
            let star = if p.action { "* " } else { "" };
            format!(
                "↱ {star}{}: {}",
                sanitize::inert(&p.user),
                sanitize::inert(first)
            )
        }
        None => "↱ reply to an older message".to_owned(),
    };
    let quote = crate::text::truncate(&quote, geometry.text);
    let rows = indented_rows(vec![vec![Span::styled(quote, theme::quiet())]], geometry);
    rows.into_iter()
        .next()
        .unwrap_or_else(|| Line::raw("").into())
}

/// Reactions as `👍 2  ❤ 1`, the most given first, ours highlighted,
/// wrapped by whole reactions to `width` columns.
fn reaction_rows(m: &Message, me: &str, width: usize) -> Vec<Vec<Span<'static>>> {
    let mut rows: Vec<Vec<Span<'static>>> = vec![Vec::new()];
    let mut used = 0;
    let mut given: Vec<(&String, &Vec<String>)> = m
        .reactions
        .iter()
        .filter(|(_, users)| !users.is_empty())
        .collect();
    given.sort_by_key(|(_, users)| std::cmp::Reverse(users.len()));
    for (emoji, users) in given {
        let label = format!("{} {}", sanitize::inert(emoji), users.len());
        let gap = if used == 0 { 0 } else { 2 };
        if used > 0 && used + gap + label.width() > width {
            rows.push(Vec::new());
            used = 0;
        } else if gap > 0 {
            rows.last_mut()
                .into_iter()
                .for_each(|r| r.push(Span::raw("  ")));
            used += gap;
        }
        let style = if users.iter().any(|u| u == me) {
            theme::own_reaction()
        } else {
            theme::reaction()
        };
        used += label.width();
        if let Some(row) = rows.last_mut() {
            row.push(Span::styled(label, style));
        }
    }
    rows
}

/// Rows in the text column with nothing in the time and name columns.
fn indented_rows(rows: Vec<Vec<Span<'static>>>, geometry: &Geometry) -> Vec<Row> {
    rows.into_iter()
        .map(|spans| {
            let mut row = vec![
                Span::raw(geometry.indent()),
                Span::styled(geometry.separator, theme::separator()),
            ];
            row.extend(spans);
            Line::from(row).into()
        })
        .collect()
}

fn system_rows(
    time: &str,
    mark: &str,
    text: &str,
    mark_style: Style,
    text_style: Style,
    geometry: &Geometry,
) -> Vec<Row> {
    let first_prefix = vec![
        Span::styled(time.to_owned(), theme::time()),
        Span::raw(" "),
        Span::styled(fit_right(mark, geometry.nick), mark_style),
        Span::styled(geometry.separator, theme::separator()),
    ];
    let body = wrap_rows(&sanitize::sanitize_lines(text), geometry.text, text_style);
    prefix_rows(first_prefix, body, geometry)
}

fn prefix_rows(
    first_prefix: Vec<Span<'static>>,
    body: Vec<Wrapped>,
    geometry: &Geometry,
) -> Vec<Row> {
    let prefix_width = geometry.indent().width() + geometry.separator.width();
    body.into_iter()
        .enumerate()
        .map(|(i, Wrapped { spans, mut links })| {
            let mut row = if i == 0 {
                first_prefix.clone()
            } else {
                vec![
                    Span::raw(geometry.indent()),
                    Span::styled(geometry.separator, theme::separator()),
                ]
            };
            row.extend(spans);
            for link in &mut links {
                link.column += prefix_width;
            }
            Row {
                line: Line::from(row),
                links,
            }
        })
        .collect()
}

/// `text` right-aligned in `width` columns, cut with `…` when longer.
fn fit_right(text: &str, width: usize) -> String {
    let w = text.width();
    if w <= width {
        return format!("{}{text}", " ".repeat(width - w));
    }
    let mut out = String::new();
    let mut used = 0;
    for g in text.graphemes(true) {
        let gw = g.width();
        if used + gw + 1 > width {
            break;
        }
        out.push_str(g);
        used += gw;
    }
    out.push('…');
    format!("{}{out}", " ".repeat(width.saturating_sub(used + 1)))
}

/// A grapheme with its style and display width, and the link it is part
/// of (an index into the text's URLs).
struct Cell {
    grapheme: String,
    style: Style,
    width: usize,
    link: Option<usize>,
}

/// Word-wraps sanitized lines to `width` columns by display width (wide
/// characters count two), breaking words longer than a row.
pub(crate) fn wrap(lines: &[Vec<Piece>], width: usize, style: Style) -> Vec<Vec<Span<'static>>> {
    wrap_rows(lines, width, style)
        .into_iter()
        .map(|row| row.spans)
        .collect()
}

/// [`wrap`], with the links found in the text (drawn underlined).
fn wrap_rows(lines: &[Vec<Piece>], width: usize, style: Style) -> Vec<Wrapped> {
    let width = width.max(1);
    let mut urls: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for line in lines {
        let mut cells = Vec::new();
        for piece in line {
            match piece {
                Piece::Text(t) => text_cells(t, style, &mut urls, &mut cells),
                Piece::Control(t) => cells.extend(t.graphemes(true).map(|g| Cell {
                    grapheme: g.to_owned(),
                    style: theme::control(),
                    width: g.width(),
                    link: None,
                })),
            }
        }
        wrap_cells(cells, width, &mut rows);
    }
    rows.into_iter()
        .map(|cells| Wrapped {
            links: links_of(&cells, &urls),
            spans: spans_of(cells),
        })
        .collect()
}

/// The cells of plain text, its URLs marked (and added to `urls`).
fn text_cells(text: &str, style: Style, urls: &mut Vec<String>, cells: &mut Vec<Cell>) {
    let found = sanitize::links(text);
    for (at, g) in text.grapheme_indices(true) {
        let link = found.iter().position(|r| r.contains(&at)).map(|i| {
            let url = &text[found[i].clone()];
            match urls.iter().position(|u| u == url) {
                Some(known) => known,
                None => {
                    urls.push(url.to_owned());
                    urls.len() - 1
                }
            }
        });
        cells.push(Cell {
            grapheme: g.to_owned(),
            style: if link.is_some() {
                style.patch(theme::link())
            } else {
                style
            },
            width: g.width(),
            link,
        });
    }
}

/// Where on a row its cells' links are.
fn links_of(cells: &[Cell], urls: &[String]) -> Vec<RowLink> {
    let mut links: Vec<(Option<usize>, RowLink)> = Vec::new();
    let mut column = 0;
    for cell in cells {
        match (cell.link, links.last_mut()) {
            (Some(l), Some((Some(last), run)))
                if *last == l && run.column + run.width == column =>
            {
                run.width += cell.width;
            }
            (Some(l), _) => links.push((
                Some(l),
                RowLink {
                    column,
                    width: cell.width,
                    url: urls[l].clone(),
                },
            )),
            (None, _) => {}
        }
        column += cell.width;
    }
    links.into_iter().map(|(_, link)| link).collect()
}

fn wrap_cells(cells: Vec<Cell>, width: usize, rows: &mut Vec<Vec<Cell>>) {
    let mut row: Vec<Cell> = Vec::new();
    let mut row_width = 0;
    let mut flush = |row: &mut Vec<Cell>, row_width: &mut usize| {
        // A row never ends in the spaces it wrapped at.
        while row.last().is_some_and(is_space) {
            row.pop();
        }
        rows.push(std::mem::take(row));
        *row_width = 0;
    };
    let mut words: Vec<Vec<Cell>> = Vec::new();
    for cell in cells {
        let space = cell.grapheme.chars().all(char::is_whitespace);
        match words.last_mut() {
            Some(word) if word.first().is_some_and(|c| is_space(c) == space) => word.push(cell),
            _ => words.push(vec![cell]),
        }
    }
    for word in words {
        let word_width: usize = word.iter().map(|c| c.width).sum();
        let space = word.first().is_some_and(is_space);
        if row_width + word_width <= width {
            row_width += word_width;
            row.extend(word);
        } else if space {
            // Spaces at a wrap point are dropped.
            flush(&mut row, &mut row_width);
        } else if word_width <= width {
            flush(&mut row, &mut row_width);
            row_width = word_width;
            row.extend(word);
        } else {
            for cell in word {
                if row_width + cell.width > width && row_width > 0 {
                    flush(&mut row, &mut row_width);
                }
                row_width += cell.width;
                row.push(cell);
            }
        }
    }
    flush(&mut row, &mut row_width);
}

fn is_space(cell: &Cell) -> bool {
    cell.grapheme.chars().all(char::is_whitespace)
}

fn spans_of(cells: Vec<Cell>) -> Vec<Span<'static>> {
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut text = String::new();
    let mut style = None;
    for cell in cells {
        if style != Some(cell.style) {
            if let Some(s) = style {
                spans.push(Span::styled(std::mem::take(&mut text), s));
            }
            style = Some(cell.style);
        }
        text.push_str(&cell.grapheme);
    }
    if let Some(s) = style {
        spans.push(Span::styled(text, s));
    }
    spans
}

/// Draws the pane where its room is scrolled to; returns what it showed.
pub fn draw(frame: &mut Frame, app: &App, area: Rect) -> Viewport {
    if area.height == 0 || area.width == 0 {
        return Viewport::default();
    }
    let height = area.height as usize;
    let (mut visible, viewport) = pane(app, area.width, height);
    if visible.is_empty() {
        let hint = sanitize::sanitize_lines(&empty_hint(app));
        visible = wrap(&hint, area.width as usize, theme::quiet())
            .into_iter()
            .map(|spans| Line::from(spans).into())
            .collect();
    }
    // New lines sit at the bottom, as in every chat client: pad above.
    let pad = height.saturating_sub(visible.len());
    let mut rows: Vec<Row> = vec![Line::raw("").into(); pad];
    rows.extend(visible);
    if viewport.rows_below > 0 {
        // Scrolled up: the last row says so instead of showing its line
        // (which counts among those below), so the hint never covers text.
        rows.pop();
        rows.push(scroll_hint_row(viewport.rows_below + 1, area.width as usize).into());
    }
    let links: Vec<Vec<RowLink>> = rows
        .iter_mut()
        .map(|r| std::mem::take(&mut r.links))
        .collect();
    let lines: Vec<Line<'static>> = rows.into_iter().map(|r| r.line).collect();
    frame.render_widget(Paragraph::new(lines), area);
    for (y, row_links) in links.iter().enumerate() {
        link::emit(frame.buffer_mut(), area, area.y + y as u16, row_links);
    }
    viewport
}

/// `↓ N more lines (PgDn)` at the right of an otherwise empty row.
fn scroll_hint_row(below: usize, width: usize) -> Line<'static> {
    let long = format!(" ↓ {below} more lines (PgDn) ");
    let label = if long.width() <= width {
        long
    } else {
        crate::text::truncate(&format!(" ↓ {below} "), width)
    };
    let pad = " ".repeat(width.saturating_sub(label.width()));
    Line::from(vec![
        Span::raw(pad),
        Span::styled(label, theme::scroll_hint()),
    ])
}

fn empty_hint(app: &App) -> String {
    match app.current_room() {
        None => "You are in no room. Type /join ROOM to join one, /help for keys.".to_owned(),
        Some(room) if !room.is_member() => crate::ui::title::not_in_hint(room),
        Some(room) if room.cleared > 0 => {
            format!("{} cleared: new messages show here.", room.place(&app.user))
        }
        Some(room) if room.sync == crate::app::RoomSync::Live => {
            format!("No messages in {} yet. Say hello!", room.place(&app.user))
        }
        Some(room) if room.sync == crate::app::RoomSync::Offline => {
            format!(
                "{} is joined once the server answers.",
                room.place(&app.user)
            )
        }
        Some(room) => format!("Joining {}…", room.place(&app.user)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(rows: &[Vec<Span>]) -> Vec<String> {
        rows.iter()
            .map(|r| r.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn wraps_at_word_boundaries_by_display_width() {
        let lines = sanitize::sanitize_lines("the quick brown fox jumps");
        assert_eq!(
            texts(&wrap(&lines, 10, Style::new())),
            ["the quick", "brown fox", "jumps"]
        );
        // Wide characters take two columns each and are never split.
        let lines = sanitize::sanitize_lines("日本語のテキスト");
        assert_eq!(
            texts(&wrap(&lines, 5, Style::new())),
            ["日本", "語の", "テキ", "スト"]
        );
        let lines = sanitize::sanitize_lines("abcdefghij");
        assert_eq!(
            texts(&wrap(&lines, 4, Style::new())),
            ["abcd", "efgh", "ij"]
        );
        let lines = sanitize::sanitize_lines("one\n\ntwo");
        assert_eq!(texts(&wrap(&lines, 10, Style::new())), ["one", "", "two"]);
    }

    #[test]
    fn names_are_fitted_right_aligned() {
        assert_eq!(fit_right("bob", 6), "   bob");
        assert_eq!(fit_right("abcdefghij", 6), "abcde…");
    }
}
