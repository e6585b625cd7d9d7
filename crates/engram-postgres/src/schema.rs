//! Tenant schemas: naming and migration on first use.

use engram_domain::ids::TenantId;
use engram_domain::{Error, Result};
use engram_text::{ANALYSER_VERSION, terms};

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
pub(crate) async fn migrate(
    config: &tokio_postgres::Config,
    tls: crate::tls::RustlsConnect,
    tenant: &TenantId,
) -> Result<()> {
    let (mut client, connection) = config.connect(tls).await.map_err(pg)?;
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
        reanalyse(&client).await
    }
    .await;
    // The lock goes with the session; closing the connection releases it.
    drop(client);
    let _ = driver.await;
    result
}

/// Messages analysed again per statement.
const REANALYSE_BATCH: i64 = 1000;

/// Computes the `terms` of every message again when they were computed by
/// an older analyser than this sidecar's, so that a query's terms meet the
/// stored ones; then records the version. Runs under the migration lock,
/// in batches of [`REANALYSE_BATCH`] (each one statement: a crash leaves
/// some rows analysed twice, never a row half-written). A sealed message's
/// terms are the hashes stored with it and come out unchanged.
async fn reanalyse(client: &tokio_postgres::Client) -> Result<()> {
    let version: i32 = client
        .query_one("SELECT version FROM analyser", &[])
        .await
        .map_err(pg)?
        .get(0);
    let current = i32::try_from(ANALYSER_VERSION).unwrap_or(i32::MAX);
    if version >= current {
        return Ok(());
    }
    let (mut conversation, mut seq) = (String::new(), -1_i64);
    loop {
        let rows = client
            .query(
                "SELECT conversation_id, seq, content FROM messages \
                 WHERE (conversation_id, seq) > ($1, $2) \
                 ORDER BY conversation_id, seq LIMIT $3",
                &[&conversation, &seq, &REANALYSE_BATCH],
            )
            .await
            .map_err(pg)?;
        let Some(last) = rows.last() else { break };
        (conversation, seq) = (last.get(0), last.get(1));
        let conversations: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        let seqs: Vec<i64> = rows.iter().map(|r| r.get(1)).collect();
        let analysed: Vec<String> = rows
            .iter()
            .map(|r| terms(r.get::<_, &str>(2)).join(" "))
            .collect();
        client
            .execute(
                "UPDATE messages AS m SET terms = u.terms \
                 FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(conversation_id, seq, terms) \
                 WHERE m.conversation_id = u.conversation_id AND m.seq = u.seq",
                &[&conversations, &seqs, &analysed],
            )
            .await
            .map_err(pg)?;
    }
    client
        .execute("UPDATE analyser SET version = $1", &[&current])
        .await
        .map_err(pg)?;
    Ok(())
}
