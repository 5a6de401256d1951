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
    /// Upper bound of the audit spool on disk in bytes; above it new events wait or are
    /// refused (see --audit-spool-full) [default: 268435456 = 256 MiB].
    #[arg(long, env = "COFFER_AUDIT_SPOOL_MAX_BYTES")]
    pub audit_spool_max_bytes: Option<u64>,
    /// What a request on an audited resource gets while the spool is full: `block`
    /// (wait for a flush) or `reject` (503 SlowDown / `unavailable`) [default: block].
    #[arg(long, env = "COFFER_AUDIT_SPOOL_FULL", value_enum)]
    pub audit_spool_full: Option<crate::audit::spool::FullPolicy>,
    /// Metadata database: `sqlite` (embedded, in the data directory) or a PostgreSQL URL
    /// `postgres://user:password@host:port/db` shared by several nodes [default: sqlite].
    #[arg(long, env = "COFFER_METADATA")]
    pub metadata: Option<String>,
    /// This node's id (lowercase letters and digits, 1–32): audit object names, the
    /// node's temp directory in a shared blob directory, logs [default: a random id kept
    /// in the data directory].
    #[arg(long, env = "COFFER_NODE_ID")]
    pub node_id: Option<String>,
    /// Blob directory; with PostgreSQL metadata, the directory every node shares
    /// [default: <data-dir>/blobs].
    #[arg(long, env = "COFFER_BLOB_DIR")]
    pub blob_dir: Option<PathBuf>,
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
    metadata: Option<String>,
    node_id: Option<String>,
    blob_dir: Option<PathBuf>,
    audit: Option<AuditFileConfig>,
    lifecycle: Option<LifecycleFileConfig>,
}

/// Where metadata lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Metadata {
    /// `<data-dir>/meta.db`, one node.
    Sqlite,
    /// A PostgreSQL-compatible database shared by every node (the URL may hold a
    /// password: never log it).
    Postgres(String),
}

impl Metadata {
    pub fn parse(s: &str) -> anyhow::Result<Metadata> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("sqlite") {
            Ok(Metadata::Sqlite)
        } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(Metadata::Postgres(s.to_string()))
        } else {
            bail!("metadata must be \"sqlite\" or a postgres:// URL")
        }
    }
}

/// Node ids: 1–32 lowercase letters and digits (they appear in audit object names,
/// `<node>-<seq>.jsonl.gz`, so no `-`).
pub fn is_valid_node_id(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditFileConfig {
    flush_secs: Option<u64>,
    spool_max_bytes: Option<u64>,
    spool_full: Option<crate::audit::spool::FullPolicy>,
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
    /// Audit spool bound (bytes) and what happens above it.
    pub audit_spool_max_bytes: u64,
    pub audit_spool_full: crate::audit::spool::FullPolicy,
    pub log_json: bool,
    /// Reverse proxies whose `X-Forwarded-For` is believed (empty: never).
    pub trusted_proxies: Vec<Cidr>,
    pub metadata: Metadata,
    /// `None`: the id kept in the data directory (created on first start).
    pub node_id: Option<String>,
    /// `None`: `<data-dir>/blobs`.
    pub blob_dir: Option<PathBuf>,
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
            audit_spool_max_bytes: crate::audit::spool::default_max_spool_bytes(),
            audit_spool_full: crate::audit::spool::FullPolicy::Block,
            log_json: false,
            trusted_proxies: Vec::new(),
            metadata: Metadata::Sqlite,
            node_id: None,
            blob_dir: None,
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
        let metadata = match args.metadata.clone().or(file.metadata) {
            Some(m) => Metadata::parse(&m)?,
            None => Metadata::Sqlite,
        };
        let node_id = args.node_id.clone().or(file.node_id);
        if let Some(n) = &node_id
            && !is_valid_node_id(n)
        {
            bail!("node_id must be 1 to 32 lowercase letters and digits");
        }
        Ok(Config {
            metadata,
            node_id,
            blob_dir: args.blob_dir.clone().or(file.blob_dir),
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
                .or(file.audit.as_ref().and_then(|a| a.flush_secs))
                .unwrap_or_else(default_audit_flush_secs),
            lifecycle_interval_secs: args
                .lifecycle_interval_secs
                .or(file.lifecycle.and_then(|l| l.interval_secs))
                .unwrap_or_else(default_lifecycle_interval_secs),
            audit_spool_max_bytes: args
                .audit_spool_max_bytes
                .or(file.audit.as_ref().and_then(|a| a.spool_max_bytes))
                .unwrap_or_else(crate::audit::spool::default_max_spool_bytes),
            audit_spool_full: args
                .audit_spool_full
                .or(file.audit.as_ref().and_then(|a| a.spool_full))
                .unwrap_or_default(),
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
    fn audit_spool_bound_and_policy() {
        use crate::audit::spool::FullPolicy;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[audit]\nspool_max_bytes = 4096\nspool_full = \"reject\"\n",
        )
        .unwrap();
        let mut args = ServerArgs {
            config: Some(path.clone()),
            ..Default::default()
        };
        let c = Config::resolve(&args).unwrap();
        assert_eq!(
            (c.audit_spool_max_bytes, c.audit_spool_full),
            (4096, FullPolicy::Reject)
        );
        args.audit_spool_full = Some(FullPolicy::Block);
        args.audit_spool_max_bytes = Some(1);
        let c = Config::resolve(&args).unwrap();
        assert_eq!(
            (c.audit_spool_max_bytes, c.audit_spool_full),
            (1, FullPolicy::Block),
            "flags win over the file"
        );
        std::fs::write(&path, "[audit]\nspool_full = \"drop\"\n").unwrap();
        assert!(
            Config::resolve(&args).is_err(),
            "unknown policies are refused"
        );
        let defaults = Config::resolve(&ServerArgs::default()).unwrap();
        assert_eq!(defaults.audit_spool_full, FullPolicy::Block);
        assert_eq!(defaults.audit_spool_max_bytes, 256 << 20);
    }

    #[test]
    fn metadata_and_node_id() {
        let mut args = ServerArgs::default();
        let c = Config::resolve(&args).unwrap();
        assert_eq!(
            (c.metadata, c.node_id, c.blob_dir),
            (Metadata::Sqlite, None, None)
        );
        args.metadata = Some("postgres://u@db:5432/coffer".into());
        args.node_id = Some("node2".into());
        args.blob_dir = Some("/shared/blobs".into());
        let c = Config::resolve(&args).unwrap();
        assert_eq!(
            c.metadata,
            Metadata::Postgres("postgres://u@db:5432/coffer".into())
        );
        assert_eq!(c.node_id.as_deref(), Some("node2"));
        assert_eq!(c.blob_dir, Some(PathBuf::from("/shared/blobs")));
        for bad in ["Node2", "node-2", "", &"x".repeat(33)] {
            args.node_id = Some(bad.to_string());
            assert!(Config::resolve(&args).is_err(), "{bad:?}");
        }
        args.node_id = None;
        args.metadata = Some("mysql://x".into());
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
