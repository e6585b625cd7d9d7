//! Given names and surnames, folded (lower case, no accents), so that a
//! name is recognised whatever its case. Built by `scripts/gazetteer` from
//! public data: the IBGE 2010 census's Brazilian given names
//! (datasets-br/prenomes, ODC-PDDL-1.0), the US Census Bureau's 1990 given
//! names and surnames, and the commonest Brazilian surnames; its header
//! says which and how many. `everyday-names.txt` is written by hand: the
//! given names of those lists that are also everyday Portuguese or
//! English words ("rosa", "dia", "tia", "will", "may", "grace"), picked
//! from the lists' overlap with the Debian word lists (wbrazilian,
//! wamerican); such a word is a name only with more evidence than itself.
//! `name-words.txt` (built by the script) holds every name those word
//! lists hold ("costa", "brown", "vera"), for the weakest evidence.
//! `common-surnames.txt` (built by the script from its hand list) holds
//! the commonest Brazilian surnames that are no everyday noun.
//! `not-people.txt` is written by hand: brands, shops, medicines, cars,
//! voice assistants, health plans, laboratories and places whose names
//! look like people's ("zara", "allegra", "alexa", "hapvida", "moema").

use std::collections::HashSet;
use std::sync::OnceLock;

const GIVEN_NAMES: &str = include_str!("given-names.txt");
const SURNAMES: &str = include_str!("surnames.txt");
const EVERYDAY: &str = include_str!("everyday-names.txt");
const NAME_WORDS: &str = include_str!("name-words.txt");
const NOT_PEOPLE: &str = include_str!("not-people.txt");
const COMMON_SURNAMES: &str = include_str!("common-surnames.txt");

/// The words of a list, hashed: every word of every message is looked up
/// (a binary search's string comparisons were most of detection's time).
fn words(
    cell: &'static OnceLock<HashSet<&'static str>>,
    list: &'static str,
) -> &'static HashSet<&'static str> {
    cell.get_or_init(|| list.lines().collect())
}

/// Whether a folded word is a given name (Brazilian or English).
pub(super) fn is_given_name(folded: &str) -> bool {
    static CELL: OnceLock<HashSet<&str>> = OnceLock::new();
    words(&CELL, GIVEN_NAMES).contains(folded)
}

/// Whether a folded word is a surname (Brazilian or English).
pub(super) fn is_surname(folded: &str) -> bool {
    static CELL: OnceLock<HashSet<&str>> = OnceLock::new();
    words(&CELL, SURNAMES).contains(folded)
}

/// Whether a folded given name is also an everyday word.
pub(super) fn is_everyday(folded: &str) -> bool {
    static CELL: OnceLock<HashSet<&str>> = OnceLock::new();
    words(&CELL, EVERYDAY).contains(folded)
}

/// Whether a folded word is one of the commonest Brazilian surnames that
/// is no everyday noun ("pereira", "dias", "rocha"; not "costa", "cruz"):
/// after a given name, even one that is a word, it makes a name.
pub(super) fn is_common_surname(folded: &str) -> bool {
    static CELL: OnceLock<HashSet<&str>> = OnceLock::new();
    words(&CELL, COMMON_SURNAMES).contains(folded)
}

/// Whether a folded given name or surname is also a word of the Debian
/// word lists ("costa", "brown", "vera"), everyday or not.
pub(super) fn is_a_word(folded: &str) -> bool {
    static CELL: OnceLock<HashSet<&str>> = OnceLock::new();
    words(&CELL, NAME_WORDS).contains(folded)
}

/// Whether a folded word names a brand, a product, a device or a place
/// that people's names resemble ("alexa", "allegra", "zara", "moema").
pub(super) fn is_not_a_person(folded: &str) -> bool {
    static CELL: OnceLock<HashSet<&str>> = OnceLock::new();
    words(&CELL, NOT_PEOPLE).contains(folded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lists_are_sorted_folded_and_know_common_names() {
        for list in [GIVEN_NAMES, SURNAMES, EVERYDAY, NAME_WORDS, NOT_PEOPLE] {
            let words: Vec<&str> = list.lines().collect();
            assert!(words.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
            assert!(
                words
                    .iter()
                    .all(|w| w.bytes().all(|b| b.is_ascii_lowercase()))
            );
        }
        for name in ["maria", "joao", "fernanda", "ze", "john", "gabriela"] {
            assert!(is_given_name(name), "{name}");
        }
        for name in ["silva", "santos", "pinheiro", "smith", "patel"] {
            assert!(is_surname(name), "{name}");
        }
        assert!(!is_given_name("pedido"));
        for word in EVERYDAY.lines() {
            assert!(is_given_name(word), "{word} is an everyday given name");
        }
        assert!(is_everyday("rosa") && is_everyday("will") && !is_everyday("fernanda"));
        for word in NAME_WORDS.lines() {
            assert!(is_given_name(word) || is_surname(word), "{word} is a name");
        }
        assert!(is_a_word("costa") && is_a_word("vera") && !is_a_word("nguyen"));
    }
}
