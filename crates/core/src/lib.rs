//! Confab's domain model: the ids, records, events, validation rules and error codes
//! that every other crate speaks.
//!
//! Invariant: this crate does no I/O. It has no clock, no randomness, no tokio and no
//! store; callers hand it timestamps and freshly generated ids. That keeps the rules
//! here easy to test and usable from the server, the client and the tools alike.

pub mod emoji;
pub mod error;
pub mod event;
pub mod ids;
pub mod mention;
pub mod model;
pub mod validate;

pub use error::{Error, ErrorCode, Result};
pub use event::{Event, EventRecord};
pub use ids::{ChannelId, FileId, MessageId, UserId, WorkspaceId};
pub use model::*;
