//! Retention removes expired messages everywhere — the store, the search index and
//! what training reads — in bounded batches, and a channel's own policy overrides
//! its workspace's. The pass is run "eight days later" by giving it that time.

use std::sync::Arc;

use confab_app::lifecycle::SetRetention;
use confab_app::{Caller, CreateChannel, PostMessage};
use confab_consent::Purpose;
use confab_core::{ChannelId, ErrorCode};
use confab_store::{Direction, Store};
use confab_training::NoiseSource;

use crate::support::hits;

const DAY_MS: i64 = 86_400_000;

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn days(n: Option<i64>) -> SetRetention {
    SetRetention { days: n }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_expired_messages_everywhere_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = crate::support::sled_store(dir.path());
    let mut config = crate::support::config();
    config.lifecycle.retention_batch = 3;
    config.training.min_users_per_word = 2;
    let app = crate::support::open(store.clone(), config, dir.path());
    let (ada, _) = crate::support::person(&app, 0).await;
    let (bob, _) = crate::support::person(&app, 1).await;
    let ws = app.create_workspace(ada, "Retention").await.unwrap().workspace.id;
    let invite = app.create_invite(ada, ws, Default::default()).await.unwrap();
    app.accept_invite(bob, &invite.code).await.unwrap();
    let general =
        app.list_channels(ada, ws).unwrap().into_iter().find(|c| c.channel.name == "general").unwrap();
    let general: ChannelId = general.channel.id;
    let archive = CreateChannel { name: "archive".into(), private: false, topic: String::new() };
    let archive = app.create_channel(ada, ws, archive).await.unwrap().id;

    // Policies: owners and admins only, validated.
    assert_eq!(app.workspace_retention(bob, ws).unwrap().days, None, "for ever by default");
    let refused = app.set_workspace_retention(bob, ws, days(Some(7))).await.unwrap_err();
    assert_eq!(refused.code(), ErrorCode::Forbidden);
    for bad in [-1, 0, 36_501] {
        let refused = app.set_workspace_retention(ada, ws, days(Some(bad))).await.unwrap_err();
        assert_eq!(refused.code(), ErrorCode::InvalidField, "{bad}");
    }
    assert_eq!(app.set_workspace_retention(ada, ws, days(Some(7))).await.unwrap().days, Some(7));
    let kept = app.set_channel_retention(ada, archive, days(Some(365))).await.unwrap();
    assert_eq!((kept.days, kept.set, kept.effective_days), (Some(365), true, Some(365)));
    let inherited = app.channel_retention(bob, general).unwrap();
    assert_eq!((inherited.days, inherited.set, inherited.effective_days), (None, false, Some(7)));

    let post = |author: Caller, channel: ChannelId, text: String| {
        let app = app.clone();
        async move {
            let post = PostMessage { text, thread_root: None, client_msg_id: None };
            app.post_message(author, channel, post).await.unwrap()
        }
    };
    for i in 0..5 {
        for author in [ada, bob] {
            let m = post(author, general, format!("quokka sighting {i}")).await;
            app.add_reaction(if author == ada { bob } else { ada }, m.id, "tada").await.unwrap();
        }
        post(ada, archive, format!("wombat minutes {i}")).await;
    }
    let mut upload = app.begin_upload(bob, general).unwrap();
    upload.write(b"field notes about quokkas").unwrap();
    let (file, _) =
        app.post_file(bob, upload, "notes.txt", "quokka notes attached".into(), None).await.unwrap();
    assert!(app.file(ada, file.id).is_ok());
    assert_eq!(hits(&app, bob, ws, "quokka", 11).await, 11);
    assert_eq!(hits(&app, bob, ws, "wombat", 5).await, 5);

    // Training before expiry reads them, and the manifest records the cut-off.
    let grant = crate::support::emoji_grant();
    app.change_consent(ada, ws, "emoji_suggestions", grant).await.unwrap();
    let preview = app.consent_preview(ada, ws, "emoji_suggestions").unwrap();
    assert_eq!(preview.for_workspace(ws).unwrap().messages().len(), 16);
    let before = now();
    let runs = app
        .run_training(
            confab_app::models::scheduler(),
            &[Purpose::EmojiSuggestions],
            false,
            NoiseSource::Seeded(1),
        )
        .await
        .unwrap();
    let contributor = &runs[0].models[0].contributors[0];
    let cutoff = contributor.retention_cutoff.expect("the manifest records the retention cut-off");
    assert!((before - 7 * DAY_MS - cutoff).abs() < 60_000, "seven days before the run: {cutoff}");

    // Eight days later: #general's messages have expired, #archive's have not.
    let later = before + 8 * DAY_MS;
    let report = app.enforce_retention(later).await.unwrap();
    assert_eq!((report.messages_deleted, report.workspaces), (11, 1));
    assert!(app.file(ada, file.id).is_err(), "its file went with it");
    let contents: Vec<_> = walk(&dir.path().join("files"));
    assert!(contents.is_empty(), "and the file's content: {contents:?}");
    let stored = |channel| store.messages(channel, Direction::Forward { after: 0 }, 100).unwrap();
    assert!(stored(general).iter().all(|m| m.deleted && m.text.is_empty() && m.reactions.is_empty()));
    assert!(stored(archive).iter().all(|m| !m.deleted && m.text.starts_with("wombat")));
    assert_eq!(hits(&app, bob, ws, "quokka", 0).await, 0, "gone from the search index");
    assert_eq!(hits(&app, bob, ws, "wombat", 5).await, 5, "the channel's own policy keeps these");
    let preview = app.consent_preview(ada, ws, "emoji_suggestions").unwrap();
    assert_eq!(preview.for_workspace(ws).unwrap().messages().len(), 5, "training reads only what is kept");
    assert!(preview.for_workspace(ws).unwrap().reactions().is_empty());
    assert_eq!(
        app.enforce_retention(later).await.unwrap().messages_deleted,
        0,
        "a second pass has nothing to do"
    );

    // For ever again: nothing more expires, however late.
    app.set_workspace_retention(ada, ws, days(None)).await.unwrap();
    app.set_channel_retention(ada, archive, days(None)).await.unwrap();
    assert_eq!(app.enforce_retention(later + 1000 * DAY_MS).await.unwrap().messages_deleted, 0);
}

