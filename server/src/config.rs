//! Settings: compiled-in defaults, overridden by a TOML file (`--config`), overridden
//! by environment variables `CONFAB_<SECTION>_<KEY>`, overridden by the `--listen` and
//! `--data-dir` flags. `config/default.toml` documents every key.
//!
//! Every section can be set from the environment; a key no section knows is an error
//! (serde's `deny_unknown_fields`, in the file and in the environment alike); every
//! number is checked against its range at start-up ([`Config::validate`]), so a bad
//! value stops the server with a message naming the key instead of failing later.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use confab_app::AppConfig;
use serde::{Deserialize, Deserializer};

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerSection,
    pub store: StoreSection,
    /// Present: the store is on PostgreSQL (see docs/cluster.md). Absent: sled in the
    /// data dir, as always.
    pub cluster: Option<ClusterSection>,
    #[serde(flatten)]
    pub app: AppConfig,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Seconds a request may take before it is answered with a timeout.
    pub request_timeout_secs: u64,
    /// Where Prometheus metrics are served (`GET /metrics`), or "off". Never on the
    /// public listener.
    pub metrics_listen: MetricsListen,
    /// Peers whose `X-Forwarded-For` is believed (addresses or CIDR ranges); every
    /// other peer is the client itself. In the environment: comma-separated.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            request_timeout_secs: 30,
            metrics_listen: MetricsListen::At(SocketAddr::from(([127, 0, 0, 1], 9464))),
            trusted_proxies: Vec::new(),
        }
    }
}

/// `server.metrics_listen`: an address, or "off".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsListen {
    Off,
    At(SocketAddr),
}

impl<'de> Deserialize<'de> for MetricsListen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        if raw.eq_ignore_ascii_case("off") {
            return Ok(MetricsListen::Off);
        }
        raw.parse().map(MetricsListen::At).map_err(|_| {
            serde::de::Error::custom(format!(
                "metrics_listen: {raw:?} is neither an address (ip:port) nor \"off\""
            ))
        })
    }
}

/// A list of addresses or CIDR ranges, from a TOML array or a comma-separated string.
fn list_or_comma_separated<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        List(Vec<String>),
        One(String),
    }
    let items = match Raw::deserialize(d)? {
        Raw::List(items) => items,
        Raw::One(s) => s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
    };
    items
        .iter()
        .map(|item| {
            item.parse::<ipnet::IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| serde::de::Error::custom(format!("{item:?} is not an IP address or CIDR range")))
        })
        .collect()
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSection {
    /// sled's page cache, in MiB.
    pub cache_mb: u64,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection { cache_mb: 256 }
    }
}

/// `[cluster]`: the store on PostgreSQL instead of sled. Without `bus`, one node per
/// database; with it, several nodes share the database, each workspace sequenced by
/// the node holding its write lease (docs/cluster.md).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`.
    pub store: String,
    /// Connections the store keeps open (each on a thread of its own).
    #[serde(default = "default_store_connections")]
    pub store_connections: u64,
    /// The nodes' bus, `nats://HOST:PORT` (comma-separated for a NATS cluster).
    /// Present: several nodes may serve the database.
    #[serde(default)]
    pub bus: Option<String>,
    /// The cluster's name on the bus (a subject token): two clusters may share a NATS.
    #[serde(default = "default_cluster_name")]
    pub name: String,
    /// This node's name, shown in the lease table and in NATS's monitoring.
    #[serde(default = "default_node_name")]
    pub node: String,
    /// How long a workspace's write lease lasts unrenewed: how long a killed node's
    /// workspaces wait before another node takes them.
    #[serde(default = "default_lease_ttl_ms")]
    pub lease_ttl_ms: u64,
    /// How often a node renews its leases (at most a third of `lease_ttl_ms`).
    #[serde(default = "default_lease_renew_ms")]
    pub lease_renew_ms: u64,
    /// How long a node waits for the lease holder to answer a forwarded request
    /// before it answers `503 unavailable`.
    #[serde(default = "default_forward_timeout_ms")]
    pub forward_timeout_ms: u64,
    /// The largest request body forwarded to the lease holder (NATS's own limit is
    /// 1 MiB by default); a larger one is answered `413`.
    #[serde(default = "default_forward_max_bytes")]
    pub forward_max_bytes: u64,
    /// Most requests a node forwards at once; more wait for a slot.
    #[serde(default = "default_forward_concurrency")]
    pub forward_concurrency: u64,
    /// Most typing indicators a node relays to the others per second, and delivers
    /// from them; more are dropped (typing is lossy).
    #[serde(default = "default_relay_typing_per_sec")]
    pub relay_typing_per_sec: u64,
    /// A directory every node of the cluster shares (a shared filesystem, mounted
    /// at the same place or not), holding the contents of uploaded files instead
    /// of each node's `<data-dir>/files`. Required with `bus`: see
    /// [`ClusterSection::validate`].
    #[serde(default)]
    pub blobs: Option<PathBuf>,
}

