//! Bots and incoming webhooks, the two ways Slack integrations post.
//!
//! * **A bot** is an account (`is_bot`) that is a member of exactly one workspace,
//!   with a token shaped like Slack's (`xoxb-<workspace>-<secret>`) that Slack's Web
//!   API (`/api/slack/`) accepts. Only the token's SHA-256 is stored; revoking the bot
//!   deletes it, so the token stops working at once. A bot reads and posts only where
//!   its membership lets it (it joins channels like anyone), so it cannot reach
//!   another workspace.
//! * **An incoming webhook** is a per-channel URL with a secret in it
//!   (`/api/v1/hooks/<workspace>/<id>/<secret>`) that takes Slack's payload (`text`,
//!   `blocks` as text, `username`, `icon_emoji`, `thread_ts`). Each webhook posts as
//!   its own bot account, limited per webhook (`slack.webhook_posts_per_minute`) on
//!   top of the usual message rate.
//!
//! Owners and admins create, list and revoke both. Their messages are ordinary
//! messages: the same consent rules apply to them as to any other.

use base64::Engine;
use confab_core::{
    ChannelId, ChannelKind, Error, ErrorCode, Message, Millis, Role, User, UserId, WorkspaceId,
};
use confab_store::{Batch, Op, UserRecord};
use governor::{DefaultKeyedRateLimiter, Quota};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{AppError, Result};
use crate::{App, Caller, PostMessage, new_ulid, now_ms};
#[cfg(test)]
use confab_core::MessageId;

const BOTS: &str = "slack_bots";
const WEBHOOKS: &str = "slack_webhooks";
/// The domain of bots' placeholder emails (a reserved TLD: never delivered).
const BOT_DOMAIN: &str = "bots.invalid";
/// A bot account has no password.
const NO_PASSWORD: &str = "bot:no-password";

/// A bot as its workspace's admins see it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Bot {
    /// The bot's account.
    pub id: UserId,
    pub workspace: WorkspaceId,
    pub name: String,
    pub username: String,
    pub is_bot: bool,
    pub created_by: UserId,
    pub created_at: Millis,
}

/// A new bot and its token (shown once).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewBot {
    pub bot: Bot,
    pub token: String,
}

/// An incoming webhook as its workspace's admins see it (the URL's secret is not in
/// it: it is shown once, at creation).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Webhook {
    pub id: String,
    pub workspace: WorkspaceId,
    pub channel: ChannelId,
    /// The account it posts as.
    pub bot: UserId,
    pub created_by: UserId,
    pub created_at: Millis,
}

#[derive(Serialize, Deserialize)]
struct WebhookRecord {
    #[serde(flatten)]
    hook: Webhook,
    /// SHA-256 of the URL's secret, hex.
    secret_sha256: String,
}

/// A new webhook: its id and the URL path to post to (shown once).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewWebhook {
    pub id: String,
    pub webhook: Webhook,
    /// `/api/v1/hooks/<workspace>/<id>/<secret>`; the server prefixes its address.
    pub path: String,
}

/// Slack's incoming-webhook payload.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct WebhookPayload {
    #[serde(default)]
    pub text: Option<String>,
    /// Block Kit blocks: their text is posted.
    #[serde(default)]
    pub blocks: Option<serde_json::Value>,
    /// Attachments: their `fallback` (else `text`) is posted when there is no text.
    #[serde(default)]
    pub attachments: Option<serde_json::Value>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub icon_emoji: Option<String>,
    #[serde(default)]
    pub thread_ts: Option<String>,
    /// Accepted for compatibility; the webhook's channel is fixed.
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub icon_url: Option<String>,
    #[serde(default)]
    pub mrkdwn: Option<bool>,
    #[serde(default)]
    pub unfurl_links: Option<bool>,
}

/// Per-webhook post limits.
pub(crate) struct HookLimiter(DefaultKeyedRateLimiter<String>);

impl HookLimiter {
    pub(crate) fn new(config: &crate::slack_import::SlackConfig) -> Self {
        let per_minute = std::num::NonZeroU32::new(config.webhook_posts_per_minute.max(1))
            .unwrap_or(std::num::NonZeroU32::MIN);
        let burst =
            std::num::NonZeroU32::new(config.webhook_burst.max(1)).unwrap_or(std::num::NonZeroU32::MIN);
        HookLimiter(DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)))
    }
}

