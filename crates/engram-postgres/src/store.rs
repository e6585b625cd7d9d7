//! The pool and the per-tenant schema cache; each port is implemented in
//! the file of its aggregate, the store-wide ones in `stats.rs`.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use engram_domain::ids::TenantId;
use engram_domain::{Error, Result};
use tokio::sync::Mutex;

use crate::appends::AppendQueue;
use crate::error::{pg, pool};
use crate::schema::{migrate, schema_of};

/// How to reach Postgres.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// A libpq-style URL: `postgres://user@host:5432/db`.
    pub url: String,
    /// Most pooled connections.
    pub max_connections: usize,
    /// Longest wait for a pooled connection.
    pub acquire_timeout: Duration,
}

impl PostgresConfig {
    /// Checks the URL (and the TLS files it names) without connecting: a
    /// configuration error is found at startup, not at the first request.
    pub fn check(&self) -> Result<()> {
        let tls = crate::tls::settings(&self.url);
        tokio_postgres::Config::from_str(&tls.url).map_err(|e| {
            Error::invalid(
                "postgres_url",
                format!("{e}: a URL such as postgres://USER:PASSWORD@HOST:5432/DB"),
            )
        })?;
        crate::tls::connector(&tls).map(drop)
    }
}

/// The Postgres cold store.
#[derive(Debug, Clone)]
pub struct PostgresColdStore {
    pub(crate) pool: Pool,
    config: Arc<tokio_postgres::Config>,
    /// TLS for the migrations' own connections.
    tls: crate::tls::RustlsConnect,
    /// Tenants whose schema is known to be migrated by this process.
    migrated: moka::sync::Cache<TenantId, ()>,
    /// Serialises this process's migrations.
    migrating: Arc<Mutex<()>>,
    /// Concurrent appends, committed together.
    pub(crate) appends: AppendQueue,
}

impl PostgresColdStore {
    /// Builds the pool. Connections are opened on demand, so this succeeds
    /// while Postgres is down; `ping` tells when it answers.
    pub fn new(config: &PostgresConfig) -> Result<Self> {
        let tls = crate::tls::settings(&config.url);
        let pg_config = tokio_postgres::Config::from_str(&tls.url)
            .map_err(|e| Error::invalid("postgres_url", e.to_string()))?;
        let connector = crate::tls::connector(&tls)?;
        let manager = Manager::from_config(
            pg_config.clone(),
            connector.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.max_connections)
            .wait_timeout(Some(config.acquire_timeout))
            .create_timeout(Some(config.acquire_timeout))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| Error::invalid("postgres_url", e.to_string()))?;
        Ok(Self {
            pool,
            config: Arc::new(pg_config),
            tls: connector,
            migrated: moka::sync::Cache::new(100_000),
            migrating: Arc::new(Mutex::new(())),
            appends: AppendQueue::default(),
        })
    }

    /// A pooled connection and the tenant's schema, migrated.
    pub(crate) async fn tenant(&self, tenant: &TenantId) -> Result<(Object, String)> {
        let schema = self.migrated_schema(tenant).await?;
        let client = self.pool.get().await.map_err(pool)?;
        Ok((client, schema))
    }

    /// The tenant's schema, migrated.
    pub(crate) async fn migrated_schema(&self, tenant: &TenantId) -> Result<String> {
        if !self.migrated.contains_key(tenant) {
            let _guard = self.migrating.lock().await;
            if !self.migrated.contains_key(tenant) {
                migrate(&self.config, self.tls.clone(), tenant).await?;
                self.migrated.insert(tenant.clone(), ());
            }
        }
        Ok(schema_of(tenant))
    }

    /// A pooled connection and the tenant's schema, migrated, when the
    /// tenant exists: a read of a tenant that never wrote answers empty
    /// and creates nothing (no schema, no catalog entry), however many
    /// unknown tenant ids it is asked about.
    pub(crate) async fn existing(&self, tenant: &TenantId) -> Result<Option<(Object, String)>> {
        if !self.migrated.contains_key(tenant) {
            let client = self.pool.get().await.map_err(pool)?;
            let stmt = client
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                .await
                .map_err(pg)?;
            let name = format!("t_{}", tenant.as_str());
            let exists: bool = client.query_one(&stmt, &[&name]).await.map_err(pg)?.get(0);
            if !exists {
                return Ok(None);
            }
        }
        // An existing schema is migrated as on a write (after an upgrade).
        self.tenant(tenant).await.map(Some)
    }

    /// Drops every schema whose name starts with `t_<prefix>`: for tests
    /// that created tenants with a run-specific prefix.
    pub async fn drop_tenants_with_prefix(&self, prefix: &str) -> Result<u64> {
        let client = self.pool.get().await.map_err(pool)?;
        let pattern = format!("t\\_{}%", prefix.replace('_', "\\_"));
        let rows = client
            .query(
                "SELECT quote_ident(nspname) FROM pg_namespace WHERE nspname LIKE $1",
                &[&pattern],
            )
            .await
            .map_err(pg)?;
        for row in &rows {
            let schema: String = row.get(0);
            client
                .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
                .await
                .map_err(pg)?;
        }
        self.migrated.invalidate_all();
        Ok(rows.len() as u64)
    }
}
