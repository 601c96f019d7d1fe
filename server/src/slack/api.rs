//! Slack's Web API, the subset that bots and scripts use, at `/api/slack/{method}`
//! (outside `/api/v1`), so that `slack_sdk.WebClient(token=…,
//! base_url="http://HOST/api/slack/")` and curl scripts written for Slack work
//! unchanged. `docs/slack-api.md` lists the methods, the arguments honoured and
//! where this differs from Slack.
//!
//! Slack's wire behaviour, kept here and nowhere else:
//! * arguments come as a form-encoded POST, a JSON POST, or a GET query (merged, the
//!   body winning); the token as `Authorization: Bearer` or a `token` argument;
//! * answers are HTTP 200 with `{"ok": true, …}` or `{"ok": false, "error": NAME}`,
//!   except `ratelimited`: 429 with `Retry-After`;
//! * ids are Confab's own (a channel's id is its `C…`-like id, a user's its `U…`-like
//!   one); a message's `ts` is [`slack_ts`] and goes back through
//!   [`App::message_by_ts`];
//! * lists page with `limit` and `response_metadata.next_cursor` (opaque base64).
//!
//! A bot token (`xoxb-…`, see [`confab_app::slack_bots`]) acts as its bot in its one
//! workspace; a session token acts as its user, in the workspace named by `team_id`
//! or else their first. Every call goes through the same `App` methods as
//! `/api/v1`, so authorisation, limits and consent are the same.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use confab_app::slack_bots::slack_ts;
use confab_app::{App, AppError, Caller};
use confab_core::{ChannelId, ErrorCode, Message, UserId, WorkspaceId};
use serde_json::{Map, Value, json};

/// Largest page of any list.
const MAX_LIMIT: usize = 1000;
/// Largest page of history (the app's own page size).
const MAX_HISTORY: usize = 200;

/// A Slack API failure: its error name, and for `ratelimited` the seconds to wait.
#[derive(Debug)]
pub struct SlackError {
    name: &'static str,
    retry_after: Option<u64>,
}

fn err(name: &'static str) -> SlackError {
    SlackError { name, retry_after: None }
}

type SlackResult<T = Value> = Result<T, SlackError>;

impl IntoResponse for SlackError {
    fn into_response(self) -> Response {
        let body = axum::Json(json!({"ok": false, "error": self.name}));
        match self.retry_after {
            Some(secs) => {
                let mut response = (StatusCode::TOO_MANY_REQUESTS, body).into_response();
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
                response
            }
            None => (StatusCode::OK, body).into_response(),
        }
    }
}

/// An app error as Slack names it; `fallback` for the codes whose Slack name depends on
/// the method (a `forbidden`, a bad field).
fn slack_error(e: AppError, fallback: &'static str) -> SlackError {
    let client = e.to_client();
    if !matches!(e, AppError::Client(_)) {
        e.log();
    }
    let name = match client.code {
        ErrorCode::RateLimited => {
            return SlackError { name: "ratelimited", retry_after: Some(client.retry_after.unwrap_or(1)) };
        }
        ErrorCode::Unauthenticated => "invalid_auth",
        ErrorCode::ChannelNotFound | ErrorCode::WorkspaceNotFound => "channel_not_found",
        ErrorCode::MessageNotFound => "message_not_found",
        ErrorCode::ChannelArchived => "is_archived",
        ErrorCode::UserNotFound => "user_not_found",
        ErrorCode::NameTaken => "name_taken",
        ErrorCode::Unavailable => "service_unavailable",
        ErrorCode::Internal => "internal_error",
        _ => fallback,
    };
    err(name)
}

/// The merged arguments of one call.
struct Args(Map<String, Value>);

