//! Connection settings of the client commands: endpoint, API token, output mode.
//!
//! Each setting resolves independently, first match wins: command-line flag, then the
//! selected profile, then the environment, then the default. A profile is selected with
//! `--profile` or `COFFER_PROFILE` and read from `$XDG_CONFIG_HOME/coffer/profiles.toml`
//! (default `~/.config/coffer/profiles.toml`):
//!
//! ```toml
//! [prod]
//! endpoint = "https://coffer.example.com:9001"
//! s3_endpoint = "https://coffer.example.com:9000"   # for commands that read S3 (audit)
//! token_file = "~/.config/coffer/prod.token"   # relative paths: next to profiles.toml
//! ```
//!
//! `coffer configure` writes one ([`configure`]), the way `aws configure` and
//! `mc alias set` do.
//!
//! Tokens belong in files (`token_file`, `--token-file`, `COFFER_TOKEN_FILE`); an inline
//! `token = "…"` works but draws a warning, and so does a token file other users can read.
//! The environment is read here rather than through clap's `env`, so that `--help` can
//! never echo a token and so that a profile can outrank the environment.

use super::http::CliError;
use clap::Args;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:9001";

/// Options shared by every client command; global, so they may follow any subcommand.
/// No `Debug`: the struct may hold a token.
#[derive(Args, Clone, Default)]
#[command(next_help_heading = "Connection")]
pub struct ConnArgs {
    /// Management API endpoint [env: COFFER_ENDPOINT] [default: http://127.0.0.1:9001].
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint: Option<String>,
    /// API token; visible to other local users in the process list, so prefer
    /// --token-file, a profile or COFFER_TOKEN [env: COFFER_TOKEN].
    #[arg(long, global = true, value_name = "TOKEN")]
    pub token: Option<String>,
    /// File holding the API token [env: COFFER_TOKEN_FILE].
    #[arg(long, global = true, value_name = "FILE", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// Profile in ~/.config/coffer/profiles.toml [env: COFFER_PROFILE].
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Print the response JSON (for scripts) instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// One `[name]` table of the profiles file. Unknown keys are refused so that a typo
/// (`token-file`) is an error rather than a silently missing token.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Profile {
    endpoint: Option<String>,
    s3_endpoint: Option<String>,
    token_file: Option<PathBuf>,
    token: Option<String>,
}

/// The settings a request is made with. No `Debug`/`Display`: holds the token.
pub struct Resolved {
    pub endpoint: String,
    pub token: String,
}

/// Where a token comes from, in resolution order.
enum TokenSource {
    Inline(String),
    File(PathBuf),
}

