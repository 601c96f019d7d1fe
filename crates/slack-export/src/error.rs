//! The one error type: every variant names the file it is about.

/// Why reading (part of) an export failed. Every variant names the file, as its path
/// inside the archive (or the archive's own name for [`Error::Archive`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The archive itself, or one entry's bytes, cannot be read: not a zip, a
    /// truncated central directory, a corrupt compressed stream, an I/O error.
    #[error("{file}: {message}")]
    Archive { file: String, message: String },
    /// A file the import cannot do without (`users.json`, `channels.json`) is absent.
    #[error("{file}: missing from the export")]
    Missing { file: String },
    /// A JSON file that is not JSON, or not of the shape Slack documents; `line` and
    /// `column` are serde_json's (1-based; 0 when the error is about the whole file).
    #[error("{file}:{line}:{column}: {message}")]
    Malformed { file: String, line: usize, column: usize, message: String },
}

impl Error {
    /// The file the error is about.
    pub fn file(&self) -> &str {
        match self {
            Error::Archive { file, .. } | Error::Missing { file } | Error::Malformed { file, .. } => file,
        }
    }

    pub(crate) fn archive(file: &str, err: impl std::fmt::Display) -> Self {
        Error::Archive { file: file.to_owned(), message: err.to_string() }
    }

    pub(crate) fn json(file: &str, err: &serde_json::Error) -> Self {
        // serde_json's Display appends " at line L column C"; keep the bare message.
        let full = err.to_string();
        let message = match full.rfind(" at line ") {
            Some(at) if err.line() > 0 => full[..at].to_owned(),
            _ => full,
        };
        Error::Malformed { file: file.to_owned(), line: err.line(), column: err.column(), message }
    }
}
