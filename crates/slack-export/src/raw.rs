//! Slack's JSON as it is in an export. Lenient: unknown fields are ignored, optional
//! fields may be absent or `null`. Strict only where the data is needed: a user or a
//! conversation without `id`, a message without `ts`, makes its file malformed.

use serde::{Deserialize, Deserializer};

/// `null` reads as the type's default (Slack writes `null` for some empty lists).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

#[derive(Deserialize)]
pub(crate) struct RawUser {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub real_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub deleted: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub is_bot: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub is_app_user: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub is_admin: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub is_owner: bool,
    #[serde(default)]
    pub tz: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub profile: RawProfile,
}

#[derive(Deserialize, Default)]
pub(crate) struct RawProfile {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub real_name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub bot_id: Option<String>,
}

/// An entry of `channels.json`, `groups.json`, `dms.json` or `mpims.json`.
#[derive(Deserialize)]
pub(crate) struct RawConversation {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub created: Option<i64>,
    #[serde(default)]
    pub creator: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub is_archived: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub is_general: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub members: Vec<String>,
    #[serde(default)]
    pub topic: Option<RawTopic>,
    #[serde(default)]
    pub purpose: Option<RawTopic>,
}

#[derive(Deserialize)]
pub(crate) struct RawTopic {
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct RawMessage {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub subtype: Option<String>,
    pub ts: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub bot_id: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub bot_profile: Option<RawBotProfile>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub thread_ts: Option<String>,
    #[serde(default)]
    pub parent_user_id: Option<String>,
    #[serde(default)]
    pub edited: Option<RawEdited>,
    #[serde(default, deserialize_with = "nullable")]
    pub reactions: Vec<RawReaction>,
    #[serde(default, deserialize_with = "nullable")]
    pub files: Vec<RawFile>,
    /// Older exports carry a `file_share`'s one file here.
    #[serde(default)]
    pub file: Option<RawFile>,
    #[serde(default, deserialize_with = "nullable")]
    pub attachments: Vec<RawAttachment>,
    #[serde(default)]
    pub inviter: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct RawBotProfile {
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct RawEdited {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub ts: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct RawReaction {
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub users: Vec<String>,
    #[serde(default)]
    pub count: Option<u32>,
}

#[derive(Deserialize)]
pub(crate) struct RawFile {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub mimetype: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub url_private: Option<String>,
    #[serde(default)]
    pub permalink: Option<String>,
    /// `tombstone` (deleted), `hidden_by_limit` (over the plan's limit), `external`, …
    #[serde(default)]
    pub mode: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct RawAttachment {
    #[serde(default)]
    pub fallback: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
}

/// `integration_logs.json`: an array of entries, or `{"logs": [...]}`.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum RawIntegrationLogs {
    List(Vec<RawIntegrationLog>),
    Wrapped { logs: Vec<RawIntegrationLog> },
}

#[derive(Deserialize)]
pub(crate) struct RawIntegrationLog {
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub user_name: Option<String>,
    #[serde(default)]
    pub service_type: Option<String>,
    #[serde(default)]
    pub app_type: Option<String>,
    #[serde(default)]
    pub change_type: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    /// Unix seconds, as a string (Slack's form) or a number.
    #[serde(default)]
    pub date: Option<serde_json::Value>,
}
