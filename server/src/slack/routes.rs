//! The HTTP handlers of bots and incoming webhooks (under `/api/v1`, registered in
//! [`crate::router`]): owners and
//! admins create, list and revoke them; the webhook URL takes Slack's payload, as
//! JSON or as a form's `payload` field, as Slack's own webhooks do.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use confab_app::App;
use confab_app::slack_bots::{Bot, NewBot, NewWebhook, Webhook, WebhookPayload};
use confab_core::{ErrorCode, Message};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Body, Path, id};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBot {
    pub name: String,
}

#[derive(Serialize)]
pub struct Bots {
    pub bots: Vec<Bot>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    pub channel: String,
}

#[derive(Serialize)]
pub struct Webhooks {
    pub webhooks: Vec<Webhook>,
}

#[derive(Serialize)]
pub struct CreatedWebhook {
    pub id: String,
    pub url: String,
    pub webhook: Webhook,
}

pub async fn create_bot(
    State(app): State<App>,
    auth: Auth,
    Path(ws): Path<String>,
    Body(req): Body<CreateBot>,
) -> ApiResult<(StatusCode, Json<NewBot>)> {
    Ok((StatusCode::CREATED, Json(app.create_bot(auth.caller, id(&ws)?, &req.name).await?)))
}

pub async fn list_bots(State(app): State<App>, auth: Auth, Path(ws): Path<String>) -> ApiResult<Json<Bots>> {
    Ok(Json(Bots { bots: app.bots(auth.caller, id(&ws)?)? }))
}

pub async fn revoke_bot(
    State(app): State<App>,
    auth: Auth,
    Path((ws, bot)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    app.revoke_bot(auth.caller, id(&ws)?, id(&bot)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The URL a webhook's path is reached at: the `Host` the admin used.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    format!("http://{host}")
}

pub async fn new_webhook(
    State(app): State<App>,
    auth: Auth,
    headers: HeaderMap,
    Path(ws): Path<String>,
    Body(req): Body<CreateWebhook>,
) -> ApiResult<(StatusCode, Json<CreatedWebhook>)> {
    let NewWebhook { id: hook, webhook, path } =
        app.create_webhook(auth.caller, id(&ws)?, id(&req.channel)?).await?;
    let url = format!("{}{path}", base_url(&headers));
    Ok((StatusCode::CREATED, Json(CreatedWebhook { id: hook, url, webhook })))
}

pub async fn webhooks(
    State(app): State<App>,
    auth: Auth,
    Path(ws): Path<String>,
) -> ApiResult<Json<Webhooks>> {
    Ok(Json(Webhooks { webhooks: app.webhooks(auth.caller, id(&ws)?)? }))
}

pub async fn revoke_webhook(
    State(app): State<App>,
    auth: Auth,
    Path((ws, hook)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    app.revoke_webhook(auth.caller, id(&ws)?, &hook).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Slack answers a webhook post with the text `ok`; the message is in the JSON here.
pub async fn post_webhook(
    State(app): State<App>,
    headers: HeaderMap,
    Path((ws, hook, secret)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult<Json<Message>> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let json = if form {
        #[derive(Deserialize)]
        struct Form {
            payload: String,
        }
        let form: Form = serde_urlencoded::from_bytes(&body)
            .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, format!("invalid_payload: {e}")))?;
        form.payload.into_bytes()
    } else {
        body.to_vec()
    };
    let payload: WebhookPayload = serde_json::from_slice(&json)
        .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, format!("invalid_payload: {e}")))?;
    Ok(Json(app.post_webhook(&ws, &hook, &secret, payload).await?))
}
