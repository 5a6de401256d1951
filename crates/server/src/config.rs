//! The one server `Config`: TOML file < `COFFER_*` environment < command-line flags.
//! Defaults are named functions; secrets come from files or env, never only inline.

use anyhow::{Context, bail};
use coffer_core::policy::Cidr;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

pub fn default_data_dir() -> PathBuf {
    PathBuf::from("./coffer-data")
}
pub fn default_s3_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9000))
}
pub fn default_api_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9001))
}
pub fn default_zones() -> Vec<String> {
    vec!["US-EAST-04A".to_string()]
}
pub fn default_audit_flush_secs() -> u64 {
    60
}
pub fn default_lifecycle_interval_secs() -> u64 {
    3600
}

/// `coffer server` flags. Each also reads its `COFFER_*` variable; both override the
/// TOML file given with `--config`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServerArgs {
    /// TOML configuration file.
    #[arg(long, env = "COFFER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory: metadata database, blob files, master key, bootstrap token
    /// [default: ./coffer-data].
    #[arg(long, env = "COFFER_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// S3 listener address [default: 127.0.0.1:9000].
    #[arg(long, env = "COFFER_S3_LISTEN")]
    pub s3_listen: Option<SocketAddr>,
    /// Management API listener address [default: 127.0.0.1:9001].
    #[arg(long, env = "COFFER_API_LISTEN")]
    pub api_listen: Option<SocketAddr>,
    /// Comma-separated zones accepted as LocationConstraint [default: US-EAST-04A].
    #[arg(long, env = "COFFER_ZONES", value_delimiter = ',')]
    pub zones: Option<Vec<String>>,
    /// Domain suffix for virtual-hosted-style requests (`bucket.<domain>`).
    #[arg(long, env = "COFFER_DOMAIN")]
    pub domain: Option<String>,
    /// File holding the server-wide operator token (may create orgs, users, tokens).
    #[arg(long, env = "COFFER_OPERATOR_TOKEN_FILE")]
    pub operator_token_file: Option<PathBuf>,
    /// File holding the 32-byte master key (64 hex chars) that seals access-key
    /// secrets [default: <data-dir>/master.key, created on first start].
    #[arg(long, env = "COFFER_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// PEM certificate chain; with --tls-key, both listeners serve HTTPS.
    #[arg(long, env = "COFFER_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "COFFER_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Seconds between audit-log flushes [default: 60].
    #[arg(long, env = "COFFER_AUDIT_FLUSH_SECS")]
    pub audit_flush_secs: Option<u64>,
    /// Seconds between runs of the bucket lifecycle worker (expirations, incomplete
    /// multipart uploads) [default: 3600].
    #[arg(long, env = "COFFER_LIFECYCLE_INTERVAL_SECS")]
    pub lifecycle_interval_secs: Option<u64>,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "COFFER_LOG_JSON")]
    pub log_json: bool,
    /// Comma-separated CIDRs of reverse proxies whose `X-Forwarded-For` is believed
    /// (the client address then becomes `aws:SourceIp` and the audit `sourceIp`).
    /// Default: none — the header is ignored and the TCP peer is the client.
    #[arg(long, env = "COFFER_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    s3_listen: Option<SocketAddr>,
    api_listen: Option<SocketAddr>,
    zones: Option<Vec<String>>,
    domain: Option<String>,
    operator_token_file: Option<PathBuf>,
    master_key_file: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    log_json: Option<bool>,
    trusted_proxies: Option<Vec<String>>,
    audit: Option<AuditFileConfig>,
    lifecycle: Option<LifecycleFileConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditFileConfig {
    flush_secs: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LifecycleFileConfig {
    interval_secs: Option<u64>,
}

/// Resolved server configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub s3_listen: SocketAddr,
    pub api_listen: SocketAddr,
    pub zones: Vec<String>,
    pub domain: Option<String>,
    pub operator_token_file: Option<PathBuf>,
    pub master_key_file: Option<PathBuf>,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub audit_flush_secs: u64,
    pub lifecycle_interval_secs: u64,
    pub log_json: bool,
    /// Reverse proxies whose `X-Forwarded-For` is believed (empty: never).
    pub trusted_proxies: Vec<Cidr>,
    /// Test hook, not a setting (no flag, env or TOML key): a clock tests can move, e.g.
    /// to expire keys. `None` = the system clock.
    pub clock: Option<coffer_core::clock::OffsetClock>,
}

