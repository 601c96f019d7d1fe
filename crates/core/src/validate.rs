//! Input rules shared by the HTTP API, the WebSocket protocol and the CLI.
//!
//! Limits that an operator may want to change live in [`Limits`] (filled from config);
//! the shapes that are part of the contract (channel names) are constants.

use crate::error::{Error, Result};

/// Configurable size limits.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Longest message text, in characters (Unicode scalar values).
    pub max_message_chars: usize,
    pub max_display_name_chars: usize,
    pub max_workspace_name_chars: usize,
    pub max_topic_chars: usize,
    pub max_status_chars: usize,
    pub min_password_chars: usize,
    pub max_password_chars: usize,
    /// Longest `client_msg_id` / `req` a client may send.
    pub max_client_id_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_chars: 40_000,
            max_display_name_chars: 80,
            max_workspace_name_chars: 80,
            max_topic_chars: 250,
            max_status_chars: 100,
            min_password_chars: 8,
            max_password_chars: 1024,
            max_client_id_chars: 64,
        }
    }
}

/// Channel names: `[a-z0-9_-]{1,80}`.
pub fn channel_name(name: &str) -> Result<()> {
    let ok = (1..=80).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_field("name", "a channel name is 1 to 80 characters of a-z, 0-9, _ and -"))
    }
}

/// Usernames (the `@handle`): `[a-z0-9_.-]{2,32}`, starting with a letter or digit.
pub fn username(name: &str) -> Result<()> {
    let ok = (2..=32).contains(&name.len())
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_field(
            "username",
            "2 to 32 characters of a-z, 0-9, _, . and -, starting with a letter or digit",
        ))
    }
}

/// Emails: a plausible `local@domain` shape, at most 254 bytes. Deliverability is not
/// checked; the email is a login name.
pub fn email(email: &str) -> Result<()> {
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok { Ok(()) } else { Err(Error::invalid_field("email", "not an email address")) }
}

/// A status emoji: one emoji, as its character or its shortcode (`:palm_tree:`),
/// stored as the character; empty clears it.
pub fn status_emoji(value: &str) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(String::new());
    }
    crate::emoji::normalize(value)
        .map(str::to_string)
        .ok_or_else(|| Error::invalid_field("status_emoji", "one emoji, or its :shortcode:"))
}

/// A time zone: an IANA name's shape (`Europe/Berlin`, `America/Argentina/Buenos_Aires`,
/// `Etc/GMT+3`, `UTC`), at most 64 bytes; empty clears it. Whether the zone exists is
/// for the client's time-zone database to say: an unknown one shows no local time.
pub fn time_zone(value: &str) -> Result<&str> {
    let value = value.trim();
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b))
    };
    let ok = value.is_empty() || (value.len() <= 64 && value.split('/').all(part_ok));
    if ok {
        Ok(value)
    } else {
        Err(Error::invalid_field("time_zone", "an IANA time zone name, such as Europe/Berlin"))
    }
}

