//! Client subcommands of the `coffer` binary: one command per management-API RPC
//! (`/v1/cwobject`, SPEC §2) and per `/v1/iam` call (SPEC §1), over HTTP with the wire
//! types of `coffer-api`.
//!
//! Layout:
//! * this file — the clap command tree and [`run`], the single dispatch `match`;
//! * [`conn`] — connection settings (flags, `COFFER_*` environment, profiles file);
//! * [`http`] — the one place that sends requests and turns error bodies into
//!   [`CliError`]s;
//! * [`table`] — aligned-column and key/value rendering of the default output;
//! * `keys`, `policies`, `buckets`, `org`, `iam`, `federation` — one function per command;
//! * `audit` — `coffer audit verify|tail|query`, which read the audit bucket over S3.
//!
//! Output contract: stdout carries the result only (a table, or with `--json` the
//! response JSON); warnings and errors go to stderr as `warning: …` / `error: …`. Exit
//! codes: 0 success, 1 a failed request (or a `can-i` answered "no"), 2 a usage error.
//! Secrets: the API token is never printed; the only secrets ever printed are the secret
//! key of a key just created and the token of a token just created (shown once).

use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

mod audit;
mod buckets;
mod conn;
mod federation;
mod http;
mod iam;
mod keys;
mod org;
mod policies;
mod table;

pub use conn::ConnArgs;
pub use http::CliError;

/// The client commands, flattened into the top level of `coffer`.
#[derive(Subcommand)]
pub enum ClientCommand {
    /// Access keys (S3 credentials): create, list, inspect, suspend, revoke.
    Key(KeyArgs),
    /// Organization access policies.
    Policy(PolicyArgs),
    /// Bucket information and settings.
    Bucket(BucketArgs),
    /// Organization settings; organizations (operator token).
    Org(OrgArgs),
    /// Ask whether you may perform actions on resources, and which policy decides.
    ///
    /// Exits 0 when every action is allowed on every resource, 1 otherwise.
    CanI(CanIArgs),
    /// API access tokens of the management API.
    Token(TokenArgs),
    /// Users of an organization.
    User(UserArgs),
    /// Compute-node caches (`coffer cache`) and their credentials (operator token).
    CacheNode(CacheNodeArgs),
    /// Show the identity behind the API token.
    Whoami(WhoamiArgs),
    /// Workload identity federation configs (SAML IdPs, OIDC issuers) of the organization.
    Federation(FederationArgs),
    /// Read the org's audit logs through S3: verify their hash chains, tail, query.
    Audit(Box<audit::AuditArgs>),
    /// Create or update a connection profile (~/.config/coffer/profiles.toml), like
    /// `aws configure`: management and S3 endpoints and the API token (stored in a 0600
    /// file next to it). Use it with `--profile NAME` or COFFER_PROFILE.
    Configure(ConfigureArgs),
}

#[derive(Args)]
pub struct ConfigureArgs {
    /// Profile to write.
    #[arg(long, default_value = "default", value_name = "NAME")]
    profile: String,
    /// Management API endpoint, e.g. http://127.0.0.1:9001.
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// S3 endpoint, e.g. http://127.0.0.1:9000 (used by `coffer audit`).
    #[arg(long, value_name = "URL")]
    s3_endpoint: Option<String>,
    /// Use this existing token file.
    #[arg(long, value_name = "FILE", conflicts_with = "token_stdin")]
    token_file: Option<PathBuf>,
    /// Read the API token from stdin and store it in `<profile>.token` (0600).
    #[arg(long)]
    token_stdin: bool,
}

#[derive(Args)]
pub struct KeyArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(subcommand)]
    cmd: KeyCmd,
}