/// A bot account's placeholder email: its own id at [`BOT_DOMAIN`] (the import
/// gives Slack's bots and integrations theirs too, so that they show as bots).
pub(crate) fn bot_email(id: UserId) -> String {
    format!("{}@{BOT_DOMAIN}", id.to_string().to_lowercase())
}

/// Whether an account is a bot's or a webhook's (revoked or not). Its email is its own
/// id at [`BOT_DOMAIN`], which nobody signing up can choose (the id is made after the
/// email is given), so a person who signs up as `someone@bots.invalid` is no bot.
pub(crate) fn is_bot_account(user: &User) -> bool {
    user.email == bot_email(user.id)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn bot_token_key(token: &str) -> Vec<u8> {
    format!("token:{}", sha256_hex(token.as_bytes())).into_bytes()
}

fn invalid_auth() -> AppError {
    Error::new(ErrorCode::Unauthenticated, "invalid_auth").into()
}

fn hook_not_found() -> AppError {
    Error::new(ErrorCode::NotFound, "no such webhook").into()
}

/// Text of Slack Block Kit blocks (section, header, context, rich text), one block a
/// line.
pub fn blocks_text(blocks: &serde_json::Value) -> String {
    fn collect(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                // A block's own text first, then its fields and elements.
                match map.get("text") {
                    Some(serde_json::Value::String(t)) => out.push(t.clone()),
                    Some(inner) => collect(inner, out),
                    None => {}
                }
                for (k, inner) in map {
                    if k != "text" {
                        collect(inner, out);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
            _ => {}
        }
    }
    let mut lines = Vec::new();
    if let serde_json::Value::Array(blocks) = blocks {
        for block in blocks {
            let mut parts = Vec::new();
            collect(block, &mut parts);
            let line = parts.join(if block["type"] == "rich_text" { "" } else { " " });
            if !line.trim().is_empty() {
                lines.push(line);
            }
        }
    }
    lines.join("\n")
}

impl App {
    fn require_admin(&self, caller: Caller, ws: WorkspaceId) -> Result<()> {
        let state = self.workspace(ws)?;
        let role = state.read().require_member(caller.user)?;
        if !role.is_admin() {
            return Err(Error::forbidden("only owners and admins manage bots and webhooks").into());
        }
        Ok(())
    }

    fn slack_blob_count(&self, ws: WorkspaceId, namespace: &str, prefix: &[u8]) -> Result<usize> {
        Ok(self.store().blob_keys(ws, namespace)?.iter().filter(|k| k.starts_with(prefix)).count())
    }

    /// Creates a bot's account (the caller makes it a member).
    async fn create_bot_account(&self, name: &str) -> Result<User> {
        let display_name = self.limits().display_name(name)?.to_string();
        let base = crate::auth::username_base(&display_name, "bot");
        let user = {
            let _guard = self.inner.signup_lock.lock();
            let username = self.first_free_username(&base, |_| false)?;
            let id = UserId::from_ulid(new_ulid());
            let user = User {
                id,
                email: bot_email(id),
                username,
                display_name,
                instance_admin: false,
                created_at: now_ms(),
                details: Default::default(),
            };
            let mut batch = Batch::new();
            batch
                .push(Op::PutUser(UserRecord { user: user.clone(), password_hash: NO_PASSWORD.to_string() }));
            self.store().apply(batch).map_err(|e| self.store_write_failed(e))?;
            user
        };
        self.inner.committer.enqueue(Vec::new()).wait().await?;
        Ok(user)
    }

    /// `POST /workspaces/{ws}/bots`: a bot and its token (owners and admins).
    pub async fn create_bot(&self, caller: Caller, ws: WorkspaceId, name: &str) -> Result<NewBot> {
        self.check_write_rate(caller.user)?;
        self.require_admin(caller, ws)?;
        let max = self.config().slack.max_bots_per_workspace;
        if self.slack_blob_count(ws, BOTS, b"bot:")? >= max {
            return Err(
                Error::new(ErrorCode::QuotaExceeded, format!("a workspace has at most {max} bots")).into()
            );
        }
        let user = self.create_bot_account(name).await?;
        let token = format!("xoxb-{ws}-{}", random_secret());
        let bot = Bot {
            id: user.id,
            workspace: ws,
            name: user.display_name.clone(),
            username: user.username.clone(),
            is_bot: true,
            created_by: caller.user,
            created_at: now_ms(),
        };
        let value = serde_json::to_vec(&bot)?;
        let ((), durable) = self.write(ws, |state, tx| {
            state.require_member(caller.user)?;
            tx.op(Op::PutBlob {
                workspace: ws,
                namespace: BOTS,
                key: format!("bot:{}", user.id).into_bytes(),
                value: value.clone(),
            });
            tx.op(Op::PutBlob {
                workspace: ws,
                namespace: BOTS,
                key: bot_token_key(&token),
                value: user.id.to_string().into_bytes(),
            });
            Self::stage_member_joined(state, tx, user.id, Role::Member);
            Ok(())
        })?;
        self.hub().add_workspace(user.id, ws);
        durable.wait().await?;
        Ok(NewBot { bot, token })
    }

    /// Every bot of the workspace (owners and admins).
    pub fn bots(&self, caller: Caller, ws: WorkspaceId) -> Result<Vec<Bot>> {
        self.require_admin(caller, ws)?;
        self.all_bots(ws)
    }

    /// Every bot of the workspace, for anyone who may list its members.
    pub(crate) fn all_bots(&self, ws: WorkspaceId) -> Result<Vec<Bot>> {
        let mut bots = Vec::new();
        for (key, value) in self.store().blobs(ws, BOTS)? {
            if key.starts_with(b"bot:") {
                bots.push(serde_json::from_slice::<Bot>(&value)?);
            }
        }
        Ok(bots)
    }

    /// Whether `user` is a bot account (of a bot or a webhook) of `ws`.
    pub fn is_bot(&self, ws: WorkspaceId, user: UserId) -> Result<bool> {
        Ok(self.store().blob(ws, BOTS, format!("bot:{user}").as_bytes())?.is_some()
            || self.store().user(user)?.is_some_and(|u| is_bot_account(&u.user)))
    }

    /// Revokes a bot: its token stops working at once (its messages stay).
    pub async fn revoke_bot(&self, caller: Caller, ws: WorkspaceId, bot: UserId) -> Result<()> {
        self.check_write_rate(caller.user)?;
        self.require_admin(caller, ws)?;
        let key = format!("bot:{bot}").into_bytes();
        if self.store().blob(ws, BOTS, &key)?.is_none() {
            return Err(Error::new(ErrorCode::UserNotFound, "no such bot").into());
        }
        let tokens: Vec<Vec<u8>> = self
            .store()
            .blobs(ws, BOTS)?
            .into_iter()
            .filter(|(k, v)| k.starts_with(b"token:") && v == bot.to_string().as_bytes())
            .map(|(k, _)| k)
            .collect();
        let ((), durable) = self.write(ws, |_, tx| {
            tx.op(Op::DeleteBlob { workspace: ws, namespace: BOTS, key: key.clone() });
            for token in &tokens {
                tx.op(Op::DeleteBlob { workspace: ws, namespace: BOTS, key: token.clone() });
            }
            Ok(())
        })?;
        durable.wait().await
    }

    /// The caller a bot token (`xoxb-<workspace>-<secret>`) stands for, with its
    /// workspace; `unauthenticated` for anything else.
    pub fn authenticate_bot(&self, token: &str) -> Result<(Caller, WorkspaceId)> {
        let rest = token.strip_prefix("xoxb-").ok_or_else(invalid_auth)?;
        if token.len() > 128 {
            return Err(invalid_auth());
        }
        let (ws, _) = rest.split_once('-').ok_or_else(invalid_auth)?;
        let ws: WorkspaceId = ws.parse().map_err(|_| invalid_auth())?;
        if self.store().workspace(ws)?.is_none() {
            return Err(invalid_auth());
        }
        let user = self.store().blob(ws, BOTS, &bot_token_key(token))?.ok_or_else(invalid_auth)?;
        let user: UserId =
            String::from_utf8_lossy(&user).parse().map_err(|_| AppError::from(Error::internal()))?;
        Ok((Caller { user, instance_admin: false }, ws))
    }

    /// `POST /workspaces/{ws}/webhooks`: an incoming webhook into `channel` (owners
    /// and admins; the channel must be one the caller may read, and not a DM).
    pub async fn create_webhook(
        &self,
        caller: Caller,
        ws: WorkspaceId,
        channel: ChannelId,
    ) -> Result<NewWebhook> {
        self.check_write_rate(caller.user)?;
        self.require_admin(caller, ws)?;
        let max = self.config().slack.max_webhooks_per_workspace;
        if self.store().blob_keys(ws, WEBHOOKS)?.len() >= max {
            return Err(Error::new(
                ErrorCode::QuotaExceeded,
                format!("a workspace has at most {max} webhooks"),
            )
            .into());
        }
        let name = {
            let state = self.workspace(ws)?;
            let state = state.read();
            let ch = state.readable_channel(caller.user, channel)?;
            if ch.kind == ChannelKind::Dm {
                return Err(
                    Error::invalid_field("channel", "a webhook posts into a channel, not a DM").into()
                );
            }
            format!("webhook-{}", ch.name)
        };
        let user = self.create_bot_account(&name).await?;
        let id = new_ulid().to_string();
        let secret = random_secret();
        let webhook = Webhook {
            id: id.clone(),
            workspace: ws,
            channel,
            bot: user.id,
            created_by: caller.user,
            created_at: now_ms(),
        };
        let record = serde_json::to_vec(&WebhookRecord {
            hook: webhook.clone(),
            secret_sha256: sha256_hex(secret.as_bytes()),
        })?;
        let ((), durable) = self.write(ws, |state, tx| {
            state.readable_channel(caller.user, channel)?;
            tx.op(Op::PutBlob {
                workspace: ws,
                namespace: WEBHOOKS,
                key: id.clone().into_bytes(),
                value: record.clone(),
            });
            Self::stage_member_joined(state, tx, user.id, Role::Member);
            Self::stage_channel_join(state, tx, channel, user.id);
            Ok(())
        })?;
        self.hub().add_workspace(user.id, ws);
        durable.wait().await?;
        Ok(NewWebhook { id: id.clone(), webhook, path: format!("/api/v1/hooks/{ws}/{id}/{secret}") })
    }

    /// The workspace's webhooks (owners and admins).
    pub fn webhooks(&self, caller: Caller, ws: WorkspaceId) -> Result<Vec<Webhook>> {
        self.require_admin(caller, ws)?;
        let mut hooks = Vec::new();
        for (_, value) in self.store().blobs(ws, WEBHOOKS)? {
            hooks.push(serde_json::from_slice::<WebhookRecord>(&value)?.hook);
        }
        Ok(hooks)
    }

    /// Revokes a webhook: its URL stops working at once.
    pub async fn revoke_webhook(&self, caller: Caller, ws: WorkspaceId, id: &str) -> Result<()> {
        self.check_write_rate(caller.user)?;
        self.require_admin(caller, ws)?;
        if id.len() > 64 || self.store().blob(ws, WEBHOOKS, id.as_bytes())?.is_none() {
            return Err(hook_not_found());
        }
        let ((), durable) = self.write(ws, |_, tx| {
            tx.op(Op::DeleteBlob { workspace: ws, namespace: WEBHOOKS, key: id.as_bytes().to_vec() });
            Ok(())
        })?;
        durable.wait().await
    }

    /// Posts a webhook payload. Anyone with the URL may call it: a wrong id or secret
    /// answers `not_found`, costing one hash.
    pub async fn post_webhook(
        &self,
        ws: &str,
        id: &str,
        secret: &str,
        payload: WebhookPayload,
    ) -> Result<Message> {
        if ws.len() > 32 || id.len() > 32 || secret.len() > 64 {
            return Err(hook_not_found());
        }
        let ws: WorkspaceId = ws.parse().map_err(|_| hook_not_found())?;
        if self.store().workspace(ws)?.is_none() {
            return Err(hook_not_found());
        }
        let record = self.store().blob(ws, WEBHOOKS, id.as_bytes())?.ok_or_else(hook_not_found)?;
        let record: WebhookRecord = serde_json::from_slice(&record)?;
        let given = sha256_hex(secret.as_bytes());
        if !constant_time_eq(given.as_bytes(), record.secret_sha256.as_bytes()) {
            return Err(hook_not_found());
        }
        if let Err(not_until) = self.inner.slack_hooks.0.check_key(&record.hook.id) {
            let wait = not_until
                .wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
            return Err(Error::rate_limited(wait.as_secs() + 1).into());
        }
        let mut text = payload.text.clone().unwrap_or_default();
        if text.trim().is_empty()
            && let Some(blocks) = &payload.blocks
        {
            text = blocks_text(blocks);
        }
        if text.trim().is_empty()
            && let Some(serde_json::Value::Array(attachments)) = &payload.attachments
        {
            text = attachments
                .iter()
                .filter_map(|a| a["fallback"].as_str().or(a["text"].as_str()))
                .collect::<Vec<_>>()
                .join("\n");
        }
        if text.trim().is_empty() {
            return Err(Error::invalid_field("text", "no_text").into());
        }
        let text = confab_slack_export::convert_markup(&text, &|_: &confab_slack_export::SlackUserId| None);
        let mut prefix = String::new();
        if let Some(icon) = payload.icon_emoji.as_deref().filter(|i| !i.is_empty()) {
            prefix.push_str(icon);
            prefix.push(' ');
        }
        if let Some(name) = payload.username.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            prefix.push_str(&format!("*{}*: ", name.chars().take(80).collect::<String>()));
        }
        let caller = Caller { user: record.hook.bot, instance_admin: false };
        let thread_root = match payload.thread_ts.as_deref() {
            Some(ts) => Some(self.message_by_ts(caller, record.hook.channel, ts)?.id),
            None => None,
        };
        self.post_message(
            caller,
            record.hook.channel,
            PostMessage { text: format!("{prefix}{text}"), thread_root, client_msg_id: None },
        )
        .await
    }

    /// The message of a channel a Slack `ts` names (see [`slack_ts`]).
    pub fn message_by_ts(&self, caller: Caller, channel: ChannelId, ts: &str) -> Result<Message> {
        let not_found = || AppError::from(Error::new(ErrorCode::MessageNotFound, "message_not_found"));
        let (secs, frac) = ts.split_once('.').ok_or_else(not_found)?;
        if secs.len() > 12 || frac.len() != 6 {
            return Err(not_found());
        }
        let secs: i64 = secs.parse().map_err(|_| not_found())?;
        let low: u64 = frac.parse().map_err(|_| not_found())?;
        let ws = self.channel_workspace(channel)?;
        let last = {
            let state = self.workspace(ws)?;
            let state = state.read();
            state.readable_channel(caller.user, channel)?.last_seq
        };
        // seq ≡ low (mod 10⁶), and the second matches.
        let mut seq = low;
        while seq <= last {
            if seq > 0
                && let Some(m) = self.store().message_at(channel, seq)?
                && m.created_at.div_euclid(1000) == secs
            {
                return Ok(m);
            }
            seq += TS_SEQ_MODULUS;
        }
        Err(not_found())
    }
}

/// Sequence numbers wrap in a `ts`'s fraction at this modulus.
const TS_SEQ_MODULUS: u64 = 1_000_000;

/// A message's Slack `ts`: its second, then its `seq` modulo 10⁶ as the fraction.
/// Unique per channel (two messages of a channel with the same second and the same
/// `seq` modulo a million cannot exist), near the message's time (within a second),
/// ordered like the channel's history within a second, and it round-trips
/// ([`App::message_by_ts`]).
pub fn slack_ts(message: &Message) -> String {
    format!("{}.{:06}", message.created_at.div_euclid(1000), message.seq % TS_SEQ_MODULUS)
}

/// The id a `ts` string refers to, without the store: for tests and clients.
pub fn ts_parts(ts: &str) -> Option<(i64, u64)> {
    let (secs, frac) = ts.split_once('.')?;
    Some((secs.parse().ok()?, frac.parse().ok()?))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_become_their_text() {
        let blocks = serde_json::json!([
            {"type": "header", "text": {"type": "plain_text", "text": "Deploy"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "*prod* is green"},
             "fields": [{"type": "mrkdwn", "text": "v1.2"}]},
            {"type": "divider"},
            {"type": "rich_text", "elements": [{"type": "rich_text_section",
              "elements": [{"type": "text", "text": "hello "}, {"type": "text", "text": "world"}]}]}
        ]);
        assert_eq!(blocks_text(&blocks), "Deploy\n*prod* is green v1.2\nhello world");
    }

    #[test]
    fn ts_is_second_and_seq() {
        let mut m = Message {
            id: MessageId::from_ulid(new_ulid()),
            workspace: WorkspaceId::from_ulid(new_ulid()),
            channel: ChannelId::from_ulid(new_ulid()),
            seq: 1_000_042,
            author: UserId::from_ulid(new_ulid()),
            text: String::new(),
            created_at: 1_577_836_810_999,
            edited_at: None,
            deleted: false,
            thread_root: None,
            reply_count: 0,
            last_reply_at: None,
            reactions: vec![],
            mentions: vec![],
            client_msg_id: None,
            files: vec![],
        };
        assert_eq!(slack_ts(&m), "1577836810.000042");
        m.seq = 7;
        assert_eq!(ts_parts(&slack_ts(&m)), Some((1_577_836_810, 7)));
    }
}
