//! Temporal facts: the pure rules behind PutFacts and InvalidateFact.
//!
//! A key's versions form a timeline; each version is in effect on
//! `[valid_at, invalid_at)`, and at most one version is in effect at any
//! instant. A store loads the key's history, asks `plan_put` or
//! `plan_invalidate` what to change, and applies the plan in one transaction.
//!
//! Decisions (documented in facts.proto):
//! - the value already in effect at `valid_at` → no-op;
//! - a `valid_at` older than a later version → inserted into the history,
//!   ending where the next version starts; the current version stays current
//!   (late news never overrides newer news);
//! - a `valid_at` equal to an existing version's → the new value wins; the old
//!   one is kept with a zero-length validity, as a record of the correction.

use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::model::{Fact, FactInput, PutOutcome};
use crate::time::Timestamp;

/// The revision a user's fact set takes at its next change: above the
/// last one, and never below the clock (microseconds), so that a user whose
/// facts were erased and written again never reuses a revision that an old
/// cache entry (say, one a Redis restored from an old snapshot) still holds.
pub fn next_rev(prev: u64) -> u64 {
    (prev + 1).max(u64::try_from(Timestamp::now().0).unwrap_or(0))
}

/// The changes one put makes to a key's history.
#[derive(Debug, Clone, PartialEq)]
pub struct PutPlan {
    pub outcome: PutOutcome,
    /// The stored version: the new one, or for `Unchanged` the one in effect.
    pub fact: Fact,
    /// An existing version whose validity ends: (version, new invalid_at).
    pub end_previous: Option<(u64, Timestamp)>,
}

impl PutPlan {
    /// True when the plan writes anything.
    pub fn writes(&self) -> bool {
        self.outcome != PutOutcome::Unchanged
    }
}

/// Sorts a key's versions in timeline order: (valid_at, version).
pub fn sort_history(history: &mut [Fact]) {
    history.sort_by_key(|f| (f.valid_at, f.version));
}

/// Plans a put on a key whose `history` is in timeline order.
pub fn plan_put(history: &[Fact], user: &UserId, input: &FactInput, now: Timestamp) -> PutPlan {
    let at = input.valid_at;
    let split = history.partition_point(|f| f.valid_at <= at);
    let prev = split.checked_sub(1).map(|i| &history[i]);
    let next = history.get(split);
    let prev_in_effect = prev.filter(|p| p.in_effect_at(at));

    if let Some(p) = prev_in_effect
        && p.value == input.value
    {
        return PutPlan {
            outcome: PutOutcome::Unchanged,
            fact: p.clone(),
            end_previous: None,
        };
    }

    // The new version lasts until the next version starts, or until the end
    // of the version it interrupts, whichever comes first.
    let invalid_at = [
        next.map(|n| n.valid_at),
        prev_in_effect.and_then(|p| p.invalid_at),
    ]
    .into_iter()
    .flatten()
    .min();

    let version = history.iter().map(|f| f.version).max().unwrap_or(0) + 1;
    let fact = Fact {
        user_id: user.clone(),
        key: input.key.clone(),
        value: input.value.clone(),
        valid_at: at,
        invalid_at,
        source: input.source.clone(),
        confidence: input.confidence,
        recorded_at: now,
        version,
    };
    let outcome = match (invalid_at, prev_in_effect) {
        (Some(_), _) => PutOutcome::Historical,
        (None, Some(p)) if p.is_current() => PutOutcome::Superseded,
        (None, _) => PutOutcome::Created,
    };
    PutPlan {
        outcome,
        fact,
        end_previous: prev_in_effect.map(|p| (p.version, at)),
    }
}

