//! The retention scheduler: every tenant's retention policy applied on an
//! interval, each run audited. It has one owner, the handle
//! [`Engine::start_retention`] returns: stopping it lets the tenant's run
//! under way finish and be audited (drain), then joins the task; it holds
//! the engine weakly, so a dropped engine ends it too. Several sidecars
//! may run it: a conversation deleted or anonymized by one is skipped by
//! the others.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::warn;

use engram_domain::audit::NewAuditEntry;
use engram_domain::error::Error;
use engram_domain::ids::TenantId;
use engram_domain::ports::{ColdStore, Embedder, HotTier, SemanticIndex};
use engram_domain::retention::RetentionReport;
use engram_domain::time::Timestamp;
use engram_rules::compliance::Masking;

use super::Engine;

/// How a run's tenants are masked, and how a failure reads in the audit
/// chain (the server writes the message its clients would get).
#[derive(Clone)]
pub struct RetentionRuns {
    pub masking: Arc<dyn Fn(&TenantId) -> Masking + Send + Sync>,
    pub describe_error: fn(&Error) -> String,
}

impl std::fmt::Debug for RetentionRuns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetentionRuns").finish_non_exhaustive()
    }
}

/// The running scheduler; see the module's documentation.
#[derive(Debug)]
pub struct RetentionScheduler {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RetentionScheduler {
    /// Whether its task still runs (a panic or a dropped engine ends it).
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }

    /// Stops it: no tenant's run starts after this; the one under way
    /// finishes and is audited; then the task is joined.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await
            && error.is_panic()
        {
            warn!("the retention scheduler had panicked");
        }
    }
}

/// The audit chain's words for a run's report.
pub fn retention_report(r: &RetentionReport) -> String {
    format!(
        "ok: deleted={} anonymized={} archived={} held={}",
        r.deleted, r.anonymized, r.archived, r.held
    )
}

impl<C, H, I, E> Engine<C, H, I, E>
where
    C: ColdStore,
    H: HotTier,
    I: SemanticIndex,
    E: Embedder,
{
    /// Starts applying every tenant's retention policy each `interval`
    /// (none with a zero interval), the first run one interval from now.
    pub fn start_retention(
        self: &Arc<Self>,
        interval: Duration,
        runs: RetentionRuns,
    ) -> Option<RetentionScheduler> {
        if interval.is_zero() {
            return None;
        }
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(schedule(Arc::downgrade(self), interval, runs, stopped));
        Some(RetentionScheduler { stop, task })
    }
}

async fn schedule<C, H, I, E>(
    engine: Weak<Engine<C, H, I, E>>,
    interval: Duration,
    runs: RetentionRuns,
    mut stopped: watch::Receiver<bool>,
) where
    C: ColdStore,
    H: HotTier,
    I: SemanticIndex,
    E: Embedder,
{
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => return,
        }
        let Some(engine) = engine.upgrade() else {
            return;
        };
        let tenants = match engine.retention_tenants().await {
            Ok(tenants) => tenants,
            Err(error) => {
                warn!(error = %error.redacted(), "retention: cannot list tenants");
                continue;
            }
        };
        for tenant in tenants {
            let masking = (runs.masking)(&tenant);
            let result = engine
                .run_retention(&tenant, Timestamp::now(), &masking, false)
                .await;
            let outcome = match &result {
                Ok(report) => retention_report(report),
                Err(error) => format!("failed: {}", (runs.describe_error)(error)),
            };
            let entry = NewAuditEntry {
                actor: "scheduler".into(),
                action: "compliance.run_retention".into(),
                subject: String::new(),
                reason: "schedule".into(),
                result: outcome,
            };
            if let Err(error) = engine.audit(&tenant, entry).await {
                warn!(%tenant, error = %error.redacted(), "retention run not audited");
            }
            if *stopped.borrow() {
                return;
            }
        }
    }
}
