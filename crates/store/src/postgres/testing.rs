//! Test support: one fresh database per test on the server named by
//! `COFFER_TEST_POSTGRES_URL`, so tests run in parallel without seeing each other.
//!
//! In CI (`CI` set) a missing URL is a failure, never a silent skip.

use super::db_err;
use coffer_core::{Error, Result};
use sqlx::Connection;

pub const URL_VAR: &str = "COFFER_TEST_POSTGRES_URL";

/// The admin URL of the test server; `None` (with a message) outside CI when unset.
/// Panics in CI when unset: tests that need PostgreSQL must not skip there.
pub fn test_server_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{URL_VAR} is not set in CI: .ci/run must start PostgreSQL and export it")
        }
        _ => {
            eprintln!("skipping: {URL_VAR} is not set (run scripts/pg-test-cluster.sh)");
            None
        }
    }
}

/// `url` with its database name replaced by `db`.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{db}?{q}"),
        None => format!("{host_part}/{db}"),
    }
}

/// Creates an empty database with a random name on the server at `admin_url` and
/// returns its URL.
pub async fn fresh_database(admin_url: &str) -> Result<String> {
    let name = format!("coffer_test_{}", &coffer_core::ids::new_hex_id()[..16]);
    let mut c = sqlx::PgConnection::connect(admin_url)
        .await
        .map_err(|e| db_err("connect to the test server", e))?;
    // The name is generated here from hex digits only, never from input.
    let sql = format!("CREATE DATABASE {name}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut c)
        .await
        .map_err(|e| db_err("create a test database", e))?;
    c.close().await.map_err(|e| db_err("close", e))?;
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(Error::internal("bad test database name"));
    }
    Ok(with_database(admin_url, &name))
}

/// Applies the migrations up to schema `version` only, as an older release left the
/// database (to test upgrades).
pub async fn migrate_database_to(url: &str, version: i64) -> Result<()> {
    let pool = sqlx::PgPool::connect(url)
        .await
        .map_err(|e| db_err("connect", e))?;
    super::schema::migrate_to(&pool, version).await?;
    pool.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_replacement() {
        assert_eq!(
            with_database("postgres://u@h:5/postgres?sslmode=disable", "x"),
            "postgres://u@h:5/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h:5", "x"), "postgres://u@h:5/x");
        assert_eq!(
            with_database("postgresql://u:p@127.0.0.1/db", "y"),
            "postgresql://u:p@127.0.0.1/y"
        );
    }
}
