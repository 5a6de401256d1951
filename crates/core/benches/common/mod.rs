//! The synthetic policy set of the decision benchmarks (`benches/decisions.rs`,
//! `benches/decisions_latency.rs`) and of `examples/gen_policies.rs`, which writes the
//! same org policies as JSON for the end-to-end "Authorization overhead" measurement
//! (docs/benchmarks.md). Deterministic: a fixed seed gives the same set everywhere.
//!
//! The org (`bench1`) holds `policies` policies of 10 statements each. Statement mix
//! (per mille), meant to look like a large tenant rather than a best case for the index:
//!
//! | ‰   | kind | principals | actions | resources |
//! |-----|------|------------|---------|-----------|
//! | 400 | user grant | 1–2 `coreweave/<uid>` of 2,000 users | `s3:Get*`+`s3:List*`, `s3:PutObject`, `s3:*`, … | `bucket-N` + `bucket-N/*`, `bucket-N/home/<uid>/*`, `logs-teamT-*` |
//! | 200 | role grant | `role/team-T`, glob `role/ci-T-*`, glob `role/https://token.actions.githubusercontent.com:repo:acme/rR:*` | `s3:Get*`, `s3:PutObject`+`s3:AbortMultipartUpload`, `s3:List*` | `logs-teamT-*`, `bucket-N/*`, `logs-teamT-*/2026/*` |
//! | 150 | Deny | `coreweave/*`, one user, `role/ci-*` | `s3:DeleteObject`+`s3:PutObject`, `s3:*`, `s3:DeleteBucket` | `bucket-N/locked/*`, `logs-teamT-*`, `bucket-N` |
//! | 100 | control plane | one user | `cwobject:CreateAccessKey`, `cwobject:ListAccessKeyInfo` | `*` |
//! | 100 | shared read | 3–5 users | `s3:GetObject`, `s3:ListBucket` | `bucket-N/shared/*`, `bucket-N` |
//! | 45  | auditors | glob `role/auditor-*` | `s3:Get*`, `s3:List*` | `logs-*` |
//! | 5   | break-glass | glob `role/admin-*` | `s3:*` | `*` |
//!
//! Buckets: `bucket-0000`…`bucket-7999` and `logs-team00-0000`…`logs-team49-0039`
//! (10,000); 1 in 20 belongs to another org (`other1`, 10 policies of its own); 1 in 10
//! has a bucket policy of 3–4 statements (an `aws:SecureTransport` Deny, an org-wide
//! read, a per-user write, an `aws:SourceIp`-conditioned or cross-org grant, a Deny on a
//! prefix).
//!
//! Queries are drawn half from the statements themselves (a principal, action and
//! resource the statement names, globs made concrete) and half at random (any known or
//! unknown principal, action and bucket), so both allows and denies of every layer occur.

#![allow(dead_code)]

use coffer_core::model::{Bucket, BucketSettings};
use coffer_core::policy::{
    AccessPolicy, GLOBAL_RESOURCE, PolicyEngine, RawAccessPolicy, RequestContext, Statement,
    is_global_action,
};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use time::OffsetDateTime;

pub const ORG: &str = "bench1";
pub const OTHER_ORG: &str = "other1";
pub const STATEMENTS_PER_POLICY: usize = 10;
pub const USERS: usize = 2_000;
pub const TEAMS: usize = 50;
pub const DATA_BUCKETS: usize = 8_000;
pub const LOGS_PER_TEAM: usize = 40;
pub const SEED: u64 = 0x00c0_ffee_5eed;

/// SplitMix64: tiny, deterministic across platforms and crate versions.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    pub fn pick_copied<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
    pub fn chance(&mut self, per_mille: usize) -> bool {
        self.below(1000) < per_mille
    }
}

/// 21 chars of `[A-Za-z0-9]`, like real uids.
fn uid(rng: &mut Rng) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..21).map(|_| *rng.pick(ALNUM) as char).collect()
}

pub fn data_bucket(n: usize) -> String {
    format!("bucket-{n:04}")
}

