//! The background indexer: embeds appended messages in batches and upserts
//! them into the semantic index, in the order the writes happened (so a
//! deletion is never overtaken by an older upsert).
//!
//! Durability of the queue itself (an outbox in the cold tier) is the next
//! step; until then a crash may drop what is queued here from semantic
//! search (never from the conversation).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use crate::ids::{ConversationId, TenantId, UserId};
use crate::model::Message;
use crate::ports::{EmbedKind, Embedder, IndexPoint, SemanticIndex};

/// Most messages embedded in one batch.
const BATCH: usize = 128;
/// Attempts per batch before it is given up (and logged).
const ATTEMPTS: u32 = 4;

#[derive(Debug)]
pub(crate) enum IndexJob {
    Upsert {
        tenant: TenantId,
        messages: Vec<Message>,
    },
    Delete {
        tenant: TenantId,
        user: UserId,
        conversation: ConversationId,
    },
    Flush(oneshot::Sender<()>),
}

pub(crate) fn spawn<I: SemanticIndex, E: Embedder>(
    index: Arc<I>,
    embedder: Arc<E>,
    capacity: usize,
) -> mpsc::Sender<IndexJob> {
    let (tx, rx) = mpsc::channel(capacity);
    tokio::spawn(run(rx, index, embedder));
    tx
}

async fn run<I: SemanticIndex, E: Embedder>(
    mut rx: mpsc::Receiver<IndexJob>,
    index: Arc<I>,
    embedder: Arc<E>,
) {
    let mut pending: Option<IndexJob> = None;
    loop {
        let job = match pending.take() {
            Some(job) => job,
            None => match rx.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        match job {
            IndexJob::Upsert {
                tenant,
                mut messages,
            } => {
                // Gather more upserts of the same tenant into one batch.
                while messages.len() < BATCH {
                    match rx.try_recv() {
                        Ok(IndexJob::Upsert {
                            tenant: t,
                            messages: more,
                        }) if t == tenant => messages.extend(more),
                        Ok(other) => {
                            pending = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                for chunk in messages.chunks(BATCH) {
                    retry("upsert", &tenant, || {
                        upsert(&*index, &*embedder, &tenant, chunk)
                    })
                    .await;
                }
            }
            IndexJob::Delete {
                tenant,
                user,
                conversation,
            } => {
                retry("delete", &tenant, || async {
                    index
                        .delete_conversation(&tenant, &user, &conversation)
                        .await
                        .map(drop)
                })
                .await;
            }
            IndexJob::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

async fn upsert<I: SemanticIndex, E: Embedder>(
    index: &I,
    embedder: &E,
    tenant: &TenantId,
    messages: &[Message],
) -> crate::Result<()> {
    let texts: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
    let vectors = embedder.embed(&texts, EmbedKind::Passage).await?;
    let points = messages
        .iter()
        .zip(vectors)
        .map(|(m, vector)| IndexPoint {
            user_id: m.user_id.clone(),
            conversation_id: m.conversation_id.clone(),
            seq: m.seq,
            role: m.role,
            created_at: m.created_at,
            vector,
        })
        .collect();
    index.upsert(tenant, points).await
}

async fn retry<F, Fut>(what: &'static str, tenant: &TenantId, mut op: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = crate::Result<()>>,
{
    let mut delay = Duration::from_millis(50);
    for attempt in 1..=ATTEMPTS {
        match op().await {
            Ok(()) => return,
            Err(error) if attempt == ATTEMPTS => {
                warn!(%tenant, what, error = %error.redacted(), "indexing given up");
            }
            Err(error) => {
                warn!(%tenant, what, attempt, error = %error.redacted(), "indexing failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 4;
            }
        }
    }
}