fn default_store_connections() -> u64 {
    8
}
fn default_cluster_name() -> String {
    "confab".into()
}
fn default_node_name() -> String {
    "node".into()
}
fn default_lease_ttl_ms() -> u64 {
    5_000
}
fn default_lease_renew_ms() -> u64 {
    1_000
}
fn default_forward_timeout_ms() -> u64 {
    10_000
}
fn default_forward_max_bytes() -> u64 {
    1024 * 1024 - 4096
}
fn default_forward_concurrency() -> u64 {
    256
}
fn default_relay_typing_per_sec() -> u64 {
    2_000
}

impl ClusterSection {
    pub fn new(store: impl Into<String>) -> ClusterSection {
        ClusterSection {
            store: store.into(),
            store_connections: default_store_connections(),
            bus: None,
            name: default_cluster_name(),
            node: default_node_name(),
            lease_ttl_ms: default_lease_ttl_ms(),
            lease_renew_ms: default_lease_renew_ms(),
            forward_timeout_ms: default_forward_timeout_ms(),
            forward_max_bytes: default_forward_max_bytes(),
            forward_concurrency: default_forward_concurrency(),
            relay_typing_per_sec: default_relay_typing_per_sec(),
            blobs: None,
        }
    }

    /// Where the app keeps file contents: the shared directory, if set.
    pub fn shared_files(&self, node: &str) -> Option<confab_app::files::SharedFiles> {
        let dir = self.blobs.clone()?;
        Some(confab_app::files::SharedFiles { dir, node: node.to_string() })
    }
}

impl std::fmt::Debug for ClusterSection {
    /// Without the password the store's URL may hold.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterSection")
            .field("store", &confab_store_postgres::redact_password(&self.store))
            .field("store_connections", &self.store_connections)
            .field("bus", &self.bus)
            .field("name", &self.name)
            .field("node", &self.node)
            .field("lease_ttl_ms", &self.lease_ttl_ms)
            .field("lease_renew_ms", &self.lease_renew_ms)
            .field("forward_timeout_ms", &self.forward_timeout_ms)
            .field("forward_max_bytes", &self.forward_max_bytes)
            .field("forward_concurrency", &self.forward_concurrency)
            .field("relay_typing_per_sec", &self.relay_typing_per_sec)
            .field("blobs", &self.blobs)
            .finish()
    }
}

/// The sections a `CONFAB_<SECTION>_<KEY>` variable may name: every section.
const SECTIONS: &[&str] = &[
    "server",
    "store",
    "cluster",
    "auth",
    "limits",
    "events",
    "websocket",
    "training",
    "search",
    "lifecycle",
    "slack",
    "files",
];