#[derive(Subcommand)]
pub enum KeyCmd {
    /// Create an access key for yourself (CreateAccessKeyFromJWT); prints its secret once.
    Create {
        /// Lifetime in seconds: 0 = permanent, otherwise 1..=43200.
        #[arg(long, value_name = "SECS", default_value_t = 0)]
        duration: i64,
        /// Attribute `key=value` (repeatable, at most 15).
        #[arg(long = "attr", value_name = "KEY=VALUE", value_parser = parse_attr)]
        attrs: Vec<(String, String)>,
        /// Print shell `export` lines for S3 tools instead of a table:
        /// `eval "$(coffer key create --env)"` sets AWS_ACCESS_KEY_ID and
        /// AWS_SECRET_ACCESS_KEY.
        #[arg(long, conflicts_with = "json")]
        env: bool,
    },
    /// List the organization's access keys in creation order (ListAccessKeyInfo).
    List {
        /// Only keys in this state.
        #[arg(long)]
        status: Option<KeyState>,
        /// Number of keys to skip.
        #[arg(long, value_name = "N")]
        offset: Option<u64>,
        /// At most this many keys (1..=1000; server default 100).
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
    },
    /// Show one access key (GetAccessKeyInfo).
    Get {
        /// Access key id (`CW…`).
        id: String,
    },
    /// Activate or suspend every key of a principal (UpdateAccessKeyStatus).
    Status {
        /// Principal, e.g. `coreweave/<uid>` or `role/<name>`.
        principal: String,
        state: KeyState,
    },
    /// Revoke one access key (RevokeAccessKeyByAccessKey); it stays listed as DELETED.
    Revoke {
        /// Access key id (`CW…`).
        id: String,
    },
    /// Revoke every access key of a principal (RevokeAccessKeysByPrincipal).
    RevokePrincipal {
        /// Principal, e.g. `coreweave/<uid>`.
        principal: String,
    },
}

/// The two states a client may ask for; `expired` and `deleted` are reached otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KeyState {
    Active,
    Suspended,
}

impl KeyState {
    /// The proto enum name the API takes.
    fn wire(self) -> &'static str {
        match self {
            KeyState::Active => coffer_api::ACCESS_KEY_STATUS_ACTIVE,
            KeyState::Suspended => coffer_api::ACCESS_KEY_STATUS_SUSPENDED,
        }
    }

    fn word(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Suspended => "suspended",
        }
    }
}

#[derive(Args)]
pub struct PolicyArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(subcommand)]
    cmd: PolicyCmd,
}

#[derive(Subcommand)]
pub enum PolicyCmd {
    /// Create or replace a policy by name (EnsureAccessPolicy).
    Apply {
        /// JSON file (`-` = stdin) holding `{"policy":{…}}` or the bare policy.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: PathBuf,
    },
    /// List the organization's policies, one row per statement (ListAccessPolicies).
    List,
    /// Delete a policy (DeleteAccessPolicy).
    Delete { name: String },
}

#[derive(Args)]
pub struct BucketArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(subcommand)]
    cmd: BucketCmd,
}

#[derive(Subcommand)]
pub enum BucketCmd {
    /// Show one bucket (GetBucketInfo), or list the organization's buckets (ListBucketInfo).
    Info {
        name: Option<String>,
        /// Number of buckets to skip (list only).
        #[arg(long, value_name = "N", conflicts_with = "name")]
        offset: Option<u64>,
        /// At most this many buckets (list only).
        #[arg(long, value_name = "N", conflicts_with = "name")]
        limit: Option<u64>,
    },
    /// Change bucket settings (SetBucketSettings); without flags, show them.
    Settings {
        name: String,
        /// Turn the bucket's audit logging on or off.
        #[arg(long, value_name = "BOOL")]
        audit_logging: Option<bool>,
        /// Capacity cap in bytes; suffixes KiB, MiB, GiB, TiB, PiB (or KB, MB, …) accepted.
        #[arg(long, value_name = "BYTES", value_parser = coffer_units::parse_size)]
        capacity_cap: Option<u64>,
        /// Remove the capacity cap.
        #[arg(long, conflicts_with = "capacity_cap")]
        clear_capacity_cap: bool,
    },
}

