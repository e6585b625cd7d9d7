//! Data-subject rights, the audit chain, retention and legal holds in a
//! tenant's schema (migration V7).
//!
//! Over 600 lines: erasure, access, anonymization, the audit chain and
//! retention each need their own SQL; they share one aggregate (a data
//! subject's records) and one migration.

use deadpool_postgres::GenericClient;
use engram_domain::audit;
use engram_domain::audit::{AuditEntry, NewAuditEntry};
use engram_domain::error::{Error, Result};
use engram_domain::ids::{ConversationId, TenantId, UserId};
use engram_domain::model::Conversation;
use engram_domain::ports::{ColdErasure, ComplianceStore};
use engram_domain::retention::{RetentionAction, RetentionPolicy};
use engram_domain::summary::Vertical;
use engram_domain::time::Timestamp;
use engram_text::terms;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_postgres::Row;

use crate::error::{id, pg, pool};
use crate::messages::{CONVERSATION_COLUMNS, to_conversation};
use crate::outbox;
use crate::store::PostgresColdStore;

/// The snake_case name serde gives a unit variant.
fn label<T: Serialize>(value: &T) -> Result<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => Ok(s),
        _ => Err(Error::Internal("not a unit variant".into())),
    }
}

fn parse_label<T: DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|e| Error::Internal(format!("corrupt label {s:?}: {e}")))
}

async fn count(client: &impl GenericClient, sql: &str, user: &str) -> Result<u64> {
    let row = client.query_one(sql, &[&user]).await.map_err(pg)?;
    Ok(row.get::<_, i64>(0) as u64)
}

pub(crate) async fn erase_user(
    client: &mut deadpool_postgres::Object,
    s: &str,
    user: &UserId,
) -> Result<ColdErasure> {
    let u = user.as_str();
    let tx = client.transaction().await.map_err(pg)?;
    // The user's fact-revision row serialises this erasure with the user's
    // fact writes; conversations are locked by the deletes below.
    let conversations = tx
        .query(
            &format!(
                "SELECT conversation_id FROM {s}.conversations WHERE user_id = $1 \
                 ORDER BY conversation_id FOR UPDATE"
            ),
            &[&u],
        )
        .await
        .map_err(pg)?
        .iter()
        .map(|r| id(ConversationId::parse, r.get(0)))
        .collect::<Result<Vec<_>>>()?;
    let in_conversations = format!(
        "conversation_id IN (SELECT conversation_id FROM {s}.conversations WHERE user_id = $1)"
    );
    let messages = count(
        &tx,
        &format!("SELECT count(*) FROM {s}.messages WHERE {in_conversations}"),
        u,
    )
    .await?;
    let summaries = count(
        &tx,
        &format!("SELECT count(*) FROM {s}.summaries WHERE {in_conversations}"),
        u,
    )
    .await?;
    let handovers = count(
        &tx,
        &format!("SELECT count(*) FROM {s}.handovers WHERE {in_conversations}"),
        u,
    )
    .await?;
    let outbox_jobs = tx
        .execute(
            &format!("DELETE FROM {s}.index_outbox WHERE user_id = $1 OR {in_conversations}"),
            &[&u],
        )
        .await
        .map_err(pg)?;
    // Messages, summaries, handovers and anonymization marks cascade.
    tx.execute(
        &format!("DELETE FROM {s}.conversations WHERE user_id = $1"),
        &[&u],
    )
    .await
    .map_err(pg)?;
    let facts = tx
        .execute(&format!("DELETE FROM {s}.facts WHERE user_id = $1"), &[&u])
        .await
        .map_err(pg)?;
    tx.execute(
        &format!("DELETE FROM {s}.fact_revs WHERE user_id = $1"),
        &[&u],
    )
    .await
    .map_err(pg)?;
    tx.execute(
        &format!("DELETE FROM {s}.legal_holds WHERE user_id = $1"),
        &[&u],
    )
    .await
    .map_err(pg)?;
    // Crypto-shredding: without the data key, what a backup holds of the
    // user's encrypted values cannot be read.
    let data_keys = tx
        .execute(
            &format!("DELETE FROM {s}.data_keys WHERE subject = $1"),
            &[&u],
        )
        .await
        .map_err(pg)?;
    tx.commit().await.map_err(pg)?;
    Ok(ColdErasure {
        conversations,
        messages,
        facts,
        summaries,
        handovers,
        outbox_jobs,
        data_keys,
    })
}

