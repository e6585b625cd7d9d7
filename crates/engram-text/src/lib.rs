//! engram's text analysis, shared by the backends' lexical indexes and the
//! engine's queries: case and accent folding, term splitting, stop words
//! (Portuguese and English) and reciprocal-rank fusion here; token counts
//! ([`tokens`]), importance ([`importance`]) and the dates a query names
//! ([`query`]) in their modules. Pure. (BM25 lives where the postings are:
//! the embedded store's inverted index, Postgres's ts_rank.)

pub mod importance;
pub mod query;
pub mod tokens;

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::OnceLock;

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

/// Words that mark a text as Portuguese or as English: the first picks
/// the stemmer (see [`terms`]).
const PORTUGUESE_MARKERS: &[&str] = &[
    "ao", "com", "da", "das", "de", "do", "dos", "e", "ela", "ele", "em", "eu", "meu", "minha",
    "na", "nao", "no", "o", "os", "para", "pela", "pelo", "por", "pra", "que", "se", "um", "uma",
    "voce", "esta", "estou", "tem", "foi", "vai", "qual", "quando", "onde", "mas", "como",
];
const ENGLISH_MARKERS: &[&str] = &[
    "and", "are", "at", "be", "but", "by", "did", "do", "does", "for", "from", "had", "has",
    "have", "i", "in", "is", "it", "my", "of", "on", "that", "the", "this", "to", "was", "we",
    "were", "what", "when", "where", "which", "who", "with", "you", "your", "how",
];

/// The version of [`terms`]: stores that keep terms computed by an older
/// one analyse their messages again (the embedded postings, Postgres's
/// `terms` column). 1 stripped a plural `s`; 2 stems.
pub const ANALYSER_VERSION: u32 = 2;

/// Whether a folded word is a Portuguese or English stop word.
pub fn is_stop_word(term: &str) -> bool {
    static SET: std::sync::OnceLock<std::collections::HashSet<&str>> = std::sync::OnceLock::new();
    SET.get_or_init(|| STOP_WORDS.iter().copied().collect())
        .contains(term)
}

/// Folded words of a text, stop words included, in order.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(fold)
}

/// Whether a folded word is one a search or a reader would keep: two
/// letters or more, not a stop word.
fn is_keyword(word: &str) -> bool {
    word.chars().count() > 1 && !is_stop_word(word)
}

/// The words of a text a reader would call its keywords: folded, without
/// stop words or one-letter words, not stemmed.
pub fn keywords(text: &str) -> impl Iterator<Item = String> + '_ {
    words(text).filter(|w| is_keyword(w))
}

/// Which stemmers a text's words go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Language {
    Portuguese,
    English,
    /// No marker word tells (a short text, a list of names): both stems of
    /// each word are terms, so that it meets the text it is about in
    /// either language.
    Either,
}

fn language(folded_words: &[String]) -> Language {
    let count = |markers: &[&str]| {
        folded_words
            .iter()
            .filter(|w| markers.contains(&w.as_str()))
            .count()
    };
    let (pt, en) = (count(PORTUGUESE_MARKERS), count(ENGLISH_MARKERS));
    match pt.cmp(&en) {
        std::cmp::Ordering::Greater => Language::Portuguese,
        std::cmp::Ordering::Less => Language::English,
        std::cmp::Ordering::Equal => Language::Either,
    }
}

/// Whether more of a text's words say English than say Portuguese.
pub fn reads_english(text: &str) -> bool {
    language(&words(text).collect::<Vec<_>>()) == Language::English
}

/// Whether more of a text's words say Portuguese than say English.
pub fn reads_portuguese(text: &str) -> bool {
    language(&words(text).collect::<Vec<_>>()) == Language::Portuguese
}

fn stemmer(algorithm: rust_stemmers::Algorithm) -> &'static rust_stemmers::Stemmer {
    use rust_stemmers::{Algorithm, Stemmer};
    static PORTUGUESE: OnceLock<Stemmer> = OnceLock::new();
    static ENGLISH: OnceLock<Stemmer> = OnceLock::new();
    match algorithm {
        Algorithm::Portuguese => PORTUGUESE.get_or_init(|| Stemmer::create(Algorithm::Portuguese)),
        _ => ENGLISH.get_or_init(|| Stemmer::create(Algorithm::English)),
    }
}

/// A folded Portuguese word with the accent of its nasal ending put back
/// (`operacoes` → `operações`, `irmao` → `irmão`), which Snowball's rules
/// read: chat text often comes without accents, and both spellings must
/// stem alike. Other accents do not change a stem.
fn with_nasal_ending(folded: &str) -> String {
    const ENDINGS: [(&str, &str); 5] = [
        ("coes", "ções"),
        ("cao", "ção"),
        ("oes", "ões"),
        ("aes", "ães"),
        ("ao", "ão"),
    ];
    for (plain, nasal) in ENDINGS {
        if let Some(stem) = folded.strip_suffix(plain).filter(|s| s.len() >= 2) {
            return format!("{stem}{nasal}");
        }
    }
    folded.to_owned()
}

