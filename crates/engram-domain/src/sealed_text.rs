//! The form of a sealed text as it is stored: what every backend, the term
//! analyser and the encryption decorators recognise without a key. Sealing
//! and opening it is `engram-crypto`'s.

use ring::aead::NONCE_LEN;

/// Prefix of a sealed text.
pub const SEALED_PREFIX: &str = "enc1:";

/// How a hashed term is written into a lexical query: after this mark, so
/// that `engram_text::terms` takes it as it is, never stemmed.
const QUERY_TERM_MARK: &str = "enc1q";

/// A hashed term as a lexical query writes it (see [`query_term_of`]).
pub fn query_term(hashed: &str) -> String {
    format!("{QUERY_TERM_MARK}{hashed}")
}

/// The hashed term a query word stands for, if it is one.
pub fn query_term_of(word: &str) -> Option<&str> {
    word.strip_prefix(QUERY_TERM_MARK)
        .filter(|h| h.len() == 10 && h.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A sealed message content with the keyed hashes of its search terms
/// after it, space-separated: what the stores index (see
/// `engram_text::terms`) without ever seeing a word.
pub fn with_terms(mut sealed: String, hashed_terms: impl IntoIterator<Item = String>) -> String {
    for term in hashed_terms {
        sealed.push(' ');
        sealed.push_str(&term);
    }
    sealed
}

/// The hashed search terms stored after a sealed text, if it is one.
pub fn sealed_terms(text: &str) -> Option<impl Iterator<Item = &str>> {
    if !looks_sealed(text) {
        return None;
    }
    let sealed = text.strip_prefix(SEALED_PREFIX)?;
    Some(sealed.split(' ').skip(1).filter(|t| !t.is_empty()))
}

/// Whether a stored text is what `DataKey::seal` writes: the prefix,
/// then base64 of at least a nonce and a tag. (A user's message that merely
/// starts with the prefix, stored before encryption was turned on, is not.)
pub fn looks_sealed(text: &str) -> bool {
    // Base64 of a nonce and a tag, at least, without decoding it.
    const SHORTEST: usize = (NONCE_LEN + 16) * 4 / 3;
    let Some(sealed) = text.strip_prefix(SEALED_PREFIX) else {
        return false;
    };
    let encoded = sealed.split(' ').next().unwrap_or_default();
    encoded.len() >= SHORTEST
        && encoded.len() % 4 != 1
        && encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether a stored text is sealed.
pub fn is_sealed(text: &str) -> bool {
    text.starts_with(SEALED_PREFIX)
}
