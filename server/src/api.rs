//! The HTTP API under `/api/v1`: thin handlers that parse a request, call one `App`
//! method and shape its answer. Authorisation and validation live in the app. The
//! bodies are the types of `confab_protocol::http` (or records of `confab_core`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post, put};
use axum::{Json, Router};
use confab_app::{
    App, CreateChannel, CreateInvite, HistoryQuery, PostMessage, SignupRequest, UpdateChannel, UpdateProfile,
};
use confab_core::{ChannelId, MessageId};
use confab_protocol::http::{
    ChannelMembers, Channels, DmRequest, Features, IncludedBody, Invites, LimitParams, LoginRequest, Members,
    Messages, Models, NameBody, Policies, PolicyWithCategories, PresenceEntry, PresenceList, PurposeParams,
    ReadMarker, RoleBody, Runs, Session, SessionsEnded, Suggestions, TextBody, TrainRequest, UserBody,
    Workspaces,
};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Body, ClientAddr, OptionalBody, Path, Query, id};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/auth/signup", post(signup))
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
        .route("/auth/logout_all", post(logout_all))
        .route("/auth/password", post(change_password))
        .route("/me", get(me).patch(update_me))
        .route("/workspaces", get(list_workspaces).post(create_workspace))
        .route("/workspaces/{ws}", patch(rename_workspace))
        .route("/workspaces/{ws}/invites", get(list_invites).post(create_invite))
        .route("/workspaces/{ws}/invites/{code}", delete(revoke_invite))
        .route("/invites/{code}", get(invite_preview))
        .route("/invites/{code}/accept", post(accept_invite))
        .route("/workspaces/{ws}/members", get(list_members))
        .route("/workspaces/{ws}/members/{user}", patch(set_role).delete(remove_member))
        .route("/workspaces/{ws}/presence", get(presence))
        .route("/workspaces/{ws}/channels", get(list_channels).post(create_channel))
        .route("/workspaces/{ws}/dms", post(open_dm))
        .route("/channels/{ch}", get(get_channel).patch(update_channel))
        .route("/channels/{ch}/join", post(join_channel))
        .route("/channels/{ch}/leave", post(leave_channel))
        .route("/channels/{ch}/members", get(channel_members).post(add_channel_member))
        .route("/channels/{ch}/members/{user}", delete(remove_channel_member))
        .route("/channels/{ch}/messages", get(history).post(post_message))
        .route("/channels/{ch}/read", post(mark_read))
        .route("/messages/{id}", get(get_message).patch(edit_message).delete(delete_message))
        .route("/messages/{id}/thread", get(thread))
        .route("/messages/{id}/thread/read", post(mark_thread_read))
        .route("/workspaces/{ws}/threads", get(threads))
        .route("/workspaces/{ws}/activity", get(activity))
        .route("/messages/{id}/saved", put(save_message).delete(unsave_message))
        .route("/workspaces/{ws}/saved", get(saved))
        .route("/messages/{id}/pin", put(pin_message).delete(unpin_message))
        .route("/channels/{ch}/pins", get(pins))
        .route("/channels/{ch}/notifications", put(set_notifications))
        .route("/messages/{id}/reactions/{emoji}", put(add_reaction).delete(remove_reaction))
        .route("/workspaces/{ws}/search", get(search))
        .route("/workspaces/{ws}/search/clicks", post(search_click))
        .route("/workspaces/{ws}/emoji/suggest", get(suggest_emoji))
        .route("/workspaces/{ws}/channels/suggested", get(suggest_channels))
        .route("/consent/policies", get(consent_policies))
        .route("/features", get(features))
        .route("/workspaces/{ws}/models", get(models))
        .route("/admin/train", post(train))
        .route("/workspaces/{ws}/consent", get(consent))
        .route("/workspaces/{ws}/consent/history", get(consent_history))
        .route("/workspaces/{ws}/consent/preview", get(consent_preview))
        .route("/workspaces/{ws}/consent/{purpose}", put(change_consent))
        .route("/workspaces/{ws}/consent/{purpose}/me", put(set_own_consent))
}

async fn search(
    State(app): State<App>,
    auth: Auth,
    Path(ws): Path<String>,
    Query(params): Query<confab_app::search::SearchParams>,
) -> ApiResult<Json<confab_app::search::SearchAnswer>> {
    Ok(Json(app.search(auth.caller, id(&ws)?, params)?))
}

