//! Command-line flags, the optional config file and how they combine into
//! the [`Settings`] the client runs with. Flags win over the file; the file
//! wins over built-in defaults.
//!
//! The config file is TOML at `<config dir>/chat-tui/config.toml` (on Linux
//! `$XDG_CONFIG_HOME/chat-tui/config.toml`, else `~/.config/...`), or the
//! path given with `--config`:
//!
//! ```toml
//! server = "ws://127.0.0.1:8000/ws"
//! user = "alice"
//! rooms = ["lobby", "rust"]
//! password_file = "/home/alice/.chat-password"
//! # Pastes of more lines than this ask first (0: never ask).
//! paste_max_lines = 100
//!
//! # Key bindings: each action named here gets these keys instead of its
//! # defaults (see crate::keybind for the action and key names).
//! [keys]
//! scroll_up = ["PgUp", "Ctrl-Y"]
//! # for a wss:// server whose CA the system does not trust:
//! ca_file = "/home/alice/chat-ca.pem"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chat_proto::{RoomName, UserName};
use clap::Parser;
use serde::Deserialize;

use crate::tls::{ClientTls, TlsSetupError};

/// The server used when neither a flag nor the config file names one.
pub const DEFAULT_SERVER: &str = "ws://127.0.0.1:8000/ws";
/// Environment variable holding the password, read when no
/// `--password-file` is given.
pub const PASSWORD_ENV: &str = "CHAT_PASSWORD";
const APP_NAME: &str = "chat-tui";
const CONFIG_FILE_NAME: &str = "config.toml";

/// The command-line flags.
#[derive(Debug, Clone, Default, Parser)]
#[command(
    name = "chat-tui",
    version,
    about = "Keyboard-driven terminal client for chat-server",
    after_help = "Keys and commands: type /help inside the client, or see docs/client.md.\n\
                  The password may also come from the CHAT_PASSWORD environment variable."
)]
pub struct Cli {
    /// Server WebSocket URL, ws:// or wss:// [default: ws://127.0.0.1:8000/ws]
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// User name to log in as
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Room to join on start (repeat for several)
    #[arg(long = "room", value_name = "ROOM")]
    pub rooms: Vec<String>,
    /// File whose first line is the password
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
    /// For wss://: trust only the CA certificates in this PEM file (a
    /// private CA or a self-signed server) instead of the system's roots
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Directory for saved state (joined rooms, last read message)
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Config file to read instead of the default one
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Append diagnostic logs to this file (the screen is never used for logs)
    #[arg(long, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
}

/// The optional config file's contents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub server: Option<String>,
    pub user: Option<String>,
    #[serde(default)]
    pub rooms: Vec<String>,
    pub password_file: Option<PathBuf>,
    /// Pastes of more lines than this ask before going into the input.
    pub paste_max_lines: Option<usize>,
    /// Key bindings: action name to the keys it is bound to.
    #[serde(default)]
    pub keys: BTreeMap<String, Vec<String>>,
    pub ca_file: Option<PathBuf>,
    /// Tell the room when we type (off unless set).
    pub send_typing: Option<bool>,
    /// Ring the terminal bell on a mention or a conversation message.
    pub bell: Option<bool>,
    /// Ask the terminal for a desktop notification (OSC 9 and OSC 777) on
    /// a mention or a conversation message.
    pub desktop_notify: Option<bool>,
}

/// Everything the client needs to start, after flags, file and defaults
/// have been combined and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub server: String,
    pub user: UserName,
    /// Rooms asked for on this start, in order, without duplicates.
    pub rooms: Vec<RoomName>,
    pub password: Option<String>,
    pub state_dir: PathBuf,
    pub log_file: Option<PathBuf>,
    /// Pastes of more lines than this ask first; 0 never asks.
    pub paste_max_lines: usize,
    /// The config file's key bindings, checked when the client starts
    /// ([`crate::keybind::Keymap::with_changes`]).
    pub keys: BTreeMap<String, Vec<String>>,
    /// What a `wss://` server is verified against; `None` for `ws://`.
    pub tls: Option<ClientTls>,
    /// Send `typing` while the input changes.
    pub send_typing: bool,
    /// How mentions and conversation messages are announced.
    pub notify: crate::app::NotifySettings,
}

