//! Tenant schemas: naming and migration on first use.

use engram_core::ids::TenantId;
use engram_core::{Error, Result};
use tokio_postgres::NoTls;

use crate::error::pg;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// The quoted schema of a tenant: `"t_<tenant>"`. Safe to splice into SQL:
/// tenant ids are `[a-z0-9][a-z0-9_-]{0,60}`.
pub(crate) fn schema_of(tenant: &TenantId) -> String {
    format!("\"t_{}\"", tenant.as_str())
}

/// Creates the tenant's schema if needed and applies pending migrations, on
/// a dedicated connection (its search_path is changed), under an advisory
/// lock so that sidecars starting together migrate once.
pub(crate) async fn migrate(config: &tokio_postgres::Config, tenant: &TenantId) -> Result<()> {
    let (mut client, connection) = config.connect(NoTls).await.map_err(pg)?;
    let driver = tokio::spawn(connection);
    let schema = schema_of(tenant);
    let lock = format!("engram:{schema}");
    client
        .execute("SELECT pg_advisory_lock(hashtext($1))", &[&lock])
        .await
        .map_err(pg)?;
    let result = async {
        client
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema}"
            ))
            .await
            .map_err(pg)?;
        embedded::migrations::runner()
            .run_async(&mut client)
            .await
            .map_err(|e| Error::Internal(format!("migrating {schema}: {e}")))?;
        Ok(())
    }
    .await;
    // The lock goes with the session; closing the connection releases it.
    drop(client);
    let _ = driver.await;
    result
}
