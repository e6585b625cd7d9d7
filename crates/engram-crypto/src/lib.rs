//! Encryption at rest: envelope encryption with ring's AES-256-GCM.
//!
//! - A **master key** comes from configuration (`ID:KEY`, the key as 64
//!   hex digits or base64 of 32 bytes). Several may be configured: the
//!   first wraps new data keys, the others only unwrap (rotation: add the
//!   new key first, re-wrap, then drop the old one — no downtime, no data
//!   rewritten).
//! - A **data key** per subject (tenant, user) encrypts that user's message
//!   contents, fact values, summaries and handover notes; it is stored only
//!   wrapped by a master key. Erasing the subject deletes the data key:
//!   what a backup still holds of them can no longer be decrypted
//!   (crypto-shredding).
//! - A **tenant key** (a data key with an empty user) keys the hashes of
//!   search terms, so that lexical search keeps working tenant-wide over
//!   hashed terms (exact folded terms only; see the README).
//!
//! Sealing is deterministic — the nonce is an HMAC of the field and the
//! plaintext (a synthetic IV) — so that "the same content" and "the same
//! fact value" stay comparable by the stores (idempotent appends, unchanged
//! facts). Equal values under one data key are visible as equal; nothing
//! else is. A sealed text reads `enc1:` + base64; text without that prefix
//! is returned as is (written before encryption was turned on).

pub mod keys;
pub mod sealed;

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use engram_domain::error::{Error, Result};
use engram_domain::model::WrappedKey;
use engram_domain::sealed_text::SEALED_PREFIX;

const KEY_LEN: usize = 32;
const MAX_KEY_ID: usize = 32;

/// What a sealed text is: bound into its authentication, so that a value
/// moved to another field or another subject does not decrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    MessageContent,
    FactValue,
    Summary,
    Handover,
}

impl Field {
    fn tag(self) -> &'static [u8] {
        match self {
            Field::MessageContent => b"message",
            Field::FactValue => b"fact",
            Field::Summary => b"summary",
            Field::Handover => b"handover",
        }
    }
}

