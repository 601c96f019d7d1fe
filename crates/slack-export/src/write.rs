//! Writes a Slack-export-shaped zip — the layout [`crate::Export`] reads and Slack
//! itself produces: `users.json`, `channels.json`, `groups.json`, `dms.json`,
//! `mpims.json`, and per conversation a folder of `YYYY-MM-DD.json` day files (named
//! by the channel, or a DM's id). Streams: each day file is written as it is given,
//! so memory holds one day of one conversation at a time.

use std::io::Write;

use serde::Serialize;
use zip::write::SimpleFileOptions;

/// A `users.json` entry.
#[derive(Clone, Debug, Serialize)]
pub struct UserOut {
    pub id: String,
    pub name: String,
    pub real_name: String,
    pub deleted: bool,
    pub is_admin: bool,
    pub is_owner: bool,
    /// A bot's account (whose messages an app posted); a reader takes it back as one.
    pub is_bot: bool,
    pub profile: ProfileOut,
}

#[derive(Clone, Debug, Serialize)]
pub struct ProfileOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub real_name: String,
    pub display_name: String,
}

/// A conversation in one of the directory files.
#[derive(Clone, Debug, Serialize)]
pub struct ConversationOut {
    pub id: String,
    /// Channels only (a DM has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub created: i64,
    pub creator: String,
    pub is_archived: bool,
    pub is_general: bool,
    pub members: Vec<String>,
    pub topic: TextOut,
    pub purpose: TextOut,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TextOut {
    pub value: String,
}

/// One message of a day file.
#[derive(Clone, Debug, Serialize)]
pub struct MessageOut {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub ts: String,
    pub user: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edited: Option<EditedOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<ReactionOut>,
}

#[derive(Clone, Debug, Serialize)]
pub struct EditedOut {
    pub user: String,
    pub ts: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct ReactionOut {
    pub name: String,
    pub users: Vec<String>,
    pub count: u32,
}

/// Which directory file a conversation is listed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirectoryFile {
    Channels,
    Groups,
    Dms,
    Mpims,
}

impl DirectoryFile {
    fn name(self) -> &'static str {
        match self {
            DirectoryFile::Channels => "channels.json",
            DirectoryFile::Groups => "groups.json",
            DirectoryFile::Dms => "dms.json",
            DirectoryFile::Mpims => "mpims.json",
        }
    }
}

/// Slack's message markup for plain text: `&`, `<` and `>` escaped.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Writes an export zip to `W`, a file at a time.
pub struct ExportWriter<W: Write + std::io::Seek> {
    zip: zip::ZipWriter<W>,
    options: SimpleFileOptions,
}

impl<W: Write + std::io::Seek> ExportWriter<W> {
    pub fn new(out: W) -> Self {
        let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        ExportWriter { zip: zip::ZipWriter::new(out), options }
    }

    /// Any JSON file at `path` (e.g. `users.json`, or an extra file of the exporter's
    /// own at the top level, which readers skip).
    pub fn json<T: Serialize + ?Sized>(&mut self, path: &str, value: &T) -> std::io::Result<()> {
        self.zip.start_file(path, self.options).map_err(std::io::Error::other)?;
        serde_json::to_writer_pretty(&mut self.zip, value).map_err(std::io::Error::other)
    }

    pub fn users(&mut self, users: &[UserOut]) -> std::io::Result<()> {
        self.json("users.json", users)
    }

    pub fn conversations(&mut self, file: DirectoryFile, list: &[ConversationOut]) -> std::io::Result<()> {
        self.json(file.name(), list)
    }

    /// One day of one conversation: `folder/YYYY-MM-DD.json`.
    pub fn day(&mut self, folder: &str, date: &str, messages: &[MessageOut]) -> std::io::Result<()> {
        self.json(&format!("{folder}/{date}.json"), messages)
    }

    pub fn finish(self) -> std::io::Result<W> {
        self.zip.finish().map_err(std::io::Error::other)
    }
}

impl<W: Write> ExportWriter<zip::write::StreamWriter<W>> {
    /// Writes to `out` as it goes, without seeking back (an HTTP response body): each
    /// file's sizes follow its data, as zip's data descriptors allow.
    pub fn new_stream(out: W) -> Self {
        let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        ExportWriter { zip: zip::ZipWriter::new_stream(out), options }
    }
}
