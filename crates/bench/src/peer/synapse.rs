//! The few Matrix client-server calls `confab-bench peer` makes to a Synapse
//! homeserver: registering accounts through the shared-secret admin API, creating and
//! joining a room, sending a message, and the `/sync` long-poll a receiving client
//! lives on. Plain JSON over reqwest, no Matrix SDK: the bench needs a dozen fields.

use std::time::Duration;

use anyhow::{Context, bail};
use hmac::{Hmac, Mac};
use reqwest::{Method, Url};
use serde_json::{Value, json};
use sha1::Sha1;

/// How long a receiver's `/sync` waits for something new before answering empty.
pub const SYNC_TIMEOUT_MS: u64 = 30_000;

/// Events a receiver asks for per room and sync; far above what arrives between two
/// syncs, so a `limited` (gapped) timeline means the bench lost sight of messages.
const TIMELINE_LIMIT: u64 = 1000;

/// A Synapse homeserver's client API.
#[derive(Clone)]
pub struct Synapse {
    http: reqwest::Client,
    base: Url,
}

/// A registered user and their access token.
#[derive(Clone, Debug)]
pub struct Account {
    pub user_id: String,
    pub token: String,
}

/// What one `/sync` answer says about one room.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RoomSync {
    /// The bodies of the room's new `m.room.message` events, in order.
    pub bodies: Vec<String>,
    /// The server left events out (more than the filter's timeline limit arrived).
    pub limited: bool,
}

impl Synapse {
    /// A client for `base`, after checking that a Matrix server answers there.
    pub async fn connect(base: &str) -> anyhow::Result<Synapse> {
        let base = Url::parse(base).with_context(|| format!("--synapse-url {base:?} is not a URL"))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(SYNC_TIMEOUT_MS) + Duration::from_secs(30))
            .build()?;
        let synapse = Synapse { http, base };
        let versions = tokio::time::timeout(
            Duration::from_secs(10),
            synapse.call(Method::GET, &["_matrix", "client", "versions"], None, None),
        )
        .await;
        match versions {
            Ok(Ok(v)) if v.get("versions").is_some() => Ok(synapse),
            Ok(Ok(v)) => bail!("{} answered /_matrix/client/versions without versions: {v}", synapse.base),
            Ok(Err(e)) => bail!(
                "no Matrix homeserver answers at {} ({e:#}). Start one with \
                 `scripts/peer-synapse.sh DIR` (docs/benchmarks.md, \"A real peer in the same run\")",
                synapse.base
            ),
            Err(_) => bail!("{} did not answer /_matrix/client/versions within 10 s", synapse.base),
        }
    }

    /// The server's version (Synapse's admin API; `None` if it does not say).
    pub async fn server_version(&self) -> Option<String> {
        let v =
            self.call(Method::GET, &["_synapse", "admin", "v1", "server_version"], None, None).await.ok()?;
        v.get("server_version")?.as_str().map(str::to_owned)
    }

    /// Registers `username` (not an admin) with the server's registration shared
    /// secret, as `register_new_matrix_user` does, and returns its session.
    pub async fn register(&self, secret: &str, username: &str, password: &str) -> anyhow::Result<Account> {
        let path = ["_synapse", "admin", "v1", "register"];
        let nonce =
            self.call(Method::GET, &path, None, None).await.context("asking for a registration nonce")?;
        let nonce = nonce.get("nonce").and_then(Value::as_str).context("no nonce in the answer")?;
        let body = json!({
            "nonce": nonce,
            "username": username,
            "password": password,
            "admin": false,
            "mac": registration_mac(secret, nonce, username, password),
        });
        let session = self.call(Method::POST, &path, None, Some(body)).await.with_context(|| {
            format!(
                "registering {username} (is --synapse-secret-file this server's registration_shared_secret?)"
            )
        })?;
        Ok(Account {
            user_id: string_field(&session, "user_id")?,
            token: string_field(&session, "access_token")?,
        })
    }

    /// Creates a public room owned by `owner`; returns its id.
    pub async fn create_room(&self, owner: &Account, name: &str) -> anyhow::Result<String> {
        let body = json!({ "preset": "public_chat", "name": name });
        let room = self
            .call(Method::POST, &["_matrix", "client", "v3", "createRoom"], Some(owner), Some(body))
            .await?;
        string_field(&room, "room_id")
    }

    pub async fn join(&self, who: &Account, room: &str) -> anyhow::Result<()> {
        self.call(Method::POST, &["_matrix", "client", "v3", "join", room], Some(who), Some(json!({})))
            .await
            .map(drop)
    }

    /// Sends a text message; the answer (the event id) means Synapse has persisted it.
    pub async fn send(&self, who: &Account, room: &str, txn: &str, body: &str) -> anyhow::Result<()> {
        let path = ["_matrix", "client", "v3", "rooms", room, "send", "m.room.message", txn];
        let content = json!({ "msgtype": "m.text", "body": body });
        self.call(Method::PUT, &path, Some(who), Some(content)).await.map(drop)
    }

    /// Uploads the filter a receiver syncs with: room timelines of up to
    /// [`TIMELINE_LIMIT`] events, everything else as the server sends it by default.
    pub async fn sync_filter(&self, who: &Account) -> anyhow::Result<String> {
        let path = ["_matrix", "client", "v3", "user", who.user_id.as_str(), "filter"];
        let body = json!({ "room": { "timeline": { "limit": TIMELINE_LIMIT } } });
        let answer = self.call(Method::POST, &path, Some(who), Some(body)).await?;
        string_field(&answer, "filter_id")
    }

    /// One `/sync`: immediately without `since` (the initial sync), else a long-poll
    /// that answers as soon as there is something new, or after `timeout_ms`.
    /// Returns the whole answer.
    pub async fn sync(
        &self,
        who: &Account,
        filter: &str,
        since: Option<&str>,
        timeout_ms: u64,
    ) -> anyhow::Result<Value> {
        let mut url = self.url(&["_matrix", "client", "v3", "sync"])?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("filter", filter).append_pair("timeout", &timeout_ms.to_string());
            if let Some(since) = since {
                query.append_pair("since", since);
            }
        }
        let request = self.http.get(url).bearer_auth(&who.token);
        answer(request.send().await?).await
    }

    fn url(&self, segments: &[&str]) -> anyhow::Result<Url> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| anyhow::anyhow!("{} cannot be a base URL", self.base))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    async fn call(
        &self,
        method: Method,
        segments: &[&str],
        who: Option<&Account>,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self.http.request(method, self.url(segments)?);
        if let Some(who) = who {
            request = request.bearer_auth(&who.token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await?).await
    }
}

