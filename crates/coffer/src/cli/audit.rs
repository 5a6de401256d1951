//! `coffer audit verify|tail|query`: reads an org's audit bucket (`cw-<orgId>-audit-logs`,
//! SPEC §6) through the S3 endpoint with the caller's own credentials, so bucket and
//! org policies apply exactly as to any other S3 client.
//!
//! Credentials: `--access-key`/`--secret-key` (or `AWS_ACCESS_KEY_ID` /
//! `AWS_SECRET_ACCESS_KEY`); without them the command uses the API token (the usual
//! connection settings) to create a short-lived access key of the token's user
//! (15 minutes, `CreateAccessKeyFromJWT`, revoked when the command ends), which carries
//! the user's principal and therefore the user's permissions. The org is `--org`, else the token's org
//! (`whoami`).
//!
//! Output: events as JSON Lines (one event per line, as stored); `verify` prints one
//! line per chain and one per problem (or the report as JSON with `--json`) and exits
//! 1 when a chain is broken.

use super::http::{CliError, Client};
use super::{ConnArgs, emit};
use coffer_bench::sigv4::{self, Signer, UNSIGNED_PAYLOAD};
use coffer_bench::xml;
use coffer_server::audit::chain;
use reqwest::Method;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

#[derive(clap::Args)]
pub struct AuditArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    s3: S3Args,
    #[command(subcommand)]
    cmd: AuditCmd,
}

/// How the audit bucket is reached.
#[derive(clap::Args, Clone)]
#[command(next_help_heading = "S3 connection")]
pub struct S3Args {
    /// S3 endpoint [profile: s3_endpoint] [env: COFFER_S3_ENDPOINT]
    /// [default: http://127.0.0.1:9000].
    #[arg(long, global = true, value_name = "URL")]
    s3_endpoint: Option<String>,
    /// Access key id [env: AWS_ACCESS_KEY_ID]; default: a temporary key made with the
    /// API token.
    #[arg(long, global = true, value_name = "ID")]
    access_key: Option<String>,
    /// Secret access key [env: AWS_SECRET_ACCESS_KEY].
    #[arg(long, global = true, value_name = "SECRET")]
    secret_key: Option<String>,
    /// SigV4 region.
    #[arg(long, global = true, default_value = "us-east-1")]
    region: String,
    /// Organization whose audit bucket is read; default: the API token's org.
    #[arg(long, global = true, value_name = "ORG_ID")]
    org: Option<String>,
}

#[derive(clap::Subcommand)]
pub enum AuditCmd {
    /// Check the hash chains of every audit object; report deleted, reordered or
    /// edited objects. Exits 1 when a chain is broken.
    Verify,
    /// Print the newest events.
    Tail {
        /// Number of events.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: usize,
        /// Keep polling for new audit objects.
        #[arg(short, long)]
        follow: bool,
        /// Poll interval with --follow, seconds.
        #[arg(long, default_value_t = 2)]
        interval: u64,
    },
    /// Print the events matching every given filter, oldest first.
    Query {
        /// Events at or after: RFC 3339 (`2026-01-02T03:04:05Z`), a date, or an age
        /// (`30m`, `2h`, `7d`).
        #[arg(long)]
        since: Option<String>,
        /// Events before (same forms as --since).
        #[arg(long)]
        until: Option<String>,
        /// Principal, e.g. `coreweave/<uid>` (also matches data-plane ARNs ending in it).
        #[arg(long)]
        principal: Option<String>,
        /// Bucket (data-plane events of it; control-plane events naming it).
        #[arg(long)]
        bucket: Option<String>,
        /// Action, e.g. `s3:PutObject`; a trailing `*` matches a prefix (`s3:*`).
        #[arg(long)]
        action: Option<String>,
        /// `allowed`, `denied` or `error`.
        #[arg(long, value_parser = ["allowed", "denied", "error"])]
        result: Option<String>,
    },
}

pub async fn run(a: AuditArgs) -> Result<i32, CliError> {
    let reader = Reader::connect(&a.conn, &a.s3).await?;
    let res = command(&reader, a).await;
    // Best effort: a temporary key expires within 15 minutes anyway.
    if let Some((c, id)) = &reader.temporary {
        let _ = c
            .send(
                Method::POST,
                &["v1", "cwobject", "revoke-access-key", "access-key"],
                &serde_json::json!({ "accessKey": id }),
            )
            .await;
    }
    res
}