/// A master key from configuration.
pub struct MasterKey {
    id: String,
    key: LessSafeKey,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    /// Parses `ID:KEY` (KEY: 64 hex digits or base64 of 32 bytes).
    pub fn parse(spec: &str) -> std::result::Result<Self, String> {
        let (id, key) = spec
            .split_once(':')
            .ok_or("an encryption key is ID:KEY (KEY: 64 hex digits or base64 of 32 bytes)")?;
        if id.is_empty()
            || id.len() > MAX_KEY_ID
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "an encryption key id is 1 to {MAX_KEY_ID} of [A-Za-z0-9_-]"
            ));
        }
        let bytes = decode_key(key.trim())
            .ok_or("the encryption key is not 64 hex digits or base64 of 32 bytes")?;
        Ok(Self::new(id, &bytes))
    }

    pub fn new(id: &str, bytes: &[u8; KEY_LEN]) -> Self {
        Self {
            id: id.to_owned(),
            key: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("32-byte key")),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

fn decode_key(raw: &str) -> Option<[u8; KEY_LEN]> {
    let bytes = if raw.len() == 2 * KEY_LEN && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..KEY_LEN)
            .map(|i| u8::from_str_radix(&raw[2 * i..2 * i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .or_else(|_| B64.decode(raw))
            .ok()?
    };
    bytes.try_into().ok()
}

/// A new random master key, as `--encryption-key` reads it: `ID:BASE64`.
pub fn new_master_key(id: &str) -> std::result::Result<String, String> {
    let mut bytes = [0u8; KEY_LEN];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "the system's random source failed")?;
    let spec = format!(
        "{id}:{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    );
    MasterKey::parse(&spec)?;
    Ok(spec)
}

/// The configured master keys; the first one wraps new data keys.
#[derive(Debug)]
pub struct Keyring {
    masters: Vec<MasterKey>,
    random: SystemRandom,
}

impl Keyring {
    /// At least one key; ids must differ.
    pub fn new(masters: Vec<MasterKey>) -> std::result::Result<Self, String> {
        if masters.is_empty() {
            return Err("at least one encryption key is required".into());
        }
        for (i, m) in masters.iter().enumerate() {
            if masters[..i].iter().any(|o| o.id == m.id) {
                return Err(format!(
                    "the encryption key id {:?} is configured twice",
                    m.id
                ));
            }
        }
        Ok(Self {
            masters,
            random: SystemRandom::new(),
        })
    }

    /// Id of the master key that wraps new data keys.
    pub fn active(&self) -> &str {
        &self.masters[0].id
    }

    /// A new random data key for (tenant, user) (`user` empty: the tenant
    /// key), wrapped by the active master key.
    pub fn generate(&self, tenant: &str, user: &str) -> Result<(DataKey, WrappedKey)> {
        let mut raw = [0u8; KEY_LEN];
        self.random
            .fill(&mut raw)
            .map_err(|_| Error::Internal("no randomness for a data key".into()))?;
        let wrapped = self.wrap_raw(tenant, user, &raw)?;
        Ok((DataKey::from_raw(&raw), wrapped))
    }

    fn wrap_raw(&self, tenant: &str, user: &str, raw: &[u8; KEY_LEN]) -> Result<WrappedKey> {
        let master = &self.masters[0];
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| Error::Internal("no randomness for a nonce".into()))?;
        let mut buf = raw.to_vec();
        master
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(wrap_aad(tenant, user)),
                &mut buf,
            )
            .map_err(|_| Error::Internal("a data key could not be wrapped".into()))?;
        let mut bytes = nonce.to_vec();
        bytes.extend(buf);
        Ok(WrappedKey {
            master_id: master.id.clone(),
            bytes,
        })
    }

    fn unwrap_raw(&self, tenant: &str, user: &str, wrapped: &WrappedKey) -> Result<[u8; KEY_LEN]> {
        let master = self
            .masters
            .iter()
            .find(|m| m.id == wrapped.master_id)
            .ok_or_else(|| {
                Error::FailedPrecondition(format!(
                    "a data key is wrapped by the master key {:?}, which is not configured",
                    wrapped.master_id
                ))
            })?;
        if wrapped.bytes.len() < NONCE_LEN {
            return Err(Error::Internal("a wrapped data key is truncated".into()));
        }
        let (nonce, sealed) = wrapped.bytes.split_at(NONCE_LEN);
        let mut buf = sealed.to_vec();
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| Error::Internal("a wrapped data key is truncated".into()))?;
        let raw = master
            .key
            .open_in_place(nonce, Aad::from(wrap_aad(tenant, user)), &mut buf)
            .map_err(|_| {
                Error::Internal(
                    "a wrapped data key does not authenticate (wrong master key or tampered row)"
                        .into(),
                )
            })?;
        raw.try_into()
            .map_err(|_| Error::Internal("a wrapped data key has the wrong length".into()))
    }

    /// Unwraps a stored data key of (tenant, user).
    pub fn unwrap(&self, tenant: &str, user: &str, wrapped: &WrappedKey) -> Result<DataKey> {
        Ok(DataKey::from_raw(&self.unwrap_raw(tenant, user, wrapped)?))
    }

    /// The same data key wrapped by the active master key, when another
    /// master key wraps it now (rotation); `None` when it is current.
    pub fn rewrap(
        &self,
        tenant: &str,
        user: &str,
        wrapped: &WrappedKey,
    ) -> Result<Option<WrappedKey>> {
        if wrapped.master_id == self.active() {
            return Ok(None);
        }
        let raw = self.unwrap_raw(tenant, user, wrapped)?;
        self.wrap_raw(tenant, user, &raw).map(Some)
    }
}

/// Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
fn wrap_aad(tenant: &str, user: &str) -> Vec<u8> {
    let mut aad = b"engram-data-key".to_vec();
    for part in [tenant, user] {
        aad.extend((part.len() as u32).to_be_bytes());
        aad.extend(part.as_bytes());
    }
    aad
}

