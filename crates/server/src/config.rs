//! The one server `Config`: TOML file < `COFFER_*` environment < command-line flags.
//! Defaults are named functions; secrets come from files or env, never only inline.

use anyhow::{Context, bail};
use coffer_core::acl::ObjectOwnership;
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
pub fn default_max_keys_per_principal() -> u64 {
    coffer_core::quota::DEFAULT_KEYS_PER_PRINCIPAL
}
pub fn default_max_keys_per_org() -> u64 {
    coffer_core::quota::DEFAULT_KEYS_PER_ORG
}
pub fn default_max_policies_per_org() -> u64 {
    coffer_core::quota::DEFAULT_POLICIES_PER_ORG
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
    /// Object Ownership of buckets created without `x-amz-object-ownership`:
    /// `BucketOwnerEnforced` (ACLs disabled, S3's default since 2023), `BucketOwnerPreferred`,
    /// `ObjectWriter`, or `none` (no ownership controls: ACLs enabled, S3 before 2023).
    /// Anything but the default weakens the defaults: see docs/security.md
    /// [default: BucketOwnerEnforced].
    #[arg(long, env = "COFFER_DEFAULT_OBJECT_OWNERSHIP")]
    pub default_object_ownership: Option<String>,
    /// Accept SSE-C keys on connections that did not arrive over TLS: only behind a
    /// TLS-terminating proxy on a trusted network, or in tests. Off: such requests are
    /// refused, as S3 does (a key sent in the clear is a key disclosed).
    #[arg(long, env = "COFFER_ALLOW_INSECURE_SSEC", value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_insecure_ssec: bool,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "COFFER_LOG_JSON", value_parser = clap::builder::BoolishValueParser::new())]
    pub log_json: bool,
    /// One access log line per S3 request (target `coffer::access`: request id,
    /// principal, operation, bucket, status, bytes, duration; never secrets).
    #[arg(long, env = "COFFER_ACCESS_LOG", value_parser = clap::builder::BoolishValueParser::new())]
    pub access_log: bool,
    /// Comma-separated CIDRs of reverse proxies whose `X-Forwarded-For` is believed
    /// (the client address then becomes `aws:SourceIp` and the audit `sourceIp`).
    /// Default: none — the header is ignored and the TCP peer is the client.
    #[arg(long, env = "COFFER_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Option<Vec<String>>,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub quotas: QuotaArgs,
}

/// Per-org quotas (see `coffer_core::quota`). Reaching one is `resource_exhausted`
/// (code 8, HTTP 429) with a message naming the setting.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct QuotaArgs {
    /// Access keys one principal may hold that are neither revoked nor expired
    /// (temporary-credential keys included) [default: 100].
    #[arg(long, env = "COFFER_MAX_KEYS_PER_PRINCIPAL")]
    pub max_keys_per_principal: Option<u64>,
    /// Access keys one org may hold that are neither revoked nor expired
    /// [default: 10000].
    #[arg(long, env = "COFFER_MAX_KEYS_PER_ORG")]
    pub max_keys_per_org: Option<u64>,
    /// Org access policies one org may hold [default: 1000].
    #[arg(long, env = "COFFER_MAX_POLICIES_PER_ORG")]
    pub max_policies_per_org: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotasFileConfig {
    max_keys_per_principal: Option<u64>,
    max_keys_per_org: Option<u64>,
    max_policies_per_org: Option<u64>,
}

