//! docs/api.md against the wire types of `confab_protocol` and the router: every
//! WebSocket frame type, event kind and route is documented, nothing documented is
//! gone, and the fields of the typed bodies are the ones the documentation names. The
//! frame types and event kinds are read from the types themselves (their
//! `#[serde(tag)]`s), the routes from the router's source.

use std::collections::BTreeSet;

use confab_protocol::http;
use confab_protocol::ws::{ClientFrame, ServerFrame};
use serde::Serialize;

crate::cases!(
    every_frame_type_is_documented,
    every_event_kind_is_documented,
    every_route_is_documented,
    documented_bodies_match_the_types
);

fn api_md() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/api.md");
    std::fs::read_to_string(path).expect("docs/api.md")
}

/// Every `"type":"…"` written in the document.
fn documented_frame_types(doc: &str) -> BTreeSet<String> {
    doc.match_indices("\"type\":\"")
        .filter_map(|(i, m)| doc[i + m.len()..].split('"').next().map(str::to_string))
        .collect()
}

async fn every_frame_type_is_documented() {
    let doc = api_md();
    let documented = documented_frame_types(&doc);
    let known: BTreeSet<String> =
        ClientFrame::TYPES.iter().chain(ServerFrame::TYPES.iter()).map(|t| t.to_string()).collect();
    let missing: Vec<_> = known.difference(&documented).collect();
    assert!(missing.is_empty(), "frame types not in docs/api.md: {missing:?}");
    let gone: Vec<_> = documented.difference(&known).collect();
    assert!(gone.is_empty(), "docs/api.md documents frame types the protocol does not have: {gone:?}");
}

/// The `kind`s of `confab_core::Event`, from serde's own error for an unknown one.
fn event_kinds() -> BTreeSet<String> {
    let error = serde_json::from_str::<confab_core::Event>(r#"{"kind":"?"}"#).unwrap_err().to_string();
    let list = error.split("expected one of ").nth(1).expect("serde lists the kinds");
    list.split(',').filter_map(|k| k.split('`').nth(1)).map(str::to_string).collect()
}

async fn every_event_kind_is_documented() {
    let doc = api_md();
    let kinds = event_kinds();
    assert!(kinds.len() >= 15 && kinds.contains("message.created"), "the kinds were read: {kinds:?}");
    let listed = doc.split("Kinds: ").nth(1).and_then(|l| l.split(". ").next()).expect("the list of kinds");
    let documented: BTreeSet<String> =
        listed.split(',').filter_map(|k| k.split('`').nth(1)).map(str::to_string).collect();
    let missing: Vec<_> = kinds.difference(&documented).collect();
    assert!(missing.is_empty(), "event kinds not in docs/api.md's list: {missing:?}");
    let gone: Vec<_> = documented.difference(&kinds).collect();
    assert!(gone.is_empty(), "docs/api.md lists event kinds that do not exist: {gone:?}");
}

/// The rows of the endpoint table: the methods and the paths of the first cell, and
/// the whole row.
fn endpoint_rows(doc: &str) -> Vec<(Vec<String>, Vec<String>, String)> {
    let table = doc.split("## Endpoints").nth(1).expect("an Endpoints section");
    let table = table.split("\n## ").next().unwrap_or(table);
    table
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|row| {
            let first = row.split(" | ").next().unwrap_or(row);
            let methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
                .iter()
                .filter(|m| first.contains(&format!("`{m} ")) || first.contains(&format!("`{m}`")))
                .map(|m| m.to_string())
                .collect();
            let paths = first
                .split('`')
                .flat_map(|code| code.split(' '))
                .filter(|w| w.starts_with('/') && w.len() > 1)
                .map(|w| w.split('?').next().unwrap_or(w).to_string())
                .collect();
            (methods, paths, row.to_string())
        })
        .collect()
}

async fn every_route_is_documented() {
    let doc = api_md();
    let rows = endpoint_rows(&doc);
    let routes = confab_tests::registered_routes();
    let mut missing = Vec::new();
    for (method, path) in &routes {
        // The WebSocket has a section of its own.
        if path == "/ws" && doc.contains("## WebSocket: `GET /api/v1/ws`") {
            continue;
        }
        // Routes outside `/api/v1` (the Slack Web API) are documented elsewhere.
        if path.starts_with("/api/") {
            continue;
        }
        if !rows.iter().any(|(methods, paths, _)| methods.contains(method) && paths.contains(path)) {
            missing.push(format!("{method} {path}"));
        }
    }
    assert!(missing.is_empty(), "routes without a row in docs/api.md's endpoint table: {missing:?}");
    let registered: BTreeSet<&str> = routes.iter().map(|(_, p)| p.as_str()).collect();
    let gone: Vec<_> =
        rows.iter().flat_map(|(_, paths, _)| paths).filter(|p| !registered.contains(p.as_str())).collect();
    assert!(gone.is_empty(), "docs/api.md documents paths the server does not route: {gone:?}");
}

