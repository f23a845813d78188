//! The `chat-tui` binary: parses flags (a bad one is reported on one line
//! with exit code 2), sets up optional file logging, and runs the client.

use std::process::ExitCode;

use chat_tui::config::{Cli, settings_from};
use clap::Parser;
use clap::error::ErrorKind;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("bad arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("chat-tui: {first} (see --help)");
            return ExitCode::from(2);
        }
    };
    let settings = match settings_from(&cli) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("chat-tui: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(path) = &settings.log_file {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(file) => tracing_subscriber::fmt()
                .with_writer(std::sync::Mutex::new(file))
                .with_ansi(false)
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info".into()),
                )
                .init(),
            Err(e) => {
                eprintln!("chat-tui: cannot open log file {}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
    }
    match chat_tui::run(settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat-tui: {e:#}");
            ExitCode::FAILURE
        }
    }
}