#[derive(Args)]
pub struct OrgArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(subcommand)]
    cmd: OrgCmd,
}

#[derive(Subcommand)]
pub enum OrgCmd {
    /// Change organization settings (SetOrganizationSettings); without flags, show them.
    Settings {
        /// Audit logging of management-API calls.
        #[arg(long, value_name = "BOOL")]
        control_plane_audit: Option<bool>,
        /// Audit logging default for buckets that never set their own.
        #[arg(long, value_name = "BOOL")]
        bucket_audit_default: Option<bool>,
    },
    /// Create an organization (operator token only).
    Create {
        name: String,
        /// Feature entitlement, e.g. `BucketArchive` (repeatable).
        #[arg(long = "entitlement", value_name = "NAME")]
        entitlements: Vec<String>,
    },
    /// List organizations (all with the operator token, else your own).
    List,
}

#[derive(Args)]
pub struct CanIArgs {
    #[command(flatten)]
    conn: ConnArgs,
    /// Actions, e.g. `s3:GetObject` or `cwobject:CreateAccessKey`.
    #[arg(required = true, value_name = "ACTION")]
    actions: Vec<String>,
    /// Resources, e.g. `bucket/key` (several may follow one flag; default `*`).
    #[arg(long = "resource", value_name = "RESOURCE", num_args = 1..)]
    resources: Vec<String>,
}

#[derive(Args)]
pub struct TokenArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(subcommand)]
    cmd: TokenCmd,
}

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Create an API token for a user; prints the token once.
    Create {
        /// The user's uid (default: yourself; required with the operator token).
        #[arg(long)]
        uid: Option<String>,
        /// Lifetime in seconds; 0 = no expiry.
        #[arg(long, value_name = "SECS", default_value_t = 0)]
        duration: i64,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List the organization's API tokens.
    List {
        /// Organization (operator token only).
        #[arg(long)]
        org_id: Option<String>,
    },
    /// Revoke an API token.
    Revoke {
        id: String,
        /// Organization (operator token only).
        #[arg(long)]
        org_id: Option<String>,
    },
}

#[derive(Args)]
pub struct CacheNodeArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(subcommand)]
    cmd: CacheNodeCmd,
}

#[derive(Subcommand)]
pub enum CacheNodeCmd {
    /// Register a compute-node cache and issue its credential (shown once).
    Create {
        /// Unique name, recorded in the audit events of requests served through it.
        name: String,
        /// Write the credential to this new file (mode 600) instead of printing it.
        #[arg(long, value_name = "PATH")]
        credential_file: Option<PathBuf>,
    },
    /// List the registered compute-node caches.
    List,
    /// Revoke a compute-node cache: the origin refuses its credential from the next
    /// request on.
    Revoke { id: String },
}

#[derive(Args)]
pub struct UserArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(subcommand)]
    cmd: UserCmd,
}

#[derive(Subcommand)]
pub enum UserCmd {
    /// Create a user.
    Create {
        name: String,
        #[arg(long)]
        role: Role,
        /// Organization (operator token only).
        #[arg(long)]
        org_id: Option<String>,
    },
    /// List the organization's users.
    List {
        /// Organization (operator token only).
        #[arg(long)]
        org_id: Option<String>,
    },
    /// Delete a user with its API tokens and access keys.
    Delete { uid: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    fn wire(self) -> &'static str {
        match self {
            Role::Admin => coffer_api::role::ADMIN,
            Role::Member => coffer_api::role::MEMBER,
        }
    }
}

#[derive(Args)]
pub struct FederationArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(subcommand)]
    cmd: FederationCmd,
}

#[derive(Subcommand)]
pub enum FederationCmd {
    /// SAML 2.0 identity providers whose signed responses mint temporary keys.
    Saml {
        #[command(subcommand)]
        cmd: SamlCmd,
    },
    /// OIDC issuers whose signed tokens mint temporary keys.
    Oidc {
        #[command(subcommand)]
        cmd: OidcCmd,
    },
}