/// A free-text field: trimmed, not empty (unless allowed), no control characters
/// other than newlines and tabs, at most `max` characters. Returns the trimmed text.
pub fn text_field<'a>(field: &str, value: &'a str, max: usize, allow_empty: bool) -> Result<&'a str> {
    let value = value.trim();
    if value.is_empty() && !allow_empty {
        return Err(Error::invalid_field(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(Error::invalid_field(field, format!("at most {max} characters")));
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
        return Err(Error::invalid_field(field, "control characters are not allowed"));
    }
    Ok(value)
}

impl Limits {
    pub fn message_text<'a>(&self, text: &'a str) -> Result<&'a str> {
        // Message text keeps its leading/trailing whitespace out, but its lines as typed.
        text_field("text", text, self.max_message_chars, false)
    }

    pub fn display_name<'a>(&self, name: &'a str) -> Result<&'a str> {
        let name = text_field("display_name", name, self.max_display_name_chars, false)?;
        if name.contains('\n') {
            return Err(Error::invalid_field("display_name", "must be one line"));
        }
        Ok(name)
    }

    pub fn workspace_name<'a>(&self, name: &'a str) -> Result<&'a str> {
        let name = text_field("name", name, self.max_workspace_name_chars, false)?;
        if name.contains('\n') {
            return Err(Error::invalid_field("name", "must be one line"));
        }
        Ok(name)
    }

    pub fn topic<'a>(&self, topic: &'a str) -> Result<&'a str> {
        text_field("topic", topic, self.max_topic_chars, true)
    }

    /// A status text: one line, at most `max_status_chars`; empty clears it.
    pub fn status_text<'a>(&self, text: &'a str) -> Result<&'a str> {
        let text = text_field("status_text", text, self.max_status_chars, true)?;
        if text.contains(['\n', '\r', '\t']) {
            return Err(Error::invalid_field("status_text", "must be one line"));
        }
        Ok(text)
    }

    pub fn password(&self, password: &str) -> Result<()> {
        let n = password.chars().count();
        if n < self.min_password_chars || n > self.max_password_chars {
            return Err(Error::invalid_field(
                "password",
                format!("{} to {} characters", self.min_password_chars, self.max_password_chars),
            ));
        }
        Ok(())
    }

    /// `client_msg_id` and WebSocket `req` ids: 1 to N printable ASCII characters.
    pub fn client_id(&self, field: &str, id: &str) -> Result<()> {
        let ok = !id.is_empty()
            && id.len() <= self.max_client_id_chars
            && id.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(())
        } else {
            Err(Error::invalid_field(
                field,
                format!("1 to {} printable ASCII characters", self.max_client_id_chars),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn channel_names() {
        for ok in ["general", "a", "team-2_x", &"x".repeat(80)] {
            channel_name(ok).unwrap();
        }
        for bad in ["", "General", "has space", "ünï", &"x".repeat(81), "a/b"] {
            assert_eq!(channel_name(bad).unwrap_err().code, ErrorCode::InvalidField, "{bad}");
        }
    }

    #[test]
    fn message_text_limits_count_characters() {
        let limits = Limits { max_message_chars: 3, ..Limits::default() };
        assert_eq!(limits.message_text(" äöü ").unwrap(), "äöü");
        assert!(limits.message_text("abcd").is_err());
        assert!(limits.message_text("   ").is_err());
        assert!(limits.message_text("a\u{0}").is_err());
        assert!(Limits::default().message_text("line\nline").is_ok());
    }

    #[test]
    fn statuses_and_time_zones() {
        let limits = Limits { max_status_chars: 5, ..Limits::default() };
        assert_eq!(limits.status_text("  lunch ").unwrap(), "lunch");
        assert_eq!(limits.status_text("").unwrap(), "");
        for bad in ["lunch!", "a\nb", "a\u{7}"] {
            assert_eq!(limits.status_text(bad).unwrap_err().code, ErrorCode::InvalidField, "{bad:?}");
        }
        assert_eq!(status_emoji(":palm_tree:").unwrap(), "🌴");
        assert_eq!(status_emoji("🌴").unwrap(), "🌴");
        assert_eq!(status_emoji(" ").unwrap(), "");
        for bad in ["palm", "🌴🌴", "<b>"] {
            assert!(status_emoji(bad).is_err(), "{bad}");
        }
        for ok in ["", "UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+3"] {
            assert_eq!(time_zone(ok).unwrap(), ok);
        }
        for bad in
            ["Europe/", "/Berlin", "Europe//Berlin", "1Zone", "Europe/Ber lin", "a/<b>", &"A".repeat(65)]
        {
            assert!(time_zone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_and_usernames() {
        email("a@b.co").unwrap();
        for bad in ["", "a", "@b.co", "a@b", "a b@c.de", "a@.de"] {
            assert!(email(bad).is_err(), "{bad}");
        }
        username("alice.b").unwrap();
        for bad in ["a", "Alice", "_x", "a b", &"a".repeat(33)] {
            assert!(username(bad).is_err(), "{bad}");
        }
    }
}
