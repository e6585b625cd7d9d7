//! Encryption at rest as a decorator: [`SealedCold`] over a cold store and
//! [`SealedHot`] over the shared hot tier (Redis).
//!
//! What is sealed, with the key of the user it belongs to (see
//! [`crate`]): message contents, fact values, summary sentences,
//! handover reasons, notes and summaries. A sealed message content carries
//! the keyed hashes of its search terms after it ([`sealed_text::with_terms`]):
//! the stores index those instead of words, and a lexical query is hashed
//! the same way, so search keeps finding exact (folded) terms. Ids,
//! timestamps, roles, metadata, fact keys, token counts and the audit log
//! stay in the clear.
//!
//! Durable writes seal with the key the store holds now
//! ([`SubjectKeys::current`]); reads open with the cached key and, when it
//! fails (the key was erased and created anew by another sidecar), reload
//! it once. Text written before encryption was turned on is read as is.
//!
//! Without a keyring both decorators pass everything through, and refuse to
//! serve sealed data (FAILED_PRECONDITION: the keys are not configured).

mod cold;
mod hot;

pub use cold::SealedCold;
pub use hot::SealedHot;

use std::collections::BTreeMap;
use std::sync::Arc;

use engram_domain::error::{Error, Result};
use engram_domain::handover::{Handover, HandoverSummary};
use engram_domain::ids::{TenantId, UserId};
use engram_domain::model::{Fact, Message};
use engram_domain::ports::KeyStore;
use engram_domain::sealed_text;
use engram_domain::summary::Summary;
use engram_text::{terms, terms_v1};

use crate::keys::{SubjectKeys, TENANT_SUBJECT};
use crate::{DataKey, Field};

/// Seals and opens a tenant's texts with its subjects' keys.
#[derive(Debug)]
struct Sealer<C> {
    /// The store whose `KeyStore` port holds the wrapped data keys (for
    /// `SealedCold`, also the cold store it seals).
    cold: Arc<C>,
    keys: Option<Arc<SubjectKeys>>,
}

impl<C> Clone for Sealer<C> {
    fn clone(&self) -> Self {
        Self {
            cold: self.cold.clone(),
            keys: self.keys.clone(),
        }
    }
}

fn not_configured() -> Error {
    Error::FailedPrecondition(
        "the data is encrypted and no encryption key is configured (--encryption-key)".into(),
    )
}

/// Seals one text. A fact value stays a JSON value: the sealed text as a
/// JSON string.
fn seal_one(key: &DataKey, field: Field, plain: &str) -> String {
    let sealed = key.seal(field, plain);
    match field {
        Field::FactValue => serde_json::Value::String(sealed).to_string(),
        _ => sealed,
    }
}

/// The sealed text inside a stored one (a fact value's JSON string), if it
/// is sealed.
fn sealed_inner(field: Field, stored: &str) -> Option<String> {
    match field {
        Field::FactValue if stored.starts_with("\"enc1:") => serde_json::from_str::<String>(stored)
            .ok()
            .filter(|inner| sealed_text::looks_sealed(inner)),
        Field::FactValue => None,
        _ => sealed_text::looks_sealed(stored).then(|| stored.to_owned()),
    }
}

impl<K: KeyStore> Sealer<K> {
    /// Seals `texts` in place with the subject's current key (`durable`:
    /// checked against the store) or its cached one (copies in the hot
    /// tier). A message content (`hashed_terms`) gets its hashed terms.
    async fn seal(
        &self,
        tenant: &TenantId,
        user: &UserId,
        field: Field,
        texts: Vec<&mut String>,
        durable: bool,
    ) -> Result<()> {
        let Some(keys) = &self.keys else {
            return Ok(());
        };
        if texts.is_empty() {
            return Ok(());
        }
        let cold = &*self.cold;
        let key = if durable {
            keys.current(cold, tenant, user.as_str()).await?
        } else {
            keys.key(cold, tenant, user.as_str()).await?
        };
        let terms_key = if durable && field == Field::MessageContent {
            Some(keys.key(cold, tenant, TENANT_SUBJECT).await?)
        } else {
            None
        };
        // What reaches a decorator from the engine is always plaintext,
        // even text that happens to start like a sealed one.
        for text in texts {
            let sealed = seal_one(&key, field, text);
            *text = match &terms_key {
                Some(tk) => sealed_text::with_terms(sealed, terms(text).iter().map(|t| tk.term(t))),
                None => sealed,
            };
        }
        Ok(())
    }

