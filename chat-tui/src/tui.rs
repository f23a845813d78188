//! The terminal guard: raw mode, the alternate screen, bracketed paste,
//! mouse reports and the kitty keyboard protocol's unambiguous keys on
//! entry; all of it undone when the guard drops (or for a while, around
//! `$EDITOR`: [`suspend`] and [`resume`]), and by a panic hook that
//! restores the terminal before the panic message is printed, so a crash
//! never leaves the user's shell in raw mode.
//!
//! Mouse reports are clicks and the wheel only (modes 1000 and 1006, not
//! every move). While they are on, terminals select text with Shift held
//! (Option or Fn in some macOS terminals).

use std::io::{self, Stdout, stdout};
use std::sync::Once;

use crossterm::event::{
    DisableBracketedPaste, EnableBracketedPaste, KeyboardEnhancementFlags,
    PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// Owns the terminal while the client runs.
pub struct TerminalGuard {
    terminal: Term,
}

static PANIC_HOOK: Once = Once::new();

impl TerminalGuard {
    /// Switches the terminal to raw mode on the alternate screen.
    pub fn enter() -> io::Result<Self> {
        PANIC_HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                previous(info);
            }));
        });
        if let Err(e) = resume() {
            restore();
            return Err(e);
        }
        let terminal = match Terminal::new(CrosstermBackend::new(stdout())) {
            Ok(terminal) => terminal,
            Err(e) => {
                restore();
                return Err(e);
            }
        };
        Ok(Self { terminal })
    }

    pub fn terminal(&mut self) -> &mut Term {
        &mut self.terminal
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Clicks and the wheel reported in SGR form (modes 1000 and 1006),
/// without the motion reports crossterm's `EnableMouseCapture` asks for.
struct MouseClicks(bool);

impl crossterm::Command for MouseClicks {
    fn write_ansi(&self, f: &mut impl std::fmt::Write) -> std::fmt::Result {
        f.write_str(if self.0 {
            "\x1b[?1000h\x1b[?1006h"
        } else {
            "\x1b[?1006l\x1b[?1000l"
        })
    }
}

/// Puts the terminal the way the client draws on it: raw mode, the
/// alternate screen, bracketed paste, clicks and the wheel, and Shift-Enter
/// told from Enter where the terminal speaks the kitty keyboard protocol
/// (others ignore the request).
pub fn resume() -> io::Result<()> {
    enable_raw_mode()?;
    execute!(
        stdout(),
        EnterAlternateScreen,
        EnableBracketedPaste,
        MouseClicks(true),
        PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES)
    )
}

/// Gives the terminal back for a while (to `$EDITOR`); [`resume`] takes it
/// again.
pub fn suspend() {
    restore();
}

/// Puts the terminal back as the shell expects it. Safe to call twice.
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        stdout(),
        PopKeyboardEnhancementFlags,
        MouseClicks(false),
        DisableBracketedPaste,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}