async fn command(reader: &Reader, a: AuditArgs) -> Result<i32, CliError> {
    match a.cmd {
        AuditCmd::Verify => verify(reader, a.conn.json).await,
        AuditCmd::Tail {
            lines,
            follow,
            interval,
        } => tail(reader, lines, follow, interval).await,
        AuditCmd::Query {
            since,
            until,
            principal,
            bucket,
            action,
            result,
        } => {
            let f = Filter {
                since: since.as_deref().map(parse_time).transpose()?,
                until: until.as_deref().map(parse_time).transpose()?,
                principal,
                bucket,
                action,
                result,
            };
            query(reader, &f).await
        }
    }
}

/// Signed GETs against the audit bucket.
struct Reader {
    http: reqwest::Client,
    base: reqwest::Url,
    authority: String,
    signer: Signer,
    bucket: String,
    /// The temporary key this command created (revoked when it ends).
    temporary: Option<(Client, String)>,
}

impl Reader {
    async fn connect(conn: &ConnArgs, s3: &S3Args) -> Result<Reader, CliError> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let endpoint = match s3.s3_endpoint.clone() {
            Some(e) => Some(e),
            None => conn.profile_s3_endpoint()?,
        }
        .or_else(|| env("COFFER_S3_ENDPOINT"))
        .unwrap_or_else(|| "http://127.0.0.1:9000".into());
        let base = reqwest::Url::parse(&endpoint)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "invalid S3 endpoint {endpoint:?}: expected http(s)://host[:port]"
                ))
            })?;
        let authority = match (base.host_str(), base.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => unreachable!("checked has_host"),
        };
        let access = s3.access_key.clone().or_else(|| env("AWS_ACCESS_KEY_ID"));
        let secret = s3
            .secret_key
            .clone()
            .or_else(|| env("AWS_SECRET_ACCESS_KEY"));
        let mut org = s3.org.clone();
        let mut temporary = None;
        let (access, secret) = match (access, secret) {
            (Some(a), Some(s)) => (a, s),
            (Some(_), None) | (None, Some(_)) => {
                return Err(CliError::Usage(
                    "give both --access-key and --secret-key (or neither, to use the API token)"
                        .into(),
                ));
            }
            (None, None) => {
                let c = Client::new(conn.resolve()?, true)?;
                if org.is_none() {
                    org = whoami_org(&c).await?;
                }
                let k = c
                    .send(
                        Method::POST,
                        &["v1", "cwobject", "access-key"],
                        &serde_json::json!({"durationSeconds": 900}),
                    )
                    .await?;
                let get = |f: &str| {
                    k[f].as_str()
                        .map(str::to_string)
                        .ok_or_else(|| CliError::Other(format!("the access-key answer has no {f}")))
                };
                let id = get("accessKeyId")?;
                let secret = get("secretKey")?;
                temporary = Some((c, id.clone()));
                (id, secret)
            }
        };
        let org = match org {
            Some(o) => o,
            None => {
                let c = Client::new(
                    conn.resolve().map_err(|_| {
                        CliError::Usage("pass --org (or an API token to look it up)".into())
                    })?,
                    true,
                )?;
                whoami_org(&c)
                    .await?
                    .ok_or_else(|| CliError::Usage("the API token has no org; pass --org".into()))?
            }
        };
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| CliError::Other(format!("building the HTTP client: {e}")))?;
        Ok(Reader {
            http,
            base,
            authority,
            signer: Signer::new(&access, &secret, &s3.region),
            bucket: format!("cw-{org}-audit-logs"),
            temporary,
        })
    }

    async fn get(&self, key: Option<&str>, query: &[(&str, &str)]) -> Result<Vec<u8>, CliError> {
        let mut path = format!("/{}", sigv4::uri_encode(&self.bucket, false));
        if let Some(k) = key {
            path.push('/');
            path.push_str(&sigv4::uri_encode(k, true));
        }
        let q = sigv4::canonical_query(query);
        let mut url = self.base.clone();
        url.set_path(&path);
        url.set_query((!q.is_empty()).then_some(q.as_str()));
        let date = sigv4::amz_date_now();
        let auth = self.signer.authorization(
            "GET",
            &path,
            &q,
            &[
                ("host", &self.authority),
                ("x-amz-content-sha256", UNSIGNED_PAYLOAD),
                ("x-amz-date", &date),
            ],
            UNSIGNED_PAYLOAD,
            &date,
        );
        let resp = self
            .http
            .get(url)
            .header("x-amz-content-sha256", UNSIGNED_PAYLOAD)
            .header("x-amz-date", &date)
            .header("authorization", auth)
            .send()
            .await
            .map_err(|e| CliError::Other(format!("cannot reach the S3 endpoint: {e}")))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| CliError::Other(format!("reading an S3 response: {e}")))?;
        if !status.is_success() {
            let doc = String::from_utf8_lossy(&body);
            return Err(CliError::Other(format!(
                "S3 {} on {}{}: HTTP {} {}: {}",
                if key.is_some() {
                    "GetObject"
                } else {
                    "ListObjectsV2"
                },
                self.bucket,
                key.map(|k| format!("/{k}")).unwrap_or_default(),
                status.as_u16(),
                xml::first(&doc, "Code").unwrap_or_default(),
                xml::first(&doc, "Message").unwrap_or_default()
            )));
        }
        Ok(body.to_vec())
    }

    /// Every key under `prefix`.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, CliError> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut q = vec![("list-type", "2"), ("prefix", prefix)];
            if let Some(t) = &token {
                q.push(("continuation-token", t));
            }
            let doc = String::from_utf8_lossy(&self.get(None, &q).await?).into_owned();
            keys.extend(xml::all(&doc, "Key"));
            token = doc
                .contains("<IsTruncated>true</IsTruncated>")
                .then(|| xml::first(&doc, "NextContinuationToken"))
                .flatten()
                .filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(keys);
            }
        }
    }

    async fn object(&self, key: &str) -> Result<Vec<u8>, CliError> {
        self.get(Some(key), &[]).await
    }
}