/// Search terms of a text: its words without stop words or one-letter
/// words, folded and stemmed (Snowball, Portuguese or English as the
/// text's marker words say, both when they do not): `consultas` and
/// `consulta` meet, as do `dogs` and `dog`, `adopted` and `adopt`,
/// `operações` and `operação`. A word with a digit is kept whole.
///
/// An encrypted message content's terms are the keyed hashes stored after
/// it ([`engram_domain::sealed_text::with_terms`]): every backend indexes those, and a
/// query of hashed terms ([`engram_domain::sealed_text::query_term`]) finds them.
pub fn terms(text: &str) -> Vec<String> {
    use rust_stemmers::Algorithm;
    if let Some(hashed) = engram_domain::sealed_text::sealed_terms(text) {
        return hashed.map(str::to_owned).collect();
    }
    let folded: Vec<String> = words(text).collect();
    let language = language(&folded);
    let mut out = Vec::with_capacity(folded.len());
    for word in folded {
        if let Some(hashed) = engram_domain::sealed_text::query_term_of(&word) {
            out.push(hashed.to_owned());
            continue;
        }
        if !is_keyword(&word) {
            continue;
        }
        if word.chars().any(|c| c.is_ascii_digit()) {
            out.push(word);
            continue;
        }
        let stem = |algorithm| match algorithm {
            Algorithm::Portuguese => fold(&stemmer(algorithm).stem(&with_nasal_ending(&word))),
            _ => stemmer(algorithm).stem(&word).into_owned(),
        };
        match language {
            Language::Portuguese => out.push(stem(Algorithm::Portuguese)),
            Language::English => out.push(stem(Algorithm::English)),
            Language::Either => {
                let (pt, en) = (stem(Algorithm::Portuguese), stem(Algorithm::English));
                if pt != en {
                    out.push(pt);
                }
                out.push(en);
            }
        }
    }
    out
}

/// The terms version 1 of the analyser gave (folded words, a plural `s`
/// stripped past four letters): encrypted messages sealed before version 2
/// carry the hashes of these, so an encrypted search asks for both.
pub fn terms_v1(text: &str) -> Vec<String> {
    keywords(text)
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
        let t = terms("Quero marcar as consultas de limpeza para você!");
        assert_eq!(t.len(), 4, "stop words out: {t:?}");
        assert!(terms("a o e de para").is_empty());
        // Digits are kept whole.
        assert!(terms("The order 12345 arrived").contains(&"12345".to_owned()));
    }

    /// The terms two texts share.
    fn shared(a: &str, b: &str) -> Vec<String> {
        let b = terms(b);
        terms(a).into_iter().filter(|t| b.contains(t)).collect()
    }

    #[test]
    fn english_forms_of_a_word_meet() {
        for (a, b) in [
            ("We visited three cities", "I visit the city"),
            ("I went hiking with the gang", "a hike in the mountains"),
        ] {
            assert!(!shared(a, b).is_empty(), "{a:?} / {b:?}");
        }
        // Each word meets its other form.
        for (a, b) in [
            ("I adopted two dogs last year", "She wants to adopt a dog"),
            ("The kids love the pets", "my kid has a pet"),
            ("The appointments were moved", "my appointment is moving"),
        ] {
            assert_eq!(shared(a, b).len(), 2, "{a:?} / {b:?}: {:?}", shared(a, b));
        }
    }

    #[test]
    fn portuguese_forms_of_a_word_meet() {
        for (a, b) in [
            (
                "Quero marcar as consultas de limpeza",
                "a consulta de limpeza foi boa",
            ),
            (
                "Ela já passou por alguma operação?",
                "fiz duas operações no joelho",
            ),
            ("Eu tomo os remédios de manhã", "o remédio que ela toma"),
        ] {
            assert!(!shared(a, b).is_empty(), "{a:?} / {b:?}");
        }
        // Accents do not matter.
        assert_eq!(terms("operação"), terms("operacao"));
    }

    #[test]
    fn a_text_without_marker_words_meets_both_languages() {
        // "consultas" alone could be either: it meets the Portuguese and
        // the English analysis of the word.
        let alone = terms("consultas");
        assert!(
            alone
                .iter()
                .any(|t| terms("a consulta de hoje").contains(t))
        );
        assert!(
            alone
                .iter()
                .any(|t| terms("the consultas were fine").contains(t))
        );
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
