//! What an entry's hash and a member key's commitment are computed over: canonical
//! JSON (keys sorted, no whitespace), hashed with SHA-256.

use confab_core::{Millis, UserId, WorkspaceId};
use serde::Serialize;
use serde_json::Value;

use super::entry::{Action, KeyOpening, LedgerEntry};
use crate::policy::sha256_hex;
use crate::vocab::Purpose;

impl KeyOpening {
    /// The commitment a `member_set` action carries for this opening.
    pub fn commitment(&self, ws: WorkspaceId, purpose: Purpose) -> String {
        let value = serde_json::json!({
            "workspace": ws, "purpose": purpose, "user": self.user,
            "included": self.included, "nonce": self.nonce,
        });
        let mut text = String::new();
        write_canonical(&value, &mut text);
        sha256_hex(text.as_bytes())
    }
}

/// The fields covered by an entry's hash: everything but `hash` itself.
#[derive(Serialize)]
struct Hashed<'a> {
    seq: u64,
    workspace: WorkspaceId,
    at: Millis,
    actor: UserId,
    action: &'a Action,
    policy_version: u32,
    policy_sha256: &'a str,
    prev_hash: &'a str,
}

impl LedgerEntry {
    /// Recomputes the hash this entry should carry.
    pub fn compute_hash(&self) -> Result<String, serde_json::Error> {
        let hashed = Hashed {
            seq: self.seq,
            workspace: self.workspace,
            at: self.at,
            actor: self.actor,
            action: &self.action,
            policy_version: self.policy_version,
            policy_sha256: &self.policy_sha256,
            prev_hash: &self.prev_hash,
        };
        let value = serde_json::to_value(&hashed)?;
        let mut text = String::new();
        write_canonical(&value, &mut text);
        Ok(sha256_hex(text.as_bytes()))
    }
}

/// Writes JSON with object keys sorted and no whitespace. Done by hand rather than
/// relying on `serde_json::Map` ordering, which a `preserve_order` feature enabled
/// anywhere in the build would silently change (and with it every hash).
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut fields: Vec<(&String, &Value)> = map.iter().collect();
            fields.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, v)) in fields.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_over_canonical_json() {
        let mut out = String::new();
        write_canonical(&serde_json::json!({"b": [1, {"z": 1, "a": "é\""}], "a": 0.5}), &mut out);
        assert_eq!(out, r#"{"a":0.5,"b":[1,{"a":"é\"","z":1}]}"#);
    }
}
