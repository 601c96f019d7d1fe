//! Populating a server over its HTTP API before a measurement: sign-ups, a workspace,
//! invites, channels. Runs with bounded concurrency through the typed client.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use confab_client::{Client, CreateInvite, SignupRequest};
use confab_core::{ChannelId, UserId, WorkspaceId};
use futures_util::stream::{self, StreamExt, TryStreamExt};

/// How many HTTP set-up requests run at once.
const CONCURRENCY: usize = 16;

/// A signed-up user and their session.
#[derive(Clone)]
pub struct Person {
    pub client: Client,
    pub token: String,
    pub id: UserId,
}

/// A workspace and its people; `people[0]` is the owner.
pub struct Team {
    pub workspace: WorkspaceId,
    pub people: Vec<Person>,
}

/// An invite that `max_uses` people may accept.
pub fn invite_for(max_uses: usize) -> CreateInvite {
    CreateInvite { max_uses: Some(u32::try_from(max_uses).unwrap_or(u32::MAX)), ..CreateInvite::default() }
}

/// A name prefix unique to this process and call, so teams never collide.
fn unique_tag() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{:x}{}", std::process::id() % 0xffff, NEXT.fetch_add(1, Ordering::Relaxed))
}

async fn signup(anon: &Client, tag: &str, i: usize, invite: Option<&str>) -> anyhow::Result<Person> {
    let request = SignupRequest {
        email: format!("{tag}-{i}@bench.test"),
        password: "bench password".into(),
        display_name: format!("Bench {i}"),
        username: Some(format!("b{tag}-{i}")),
        invite: invite.map(str::to_owned),
    };
    let session = anon.signup_with(&request).await.with_context(|| format!("sign-up {i}"))?;
    Ok(Person { client: anon.with_token(&session.token), token: session.token, id: session.user.id })
}

/// Signs up `size` people (at least one) into a fresh workspace: the first creates it,
/// the others accept an invite (which also puts them in `#general`).
pub async fn team(base: &str, size: usize) -> anyhow::Result<Team> {
    let anon = Client::new(base);
    let tag = unique_tag();
    let owner = signup(&anon, &tag, 0, None).await?;
    let ws = owner.client.create_workspace(&format!("Bench {tag}")).await.context("create workspace")?;
    let workspace = ws.workspace.id;
    let invite =
        owner.client.create_invite(workspace, &invite_for(size.max(1))).await.context("create invite")?;
    let code = invite.code;
    let others: Vec<Person> = stream::iter(1..size.max(1))
        .map(|i| {
            let (anon, tag, code) = (&anon, &tag, &code);
            async move {
                let person = signup(anon, tag, i, None).await?;
                person.client.accept_invite(code).await.with_context(|| format!("accept invite {i}"))?;
                Ok::<_, anyhow::Error>(person)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    let mut people = vec![owner];
    people.extend(others);
    Ok(Team { workspace, people })
}

/// Creates a public channel (by `people[0]`) and has every other given person join.
pub async fn channel_with(team: &Team, name: &str, members: &[Person]) -> anyhow::Result<ChannelId> {
    let owner = &team.people[0];
    let channel = owner.client.create_channel(team.workspace, name, false).await.context("create channel")?;
    let id = channel.id;
    stream::iter(members.iter().filter(|p| p.id != owner.id))
        .map(|p| async move { p.client.join(id).await.context("join channel").map(drop) })
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(id)
}

/// Each person creates a channel of their own (`<prefix>-<i>`), so their messages are
/// delivered to nobody else.
pub async fn own_channels(team: &Team, people: &[Person], prefix: &str) -> anyhow::Result<Vec<ChannelId>> {
    let ws = team.workspace;
    stream::iter(people.iter().enumerate())
        .map(|(i, p)| async move {
            let ch = p
                .client
                .create_channel(ws, &format!("{prefix}-{i}"), false)
                .await
                .context("create channel")?;
            Ok::<_, anyhow::Error>(ch.id)
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await
}