pub fn logs_bucket(team: usize, n: usize) -> String {
    format!("logs-team{team:02}-{n:04}")
}

/// Every bucket name, in a fixed order.
pub fn bucket_names() -> Vec<String> {
    let mut v: Vec<String> = (0..DATA_BUCKETS).map(data_bucket).collect();
    for t in 0..TEAMS {
        for n in 0..LOGS_PER_TEAM {
            v.push(logs_bucket(t, n));
        }
    }
    v
}

/// S3 actions a concrete query may use (weights by repetition).
const QUERY_ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:GetObject",
    "s3:GetObject",
    "s3:GetObject",
    "s3:GetObject",
    "s3:PutObject",
    "s3:PutObject",
    "s3:ListBucket",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:GetObjectTagging",
    "s3:ListMultipartUploadParts",
    "s3:DeleteBucket",
    "s3:GetBucketPolicy",
];

/// The generated world: org policies, bucket records, users.
pub struct PolicySet {
    pub users: Vec<String>,
    pub policies: Vec<AccessPolicy>,
    pub other_policies: Vec<AccessPolicy>,
    pub buckets: Vec<Bucket>,
}

fn stmt(
    name: String,
    deny: bool,
    actions: &[&str],
    resources: Vec<String>,
    principals: Vec<String>,
) -> Statement {
    Statement {
        name,
        effect: if deny {
            coffer_core::policy::Effect::Deny
        } else {
            coffer_core::policy::Effect::Allow
        },
        actions: actions.iter().map(|a| a.to_string()).collect(),
        resources,
        principals,
    }
}

/// One statement of the mix (module docs).
fn gen_statement(rng: &mut Rng, users: &[String], name: String) -> Statement {
    let user = |rng: &mut Rng| format!("coreweave/{}", rng.pick(users));
    let bucket = |rng: &mut Rng| data_bucket(rng.below(DATA_BUCKETS));
    let team = |rng: &mut Rng| rng.below(TEAMS);
    let r = rng.below(1000);
    match r {
        0..400 => {
            let mut principals = vec![user(rng)];
            if rng.chance(300) {
                principals.push(user(rng));
            }
            let actions: &[&str] = rng.pick::<&[&str]>(&[
                &["s3:Get*", "s3:List*"][..],
                &["s3:GetObject", "s3:PutObject"],
                &["s3:PutObject"],
                &["s3:*"],
                &[
                    "s3:GetObject",
                    "s3:ListBucket",
                    "s3:PutObject",
                    "s3:DeleteObject",
                ],
            ]);
            let resources = match rng.below(3) {
                0 => {
                    let b = bucket(rng);
                    vec![b.clone(), format!("{b}/*")]
                }
                1 => {
                    let home = principals[0].trim_start_matches("coreweave/");
                    vec![format!("{}/home/{home}/*", bucket(rng))]
                }
                _ => vec![format!("logs-team{:02}-*", team(rng))],
            };
            stmt(name, false, actions, resources, principals)
        }
        400..600 => {
            let t = team(rng);
            let principal = match rng.below(3) {
                0 => format!("role/team-{t:02}"),
                1 => format!("role/ci-{t:02}-*"),
                _ => format!(
                    "role/https://token.actions.githubusercontent.com:repo:acme/r{}:*",
                    rng.below(200)
                ),
            };
            let actions: &[&str] = rng.pick::<&[&str]>(&[
                &["s3:Get*"][..],
                &["s3:PutObject", "s3:AbortMultipartUpload"],
                &["s3:List*"],
            ]);
            let resources = match rng.below(3) {
                0 => vec![format!("logs-team{t:02}-*")],
                1 => vec![format!("{}/*", bucket(rng))],
                _ => vec![format!("logs-team{t:02}-*/2026/*")],
            };
            stmt(name, false, actions, resources, vec![principal])
        }
        600..750 => {
            let principal = match rng.below(3) {
                0 => "coreweave/*".to_string(),
                1 => user(rng),
                _ => "role/ci-*".to_string(),
            };
            let actions: &[&str] = rng.pick::<&[&str]>(&[
                &["s3:DeleteObject", "s3:PutObject"][..],
                &["s3:*"],
                &["s3:DeleteBucket"],
            ]);
            let resources = match rng.below(3) {
                0 => vec![format!("{}/locked/*", bucket(rng))],
                1 => vec![format!("logs-team{:02}-*", team(rng))],
                _ => vec![bucket(rng)],
            };
            stmt(name, true, actions, resources, vec![principal])
        }
        750..850 => stmt(
            name,
            false,
            &["cwobject:CreateAccessKey", "cwobject:ListAccessKeyInfo"],
            vec![GLOBAL_RESOURCE.to_string()],
            vec![user(rng)],
        ),
        850..950 => {
            let b = bucket(rng);
            let n = 3 + rng.below(3);
            let principals = (0..n).map(|_| user(rng)).collect();
            stmt(
                name,
                false,
                &["s3:GetObject", "s3:ListBucket"],
                vec![format!("{b}/shared/*"), b],
                principals,
            )
        }
        950..995 => stmt(
            name,
            false,
            &["s3:Get*", "s3:List*"],
            vec!["logs-*".to_string()],
            vec!["role/auditor-*".to_string()],
        ),
        _ => stmt(
            name,
            false,
            &["s3:*"],
            vec![GLOBAL_RESOURCE.to_string()],
            vec!["role/admin-*".to_string()],
        ),
    }
}

