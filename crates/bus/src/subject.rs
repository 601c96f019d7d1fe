//! The subjects and the envelope on the wire, written down once.
//!
//! Subjects, per cluster (so that two clusters can share one NATS):
//!
//! * `confab.<cluster>.ws.<workspace>.events`: the committed events of a workspace,
//!   published by the node that wrote them; every node subscribes to
//!   `confab.<cluster>.ws.*.events`.
//! * `confab.<cluster>.ws.<workspace>.requests`: writes forwarded to the node that
//!   holds the workspace's write lease, which alone subscribes to it.
//! * `confab.<cluster>.ephemeral`: what nodes tell each other that is not in the
//!   event log (typing, presence, that a node is alive): lossy, unordered, never
//!   replayed; every node publishes and subscribes. Its payload is the app's.
//!
//! `<workspace>` is the workspace id's text form (a ULID). An event's message
//! carries the event's bytes as its payload, untouched, and two headers:
//! `Confab-Workspace` (the workspace id, as in the subject) and `Confab-Event-Seq`
//! (its `event_seq`, in decimal). A request carries `Confab-Workspace`; its payload
//! and its answer's are the app's to define.

use confab_core::WorkspaceId;

use crate::BusError;

/// The header naming an event's or request's workspace.
pub const WORKSPACE_HEADER: &str = "Confab-Workspace";
/// The header carrying an event's `event_seq`.
pub const EVENT_SEQ_HEADER: &str = "Confab-Event-Seq";

/// The subjects of one cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subjects {
    prefix: String,
}

impl Subjects {
    /// The subjects of the cluster `name`: letters, digits, `-` and `_` (it is one
    /// subject token), at most 64 of them.
    pub fn new(name: &str) -> Result<Self, BusError> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(BusError::Config(format!(
                "cluster name {name:?} must be 1 to 64 letters, digits, '-' or '_'"
            )));
        }
        Ok(Subjects { prefix: format!("confab.{name}.ws") })
    }

    pub fn events(&self, workspace: WorkspaceId) -> String {
        format!("{}.{workspace}.events", self.prefix)
    }

    /// Every workspace's events.
    pub fn all_events(&self) -> String {
        format!("{}.*.events", self.prefix)
    }

    pub fn requests(&self, workspace: WorkspaceId) -> String {
        format!("{}.{workspace}.requests", self.prefix)
    }

    /// Typing, presence and liveness, for every node (one subject: presence is not
    /// a workspace's).
    pub fn ephemeral(&self) -> String {
        format!("{}.ephemeral", self.prefix.strip_suffix(".ws").unwrap_or(&self.prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_per_cluster_and_workspace() {
        let ws = WorkspaceId::from_ulid(ulid::Ulid::from_parts(1, 2));
        let subjects = Subjects::new("prod-1").unwrap();
        assert_eq!(subjects.events(ws), format!("confab.prod-1.ws.{ws}.events"));
        assert_eq!(subjects.all_events(), "confab.prod-1.ws.*.events");
        assert_eq!(subjects.requests(ws), format!("confab.prod-1.ws.{ws}.requests"));
        assert_eq!(subjects.ephemeral(), "confab.prod-1.ephemeral");
    }

    #[test]
    fn a_cluster_name_is_one_token() {
        for bad in ["", "a.b", "a*", ">", "a b", &"x".repeat(65)] {
            assert!(Subjects::new(bad).is_err(), "{bad:?} is refused");
        }
    }
}