impl Args {
    fn parse(query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> SlackResult<Args> {
        let mut args = Map::new();
        if let Some(q) = query {
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_str(q).map_err(|_| err("invalid_arguments"))?;
            for (k, v) in pairs {
                args.insert(k, Value::String(v));
            }
        }
        let kind = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !body.is_empty() {
            if kind.starts_with("application/json") {
                match serde_json::from_slice::<Value>(body) {
                    Ok(Value::Object(map)) => args.extend(map),
                    _ => return Err(err("invalid_json")),
                }
            } else if kind.starts_with("application/x-www-form-urlencoded") || kind.is_empty() {
                let pairs: Vec<(String, String)> =
                    serde_urlencoded::from_bytes(body).map_err(|_| err("invalid_form_data"))?;
                for (k, v) in pairs {
                    args.insert(k, Value::String(v));
                }
            } else if !kind.starts_with("multipart/") {
                return Err(err("invalid_form_data"));
            }
        }
        Ok(Args(args))
    }

    fn str(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    fn required(&self, key: &str) -> SlackResult<String> {
        self.str(key).ok_or_else(|| err("invalid_arguments"))
    }

    fn flag(&self, key: &str) -> bool {
        self.str(key).is_some_and(|v| v == "true" || v == "1")
    }

    fn limit(&self, default: usize, max: usize) -> SlackResult<usize> {
        match self.str("limit") {
            None => Ok(default),
            Some(v) => match v.parse::<usize>() {
                Ok(0) => Ok(default),
                Ok(n) => Ok(n.min(max)),
                Err(_) => Err(err("invalid_limit")),
            },
        }
    }

    /// The position a `cursor` holds (what [`next_cursor`] made), or 0.
    fn cursor(&self) -> SlackResult<u64> {
        let Some(cursor) = self.str("cursor") else { return Ok(0) };
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(cursor).map_err(|_| err("invalid_cursor"))?;
        let text = String::from_utf8(bytes).map_err(|_| err("invalid_cursor"))?;
        text.strip_prefix("next:").and_then(|n| n.parse().ok()).ok_or_else(|| err("invalid_cursor"))
    }

    fn channel(&self) -> SlackResult<ChannelId> {
        self.required("channel")?.parse().map_err(|_| err("channel_not_found"))
    }
}

fn next_cursor(position: Option<u64>) -> Value {
    let cursor = position
        .map(|p| base64::engine::general_purpose::STANDARD.encode(format!("next:{p}")))
        .unwrap_or_default();
    json!({ "next_cursor": cursor })
}

/// Who is calling, in which workspace.
struct Who {
    caller: Caller,
    ws: WorkspaceId,
    bot: bool,
    token: String,
}

fn authenticate(app: &App, headers: &HeaderMap, args: &Args) -> SlackResult<Who> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|t| t.trim().to_string());
    let token = bearer.or_else(|| args.str("token")).ok_or_else(|| err("not_authed"))?;
    if token.starts_with("xoxb-") {
        let (caller, ws) = app.authenticate_bot(&token).map_err(|_| err("invalid_auth"))?;
        return Ok(Who { caller, ws, bot: true, token });
    }
    let caller = app.authenticate(&token).map_err(|_| err("invalid_auth"))?;
    let workspaces = app.list_workspaces(caller).map_err(|e| slack_error(e, "invalid_auth"))?;
    let wanted = args.str("team_id");
    let ws = workspaces
        .iter()
        .map(|w| w.workspace.id)
        .find(|id| wanted.as_ref().is_none_or(|t| *t == id.to_string()))
        .ok_or_else(|| err(if wanted.is_some() { "team_not_found" } else { "team_access_not_granted" }))?;
    Ok(Who { caller, ws, bot: false, token })
}

/// `POST`/`GET /api/slack/{method}`.
pub async fn call(
    State(app): State<App>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = async {
        let args = Args::parse(query.as_deref(), &headers, &body)?;
        if !METHODS.contains(&method.as_str()) {
            return Err(err("unknown_method"));
        }
        let who = authenticate(&app, &headers, &args)?;
        dispatch(&app, &who, &method, &args, &headers).await
    }
    .await;
    match answer {
        Ok(Value::Object(mut map)) => {
            map.insert("ok".into(), Value::Bool(true));
            (StatusCode::OK, axum::Json(Value::Object(map))).into_response()
        }
        Ok(_) => err("internal_error").into_response(),
        Err(e) => e.into_response(),
    }
}

