//! State that survives a restart, one JSON file per user and server in the
//! state directory: the joined rooms in order, the last message id read in
//! each, the room that was on screen, and the outbox (every request not
//! acknowledged yet, with this installation's `ref` prefix and counter).
//! Writes go to a temporary file in the same directory, synced, then
//! renamed over the old one, so a crash mid-write leaves the previous state
//! intact, never a torn file.

use std::io::Write;
use std::path::{Path, PathBuf};

use chat_proto::ClientFrame;
use serde::{Deserialize, Serialize};

/// The version written into new state files; older files are still read
/// (version 1 had no outbox: a new `ref` prefix is made for it).
const STATE_VERSION: u32 = 2;

/// One joined room as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedRoom {
    pub name: String,
    /// The newest message id the user has seen on screen; messages after it
    /// count as unread on the next start.
    pub last_read: u64,
}

/// Everything saved for one user on one server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedState {
    #[serde(default)]
    pub version: u32,
    #[serde(default)]
    pub rooms: Vec<SavedRoom>,
    #[serde(default)]
    pub current: Option<String>,
    /// This installation's random `ref` prefix, made once and kept.
    #[serde(default)]
    pub ref_prefix: Option<String>,
    /// The counter of the next `ref`; every `ref` below it may have been
    /// sent, so none is ever made again.
    #[serde(default)]
    pub next_ref: u64,
    /// Requests not acknowledged yet, in the order made.
    #[serde(default)]
    pub outbox: Vec<SavedPending>,
}

/// One unacknowledged request as saved: the frame exactly as it is sent
/// (its `ref` inside), the room it waits for, and when it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedPending {
    pub room: String,
    pub typed_ms: i64,
    pub frame: ClientFrame,
    /// For a request other than a chat line: what it asks, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub what: Option<String>,
}

/// Why state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state file {path} is damaged: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Where one user's state for one server lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The state file for `user` on `server` inside `dir`. The server URL is
    /// folded into a file-name-safe form.
    pub fn new(dir: &Path, server: &str, user: &str) -> Self {
        let server_part: String = server
            .trim_start_matches("ws://")
            .trim_start_matches("wss://")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        Self {
            path: dir.join(format!("{user}@{server_part}.json")),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the state; a missing file is an empty state.
    pub fn load(&self) -> Result<SavedState, StateError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(SavedState::default()),
            Err(source) => {
                return Err(StateError::Io {
                    action: "read",
                    path: self.path.clone(),
                    source,
                });
            }
        };
        serde_json::from_slice(&bytes).map_err(|source| StateError::Parse {
            path: self.path.clone(),
            source,
        })
    }

    /// Writes the state atomically: temp file, flush to disk, rename.
    pub fn save(&self, state: &SavedState) -> Result<(), StateError> {
        let io = |action: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| StateError::Io {
                action,
                path,
                source,
            }
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io("create", dir))?;
        let mut state = state.clone();
        state.version = STATE_VERSION;
        let json = serde_json::to_vec_pretty(&state).map_err(|source| StateError::Parse {
            path: self.path.clone(),
            source,
        })?;
        let tmp = self
            .path
            .with_extension(format!("json.tmp{}", std::process::id()));
        let mut file = std::fs::File::create(&tmp).map_err(io("create", &tmp))?;
        file.write_all(&json).map_err(io("write", &tmp))?;
        file.sync_all().map_err(io("sync", &tmp))?;
        drop(file);
        std::fs::rename(&tmp, &self.path).map_err(io("rename", &tmp))?;
        // Make the rename itself durable; some filesystems cannot sync a
        // directory, and the file's own content is already on disk.
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads_per_user_and_server() {
        let dir = tempfile::tempdir().unwrap();
        let alice = StateFile::new(dir.path(), "ws://127.0.0.1:8000/ws", "alice");
        let bob = StateFile::new(dir.path(), "ws://127.0.0.1:8000/ws", "bob");
        let alice_elsewhere = StateFile::new(dir.path(), "ws://10.0.0.1:9/ws", "alice");
        assert_ne!(alice.path(), bob.path());
        assert_ne!(alice.path(), alice_elsewhere.path());
        assert_eq!(alice.load().unwrap(), SavedState::default());

        let state = SavedState {
            version: 0,
            rooms: vec![
                SavedRoom {
                    name: "lobby".into(),
                    last_read: 12,
                },
                SavedRoom {
                    name: "rust".into(),
                    last_read: 0,
                },
            ],
            current: Some("rust".into()),
            ref_prefix: Some("0123abcd-".into()),
            next_ref: 8,
            outbox: vec![SavedPending {
                room: "lobby".into(),
                typed_ms: 5,
                frame: ClientFrame::message("lobby", "still here?", Some("0123abcd-7".into())),
                what: None,
            }],
        };
        alice.save(&state).unwrap();
        let loaded = alice.load().unwrap();
        assert_eq!(loaded.rooms, state.rooms);
        assert_eq!(loaded.current.as_deref(), Some("rust"));
        assert_eq!(loaded.ref_prefix, state.ref_prefix);
        assert_eq!(loaded.next_ref, 8);
        assert_eq!(loaded.outbox, state.outbox);
        assert_eq!(loaded.version, STATE_VERSION);
        assert_eq!(bob.load().unwrap(), SavedState::default());

        // Only the state file remains: the temp file was renamed away.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn a_version_1_file_loads_with_an_empty_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path(), "ws://h:1/ws", "alice");
        let old = r#"{"version":1,"rooms":[{"name":"lobby","last_read":3}],"current":"lobby"}"#;
        std::fs::write(file.path(), old).unwrap();
        let loaded = file.load().unwrap();
        assert_eq!(loaded.rooms.len(), 1);
        assert_eq!((loaded.ref_prefix, loaded.next_ref), (None, 0));
        assert!(loaded.outbox.is_empty());
    }

    #[test]
    fn a_damaged_file_is_reported_not_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path(), "ws://h:1/ws", "alice");
        std::fs::write(file.path(), "{not json").unwrap();
        assert!(matches!(file.load(), Err(StateError::Parse { .. })));
    }
}
