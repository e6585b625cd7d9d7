//! Retention policies and legal holds (SPEC §3).
//!
//! Retention sweeps conversations: one expires when its last message is
//! older than the policy's days, and then the policy's action applies to the
//! whole conversation (its messages, running summary and handovers). Facts
//! are the customer's current record and are not swept: they go with an
//! erasure. Nothing is swept unless the tenant has a policy, and never a
//! conversation of a user under a legal hold.
//!
//! A tenant may hold several policies (one per vertical it serves); since a
//! conversation does not record its vertical, the one that keeps data the
//! longest applies, so that no rule's minimum is cut short.

use serde::{Deserialize, Serialize};

use crate::summary::Vertical;

/// What retention does to expired records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetentionAction {
    Delete,
    Anonymize,
    Archive,
}

/// Longest policy id.
pub const MAX_POLICY_ID_BYTES: usize = 128;
/// Longest retention: 200 years.
pub const MAX_RETENTION_DAYS: u32 = 73_000;

/// A tenant's retention policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    pub policy_id: String,
    pub vertical: Vertical,
    pub retention_days: u32,
    pub action: RetentionAction,
}

/// The policy that applies among a tenant's: the longest retention; on a
/// tie the gentler action (anonymize before delete).
pub fn effective(policies: &[RetentionPolicy]) -> Option<&RetentionPolicy> {
    policies.iter().max_by_key(|p| {
        (
            p.retention_days,
            matches!(p.action, RetentionAction::Anonymize),
            std::cmp::Reverse(p.policy_id.clone()),
        )
    })
}

/// What a retention run did (or, dry, would do), in messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub deleted: u64,
    pub anonymized: u64,
    pub archived: u64,
    /// Messages kept because their user is under a legal hold.
    pub held: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(id: &str, days: u32, action: RetentionAction) -> RetentionPolicy {
        RetentionPolicy {
            policy_id: id.into(),
            vertical: Vertical::General,
            retention_days: days,
            action,
        }
    }

    #[test]
    fn the_longest_retention_applies() {
        assert_eq!(effective(&[]), None);
        let p = [
            policy("a", 30, RetentionAction::Delete),
            policy("b", 7_300, RetentionAction::Delete),
            policy("c", 7_300, RetentionAction::Anonymize),
            policy("d", 10, RetentionAction::Anonymize),
        ];
        assert_eq!(effective(&p).map(|p| p.policy_id.as_str()), Some("c"));
    }
}