async fn whoami_org(c: &Client) -> Result<Option<String>, CliError> {
    let w = c.get(&["v1", "iam", "whoami"], &[]).await?;
    Ok(w["orgId"].as_str().map(str::to_string))
}

async fn verify(r: &Reader, json: bool) -> Result<i32, CliError> {
    let keys = r.list("").await?;
    let mut objects = Vec::with_capacity(keys.len());
    for k in keys {
        let body = r.object(&k).await?;
        objects.push((k, body));
    }
    let report = chain::verify(objects);
    if json {
        emit(
            &(serde_json::to_string_pretty(&report).map_err(|e| CliError::Other(e.to_string()))?
                + "\n"),
        )?;
    } else {
        let mut out = String::new();
        for c in &report.chains {
            out.push_str(&format!(
                "chain {} node {}: {} objects, {} events, head seq {} sha256 {}\n",
                c.stream, c.node, c.objects, c.events, c.head_seq, c.head_sha256
            ));
        }
        for p in &report.problems {
            out.push_str(&format!(
                "PROBLEM {}: {} ({}): {}\n",
                p.kind, p.key, p.chain, p.detail
            ));
        }
        out.push_str(if report.problems.is_empty() {
            "OK: every chain is intact\n"
        } else {
            "FAILED: the audit log was tampered with or damaged\n"
        });
        emit(&out)?;
    }
    Ok(if report.problems.is_empty() { 0 } else { 1 })
}

/// Keys in delivery order: by hour, then chain, then seq.
fn sort_keys(keys: &mut [String]) {
    keys.sort_by_cached_key(|k| {
        let hour: String = k.split('/').skip(1).take(4).collect::<Vec<_>>().join("/");
        let (stream, node, seq) = chain::parse_key(k).unwrap_or_default();
        (hour, stream, node, seq)
    });
}