impl ConnArgs {
    /// The selected profile's `s3_endpoint`, if a profile is selected and sets one.
    pub fn profile_s3_endpoint(&self) -> Result<Option<String>, CliError> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        match self.profile.clone().or_else(|| env("COFFER_PROFILE")) {
            Some(name) => Ok(load_profile(&profiles_path(&env)?, &name)?.s3_endpoint),
            None => Ok(None),
        }
    }

    /// Resolves with the process environment.
    pub fn resolve(&self) -> Result<Resolved, CliError> {
        self.resolve_with(&|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    fn resolve_with(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Resolved, CliError> {
        let profile_name = self.profile.clone().or_else(|| env("COFFER_PROFILE"));
        let (profile, profile_dir) = match &profile_name {
            Some(name) => {
                let path = profiles_path(env)?;
                let p = load_profile(&path, name)?;
                let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                (p, dir)
            }
            None => (Profile::default(), PathBuf::new()),
        };

        let endpoint = self
            .endpoint
            .clone()
            .or(profile.endpoint)
            .or_else(|| env("COFFER_ENDPOINT"))
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());

        let source = if let Some(t) = &self.token {
            Some(TokenSource::Inline(t.clone()))
        } else if let Some(f) = &self.token_file {
            Some(TokenSource::File(f.clone()))
        } else if profile.token_file.is_some() || profile.token.is_some() {
            let name = profile_name.as_deref().unwrap_or_default();
            match (profile.token_file, profile.token) {
                (Some(_), Some(_)) => {
                    return Err(CliError::Usage(format!(
                        "profile {name:?} sets both token and token_file; keep token_file"
                    )));
                }
                (Some(f), None) => Some(TokenSource::File(expand_path(&f, &profile_dir, env))),
                (None, Some(t)) => {
                    eprintln!(
                        "warning: profile {name:?} stores its token inline; \
                         move it to a file and set token_file"
                    );
                    Some(TokenSource::Inline(t))
                }
                (None, None) => unreachable!("checked above"),
            }
        } else if let Some(t) = env("COFFER_TOKEN") {
            Some(TokenSource::Inline(t))
        } else {
            env("COFFER_TOKEN_FILE").map(|f| TokenSource::File(PathBuf::from(f)))
        };

        let token = match source {
            None => {
                return Err(CliError::Usage(
                    "no API token: pass --token-file or --token, set COFFER_TOKEN_FILE or \
                     COFFER_TOKEN, or select a profile with --profile"
                        .into(),
                ));
            }
            Some(TokenSource::Inline(t)) => t.trim().to_string(),
            Some(TokenSource::File(path)) => read_token_file(&path)?,
        };
        if token.is_empty() {
            return Err(CliError::Usage("the API token is empty".into()));
        }
        Ok(Resolved { endpoint, token })
    }
}

/// `$XDG_CONFIG_HOME/coffer/profiles.toml`, else `$HOME/.config/coffer/profiles.toml`.
/// A relative `XDG_CONFIG_HOME` is ignored, as the XDG spec requires.
fn profiles_path(env: &dyn Fn(&str) -> Option<String>) -> Result<PathBuf, CliError> {
    if let Some(x) = env("XDG_CONFIG_HOME").map(PathBuf::from)
        && x.is_absolute()
    {
        return Ok(x.join("coffer/profiles.toml"));
    }
    let home = env("HOME").ok_or_else(|| {
        CliError::Usage("--profile needs $HOME to locate ~/.config/coffer/profiles.toml".into())
    })?;
    Ok(PathBuf::from(home).join(".config/coffer/profiles.toml"))
}

fn load_profile(path: &Path, name: &str) -> Result<Profile, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::Usage(format!(
            "profile {name:?}: cannot read {}: {e}",
            path.display()
        ))
    })?;
    let mut all: BTreeMap<String, Profile> = toml::from_str(&text).map_err(|e| {
        // toml's message quotes the offending line, which may be an inline token:
        // report the location only.
        let at = e
            .span()
            .map(|s| {
                let line = text[..s.start].matches('\n').count() + 1;
                format!(" (line {line})")
            })
            .unwrap_or_default();
        CliError::Usage(format!(
            "{} is not a valid profiles file{at}",
            path.display()
        ))
    })?;
    all.remove(name).ok_or_else(|| {
        let known: Vec<&str> = all.keys().map(String::as_str).collect();
        CliError::Usage(format!(
            "no profile {name:?} in {} (profiles: {})",
            path.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ))
    })
}

/// `~/…` is expanded with `$HOME`; other relative paths are taken relative to the
/// profiles file's directory, so a profile means the same thing from any working dir.
fn expand_path(p: &Path, base: &Path, env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Ok(rest) = p.strip_prefix("~")
        && let Some(home) = env("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    if p.is_relative() {
        base.join(p)
    } else {
        p.to_path_buf()
    }
}

/// The token is the file's content without surrounding whitespace (files usually end
/// with a newline).
fn read_token_file(path: &Path) -> Result<String, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Other(format!("cannot read token file {}: {e}", path.display())))?;
    warn_if_shared(path);
    let t = text.trim();
    if t.is_empty() {
        return Err(CliError::Usage(format!(
            "token file {} is empty",
            path.display()
        )));
    }
    Ok(t.to_string())
}

