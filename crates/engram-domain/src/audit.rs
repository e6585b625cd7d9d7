//! The audit log: who did what, when, why and with what result — append-only
//! and hash-chained, so that a changed, removed or reordered entry is found.
//!
//! Entry `n` carries `hash(n) = SHA-256(hash(n-1) ‖ encode(entry n))`, the
//! first one chaining to 32 zero bytes. `encode` length-prefixes every field,
//! so no two different entries encode alike. The store assigns sequence
//! numbers gap-free and computes the hash under a lock on the chain's head,
//! so that concurrent writers (any number of sidecars) extend one chain.
//!
//! The log names its subject by a keyed pseudonym ([`subject_ref`]), never by
//! the user id: erasing a user leaves the record that they were erased, and
//! nothing that names them.

use ring::{digest, hmac};
use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// Length of an entry hash.
pub const HASH_LEN: usize = 32;
/// What the first entry chains to.
pub const GENESIS: [u8; HASH_LEN] = [0; HASH_LEN];

/// An entry to append: the store gives it its sequence number and hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAuditEntry {
    /// Who: the name of the caller's token, or `anonymous`.
    pub actor: String,
    /// What: the operation, e.g. `compliance.erase_subject`.
    pub action: String,
    /// On whom: a subject pseudonym, or empty.
    pub subject: String,
    /// Why, as the caller said.
    pub reason: String,
    /// The result: `ok`, `refused: …`, `failed: …`, or a short report.
    pub result: String,
}

/// A stored audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the chain, from 1, gap-free.
    pub seq: u64,
    /// When.
    pub at: Timestamp,
    pub entry: NewAuditEntry,
    /// The previous entry's hash (GENESIS for the first).
    pub prev_hash: Vec<u8>,
    /// SHA-256 of `prev_hash` and this entry.
    pub hash: Vec<u8>,
}

fn put(buf: &mut Vec<u8>, field: &[u8]) {
    buf.extend_from_slice(&(field.len() as u64).to_be_bytes());
    buf.extend_from_slice(field);
}

/// The hash of an entry at `seq`, written `at`, after `prev_hash`.
pub fn chain_hash(
    prev_hash: &[u8],
    seq: u64,
    at: Timestamp,
    entry: &NewAuditEntry,
) -> [u8; HASH_LEN] {
    let mut buf = Vec::with_capacity(128);
    put(&mut buf, prev_hash);
    put(&mut buf, &seq.to_be_bytes());
    put(&mut buf, &at.0.to_be_bytes());
    for field in [
        &entry.actor,
        &entry.action,
        &entry.subject,
        &entry.reason,
        &entry.result,
    ] {
        put(&mut buf, field.as_bytes());
    }
    let mut out = [0; HASH_LEN];
    out.copy_from_slice(digest::digest(&digest::SHA256, &buf).as_ref());
    out
}

/// Builds the entry that follows `prev` (`None`: the first).
pub fn next(prev: Option<(u64, &[u8])>, at: Timestamp, entry: NewAuditEntry) -> AuditEntry {
    let (seq, prev_hash) = match prev {
        Some((seq, hash)) => (seq + 1, hash.to_vec()),
        None => (1, GENESIS.to_vec()),
    };
    let hash = chain_hash(&prev_hash, seq, at, &entry).to_vec();
    AuditEntry {
        seq,
        at,
        entry,
        prev_hash,
        hash,
    }
}

/// The outcome of checking a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Verification {
    /// Entries checked.
    pub entries: u64,
    /// The first entry that does not chain, if any.
    pub first_broken: Option<u64>,
}

/// Checks a chain read page by page, in sequence order.
#[derive(Debug, Clone)]
pub struct Verifier {
    expected_seq: u64,
    prev_hash: Vec<u8>,
    result: Verification,
}

impl Default for Verifier {
    fn default() -> Self {
        Self {
            expected_seq: 1,
            prev_hash: GENESIS.to_vec(),
            result: Verification::default(),
        }
    }
}

impl Verifier {
    /// Checks the next entry: its seq follows the previous one (no entry
    /// removed), it chains to the previous hash, and its own hash matches
    /// its content. Returns false once the chain is broken.
    pub fn check(&mut self, entry: &AuditEntry) -> bool {
        if self.result.first_broken.is_some() {
            return false;
        }
        self.result.entries += 1;
        let ok = entry.seq == self.expected_seq
            && entry.prev_hash == self.prev_hash
            && entry.hash[..] == chain_hash(&entry.prev_hash, entry.seq, entry.at, &entry.entry);
        if !ok {
            self.result.first_broken = Some(self.expected_seq.min(entry.seq));
            return false;
        }
        self.expected_seq = entry.seq + 1;
        self.prev_hash.clone_from(&entry.hash);
        true
    }

