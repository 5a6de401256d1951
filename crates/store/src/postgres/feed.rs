//! `PgChangeFeed`: delivers changes committed by any node to this node's caches.
//! Fast path: `LISTEN coffer_changes` (PostgreSQL), one notification per changed record,
//! carrying the change counter it was committed under. Fallback, always on: a poll of
//! `coffer_changes.version` every `POLL`; a counter ahead of the last notification seen
//! means changes were missed (listener down, or an engine without LISTEN/NOTIFY), and
//! the sink gets `Change::Everything`.
//!
//! Invariant: every committed change reaches the sink within one poll interval plus one
//! query, whether or not notifications work; notifications make it milliseconds.

use super::CHANNEL;
use coffer_core::change::{Change, ChangeFeed, ChangeSink, Subscription};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;

/// Fallback poll interval: keeps the worst case for revocations under one second even
/// without notifications.
pub const POLL: Duration = Duration::from_millis(250);

#[derive(Clone)]
pub struct PgChangeFeed {
    pool: PgPool,
    notify: bool,
}

impl PgChangeFeed {
    pub(crate) fn new(pool: PgPool, notify: bool) -> Self {
        Self { pool, notify }
    }
}

impl PgChangeFeed {
    /// The same feed relying on the change-counter poll alone (what CockroachDB and
    /// YugabyteDB get); for tests of that path.
    pub fn polling_only(mut self) -> Self {
        self.notify = false;
        self
    }
}

impl ChangeFeed for PgChangeFeed {
    fn subscribe(&self, sink: Arc<dyn ChangeSink>) -> Subscription {
        let feed = self.clone();
        Subscription::new(tokio::spawn(async move { feed.run(sink).await }))
    }
}

async fn current_version(pool: &PgPool) -> Option<i64> {
    match sqlx::query_scalar::<_, i64>("SELECT version FROM coffer_changes WHERE id = 1")
        .fetch_one(pool)
        .await
    {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(error = %e, "change feed: reading the change counter failed");
            None
        }
    }
}

/// Splits a notification payload `"<version> <change>"`.
fn parse(payload: &str) -> Option<(i64, Change)> {
    let (v, rest) = payload.split_once(' ')?;
    Some((v.parse().ok()?, Change::decode(rest)))
}

impl PgChangeFeed {
    async fn listen(&self) -> Option<PgListener> {
        if !self.notify {
            return None;
        }
        let mut l = match PgListener::connect_with(&self.pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "change feed: LISTEN connection failed");
                return None;
            }
        };
        match l.listen(CHANNEL).await {
            Ok(()) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "change feed: LISTEN failed");
                None
            }
        }
    }

    async fn run(self, sink: Arc<dyn ChangeSink>) {
        // Listen before reading the counter: a change committed in between is then both
        // notified and counted, never neither.
        let mut listener = self.listen().await;
        let mut seen = loop {
            if let Some(v) = current_version(&self.pool).await {
                break v;
            }
            tokio::time::sleep(POLL).await;
        };
        // Whatever changed before the counter was read (e.g. while this node started) is
        // not in any notification this node will get.
        sink.apply(Change::Everything).await;
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let note = async {
                match listener.as_mut() {
                    Some(l) => Some(l.try_recv().await),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                n = note => match n {
                    Some(Ok(Some(n))) => match parse(n.payload()) {
                        // Several notifications share the version of their transaction.
                        Some((v, change)) if v >= seen => {
                            let change = if v > seen + 1 { Change::Everything } else { change };
                            seen = v;
                            sink.apply(change).await;
                        }
                        Some(_) => {}
                        None => sink.apply(Change::Everything).await,
                    },
                    // The connection was lost (sqlx reconnects on the next call); what was
                    // sent meanwhile is caught by the counter check.
                    Some(Ok(None)) => {}
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "change feed: LISTEN connection failed");
                        listener = None;
                    }
                    None => {}
                },
                _ = tick.tick() => {
                    if let Some(v) = current_version(&self.pool).await
                        && v > seen
                    {
                        seen = v;
                        sink.apply(Change::Everything).await;
                    }
                    if listener.is_none() && self.notify {
                        listener = self.listen().await;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads() {
        assert_eq!(
            parse("7 key CWX"),
            Some((7, Change::AccessKey("CWX".into())))
        );
        assert_eq!(parse("8 all"), Some((8, Change::Everything)));
        assert_eq!(parse("x key CWX"), None);
        assert_eq!(parse(""), None);
    }
}
