//! Whether a background worker is still running: its task holds a guard
//! that clears the flag when the task ends, returns or panics, so a
//! sidecar whose indexer died says so (`engram_worker_running`) instead
//! of serving on with a queue nobody drains.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The flag, read by the engine's owner.
#[derive(Debug, Clone)]
pub(crate) struct Liveness(Arc<AtomicBool>);

/// Held by the worker's task for as long as it runs.
#[derive(Debug)]
pub(crate) struct Running(Arc<AtomicBool>);

impl Liveness {
    /// A flag set now, and the guard that clears it when dropped.
    pub(crate) fn start() -> (Self, Running) {
        let flag = Arc::new(AtomicBool::new(true));
        (Self(flag.clone()), Running(flag))
    }

    pub(crate) fn is_running(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_that_panics_or_returns_is_no_longer_running() {
        let (panicked, guard) = Liveness::start();
        let task = tokio::spawn(async move {
            let _running = guard;
            panic!("a worker's bug");
        });
        assert!(task.await.is_err());
        assert!(!panicked.is_running());
        let (returned, guard) = Liveness::start();
        tokio::spawn(async move { drop(guard) }).await.unwrap();
        assert!(!returned.is_running());
        let (live, _guard) = Liveness::start();
        assert!(live.is_running());
    }
}
