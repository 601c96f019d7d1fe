//! The app's settings: one struct per `[section]` of `config/default.toml`, each with
//! its defaults compiled in. The server fills them from the file and the environment.

use confab_core::validate::Limits;
use serde::Deserialize;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppConfig {
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    pub events: EventsConfig,
    pub websocket: WebSocketConfig,
    pub training: TrainingSettings,
    pub search: SearchLogConfig,
    pub slack: crate::slack_import::SlackConfig,
    pub lifecycle: crate::lifecycle::LifecycleConfig,
    pub files: crate::files::FilesConfig,
    /// Where file contents live when the nodes of a cluster share them (the server
    /// sets it from `[cluster] blobs`); `None`: `<data-dir>/files`, this node's own.
    #[serde(skip)]
    pub shared_files: Option<crate::files::SharedFiles>,
}

/// `[search]`: how long the log of searches and clicks (the `search_interactions`
/// that consenting workspaces may train ranking on) is kept.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchLogConfig {
    /// Logged searches older than this are deleted.
    pub log_max_age_days: u32,
    /// Logged searches kept per workspace at most; the oldest go first (0: none are
    /// logged).
    pub log_max_queries: usize,
    /// The nice value (0-19) of the threads that keep the search index and the
    /// suggestions current (indexing, merging, committing): above 0, a burst of
    /// indexing yields the cores to the threads that acknowledge and deliver messages.
    pub background_nice: i32,
    /// Threads that index new messages. Each commit writes one segment per thread, and
    /// every segment is merged again later: on two cores, two threads cost the write
    /// path more than they gain (send→ack p99 at 2,000 msg/s 4.8–5.1 ms with two, 3.1–3.3
    /// with one; see docs/benchmarks.md). Raise it on a server with spare cores.
    pub indexing_threads: usize,
    /// How often (ms) the index commits what it was given, if anything: the longest a
    /// new message waits to become searchable, before the commit itself. Each commit
    /// writes a segment that is merged again later: at 500 ms rather than 250, send→ack
    /// p99 at 2,000 msg/s is 0.5–1 ms lower after a burst (docs/benchmarks.md).
    pub commit_interval_ms: u64,
}

impl Default for SearchLogConfig {
    fn default() -> Self {
        SearchLogConfig {
            log_max_age_days: 90,
            log_max_queries: 20_000,
            background_nice: 10,
            indexing_threads: 1,
            commit_interval_ms: 500,
        }
    }
}

/// `[training]`: when consent-gated training runs and its privacy parameters.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainingSettings {
    /// Hours between scheduled runs of every purpose; 0 turns the schedule off (runs
    /// then happen on demand: `confab train`, `POST /api/v1/admin/train`).
    pub schedule_hours: u64,
    /// A word enters an emoji model only if at least this many members wrote it (k).
    pub min_users_per_word: usize,
    /// ε of the noise on each released count, per run.
    pub epsilon: f64,
    /// The privacy budget per workspace and purpose over the ledger's history; a run
    /// that would exceed it is refused.
    pub epsilon_cap: f64,
    /// Seconds between two rebuilds of one model slot (a purpose and a workspace's own
    /// model, or the shared one) after consent changes retire it; the changes in
    /// between are coalesced into one rebuild.
    pub rebuild_interval_secs: u64,
    /// Key changes one member may make per workspace per hour (`PUT
    /// …/consent/{purpose}/me`); an exclusion of a member who is included is always
    /// accepted.
    pub member_key_changes_per_hour: u32,
}

impl Default for TrainingSettings {
    fn default() -> Self {
        TrainingSettings {
            schedule_hours: 24,
            min_users_per_word: 5,
            epsilon: 1.0,
            epsilon_cap: 10.0,
            rebuild_interval_secs: 24 * 3600,
            member_key_changes_per_hour: 6,
        }
    }
}

impl TrainingSettings {
    pub fn pipeline_config(&self) -> confab_training::TrainingConfig {
        confab_training::TrainingConfig {
            min_users_per_word: self.min_users_per_word,
            epsilon: self.epsilon,
            epsilon_cap: self.epsilon_cap,
            ..Default::default()
        }
    }
}