/// Why the client cannot start with the given flags and files.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    ReadConfig {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    ParseConfig { path: PathBuf, message: String },
    #[error("no user name: pass --user NAME (or set user in the config file)")]
    MissingUser,
    #[error("invalid user name {name:?}: {source}")]
    BadUser {
        name: String,
        source: chat_proto::NameError,
    },
    #[error("invalid room name {name:?}: {source}")]
    BadRoom {
        name: String,
        source: chat_proto::NameError,
    },
    #[error("server URL must start with ws:// or wss:// (got {0:?})")]
    BadServer(String),
    #[error("--ca-file is for wss:// servers; {0} is ws://")]
    CaFileWithoutTls(String),
    #[error("{0}")]
    Tls(#[from] TlsSetupError),
    #[error("cannot read password file {path}: {source}")]
    ReadPassword {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("password file {0} is empty")]
    EmptyPassword(PathBuf),
    #[error("no home directory to keep state in: pass --state-dir DIR")]
    NoStateDir,
}

/// The default config file path, when the platform has a config directory.
pub fn default_config_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", APP_NAME).map(|d| d.config_dir().join(CONFIG_FILE_NAME))
}

/// The default state directory, when the platform has a data directory.
pub fn default_state_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", APP_NAME).map(|d| d.data_dir().to_path_buf())
}