/// The top-level field names of a body as the protocol writes it.
fn fields(body: impl Serialize) -> Vec<String> {
    match serde_json::to_value(body).expect("serialises") {
        serde_json::Value::Object(map) => map.keys().cloned().collect(),
        other => panic!("not an object: {other}"),
    }
}

async fn documented_bodies_match_the_types() {
    let doc = api_md();
    let rows = endpoint_rows(&doc);
    let user: confab_core::UserId = "01ARZ3NDEKTSV4RRFFQ69G5FAV".parse().unwrap();
    let some = || Some(String::new());
    let message: confab_core::Message = serde_json::from_value(serde_json::json!({
        "id": user, "workspace": user, "channel": user, "seq": 1, "author": user, "text": "",
        "created_at": 0, "deleted": false, "reply_count": 0, "reactions": [], "mentions": []
    }))
    .expect("a message");
    // (method, path, every field of the request or the answer, as the types write them)
    let bodies: Vec<(&str, &str, Vec<String>)> = vec![
        (
            "POST",
            "/auth/signup",
            fields(http::SignupRequest {
                email: String::new(),
                password: String::new(),
                display_name: String::new(),
                username: some(),
                invite: some(),
            }),
        ),
        ("POST", "/auth/login", fields(http::LoginRequest { email: String::new(), password: String::new() })),
        (
            "POST",
            "/auth/password",
            fields(http::ChangePassword { current_password: String::new(), new_password: String::new() }),
        ),
        ("POST", "/auth/logout_all", fields(http::SessionsEnded { sessions_ended: 0 })),
        (
            "PATCH",
            "/me",
            fields(http::UpdateProfile {
                display_name: some(),
                status_text: some(),
                status_emoji: some(),
                time_zone: some(),
            }),
        ),
        ("POST", "/workspaces", fields(http::NameBody { name: String::new() })),
        ("GET", "/workspaces", fields(http::Workspaces { workspaces: vec![] })),
        (
            "POST",
            "/workspaces/{ws}/invites",
            fields(http::CreateInvite {
                max_uses: Some(1),
                expires_in_hours: Some(1),
                role: Some(confab_core::Role::Member),
            }),
        ),
        ("GET", "/workspaces/{ws}/invites", fields(http::Invites { invites: vec![] })),
        ("GET", "/workspaces/{ws}/members", fields(http::Members { members: vec![] })),
        (
            "PATCH",
            "/workspaces/{ws}/members/{user}",
            fields(http::RoleBody { role: confab_core::Role::Member }),
        ),
        ("GET", "/workspaces/{ws}/presence", fields(http::PresenceList { presence: vec![] })),
        (
            "GET",
            "/workspaces/{ws}/presence",
            fields(http::PresenceEntry { user, status: confab_core::Presence::Away }),
        ),
        ("GET", "/workspaces/{ws}/channels", fields(http::Channels { channels: vec![] })),
        (
            "POST",
            "/workspaces/{ws}/channels",
            fields(http::CreateChannel { name: String::new(), private: false, topic: String::new() }),
        ),
        ("POST", "/workspaces/{ws}/dms", fields(http::DmRequest { users: vec![] })),
        (
            "PATCH",
            "/channels/{ch}",
            fields(http::UpdateChannel { name: some(), topic: some(), archived: Some(true) }),
        ),
        ("GET", "/channels/{ch}/members", fields(http::ChannelMembers { members: vec![] })),
        ("POST", "/channels/{ch}/members", fields(http::UserBody { user })),
        ("GET", "/channels/{ch}/messages", fields(http::Messages { messages: vec![] })),
        (
            "GET",
            "/channels/{ch}/messages",
            fields(http::HistoryQuery { before: Some(1), after: Some(1), limit: Some(1) }),
        ),
        (
            "POST",
            "/channels/{ch}/messages",
            fields(http::PostMessage {
                text: String::new(),
                thread_root: Some("01ARZ3NDEKTSV4RRFFQ69G5FAV".parse().unwrap()),
                client_msg_id: some(),
            }),
        ),
        (
            "POST",
            "/channels/{ch}/files",
            fields(http::FilePosted {
                file: confab_core::FileInfo {
                    id: confab_core::FileId::from_bytes(user.to_bytes()),
                    name: String::new(),
                    size: 0,
                    content_type: String::new(),
                },
                files: Vec::new(),
                message: message.clone(),
            }),
        ),
        ("POST", "/channels/{ch}/read", fields(http::ReadMarker { seq: 1 })),
        ("POST", "/messages/{id}/thread/read", fields(http::ReadMarker { seq: 1 })),
        (
            "GET",
            "/workspaces/{ws}/activity",
            fields(http::ActivityQuery { before: Some(message.id), limit: Some(1) }),
        ),
        (
            "GET",
            "/workspaces/{ws}/activity",
            fields(http::ActivityPage { items: vec![], next: Some(message.id) }),
        ),
        (
            "GET",
            "/workspaces/{ws}/activity",
            fields(http::ActivityItem { message: message.clone(), mention: true, reply: true, unread: true }),
        ),
        ("GET", "/workspaces/{ws}/saved", fields(http::SavedQuery { limit: Some(1), offset: Some(1) })),
        ("GET", "/workspaces/{ws}/saved", fields(http::SavedPage { items: vec![], total: 0 })),
        ("GET", "/workspaces/{ws}/saved", fields(http::SavedItem { message: message.clone(), saved_at: 0 })),
        ("GET", "/channels/{ch}/pins", fields(http::Pins { pins: vec![] })),
        (
            "GET",
            "/channels/{ch}/pins",
            fields(http::PinnedMessage { message: message.clone(), pinned_by: user, pinned_at: 0 }),
        ),
        (
            "PUT",
            "/channels/{ch}/notifications",
            fields(http::NotifyBody { level: confab_core::NotifyLevel::Mute }),
        ),
        ("GET", "/workspaces/{ws}/threads", fields(http::ThreadsQuery { limit: Some(1), offset: Some(1) })),
        ("GET", "/workspaces/{ws}/threads", fields(http::Threads { threads: vec![], total: 0 })),
        (
            "GET",
            "/workspaces/{ws}/threads",
            fields(http::ThreadSummary {
                root: message.clone(),
                latest_replies: vec![],
                last_read_seq: 0,
                unread_replies: 0,
                unread_mentions: 0,
            }),
        ),
        ("PATCH", "/messages/{id}", fields(http::TextBody { text: String::new() })),
        (
            "GET",
            "/workspaces/{ws}/search",
            fields(http::SearchParams::<()> {
                q: String::new(),
                limit: Some(1),
                offset: Some(1),
                sort: Some(()),
            }),
        ),
        (
            "GET",
            "/workspaces/{ws}/search",
            fields(http::SearchAnswer::<()> {
                query_id: String::new(),
                total: 0,
                partial: false,
                hits: vec![],
            }),
        ),
        (
            "GET",
            "/workspaces/{ws}/search",
            fields(http::SearchHit::<()> {
                message: message.clone(),
                channel: http::ChannelRef {
                    id: message.channel,
                    name: String::new(),
                    kind: confab_core::ChannelKind::Public,
                },
                author: confab_core::UserProfile {
                    id: user,
                    username: String::new(),
                    display_name: String::new(),
                    details: Default::default(),
                },
                snippet: vec![],
                score: 0.0,
                thread_root: Some(message.clone()),
            }),
        ),
        (
            "POST",
            "/workspaces/{ws}/search/clicks",
            fields(http::SearchClick {
                query_id: String::new(),
                message: "01ARZ3NDEKTSV4RRFFQ69G5FAV".parse().unwrap(),
            }),
        ),
        (
            "GET",
            "/workspaces/{ws}/emoji/suggest",
            fields(http::EmojiParams { prefix: some(), text: some(), limit: Some(1) }),
        ),
        (
            "GET",
            "/workspaces/{ws}/channels/suggested",
            fields(http::Suggestions::<()> { suggestions: vec![] }),
        ),
        ("GET", "/workspaces/{ws}/channels/suggested", fields(http::LimitParams { limit: Some(1) })),
        ("GET", "/consent/policies", fields(http::Policies::<()> { policies: vec![] })),
        ("GET", "/workspaces/{ws}/models", fields(http::Models::<()> { models: vec![] })),
        ("POST", "/admin/train", fields(http::TrainRequest { purpose: some(), dry_run: true })),
        ("POST", "/admin/train", fields(http::Runs::<()> { runs: vec![] })),
        (
            "GET",
            "/features",
            fields(http::Features {
                search: true,
                emoji_suggest: true,
                channel_suggest: true,
                consent: true,
                max_message_chars: 1,
            }),
        ),
        ("GET", "/workspaces/{ws}/consent/preview", fields(http::PurposeParams { purpose: String::new() })),
        (
            "PUT",
            "/workspaces/{ws}/consent/{purpose}",
            fields(http::ConsentChange::<(), (), ()> {
                granted: true,
                scope: Some(()),
                categories: Some(vec![]),
                members: Some(()),
                policy_version: Some(1),
                policy_sha256: some(),
                accept: Some(true),
            }),
        ),
        ("PUT", "/workspaces/{ws}/consent/{purpose}/me", fields(http::IncludedBody { included: true })),
    ];
    let mut wrong = Vec::new();
    for (method, path, names) in bodies {
        let row = rows
            .iter()
            .find(|(methods, paths, _)| {
                methods.iter().any(|m| m == method) && paths.iter().any(|p| p == path)
            })
            .map(|(_, _, row)| row.as_str())
            .unwrap_or_else(|| panic!("no row for {method} {path}"));
        // The documented body or answer: every word of it that could be a field.
        let words: BTreeSet<&str> =
            row.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).collect();
        for name in names {
            if !words.contains(name.as_str()) {
                wrong.push(format!("{method} {path}: field `{name}` is not in its row"));
            }
        }
    }
    assert!(wrong.is_empty(), "docs/api.md and confab_protocol::http disagree:\n{}", wrong.join("\n"));
}
