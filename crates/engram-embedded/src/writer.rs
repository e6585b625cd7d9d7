//! Group commit: one thread owns redb's single write transaction slot and
//! commits many callers' writes with one fsync.
//!
//! Each job runs against the shared transaction and must refuse before it
//! writes (validate, then write): a job that returns a domain error has
//! changed nothing, so the others of its batch still commit. A job that hits
//! a storage error poisons the batch: the transaction is aborted and every
//! job of the batch fails, none acknowledged. A job that panics (a bug)
//! poisons its batch the same way and the thread goes on: one bad write
//! must not leave every later one failing while reads still answer.

use std::sync::Arc;

use engram_domain::{Error, Result};
use redb::{Database, WriteTransaction};
use tokio::sync::{mpsc, oneshot};

/// Most jobs committed together.
const MAX_BATCH: usize = 256;

type Finish = Box<dyn FnOnce(Result<()>) + Send>;
type Job = Box<dyn FnOnce(&WriteTransaction) -> (bool, Finish) + Send>;

#[derive(Debug, Clone)]
pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    pub(crate) fn start(db: Arc<Database>, name: &'static str) -> std::io::Result<Self> {
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        std::thread::Builder::new()
            .name(format!("{name}-writer"))
            .spawn(move || run(&db, rx))?;
        Ok(Self { jobs })
    }

    /// Whether the writer thread still takes jobs (a store whose writer
    /// stopped is not ready: its health says so).
    pub(crate) fn alive(&self) -> Result<()> {
        if self.jobs.is_closed() {
            Err(Error::unavailable("embedded store", "writer stopped"))
        } else {
            Ok(())
        }
    }

    /// Runs `f` in a write transaction and returns its result once the
    /// transaction is durably committed.
    pub(crate) async fn write<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<R> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |txn| {
            let out = f(txn);
            let poisoned = matches!(&out, Err(e) if e.is_backend_failure());
            let finish: Finish = Box::new(move |committed| {
                let _ = tx.send(committed.and(out));
            });
            (poisoned, finish)
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| Error::unavailable("embedded store", "writer stopped"))?;
        rx.await
            .map_err(|_| Error::unavailable("embedded store", "write not committed"))?
    }
}

fn run(db: &Database, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let txn = match db.begin_write() {
            Ok(txn) => txn,
            Err(e) => {
                // Dropping the jobs drops their reply channels: each caller
                // gets "not committed".
                tracing::warn!(error = %storage(e), "cannot begin a write transaction");
                drop(batch);
                continue;
            }
        };
        let mut finishes = Vec::with_capacity(batch.len());
        let mut poisoned = false;
        for job in batch {
            // A panicking job drops its reply channel: its caller gets
            // "not committed", the batch is aborted.
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&txn))) {
                Ok((bad, finish)) => {
                    poisoned |= bad;
                    finishes.push(finish);
                }
                Err(_) => {
                    tracing::error!("a write panicked: its transaction is aborted");
                    poisoned = true;
                }
            }
        }
        let outcome = if poisoned {
            drop(txn);
            Err(Error::unavailable(
                "embedded store",
                "a storage error aborted the transaction",
            ))
        } else {
            txn.commit().map_err(storage)
        };
        for finish in finishes {
            finish(outcome.clone());
        }
    }
}

pub(crate) fn storage(e: impl Into<redb::Error>) -> Error {
    Error::unavailable("embedded store", e.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_write_fails_alone_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::create(dir.path().join("w.redb")).unwrap());
        let writer = Writer::start(db, "test").unwrap();
        let panicked = writer
            .write(|_: &WriteTransaction| -> Result<()> { panic!("a bug") })
            .await;
        assert!(
            matches!(panicked, Err(Error::Unavailable { .. })),
            "{panicked:?}"
        );
        assert!(writer.alive().is_ok());
        writer.write(|_| Ok(())).await.unwrap();
    }
}