    /// The verdict, given the head the store says the chain has: a chain
    /// cut short at its end is broken too.
    pub fn finish(mut self, head: Option<(u64, &[u8])>) -> Verification {
        if self.result.first_broken.is_none() {
            match head {
                Some((seq, hash)) if seq != self.expected_seq - 1 || hash != self.prev_hash => {
                    self.result.first_broken = Some(self.expected_seq);
                }
                _ => {}
            }
        }
        self.result
    }
}

/// The pseudonym under which the audit log names a user: an HMAC-SHA-256 of
/// the tenant and user ids under `key`, hex, 32 characters. Without a
/// configured key it is a plain (unkeyed) hash: still no user id in the log,
/// but linkable by anyone who can guess ids.
pub fn subject_ref(key: Option<&[u8]>, tenant: &str, user: &str) -> String {
    let key = hmac::Key::new(
        hmac::HMAC_SHA256,
        key.unwrap_or(b"engram audit subject (no key configured)"),
    );
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(tenant.as_bytes());
    ctx.update(&[0]);
    ctx.update(user.as_bytes());
    ctx.sign().as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u64) -> NewAuditEntry {
        NewAuditEntry {
            actor: "dpo".into(),
            action: format!("compliance.test.{i}"),
            subject: subject_ref(None, "t", "u"),
            reason: "ticket 42".into(),
            result: "ok".into(),
        }
    }

    fn chain(n: u64) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let prev = out.last().map(|e| (e.seq, e.hash.as_slice()));
            out.push(next(prev, Timestamp(1_000 + i as i64), entry(i)));
        }
        out
    }

    fn verify(entries: &[AuditEntry]) -> Verification {
        let mut v = Verifier::default();
        for e in entries {
            v.check(e);
        }
        let head = entries.last().map(|e| (e.seq, e.hash.as_slice()));
        v.finish(head)
    }

    #[test]
    fn an_intact_chain_verifies() {
        let entries = chain(10);
        assert_eq!(
            verify(&entries),
            Verification {
                entries: 10,
                first_broken: None
            }
        );
        assert_eq!(verify(&[]).first_broken, None);
    }

    #[test]
    fn any_change_breaks_the_chain_where_it_was_made() {
        for at in 0..5 {
            let mut entries = chain(5);
            entries[at].entry.result = "refused".into();
            assert_eq!(verify(&entries).first_broken, Some(at as u64 + 1));

            let mut entries = chain(5);
            entries[at].at = Timestamp(7);
            assert_eq!(verify(&entries).first_broken, Some(at as u64 + 1));
        }
        // A removed entry, even with the next one re-hashed by a forger who
        // lacks nothing but the order.
        let mut entries = chain(5);
        entries.remove(2);
        assert_eq!(verify(&entries).first_broken, Some(3));
        // A removed tail is found against the head.
        let entries = chain(5);
        let mut v = Verifier::default();
        for e in &entries[..3] {
            v.check(e);
        }
        let head = (entries[4].seq, entries[4].hash.as_slice());
        assert_eq!(v.finish(Some(head)).first_broken, Some(4));
    }

    #[test]
    fn fields_cannot_be_shifted_between_each_other() {
        let a = NewAuditEntry {
            actor: "ab".into(),
            action: "c".into(),
            subject: String::new(),
            reason: String::new(),
            result: String::new(),
        };
        let b = NewAuditEntry {
            actor: "a".into(),
            action: "bc".into(),
            ..a.clone()
        };
        assert_ne!(
            chain_hash(&GENESIS, 1, Timestamp(0), &a),
            chain_hash(&GENESIS, 1, Timestamp(0), &b)
        );
    }

    #[test]
    fn subject_refs_are_keyed_and_never_the_id() {
        let plain = subject_ref(None, "clinic", "patient-1");
        assert_eq!(plain.len(), 32);
        assert!(!plain.contains("patient"));
        assert_eq!(plain, subject_ref(None, "clinic", "patient-1"));
        assert_ne!(plain, subject_ref(Some(b"k"), "clinic", "patient-1"));
        assert_ne!(plain, subject_ref(None, "other", "patient-1"));
    }
}