async fn search_click(
    State(app): State<App>,
    auth: Auth,
    Path(ws): Path<String>,
    Body(click): Body<confab_app::search::SearchClick>,
) -> ApiResult<StatusCode> {
    app.search_click(auth.caller, id(&ws)?, click).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn suggest_emoji(
    State(app): State<App>,
    auth: Auth,
    Path(ws): Path<String>,
    Query(params): Query<confab_app::suggest::EmojiParams>,
) -> ApiResult<Json<Suggestions<confab_recommend::EmojiSuggestion>>> {
    Ok(Json(Suggestions { suggestions: app.suggest_emoji(auth.caller, id(&ws)?, params)? }))
}

async fn suggest_channels(
    State(app): State<App>,
    auth: Auth,
    Path(ws): Path<String>,
    Query(params): Query<LimitParams>,
) -> ApiResult<Json<Suggestions<confab_app::suggest::ChannelSuggestionView>>> {
    Ok(Json(Suggestions { suggestions: app.suggest_channels(auth.caller, id(&ws)?, params.limit)? }))
}

/// Each policy with the data categories its purpose may read.
type PolicyBody = PolicyWithCategories<confab_consent::Policy, confab_consent::Category>;

async fn consent_policies(State(app): State<App>) -> Json<Policies<PolicyBody>> {
    let policies = app
        .consent_policies()
        .into_iter()
        .map(|policy| {
            let categories = policy.purpose.allowed_categories().to_vec();
            PolicyWithCategories { policy, categories }
        })
        .collect();
    Json(Policies { policies })
}

async fn models(
    State(app): State<App>,
    auth: Auth,
    Path(ws): Path<String>,
) -> ApiResult<Json<Models<confab_app::models::ModelView>>> {
    Ok(Json(Models { models: app.models(auth.caller, id(&ws)?)? }))
}

async fn train(
    State(app): State<App>,
    auth: Auth,
    OptionalBody(req): OptionalBody<TrainRequest>,
) -> ApiResult<Json<Runs<confab_app::models::TrainOutcome>>> {
    Ok(Json(Runs { runs: app.train(auth.caller, req.purpose.as_deref(), req.dry_run).await? }))
}

/// What this server offers, so a client can show or hide whole features without
/// probing endpoints.
async fn features(State(app): State<App>) -> Json<Features> {
    Json(Features {
        search: true,
        emoji_suggest: true,
        channel_suggest: true,
        consent: true,
        max_message_chars: app.config().limits.max_message_chars,
    })
}

async fn consent(
    State(app): State<App>,
    auth: Auth,
    Path(ws): Path<String>,
) -> ApiResult<Json<confab_app::consent::ConsentView>> {
    Ok(Json(app.consent(auth.caller, id(&ws)?)?))
}

async fn consent_history(
    State(app): State<App>,
    auth: Auth,
    Path(ws): Path<String>,
) -> ApiResult<Json<confab_consent::LedgerExport>> {
    Ok(Json(app.consent_history(auth.caller, id(&ws)?)?))
}

async fn consent_preview(
    State(app): State<App>,
    auth: Auth,
    Path(ws): Path<String>,
    Query(params): Query<PurposeParams>,
) -> ApiResult<Json<confab_consent::Snapshot>> {
    Ok(Json(app.consent_preview(auth.caller, id(&ws)?, &params.purpose)?))
}

async fn change_consent(
    State(app): State<App>,
    auth: Auth,
    Path((ws, purpose)): Path<(String, String)>,
    Body(req): Body<confab_app::consent::ConsentChangeRequest>,
) -> ApiResult<Json<confab_app::consent::ConsentView>> {
    Ok(Json(app.change_consent(auth.caller, id(&ws)?, &purpose, req).await?))
}

async fn set_own_consent(
    State(app): State<App>,
    auth: Auth,
    Path((ws, purpose)): Path<(String, String)>,
    Body(req): Body<IncludedBody>,
) -> ApiResult<Json<confab_app::consent::ConsentView>> {
    Ok(Json(app.set_own_consent(auth.caller, id(&ws)?, &purpose, req.included).await?))
}

async fn signup(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Body(req): Body<SignupRequest>,
) -> ApiResult<(StatusCode, Json<Session>)> {
    let out = app.signup_from(req, Some(addr)).await?;
    Ok((StatusCode::CREATED, Json(Session { user: out.user, token: out.token })))
}

async fn login(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Body(req): Body<LoginRequest>,
) -> ApiResult<Json<Session>> {
    let out = app.login(&req.email, &req.password, Some(addr)).await?;
    Ok(Json(Session { user: out.user, token: out.token }))
}

async fn logout(State(app): State<App>, auth: Auth) -> ApiResult<StatusCode> {
    app.logout(&auth.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn logout_all(State(app): State<App>, auth: Auth) -> ApiResult<Json<SessionsEnded>> {
    Ok(Json(SessionsEnded { sessions_ended: app.logout_all(auth.caller).await? }))
}

async fn change_password(
    State(app): State<App>,
    auth: Auth,
    Body(req): Body<confab_app::ChangePassword>,
) -> ApiResult<StatusCode> {
    app.change_password(auth.caller, &auth.token, req).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(State(app): State<App>, auth: Auth) -> ApiResult<Json<confab_core::User>> {
    Ok(Json(app.me(auth.caller)?))
}

/// `PATCH /me`: the caller's own display name, status and time zone.
async fn update_me(
    State(app): State<App>,
    auth: Auth,
    Body(req): Body<UpdateProfile>,
) -> ApiResult<Json<confab_core::User>> {
    Ok(Json(app.update_profile(auth.caller, req).await?))
}

async fn create_workspace(
    State(app): State<App>,
    auth: Auth,
    Body(req): Body<NameBody>,
) -> ApiResult<(StatusCode, Json<confab_core::WorkspaceView>)> {
    Ok((StatusCode::CREATED, Json(app.create_workspace(auth.caller, &req.name).await?)))
}

async fn list_workspaces(State(app): State<App>, auth: Auth) -> ApiResult<Json<Workspaces>> {
    Ok(Json(Workspaces { workspaces: app.list_workspaces(auth.caller)? }))
}

async fn create_invite(
    State(app): State<App>,
    auth: Auth,
    Path(ws): Path<String>,
    OptionalBody(req): OptionalBody<CreateInvite>,
) -> ApiResult<(StatusCode, Json<confab_core::Invite>)> {
    let invite = app.create_invite(auth.caller, id(&ws)?, req).await?;
    Ok((StatusCode::CREATED, Json(invite)))
}

async fn accept_invite(
    State(app): State<App>,
    auth: Auth,
    Path(code): Path<String>,
) -> ApiResult<Json<confab_core::WorkspaceView>> {
    Ok(Json(app.accept_invite(auth.caller, &code).await?))
}

async fn list_members(
    State(app): State<App>,
    auth: Auth,
    Path(ws): Path<String>,
) -> ApiResult<Json<Members>> {
    Ok(Json(Members { members: app.members(auth.caller, id(&ws)?)? }))
}

async fn set_role(
    State(app): State<App>,
    auth: Auth,
    Path((ws, user)): Path<(String, String)>,
    Body(req): Body<RoleBody>,
) -> ApiResult<Json<confab_core::MemberView>> {
    Ok(Json(app.set_role(auth.caller, id(&ws)?, id(&user)?, req.role).await?))
}

async fn rename_workspace(
    State(app): State<App>,
    auth: Auth,
    Path(ws): Path<String>,
    Body(req): Body<NameBody>,
) -> ApiResult<Json<confab_core::Workspace>> {
    Ok(Json(app.rename_workspace(auth.caller, id(&ws)?, &req.name).await?))
}

async fn invite_preview(
    State(app): State<App>,
    _auth: Auth,
    Path(code): Path<String>,
) -> ApiResult<Json<confab_app::InvitePreview>> {
    Ok(Json(app.invite_preview(&code)?))
}

async fn channel_members(
    State(app): State<App>,
    auth: Auth,
    Path(ch): Path<String>,
) -> ApiResult<Json<ChannelMembers>> {
    Ok(Json(ChannelMembers { members: app.channel_members(auth.caller, id(&ch)?)? }))
}

async fn remove_channel_member(
    State(app): State<App>,
    auth: Auth,
    Path((ch, user)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    app.remove_channel_member(auth.caller, id(&ch)?, id(&user)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_member(
    State(app): State<App>,
    auth: Auth,
    Path((ws, user)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    app.remove_member(auth.caller, id(&ws)?, id(&user)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_invites(
    State(app): State<App>,
    auth: Auth,
    Path(ws): Path<String>,
) -> ApiResult<Json<Invites>> {
    Ok(Json(Invites { invites: app.invites(auth.caller, id(&ws)?)? }))
}

async fn revoke_invite(
    State(app): State<App>,
    auth: Auth,
    Path((ws, code)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    app.revoke_invite(auth.caller, id(&ws)?, &code).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn presence(
    State(app): State<App>,
    auth: Auth,
    Path(ws): Path<String>,
) -> ApiResult<Json<PresenceList>> {
    let presence = app
        .presences(auth.caller, id(&ws)?)?
        .into_iter()
        .map(|(user, status)| PresenceEntry { user, status })
        .collect();
    Ok(Json(PresenceList { presence }))
}

async fn list_channels(
    State(app): State<App>,
    auth: Auth,
    Path(ws): Path<String>,
) -> ApiResult<Json<Channels>> {
    Ok(Json(Channels { channels: app.list_channels(auth.caller, id(&ws)?)? }))
}

async fn create_channel(
    State(app): State<App>,
    auth: Auth,
    Path(ws): Path<String>,
    Body(req): Body<CreateChannel>,
) -> ApiResult<(StatusCode, Json<confab_core::Channel>)> {
    Ok((StatusCode::CREATED, Json(app.create_channel(auth.caller, id(&ws)?, req).await?)))
}

async fn open_dm(
    State(app): State<App>,
    auth: Auth,
    Path(ws): Path<String>,
    Body(req): Body<DmRequest>,
) -> ApiResult<Json<confab_core::Channel>> {
    Ok(Json(app.open_dm(auth.caller, id(&ws)?, &req.users).await?))
}

async fn get_channel(
    State(app): State<App>,
    auth: Auth,
    Path(ch): Path<String>,
) -> ApiResult<Json<confab_core::Channel>> {
    Ok(Json(app.channel(auth.caller, id(&ch)?)?))
}

async fn update_channel(
    State(app): State<App>,
    auth: Auth,
    Path(ch): Path<String>,
    Body(req): Body<UpdateChannel>,
) -> ApiResult<Json<confab_core::Channel>> {
    Ok(Json(app.update_channel(auth.caller, id(&ch)?, req).await?))
}

async fn join_channel(
    State(app): State<App>,
    auth: Auth,
    Path(ch): Path<String>,
) -> ApiResult<Json<confab_core::Channel>> {
    Ok(Json(app.join_channel(auth.caller, id(&ch)?).await?))
}

async fn leave_channel(State(app): State<App>, auth: Auth, Path(ch): Path<String>) -> ApiResult<StatusCode> {
    app.leave_channel(auth.caller, id(&ch)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn add_channel_member(
    State(app): State<App>,
    auth: Auth,
    Path(ch): Path<String>,
    Body(req): Body<UserBody>,
) -> ApiResult<StatusCode> {
    app.add_channel_member(auth.caller, id(&ch)?, req.user).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn history(
    State(app): State<App>,
    auth: Auth,
    Path(ch): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> ApiResult<Json<Messages>> {
    let channel: ChannelId = id(&ch)?;
    Ok(Json(Messages { messages: app.history(auth.caller, channel, query)? }))
}

async fn post_message(
    State(app): State<App>,
    auth: Auth,
    Path(ch): Path<String>,
    Body(req): Body<PostMessage>,
) -> ApiResult<(StatusCode, Json<confab_core::Message>)> {
    Ok((StatusCode::CREATED, Json(app.post_message(auth.caller, id(&ch)?, req).await?)))
}

async fn mark_read(
    State(app): State<App>,
    auth: Auth,
    Path(ch): Path<String>,
    Body(req): Body<ReadMarker>,
) -> ApiResult<Json<ReadMarker>> {
    Ok(Json(ReadMarker { seq: app.mark_read(auth.caller, id(&ch)?, req.seq).await? }))
}

async fn get_message(
    State(app): State<App>,
    auth: Auth,
    Path(m): Path<String>,
) -> ApiResult<Json<confab_core::Message>> {
    Ok(Json(app.message(auth.caller, id(&m)?)?))
}

async fn edit_message(
    State(app): State<App>,
    auth: Auth,
    Path(m): Path<String>,
    Body(req): Body<TextBody>,
) -> ApiResult<Json<confab_core::Message>> {
    Ok(Json(app.edit_message(auth.caller, id(&m)?, &req.text).await?))
}

async fn delete_message(State(app): State<App>, auth: Auth, Path(m): Path<String>) -> ApiResult<StatusCode> {
    let message: MessageId = id(&m)?;
    app.delete_message(auth.caller, message).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn thread(
    State(app): State<App>,
    auth: Auth,
    Path(m): Path<String>,
) -> ApiResult<Json<confab_core::Thread>> {
    Ok(Json(app.thread(auth.caller, id(&m)?)?))
}

async fn mark_thread_read(
    State(app): State<App>,
    auth: Auth,
    Path(m): Path<String>,
    Body(req): Body<ReadMarker>,
) -> ApiResult<Json<ReadMarker>> {
    Ok(Json(ReadMarker { seq: app.mark_thread_read(auth.caller, id(&m)?, req.seq).await? }))
}

async fn threads(
    State(app): State<App>,
    auth: Auth,
    Path(ws): Path<String>,
    Query(query): Query<confab_app::threads::ThreadsQuery>,
) -> ApiResult<Json<confab_app::threads::Threads>> {
    Ok(Json(app.threads(auth.caller, id(&ws)?, query)?))
}

async fn activity(
    State(app): State<App>,
    auth: Auth,
    Path(ws): Path<String>,
    Query(query): Query<confab_app::threads::ActivityQuery>,
) -> ApiResult<Json<confab_app::threads::ActivityPage>> {
    Ok(Json(app.activity(auth.caller, id(&ws)?, query)?))
}

async fn save_message(State(app): State<App>, auth: Auth, Path(m): Path<String>) -> ApiResult<StatusCode> {
    app.save_message(auth.caller, id(&m)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn pin_message(State(app): State<App>, auth: Auth, Path(m): Path<String>) -> ApiResult<StatusCode> {
    app.pin_message(auth.caller, id(&m)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unpin_message(State(app): State<App>, auth: Auth, Path(m): Path<String>) -> ApiResult<StatusCode> {
    app.unpin_message(auth.caller, id(&m)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn pins(
    State(app): State<App>,
    auth: Auth,
    Path(ch): Path<String>,
) -> ApiResult<Json<confab_app::pins::Pins>> {
    Ok(Json(app.pins(auth.caller, id(&ch)?)?))
}

async fn unsave_message(State(app): State<App>, auth: Auth, Path(m): Path<String>) -> ApiResult<StatusCode> {
    app.unsave_message(auth.caller, id(&m)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn saved(
    State(app): State<App>,
    auth: Auth,
    Path(ws): Path<String>,
    Query(query): Query<confab_app::personal::SavedQuery>,
) -> ApiResult<Json<confab_app::personal::SavedPage>> {
    Ok(Json(app.saved(auth.caller, id(&ws)?, query)?))
}

async fn set_notifications(
    State(app): State<App>,
    auth: Auth,
    Path(ch): Path<String>,
    Body(req): Body<confab_app::personal::NotifyBody>,
) -> ApiResult<Json<confab_app::personal::NotifyBody>> {
    let level = app.set_notify_level(auth.caller, id(&ch)?, req.level).await?;
    Ok(Json(confab_app::personal::NotifyBody { level }))
}

async fn add_reaction(
    State(app): State<App>,
    auth: Auth,
    Path((m, emoji)): Path<(String, String)>,
) -> ApiResult<Json<confab_core::Message>> {
    Ok(Json(app.add_reaction(auth.caller, id(&m)?, &emoji).await?))
}

async fn remove_reaction(
    State(app): State<App>,
    auth: Auth,
    Path((m, emoji)): Path<(String, String)>,
) -> ApiResult<Json<confab_core::Message>> {
    Ok(Json(app.remove_reaction(auth.caller, id(&m)?, &emoji).await?))
}

/// Unknown paths under the API.
pub async fn not_found() -> ApiError {
    ApiError::new(confab_core::ErrorCode::NotFound, "no such endpoint")
}

/// Known paths with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(confab_core::ErrorCode::InvalidRequest, "this endpoint does not take that method")
}