#[cfg(unix)]
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path) {
        let mode = m.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            eprintln!(
                "warning: token file {} is accessible by other users (mode {mode:03o}); \
                 run chmod 600 on it",
                path.display()
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_path: &Path) {}

/// What `coffer configure` sets in a profile (absent: left as it is).
pub struct ProfileUpdate {
    pub name: String,
    pub endpoint: Option<String>,
    pub s3_endpoint: Option<String>,
    pub token_file: Option<PathBuf>,
    /// A token to store in `<name>.token` next to the profiles file (mode 0600).
    pub token: Option<String>,
}

/// Creates or updates one profile of the profiles file; returns the file's path. The
/// file and a stored token are written whole (temporary file, then rename) with mode
/// 0600 in a 0700 directory; other profiles are kept (comments are not). A token given
/// is stored in a file, never inline.
pub fn configure(u: ProfileUpdate) -> Result<PathBuf, CliError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if u.name.is_empty()
        || !u
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(CliError::Usage(format!(
            "invalid profile name {:?}: letters, digits, - and _",
            u.name
        )));
    }
    for url in [&u.endpoint, &u.s3_endpoint].into_iter().flatten() {
        let ok = reqwest::Url::parse(url)
            .is_ok_and(|x| matches!(x.scheme(), "http" | "https") && x.has_host());
        if !ok {
            return Err(CliError::Usage(format!(
                "invalid endpoint {url:?}: expected http(s)://host[:port]"
            )));
        }
    }
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let path = profiles_path(&env)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| CliError::Other(format!("cannot create {}: {e}", dir.display())))?;
    // One `configure` at a time reads, edits and replaces the file: without the lock two
    // runs for different profiles could each write back a file lacking the other's.
    let _lock = {
        use std::os::unix::fs::OpenOptionsExt;
        let lock_path = dir.join(".profiles.lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| CliError::Other(format!("cannot open {}: {e}", lock_path.display())))?;
        f.lock()
            .map_err(|e| CliError::Other(format!("cannot lock {}: {e}", lock_path.display())))?;
        f
    };
    let mut all: BTreeMap<String, toml::Table> = match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map_err(|_| {
            CliError::Usage(format!("{} is not a valid profiles file", path.display()))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => {
            return Err(CliError::Other(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    let entry = all.entry(u.name.clone()).or_default();
    let mut set = |k: &str, v: String| {
        entry.insert(k.to_string(), toml::Value::String(v));
    };
    if let Some(e) = u.endpoint {
        set("endpoint", e);
    }
    if let Some(e) = u.s3_endpoint {
        set("s3_endpoint", e);
    }
    if let Some(f) = u.token_file {
        // Stored absolute: relative paths in the file are read against its directory.
        let f = std::path::absolute(&f)
            .map_err(|e| CliError::Usage(format!("invalid token file {}: {e}", f.display())))?;
        set("token_file", f.display().to_string());
    }
    if let Some(t) = u.token {
        let t = t.trim();
        if t.is_empty() {
            return Err(CliError::Usage("the API token is empty".into()));
        }
        let file = format!("{}.token", u.name);
        write_private(&dir.join(&file), format!("{t}\n").as_bytes())?;
        set("token_file", file);
    }
    if entry.contains_key("token_file") {
        entry.remove("token");
    }
    let text = toml::to_string(&all)
        .map_err(|e| CliError::Other(format!("cannot write the profiles file: {e}")))?;
    write_private(&path, text.as_bytes())?;
    let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
    Ok(path)
}

/// Writes `bytes` to `path` through a temporary file of its own (unique name, created
/// exclusively, mode 0600) renamed over it, so a reader never sees half a file.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = path.with_file_name(format!(".{name}.{}.{nonce}.tmp", std::process::id()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(|e| CliError::Other(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    fn usage(r: Result<Resolved, CliError>) -> String {
        match r {
            Err(CliError::Usage(m)) => m,
            Err(e) => panic!("expected a usage error, got {e}"),
            Ok(_) => panic!("expected a usage error"),
        }
    }

    #[test]
    fn flag_beats_profile_beats_env_beats_default() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("coffer");
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::write(cfg.join("p.token"), "CW-SECRET-file\n").unwrap();
        std::fs::write(
            cfg.join("profiles.toml"),
            "[p]\nendpoint = \"http://p:1\"\ntoken_file = \"p.token\"\n[q]\nendpoint = \"http://q:1\"\n",
        )
        .unwrap();
        let xdg = dir.path().to_str().unwrap();
        let env = env_of(&[
            ("XDG_CONFIG_HOME", xdg),
            ("COFFER_ENDPOINT", "http://env:1"),
            ("COFFER_TOKEN", "CW-SECRET-env"),
        ]);

        let none = ConnArgs::default().resolve_with(&env).unwrap();
        assert_eq!(
            (none.endpoint.as_str(), none.token.as_str()),
            ("http://env:1", "CW-SECRET-env")
        );

        let p = ConnArgs {
            profile: Some("p".into()),
            ..Default::default()
        };
        let r = p.resolve_with(&env).unwrap();
        assert_eq!(
            (r.endpoint.as_str(), r.token.as_str()),
            ("http://p:1", "CW-SECRET-file")
        );

        // A profile without a token falls back to the environment's.
        let q = ConnArgs {
            profile: Some("q".into()),
            ..Default::default()
        };
        assert_eq!(q.resolve_with(&env).unwrap().token, "CW-SECRET-env");

        let flags = ConnArgs {
            profile: Some("p".into()),
            endpoint: Some("http://flag:1".into()),
            token: Some("CW-SECRET-flag".into()),
            ..Default::default()
        };
        let r = flags.resolve_with(&env).unwrap();
        assert_eq!(
            (r.endpoint.as_str(), r.token.as_str()),
            ("http://flag:1", "CW-SECRET-flag")
        );

        let d = ConnArgs {
            token: Some("t".into()),
            ..Default::default()
        }
        .resolve_with(&env_of(&[]))
        .unwrap();
        assert_eq!(d.endpoint, DEFAULT_ENDPOINT);

        let missing = ConnArgs {
            profile: Some("nope".into()),
            ..Default::default()
        };
        let m = usage(missing.resolve_with(&env));
        assert!(m.contains("\"nope\"") && m.contains("p, q"), "{m}");
    }

    #[test]
    fn no_token_and_bad_profiles_are_usage_errors() {
        assert!(usage(ConnArgs::default().resolve_with(&env_of(&[]))).contains("no API token"));

        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("coffer");
        std::fs::create_dir_all(&cfg).unwrap();
        let env = env_of(&[("XDG_CONFIG_HOME", dir.path().to_str().unwrap())]);
        let p = ConnArgs {
            profile: Some("p".into()),
            ..Default::default()
        };
        std::fs::write(cfg.join("profiles.toml"), "[p]\ntoken-file = \"x\"\n").unwrap();
        assert!(usage(p.resolve_with(&env)).contains("line 2"));
        std::fs::write(
            cfg.join("profiles.toml"),
            "[p]\ntoken = \"CW-SECRET-inline\"\ntoken_file = \"x\"\n",
        )
        .unwrap();
        let m = usage(p.resolve_with(&env));
        assert!(m.contains("both") && !m.contains("CW-SECRET-inline"), "{m}");
    }

    #[test]
    fn paths_expand() {
        let env = env_of(&[("HOME", "/home/u")]);
        let base = Path::new("/cfg");
        assert_eq!(
            expand_path(Path::new("~/t"), base, &env),
            PathBuf::from("/home/u/t")
        );
        assert_eq!(
            expand_path(Path::new("t"), base, &env),
            PathBuf::from("/cfg/t")
        );
        assert_eq!(
            expand_path(Path::new("/abs/t"), base, &env),
            PathBuf::from("/abs/t")
        );
    }
}