/// Every file under `dir` (none if it does not exist).
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A deleted message leaves no entry in anyone's activity, whoever deletes it: its
/// author (a mention, a thread reply) or the retention pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_and_retention_leave_no_activity_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = crate::support::sled_store(dir.path());
    let app = crate::support::open(store.clone(), crate::support::config(), dir.path());
    let (ada, _) = crate::support::person(&app, 0).await;
    let (bob, bob_user) = crate::support::person(&app, 1).await;
    let ws = app.create_workspace(ada, "Activity").await.unwrap().workspace.id;
    let invite = app.create_invite(ada, ws, Default::default()).await.unwrap();
    app.accept_invite(bob, &invite.code).await.unwrap();
    let general =
        app.list_channels(ada, ws).unwrap().into_iter().find(|c| c.channel.name == "general").unwrap();
    let general: ChannelId = general.channel.id;
    let post = |author: Caller, text: String, thread_root| {
        let app = app.clone();
        async move {
            let post = PostMessage { text, thread_root, client_msg_id: None };
            app.post_message(author, general, post).await.unwrap()
        }
    };
    let activity = |user: Caller| store.activity(user.user, ws, None, 100).unwrap().len();

    let mention = post(ada, format!("@{} look", bob_user.username), None).await;
    let root = post(ada, "a thread".into(), None).await;
    post(bob, "a reply".into(), Some(root.id)).await;
    let again = post(ada, format!("@{} again", bob_user.username), Some(root.id)).await;
    assert_eq!(
        (activity(ada), activity(bob)),
        (1, 2),
        "bob's reply for ada; the mention and ada's reply for bob"
    );

    app.delete_message(ada, mention.id).await.unwrap();
    app.delete_message(ada, again.id).await.unwrap();
    assert_eq!(activity(bob), 0, "deleted messages left bob's activity");

    app.set_workspace_retention(ada, ws, days(Some(7))).await.unwrap();
    app.enforce_retention(now() + 8 * DAY_MS).await.unwrap();
    assert_eq!(activity(ada), 0, "expired replies left ada's activity");
}
