//! Composing a message in the user's editor: `$VISUAL`, else `$EDITOR`,
//! else `vi`, run through `sh -c` (so `EDITOR="code --wait"` works, as
//! git runs it) on a private temporary file holding the input; what the
//! file holds when the editor exits successfully becomes the input. The
//! runner gives the terminal to the editor meanwhile ([`crate::tui`],
//! [`crate::event::Events::pause_terminal`]).

use std::path::PathBuf;

use tokio::io::AsyncWriteExt;

/// The editor command, from the environment.
pub fn editor_command(visual: Option<String>, editor: Option<String>) -> String {
    visual
        .filter(|v| !v.trim().is_empty())
        .or(editor.filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| "vi".to_owned())
}

/// Runs `command` on a temporary file holding `initial`; the text the
/// file holds afterwards, or why there is none (in plain words).
pub async fn compose(command: &str, initial: &str) -> Result<String, String> {
    let path = std::env::temp_dir().join(format!(
        "chat-tui-{}-{:08x}.txt",
        std::process::id(),
        rand::random::<u32>()
    ));
    let outcome = edit_file(command, &path, initial).await;
    let _ = tokio::fs::remove_file(&path).await;
    outcome
}

async fn edit_file(command: &str, path: &PathBuf, initial: &str) -> Result<String, String> {
    // Only this user may read what is being written.
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .await
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    // Flushed before the editor opens it: tokio writes in the background.
    let written = match file.write_all(initial.as_bytes()).await {
        Ok(()) => file.flush().await,
        Err(e) => Err(e),
    };
    written.map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    drop(file);
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{command} \"$1\""))
        .arg("chat-tui-editor")
        .arg(path)
        .status()
        .await
        .map_err(|e| format!("cannot run sh for {command:?}: {e}"))?;
    if !status.success() {
        return Err(format!(
            "{command:?} ended with {status}; the input is unchanged."
        ));
    }
    tokio::fs::read_to_string(path)
        .await
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visual_then_editor_then_vi() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(editor_command(some("nano"), some("ed")), "nano");
        assert_eq!(editor_command(some(" "), some("ed")), "ed");
        assert_eq!(editor_command(None, None), "vi");
    }

    #[tokio::test]
    async fn the_file_the_editor_leaves_is_the_result_and_is_removed() {
        // A shell command standing in for an editor: it appends a line.
        let text = compose("printf 'second\\n' >>", "first\n").await.unwrap();
        assert_eq!(text, "first\nsecond\n");
        let failed = compose("false", "kept").await.unwrap_err();
        assert!(failed.contains("unchanged"), "{failed}");
        let leftovers = std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("chat-tui-{}-", std::process::id()))
            })
            .count();
        assert_eq!(leftovers, 0);
    }
}