pub(crate) async fn user_residue(
    client: &impl GenericClient,
    s: &str,
    user: &UserId,
    conversations: &[ConversationId],
) -> Result<u64> {
    let ids: Vec<&str> = conversations.iter().map(ConversationId::as_str).collect();
    let sql = format!(
        "SELECT (SELECT count(*) FROM {s}.conversations WHERE user_id = $1 OR conversation_id = ANY($2)) \
              + (SELECT count(*) FROM {s}.messages WHERE user_id = $1 OR conversation_id = ANY($2)) \
              + (SELECT count(*) FROM {s}.summaries WHERE conversation_id = ANY($2)) \
              + (SELECT count(*) FROM {s}.handovers WHERE user_id = $1 OR conversation_id = ANY($2)) \
              + (SELECT count(*) FROM {s}.index_outbox WHERE user_id = $1 OR conversation_id = ANY($2)) \
              + (SELECT count(*) FROM {s}.facts WHERE user_id = $1) \
              + (SELECT count(*) FROM {s}.fact_revs WHERE user_id = $1) \
              + (SELECT count(*) FROM {s}.data_keys WHERE subject = $1)"
    );
    let row = client
        .query_one(&sql, &[&user.as_str(), &ids])
        .await
        .map_err(pg)?;
    Ok(row.get::<_, i64>(0) as u64)
}

const AUDIT_COLUMNS: &str = "seq, at_us, actor, action, subject, reason, result, prev_hash, hash";

fn to_audit(row: &Row) -> AuditEntry {
    AuditEntry {
        seq: row.get::<_, i64>(0) as u64,
        at: Timestamp(row.get(1)),
        entry: NewAuditEntry {
            actor: row.get(2),
            action: row.get(3),
            subject: row.get(4),
            reason: row.get(5),
            result: row.get(6),
        },
        prev_hash: row.get(7),
        hash: row.get(8),
    }
}