impl Config {
    /// Defaults for a data directory; used by tests and as the base of `resolve`.
    pub fn with_data_dir(data_dir: PathBuf) -> Self {
        Config {
            data_dir,
            s3_listen: default_s3_listen(),
            api_listen: default_api_listen(),
            zones: default_zones(),
            domain: None,
            operator_token_file: None,
            master_key_file: None,
            tls: None,
            audit_flush_secs: default_audit_flush_secs(),
            lifecycle_interval_secs: default_lifecycle_interval_secs(),
            log_json: false,
            trusted_proxies: Vec::new(),
            clock: None,
        }
    }

    pub fn resolve(args: &ServerArgs) -> anyhow::Result<Config> {
        let file: FileConfig = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("parsing config file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let zones = args
            .zones
            .clone()
            .or(file.zones)
            .unwrap_or_else(default_zones)
            .into_iter()
            .map(|z| z.trim().to_string())
            .filter(|z| !z.is_empty())
            .collect::<Vec<_>>();
        if zones.is_empty() {
            bail!("at least one zone must be configured");
        }
        let tls_cert = args.tls_cert.clone().or(file.tls_cert);
        let tls_key = args.tls_key.clone().or(file.tls_key);
        let tls = match (tls_cert, tls_key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => bail!("--tls-cert and --tls-key must be given together"),
        };
        let domain = args
            .domain
            .clone()
            .or(file.domain)
            .map(|d| d.trim_matches('.').to_ascii_lowercase())
            .filter(|d| !d.is_empty());
        Ok(Config {
            data_dir: args
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(default_data_dir),
            s3_listen: args
                .s3_listen
                .or(file.s3_listen)
                .unwrap_or_else(default_s3_listen),
            api_listen: args
                .api_listen
                .or(file.api_listen)
                .unwrap_or_else(default_api_listen),
            zones,
            domain,
            operator_token_file: args
                .operator_token_file
                .clone()
                .or(file.operator_token_file),
            master_key_file: args.master_key_file.clone().or(file.master_key_file),
            tls,
            audit_flush_secs: args
                .audit_flush_secs
                .or(file.audit.and_then(|a| a.flush_secs))
                .unwrap_or_else(default_audit_flush_secs),
            lifecycle_interval_secs: args
                .lifecycle_interval_secs
                .or(file.lifecycle.and_then(|l| l.interval_secs))
                .unwrap_or_else(default_lifecycle_interval_secs),
            log_json: args.log_json || file.log_json.unwrap_or(false),
            trusted_proxies: args
                .trusted_proxies
                .clone()
                .or(file.trusted_proxies)
                .unwrap_or_default()
                .iter()
                .map(|c| {
                    Cidr::parse(c).with_context(|| {
                        format!("trusted proxy {c:?} is not an IP address or CIDR")
                    })
                })
                .collect::<anyhow::Result<_>>()?,
            clock: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "data_dir = \"/x\"\ns3_listen = \"127.0.0.1:1\"\nzones = [\"A\", \"B\"]\n[audit]\nflush_secs = 5\n[lifecycle]\ninterval_secs = 7\n",
        )
        .unwrap();
        let args = ServerArgs {
            config: Some(path.clone()),
            s3_listen: Some("127.0.0.1:2".parse().unwrap()),
            ..Default::default()
        };
        let c = Config::resolve(&args).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/x"));
        assert_eq!(c.s3_listen.port(), 2);
        assert_eq!(c.api_listen, default_api_listen());
        assert_eq!(c.zones, vec!["A", "B"]);
        assert_eq!(c.audit_flush_secs, 5);
        assert_eq!(c.lifecycle_interval_secs, 7);

        std::fs::write(&path, "bogus = 1\n").unwrap();
        assert!(Config::resolve(&args).is_err(), "unknown keys are refused");
    }

    #[test]
    fn trusted_proxies_are_parsed_strictly() {
        let mut args = ServerArgs {
            trusted_proxies: Some(vec!["10.0.0.0/8".into(), "::1".into()]),
            ..Default::default()
        };
        assert_eq!(Config::resolve(&args).unwrap().trusted_proxies.len(), 2);
        args.trusted_proxies = Some(vec!["10.0.0.0/33".into()]);
        assert!(Config::resolve(&args).is_err());
        args.trusted_proxies = Some(vec!["proxy.local".into()]);
        assert!(Config::resolve(&args).is_err());
    }

    #[test]
    fn tls_needs_both_files() {
        let args = ServerArgs {
            tls_cert: Some("c.pem".into()),
            ..Default::default()
        };
        assert!(Config::resolve(&args).is_err());
    }
}