fn resolve_quotas(
    a: &QuotaArgs,
    f: Option<QuotasFileConfig>,
) -> anyhow::Result<coffer_core::quota::Quotas> {
    let f = f.unwrap_or_default();
    let pick = |name: &str, flag: Option<u64>, file: Option<u64>, def: fn() -> u64| {
        let v = flag.or(file).unwrap_or_else(def);
        if v == 0 {
            bail!("{name} must be at least 1");
        }
        Ok(v)
    };
    Ok(coffer_core::quota::Quotas {
        keys_per_principal: pick(
            "max_keys_per_principal",
            a.max_keys_per_principal,
            f.max_keys_per_principal,
            default_max_keys_per_principal,
        )?,
        keys_per_org: pick(
            "max_keys_per_org",
            a.max_keys_per_org,
            f.max_keys_per_org,
            default_max_keys_per_org,
        )?,
        policies_per_org: pick(
            "max_policies_per_org",
            a.max_policies_per_org,
            f.max_policies_per_org,
            default_max_policies_per_org,
        )?,
    })
}

/// Hostile-client defences (see `crate::limits`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LimitArgs {
    /// Memory the server is sized for (e.g. 2GiB): sets connection buffer sizes and,
    /// unless given, --max-connections and --max-in-flight [default: 2GiB].
    #[arg(long, env = "COFFER_MAX_MEMORY", value_parser = config_size)]
    pub max_memory: Option<u64>,
    /// Seconds a client has to send a request's headers, from its first byte (from the
    /// accept for a connection's first request) [default: 10].
    #[arg(long, env = "COFFER_HEADER_TIMEOUT_SECS")]
    pub header_timeout_secs: Option<u64>,
    /// Seconds a keep-alive connection may stay idle between requests [default: 60].
    #[arg(long, env = "COFFER_IDLE_TIMEOUT_SECS")]
    pub idle_timeout_secs: Option<u64>,
    /// Seconds a request body (or a response the client does not read) may stall
    /// [default: 30].
    #[arg(long, env = "COFFER_BODY_TIMEOUT_SECS")]
    pub body_timeout_secs: Option<u64>,
    /// Minimum average request-body rate in bytes per second of waiting, checked once a
    /// body has been waited on for the body timeout; 0 disables [default: 1024].
    #[arg(long, env = "COFFER_BODY_MIN_RATE")]
    pub body_min_rate: Option<u64>,
    /// Largest request head (request line and headers) in bytes; larger gets 431
    /// [default: 32KiB].
    #[arg(long, env = "COFFER_MAX_HEADER_BYTES", value_parser = config_size)]
    pub max_header_bytes: Option<u64>,
    /// Most header fields in a request; more gets 431 [default: 128].
    #[arg(long, env = "COFFER_MAX_HEADERS")]
    pub max_headers: Option<usize>,
    /// Open connections per listener; beyond it a connection is answered 503 and
    /// closed [default: derived from --max-memory, 10240 at 2GiB].
    #[arg(long, env = "COFFER_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Requests served at once over both listeners; more wait [default: derived from
    /// --max-memory, 320 at 2GiB].
    #[arg(long, env = "COFFER_MAX_IN_FLIGHT")]
    pub max_in_flight: Option<usize>,
    /// Request bytes held in memory at once over both listeners (XML and JSON bodies,
    /// form fields before the file); a request that would exceed it is answered 503
    /// [default: --max-memory / 8, 256MiB at 2GiB].
    #[arg(long, env = "COFFER_MAX_BUFFERED_BYTES", value_parser = config_size)]
    pub max_buffered_bytes: Option<u64>,
}

/// A byte size in TOML: an integer or a string with a unit (`"2GiB"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum ByteSize {
    Int(u64),
    Text(String),
}

