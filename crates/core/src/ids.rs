//! Opaque, sortable identifiers.
//!
//! Every id is a ULID in its canonical 26-character Crockford base32 text form, so ids
//! sort by creation time as strings and as bytes. Each kind of id is its own type, so a
//! channel id can never be passed where a workspace id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, ErrorCode};

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(into = "String")]
        pub struct $name(ulid::Ulid);

        impl $name {
            /// Wraps a freshly generated ULID.
            pub fn from_ulid(ulid: ulid::Ulid) -> Self {
                Self(ulid)
            }

            pub fn ulid(self) -> ulid::Ulid {
                self.0
            }

            /// The 16 big-endian bytes of the id: the form used in store keys.
            pub fn to_bytes(self) -> [u8; 16] {
                self.0.to_bytes()
            }

            pub fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(ulid::Ulid::from_bytes(bytes))
            }

            /// Parses the text form, answering the id's own not-found style error code
            /// so that a malformed id and an unknown one look the same to a client.
            pub fn parse(text: &str) -> Result<Self, Error> {
                ulid::Ulid::from_string(text).map(Self).map_err(|_| {
                    Error::new(ErrorCode::InvalidId, format!("{text:?} is not a valid {}", $what))
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                Self::parse(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.to_string()
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

define_id!(
    /// An account.
    UserId,
    "user id"
);
define_id!(
    /// A workspace (a team): the unit of tenancy, consent and statistics.
    WorkspaceId,
    "workspace id"
);
define_id!(
    /// A public, private or direct-message channel.
    ChannelId,
    "channel id"
);
define_id!(
    /// A message.
    MessageId,
    "message id"
);
define_id!(
    /// An uploaded file (one attachment of one message).
    FileId,
    "file id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_sorts_like_bytes() {
        let a = ChannelId::from_ulid(ulid::Ulid::from_parts(1, 7));
        let b = ChannelId::from_ulid(ulid::Ulid::from_parts(2, 1));
        assert_eq!(ChannelId::parse(&a.to_string()).unwrap(), a);
        assert!(a.to_string() < b.to_string());
        assert!(a.to_bytes() < b.to_bytes());
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<ChannelId>(&json).unwrap(), a);
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for bad in ["", "abc", "01ARZ3NDEKTSV4RRFFQ69G5FA", "01ARZ3NDEKTSV4RRFFQ69G5FAVX", "ÄÄÄ"] {
            assert_eq!(UserId::parse(bad).unwrap_err().code, ErrorCode::InvalidId);
        }
        assert!(serde_json::from_str::<UserId>("\"nope\"").is_err());
    }
}
