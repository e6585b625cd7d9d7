//! Text analysis shared by lexical search, importance and focus terms:
//! case and accent folding, term splitting, stop words (Portuguese and
//! English) and reciprocal-rank fusion. (BM25 lives where the postings are:
//! the embedded store's inverted index, Postgres's ts_rank.)

use std::collections::HashMap;
use std::hash::Hash;

/// FNV-1a, 64 bits, over a byte stream: stable across platforms and
/// releases (unlike std's hasher), for hashes that are stored or shared
/// between processes.
pub fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Lowercases and strips the accents of Latin letters (`"Área"` → `"area"`).
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    if text.is_ascii() {
        out.push_str(text);
        out.make_ascii_lowercase();
        return out;
    }
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        for c in c.to_lowercase() {
            out.push(fold_letter(c));
        }
    }
    out
}

/// The unaccented form of a lowercase Latin letter.
fn fold_letter(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'ç' | 'ć' => 'c',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ý' | 'ÿ' => 'y',
        other => other,
    }
}

const STOP_WORDS: &[&str] = &[
    // Portuguese
    "a", "ao", "aos", "as", "com", "como", "da", "das", "de", "do", "dos", "e", "ela", "ele", "em",
    "eu", "isso", "isto", "ja", "mais", "mas", "me", "meu", "minha", "na", "nas", "nao", "no",
    "nos", "o", "os", "ou", "para", "pela", "pelo", "por", "pra", "que", "se", "sem", "ser", "sua",
    "seu", "sim", "so", "um", "uma", "voce", "esta", "estou", "tem", "ter", "foi", "vai", "qual",
    "quando", "onde", "lhe", "te", "ta", "to", // English
    "an", "and", "are", "at", "be", "but", "by", "can", "did", "do", "does", "for", "from", "had",
    "has", "have", "i", "if", "in", "is", "it", "its", "my", "of", "on", "or", "our", "so", "than",
    "that", "the", "their", "them", "then", "there", "these", "they", "this", "was", "we", "were",
    "what", "when", "where", "which", "who", "will", "with", "would", "you", "your", "me", "am",
    "been", "how", "about", "just",
];

fn is_stop_word(term: &str) -> bool {
    STOP_WORDS.contains(&term)
}

/// Folded words of a text, stop words included, in order.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(fold)
}

/// Search terms of a text: folded words without stop words or one-letter
/// words, with a light plural stemming shared by Portuguese and English
/// (`consultas` → `consulta`).
///
/// An encrypted message content's terms are the keyed hashes stored after
/// it ([`crate::crypto::with_terms`]): every backend indexes those, and a
/// query of hashed terms finds them.
pub fn terms(text: &str) -> Vec<String> {
    if let Some(hashed) = crate::crypto::sealed_terms(text) {
        return hashed.map(str::to_owned).collect();
    }
    words(text)
        .filter(|w| w.chars().count() > 1 && !is_stop_word(w))
        .map(|mut w| {
            if w.len() > 4 && w.ends_with('s') && !w.ends_with("ss") {
                w.pop();
            }
            w
        })
        .collect()
}

/// Whether a query term found in `df` of a user's `docs` messages is too
/// common to rank by: the speakers' names in a two-person chat are in half
/// of its messages, and BM25 would still rank every short message naming
/// one above longer ones that match nothing else. Such a term is left out
/// of a query that has others (measured on LoCoMo, BENCHMARKS.md: flat
/// from 10% to 30%).
pub fn is_common_term(df: usize, docs: u64) -> bool {
    const SHARE: f64 = 0.2;
    const MIN_DOCS: u64 = 50;
    docs >= MIN_DOCS && df as f64 > SHARE * docs as f64
}

/// Reciprocal-rank fusion of ranked lists: each item scores the sum of
/// 1 / (k + rank) over the lists it appears in. Best first; ties keep the
/// order of first appearance.
///
/// k = 10, not the customary 60: over two 100-deep lists k = 60 ranks an
/// item middling in both above one in the top ten of a single list, and on
/// LoCoMo (BENCHMARKS.md) those single-list hits are where the evidence
/// is; recall there and on the synthetic corpus is flat from k = 5 to 20.
pub fn reciprocal_rank_fusion<K: Clone + Eq + Hash>(lists: &[Vec<K>]) -> Vec<(K, f64)> {
    const K: f64 = 10.0;
    let mut scores: HashMap<K, (f64, usize)> = HashMap::new();
    let mut order = 0;
    for list in lists {
        for (rank, key) in list.iter().enumerate() {
            let entry = scores.entry(key.clone()).or_insert_with(|| {
                order += 1;
                (0.0, order)
            });
            entry.0 += 1.0 / (K + rank as f64 + 1.0);
        }
    }
    let mut fused: Vec<(K, f64, usize)> = scores.into_iter().map(|(k, (s, o))| (k, s, o)).collect();
    fused.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)));
    fused.into_iter().map(|(k, s, _)| (k, s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_is_the_reference() {
        // Reference values of FNV-1a 64.
        assert_eq!(fnv1a(*b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(*b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(*b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn folding_and_terms() {
        assert_eq!(fold("ÁREA Médica, São Paulo"), "area medica, sao paulo");
        assert_eq!(
            terms("Quero marcar as consultas de limpeza para você!"),
            ["quero", "marcar", "consulta", "limpeza"]
        );
        assert_eq!(
            terms("The appointments were moved"),
            ["appointment", "moved"]
        );
        assert!(terms("a o e de para").is_empty());
    }

    #[test]
    fn rrf_rewards_agreement() {
        let fused = reciprocal_rank_fusion(&[vec!["a", "b", "c"], vec!["d", "b", "e"]]);
        let keys: Vec<_> = fused.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys[0], "b", "second in both beats first in one");
        assert_eq!(keys.len(), 5);
    }

    #[test]
    fn common_terms_are_those_of_a_fifth_of_a_long_history() {
        assert!(is_common_term(120, 500));
        assert!(!is_common_term(90, 500));
        // A short history has no common terms: every word is rare in it.
        assert!(!is_common_term(20, 30));
    }

    #[test]
    fn rrf_keeps_a_strong_hit_of_one_list_above_middling_ones() {
        let a: Vec<String> = ["top"]
            .into_iter()
            .map(String::from)
            .chain((0..30).map(|i| format!("a{i}")))
            .collect();
        let b: Vec<String> = (0..30).map(|i| format!("a{i}")).collect();
        // "a20" is 21st in one list and 22nd in the other.
        let fused = reciprocal_rank_fusion(&[a, b]);
        let rank = |k: &str| fused.iter().position(|(key, _)| key == k).unwrap();
        assert!(rank("top") < rank("a20"), "{fused:?}");
    }
}
