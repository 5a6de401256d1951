//! The HTTP side of the client: builds URLs, sends every request, and turns failures
//! into [`CliError`]. Nothing else in the CLI touches reqwest.
//!
//! Invariants:
//! * the API token is sent only to the configured endpoint: redirects are not followed
//!   (a 3xx is reported as an error), and the header value is marked sensitive;
//! * no error message contains the token (reqwest errors name the URL, which never
//!   carries it);
//! * responses are parsed as JSON once; `--json` prints that value as received, the
//!   table output deserializes it into the `coffer-api` wire type.

use super::conn::Resolved;
use coffer_api::ErrorBody;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Method, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// A failure of a client command. `Display` is the text after `error: `.
#[derive(Debug)]
pub enum CliError {
    /// The command line or configuration cannot make a request (exit 2, like clap).
    Usage(String),
    /// The server's error body (`{"code","message"}`).
    Api { code: i32, message: String },
    /// Anything else: unreachable server, unexpected response, local I/O (exit 1).
    Other(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Api { .. } | CliError::Other(_) => 1,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Other(m) => f.write_str(m),
            // The message may quote request input (names, ids): escaped like table cells.
            CliError::Api { code, message } => {
                write!(f, "{} (code {code})", super::table::clean(message))
            }
        }
    }
}

pub struct Client {
    http: reqwest::Client,
    base: Url,
    auth: HeaderValue,
    /// `--json`: print responses as received.
    pub json: bool,
}

impl Client {
    pub fn new(conn: Resolved, json: bool) -> Result<Client, CliError> {
        let base = Url::parse(&conn.endpoint)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "invalid endpoint {:?}: expected http(s)://host[:port]",
                    conn.endpoint
                ))
            })?;
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", conn.token)).map_err(|_| {
            CliError::Usage("the API token contains characters not allowed in a header".into())
        })?;
        auth.set_sensitive(true);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("coffer-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Other(format!("building the HTTP client: {e}")))?;
        Ok(Client {
            http,
            base,
            auth,
            json,
        })
    }

    /// `segments` are appended to the endpoint's path, each percent-encoded as one
    /// segment (a policy or bucket name can never inject `/` or `?`).
    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("http(s) URLs have a path")
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    /// Sends one request and returns the response JSON; error statuses become
    /// [`CliError::Api`] when the body is the API's error shape.
    pub async fn call<B: Serialize + ?Sized>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<Value, CliError> {
        let url = self.url(segments, query);
        let mut req = self
            .http
            .request(method, url.clone())
            .header(AUTHORIZATION, self.auth.clone());
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| {
            CliError::Other(format!(
                "cannot reach {}: {}",
                self.base.as_str().trim_end_matches('/'),
                error_chain(&e)
            ))
        })?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| CliError::Other(format!("reading the response: {}", error_chain(&e))))?;
        if status.is_success() {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Value::Object(Default::default()));
            }
            return serde_json::from_slice(&bytes).map_err(|_| {
                CliError::Other(format!(
                    "the server answered HTTP {} with a body that is not JSON",
                    status.as_u16()
                ))
            });
        }
        if let Ok(e) = serde_json::from_slice::<ErrorBody>(&bytes) {
            return Err(CliError::Api {
                code: e.code,
                message: e.message,
            });
        }
        let snippet = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]);
        let snippet = super::table::clean(snippet.trim());
        Err(CliError::Other(if snippet.is_empty() {
            format!("HTTP {status} from {url}")
        } else {
            format!("HTTP {status} from {url}: {snippet}")
        }))
    }

    pub async fn get(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Value, CliError> {
        self.call::<()>(Method::GET, segments, query, None).await
    }

    pub async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        segments: &[&str],
        body: &B,
    ) -> Result<Value, CliError> {
        self.call(method, segments, &[], Some(body)).await
    }
}

/// Deserializes a response into its wire type.
pub fn typed<T: DeserializeOwned>(v: Value) -> Result<T, CliError> {
    serde_json::from_value(v)
        .map_err(|e| CliError::Other(format!("unexpected response from the server: {e}")))
}

/// `a: b: c` from an error and its sources (reqwest's own message is terse: the cause
/// — connection refused, DNS, TLS — is in the chain).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let m = inner.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(endpoint: &str) -> Result<Client, CliError> {
        Client::new(
            Resolved {
                endpoint: endpoint.into(),
                token: "CW-SECRET-x".into(),
            },
            false,
        )
    }

    #[test]
    fn segments_are_encoded_and_base_paths_kept() {
        let c = client("http://h:1/").unwrap();
        assert_eq!(
            c.url(&["v1", "cwobject", "access-policy", "a/b?c d"], &[])
                .as_str(),
            "http://h:1/v1/cwobject/access-policy/a%2Fb%3Fc%20d"
        );
        let c = client("https://h/prefix").unwrap();
        assert_eq!(
            c.url(&["v1", "x"], &[("limit", "5".into())]).as_str(),
            "https://h/prefix/v1/x?limit=5"
        );
    }

    #[test]
    fn bad_endpoints_and_tokens_are_usage_errors() {
        for e in ["127.0.0.1:9001", "ftp://h", "not a url"] {
            assert!(matches!(client(e), Err(CliError::Usage(_))), "{e}");
        }
        let bad = Client::new(
            Resolved {
                endpoint: "http://h".into(),
                token: "a\nb".into(),
            },
            false,
        );
        match bad {
            Err(CliError::Usage(m)) => assert!(!m.contains("a\nb")),
            _ => panic!("expected a usage error"),
        }
    }
}