/// A subject's (or a tenant's) data key, unwrapped.
pub struct DataKey {
    aead: LessSafeKey,
    nonces: hmac::Key,
    terms: hmac::Key,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    fn from_raw(raw: &[u8; KEY_LEN]) -> Self {
        // Three independent keys from one: HMAC-SHA256(raw, purpose).
        let derive = |purpose: &[u8]| {
            let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, raw), purpose);
            let mut k = [0u8; KEY_LEN];
            k.copy_from_slice(tag.as_ref());
            k
        };
        Self {
            aead: LessSafeKey::new(
                UnboundKey::new(&AES_256_GCM, &derive(b"engram-aead")).expect("32-byte key"),
            ),
            nonces: hmac::Key::new(hmac::HMAC_SHA256, &derive(b"engram-nonce")),
            terms: hmac::Key::new(hmac::HMAC_SHA256, &derive(b"engram-terms")),
        }
    }

    /// Encrypts `plain`: `enc1:` + base64(nonce ‖ ciphertext ‖ tag).
    pub fn seal(&self, field: Field, plain: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.nonces);
        ctx.update(field.tag());
        ctx.update(&[0]);
        ctx.update(plain.as_bytes());
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&ctx.sign().as_ref()[..NONCE_LEN]);
        let mut buf = plain.as_bytes().to_vec();
        self.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(field.tag()),
                &mut buf,
            )
            .expect("AES-GCM seals any length a message can have");
        let mut bytes = nonce.to_vec();
        bytes.extend(buf);
        format!("{SEALED_PREFIX}{}", B64.encode(bytes))
    }

    /// Decrypts what `seal` wrote; text that is not sealed is returned as
    /// is. A sealed text that does not authenticate is an error.
    pub fn open(&self, field: Field, text: &str) -> Result<String> {
        let Some(sealed) = text.strip_prefix(SEALED_PREFIX) else {
            return Ok(text.to_owned());
        };
        // A message's hashed search terms may follow, after a space.
        let encoded = sealed.split(' ').next().unwrap_or_default();
        let corrupt = || Error::Internal("an encrypted value does not authenticate".into());
        // One buffer: decoded, opened in place, shifted to its start.
        let mut bytes = B64.decode(encoded).map_err(|_| corrupt())?;
        if bytes.len() < NONCE_LEN {
            return Err(corrupt());
        }
        let nonce = Nonce::try_assume_unique_for_key(&bytes[..NONCE_LEN]).map_err(|_| corrupt())?;
        let len = self
            .aead
            .open_within(nonce, Aad::from(field.tag()), &mut bytes, NONCE_LEN..)
            .map_err(|_| corrupt())?
            .len();
        bytes.truncate(len);
        String::from_utf8(bytes).map_err(|_| corrupt())
    }

    /// A search term's keyed hash: 10 characters of a 32-letter alphabet
    /// (50 bits), the same for the same term under this key. (The alphabet
    /// has no `s`: version 1 of [`engram_text::terms`] stripped a plural
    /// `s`; queries now mark hashed terms, [`query_term`](engram_domain::sealed_text::query_term).)
    pub fn term(&self, term: &str) -> String {
        const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrtuvw";
        let tag = hmac::sign(&self.terms, term.as_bytes());
        let bits = tag
            .as_ref()
            .iter()
            .take(8)
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        (0..10)
            .map(|i| char::from(ALPHABET[((bits >> (59 - 5 * i)) & 31) as usize]))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use engram_domain::sealed_text::{is_sealed, looks_sealed, query_term, with_terms};

    use super::*;

    fn keyring(ids: &[(&str, u8)]) -> Keyring {
        Keyring::new(
            ids.iter()
                .map(|(id, b)| MasterKey::new(id, &[*b; 32]))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn master_keys_parse_from_hex_or_base64_and_refuse_the_rest() {
        let hex = format!("k1:{}", "ab".repeat(32));
        assert_eq!(MasterKey::parse(&hex).unwrap().id(), "k1");
        let b64 = format!(
            "k2:{}",
            base64::engine::general_purpose::STANDARD.encode([7u8; 32])
        );
        assert_eq!(MasterKey::parse(&b64).unwrap().id(), "k2");
        for bad in [
            "nokey",
            "k1:abcd",
            ":00",
            "bad id:00",
            &format!("k:{}", "zz".repeat(32)),
        ] {
            assert!(MasterKey::parse(bad).is_err(), "{bad}");
        }
        assert!(Keyring::new(vec![]).is_err());
        assert!(
            Keyring::new(vec![
                MasterKey::new("a", &[1; 32]),
                MasterKey::new("a", &[2; 32])
            ])
            .is_err()
        );
    }

    #[test]
    fn sealed_text_holds_no_plaintext_and_opens_back() {
        let ring = keyring(&[("k1", 1)]);
        let (key, _) = ring.generate("clinic", "maria").unwrap();
        let plain = "Meu CPF é 529.982.247-25";
        let sealed = key.seal(Field::MessageContent, plain);
        assert!(is_sealed(&sealed) && !sealed.contains("529") && !sealed.contains("CPF"));
        assert_eq!(key.open(Field::MessageContent, &sealed).unwrap(), plain);
        // Deterministic: the same content seals the same (idempotent
        // appends and unchanged facts stay comparable); another differs.
        assert_eq!(key.seal(Field::MessageContent, plain), sealed);
        assert_ne!(key.seal(Field::MessageContent, "outra coisa"), sealed);
        // Bound to its field and its key; tampering is detected; text
        // written before encryption reads as is.
        assert!(key.open(Field::FactValue, &sealed).is_err());
        let (other, _) = ring.generate("clinic", "maria").unwrap();
        assert!(other.open(Field::MessageContent, &sealed).is_err());
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(
            key.open(
                Field::MessageContent,
                std::str::from_utf8(&tampered).unwrap()
            )
            .is_err()
        );
        assert_eq!(key.open(Field::MessageContent, "legacy").unwrap(), "legacy");
    }

    #[test]
    fn data_keys_unwrap_for_their_subject_only_and_rotate() {
        let old = keyring(&[("k1", 1)]);
        let (key, wrapped) = old.generate("clinic", "maria").unwrap();
        assert_eq!(wrapped.master_id, "k1");
        let sealed = key.seal(Field::FactValue, "\"11987654321\"");
        assert!(old.unwrap("clinic", "joao", &wrapped).is_err());
        assert!(old.unwrap("other", "maria", &wrapped).is_err());

        // Rotation: k2 first, k1 still configured to unwrap.
        let both = keyring(&[("k2", 2), ("k1", 1)]);
        let again = both.unwrap("clinic", "maria", &wrapped).unwrap();
        assert_eq!(
            again.open(Field::FactValue, &sealed).unwrap(),
            "\"11987654321\""
        );
        let rewrapped = both.rewrap("clinic", "maria", &wrapped).unwrap().unwrap();
        assert_eq!(rewrapped.master_id, "k2");
        assert_eq!(both.rewrap("clinic", "maria", &rewrapped).unwrap(), None);
        // Once re-wrapped, k1 can go.
        let new = keyring(&[("k2", 2)]);
        let after = new.unwrap("clinic", "maria", &rewrapped).unwrap();
        assert_eq!(
            after.open(Field::FactValue, &sealed).unwrap(),
            "\"11987654321\""
        );
        assert_eq!(after.term("consulta"), key.term("consulta"));
        let missing = new.unwrap("clinic", "maria", &wrapped).unwrap_err();
        assert!(missing.to_string().contains("k1"), "{missing}");
    }

    #[test]
    fn a_sealed_message_carries_hashed_terms_that_the_stores_index() {
        let ring = keyring(&[("k1", 1)]);
        let (user, _) = ring.generate("clinic", "maria").unwrap();
        let (tenant, _) = ring.generate("clinic", "").unwrap();
        let plain = "Tenho alergia a penicilina, muita alergia";
        let words = engram_text::terms(plain);
        let stored = with_terms(
            user.seal(Field::MessageContent, plain),
            words.iter().map(|t| tenant.term(t)),
        );
        assert!(looks_sealed(&stored));
        assert!(!stored.contains("alergia"));
        // The stores index the hashes, repeated terms included (BM25's tf).
        let indexed = engram_text::terms(&stored);
        let hashed: Vec<String> = words.iter().map(|t| tenant.term(t)).collect();
        assert_eq!(indexed, hashed);
        assert!(words.iter().filter(|w| w.starts_with("alergi")).count() >= 2);
        // A query hashed the same way reads as the same terms, whatever
        // the term (no hash is stemmed, split or a stop word).
        for i in 0..2_000 {
            let hashed = tenant.term(&format!("termo{i}"));
            assert_eq!(hashed.len(), 10);
            let query = format!("alergias {}", query_term(&hashed));
            assert_eq!(engram_text::terms(&query).last(), Some(&hashed));
        }
        assert_eq!(user.open(Field::MessageContent, &stored).unwrap(), plain);
    }

    #[test]
    fn a_users_text_that_starts_like_a_sealed_one_is_just_text() {
        for text in ["enc1:", "enc1:hello world", "enc1:AAAA bbb"] {
            assert!(!looks_sealed(text), "{text}");
            assert!(
                engram_text::terms(text).contains(&"enc1".to_owned()),
                "{text}"
            );
        }
    }
}
