//! Wrapped data keys in the embedded cold store (the `KeyStore` port):
//! one per subject, replaced only by a re-wrap under the same key.

use engram_domain::error::Result;
use engram_domain::ids::TenantId;
use engram_domain::model::WrappedKey;
use engram_domain::ports::KeyStore;
use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

use super::EmbeddedColdStore;
use crate::writer::storage;

/// (tenant, subject) → (master key id, wrapped data key)
pub(super) const DATA_KEYS: TableDefinition<(&str, &str), (&str, &[u8])> =
    TableDefinition::new("data_keys");

pub(super) fn data_key(
    txn: &ReadTransaction,
    t: &str,
    subject: &str,
) -> Result<Option<WrappedKey>> {
    let table = txn.open_table(DATA_KEYS).map_err(storage)?;
    let row = table.get((t, subject)).map_err(storage)?;
    Ok(row.map(|v| {
        let (master_id, bytes) = v.value();
        WrappedKey {
            master_id: master_id.to_owned(),
            bytes: bytes.to_vec(),
        }
    }))
}

pub(super) fn insert_data_key(
    txn: &WriteTransaction,
    t: &str,
    subject: &str,
    key: WrappedKey,
) -> Result<WrappedKey> {
    let mut table = txn.open_table(DATA_KEYS).map_err(storage)?;
    if let Some(v) = table.get((t, subject)).map_err(storage)? {
        let (master_id, bytes) = v.value();
        return Ok(WrappedKey {
            master_id: master_id.to_owned(),
            bytes: bytes.to_vec(),
        });
    }
    table
        .insert((t, subject), (key.master_id.as_str(), key.bytes.as_slice()))
        .map_err(storage)?;
    Ok(key)
}

pub(super) fn rewrap_data_key(
    txn: &WriteTransaction,
    t: &str,
    subject: &str,
    previous_master: &str,
    key: &WrappedKey,
) -> Result<bool> {
    let mut table = txn.open_table(DATA_KEYS).map_err(storage)?;
    let current = table
        .get((t, subject))
        .map_err(storage)?
        .is_some_and(|v| v.value().0 == previous_master);
    if current {
        table
            .insert((t, subject), (key.master_id.as_str(), key.bytes.as_slice()))
            .map_err(storage)?;
    }
    Ok(current)
}

impl KeyStore for EmbeddedColdStore {
    #[tracing::instrument(
        name = "cold.data_key",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn data_key(&self, tenant: &TenantId, subject: &str) -> Result<Option<WrappedKey>> {
        owned!(tenant);
        let subject = subject.to_owned();
        self.read(move |txn| data_key(txn, tenant.as_str(), &subject))
            .await
    }

    #[tracing::instrument(
        name = "cold.insert_data_key",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn insert_data_key(
        &self,
        tenant: &TenantId,
        subject: &str,
        key: WrappedKey,
    ) -> Result<WrappedKey> {
        owned!(tenant);
        let subject = subject.to_owned();
        self.writer
            .write(move |txn| insert_data_key(txn, tenant.as_str(), &subject, key))
            .await
    }

    #[tracing::instrument(
        name = "cold.rewrap_data_key",
        level = "info",
        skip_all,
        fields(backend = "embedded"),
        err(level = "debug", Debug)
    )]
    async fn rewrap_data_key(
        &self,
        tenant: &TenantId,
        subject: &str,
        previous_master: &str,
        key: WrappedKey,
    ) -> Result<bool> {
        owned!(tenant);
        let (subject, previous_master) = (subject.to_owned(), previous_master.to_owned());
        self.writer
            .write(move |txn| {
                rewrap_data_key(txn, tenant.as_str(), &subject, &previous_master, &key)
            })
            .await
    }
}
