//! The consent vocabulary: purposes, data categories, scopes and member modes.
//!
//! These names are part of the API and of the hash-chained ledger, so their serde
//! (snake_case) spellings never change once released.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ConsentError;

/// What a training pipeline learns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    SearchRanking,
    EmojiSuggestions,
    ChannelSuggestions,
}

impl Purpose {
    /// How many purposes there are.
    pub const COUNT: usize = 3;

    /// Every purpose, in declaration order (`ALL[p.index()] == p`).
    pub const ALL: [Purpose; Purpose::COUNT] =
        [Purpose::SearchRanking, Purpose::EmojiSuggestions, Purpose::ChannelSuggestions];

    /// This purpose's position in [`Purpose::ALL`].
    pub const fn index(self) -> usize {
        match self {
            Purpose::SearchRanking => 0,
            Purpose::EmojiSuggestions => 1,
            Purpose::ChannelSuggestions => 2,
        }
    }

    /// The snake_case name used on the wire and in policy file names.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::SearchRanking => "search_ranking",
            Purpose::EmojiSuggestions => "emoji_suggestions",
            Purpose::ChannelSuggestions => "channel_suggestions",
        }
    }

    /// The data categories this purpose may ever read; a grant may name a subset.
    pub fn allowed_categories(self) -> &'static [Category] {
        match self {
            Purpose::SearchRanking => &[Category::Messages, Category::SearchInteractions],
            // A file is read as words of the message it is attached to.
            Purpose::EmojiSuggestions => &[Category::Messages, Category::Reactions, Category::Files],
            Purpose::ChannelSuggestions => &[Category::Messages, Category::Memberships],
        }
    }

    pub fn may_read(self, category: Category) -> bool {
        self.allowed_categories().contains(&category)
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Purpose {
    type Err = ConsentError;
    fn from_str(s: &str) -> Result<Self, ConsentError> {
        Purpose::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| ConsentError::UnknownPurpose(s.to_owned()))
    }
}

/// A kind of workspace data a pipeline may read. Only public channels ever count:
/// private channels and DMs are never training data, whatever the category.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// The text of messages in public channels.
    Messages,
    /// Who reacted with which emoji to messages in public channels.
    Reactions,
    /// Who joined which public channel, and when.
    Memberships,
    /// Searches and the results clicked (as ranking features, not query text).
    SearchInteractions,
    /// The files attached to messages in public channels: their names, types and
    /// sizes, and the head of a text-like file's text (never an image's content).
    Files,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::Messages,
        Category::Reactions,
        Category::Memberships,
        Category::SearchInteractions,
        Category::Files,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Messages => "messages",
            Category::Reactions => "reactions",
            Category::Memberships => "memberships",
            Category::SearchInteractions => "search_interactions",
            Category::Files => "files",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where learning from a workspace may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Models trained on this workspace serve only this workspace.
    Workspace,
    /// The data may also feed the instance-wide model; implies `Workspace`.
    Shared,
}

impl Scope {
    /// Whether this scope permits `wanted` (`Shared` implies `Workspace`).
    pub fn covers(self, wanted: Scope) -> bool {
        self == Scope::Shared || wanted == Scope::Workspace
    }
}

/// Whether members are in until they exclude themselves, or out until they opt in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberMode {
    /// Out until each member opts in (recommended: an employer's yes is not each
    /// employee's).
    OptIn,
    /// In until a member excludes themselves.
    OptOut,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_purpose_sits_at_its_index() {
        for (i, p) in Purpose::ALL.into_iter().enumerate() {
            assert_eq!(p.index(), i);
        }
    }

    #[test]
    fn wire_names_are_pinned() {
        for p in Purpose::ALL {
            assert_eq!(serde_json::to_value(p).unwrap(), json!(p.as_str()));
            assert_eq!(p.as_str().parse::<Purpose>().unwrap(), p);
        }
        for c in Category::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), json!(c.as_str()));
        }
        assert_eq!(
            serde_json::to_value([Category::SearchInteractions, Category::Memberships]).unwrap(),
            json!(["search_interactions", "memberships"])
        );
        assert_eq!(serde_json::to_value(Scope::Shared).unwrap(), json!("shared"));
        assert_eq!(serde_json::to_value(Scope::Workspace).unwrap(), json!("workspace"));
        assert_eq!(serde_json::to_value(MemberMode::OptIn).unwrap(), json!("opt_in"));
        assert_eq!(serde_json::to_value(MemberMode::OptOut).unwrap(), json!("opt_out"));
        assert!(matches!("nope".parse::<Purpose>(), Err(ConsentError::UnknownPurpose(s)) if s == "nope"));
    }

    #[test]
    fn purposes_read_only_their_categories() {
        assert!(Purpose::SearchRanking.may_read(Category::SearchInteractions));
        assert!(!Purpose::SearchRanking.may_read(Category::Reactions));
        assert!(Purpose::EmojiSuggestions.may_read(Category::Reactions));
        assert!(!Purpose::EmojiSuggestions.may_read(Category::Memberships));
        assert!(Purpose::EmojiSuggestions.may_read(Category::Files));
        assert!(!Purpose::SearchRanking.may_read(Category::Files));
        assert!(!Purpose::ChannelSuggestions.may_read(Category::Files));
        assert!(Purpose::ChannelSuggestions.may_read(Category::Memberships));
        assert!(!Purpose::ChannelSuggestions.may_read(Category::SearchInteractions));
        for p in Purpose::ALL {
            assert!(p.may_read(Category::Messages));
        }
    }

    #[test]
    fn shared_implies_workspace() {
        assert!(Scope::Shared.covers(Scope::Workspace));
        assert!(Scope::Shared.covers(Scope::Shared));
        assert!(Scope::Workspace.covers(Scope::Workspace));
        assert!(!Scope::Workspace.covers(Scope::Shared));
    }
}