/// The JSON body of a 2xx answer; any other status is an error naming Matrix's
/// `errcode` and `error`.
async fn answer(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let url = response.url().path().to_string();
    let bytes = response.bytes().await?;
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{status} from {url}: {} {}", body["errcode"], body["error"]);
    }
    Ok(body)
}

fn string_field(value: &Value, field: &str) -> anyhow::Result<String> {
    value
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("no {field} in {value}"))
}

/// The HMAC-SHA1 (hex) that `/_synapse/admin/v1/register` expects of a non-admin
/// registration: over `nonce \0 username \0 password \0 "notadmin"`, keyed by the
/// registration shared secret.
pub fn registration_mac(secret: &str, nonce: &str, username: &str, password: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    for (i, part) in [nonce, username, password, "notadmin"].iter().enumerate() {
        if i > 0 {
            mac.update(b"\0");
        }
        mac.update(part.as_bytes());
    }
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// What a `/sync` answer holds for `room`, and the `next_batch` to sync from next.
pub fn room_sync(sync: &Value, room: &str) -> (RoomSync, Option<String>) {
    let next_batch = sync.get("next_batch").and_then(Value::as_str).map(str::to_owned);
    let timeline = &sync["rooms"]["join"][room]["timeline"];
    let bodies = timeline["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter(|e| e["type"] == "m.room.message")
                .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    (RoomSync { bodies, limited: timeline["limited"] == true }, next_batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registration_mac_is_the_one_synapse_computes() {
        // Python: hmac.new(b"s3cret", b"abc\0bench-1\0pw\0notadmin", hashlib.sha1).hexdigest()
        assert_eq!(
            registration_mac("s3cret", "abc", "bench-1", "pw"),
            "c2113ba89c00f7a9abf07fec196213d6fe235be3"
        );
    }

    #[test]
    fn reads_a_rooms_messages_out_of_a_sync() {
        let sync = json!({
            "next_batch": "s72_3",
            "rooms": { "join": {
                "!r:localhost": { "timeline": { "limited": false, "events": [
                    { "type": "m.room.member", "content": { "membership": "join" } },
                    { "type": "m.room.message", "content": { "msgtype": "m.text", "body": "one" } },
                    { "type": "m.room.message", "content": { "msgtype": "m.text", "body": "two" } },
                ] } },
                "!other:localhost": { "timeline": { "limited": true, "events": [
                    { "type": "m.room.message", "content": { "body": "elsewhere" } },
                ] } },
            } },
        });
        let (room, next) = room_sync(&sync, "!r:localhost");
        assert_eq!(room, RoomSync { bodies: vec!["one".into(), "two".into()], limited: false });
        assert_eq!(next.as_deref(), Some("s72_3"));
        let (other, _) = room_sync(&sync, "!other:localhost");
        assert!(other.limited);
        let (absent, _) = room_sync(&json!({ "next_batch": "x" }), "!r:localhost");
        assert_eq!(absent, RoomSync::default());
    }
}
