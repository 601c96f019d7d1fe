//! Settings: compiled-in defaults, overridden by a TOML file (`--config`), overridden
//! by environment variables `CONFAB_<SECTION>_<KEY>`, overridden by the `--listen` and
//! `--data-dir` flags. `config/default.toml` documents every key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use confab_app::AppConfig;
use serde::Deserialize;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerSection,
    pub store: StoreSection,
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
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            request_timeout_secs: 30,
        }
    }
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

/// The sections a `CONFAB_<SECTION>_<KEY>` variable may name.
const SECTIONS: &[&str] = &["server", "store", "auth", "limits", "events", "websocket"];

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
        toml::Value::Table(table).try_into().context("invalid configuration")
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