impl Config {
    /// Loads the configuration from an optional file and the process environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        Self::load_from(file, std::env::vars())
    }

    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Config> {
        let mut table = match file {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                text.parse::<toml::Table>().with_context(|| format!("parsing {}", path.display()))?
            }
            None => toml::Table::new(),
        };
        for (name, value) in env {
            let Some(rest) = name.strip_prefix("CONFAB_") else { continue };
            let rest = rest.to_ascii_lowercase();
            let Some((section, key)) = rest.split_once('_') else { continue };
            if !SECTIONS.contains(&section) || key.is_empty() {
                // Not a setting (e.g. CONFAB_LOG); leave it alone.
                continue;
            }
            let section =
                table.entry(section.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let Some(section) = section.as_table_mut() else { bail!("[{rest}] is not a table") };
            section.insert(key.to_string(), env_value(&value));
        }
        let config: Config = toml::Value::Table(table).try_into().context("invalid configuration")?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every number against its range; the error names the key and the range.
    pub fn validate(&self) -> anyhow::Result<()> {
        let (a, l, w) = (&self.app.auth, &self.app.limits, &self.app.websocket);
        const DAY: u64 = 86_400;
        const MIB: u64 = 1024 * 1024;
        let checks: &[(&str, u64, u64, u64)] = &[
            ("server.request_timeout_secs", self.server.request_timeout_secs, 1, 3600),
            ("store.cache_mb", self.store.cache_mb, 1, 1 << 20),
            ("auth.argon2_memory_kib", a.argon2_memory_kib.into(), 8, 4 << 20),
            ("auth.argon2_iterations", a.argon2_iterations.into(), 1, 100),
            ("auth.argon2_parallelism", a.argon2_parallelism.into(), 1, 64),
            ("auth.max_concurrent_hashes", a.max_concurrent_hashes as u64, 1, 1024),
            ("auth.session_ttl_days", a.session_ttl_days.into(), 1, 3650),
            ("auth.max_concurrent_signup_hashes", a.max_concurrent_signup_hashes as u64, 1, 1024),
            ("auth.hash_nice", u64::try_from(a.hash_nice).unwrap_or(u64::MAX), 0, 19),
            ("auth.login_failures_per_pair", a.login_failures_per_pair.into(), 1, 1_000_000),
            ("auth.login_failures_per_account", a.login_failures_per_account.into(), 1, 1_000_000),
            ("auth.login_failures_per_address", a.login_failures_per_address.into(), 1, 1_000_000),
            ("auth.login_failure_refill_secs", a.login_failure_refill_secs.into(), 1, DAY),
            ("auth.login_backoff_max_secs", a.login_backoff_max_secs.into(), 1, 7 * DAY),
            ("auth.signups_per_address", a.signups_per_address.into(), 1, 1_000_000),
            ("auth.signup_refill_secs", a.signup_refill_secs.into(), 1, DAY),
            ("auth.throttle_max_entries", a.throttle_max_entries as u64, 16, 100_000_000),
            ("limits.max_message_chars", l.max_message_chars as u64, 1, 1_000_000),
            ("limits.max_body_bytes", l.max_body_bytes as u64, 1024, 64 * MIB),
            ("limits.max_frame_bytes", l.max_frame_bytes as u64, 1024, 64 * MIB),
            ("limits.messages_per_second", l.messages_per_second.into(), 1, 1_000_000),
            ("limits.message_burst", l.message_burst.into(), 1, 1_000_000),
            ("limits.frames_per_second", l.frames_per_second.into(), 1, 1_000_000),
            ("limits.frame_burst", l.frame_burst.into(), 1, 1_000_000),
            ("limits.invite_max_uses", l.invite_max_uses.into(), 1, 1_000_000),
            ("limits.invite_max_days", l.invite_max_days.into(), 1, 3650),
            ("limits.writes_per_second", l.writes_per_second.into(), 1, 1_000_000),
            ("limits.write_burst", l.write_burst.into(), 1, 1_000_000),
            ("limits.searches_per_second", l.searches_per_second.into(), 1, 1_000_000),
            ("limits.search_burst", l.search_burst.into(), 1, 1_000_000),
            ("limits.max_workspaces_per_user", l.max_workspaces_per_user as u64, 1, 1_000_000),
            ("limits.max_channels_per_user", l.max_channels_per_user as u64, 1, 1_000_000),
            ("limits.max_pins_per_channel", l.max_pins_per_channel as u64, 1, 10_000),
            ("search.log_max_age_days", self.app.search.log_max_age_days.into(), 1, 3650),
            ("search.log_max_queries", self.app.search.log_max_queries as u64, 0, 100_000_000),
            (
                "search.background_nice",
                u64::try_from(self.app.search.background_nice).unwrap_or(u64::MAX),
                0,
                19,
            ),
            ("search.indexing_threads", self.app.search.indexing_threads as u64, 1, 16),
            // At most a second: design section 8 promises a new message searchable within 1 s.
            ("search.commit_interval_ms", self.app.search.commit_interval_ms, 50, 1000),
            ("limits.text_bytes_per_second", l.text_bytes_per_second.into(), 1, 1 << 30),
            ("limits.text_burst_bytes", l.text_burst_bytes.into(), 4 * l.max_message_chars as u64, 1 << 30),
            ("events.retention", self.app.events.retention, 1, 100_000_000),
            ("files.max_bytes", self.app.files.max_bytes, 1, 1 << 40),
            ("files.workspace_quota_bytes", self.app.files.workspace_quota_bytes, 0, 1 << 50),
            ("files.orphan_ttl_secs", self.app.files.orphan_ttl_secs, 0, 365 * DAY),
            ("files.upload_timeout_secs", self.app.files.upload_timeout_secs, 1, DAY),
            ("files.max_concurrent_uploads", self.app.files.max_concurrent_uploads as u64, 1, 100_000),
            ("files.thumbnail_px", self.app.files.thumbnail_px.into(), 16, 4096),
            ("files.image_max_side_px", self.app.files.image_max_side_px.into(), 16, 65_535),
            ("files.image_max_decode_bytes", self.app.files.image_max_decode_bytes, MIB, 1 << 34),
            ("files.thumbnail_threads", self.app.files.thumbnail_threads as u64, 1, 256),
            ("files.index_text_max_bytes", self.app.files.index_text_max_bytes, 0, 64 * MIB),
            ("files.max_files_per_message", self.app.files.max_files_per_message as u64, 1, 100),
            ("websocket.queue_frames", w.queue_frames as u64, 1, 1_000_000),
            ("websocket.auth_timeout_secs", w.auth_timeout_secs, 1, 3600),
            ("websocket.ping_interval_secs", w.ping_interval_secs, 1, 3600),
            ("websocket.away_after_secs", w.away_after_secs, 1, 7 * DAY),
            ("websocket.max_inflight_sends", w.max_inflight_sends as u64, 1, 65_536),
            ("websocket.close_timeout_secs", w.close_timeout_secs, 1, 3600),
            ("websocket.replay_budget_bytes", w.replay_budget_bytes as u64, 0, 1024 * MIB),
            ("websocket.direct_queue_frames", w.direct_queue_frames as u64, 1, 1_000_000),
            ("websocket.write_timeout_secs", w.write_timeout_secs, 1, 3600),
            ("websocket.read_buffer_bytes", w.read_buffer_bytes as u64, 256, MIB),
            ("training.schedule_hours", self.app.training.schedule_hours, 0, 24 * 366),
            ("training.min_users_per_word", self.app.training.min_users_per_word as u64, 1, 1_000_000),
            ("training.rebuild_interval_secs", self.app.training.rebuild_interval_secs, 0, 30 * DAY),
            (
                "training.member_key_changes_per_hour",
                self.app.training.member_key_changes_per_hour.into(),
                0,
                1_000_000,
            ),
        ];
        let cluster_checks = self.cluster.iter().flat_map(|c| {
            [
                ("cluster.store_connections", c.store_connections, 1, 256),
                ("cluster.lease_ttl_ms", c.lease_ttl_ms, 500, 600_000),
                ("cluster.lease_renew_ms", c.lease_renew_ms, 50, c.lease_ttl_ms / 3),
                ("cluster.forward_timeout_ms", c.forward_timeout_ms, 100, 600_000),
                ("cluster.forward_max_bytes", c.forward_max_bytes, 1024, 64 * MIB),
                ("cluster.forward_concurrency", c.forward_concurrency, 1, 65_536),
                ("cluster.relay_typing_per_sec", c.relay_typing_per_sec, 1, 1_000_000),
            ]
        });
        for (key, value, min, max) in checks.iter().copied().chain(cluster_checks) {
            if !(min..=max).contains(&value) {
                bail!("invalid configuration: {key} = {value} is out of range ({min} to {max})");
            }
        }
        if let Some(cluster) = &self.cluster {
            cluster.validate()?;
        }
        let t = &self.app.training;
        for (key, value) in [("training.epsilon", t.epsilon), ("training.epsilon_cap", t.epsilon_cap)] {
            if !(value.is_finite() && value > 0.0 && value <= 1000.0) {
                bail!("invalid configuration: {key} = {value} is out of range (above 0, at most 1000)");
            }
        }
        Ok(())
    }
}