/// Every method served.
pub const METHODS: &[&str] = &[
    "api.test",
    "auth.test",
    "conversations.list",
    "conversations.info",
    "conversations.history",
    "conversations.replies",
    "conversations.create",
    "conversations.join",
    "conversations.members",
    "chat.postMessage",
    "chat.update",
    "chat.delete",
    "reactions.add",
    "reactions.remove",
    "reactions.get",
    "users.list",
    "users.info",
    "users.lookupByEmail",
    "search.messages",
];

/// The methods that write: in a cluster, the node that sequences their workspace
/// runs them ([`write_workspace`]).
pub const WRITES: &[&str] = &[
    "conversations.create",
    "conversations.join",
    "chat.postMessage",
    "chat.update",
    "chat.delete",
    "reactions.add",
    "reactions.remove",
];

/// The workspace a call of a writing method writes, for forwarding it to the node
/// that sequences it: its `channel`'s, or else (`conversations.create`) the
/// caller's. `None` for a read, or a call that will fail wherever it runs (it is
/// then answered here).
pub fn write_workspace(
    app: &App,
    method: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<WorkspaceId> {
    if !WRITES.contains(&method) {
        return None;
    }
    let args = Args::parse(query, headers, body).ok()?;
    if args.str("channel").is_some() {
        return app.workspace_of_channel(args.channel().ok()?);
    }
    authenticate(app, headers, &args).ok().map(|who| who.ws)
}

async fn dispatch(app: &App, who: &Who, method: &str, args: &Args, headers: &HeaderMap) -> SlackResult {
    match method {
        "api.test" => Ok(json!({ "args": Value::Object(args.0.clone()) })),
        "auth.test" => auth_test(app, who, headers),
        "conversations.list" => conversations_list(app, who, args),
        "conversations.info" => {
            let channel = channel_object(app, who, args.channel()?)?;
            Ok(json!({ "channel": channel }))
        }
        "conversations.history" => history(app, who, args),
        "conversations.replies" => replies(app, who, args),
        "conversations.create" => create(app, who, args).await,
        "conversations.join" => {
            let id = args.channel()?;
            app.join_channel(who.caller, id)
                .await
                .map_err(|e| slack_error(e, "method_not_supported_for_channel_type"))?;
            Ok(json!({ "channel": channel_object(app, who, id)? }))
        }
        "conversations.members" => members(app, who, args),
        "chat.postMessage" => post_message(app, who, args).await,
        "chat.update" => update(app, who, args).await,
        "chat.delete" => {
            let channel = args.channel()?;
            let message = by_ts(app, who, channel, &args.required("ts")?)?;
            app.delete_message(who.caller, message.id)
                .await
                .map_err(|e| slack_error(e, "cant_delete_message"))?;
            Ok(json!({ "channel": channel.to_string(), "ts": slack_ts(&message) }))
        }
        "reactions.add" | "reactions.remove" => react(app, who, args, method == "reactions.add").await,
        "reactions.get" => {
            let channel = args.channel()?;
            let message = by_ts(app, who, channel, &args.required("timestamp")?)?;
            Ok(
                json!({ "type": "message", "channel": channel.to_string(), "message": message_object(app, who, &message) }),
            )
        }
        "users.list" => users_list(app, who, args),
        "users.info" => {
            let user = args.required("user")?;
            let member = member_objects(app, who)?
                .into_iter()
                .find(|m| m["id"] == user.as_str())
                .ok_or_else(|| err("user_not_found"))?;
            Ok(json!({ "user": member }))
        }
        "users.lookupByEmail" => {
            let email = args.required("email")?;
            let caller = app.caller_by_email(&email).map_err(|_| err("users_not_found"))?;
            let member = member_objects(app, who)?
                .into_iter()
                .find(|m| m["id"] == caller.user.to_string().as_str())
                .ok_or_else(|| err("users_not_found"))?;
            Ok(json!({ "user": member }))
        }
        "search.messages" => search(app, who, args),
        _ => Err(err("unknown_method")),
    }
}

fn auth_test(app: &App, who: &Who, headers: &HeaderMap) -> SlackResult {
    let me = app.me(who.caller).map_err(|e| slack_error(e, "invalid_auth"))?;
    let team = app
        .list_workspaces(who.caller)
        .map_err(|e| slack_error(e, "invalid_auth"))?
        .into_iter()
        .find(|w| w.workspace.id == who.ws)
        .map(|w| w.workspace.name)
        .unwrap_or_default();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let mut answer = json!({
        "url": format!("http://{host}/"),
        "team": team,
        "user": me.username,
        "team_id": who.ws.to_string(),
        "user_id": me.id.to_string(),
        "is_enterprise_install": false,
    });
    if who.bot {
        answer["bot_id"] = json!(me.id.to_string());
    }
    let _ = &who.token;
    Ok(answer)
}

/// The caller's channels as Slack's conversation objects, by id.
fn conversations(app: &App, who: &Who) -> SlackResult<Vec<Value>> {
    let views = app.list_channels(who.caller, who.ws).map_err(|e| slack_error(e, "channel_not_found"))?;
    let mut out: Vec<Value> =
        views.iter().map(|v| conversation_json(&serde_json::to_value(v).unwrap_or_default(), who)).collect();
    out.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    Ok(out)
}

/// A channel view (`/api/v1`'s JSON) as Slack's conversation object.
fn conversation_json(v: &Value, who: &Who) -> Value {
    let kind = v["kind"].as_str().unwrap_or("public");
    let dm_members = v["dm_members"].as_array().cloned().unwrap_or_default();
    let is_dm = kind == "dm";
    let is_im = is_dm && dm_members.len() <= 1;
    let created = v["created_at"].as_i64().unwrap_or(0) / 1000;
    let topic = v["topic"].as_str().unwrap_or("");
    let mut c = json!({
        "id": v["id"],
        "name": v["name"],
        "is_channel": kind == "public",
        "is_group": kind == "private",
        "is_im": is_im,
        "is_mpim": is_dm && !is_im,
        "is_private": kind != "public",
        "is_archived": v["archived"].as_bool().unwrap_or(false),
        "is_general": v["name"] == "general" && kind == "public",
        "is_member": v["is_member"].as_bool().unwrap_or(false),
        "created": created,
        "creator": v["created_by"],
        "context_team_id": who.ws.to_string(),
        "topic": {"value": topic, "creator": "", "last_set": 0},
        "purpose": {"value": "", "creator": "", "last_set": 0},
        "num_members": v["member_count"],
    });
    if is_im && let Some(other) = dm_members.first() {
        c["user"] = other["id"].clone();
    }
    c
}

fn channel_object(app: &App, who: &Who, id: ChannelId) -> SlackResult {
    conversations(app, who)?
        .into_iter()
        .find(|c| c["id"] == id.to_string().as_str())
        .ok_or_else(|| err("channel_not_found"))
}

fn conversations_list(app: &App, who: &Who, args: &Args) -> SlackResult {
    let types = args.str("types").unwrap_or_else(|| "public_channel".into());
    let types: Vec<&str> = types.split(',').map(str::trim).collect();
    for t in &types {
        if !["public_channel", "private_channel", "mpim", "im"].contains(t) {
            return Err(err("invalid_types"));
        }
    }
    let exclude_archived = args.flag("exclude_archived");
    let all: Vec<Value> = conversations(app, who)?
        .into_iter()
        .filter(|c| {
            let wanted = (c["is_channel"] == true && types.contains(&"public_channel"))
                || (c["is_group"] == true && types.contains(&"private_channel"))
                || (c["is_mpim"] == true && types.contains(&"mpim"))
                || (c["is_im"] == true && types.contains(&"im"));
            wanted && !(exclude_archived && c["is_archived"] == true)
        })
        .collect();
    let (page, next) = page(all, args.cursor()?, args.limit(100, MAX_LIMIT)?);
    Ok(json!({ "channels": page, "response_metadata": next_cursor(next) }))
}

/// A page of `items` from `start`, and where the next page starts.
fn page<T>(items: Vec<T>, start: u64, limit: usize) -> (Vec<T>, Option<u64>) {
    let total = items.len();
    let start = (start as usize).min(total);
    let page: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    let end = start + page.len();
    (page, (end < total).then_some(end as u64))
}

/// Slack's name of a stored emoji (`🎉` → `tada`, `👍🏼` → `+1::skin-tone-3`).
fn reaction_name(emoji: &str) -> String {
    let Some(e) = emojis::get(emoji) else { return emoji.to_string() };
    let base = e.with_skin_tone(emojis::SkinTone::Default).unwrap_or(e);
    let name = base.shortcode().unwrap_or(emoji).to_string();
    let tone = match e.skin_tone() {
        Some(emojis::SkinTone::Light) => "::skin-tone-2",
        Some(emojis::SkinTone::MediumLight) => "::skin-tone-3",
        Some(emojis::SkinTone::Medium) => "::skin-tone-4",
        Some(emojis::SkinTone::MediumDark) => "::skin-tone-5",
        Some(emojis::SkinTone::Dark) => "::skin-tone-6",
        _ => "",
    };
    format!("{name}{tone}")
}

/// The stored emoji of a Slack reaction name (`tada`, `:tada:`, `+1::skin-tone-3`).
fn reaction_emoji(name: &str) -> Option<String> {
    let name = name.trim_matches(':');
    let (base, tone) = match name.split_once("::skin-tone-") {
        Some((base, tone)) => (base, Some(tone)),
        None => (name, None),
    };
    let e = emojis::get_by_shortcode(base)?;
    let tone = match tone {
        None => return Some(e.as_str().to_string()),
        Some("2") => emojis::SkinTone::Light,
        Some("3") => emojis::SkinTone::MediumLight,
        Some("4") => emojis::SkinTone::Medium,
        Some("5") => emojis::SkinTone::MediumDark,
        Some("6") => emojis::SkinTone::Dark,
        Some(_) => return None,
    };
    Some(e.with_skin_tone(tone).unwrap_or(e).as_str().to_string())
}

fn by_ts(app: &App, who: &Who, channel: ChannelId, ts: &str) -> SlackResult<Message> {
    match app.message_by_ts(who.caller, channel, ts) {
        Ok(m) if m.deleted => Err(err("message_not_found")),
        Ok(m) => Ok(m),
        Err(e) => Err(slack_error(e, "message_not_found")),
    }
}

/// A message as Slack's message object.
fn message_object(app: &App, who: &Who, m: &Message) -> Value {
    let ts = slack_ts(m);
    let mut v = json!({
        "type": "message",
        "user": m.author.to_string(),
        "text": m.text,
        "ts": ts,
        "team": who.ws.to_string(),
    });
    if app.is_bot(who.ws, m.author).unwrap_or(false) {
        v["bot_id"] = json!(m.author.to_string());
    }
    if let Some(id) = &m.client_msg_id
        && !id.starts_with("slack:")
    {
        v["client_msg_id"] = json!(id);
    }
    if let Some(edited) = m.edited_at {
        v["edited"] =
            json!({"user": m.author.to_string(), "ts": format!("{}.000000", edited.div_euclid(1000))});
    }
    if m.reply_count > 0 {
        v["thread_ts"] = json!(ts);
        v["reply_count"] = json!(m.reply_count);
        if let Some(last) = m.last_reply_at {
            v["latest_reply"] = json!(format!("{}.000000", last.div_euclid(1000)));
        }
    }
    if let Some(root) = m.thread_root
        && let Ok(Some(root)) = app.store().message(root)
    {
        v["thread_ts"] = json!(slack_ts(&root));
        v["parent_user_id"] = json!(root.author.to_string());
    }
    if !m.reactions.is_empty() {
        v["reactions"] = m
            .reactions
            .iter()
            .map(|r| {
                json!({
                    "name": reaction_name(&r.emoji),
                    "users": r.users.iter().map(UserId::to_string).collect::<Vec<_>>(),
                    "count": r.users.len(),
                })
            })
            .collect();
    }
    v
}

fn history(app: &App, who: &Who, args: &Args) -> SlackResult {
    let channel = args.channel()?;
    let limit = args.limit(100, MAX_HISTORY)?;
    let before = match args.cursor()? {
        0 => None,
        seq => Some(seq),
    };
    let query = serde_json::from_value(json!({ "before": before, "limit": limit }))
        .map_err(|_| err("invalid_arguments"))?;
    let page = app.history(who.caller, channel, query).map_err(|e| slack_error(e, "channel_not_found"))?;
    let oldest = args.str("oldest").and_then(|t| confab_app::slack_bots::ts_parts(&t));
    let latest = args.str("latest").and_then(|t| confab_app::slack_bots::ts_parts(&t));
    let next = page.last().filter(|m| page.len() == limit && m.seq > 1).map(|m| m.seq);
    let messages: Vec<Value> = page
        .iter()
        // Replies live in their thread (conversations.replies), as in Slack.
        .filter(|m| m.thread_root.is_none() && !m.deleted)
        .filter(|m| {
            let at = confab_app::slack_bots::ts_parts(&slack_ts(m));
            oldest.is_none_or(|o| at > Some(o)) && latest.is_none_or(|l| at <= Some(l))
        })
        .map(|m| message_object(app, who, m))
        .collect();
    Ok(json!({
        "messages": messages,
        "has_more": next.is_some(),
        "pin_count": 0,
        "response_metadata": next_cursor(next),
    }))
}

fn replies(app: &App, who: &Who, args: &Args) -> SlackResult {
    let channel = args.channel()?;
    let root = by_ts(app, who, channel, &args.required("ts")?)?;
    let thread = app.thread(who.caller, root.id).map_err(|e| slack_error(e, "thread_not_found"))?;
    let mut all = vec![thread.root];
    all.extend(thread.replies.into_iter().filter(|m| !m.deleted));
    let (page, next) = page(all, args.cursor()?, args.limit(100, MAX_LIMIT)?);
    let messages: Vec<Value> = page.iter().map(|m| message_object(app, who, m)).collect();
    Ok(json!({ "messages": messages, "has_more": next.is_some(), "response_metadata": next_cursor(next) }))
}

async fn create(app: &App, who: &Who, args: &Args) -> SlackResult {
    let name = args.required("name")?;
    if confab_core::validate::channel_name(&name).is_err() {
        return Err(err("invalid_name_specials"));
    }
    let request = serde_json::from_value(json!({ "name": name, "private": args.flag("is_private") }))
        .map_err(|_| err("invalid_arguments"))?;
    let channel = app
        .create_channel(who.caller, who.ws, request)
        .await
        .map_err(|e| slack_error(e, "restricted_action"))?;
    Ok(json!({ "channel": channel_object(app, who, channel.id)? }))
}

fn members(app: &App, who: &Who, args: &Args) -> SlackResult {
    let channel = args.channel()?;
    let views = app.channel_members(who.caller, channel).map_err(|e| slack_error(e, "channel_not_found"))?;
    let mut ids: Vec<String> = views
        .iter()
        .filter_map(|v| serde_json::to_value(v).ok())
        .filter_map(|v| {
            v["id"].as_str().or(v["user"]["id"].as_str()).or(v["user"].as_str()).map(str::to_string)
        })
        .collect();
    ids.sort();
    let (page, next) = page(ids, args.cursor()?, args.limit(100, MAX_LIMIT)?);
    Ok(json!({ "members": page, "response_metadata": next_cursor(next) }))
}

/// The text of a post: `text`, else the text of `blocks` (a JSON array, or a string
/// holding one, as form posts send it).
fn post_text(args: &Args) -> SlackResult<String> {
    if let Some(text) = args.str("text") {
        return Ok(text);
    }
    let blocks = match args.0.get("blocks") {
        Some(Value::String(s)) => serde_json::from_str(s).map_err(|_| err("invalid_blocks"))?,
        Some(v) => v.clone(),
        None => Value::Null,
    };
    let text = confab_app::slack_bots::blocks_text(&blocks);
    if text.trim().is_empty() { Err(err("no_text")) } else { Ok(text) }
}

fn check_text(app: &App, text: &str) -> SlackResult<()> {
    if text.trim().is_empty() {
        return Err(err("no_text"));
    }
    if text.chars().count() > app.config().limits.max_message_chars {
        return Err(err("msg_too_long"));
    }
    Ok(())
}

async fn post_message(app: &App, who: &Who, args: &Args) -> SlackResult {
    let channel = args.channel()?;
    let text = post_text(args)?;
    check_text(app, &text)?;
    // Slack's markup (`<@U…>`, `<!here>`, `<https://…|label>`) becomes Confab's.
    let names = |id: &confab_slack_export::SlackUserId| {
        id.as_str()
            .parse::<UserId>()
            .ok()
            .and_then(|u| app.store().user(u).ok().flatten())
            .map(|r| r.user.username)
    };
    let text = confab_slack_export::convert_markup(&text, &names);
    let thread_root = match args.str("thread_ts") {
        Some(ts) => Some(by_ts(app, who, channel, &ts).map_err(|_| err("thread_not_found"))?.id),
        None => None,
    };
    let request = serde_json::from_value(json!({ "text": text, "thread_root": thread_root }))
        .map_err(|_| err("invalid_arguments"))?;
    let message =
        app.post_message(who.caller, channel, request).await.map_err(|e| match e.to_client().code {
            ErrorCode::Forbidden => err("not_in_channel"),
            _ => slack_error(e, "invalid_arguments"),
        })?;
    Ok(json!({
        "channel": channel.to_string(),
        "ts": slack_ts(&message),
        "message": message_object(app, who, &message),
    }))
}

async fn update(app: &App, who: &Who, args: &Args) -> SlackResult {
    let channel = args.channel()?;
    let message = by_ts(app, who, channel, &args.required("ts")?)?;
    let text = post_text(args)?;
    check_text(app, &text)?;
    let edited = app
        .edit_message(who.caller, message.id, &text)
        .await
        .map_err(|e| slack_error(e, "cant_update_message"))?;
    Ok(json!({
        "channel": channel.to_string(),
        "ts": slack_ts(&edited),
        "text": edited.text,
        "message": message_object(app, who, &edited),
    }))
}

async fn react(app: &App, who: &Who, args: &Args, add: bool) -> SlackResult {
    let channel = args.channel()?;
    let message = by_ts(app, who, channel, &args.required("timestamp")?)?;
    let emoji = reaction_emoji(&args.required("name")?).ok_or_else(|| err("invalid_name"))?;
    let mine = message.reactions.iter().any(|r| r.emoji == emoji && r.users.contains(&who.caller.user));
    if add && mine {
        return Err(err("already_reacted"));
    }
    if !add && !mine {
        return Err(err("no_reaction"));
    }
    let result = if add {
        app.add_reaction(who.caller, message.id, &emoji).await
    } else {
        app.remove_reaction(who.caller, message.id, &emoji).await
    };
    result.map_err(|e| match e.to_client().code {
        ErrorCode::Forbidden => err("not_in_channel"),
        _ => slack_error(e, "invalid_name"),
    })?;
    Ok(json!({}))
}

/// The workspace's members as Slack's user objects, by id.
fn member_objects(app: &App, who: &Who) -> SlackResult<Vec<Value>> {
    let members = app.members(who.caller, who.ws).map_err(|e| slack_error(e, "user_not_found"))?;
    let mut out: Vec<Value> = members
        .iter()
        .filter_map(|m| serde_json::to_value(m).ok())
        .map(|m| {
            let id = m["id"].as_str().unwrap_or_default().to_string();
            let is_bot = id.parse::<UserId>().is_ok_and(|u| app.is_bot(who.ws, u).unwrap_or(false));
            let role = m["role"].as_str().unwrap_or("member");
            json!({
                "id": id,
                "team_id": who.ws.to_string(),
                "name": m["username"],
                "real_name": m["display_name"],
                "deleted": false,
                "is_bot": is_bot,
                "is_app_user": false,
                "is_admin": role == "admin" || role == "owner",
                "is_owner": role == "owner",
                "is_restricted": role == "guest",
                "profile": {"display_name": m["display_name"], "real_name": m["display_name"]},
            })
        })
        .collect();
    out.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    Ok(out)
}

fn users_list(app: &App, who: &Who, args: &Args) -> SlackResult {
    let (page, next) = page(member_objects(app, who)?, args.cursor()?, args.limit(100, MAX_LIMIT)?);
    Ok(json!({ "members": page, "response_metadata": next_cursor(next) }))
}

fn search(app: &App, who: &Who, args: &Args) -> SlackResult {
    // As in Slack: searching needs a user token.
    if who.bot {
        return Err(err("not_allowed_token_type"));
    }
    let query = args.required("query")?;
    let count = args.str("count").and_then(|c| c.parse::<usize>().ok()).unwrap_or(20).clamp(1, 100);
    let page_no = args.str("page").and_then(|c| c.parse::<usize>().ok()).unwrap_or(1).clamp(1, 100);
    let params =
        serde_json::from_value(json!({ "q": query, "limit": count, "offset": (page_no - 1) * count }))
            .map_err(|_| err("invalid_arguments"))?;
    let answer = app.search(who.caller, who.ws, params).map_err(|e| slack_error(e, "invalid_search"))?;
    let answer = serde_json::to_value(answer).map_err(|_| err("internal_error"))?;
    let total = answer["total"].as_u64().unwrap_or(0);
    let mut usernames: HashMap<String, String> = HashMap::new();
    let matches: Vec<Value> = answer["hits"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|hit| {
            let message: Message = serde_json::from_value(hit["message"].clone()).ok()?;
            let author = message.author.to_string();
            let username = hit["author"]["username"].as_str().unwrap_or_default().to_string();
            usernames.insert(author.clone(), username.clone());
            let mut m = message_object(app, who, &message);
            m["username"] = json!(username);
            m["channel"] = json!({"id": hit["channel"]["id"], "name": hit["channel"]["name"]});
            m["permalink"] = json!(format!("/#/messages/{}", message.id));
            Some(m)
        })
        .collect();
    let pages = total.div_ceil(count as u64).max(1);
    Ok(json!({
        "query": query,
        "messages": {
            "total": total,
            "matches": matches,
            "paging": {"count": count, "total": total, "page": page_no, "pages": pages},
            "pagination": {"total_count": total, "page": page_no, "per_page": count, "page_count": pages},
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaction_names_round_trip() {
        for name in ["tada", "+1", "+1::skin-tone-3", "wave::skin-tone-6", "heart"] {
            let emoji = reaction_emoji(name).unwrap();
            assert_eq!(reaction_name(&emoji), name, "{emoji}");
        }
        assert_eq!(reaction_emoji(":tada:").as_deref(), Some("🎉"));
        assert!(reaction_emoji("partyparrot").is_none());
    }

    #[test]
    fn pages_end_where_they_say() {
        let (first, next) = page((0..5).collect::<Vec<_>>(), 0, 2);
        assert_eq!((first, next), (vec![0, 1], Some(2)));
        let (last, next) = page((0..5).collect::<Vec<_>>(), 4, 2);
        assert_eq!((last, next), (vec![4], None));
    }
}