/// Statement names are unique per policy (validation), so each carries its index.
fn gen_policy(rng: &mut Rng, users: &[String], name: String) -> AccessPolicy {
    let statements = (0..STATEMENTS_PER_POLICY)
        .map(|j| gen_statement(rng, users, format!("s{j}")))
        .collect();
    AccessPolicy {
        version: "v1alpha1".into(),
        name,
        statements,
    }
}

/// A bucket policy of 3–4 statements (module docs).
fn gen_bucket_policy(rng: &mut Rng, users: &[String], bucket: &str) -> String {
    let arn = format!("arn:aws:s3:::{bucket}");
    let writer = format!("coreweave/{}", rng.pick(users));
    let mut statements = vec![
        serde_json::json!({"Sid": "DenyInsecure", "Effect": "Deny", "Principal": "*",
            "Action": "s3:*", "Resource": [arn.clone(), format!("{arn}/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
        serde_json::json!({"Sid": "OrgRead", "Effect": "Allow", "Principal": {"CW": "coreweave/*"},
            "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": [arn.clone(), format!("{arn}/*")]}),
        serde_json::json!({"Sid": "Writer", "Effect": "Allow", "Principal": {"CW": [writer]},
            "Action": ["s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"],
            "Resource": format!("{arn}/uploads/*")}),
    ];
    if rng.chance(500) {
        statements.push(serde_json::json!({"Sid": "OfficeRoles", "Effect": "Allow",
            "Principal": {"CW": "role/*"}, "Action": "s3:Get*", "Resource": format!("{arn}/*"),
            "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}}}));
    } else {
        statements.push(serde_json::json!({"Sid": "PartnerRead", "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{OTHER_ORG}:root")},
            "Action": "s3:GetObject", "Resource": format!("{arn}/public/*")}));
    }
    if rng.chance(500) {
        statements.push(serde_json::json!({"Sid": "KeepArchive", "Effect": "Deny",
            "Principal": "*", "Action": "s3:DeleteObject", "Resource": format!("{arn}/archive/*")}));
    }
    serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

impl PolicySet {
    /// `policies` org policies named `team-0000`… (10 statements each), 10,000 buckets.
    pub fn generate(policies: usize) -> PolicySet {
        let mut rng = Rng::new(SEED);
        let users: Vec<String> = (0..USERS).map(|_| uid(&mut rng)).collect();
        let policies: Vec<AccessPolicy> = (0..policies)
            .map(|i| gen_policy(&mut rng, &users, format!("team-{i:04}")))
            .collect();
        let other_users: Vec<String> = (0..50).map(|_| uid(&mut rng)).collect();
        let other_policies = (0..10)
            .map(|i| gen_policy(&mut rng, &other_users, format!("other-{i:02}")))
            .collect();
        let created = OffsetDateTime::UNIX_EPOCH;
        let buckets = bucket_names()
            .into_iter()
            .enumerate()
            .map(|(i, name)| {
                let policy = (i % 10 == 3).then(|| gen_bucket_policy(&mut rng, &users, &name));
                Bucket {
                    org_id: if i % 20 == 7 { OTHER_ORG } else { ORG }.to_string(),
                    name,
                    zone: "bench".into(),
                    created,
                    settings: BucketSettings::default(),
                    policy,
                    versioning: Default::default(),
                    lifecycle: None,
                    subresources: Default::default(),
                }
            })
            .collect();
        let set = PolicySet {
            users,
            policies,
            other_policies,
            buckets,
        };
        set.assert_valid();
        set
    }

    /// Every org policy passes the API's validation (so the JSON the example writes is
    /// accepted by EnsureAccessPolicy).
    fn assert_valid(&self) {
        for p in self.policies.iter().chain(&self.other_policies) {
            if let Err(e) = AccessPolicy::try_from(RawAccessPolicy::from(p.clone())) {
                panic!("generated policy {} is invalid: {e}", p.name);
            }
        }
    }

    /// An engine with both orgs' policies and every bucket policy compiled into its cache.
    pub fn engine(&self) -> PolicyEngine {
        let engine = PolicyEngine::new();
        engine.replace_org(ORG, &self.policies);
        engine.replace_org(OTHER_ORG, &self.other_policies);
        for b in &self.buckets {
            let compiled = engine
                .bucket_policy(&b.name, b.policy.as_deref())
                .unwrap_or_else(|e| panic!("bucket policy of {}: {e}", b.name));
            assert_eq!(compiled.is_some(), b.policy.is_some());
        }
        engine
    }

    /// Index of a bucket by name (names are generated, so this is arithmetic).
    pub fn bucket_index(&self, name: &str) -> Option<usize> {
        if let Some(n) = name.strip_prefix("bucket-") {
            let n: usize = n.parse().ok()?;
            return (n < DATA_BUCKETS).then_some(n);
        }
        let rest = name.strip_prefix("logs-team")?;
        let (t, n) = rest.split_once('-')?;
        let (t, n): (usize, usize) = (t.parse().ok()?, n.parse().ok()?);
        (t < TEAMS && n < LOGS_PER_TEAM).then_some(DATA_BUCKETS + t * LOGS_PER_TEAM + n)
    }
}

/// One authorization question of the benchmark.
pub struct Query {
    /// Index into [`Workload::contexts`].
    pub ctx: usize,
    pub action: &'static str,
    pub resource: String,
    /// The existing target bucket (index into `PolicySet::buckets`), if any.
    pub bucket: Option<usize>,
}

/// Pre-built request contexts and queries (building them is not part of a decision).
pub struct Workload {
    pub contexts: Vec<RequestContext>,
    pub queries: Vec<Query>,
}

/// A concrete string for a glob pattern: each `*` becomes `fill`, each `?` `x`.
fn concretize(pattern: &str, fill: &str) -> String {
    pattern.replace('*', fill).replace('?', "x")
}

fn random_key(rng: &mut Rng) -> String {
    let dir = *rng.pick(&[
        "shared", "locked", "uploads", "public", "archive", "home", "2026", "data",
    ]);
    format!("{dir}/obj-{}.bin", rng.below(100_000))
}

impl Workload {
    /// `n` queries against `set` (module docs), deterministic.
    pub fn generate(set: &PolicySet, n: usize) -> Workload {
        let mut rng = Rng::new(SEED ^ 0x5151);
        let now = OffsetDateTime::from_unix_timestamp(1_780_000_000).expect("valid time");
        let mut known: HashMap<(String, String), usize> = HashMap::new(); // (org, principal)
        let mut contexts = Vec::new();
        let mut ctx_of = |org: &str, principal: String, rng: &mut Rng| -> usize {
            let key = (org.to_string(), principal);
            if let Some(&i) = known.get(&key) {
                return i;
            }
            let ip = if rng.chance(500) {
                IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3))
            } else {
                IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9))
            };
            contexts.push(
                RequestContext::for_principal(org, &key.1, false, now)
                    .with_source_ip(ip)
                    .with_secure_transport(!rng.chance(20)),
            );
            known.insert(key, contexts.len() - 1);
            contexts.len() - 1
        };
        let mut queries = Vec::with_capacity(n);
        while queries.len() < n {
            let (org, principal, action, resource) = if rng.chance(500) {
                // From a statement of the org: what someone was granted (or denied).
                let p = rng.pick(&set.policies);
                let s = rng.pick(&p.statements);
                let fill = rng.below(10).to_string();
                let pattern: &String = rng.pick(&s.principals);
                let principal = concretize(pattern, &fill);
                let principal = if principal.starts_with("coreweave/") && principal.len() < 20 {
                    format!("coreweave/{}", rng.pick(&set.users))
                } else {
                    principal
                };
                let action_pat = rng.pick(&s.actions).clone();
                let action: &'static str = if action_pat.contains('*') {
                    let prefix = action_pat.trim_end_matches('*').to_ascii_lowercase();
                    let fits: Vec<&'static str> = QUERY_ACTIONS
                        .iter()
                        .copied()
                        .filter(|a| a.to_ascii_lowercase().starts_with(&prefix))
                        .collect();
                    if fits.is_empty() {
                        rng.pick_copied(QUERY_ACTIONS)
                    } else {
                        rng.pick_copied(&fits)
                    }
                } else {
                    static_action(&action_pat)
                };
                let res = rng.pick(&s.resources).clone();
                let resource = if is_global_action(action) {
                    GLOBAL_RESOURCE.to_string()
                } else if res == GLOBAL_RESOURCE {
                    format!("{}/{}", rng.pick(&set.buckets).name, random_key(&mut rng))
                } else if res.starts_with("logs-*") {
                    let b = logs_bucket(rng.below(TEAMS), rng.below(LOGS_PER_TEAM));
                    concretize(&res.replacen("logs-*", &b, 1), "x/y.log")
                } else if res.starts_with("logs-team") {
                    let n = format!("{:04}", rng.below(LOGS_PER_TEAM));
                    concretize(&res.replacen('*', &n, 1), "x/y.log")
                } else {
                    concretize(&res, &random_key(&mut rng))
                };
                (ORG, principal, action, resource)
            } else {
                // Anyone, anything, anywhere.
                let principal = match rng.below(10) {
                    0..6 => format!("coreweave/{}", rng.pick(&set.users)),
                    6 => format!("role/team-{:02}", rng.below(TEAMS)),
                    7 => format!("role/ci-{:02}-deploy", rng.below(TEAMS)),
                    8 => format!("coreweave/{}", uid(&mut rng)), // in no policy
                    _ => "role/auditor-eu".to_string(),
                };
                let action = *rng.pick(QUERY_ACTIONS);
                let b = &rng.pick(&set.buckets).name;
                let resource = if rng.chance(200) {
                    b.clone()
                } else {
                    format!("{b}/{}", random_key(&mut rng))
                };
                let org = if rng.chance(30) { OTHER_ORG } else { ORG };
                (org, principal, action, resource)
            };
            let ctx = ctx_of(org, principal, &mut rng);
            let bucket = if is_global_action(action) || resource == GLOBAL_RESOURCE {
                None
            } else {
                set.bucket_index(resource.split('/').next().unwrap_or(""))
            };
            queries.push(Query {
                ctx,
                action,
                resource,
                bucket,
            });
        }
        Workload { contexts, queries }
    }
}

/// The `&'static str` spelling of an action the generator emitted.
fn static_action(a: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:DeleteBucket",
        "cwobject:CreateAccessKey",
        "cwobject:ListAccessKeyInfo",
    ];
    KNOWN
        .iter()
        .copied()
        .find(|k| k.eq_ignore_ascii_case(a))
        .unwrap_or_else(|| panic!("unexpected action {a}"))
}