impl ClusterSection {
    fn validate(&self) -> anyhow::Result<()> {
        let store = self.store.trim();
        if !(store.starts_with("postgres://") || store.starts_with("postgresql://")) {
            bail!(
                "invalid configuration: cluster.store = {:?} is not a PostgreSQL URL \
                 (postgres://USER@HOST:PORT/DATABASE)",
                confab_store_postgres::redact_password(store)
            );
        }
        if let Some(bus) = &self.bus
            && !bus.split(',').all(|url| url.trim().starts_with("nats://"))
        {
            bail!("invalid configuration: cluster.bus = {bus:?} is not a NATS URL (nats://HOST:PORT)");
        }
        // Several nodes without a shared directory would each keep the files uploaded
        // through them, and the others would answer `file_not_found` for them: a
        // silent loss to every user on another node. Refused, rather than documented:
        // a node cannot know at start whether it will be alone.
        match &self.blobs {
            None if self.bus.is_some() => bail!(
                "invalid configuration: cluster.bus needs cluster.blobs, a directory every node \
                 shares (uploaded files are stored there, so that any node serves them)"
            ),
            Some(dir) if !dir.is_absolute() => bail!(
                "invalid configuration: cluster.blobs = {:?} must be an absolute path",
                dir.display().to_string()
            ),
            _ => {}
        }
        for (key, value) in [("cluster.name", &self.name), ("cluster.node", &self.node)] {
            let valid = !value.is_empty()
                && value.len() <= 64
                && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                bail!("invalid configuration: {key} = {value:?} must be 1 to 64 letters, digits, '-' or '_'");
            }
        }
        Ok(())
    }
}