    /// Opens the sealed ones of `texts` in place with the subject's key.
    async fn open(
        &self,
        tenant: &TenantId,
        user: &UserId,
        field: Field,
        texts: Vec<&mut String>,
    ) -> Result<()> {
        let mut sealed: Vec<(&mut String, String)> = texts
            .into_iter()
            .filter_map(|t| sealed_inner(field, t).map(|inner| (t, inner)))
            .collect();
        if sealed.is_empty() {
            return Ok(());
        }
        let keys = self.keys.as_ref().ok_or_else(not_configured)?;
        let cold = &*self.cold;
        let open_all = |key: Option<&DataKey>| -> Result<Vec<String>> {
            let key = key.ok_or_else(|| {
                Error::Internal("an encrypted value's data key no longer exists (erased)".into())
            })?;
            sealed.iter().map(|(_, s)| key.open(field, s)).collect()
        };
        let key = keys.existing(cold, tenant, user.as_str()).await?;
        let opened = match open_all(key.as_deref()) {
            Ok(opened) => opened,
            // A cached key may be stale (erased and created anew by another
            // sidecar): reload it once.
            Err(_) if key.is_some() => {
                keys.forget(tenant, user.as_str());
                let key = keys.existing(cold, tenant, user.as_str()).await?;
                open_all(key.as_deref())?
            }
            Err(error) => return Err(error),
        };
        for ((text, _), plain) in sealed.iter_mut().zip(opened) {
            **text = plain;
        }
        Ok(())
    }

    /// Opens messages of any users.
    async fn open_messages<'a>(
        &self,
        tenant: &TenantId,
        messages: impl IntoIterator<Item = &'a mut Message>,
    ) -> Result<()> {
        let mut by_user: BTreeMap<UserId, Vec<&mut String>> = BTreeMap::new();
        for m in messages {
            if sealed_text::looks_sealed(&m.content) {
                by_user
                    .entry(m.user_id.clone())
                    .or_default()
                    .push(&mut m.content);
            }
        }
        for (user, texts) in by_user {
            self.open(tenant, &user, Field::MessageContent, texts)
                .await?;
        }
        Ok(())
    }

    async fn open_facts<'a>(
        &self,
        tenant: &TenantId,
        facts: impl IntoIterator<Item = &'a mut Fact>,
    ) -> Result<()> {
        let mut by_user: BTreeMap<UserId, Vec<&mut String>> = BTreeMap::new();
        for f in facts {
            by_user
                .entry(f.user_id.clone())
                .or_default()
                .push(&mut f.value);
        }
        for (user, texts) in by_user {
            self.open(tenant, &user, Field::FactValue, texts).await?;
        }
        Ok(())
    }

    async fn open_summary(
        &self,
        tenant: &TenantId,
        user: &UserId,
        summary: &mut Summary,
    ) -> Result<()> {
        let texts = summary.items.iter_mut().map(|i| &mut i.sentence).collect();
        self.open(tenant, user, Field::Summary, texts).await
    }

    async fn open_handover(&self, tenant: &TenantId, handover: &mut Handover) -> Result<()> {
        let user = handover.user_id.clone();
        let mut texts = vec![&mut handover.reason, &mut handover.notes];
        if let Some(summary) = &mut handover.summary {
            texts.extend(handover_summary_texts(summary));
        }
        self.open(tenant, &user, Field::Handover, texts).await
    }

    /// A lexical query with the hashed form of its terms added, so that it
    /// finds sealed messages as well as those written in the clear.
    async fn query(&self, tenant: &TenantId, query: &str) -> Result<String> {
        let Some(keys) = &self.keys else {
            return Ok(query.to_owned());
        };
        let Some(key) = keys.existing(&*self.cold, tenant, TENANT_SUBJECT).await? else {
            // Nothing of the tenant was ever sealed.
            return Ok(query.to_owned());
        };
        // Messages sealed under analyser 1 carry the hashes of its terms.
        let mut plain = terms(query);
        plain.extend(terms_v1(query));
        plain.sort();
        plain.dedup();
        let hashed: Vec<String> = plain
            .iter()
            .map(|t| sealed_text::query_term(&key.term(t)))
            .collect();
        Ok(format!("{query} {}", hashed.join(" ")))
    }
}

pub(super) fn handover_summary_texts(summary: &mut HandoverSummary) -> Vec<&mut String> {
    let mut texts = vec![&mut summary.ai_resumption_context];
    texts.extend(summary.human_actions.iter_mut().map(|a| &mut a.description));
    texts
}