#[derive(Subcommand)]
pub enum SamlCmd {
    /// Create a SAML config.
    Create {
        #[arg(long)]
        name: String,
        /// The IdP's entity id (the assertions' Issuer).
        #[arg(long)]
        idp_entity_id: String,
        /// PEM file with the IdP's signing certificate(s) (repeatable; `-` = stdin).
        #[arg(long = "cert", value_name = "FILE", required = true)]
        certs: Vec<PathBuf>,
        /// Our SP entity id, the assertions' Audience.
        #[arg(long)]
        audience: String,
        /// Our ACS URL; when set, Destination/Recipient must equal it.
        #[arg(long)]
        acs_url: Option<String>,
        /// Create it inactive.
        #[arg(long)]
        inactive: bool,
        /// Organization (operator token only).
        #[arg(long)]
        org_id: Option<String>,
    },
    /// List the organization's SAML configs.
    List {
        /// Organization (operator token only).
        #[arg(long)]
        org_id: Option<String>,
    },
    /// Show one SAML config.
    Get {
        id: String,
        /// Organization (operator token only).
        #[arg(long)]
        org_id: Option<String>,
    },
    /// Change a SAML config; fields not given keep their value.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        idp_entity_id: Option<String>,
        /// Replace the certificates with the PEM file(s) given (repeatable).
        #[arg(long = "cert", value_name = "FILE")]
        certs: Vec<PathBuf>,
        #[arg(long)]
        audience: Option<String>,
        /// New ACS URL; `""` removes it.
        #[arg(long)]
        acs_url: Option<String>,
        #[arg(long, value_name = "BOOL")]
        active: Option<bool>,
        /// Organization (operator token only).
        #[arg(long)]
        org_id: Option<String>,
    },
    /// Delete a SAML config.
    Delete {
        id: String,
        /// Organization (operator token only).
        #[arg(long)]
        org_id: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum OidcCmd {
    /// Create an OIDC config (give --jwks or --jwks-file).
    Create {
        #[arg(long)]
        name: String,
        /// The tokens' `iss`.
        #[arg(long)]
        issuer_url: String,
        /// The tokens' required `aud`.
        #[arg(long)]
        audience: String,
        /// Local JSON file with the issuer's JWKS (`{"keys":[…]}`; `-` = stdin).
        #[arg(
            long,
            value_name = "FILE",
            conflicts_with = "jwks_file",
            required_unless_present = "jwks_file"
        )]
        jwks: Option<PathBuf>,
        /// Absolute path of a JWKS file on the server, read at verification time
        /// (operator token only; org admins give --jwks).
        #[arg(long, value_name = "SERVER_PATH")]
        jwks_file: Option<String>,
        /// Create it inactive.
        #[arg(long)]
        inactive: bool,
        /// Organization (operator token only).
        #[arg(long)]
        org_id: Option<String>,
    },
    /// List the organization's OIDC configs.
    List {
        /// Organization (operator token only).
        #[arg(long)]
        org_id: Option<String>,
    },
    /// Show one OIDC config.
    Get {
        id: String,
        /// Organization (operator token only).
        #[arg(long)]
        org_id: Option<String>,
    },
    /// Change an OIDC config; fields not given keep their value.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        issuer_url: Option<String>,
        #[arg(long)]
        audience: Option<String>,
        /// Replace the key source with this local JWKS file.
        #[arg(long, value_name = "FILE", conflicts_with = "jwks_file")]
        jwks: Option<PathBuf>,
        /// Replace the key source with this server-side JWKS path (operator token
        /// only; org admins give --jwks).
        #[arg(long, value_name = "SERVER_PATH")]
        jwks_file: Option<String>,
        #[arg(long, value_name = "BOOL")]
        active: Option<bool>,
        /// Organization (operator token only).
        #[arg(long)]
        org_id: Option<String>,
    },
    /// Delete an OIDC config.
    Delete {
        id: String,
        /// Organization (operator token only).
        #[arg(long)]
        org_id: Option<String>,
    },
}