/// Whether anyone may sign up, or only people holding an invite.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignupMode {
    #[default]
    Open,
    InviteOnly,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub signup: SignupMode,
    /// argon2id memory cost in KiB (default 19 MiB).
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// How many password hashes may run at once (each holds `argon2_memory_kib`).
    pub max_concurrent_hashes: usize,
    pub session_ttl_days: u32,
    /// Failed log-ins allowed per (account, client address) pair in a burst, then
    /// one more every `login_failure_refill_secs`; past it the pair backs off
    /// exponentially.
    pub login_failures_per_pair: u32,
    /// Failed log-ins allowed per account over all addresses in a burst; past it,
    /// only addresses the account has logged in or signed up from may try.
    pub login_failures_per_account: u32,
    /// Failed log-ins allowed per client address (IPv6: per /64) in a burst.
    pub login_failures_per_address: u32,
    pub login_failure_refill_secs: u32,
    /// Longest back-off of a throttled log-in, in seconds.
    pub login_backoff_max_secs: u32,
    /// Sign-ups allowed per client address in a burst, then one more every
    /// `signup_refill_secs`.
    pub signups_per_address: u32,
    pub signup_refill_secs: u32,
    /// Sign-up password hashes computed at once, from permits separate from the
    /// log-ins' `max_concurrent_hashes`.
    pub max_concurrent_signup_hashes: usize,
    /// Keys each log-in/sign-up throttle map holds at most (oldest dropped first).
    pub throttle_max_entries: usize,
    /// The nice value (0-19) of the threads that hash passwords: above 0, a flood of
    /// log-ins the throttles admit yields the CPU to the chat.
    pub hash_nice: i32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            signup: SignupMode::Open,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            max_concurrent_hashes: 2,
            session_ttl_days: 30,
            login_failures_per_pair: 5,
            login_failures_per_account: 50,
            login_failures_per_address: 20,
            login_failure_refill_secs: 60,
            login_backoff_max_secs: 900,
            signups_per_address: 10,
            signup_refill_secs: 60,
            max_concurrent_signup_hashes: 1,
            throttle_max_entries: 100_000,
            hash_nice: 10,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    pub max_message_chars: usize,
    /// Largest HTTP request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest WebSocket message a client may send, in bytes.
    pub max_frame_bytes: usize,
    /// Messages one user may post per second, sustained (HTTP and WebSocket together).
    pub messages_per_second: u32,
    /// Messages one user may post in a burst.
    pub message_burst: u32,
    /// WebSocket frames of any kind one connection may send per second, sustained.
    pub frames_per_second: u32,
    pub frame_burst: u32,
    pub invite_max_uses: u32,
    pub invite_max_days: u32,
    /// Mutations other than posting (edits, reactions, read markers, channels,
    /// workspaces, invites, DMs, roles, consent keys) one user may make per second,
    /// sustained, and in a burst.
    pub writes_per_second: u32,
    pub write_burst: u32,
    /// Bytes of message text (posts and edits together) one user may write per
    /// second, sustained, and in a burst. Every stored byte is indexed and sent to
    /// every member of the channel, so the writes limits alone let one member make the
    /// server move 10 × 160 KB a second per member; this bounds the bytes. The burst
    /// must hold one message of `max_message_chars` (4 bytes a character at most).
    pub text_bytes_per_second: u32,
    pub text_burst_bytes: u32,
    /// Searches one user may run per second, sustained, and in a burst.
    pub searches_per_second: u32,
    pub search_burst: u32,
    /// Workspaces one account may own.
    pub max_workspaces_per_user: usize,
    /// Channels one member may create in one workspace.
    pub max_channels_per_user: usize,
    /// Messages pinned in one channel at once.
    pub max_pins_per_channel: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_message_chars: 40_000,
            max_body_bytes: 256 * 1024,
            max_frame_bytes: 256 * 1024,
            messages_per_second: 50,
            message_burst: 200,
            frames_per_second: 100,
            frame_burst: 400,
            invite_max_uses: 1000,
            invite_max_days: 90,
            writes_per_second: 10,
            write_burst: 100,
            text_bytes_per_second: 32 * 1024,
            text_burst_bytes: 512 * 1024,
            searches_per_second: 5,
            search_burst: 30,
            max_workspaces_per_user: 20,
            max_channels_per_user: 200,
            max_pins_per_channel: 100,
        }
    }
}

impl LimitsConfig {
    pub fn validation(&self) -> Limits {
        Limits { max_message_chars: self.max_message_chars, ..Limits::default() }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// How many events each workspace's log keeps for resuming clients; older ones
    /// are pruned and a client asking for them gets `resync`.
    pub retention: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig { retention: 100_000 }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSocketConfig {
    /// Frames queued for one connection before it is closed with the resume code.
    pub queue_frames: usize,
    /// Seconds a new connection has to send its `auth` frame.
    pub auth_timeout_secs: u64,
    /// Seconds between server pings; a connection silent for three is closed.
    pub ping_interval_secs: u64,
    /// Seconds without client activity after which its presence turns `away`.
    pub away_after_secs: u64,
    /// Most sends one connection may have awaiting their ack.
    pub max_inflight_sends: usize,
    /// Seconds a lagging connection gets to take its close frame (code 4000) before
    /// it is dropped.
    pub close_timeout_secs: u64,
    /// Bytes of replayed events one connection is sent on resume, over all its
    /// workspaces; a workspace past it gets `resync` instead.
    pub replay_budget_bytes: usize,
    /// Replies (errors, pongs, and acks beyond one per send in flight, which always
    /// have room) queued for one connection before it is closed with the resume code.
    pub direct_queue_frames: usize,
    /// Seconds one write to the socket may make no progress before the connection is
    /// dropped.
    pub write_timeout_secs: u64,
    /// Bytes read from a connection's socket at a time. Each connection keeps a buffer
    /// this large for its life, so it is most of an idle connection's memory; a frame
    /// larger than it is read in several calls.
    pub read_buffer_bytes: usize,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        WebSocketConfig {
            queue_frames: 1024,
            auth_timeout_secs: 10,
            ping_interval_secs: 20,
            away_after_secs: 600,
            max_inflight_sends: 256,
            close_timeout_secs: 10,
            replay_budget_bytes: 8 * 1024 * 1024,
            direct_queue_frames: 256,
            write_timeout_secs: 30,
            read_buffer_bytes: 1024,
        }
    }
}
