//! Leaving Slack, at the edge: `confab import slack` ([`import`]: the command, its
//! progress bar and summary, and its streaming answer on the admin socket), Slack's Web
//! API subset at `/api/slack/{method}` ([`api`]), and the HTTP handlers of bots and
//! incoming webhooks ([`routes`]). The use cases behind them are in `confab-app`
//! (`slack_import`, `slack_bots`).

pub mod api;
pub mod import;
pub mod routes;
