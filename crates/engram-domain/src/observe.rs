//! What the core reports to an operator beyond its answers: `tracing`
//! events on fixed targets, which the sidecar's metrics layer counts
//! (`engram_tier_reads_total`, `engram_invalidations_total`). They carry
//! names from a fixed set, never an id or content, and cost a disabled
//! callsite's check when nothing listens.

/// How a read of a tier ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// The tier had the value, current.
    Hit,
    /// It did not.
    Miss,
    /// It had an older copy (fenced, then repaired from the cold store).
    Stale,
    /// It failed (the read went on to the next tier).
    Error,
}

impl Read {
    /// A read that found no current copy: an older one (`Stale`) or none
    /// (`Miss`).
    pub fn outdated(found: bool) -> Self {
        if found { Read::Stale } else { Read::Miss }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Read::Hit => "hit",
            Read::Miss => "miss",
            Read::Stale => "stale",
            Read::Error => "error",
        }
    }
}

/// A read of `tier` (`near`, `hot`, `cold`) for `what` (`recent`, `facts`).
pub fn tier_read(tier: &'static str, what: &'static str, read: Read) {
    tracing::debug!(target: "engram::tier", tier, what, result = read.as_str());
}

/// An invalidation `published` by this sidecar, `received` from another,
/// `queued` (Redis unreachable) or `replayed` once it answered.
pub fn invalidation(event: &'static str) {
    tracing::debug!(target: "engram::invalidation", event);
}