#[derive(Args)]
pub struct WhoamiArgs {
    #[command(flatten)]
    conn: ConnArgs,
}

/// Runs a client command; returns the process exit code. Every error is reported on
/// stderr here, once.
pub async fn run(cmd: ClientCommand) -> i32 {
    let result = match cmd {
        ClientCommand::Key(a) => with_client(&a.conn, |c| keys::run(c, a.cmd)).await,
        ClientCommand::Policy(a) => with_client(&a.conn, |c| policies::run(c, a.cmd)).await,
        ClientCommand::Bucket(a) => with_client(&a.conn, |c| buckets::run(c, a.cmd)).await,
        ClientCommand::Org(a) => with_client(&a.conn, |c| org::run(c, a.cmd)).await,
        ClientCommand::CanI(a) => {
            with_client(&a.conn, |c| policies::can_i(c, a.actions, a.resources)).await
        }
        ClientCommand::Token(a) => with_client(&a.conn, |c| iam::run_token(c, a.cmd)).await,
        ClientCommand::User(a) => with_client(&a.conn, |c| iam::run_user(c, a.cmd)).await,
        ClientCommand::CacheNode(a) => {
            with_client(&a.conn, |c| iam::run_cache_node(c, a.cmd)).await
        }
        ClientCommand::Whoami(a) => with_client(&a.conn, iam::whoami).await,
        ClientCommand::Federation(a) => with_client(&a.conn, |c| federation::run(c, a.cmd)).await,
        ClientCommand::Audit(a) => audit::run(*a).await,
        ClientCommand::Configure(a) => configure(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

fn configure(a: ConfigureArgs) -> Result<i32, CliError> {
    let token = if a.token_stdin {
        let mut t = String::new();
        std::io::stdin()
            .read_line(&mut t)
            .map_err(|e| CliError::Other(format!("cannot read the token from stdin: {e}")))?;
        Some(t)
    } else {
        None
    };
    let path = conn::configure(conn::ProfileUpdate {
        name: a.profile.clone(),
        endpoint: a.endpoint,
        s3_endpoint: a.s3_endpoint,
        token_file: a.token_file,
        token,
    })?;
    eprintln!("profile {:?} written to {}", a.profile, path.display());
    Ok(0)
}

async fn with_client<F, Fut>(conn: &ConnArgs, f: F) -> Result<i32, CliError>
where
    F: FnOnce(http::Client) -> Fut,
    Fut: Future<Output = Result<i32, CliError>>,
{
    let client = http::Client::new(conn.resolve()?, conn.json)?;
    f(client).await
}

/// Writes command output to stdout. A closed pipe (`coffer key list | head -1`) is not
/// an error: the reader has what it wanted.
fn emit(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    let res = out
        .write_all(text.as_bytes())
        .and_then(|()| {
            if text.ends_with('\n') {
                Ok(())
            } else {
                out.write_all(b"\n")
            }
        })
        .and_then(|()| out.flush());
    match res {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError::Other(format!("writing to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

/// Prints the response JSON as received (pretty-printed, keys in the server's order).
fn print_json(v: &serde_json::Value) -> Result<i32, CliError> {
    let text = serde_json::to_string_pretty(v).expect("a Value always serializes");
    emit(&text)?;
    Ok(0)
}

/// Output of an RPC that answers `{}`: the response with `--json`, else `message`.
fn done(c: &http::Client, v: &serde_json::Value, message: &str) -> Result<i32, CliError> {
    if c.json {
        return print_json(v);
    }
    emit(&table::clean(message))?;
    Ok(0)
}

/// `key=value` of `--attr`; the server validates key and value rules.
fn parse_attr(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attrs() {
        assert_eq!(parse_attr("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_attr("a="), Ok(("a".into(), String::new())));
        assert!(parse_attr("=b").is_err());
        assert!(parse_attr("ab").is_err());
    }
}