/// An environment value as the TOML value it spells: a number, a boolean, else a string.
fn env_value(raw: &str) -> toml::Value {
    if let Ok(i) = raw.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    if let Ok(f) = raw.parse::<f64>() {
        return toml::Value::Float(f);
    }
    match raw {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(raw.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_then_file_then_environment() {
        let dir = std::env::temp_dir().join(format!("confab-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "[server]\nlisten = \"127.0.0.1:9000\"\n[limits]\nmax_message_chars = 10\n")
            .unwrap();
        let env = [
            ("CONFAB_LIMITS_MAX_MESSAGE_CHARS".to_string(), "20".to_string()),
            ("CONFAB_AUTH_SIGNUP".to_string(), "invite_only".to_string()),
            ("CONFAB_LOG".to_string(), "debug".to_string()),
        ];
        let config = Config::load_from(Some(&file), env).unwrap();
        assert_eq!(config.server.listen.port(), 9000);
        assert_eq!(config.app.limits.max_message_chars, 20);
        assert_eq!(config.app.auth.signup, confab_app::config::SignupMode::InviteOnly);
        assert_eq!(config.server.data_dir, PathBuf::from("./data"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn every_section_is_read_from_the_environment() {
        let env = [
            ("CONFAB_TRAINING_SCHEDULE_HOURS".to_string(), "0".to_string()),
            ("CONFAB_SERVER_METRICS_LISTEN".to_string(), "off".to_string()),
            ("CONFAB_SERVER_TRUSTED_PROXIES".to_string(), "10.0.0.1, 192.168.0.0/16".to_string()),
            ("CONFAB_STORE_CACHE_MB".to_string(), "64".to_string()),
        ];
        let config = Config::load_from(None, env).unwrap();
        assert_eq!(config.app.training.schedule_hours, 0);
        assert_eq!(config.server.metrics_listen, MetricsListen::Off);
        let proxies: Vec<String> = config.server.trusted_proxies.iter().map(|n| n.to_string()).collect();
        assert_eq!(proxies, ["10.0.0.1/32", "192.168.0.0/16"]);
        assert_eq!(config.store.cache_mb, 64);
        let unknown = [("CONFAB_TRAINING_NOPE".to_string(), "1".to_string())];
        assert!(Config::load_from(None, unknown).is_err(), "an unknown training key is an error");
    }

    #[test]
    fn numbers_out_of_range_are_clear_errors() {
        for (var, value, key) in [
            ("CONFAB_WEBSOCKET_PING_INTERVAL_SECS", "9223372036854775807", "websocket.ping_interval_secs"),
            ("CONFAB_WEBSOCKET_QUEUE_FRAMES", "0", "websocket.queue_frames"),
            ("CONFAB_AUTH_SESSION_TTL_DAYS", "0", "auth.session_ttl_days"),
            ("CONFAB_LIMITS_MAX_FRAME_BYTES", "10", "limits.max_frame_bytes"),
            ("CONFAB_TRAINING_EPSILON", "-1", "training.epsilon"),
            ("CONFAB_FILES_INDEX_TEXT_MAX_BYTES", "67108865", "files.index_text_max_bytes"),
            // Past a second, a new message would not be searchable within design section 8's 1 s.
            ("CONFAB_SEARCH_COMMIT_INTERVAL_MS", "1001", "search.commit_interval_ms"),
            ("CONFAB_SEARCH_COMMIT_INTERVAL_MS", "0", "search.commit_interval_ms"),
        ] {
            let e = Config::load_from(None, [(var.to_string(), value.to_string())]).unwrap_err();
            assert!(format!("{e:#}").contains(key), "{var}={value}: {e:#}");
        }
        // A number too large for its type is an error too, not a wrap-around.
        let huge = [("CONFAB_AUTH_ARGON2_ITERATIONS".to_string(), "99999999999".to_string())];
        assert!(Config::load_from(None, huge).is_err());
    }

    #[test]
    fn every_section_of_the_shipped_file_can_be_set_from_the_environment() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/default.toml");
        let table: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
        for section in table.keys() {
            assert!(SECTIONS.contains(&section.as_str()), "[{section}] is missing from SECTIONS");
        }
    }

    #[test]
    fn the_cluster_section_is_read_from_the_file_and_the_environment() {
        assert!(Config::load_from(None, []).unwrap().cluster.is_none(), "no [cluster]: sled");
        let url = "postgres://confab:s3cret@db.example:5432/chat";
        let env = [("CONFAB_CLUSTER_STORE".to_string(), url.to_string())];
        let config = Config::load_from(None, env).unwrap();
        let cluster = config.cluster.as_ref().expect("[cluster] from the environment");
        assert_eq!((cluster.store.as_str(), cluster.store_connections), (url, 8));
        assert!(!format!("{config:?}").contains("s3cret"), "the password is not printed");

        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/cluster.toml");
        let example = Config::load_from(Some(&path), []).unwrap();
        assert!(example.cluster.unwrap().store.starts_with("postgres://"), "config/cluster.toml");

        let env = [
            ("CONFAB_CLUSTER_STORE".to_string(), url.to_string()),
            ("CONFAB_CLUSTER_BUS".to_string(), "nats://10.0.0.5:4222".to_string()),
            ("CONFAB_CLUSTER_NODE".to_string(), "node-2".to_string()),
            ("CONFAB_CLUSTER_LEASE_TTL_MS".to_string(), "3000".to_string()),
            ("CONFAB_CLUSTER_BLOBS".to_string(), "/srv/confab-files".to_string()),
        ];
        let config = Config::load_from(None, env).unwrap();
        let cluster = config.cluster.unwrap();
        assert_eq!(cluster.bus.as_deref(), Some("nats://10.0.0.5:4222"));
        assert_eq!(cluster.blobs.as_deref(), Some(Path::new("/srv/confab-files")));
        assert_eq!(
            (cluster.node.as_str(), cluster.lease_ttl_ms, cluster.lease_renew_ms),
            ("node-2", 3000, 1000)
        );

        for (var, value, says) in [
            ("CONFAB_CLUSTER_STORE", "/var/lib/confab", "not a PostgreSQL URL"),
            ("CONFAB_CLUSTER_NOPE", "1", "unknown field"),
            ("CONFAB_CLUSTER_BUS", "redis://127.0.0.1:6379", "not a NATS URL"),
            ("CONFAB_CLUSTER_STORE_CONNECTIONS", "0", "cluster.store_connections"),
            ("CONFAB_CLUSTER_LEASE_TTL_MS", "100", "cluster.lease_ttl_ms"),
            ("CONFAB_CLUSTER_LEASE_RENEW_MS", "4000", "cluster.lease_renew_ms"),
            ("CONFAB_CLUSTER_FORWARD_TIMEOUT_MS", "0", "cluster.forward_timeout_ms"),
            ("CONFAB_CLUSTER_FORWARD_MAX_BYTES", "1", "cluster.forward_max_bytes"),
            ("CONFAB_CLUSTER_FORWARD_CONCURRENCY", "0", "cluster.forward_concurrency"),
            ("CONFAB_CLUSTER_RELAY_TYPING_PER_SEC", "0", "cluster.relay_typing_per_sec"),
            ("CONFAB_CLUSTER_NODE", "a.b", "cluster.node"),
            ("CONFAB_CLUSTER_NAME", "a b", "cluster.name"),
            ("CONFAB_CLUSTER_BUS", "nats://10.0.0.5:4222", "cluster.bus needs cluster.blobs"),
            ("CONFAB_CLUSTER_BLOBS", "shared/files", "cluster.blobs = \"shared/files\" must be an absolute"),
        ] {
            let mut env = vec![(var.to_string(), value.to_string())];
            if var != "CONFAB_CLUSTER_STORE" {
                env.push(("CONFAB_CLUSTER_STORE".to_string(), url.to_string()));
            }
            let e = Config::load_from(None, env).unwrap_err();
            assert!(format!("{e:#}").contains(says), "{var}={value}: {e:#}");
            assert!(!format!("{e:#}").contains("s3cret"), "{e:#}");
        }
    }

    #[test]
    fn unknown_keys_are_errors() {
        let env = [("CONFAB_LIMITS_NOPE".to_string(), "1".to_string())];
        assert!(Config::load_from(None, env).is_err());
    }

    #[test]
    fn unknown_sections_are_errors() {
        let dir = std::env::temp_dir().join(format!("confab-config-sections-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "[nonsense]\nkey = 1\n").unwrap();
        let loaded = Config::load_from(Some(&file), []);
        std::fs::remove_dir_all(dir).unwrap();
        assert!(loaded.is_err(), "an unknown [section] must not be ignored");
    }

    #[test]
    fn shipped_default_file_matches_compiled_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/default.toml");
        let from_file = Config::load_from(Some(&path), []).unwrap();
        let compiled = Config::default();
        assert_eq!(format!("{from_file:?}"), format!("{compiled:?}"));
    }
}
