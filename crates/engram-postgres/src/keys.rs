//! Wrapped data keys in a tenant's schema (the `KeyStore` port): one per
//! subject, replaced only by a re-wrap under the same key.

use deadpool_postgres::GenericClient;
use engram_domain::error::Result;
use engram_domain::ids::TenantId;
use engram_domain::model::WrappedKey;
use engram_domain::ports::KeyStore;
use engram_domain::time::Timestamp;
use tokio_postgres::Row;

use crate::error::pg;
use crate::store::PostgresColdStore;

pub(crate) async fn data_key(
    client: &impl GenericClient,
    s: &str,
    subject: &str,
) -> Result<Option<WrappedKey>> {
    let sql = format!("SELECT master_id, wrapped FROM {s}.data_keys WHERE subject = $1");
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    let row = client.query_opt(&stmt, &[&subject]).await.map_err(pg)?;
    Ok(row.as_ref().map(to_wrapped))
}

pub(crate) async fn insert_data_key(
    client: &impl GenericClient,
    s: &str,
    subject: &str,
    key: &WrappedKey,
) -> Result<WrappedKey> {
    // The no-op update makes RETURNING answer with the stored row when
    // another writer was first.
    let sql = format!(
        "INSERT INTO {s}.data_keys (subject, master_id, wrapped, created_us) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (subject) DO UPDATE SET subject = EXCLUDED.subject \
         RETURNING master_id, wrapped"
    );
    let row = client
        .query_one(
            &sql,
            &[&subject, &key.master_id, &key.bytes, &Timestamp::now().0],
        )
        .await
        .map_err(pg)?;
    Ok(to_wrapped(&row))
}

pub(crate) async fn rewrap_data_key(
    client: &impl GenericClient,
    s: &str,
    subject: &str,
    previous_master: &str,
    key: &WrappedKey,
) -> Result<bool> {
    let sql = format!(
        "UPDATE {s}.data_keys SET master_id = $3, wrapped = $4 WHERE subject = $1 AND master_id = $2"
    );
    let n = client
        .execute(
            &sql,
            &[&subject, &previous_master, &key.master_id, &key.bytes],
        )
        .await
        .map_err(pg)?;
    Ok(n == 1)
}

fn to_wrapped(row: &Row) -> WrappedKey {
    WrappedKey {
        master_id: row.get(0),
        bytes: row.get(1),
    }
}

impl KeyStore for PostgresColdStore {
    #[tracing::instrument(
        name = "cold.data_key",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn data_key(&self, tenant: &TenantId, subject: &str) -> Result<Option<WrappedKey>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(None);
        };
        data_key(&client, &s, subject).await
    }

    #[tracing::instrument(
        name = "cold.insert_data_key",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn insert_data_key(
        &self,
        tenant: &TenantId,
        subject: &str,
        key: WrappedKey,
    ) -> Result<WrappedKey> {
        let (client, s) = self.tenant(tenant).await?;
        insert_data_key(&client, &s, subject, &key).await
    }

    #[tracing::instrument(
        name = "cold.rewrap_data_key",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn rewrap_data_key(
        &self,
        tenant: &TenantId,
        subject: &str,
        previous_master: &str,
        key: WrappedKey,
    ) -> Result<bool> {
        let (client, s) = self.tenant(tenant).await?;
        rewrap_data_key(&client, &s, subject, previous_master, &key).await
    }
}
