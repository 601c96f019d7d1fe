//! Leaving Slack: `confab import slack` ([`import`]), Slack's Web API subset and
//! incoming webhooks over HTTP (added as they land).

pub mod api;
pub mod import;
pub mod routes;