impl ByteSize {
    fn get(&self) -> anyhow::Result<u64> {
        match self {
            ByteSize::Int(n) => Ok(*n),
            ByteSize::Text(t) => config_size(t).map_err(anyhow::Error::msg),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFileConfig {
    max_memory: Option<ByteSize>,
    header_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    body_timeout_secs: Option<u64>,
    body_min_rate: Option<u64>,
    max_header_bytes: Option<ByteSize>,
    max_headers: Option<usize>,
    max_connections: Option<usize>,
    max_in_flight: Option<usize>,
    max_buffered_bytes: Option<ByteSize>,
}

fn resolve_limits(
    a: &LimitArgs,
    f: Option<LimitsFileConfig>,
) -> anyhow::Result<crate::limits::Limits> {
    use std::time::Duration;
    let f = f.unwrap_or_default();
    let d = crate::limits::LimitSettings::default();
    let bytes = |flag: Option<u64>, file: &Option<ByteSize>, def: u64| -> anyhow::Result<u64> {
        match (flag, file) {
            (Some(v), _) => Ok(v),
            (None, Some(b)) => b.get(),
            (None, None) => Ok(def),
        }
    };
    let secs = |flag: Option<u64>, file: Option<u64>, def: Duration| {
        flag.or(file).map(Duration::from_secs).unwrap_or(def)
    };
    crate::limits::LimitSettings {
        max_memory: bytes(a.max_memory, &f.max_memory, d.max_memory)?,
        header_timeout: secs(
            a.header_timeout_secs,
            f.header_timeout_secs,
            d.header_timeout,
        ),
        idle_timeout: secs(a.idle_timeout_secs, f.idle_timeout_secs, d.idle_timeout),
        body_timeout: secs(a.body_timeout_secs, f.body_timeout_secs, d.body_timeout),
        body_min_rate: a
            .body_min_rate
            .or(f.body_min_rate)
            .unwrap_or(d.body_min_rate),
        max_header_bytes: bytes(a.max_header_bytes, &f.max_header_bytes, d.max_header_bytes)?,
        max_headers: a.max_headers.or(f.max_headers).unwrap_or(d.max_headers),
        max_connections: a.max_connections.or(f.max_connections),
        max_in_flight: a.max_in_flight.or(f.max_in_flight),
        max_buffered_bytes: match (a.max_buffered_bytes, &f.max_buffered_bytes) {
            (Some(v), _) => Some(v),
            (None, Some(b)) => Some(b.get()?),
            (None, None) => None,
        },
    }
    .resolve()
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
    allow_insecure_ssec: Option<bool>,
    access_log: Option<bool>,
    trusted_proxies: Option<Vec<String>>,
    metadata: Option<String>,
    node_id: Option<String>,
    blob_dir: Option<PathBuf>,
    default_object_ownership: Option<String>,
    audit: Option<AuditFileConfig>,
    lifecycle: Option<LifecycleFileConfig>,
    limits: Option<LimitsFileConfig>,
    quotas: Option<QuotasFileConfig>,
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

/// A byte size of the server's flags and config file (`coffer_units::parse_size`). Before
/// the one parser, the server read `2GB` and `3m` as powers of 1024: a decimal unit now
/// draws a warning naming the bytes it means.
fn config_size(s: &str) -> Result<u64, String> {
    let n = coffer_units::parse_size(s)?;
    if coffer_units::has_decimal_unit(s) {
        eprintln!(
            "warning: size {s:?} is {n} bytes (KB/MB/GB are powers of 1000; write KiB/MiB/GiB \
             for powers of 1024, as earlier builds read these)"
        );
    }
    Ok(n)
}

/// `default_object_ownership`: one of S3's three values, or `none`.
fn parse_default_ownership(s: &str) -> anyhow::Result<Option<ObjectOwnership>> {
    if s == "none" {
        return Ok(None);
    }
    match ObjectOwnership::parse(s) {
        Some(o) => Ok(Some(o)),
        None => bail!(
            "default_object_ownership must be BucketOwnerEnforced, BucketOwnerPreferred, \
             ObjectWriter or none"
        ),
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
    /// SSE-C keys are accepted over plain HTTP.
    pub allow_insecure_ssec: bool,
    /// One access log line per S3 request.
    pub access_log: bool,
    /// Reverse proxies whose `X-Forwarded-For` is believed (empty: never).
    pub trusted_proxies: Vec<Cidr>,
    pub metadata: Metadata,
    /// `None`: the id kept in the data directory (created on first start).
    pub node_id: Option<String>,
    /// `None`: `<data-dir>/blobs`.
    pub blob_dir: Option<PathBuf>,
    /// Object Ownership of new buckets that do not ask for one (`None`: no controls).
    pub default_object_ownership: Option<ObjectOwnership>,
    /// Hostile-client defences: timeouts, size and connection limits.
    pub limits: crate::limits::Limits,
    /// Per-org quotas on access keys and access policies.
    pub quotas: coffer_core::quota::Quotas,
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
            allow_insecure_ssec: false,
            access_log: false,
            trusted_proxies: Vec::new(),
            metadata: Metadata::Sqlite,
            node_id: None,
            blob_dir: None,
            default_object_ownership: Some(ObjectOwnership::BucketOwnerEnforced),
            limits: crate::limits::Limits::default(),
            quotas: coffer_core::quota::Quotas::default(),
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
        let limits = resolve_limits(&args.limits, file.limits)?;
        let quotas = resolve_quotas(&args.quotas, file.quotas)?;
        let default_object_ownership = match args
            .default_object_ownership
            .clone()
            .or(file.default_object_ownership)
        {
            None => Some(ObjectOwnership::BucketOwnerEnforced),
            Some(s) => parse_default_ownership(s.trim())?,
        };
        Ok(Config {
            default_object_ownership,
            limits,
            quotas,
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
            allow_insecure_ssec: args.allow_insecure_ssec
                || file.allow_insecure_ssec.unwrap_or(false),
            access_log: args.access_log || file.access_log.unwrap_or(false),
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
    fn limits_from_file_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[limits]\nmax_memory = \"1GiB\"\nheader_timeout_secs = 3\nmax_header_bytes = 8192\nmax_connections = 50\n",
        )
        .unwrap();
        let mut args = ServerArgs {
            config: Some(path.clone()),
            ..Default::default()
        };
        let l = Config::resolve(&args).unwrap().limits;
        assert_eq!(l.max_memory, 1 << 30);
        assert_eq!(l.header_timeout.as_secs(), 3);
        assert_eq!((l.max_header_bytes, l.max_connections), (8192, 50));
        args.limits.max_connections = Some(7);
        args.limits.idle_timeout_secs = Some(9);
        let l = Config::resolve(&args).unwrap().limits;
        assert_eq!((l.max_connections, l.idle_timeout.as_secs()), (7, 9));
        std::fs::write(&path, "[limits]\nmax_memory = \"lots\"\n").unwrap();
        assert!(Config::resolve(&args).is_err());
        std::fs::write(&path, "[limits]\nheader_timeout_secs = 0\n").unwrap();
        assert!(Config::resolve(&args).is_err());
        assert_eq!(
            Config::resolve(&ServerArgs::default()).unwrap().limits,
            crate::limits::Limits::default()
        );
    }

    #[test]
    fn quotas_from_file_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[quotas]\nmax_keys_per_principal = 3\nmax_policies_per_org = 7\n",
        )
        .unwrap();
        let mut args = ServerArgs {
            config: Some(path.clone()),
            ..Default::default()
        };
        let q = Config::resolve(&args).unwrap().quotas;
        assert_eq!(
            (q.keys_per_principal, q.keys_per_org, q.policies_per_org),
            (3, default_max_keys_per_org(), 7)
        );
        args.quotas.max_keys_per_principal = Some(5);
        args.quotas.max_keys_per_org = Some(9);
        let q = Config::resolve(&args).unwrap().quotas;
        assert_eq!((q.keys_per_principal, q.keys_per_org), (5, 9));
        args.quotas.max_keys_per_org = Some(0);
        let e = Config::resolve(&args).unwrap_err().to_string();
        assert!(e.contains("max_keys_per_org"), "{e}");
        std::fs::write(&path, "[quotas]\nmax_keys = 1\n").unwrap();
        assert!(Config::resolve(&args).is_err(), "unknown keys are refused");
        assert_eq!(
            Config::resolve(&ServerArgs::default()).unwrap().quotas,
            coffer_core::quota::Quotas::default()
        );
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
