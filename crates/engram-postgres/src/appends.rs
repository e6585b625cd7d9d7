//! Group commit: concurrent AppendMessages of any conversations share one
//! round trip and one transaction.
//!
//! An append is queued; a writer that is free takes everything queued (up
//! to [`MOST`]), sends it as one `append_batch` call per tenant schema and
//! answers each append after that transaction committed: a reply still
//! means committed. Nothing waits on a timer: with one client the batch is
//! that client's append; with many, the appends that arrived while a batch
//! was in flight go in the next one, and the commit's flush, the round trip
//! and the statement's overhead are paid once for all of them.
//!
//! The queue belongs to the store: its writers are started on the first
//! append and end when the last handle of the store is dropped (their
//! channel closes), so no append is left unanswered.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use deadpool_postgres::Pool;
use engram_domain::ports::AppendOutcome;
use engram_domain::{Error, Result};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_postgres::Row;

use crate::messages::{PendingAppend, append_batch, outcome};

/// Most appends in one call: a batch locks every conversation it holds
/// until its commit.
const MOST: usize = 64;
/// Writers, each with its own connection: one batch in flight while the
/// next is gathered and sent.
const WRITERS: usize = 2;

struct Queued {
    schema: String,
    append: PendingAppend,
    reply: oneshot::Sender<Result<AppendOutcome>>,
}

/// The store's append queue, started on first use.
#[derive(Debug, Clone, Default)]
pub(crate) struct AppendQueue {
    sender: Arc<OnceLock<mpsc::Sender<Queued>>>,
}

impl AppendQueue {
    /// Appends through the queue; returns once the append's transaction
    /// committed (or failed: then nothing of it was written).
    pub(crate) async fn append(
        &self,
        pool: &Pool,
        schema: String,
        append: PendingAppend,
    ) -> Result<AppendOutcome> {
        let sender = self.sender.get_or_init(|| start(pool.clone()));
        let (reply, answer) = oneshot::channel();
        let queued = Queued {
            schema,
            append,
            reply,
        };
        let gone = || Error::unavailable("postgres", "the append queue stopped");
        sender.send(queued).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

fn start(pool: Pool) -> mpsc::Sender<Queued> {
    let (sender, receiver) = mpsc::channel(4 * MOST);
    let receiver = Arc::new(Mutex::new(receiver));
    for _ in 0..WRITERS {
        tokio::spawn(writer(pool.clone(), receiver.clone()));
    }
    sender
}

/// Takes what is queued, one batch at a time, until the queue closes.
async fn writer(pool: Pool, receiver: Arc<Mutex<mpsc::Receiver<Queued>>>) {
    loop {
        let batch = {
            let mut receiver = receiver.lock().await;
            let Some(first) = receiver.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < MOST {
                match receiver.try_recv() {
                    Ok(queued) => batch.push(queued),
                    Err(_) => break,
                }
            }
            batch
        };
        let mut by_schema: BTreeMap<String, Vec<Queued>> = BTreeMap::new();
        for queued in batch {
            by_schema
                .entry(queued.schema.clone())
                .or_default()
                .push(queued);
        }
        for (schema, batch) in by_schema {
            commit(&pool, &schema, batch).await;
        }
    }
}

/// Sends one schema's appends as one call, sorted by conversation (two
/// batches lock conversations in one order), and answers each. A batch
/// that fails as a whole (a value one append holds that the database
/// refuses, a lost connection, a deadlock with an erasure) wrote nothing:
/// its appends are then tried one by one, so that one append's trouble is
/// only its own.
async fn commit(pool: &Pool, schema: &str, mut batch: Vec<Queued>) {
    batch.sort_by(|a, b| a.append.conversation.cmp(&b.append.conversation));
    let (appends, replies): (Vec<PendingAppend>, Vec<_>) =
        batch.into_iter().map(|q| (q.append, q.reply)).unzip();
    match call(pool, schema, &appends).await {
        Ok(groups) => {
            for ((reply, append), rows) in replies.into_iter().zip(appends).zip(groups) {
                let _ = reply.send(outcome(append, &rows));
            }
        }
        Err(error) if appends.len() == 1 => {
            for reply in replies {
                let _ = reply.send(Err(error.clone()));
            }
        }
        Err(_) => {
            for (reply, append) in replies.into_iter().zip(appends) {
                let result = call(pool, schema, std::slice::from_ref(&append))
                    .await
                    .and_then(|mut groups| outcome(append, &groups.remove(0)));
                let _ = reply.send(result);
            }
        }
    }
}

async fn call(pool: &Pool, schema: &str, appends: &[PendingAppend]) -> Result<Vec<Vec<Row>>> {
    let client = pool.get().await.map_err(crate::error::pool)?;
    append_batch(&client, schema, appends).await
}