/// Plans the end of a key's current version at `at`: returns the version as
/// it will be stored.
pub fn plan_invalidate(history: &[Fact], key_field: &str, at: Timestamp) -> Result<Fact> {
    let Some(current) = history.iter().find(|f| f.is_current()) else {
        return Err(Error::NotFound {
            what: "current fact",
            id: key_field.to_owned(),
        });
    };
    if at < current.valid_at {
        return Err(Error::invalid(
            "invalid_at",
            "is before the current version's valid_at",
        ));
    }
    let mut ended = current.clone();
    ended.invalid_at = Some(at);
    Ok(ended)
}

/// The version of a key in effect at `at`, if any.
pub fn in_effect_at(history: &[Fact], at: Timestamp) -> Option<&Fact> {
    history.iter().rev().find(|f| f.in_effect_at(at))
}

/// Parses a JSON value and renders it canonically (object keys sorted, no
/// whitespace), so that "the same value" means the same JSON value.
pub fn canonical_json(field: &str, raw: &str) -> Result<String> {
    let value: serde_json::Value = serde_json::from_str(raw)
        .map_err(|e| Error::invalid(field, format!("is not valid JSON: {e}")))?;
    serde_json::to_string(&value).map_err(|e| Error::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::FactKey;
    use crate::model::{FactSource, FactSourceKind};

    const MARCH: Timestamp = Timestamp(1_000);
    const APRIL: Timestamp = Timestamp(1_500);
    const JUNE: Timestamp = Timestamp(2_000);
    const JULY: Timestamp = Timestamp(2_500);
    const AUGUST: Timestamp = Timestamp(3_000);

    fn user() -> UserId {
        UserId::parse("user_id", "u1").unwrap()
    }

    fn input(value: &str, at: Timestamp) -> FactInput {
        FactInput {
            key: FactKey::parse("key", "preferred_time").unwrap(),
            value: canonical_json("value_json", value).unwrap(),
            valid_at: at,
            source: FactSource {
                kind: FactSourceKind::System,
                reference: String::new(),
            },
            confidence: 1.0,
        }
    }

    /// Applies puts the way a store would, returning the history.
    fn apply(puts: &[(&str, Timestamp)]) -> (Vec<Fact>, Vec<PutOutcome>) {
        let mut history: Vec<Fact> = Vec::new();
        let mut outcomes = Vec::new();
        for (i, (value, at)) in puts.iter().enumerate() {
            let plan = plan_put(&history, &user(), &input(value, *at), Timestamp(i as i64));
            outcomes.push(plan.outcome);
            if plan.writes() {
                if let Some((version, end)) = plan.end_previous {
                    let prev = history.iter_mut().find(|f| f.version == version).unwrap();
                    prev.invalid_at = Some(end);
                }
                history.push(plan.fact);
                sort_history(&mut history);
            }
        }
        (history, outcomes)
    }

    fn current(history: &[Fact]) -> Vec<&str> {
        history
            .iter()
            .filter(|f| f.is_current())
            .map(|f| f.value.as_str())
            .collect()
    }

    #[test]
    fn a_new_value_invalidates_the_old_and_keeps_it_as_history() {
        let (history, outcomes) = apply(&[(r#""mornings""#, MARCH), (r#""afternoons""#, JUNE)]);
        assert_eq!(outcomes, [PutOutcome::Created, PutOutcome::Superseded]);
        assert_eq!(history.len(), 2);
        assert_eq!(history[0].invalid_at, Some(JUNE));
        assert_eq!(current(&history), [r#""afternoons""#]);
        assert_eq!(
            in_effect_at(&history, APRIL).unwrap().value,
            r#""mornings""#
        );
        assert_eq!(
            in_effect_at(&history, JULY).unwrap().value,
            r#""afternoons""#
        );
        assert!(in_effect_at(&history, Timestamp(0)).is_none());
    }

    #[test]
    fn the_same_value_again_is_a_no_op() {
        let (history, outcomes) =
            apply(&[(r#"{"a":1,"b":2}"#, MARCH), (r#"{ "b": 2, "a": 1 }"#, JUNE)]);
        assert_eq!(outcomes, [PutOutcome::Created, PutOutcome::Unchanged]);
        assert_eq!(history.len(), 1);
        assert!(history[0].is_current());
    }

    #[test]
    fn a_backdated_value_goes_into_history_and_the_current_stays() {
        let (history, outcomes) = apply(&[
            (r#""mornings""#, MARCH),
            (r#""afternoons""#, JUNE),
            (r#""evenings""#, APRIL),
        ]);
        assert_eq!(outcomes.last(), Some(&PutOutcome::Historical));
        let values: Vec<_> = history
            .iter()
            .map(|f| (f.value.as_str(), f.valid_at, f.invalid_at))
            .collect();
        assert_eq!(
            values,
            [
                (r#""mornings""#, MARCH, Some(APRIL)),
                (r#""evenings""#, APRIL, Some(JUNE)),
                (r#""afternoons""#, JUNE, None),
            ]
        );
        assert_eq!(current(&history), [r#""afternoons""#]);
        // Every instant has at most one version in effect.
        for t in [MARCH, APRIL, JUNE, JULY] {
            assert_eq!(history.iter().filter(|f| f.in_effect_at(t)).count(), 1);
        }
    }

    #[test]
    fn a_backdated_value_equal_to_the_one_in_effect_then_is_a_no_op() {
        let (history, outcomes) = apply(&[
            (r#""mornings""#, MARCH),
            (r#""afternoons""#, JUNE),
            (r#""mornings""#, APRIL),
        ]);
        assert_eq!(outcomes.last(), Some(&PutOutcome::Unchanged));
        assert_eq!(history.len(), 2);
    }

    #[test]
    fn the_same_valid_at_with_another_value_is_a_correction() {
        let (history, outcomes) = apply(&[(r#""mornings""#, MARCH), (r#""afternoons""#, MARCH)]);
        assert_eq!(outcomes, [PutOutcome::Created, PutOutcome::Superseded]);
        assert_eq!(history[0].invalid_at, Some(MARCH), "kept, zero-length");
        assert_eq!(
            in_effect_at(&history, MARCH).unwrap().value,
            r#""afternoons""#
        );
    }

    #[test]
    fn invalidation_then_put() {
        let (mut history, _) = apply(&[(r#""mornings""#, MARCH)]);
        assert!(
            plan_invalidate(&history, "k", Timestamp(999)).is_err(),
            "before valid_at"
        );
        let ended = plan_invalidate(&history, "k", JUNE).unwrap();
        assert_eq!(ended.invalid_at, Some(JUNE));
        history[0] = ended;
        assert!(current(&history).is_empty());
        assert!(matches!(
            plan_invalidate(&history, "k", JULY),
            Err(Error::NotFound { .. })
        ));

        // A value backdated into the invalidated version's span ends where
        // the invalidation did.
        let plan = plan_put(
            &history,
            &user(),
            &input(r#""evenings""#, APRIL),
            Timestamp(9),
        );
        assert_eq!(plan.outcome, PutOutcome::Historical);
        assert_eq!(plan.fact.invalid_at, Some(JUNE));
        assert_eq!(plan.end_previous, Some((1, APRIL)));

        // A value after the invalidation is current again, superseding nothing.
        let plan = plan_put(
            &history,
            &user(),
            &input(r#""evenings""#, AUGUST),
            Timestamp(9),
        );
        assert_eq!(plan.outcome, PutOutcome::Created);
        assert_eq!(plan.fact.invalid_at, None);
        assert_eq!(plan.end_previous, None);
        assert_eq!(plan.fact.version, 2);
    }

    #[test]
    fn canonical_json_rejects_garbage() {
        assert_eq!(
            canonical_json("v", r#" { "b":1, "a":[1, 2] } "#).unwrap(),
            r#"{"a":[1,2],"b":1}"#
        );
        assert!(
            canonical_json("v", "not json")
                .unwrap_err()
                .to_string()
                .starts_with("v is invalid")
        );
        assert!(canonical_json("v", "").is_err());
    }
}
