//! The `/rooms` answer being browsed, with its filter and selection.

use chat_proto::RoomInfo;

/// The `rooms` answer being browsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomBrowser {
    pub rooms: Vec<RoomInfo>,
    /// Typed text narrowing the list.
    pub filter: String,
    /// Index into the filtered list.
    pub selected: usize,
}

impl RoomBrowser {
    pub fn visible(&self) -> Vec<&RoomInfo> {
        let filter = self.filter.to_ascii_lowercase();
        self.rooms
            .iter()
            .filter(|r| r.name.contains(&filter))
            .collect()
    }
}