/// The events of one object, parsed.
async fn events_of(r: &Reader, key: &str) -> Result<Vec<Value>, CliError> {
    let body = r.object(key).await?;
    let d = chain::decode(&body).map_err(|e| CliError::Other(format!("{key}: {e}")))?;
    Ok(d.events
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

fn ts(v: &Value) -> &str {
    v["timestamp"].as_str().unwrap_or_default()
}

async fn tail(r: &Reader, n: usize, follow: bool, interval: u64) -> Result<i32, CliError> {
    let mut keys: Vec<String> = r
        .list("")
        .await?
        .into_iter()
        .filter(|k| chain::parse_key(k).is_some())
        .collect();
    sort_keys(&mut keys);
    let mut seen: BTreeSet<String> = keys.iter().cloned().collect();
    // Newest objects until n events are gathered.
    let mut events = Vec::new();
    for k in keys.iter().rev() {
        if events.len() >= n {
            break;
        }
        events.extend(events_of(r, k).await?);
    }
    events.sort_by(|a, b| ts(a).cmp(ts(b)));
    let skip = events.len().saturating_sub(n);
    print_events(&events[skip..])?;
    if !follow {
        return Ok(0);
    }
    loop {
        tokio::time::sleep(Duration::from_secs(interval.max(1))).await;
        let mut fresh: Vec<String> = r
            .list("")
            .await?
            .into_iter()
            .filter(|k| chain::parse_key(k).is_some() && !seen.contains(k))
            .collect();
        sort_keys(&mut fresh);
        let mut events = Vec::new();
        for k in &fresh {
            events.extend(events_of(r, k).await?);
            seen.insert(k.clone());
        }
        events.sort_by(|a, b| ts(a).cmp(ts(b)));
        print_events(&events)?;
    }
}

fn print_events(events: &[Value]) -> Result<(), CliError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut out = String::new();
    for e in events {
        out.push_str(&e.to_string());
        out.push('\n');
    }
    emit(&out)
}

/// Filters of `query`; times are normalized to the events' timestamp format, so they
/// compare as strings.
struct Filter {
    since: Option<String>,
    until: Option<String>,
    principal: Option<String>,
    bucket: Option<String>,
    action: Option<String>,
    result: Option<String>,
}

impl Filter {
    fn matches(&self, e: &Value) -> bool {
        let s = |f: &str| e[f].as_str().unwrap_or_default();
        let t = s("timestamp");
        if self.since.as_deref().is_some_and(|x| t < x)
            || self.until.as_deref().is_some_and(|x| t >= x)
        {
            return false;
        }
        if let Some(p) = &self.principal {
            let ep = s("principal");
            if ep != p && !ep.ends_with(&format!(":{p}")) {
                return false;
            }
        }
        if let Some(b) = &self.bucket
            && s("bucketName") != b
            && s("identifier") != b
        {
            return false;
        }
        if let Some(a) = &self.action {
            let ok = match a.strip_suffix('*') {
                Some(prefix) => s("action").starts_with(prefix),
                None => s("action") == a,
            };
            if !ok {
                return false;
            }
        }
        self.result.as_deref().is_none_or(|r| s("result") == r)
    }

    /// Whether an object key can hold matching events (hour and bucket pruning).
    fn may_match(&self, key: &str) -> bool {
        let parts: Vec<&str> = key.split('/').collect();
        if parts.len() < 6 {
            return false;
        }
        let hour = format!("{}-{}-{}T{}", parts[1], parts[2], parts[3], parts[4]);
        if self
            .since
            .as_deref()
            .is_some_and(|x| hour.as_str() < &x[..13])
        {
            return false;
        }
        if self
            .until
            .as_deref()
            .is_some_and(|x| hour.as_str() > &x[..13])
        {
            return false;
        }
        if let Some(b) = &self.bucket
            && parts[0] == "data-plane"
            && parts[5] != b
        {
            return false;
        }
        true
    }
}

async fn query(r: &Reader, f: &Filter) -> Result<i32, CliError> {
    let mut keys: Vec<String> = r
        .list("")
        .await?
        .into_iter()
        .filter(|k| chain::parse_key(k).is_some() && f.may_match(k))
        .collect();
    sort_keys(&mut keys);
    let mut events = Vec::new();
    for k in &keys {
        events.extend(events_of(r, k).await?.into_iter().filter(|e| f.matches(e)));
    }
    events.sort_by(|a, b| ts(a).cmp(ts(b)));
    print_events(&events)?;
    Ok(0)
}

/// RFC 3339, a date (`YYYY-MM-DD`, midnight UTC) or an age (`30s`, `15m`, `2h`, `7d`)
/// → `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn parse_time(s: &str) -> Result<String, CliError> {
    let s = s.trim();
    let bad = || {
        CliError::Usage(format!(
            "bad time {s:?}: expected RFC 3339 (2026-01-02T03:04:05Z), a date (2026-01-02) \
             or an age (30m, 2h, 7d)"
        ))
    };
    let now = time::OffsetDateTime::now_utc();
    if let Some(unit) = s.chars().last().filter(|c| "smhd".contains(*c)) {
        let n: i64 = s[..s.len() - 1].parse().map_err(|_| bad())?;
        let secs = n.checked_mul(match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => 86_400,
        });
        let t = secs
            .and_then(|x| now.checked_sub(time::Duration::seconds(x)))
            .ok_or_else(bad)?;
        return Ok(coffer_core::audit::timestamp(t));
    }
    if let Ok(t) = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Ok(coffer_core::audit::timestamp(t));
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s, &fmt).map_err(|_| bad())?;
    Ok(coffer_core::audit::timestamp(d.midnight().assume_utc()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_normalize() {
        assert_eq!(
            parse_time("2026-01-02T03:04:05Z").unwrap(),
            "2026-01-02T03:04:05.000Z"
        );
        assert_eq!(
            parse_time("2026-01-02T04:04:05+01:00").unwrap(),
            "2026-01-02T03:04:05.000Z"
        );
        assert_eq!(
            parse_time("2026-01-02").unwrap(),
            "2026-01-02T00:00:00.000Z"
        );
        assert!(parse_time("2h").is_ok());
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("99999999999999999d").is_err());
    }
}