pub(crate) async fn append_audit(
    client: &mut deadpool_postgres::Object,
    s: &str,
    entry: NewAuditEntry,
    at: Timestamp,
) -> Result<AuditEntry> {
    let tx = client.transaction().await.map_err(pg)?;
    // Locking the head serialises appenders; after a wait the lock returns
    // the head as the previous appender left it.
    let head = tx
        .query_one(
            &format!("SELECT seq, hash FROM {s}.audit_head FOR UPDATE"),
            &[],
        )
        .await
        .map_err(pg)?;
    let (seq, hash): (i64, Vec<u8>) = (head.get(0), head.get(1));
    let prev = (seq > 0).then_some((seq as u64, hash.as_slice()));
    let e = audit::next(prev, at, entry);
    tx.execute(
        &format!(
            "INSERT INTO {s}.audit_log ({AUDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ),
        &[
            &(e.seq as i64),
            &e.at.0,
            &e.entry.actor,
            &e.entry.action,
            &e.entry.subject,
            &e.entry.reason,
            &e.entry.result,
            &e.prev_hash,
            &e.hash,
        ],
    )
    .await
    .map_err(pg)?;
    tx.execute(
        &format!("UPDATE {s}.audit_head SET seq = $1, hash = $2"),
        &[&(e.seq as i64), &e.hash],
    )
    .await
    .map_err(pg)?;
    tx.commit().await.map_err(pg)?;
    Ok(e)
}

pub(crate) async fn audit_entries(
    client: &impl GenericClient,
    s: &str,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<AuditEntry>> {
    let sql =
        format!("SELECT {AUDIT_COLUMNS} FROM {s}.audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    Ok(client
        .query(&stmt, &[&(after_seq as i64), &(limit as i64)])
        .await
        .map_err(pg)?
        .iter()
        .map(to_audit)
        .collect())
}

pub(crate) async fn audit_head(
    client: &impl GenericClient,
    s: &str,
) -> Result<Option<(u64, Vec<u8>)>> {
    let row = client
        .query_one(&format!("SELECT seq, hash FROM {s}.audit_head"), &[])
        .await
        .map_err(pg)?;
    let seq: i64 = row.get(0);
    Ok((seq > 0).then(|| (seq as u64, row.get(1))))
}

pub(crate) async fn put_policy(
    client: &impl GenericClient,
    s: &str,
    policy: &RetentionPolicy,
) -> Result<()> {
    client
        .execute(
            &format!(
                "INSERT INTO {s}.retention_policies VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (policy_id) DO UPDATE SET vertical = $2, retention_days = $3, \
                 action = $4, updated_us = $5"
            ),
            &[
                &policy.policy_id,
                &label(&policy.vertical)?,
                &(policy.retention_days as i32),
                &label(&policy.action)?,
                &Timestamp::now().0,
            ],
        )
        .await
        .map_err(pg)?;
    Ok(())
}

pub(crate) async fn policies(client: &impl GenericClient, s: &str) -> Result<Vec<RetentionPolicy>> {
    client
        .query(
            &format!(
                "SELECT policy_id, vertical, retention_days, action FROM {s}.retention_policies \
                 ORDER BY policy_id"
            ),
            &[],
        )
        .await
        .map_err(pg)?
        .iter()
        .map(|r| {
            Ok(RetentionPolicy {
                policy_id: r.get(0),
                vertical: parse_label::<Vertical>(r.get(1))?,
                retention_days: r.get::<_, i32>(2) as u32,
                action: parse_label::<RetentionAction>(r.get(3))?,
            })
        })
        .collect()
}

pub(crate) async fn set_hold(
    client: &impl GenericClient,
    s: &str,
    user: &UserId,
    hold: bool,
) -> Result<()> {
    let sql = if hold {
        format!("INSERT INTO {s}.legal_holds VALUES ($1, $2) ON CONFLICT DO NOTHING")
    } else {
        format!("DELETE FROM {s}.legal_holds WHERE user_id = $1 AND $2::bigint IS NOT NULL")
    };
    client
        .execute(&sql, &[&user.as_str(), &Timestamp::now().0])
        .await
        .map_err(pg)?;
    Ok(())
}

pub(crate) async fn holds(client: &impl GenericClient, s: &str) -> Result<Vec<UserId>> {
    client
        .query(
            &format!("SELECT user_id FROM {s}.legal_holds ORDER BY user_id"),
            &[],
        )
        .await
        .map_err(pg)?
        .iter()
        .map(|r| id(UserId::parse, r.get(0)))
        .collect()
}

pub(crate) async fn expired(
    client: &impl GenericClient,
    s: &str,
    before: Timestamp,
    after: Option<&ConversationId>,
    limit: usize,
) -> Result<Vec<Conversation>> {
    let sql = format!(
        "SELECT {CONVERSATION_COLUMNS} FROM {s}.conversations c \
         WHERE updated_us < $1 AND conversation_id > $2 \
           AND NOT EXISTS (SELECT 1 FROM {s}.anonymized_conversations a \
                           WHERE a.conversation_id = c.conversation_id AND a.last_seq >= c.last_seq) \
         ORDER BY conversation_id LIMIT $3"
    );
    client
        .query(
            &sql,
            &[
                &before.0,
                &after.map_or("", ConversationId::as_str),
                &(limit as i64),
            ],
        )
        .await
        .map_err(pg)?
        .iter()
        .map(to_conversation)
        .collect()
}

pub(crate) async fn anonymize(
    client: &mut deadpool_postgres::Object,
    s: &str,
    conversation: &ConversationId,
    last_seq: u64,
    contents: Vec<(u64, String)>,
) -> Result<bool> {
    let c = conversation.as_str();
    let tx = client.transaction().await.map_err(pg)?;
    let row = tx
        .query_opt(
            &format!(
                "SELECT last_seq, user_id FROM {s}.conversations WHERE conversation_id = $1 FOR UPDATE"
            ),
            &[&c],
        )
        .await
        .map_err(pg)?;
    let Some(row) = row else {
        return Ok(false);
    };
    if row.get::<_, i64>(0) as u64 != last_seq {
        return Ok(false);
    }
    let user: String = row.get(1);
    let update = tx
        .prepare(&format!(
            "UPDATE {s}.messages SET content = $3, terms = $4 WHERE conversation_id = $1 AND seq = $2"
        ))
        .await
        .map_err(pg)?;
    for (seq, content) in &contents {
        let t = terms(content).join(" ");
        tx.execute(&update, &[&c, &(*seq as i64), content, &t])
            .await
            .map_err(pg)?;
    }
    tx.execute(
        &format!(
            "UPDATE {s}.conversations SET updated_us = updated_us + 1 WHERE conversation_id = $1"
        ),
        &[&c],
    )
    .await
    .map_err(pg)?;
    tx.execute(
        &format!("DELETE FROM {s}.summaries WHERE conversation_id = $1"),
        &[&c],
    )
    .await
    .map_err(pg)?;
    tx.execute(
        &format!(
            "UPDATE {s}.handovers SET notes = '', reason = '', summary = NULL \
             WHERE conversation_id = $1"
        ),
        &[&c],
    )
    .await
    .map_err(pg)?;
    tx.execute(
        &format!(
            "INSERT INTO {s}.anonymized_conversations VALUES ($1, $2, $3) \
             ON CONFLICT (conversation_id) DO UPDATE SET last_seq = $2, at_us = $3"
        ),
        &[&c, &(last_seq as i64), &Timestamp::now().0],
    )
    .await
    .map_err(pg)?;
    // The index re-embeds the masked messages.
    if last_seq > 0 {
        tx.execute(
            &format!(
                "INSERT INTO {s}.index_outbox (conversation_id, seq, to_seq, op, user_id, not_before_us, created_us) \
                 VALUES ($1, 1, $2, 'index', $3, 0, $4)"
            ),
            &[&c, &(last_seq as i64), &user, &Timestamp::now().0],
        )
        .await
        .map_err(pg)?;
    }
    tx.commit().await.map_err(pg)?;
    Ok(true)
}

impl ComplianceStore for PostgresColdStore {
    #[tracing::instrument(
        name = "cold.erase_user",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn erase_user(&self, tenant: &TenantId, user: &UserId) -> Result<ColdErasure> {
        let (mut client, s) = self.tenant(tenant).await?;
        erase_user(&mut client, &s, user).await
    }

    #[tracing::instrument(
        name = "cold.user_residue",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn user_residue(
        &self,
        tenant: &TenantId,
        user: &UserId,
        conversations: &[ConversationId],
    ) -> Result<u64> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(0);
        };
        user_residue(&client, &s, user, conversations).await
    }

    #[tracing::instrument(
        name = "cold.append_audit",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn append_audit(
        &self,
        tenant: &TenantId,
        entry: NewAuditEntry,
        at: Timestamp,
    ) -> Result<AuditEntry> {
        let (mut client, s) = self.tenant(tenant).await?;
        append_audit(&mut client, &s, entry, at).await
    }

    #[tracing::instrument(
        name = "cold.audit_entries",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn audit_entries(
        &self,
        tenant: &TenantId,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(Vec::new());
        };
        audit_entries(&client, &s, after_seq, limit).await
    }

    #[tracing::instrument(
        name = "cold.audit_head",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn audit_head(&self, tenant: &TenantId) -> Result<Option<(u64, Vec<u8>)>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(None);
        };
        audit_head(&client, &s).await
    }

    #[tracing::instrument(
        name = "cold.put_retention_policy",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn put_retention_policy(
        &self,
        tenant: &TenantId,
        policy: &RetentionPolicy,
    ) -> Result<()> {
        let (client, s) = self.tenant(tenant).await?;
        put_policy(&client, &s, policy).await
    }

    #[tracing::instrument(
        name = "cold.retention_policies",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn retention_policies(&self, tenant: &TenantId) -> Result<Vec<RetentionPolicy>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(Vec::new());
        };
        policies(&client, &s).await
    }

    #[tracing::instrument(
        name = "cold.set_legal_hold",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn set_legal_hold(&self, tenant: &TenantId, user: &UserId, hold: bool) -> Result<()> {
        let (client, s) = self.tenant(tenant).await?;
        set_hold(&client, &s, user, hold).await
    }

    #[tracing::instrument(
        name = "cold.retention_tenants",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn retention_tenants(&self) -> Result<Vec<TenantId>> {
        let client = self.pool.get().await.map_err(pool)?;
        outbox::tenants_with(&client, "retention_policies", "TRUE").await
    }

    #[tracing::instrument(
        name = "cold.legal_holds",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn legal_holds(&self, tenant: &TenantId) -> Result<Vec<UserId>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(Vec::new());
        };
        holds(&client, &s).await
    }

    #[tracing::instrument(
        name = "cold.expired_conversations",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn expired_conversations(
        &self,
        tenant: &TenantId,
        before: Timestamp,
        after: Option<&ConversationId>,
        limit: usize,
    ) -> Result<Vec<Conversation>> {
        let Some((client, s)) = self.existing(tenant).await? else {
            return Ok(Vec::new());
        };
        expired(&client, &s, before, after, limit).await
    }

    #[tracing::instrument(
        name = "cold.anonymize_conversation",
        level = "info",
        skip_all,
        fields(backend = "postgres"),
        err(level = "debug", Debug)
    )]
    async fn anonymize_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        last_seq: u64,
        contents: Vec<(u64, String)>,
    ) -> Result<bool> {
        let (mut client, s) = self.tenant(tenant).await?;
        anonymize(&mut client, &s, conversation, last_seq, contents).await
    }
}