/// Reads the config file: an explicit path must exist, the default one may not.
pub fn load_config_file(path: &Path, explicit: bool) -> Result<ConfigFile, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(ConfigFile::default());
        }
        Err(source) => {
            return Err(ConfigError::ReadConfig {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    toml::from_str(&text).map_err(|e| ConfigError::ParseConfig {
        path: path.to_path_buf(),
        message: e.message().to_owned(),
    })
}

/// Reads a password file: its first line, without the line ending.
pub fn read_password_file(path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadPassword {
        path: path.to_path_buf(),
        source,
    })?;
    let first = text.lines().next().unwrap_or("");
    if first.is_empty() {
        return Err(ConfigError::EmptyPassword(path.to_path_buf()));
    }
    Ok(first.to_owned())
}

/// Combines flags, the config file, the password environment variable and
/// the platform defaults.
pub fn resolve(
    cli: &Cli,
    file: &ConfigFile,
    password_env: Option<String>,
    default_state: Option<PathBuf>,
) -> Result<Settings, ConfigError> {
    let server = cli
        .server
        .clone()
        .or_else(|| file.server.clone())
        .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
    let tls = server_tls(&server, cli.ca_file.as_ref().or(file.ca_file.as_ref()))?;
    let user_raw = cli
        .user
        .clone()
        .or_else(|| file.user.clone())
        .ok_or(ConfigError::MissingUser)?;
    let user = UserName::parse(&user_raw).map_err(|source| ConfigError::BadUser {
        name: user_raw.clone(),
        source,
    })?;
    let room_sources = if cli.rooms.is_empty() {
        &file.rooms
    } else {
        &cli.rooms
    };
    let mut rooms: Vec<RoomName> = Vec::new();
    for raw in room_sources {
        let room = RoomName::parse(raw).map_err(|source| ConfigError::BadRoom {
            name: raw.clone(),
            source,
        })?;
        if !rooms.contains(&room) {
            rooms.push(room);
        }
    }
    let password = if let Some(path) = &cli.password_file {
        Some(read_password_file(path)?)
    } else if let Some(p) = password_env.filter(|p| !p.is_empty()) {
        Some(p)
    } else if let Some(path) = &file.password_file {
        Some(read_password_file(path)?)
    } else {
        None
    };
    let state_dir = cli
        .state_dir
        .clone()
        .or(default_state)
        .ok_or(ConfigError::NoStateDir)?;
    Ok(Settings {
        server,
        user,
        rooms,
        password,
        state_dir,
        log_file: cli.log_file.clone(),
        paste_max_lines: file.paste_max_lines.unwrap_or(crate::app::PASTE_MAX_LINES),
        keys: file.keys.clone(),
        tls,
        send_typing: file.send_typing.unwrap_or(false),
        notify: crate::app::NotifySettings {
            bell: file
                .bell
                .unwrap_or(crate::app::NotifySettings::default().bell),
            desktop: file
                .desktop_notify
                .unwrap_or(crate::app::NotifySettings::default().desktop),
        },
    })
}

/// The TLS configuration a `wss://` URL needs (reading `ca_file` or the
/// system's roots now), `None` for `ws://`.
fn server_tls(server: &str, ca_file: Option<&PathBuf>) -> Result<Option<ClientTls>, ConfigError> {
    if server.starts_with("wss://") {
        Ok(Some(ClientTls::new(ca_file.map(PathBuf::as_path))?))
    } else if !server.starts_with("ws://") {
        Err(ConfigError::BadServer(server.to_owned()))
    } else if ca_file.is_some() {
        Err(ConfigError::CaFileWithoutTls(server.to_owned()))
    } else {
        Ok(None)
    }
}

/// Parses the process's flags and loads everything they point at.
pub fn settings_from(cli: &Cli) -> Result<Settings, ConfigError> {
    let file = match (&cli.config, default_config_path()) {
        (Some(path), _) => load_config_file(path, true)?,
        (None, Some(path)) => load_config_file(&path, false)?,
        (None, None) => ConfigFile::default(),
    };
    resolve(
        cli,
        &file,
        std::env::var(PASSWORD_ENV).ok(),
        default_state_dir(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("chat-tui").chain(args.iter().copied())).unwrap()
    }

    fn state() -> Option<PathBuf> {
        Some(PathBuf::from("/tmp/state"))
    }

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_the_rest() {
        let file = ConfigFile {
            server: Some("ws://example:1/ws".into()),
            user: Some("fromfile".into()),
            rooms: vec!["a".into(), "b".into()],
            password_file: None,
            paste_max_lines: None,
            keys: BTreeMap::new(),
            ca_file: None,
            ..ConfigFile::default()
        };
        let s = resolve(&cli(&["--user", "alice"]), &file, None, state()).unwrap();
        assert_eq!(s.user.as_str(), "alice");
        assert_eq!(s.server, "ws://example:1/ws");
        assert_eq!(
            s.rooms.iter().map(RoomName::as_str).collect::<Vec<_>>(),
            ["a", "b"]
        );

        let s = resolve(
            &cli(&["--room", "Lobby", "--room", "rust", "--room", "lobby"]),
            &file,
            None,
            state(),
        )
        .unwrap();
        assert_eq!(s.user.as_str(), "fromfile");
        assert_eq!(
            s.rooms.iter().map(RoomName::as_str).collect::<Vec<_>>(),
            ["lobby", "rust"]
        );

        let s = resolve(
            &cli(&["--user", "bob"]),
            &ConfigFile::default(),
            None,
            state(),
        )
        .unwrap();
        assert_eq!(s.server, DEFAULT_SERVER);
        assert!(s.rooms.is_empty());
        assert_eq!(s.state_dir, PathBuf::from("/tmp/state"));
    }

    #[test]
    fn bad_values_are_named_in_the_error() {
        let none = ConfigFile::default();
        let e = resolve(&cli(&[]), &none, None, state()).unwrap_err();
        assert!(matches!(e, ConfigError::MissingUser));
        let e = resolve(&cli(&["--user", "bad name"]), &none, None, state()).unwrap_err();
        assert!(e.to_string().contains("bad name"), "{e}");
        let e = resolve(&cli(&["--user", "a", "--room", "#x"]), &none, None, state()).unwrap_err();
        assert!(e.to_string().contains("#x"), "{e}");
        let e = resolve(
            &cli(&["--user", "a", "--server", "http://x"]),
            &none,
            None,
            state(),
        )
        .unwrap_err();
        assert!(matches!(e, ConfigError::BadServer(_)));
        let e = resolve(&cli(&["--user", "a"]), &none, None, None).unwrap_err();
        assert!(matches!(e, ConfigError::NoStateDir));
        let e = resolve(
            &cli(&["--user", "a", "--ca-file", "/nonexistent/ca.pem"]),
            &none,
            None,
            state(),
        )
        .unwrap_err();
        assert!(matches!(e, ConfigError::CaFileWithoutTls(_)), "{e}");
        let e = resolve(
            &cli(&[
                "--user",
                "a",
                "--server",
                "wss://x/ws",
                "--ca-file",
                "/nonexistent/ca.pem",
            ]),
            &none,
            None,
            state(),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot read CA file /nonexistent/ca.pem"),
            "{e}"
        );
    }

    #[test]
    fn password_comes_from_the_file_flag_then_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\nignored\n").unwrap();
        let none = ConfigFile::default();
        let flag = cli(&["--user", "a", "--password-file", path.to_str().unwrap()]);
        let s = resolve(&flag, &none, Some("fromenv".into()), state()).unwrap();
        assert_eq!(s.password.as_deref(), Some("s3cret"));
        let s = resolve(
            &cli(&["--user", "a"]),
            &none,
            Some("fromenv".into()),
            state(),
        )
        .unwrap();
        assert_eq!(s.password.as_deref(), Some("fromenv"));
        let s = resolve(&cli(&["--user", "a"]), &none, Some(String::new()), state()).unwrap();
        assert_eq!(s.password, None);

        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(
            resolve(&flag, &none, None, state()),
            Err(ConfigError::EmptyPassword(_))
        ));
    }

    #[test]
    fn config_file_parses_and_reports_mistakes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        assert_eq!(
            load_config_file(&path, false).unwrap(),
            ConfigFile::default()
        );
        assert!(load_config_file(&path, true).is_err());
        std::fs::write(&path, "user = \"carol\"\nrooms = [\"x\"]\n").unwrap();
        let file = load_config_file(&path, true).unwrap();
        assert_eq!(file.user.as_deref(), Some("carol"));
        assert_eq!(file.rooms, ["x"]);
        assert_eq!(file.paste_max_lines, None);
        std::fs::write(
            &path,
            "user = \"carol\"\npaste_max_lines = 5\n[keys]\nscroll_up = [\"Ctrl-Y\"]\n",
        )
        .unwrap();
        let file = load_config_file(&path, true).unwrap();
        assert_eq!(file.paste_max_lines, Some(5));
        assert_eq!(file.keys["scroll_up"], ["Ctrl-Y"]);
        let s = resolve(&cli(&[]), &file, None, state()).unwrap();
        assert_eq!(s.paste_max_lines, 5);
        let s = resolve(
            &cli(&["--user", "x"]),
            &ConfigFile::default(),
            None,
            state(),
        )
        .unwrap();
        assert_eq!(s.paste_max_lines, 100);
        assert!(!s.send_typing);
        assert_eq!(s.notify, crate::app::NotifySettings::default());
        std::fs::write(
            &path,
            "user = \"carol\"\nsend_typing = true\nbell = false\ndesktop_notify = true\n",
        )
        .unwrap();
        let s = resolve(
            &cli(&[]),
            &load_config_file(&path, true).unwrap(),
            None,
            state(),
        )
        .unwrap();
        assert!(s.send_typing);
        assert!(!s.notify.bell && s.notify.desktop);
        std::fs::write(&path, "usr = \"typo\"\n").unwrap();
        let e = load_config_file(&path, true).unwrap_err();
        assert!(e.to_string().contains("usr"), "{e}");
    }
}
