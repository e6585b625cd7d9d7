//! Person names, in any case: cue phrases, forms of address, the
//! gazetteer of given names and surnames, and what only looks like a
//! name (places, firms, brands, everyday words). Over 600 lines: one
//! detector, its passes (cues, openers, articles and roles, the gazetteer
//! alone, capitalised sequences, the weakest evidence) sharing the word
//! helpers below; its word lists are in `lexicon.rs`.

use std::sync::OnceLock;

use super::gazetteer;
use super::lexicon::*;
use super::{Finding, PiiKind};

// ---------------------------------------------------------------------------
// Person names.

/// What a marker found by [`markers`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    /// A cue phrase; `announces` a whole name ([`ANNOUNCING_CUES`]), or
    /// is a `copula` that adjectives follow as often as names
    /// ([`COPULAS`]: "it's nice", "i'm grace").
    Cue {
        announces: bool,
        copula: bool,
        /// A relative or a helper before a name ([`KIN_CUES`]): only a
        /// Portuguese everyday word after it is that word ("minha vó
        /// mora…", not "minha vó destiny").
        kin: bool,
    },
    Title,
    Thanks,
}

/// The cue phrases (with the relatives' "X dele, " forms), titles and
/// thanks in one automaton, and what each of its patterns is.
fn markers() -> &'static (aho_corasick::AhoCorasick, Vec<Marker>) {
    static MARKERS: OnceLock<(aho_corasick::AhoCorasick, Vec<Marker>)> = OnceLock::new();
    MARKERS.get_or_init(|| {
        let cue = |p: &str| Marker::Cue {
            announces: ANNOUNCING_CUES.contains(&p),
            copula: COPULAS.contains(&p),
            kin: KIN_CUES.contains(&p),
        };
        let relatives = RELATIVES.iter().flat_map(|r| {
            [" dele, ", " dela, ", " dele ", " dela ", " do ", " da "]
                .map(|whose| format!("{r}{whose}"))
        });
        let patterns: Vec<(String, Marker)> = NAME_CUES
            .iter()
            .chain(KIN_CUES)
            .map(|p| (p.to_string(), cue(p)))
            .chain(relatives.map(|p| (p, cue(""))))
            .chain(TITLES.iter().map(|p| (p.to_string(), Marker::Title)))
            .chain(THANKS.iter().map(|p| (p.to_string(), Marker::Thanks)))
            .collect();
        let automaton = aho_corasick::AhoCorasick::new(patterns.iter().map(|(p, _)| p))
            .expect("the cue phrases, titles and thanks make an automaton");
        (
            automaton,
            patterns.into_iter().map(|(_, kind)| kind).collect(),
        )
    })
}

/// Whether a word of a name is a particle (`da`, `dos`, `van`…), not a
/// name of its own.
pub fn is_name_particle(word: &str) -> bool {
    PARTICLES.contains(&word)
}

/// Whether a folded word is a brand's, a product's or a place's name
/// ([`BRANDS`], the gazetteer's `not-people.txt`: "renner", "alexa",
/// "allegra", "moema"): never part of a person's name ("a kelly da
/// renner") and no name alone.
fn is_brand(folded: &str) -> bool {
    gazetteer::is_not_a_person(folded) || BRANDS.iter().any(|b| engram_text::fold(b) == folded)
}

fn not_a_name(word: &str) -> bool {
    static SET: OnceLock<std::collections::HashSet<&str>> = OnceLock::new();
    SET.get_or_init(|| NOT_NAMES.iter().chain(BRANDS).copied().collect())
        .contains(word)
}

/// A capitalised word at `i`: its end, when it is one (a letter, then
/// lower-case letters; at least two letters).
fn capitalised(text: &str, i: usize) -> Option<usize> {
    let mut chars = text[i..].char_indices();
    let (_, first) = chars.next()?;
    if !first.is_uppercase() {
        return None;
    }
    let mut end = i + first.len_utf8();
    let mut letters = 1;
    for (off, c) in chars {
        if c.is_lowercase() || c == '\'' {
            end = i + off + c.len_utf8();
            letters += 1;
        } else {
            break;
        }
    }
    let next = text[end..].chars().next();
    let boundary = next.is_none_or(|c| !c.is_alphanumeric());
    // "Patel's office": the name is "Patel".
    if text[i..end].ends_with("'s") && letters > 3 {
        end -= 2;
        letters -= 2;
    }
    (letters >= 2 && boundary).then_some(end)
}

/// The end of the word (letters) starting at `i`.
fn word_end(text: &str, i: usize) -> usize {
    i + text[i..]
        .char_indices()
        .find(|(_, c)| !c.is_alphabetic())
        .map_or(text.len() - i, |(off, _)| off)
}

/// A name in any case starting at `i` ("joão silva", "MARIA DA SILVA"):
/// a given name, then given names and surnames, particles between them,
/// every word one the gazetteer knows. Its end, if there is one.
fn name_in_any_case_at(text: &str, i: usize) -> Option<usize> {
    let first = word_end(text, i);
    let word = engram_text::fold(&text[i..first]);
    // "de", "will", "dona" are given names too: never a particle, a stop
    // word or a form of address first.
    let title = TITLES
        .iter()
        .any(|t| t.trim_end_matches([' ', '.']) == word);
    if first == i
        || is_name_particle(&word)
        || engram_text::is_stop_word(&word)
        || title
        || is_brand(&word)
        || !gazetteer::is_given_name(&word)
    {
        return None;
    }
    Some(extend_name(text, first))
}

/// A surname the gazetteer knows that is no word ("ms. raj", "sr.
/// cavalcanti", "olá haddad"): after a cue, a form of address or a
/// greeting, people are named by it as often as by a given name. Its end,
/// the name's further words included.
fn surname_alone_at(text: &str, i: usize) -> Option<usize> {
    let end = word_end(text, i);
    let word = engram_text::fold(&text[i..end]);
    (end >= i + 3 && surname_no_word(&word) && !text[end..].starts_with(char::is_alphanumeric))
        .then(|| extend_name(text, end))
}

/// Whether a folded word is a surname the gazetteer knows and nothing
/// else: no given name, no word of the word lists, no brand.
fn surname_no_word(word: &str) -> bool {
    gazetteer::is_surname(word)
        && !gazetteer::is_given_name(word)
        && !gazetteer::is_a_word(word)
        && !gazetteer::is_everyday(word)
        && !is_brand(word)
        && !is_name_particle(word)
        && !engram_text::is_stop_word(word)
        && !ALSO_PLACES_AND_BRANDS.contains(&word)
}

/// A full name in any case found by the gazetteer alone ("favor avisar
/// davi brown", "PACIENTE: DAVID DA OLIVEIRA"): a given name, then a
/// surname it knows (a particle may come between), then more of them.
/// A given name that is an everyday word ("rosa miller", "grace
/// nguyen") needs a surname that is none. Its end and confidence.
fn known_full_name_at(text: &str, i: usize) -> Option<(usize, f32)> {
    let first = word_end(text, i);
    // Most words are no given name: that test first, it is the cheapest.
    if first < i + 2 || !text[first..].starts_with(' ') {
        return None;
    }
    let word = engram_text::fold(&text[i..first]);
    // "raj cavalcanti": a surname that is no word, first, is a given name
    // the gazetteer lacks; as strict as an everyday one below.
    let surname_first = !gazetteer::is_given_name(&word) && surname_no_word(&word);
    if !(gazetteer::is_given_name(&word) || surname_first)
        || is_name_particle(&word)
        || engram_text::is_stop_word(&word)
        || TITLES
            .iter()
            .any(|t| t.trim_end_matches([' ', '.']) == word)
    {
        return None;
    }
    let everyday = gazetteer::is_everyday(&word) || surname_first;
    // "grace santos" is a person, "dia santos" a match day.
    let english_first = !PORTUGUESE_WORDS.contains(&word.as_str());
    // "my son raj", "olá raj!": an everyday word that ends a cue phrase or
    // a greeting is that phrase's, not a name's; "vi lucas" (I saw
    // Lucas): a two-letter one is a word.
    if everyday && (first - i < 3 || ends_a_marker(text, first)) {
        return None;
    }
    // `particle`: "rosa da costa": a particle between a given name and a
    // surname says it is a name, everyday words or not.
    let surname_at = |at: usize, particle: bool| {
        let end = word_end(text, at);
        let word = engram_text::fold(&text[at..end]);
        // "does tyler still work there": an adverb or a modal after a
        // subject, though a surname too.
        let known = !engram_text::is_stop_word(&word)
            && !NO_SURNAME_AFTER_A_NAME.contains(&word.as_str())
            && !is_brand(&word)
            && !(everyday
                && (gazetteer::is_everyday(&word)
                    // A particle vouches for a surname that is a word
                    // after a given name, not after a surname.
                    || ((surname_first || !particle)
                        && gazetteer::is_a_word(&word)
                        && !gazetteer::is_common_surname(&word))
                    || (ALSO_PLACES_AND_BRANDS.contains(&word.as_str())
                        && !(english_first && gazetteer::is_common_surname(&word)))));
        // "can Brian call me": a capitalised name does not go on into a
        // lower-case word.
        let case_breaks = text[i..].starts_with(char::is_uppercase)
            && text[at..].starts_with(char::is_lowercase)
            && (gazetteer::is_a_word(&word) || gazetteer::is_everyday(&word));
        (end > at && known && !case_breaks && gazetteer::is_surname(&word)).then_some(end)
    };
    let at = text[first..].starts_with(' ').then_some(first + 1)?;
    let next = word_end(text, at);
    let particle = engram_text::fold(&text[at..next]);
    let surname = if is_name_particle(&particle) && particle != "e" && text[next..].starts_with(' ')
    {
        surname_at(next + 1, true)?
    } else {
        surname_at(at, false)?
    };
    Some((extend_name(text, surname), if everyday { 0.6 } else { 0.7 }))
}

/// Whether the text up to `end` (a word's end) ends with a cue phrase,
/// a form of address or a greeting.
fn ends_a_marker(text: &str, end: usize) -> bool {
    let before = text[..end].to_lowercase();
    NAME_CUES
        .iter()
        .chain(KIN_CUES)
        .chain(TITLES)
        .chain(THANKS)
        .any(|m| {
            before
                .strip_suffix(m.trim_end_matches([' ', ',']))
                .is_some_and(|rest| !rest.ends_with(char::is_alphanumeric))
        })
}

/// A lone given name at `i` that is no everyday word ("fernanda", not
/// "rosa"), at least three letters, ending at a word's end: its end.
fn lone_given_name_at(text: &str, i: usize) -> Option<usize> {
    lone_name_at(text, i, false)
}

/// A lone given name at `i` (at least three letters, ending at a word's
/// end), an everyday word among them only if `everyday`: its end.
fn lone_name_at(text: &str, i: usize, everyday: bool) -> Option<usize> {
    let end = word_end(text, i);
    // "zé", the commonest name of two letters, and no word.
    let short = text[i..end].chars().count() < 3 && engram_text::fold(&text[i..end]) != "ze";
    if short || text[end..].starts_with(char::is_alphanumeric) {
        return None;
    }
    let word = engram_text::fold(&text[i..end]);
    let known = gazetteer::is_given_name(&word)
        && (everyday || !gazetteer::is_everyday(&word))
        && !is_brand(&word)
        && !is_name_particle(&word)
        && !engram_text::is_stop_word(&word)
        && !TITLES
            .iter()
            .any(|t| t.trim_end_matches([' ', '.']) == word);
    known.then_some(end)
}

/// Whether the word at `i` is capitalised where the writer had no reason
/// to but its being a name: inside a sentence of a message written in
/// lower case ("please let Mark know", "call Grace back"), not after a
/// sentence's end.
fn capitalised_mid_sentence(text: &str, i: usize) -> bool {
    let before = text[..i].trim_end();
    !before.is_empty()
        && !before.ends_with(['.', '!', '?', ':', '"', '\n'])
        && !text[..i].contains(|c: char| c.is_uppercase())
}

/// Whether a word is one of [`SPEECH_VERBS`]: hashed, it is looked up
/// after every word of every message.
fn is_speech_verb(word: &str) -> bool {
    static SET: OnceLock<std::collections::HashSet<&str>> = OnceLock::new();
    SET.get_or_init(|| SPEECH_VERBS.iter().copied().collect())
        .contains(word)
}

/// Whether the capitalised word at `start..end` has a capitalised word or
/// an `&` beside it: part of an organisation's name ("Magazine Luiza",
/// "Johnson & Johnson"), not a lone name.
fn in_a_capitalised_sequence(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].trim_end_matches(' ');
    let after = text[end..].trim_start_matches(' ');
    let previous = before
        .rsplit(|c: char| !c.is_alphanumeric() && c != '&')
        .next()
        .unwrap_or("");
    let next = after
        .split(|c: char| !c.is_alphanumeric() && c != '&')
        .next()
        .unwrap_or("");
    // "Yeah John": an interjection or a pronoun joins nothing; a brand
    // does ("Magazine Luiza").
    let joins =
        |w: &str| w == "&" || (w.starts_with(char::is_uppercase) && !NOT_NAMES.contains(&w));
    (before.len() < start && joins(previous)) || (after.len() < text.len() - end && joins(next))
}

/// The word before `i`, lower-cased.
fn previous_word(text: &str, i: usize) -> String {
    let before = text[..i].trim_end_matches(|c: char| !c.is_alphanumeric());
    before
        .rsplit(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("")
        .to_lowercase()
}

/// After a cue that announces a full name ("nome: priya miller"), a first
/// name the gazetteer lacks, when a surname it knows follows.
fn unknown_first_name_at(text: &str, i: usize) -> Option<usize> {
    let first = word_end(text, i);
    let word = engram_text::fold(&text[i..first]);
    if first < i + 2 || is_name_particle(&word) || engram_text::is_stop_word(&word) {
        return None;
    }
    let at = text[first..].starts_with(' ').then_some(first + 1)?;
    let end = word_end(text, at);
    gazetteer::is_surname(&engram_text::fold(&text[at..end])).then(|| extend_name(text, end))
}

/// Where a name that reaches `end` ends: given names and surnames the
/// gazetteer knows, particles between them, follow.
fn extend_name(text: &str, mut end: usize) -> usize {
    let known = |w: &str| {
        !is_brand(w)
            && !engram_text::is_stop_word(w)
            && !NO_SURNAME_AFTER_A_NAME.contains(&w)
            && (gazetteer::is_given_name(w) || gazetteer::is_surname(w))
    };
    // A name written capitalised goes on only capitalised ("James Miller
    // dia 19/05": "dia" is the sentence's).
    let start = text[..end]
        .rfind(|c: char| !c.is_alphanumeric())
        .map_or(0, |i| i + 1);
    let capitalised = text[start..].starts_with(char::is_uppercase);
    for _ in 0..5 {
        let Some(at) = text[end..].starts_with(' ').then_some(end + 1) else {
            break;
        };
        let next_lower = text[at..].starts_with(char::is_lowercase);
        if capitalised && next_lower && !is_name_particle(&text[at..word_end(text, at)]) {
            break;
        }
        let word = engram_text::fold(&text[at..word_end(text, at)]);
        let next = if is_name_particle(&word) && text[word_end(text, at)..].starts_with(' ') {
            // A particle belongs to the name only before a name; "e"
            // only before a surname ("adriana e maria" are two people).
            let after = word_end(text, at) + 1;
            let e = word_end(text, after);
            let next = engram_text::fold(&text[after..e]);
            (known(&next) && (word != "e" || !gazetteer::is_given_name(&next))).then_some(e)
        } else {
            let e = word_end(text, at);
            // "grace mora sozinha": an everyday word before a
            // preposition is a verb.
            let verb = gazetteer::is_everyday(&word)
                && text[e..]
                    .strip_prefix(' ')
                    .is_some_and(|rest| AFTER_A_VERB.contains(&&rest[..word_end(rest, 0)]));
            (e > at && known(&word) && !verb).then_some(e)
        };
        match next {
            Some(e) => end = e,
            None => break,
        }
    }
    end
}

/// The name starting at `i`: capitalised words, particles between them.
/// Returns its end and how many capitalised words it has.
fn name_at(text: &str, i: usize) -> Option<(usize, usize)> {
    let mut end = capitalised(text, i)?;
    if not_a_name(&text[i..end]) {
        return None;
    }
    let mut words = 1;
    loop {
        let rest = &text[end..];
        let Some(after_space) = rest.strip_prefix(' ') else {
            break;
        };
        let at = end + 1;
        // A particle, then a capitalised word.
        let particle = PARTICLES
            .iter()
            .find(|p| after_space.starts_with(&format!("{p} ")));
        let word_at = particle.map_or(at, |p| at + p.len() + 1);
        match capitalised(text, word_at) {
            // "Maria e João" are two people.
            Some(e)
                if particle == Some(&"e")
                    && gazetteer::is_given_name(&engram_text::fold(&text[word_at..e])) =>
            {
                break;
            }
            Some(e) if !not_a_name(&text[word_at..e]) && words < 6 => {
                end = e;
                words += 1;
            }
            _ => break,
        }
    }
    Some((end, words))
}

pub(super) fn names(text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let lower = text.to_lowercase();
    let same_offsets = lower.len() == text.len();
    // After a cue phrase: a capitalised name, or one the gazetteer knows
    // in any case. After a form of address ("dona Rosa", "a dra.
    // fernanda", "Dr. Patel"): one word is enough, and the title stays
    // outside. Both kinds of marker are found in one pass.
    if same_offsets {
        let (automaton, kinds) = markers();
        for m in automaton.find_overlapping_iter(&lower) {
            let (at, i) = (m.start(), m.end());
            let marker = kinds[m.pattern().as_usize()];
            let is_cue = matches!(marker, Marker::Cue { .. });
            // Every marker opens a word: "sou " is no cue in "passou ",
            // "ask " none in "task ".
            if at > 0
                && text[..at]
                    .chars()
                    .next_back()
                    .is_some_and(char::is_alphanumeric)
            {
                continue;
            }
            let (announces, copula, kin) = match marker {
                Marker::Cue {
                    announces,
                    copula,
                    kin,
                } => (announces, copula, kin),
                _ => (false, false, false),
            };
            // "It's Seattle": after "it's" one capitalised word is a place or
            // a thing as often as a name, unless the gazetteer knows it.
            let name_at = |text: &str, i: usize| {
                name_at(text, i).filter(|(end, words)| {
                    !lower[..i].ends_with("it's ") || *words > 1 || is_known_name(&text[i..*end])
                })
            };
            let found = match name_at(text, i) {
                Some((end, _)) => Some((end, if is_cue { 0.9 } else { 0.85 })),
                None => name_in_any_case_at(text, i)
                    .filter(|end| {
                        // After a copula or a relative: no everyday word,
                        // nor one word that is a surname and a word too
                        // ("a tia santos chegou": the club's).
                        let name = engram_text::fold(&text[i..*end]);
                        let lone_word_surname = *end == word_end(text, i)
                            && gazetteer::is_a_word(&name)
                            && gazetteer::is_surname(&name);
                        // "a paciente mora em…": an everyday word before
                        // a preposition is a verb, after any cue.
                        let verb = gazetteer::is_everyday(&name)
                            && text[i..].starts_with(char::is_lowercase)
                            && text[*end..].strip_prefix(' ').is_some_and(|rest| {
                                AFTER_A_VERB.contains(&&rest[..word_end(rest, 0)])
                            });
                        let everyday = gazetteer::is_everyday(&name);
                        // "sou mae do enzo": who the writer is to someone,
                        // not a name.
                        let noun = PEOPLE_NOUNS
                            .contains(&engram_text::fold(&text[i..word_end(text, i)]).as_str());
                        !verb
                            && !noun
                            && (!copula || !(everyday || lone_word_surname))
                            // "a tia santos chegou": the club's; "minha
                            // tia grace": an English word is a name.
                            && (!kin
                                || !((everyday && PORTUGUESE_WORDS.contains(&name.as_str()))
                                    || (lone_word_surname && !everyday)))
                    })
                    .map(|end| (end, 0.85))
                    .or_else(|| surname_alone_at(text, i).map(|end| (end, 0.8)))
                    .or_else(|| {
                        announces
                            .then(|| unknown_first_name_at(text, i))
                            .flatten()
                            .map(|end| (end, 0.8))
                    }),
            };
            // After thanks or a sign-off, the name ends the phrase: the
            // message's end, punctuation or an emoji follows.
            let found = found.filter(|(end, _)| {
                marker != Marker::Thanks
                    || text[*end..]
                        .trim_start_matches(' ')
                        .chars()
                        .next()
                        .is_none_or(|c| {
                            matches!(c, '!' | ',' | '.' | '?' | ';' | ':')
                                || (!c.is_alphanumeric() && !c.is_ascii())
                        })
            });
            if let Some((end, confidence)) = found {
                out.push(Finding {
                    kind: PiiKind::PersonName,
                    start: i,
                    end,
                    confidence,
                });
            }
        }
    }
    // "[10:32] Zé: chego em 5 min": a line of an exported chat, its
    // writer before the colon.
    if let Some(rest) = text.strip_prefix('[')
        && let Some((stamp, after)) = rest.split_once("] ")
        && stamp.len() <= 20
        && stamp.contains(':')
        && let Some((who, _)) = after.split_once(": ")
        && (1..=4).contains(&who.split(' ').count())
        && who
            .split(' ')
            .all(|w| w.starts_with(char::is_uppercase) || is_known_name(w))
        && !who.split(' ').any(not_a_name)
    {
        let start = text.len() - after.len();
        out.push(name_finding(start, start + who.len(), 0.8));
    }
    // "rosa aqui, tudo certo?", "oi! iara falando", "raj speaking": a
    // message that opens with who is writing, a greeting before.
    let start = OPENING_GREETINGS
        .iter()
        .find(|g| same_offsets && lower.starts_with(*g))
        .map_or(0, |g| g.len());
    let opener = name_at(text, start)
        .map(|(end, _)| end)
        .or_else(|| name_in_any_case_at(text, start))
        .or_else(|| surname_alone_at(text, start));
    if let Some(end) = opener
        && end < text.len()
        && !INTERJECTIONS.contains(&engram_text::fold(&text[start..word_end(text, start)]).as_str())
    {
        let rest = text[end..].trim_start_matches([',', ' ']).to_lowercase();
        let says_who = ["aqui", "here", "speaking", "falando"].iter().any(|w| {
            rest.strip_prefix(w)
                .is_some_and(|after| !after.starts_with(char::is_alphanumeric))
        });
        if says_who {
            out.push(name_finding(start, end, 0.85));
        }
    }
    // "ze, tudo certo?", "iara???? vc ta ai?": a message that opens by
    // calling someone, a given name that is no everyday word.
    let first = word_end(text, 0);
    let called = engram_text::fold(&text[..first]);
    if first >= 2
        && text[first..].starts_with([',', '!', '?'])
        && !text[first..]
            .trim_start_matches([',', '!', '?', ' '])
            .is_empty()
        && gazetteer::is_given_name(&called)
        && !gazetteer::is_everyday(&called)
        && !is_brand(&called)
        && !is_name_particle(&called)
        && !engram_text::is_stop_word(&called)
        && !TITLES
            .iter()
            .any(|t| t.trim_end_matches([' ', '.']) == called)
        && !ALSO_PLACES_AND_BRANDS.contains(&called.as_str())
        && !INTERJECTIONS.contains(&called.as_str())
    {
        out.push(name_finding(0, first, 0.6));
    }
    // A lone given name after an article ("a fernanda falou", "o enzo"),
    // or capitalised on its own ("please let Emily know"), when it is no
    // everyday word and nothing says it is a place.
    each_word(text, |i| {
        if !text[i..].starts_with(char::is_alphabetic) {
            return None;
        }
        let end = word_end(text, i);
        // "pro"/"pra": "para o", "para a" ("agenda pro enzo").
        let article = matches!(&text[i..end], "a" | "o" | "A" | "O" | "pro" | "pra");
        // At the message's start, before another word: "francisco vai
        // me ligar".
        let opens = i == 0
            && text[end..]
                .strip_prefix(' ')
                .is_some_and(|rest| rest.starts_with(char::is_lowercase));
        let (start, end, confidence) = if article && text[end..].starts_with(' ') {
            lone_given_name_at(text, end + 1)
                .filter(|e| !text[*e..].trim_start_matches(' ').starts_with('&'))
                .filter(|e| {
                    !ALSO_PLACES_AND_BRANDS
                        .contains(&engram_text::fold(&text[end + 1..*e]).as_str())
                })
                .map(|e| (end + 1, e, 0.6))
        } else if text[i..].starts_with(char::is_uppercase)
            && capitalised(text, i) == Some(end)
            && let Some(e) = lone_name_at(text, i, capitalised_mid_sentence(text, i))
            && !not_a_name(&text[i..end])
            && !in_a_capitalised_sequence(text, i, end)
            && !BEFORE_A_PLACE.contains(&previous_word(text, i).as_str())
            && !ALSO_PLACES_AND_BRANDS.contains(&engram_text::fold(&text[i..end]).as_str())
        {
            Some((i, e, 0.5))
        } else if !article
            && text[i..end].chars().count() >= 4
            && text[i..].starts_with(char::is_lowercase)
            && let Some(e) = lone_given_name_at(text, i)
            && !gazetteer::is_a_word(&engram_text::fold(&text[i..e]))
            // "a text from sarah", "give this to olivia": people are
            // sent things and send them; the places that are names are
            // known.
            && !matches!(previous_word(text, i).as_str(), p if p != "to" && p != "from" && BEFORE_A_PLACE.contains(&p))
            && !ALSO_PLACES_AND_BRANDS.contains(&engram_text::fold(&text[i..e]).as_str())
        {
            Some((i, e, 0.4))
        } else if opens
            && let Some(e) = lone_given_name_at(text, i)
            && !followed_by_a_place_word(text, e)
            && !ALSO_PLACES_AND_BRANDS.contains(&engram_text::fold(&text[i..e]).as_str())
        {
            Some((i, e, 0.5))
        } else {
            None
        }?;
        let end = extend_name(text, end);
        if !names_a_place(text, start, end) && !followed_by_a_place_word(text, end) {
            out.push(name_finding(start, end, confidence));
        }
        Some(end)
    });
    let english = std::cell::OnceCell::new();
    // A one-word name that is also a word, said by what surrounds it: the
    // role after it ("destiny at reception", "a rosa da recepção") or a
    // Portuguese article before an English word ("a grace", "o mark").
    each_word(text, |i| {
        let end = word_end(text, i);
        // "this is grace's mom": a name, then whose relative.
        let possessive = text[end..].strip_prefix("'s ").is_some_and(|rest| {
            let next = &rest[..word_end(rest, 0)];
            RELATIVES_EN.contains(&next.to_lowercase().as_str())
        });
        if end < i + 2 || (text[end..].starts_with(char::is_alphanumeric) && !possessive) {
            return None;
        }
        // The cheap tests first: most words have neither an article
        // before them nor a role after them.
        let before = text[..i].strip_suffix(' ').unwrap_or("");
        let after_article = [" a", " o", " pro", " pra"]
            .iter()
            .any(|a| before.ends_with(a))
            || matches!(before, "a" | "o" | "A" | "O" | "pro" | "pra");
        let role_may_follow = [" at ", " from ", " in ", " da ", " do ", ", da ", ", do "]
            .iter()
            .any(|p| text[end..].starts_with(p));
        // "ana me mandou msg": a verb of saying or doing after it,
        // with or without a pronoun between.
        let verb_next = text[end..].strip_prefix(' ').is_some_and(|rest| {
            let rest = ["vai ", "ja ", "já "]
                .iter()
                .find_map(|c| rest.strip_prefix(c))
                .unwrap_or(rest);
            let rest = ["me ", "te ", "nos ", "lhe "]
                .iter()
                .find_map(|c| rest.strip_prefix(c))
                .unwrap_or(rest);
            is_speech_verb(&rest[..word_end(rest, 0)])
        });
        // "mark and i will come", "rosa e eu vamos": who comes with the
        // writer, at the message's start.
        let with_me = i == 0
            && [" and i ", " e eu "]
                .iter()
                .any(|p| text[end..].to_lowercase().starts_with(p));
        if !(after_article || possessive || role_may_follow || verb_next || with_me) {
            return None;
        }
        let verb_follows = verb_next
            && !in_a_capitalised_sequence(text, i, end)
            && !text[..i].trim_end().ends_with('&');
        let word = engram_text::fold(&text[i..end]);
        let name = (gazetteer::is_given_name(&word) || surname_no_word(&word))
            && !is_brand(&word)
            && !is_name_particle(&word)
            && !engram_text::is_stop_word(&word)
            && !PEOPLE_NOUNS.contains(&word.as_str())
            && !TITLES
                .iter()
                .any(|t| t.trim_end_matches([' ', '.']) == word);
        if !name {
            return None;
        }
        let rest = text[end..].trim_start_matches(',').to_lowercase();
        let role = role_may_follow
            && ROLES_AFTER.iter().any(|r| {
                rest.strip_prefix(' ')
                    .and_then(|rest| rest.strip_prefix(r))
                    .is_some_and(|after| !after.starts_with(char::is_alphanumeric))
            });
        // English has "a" too: "a charity", "a fairy".
        let article = after_article
            && gazetteer::is_everyday(&word)
            && !PORTUGUESE_WORDS.contains(&word.as_str())
            && !*english.get_or_init(|| engram_text::reads_english(text));
        // "a vitoria falou", "a rosa me ajudou": who says or does such a
        // thing is a person.
        let speaks = after_article && {
            let rest = text[end..].trim_start_matches(' ');
            let rest = ["me ", "te ", "nos ", "lhe "]
                .iter()
                .find_map(|c| rest.strip_prefix(c))
                .unwrap_or(rest);
            let verb = &rest[..word_end(rest, 0)];
            is_speech_verb(verb)
        };
        // Without an article, a verb says a person only of a name that is
        // no everyday word ("ana me mandou", not "rosa falou" alone).
        // At the message's start, with no article, even a Portuguese
        // word: a bare noun is seldom a subject ("rosa ficou de me
        // mandar").
        let says = !after_article
            && verb_follows
            && !ALSO_PLACES_AND_BRANDS.contains(&word.as_str())
            && (i == 0
                || !gazetteer::is_everyday(&word)
                || !PORTUGUESE_WORDS.contains(&word.as_str()));
        if !(role || article || possessive || speaks || says || with_me)
            || names_a_place(text, i, end)
        {
            return None;
        }
        let end = extend_name(text, end);
        out.push(name_finding(
            i,
            end,
            if role || possessive { 0.7 } else { 0.5 },
        ));
        Some(end)
    });
    // A given name and a surname the gazetteer knows, in any case.
    each_word(text, |i| {
        if !text[i..].starts_with(char::is_alphabetic) {
            return None;
        }
        let (end, confidence) = known_full_name_at(text, i)?;
        // "Grace Nascimento Santos": a capitalised given name before it
        // (an everyday word too) is the name's first.
        let before = text[..i].strip_suffix(' ').unwrap_or("");
        let first = before.len()
            - before
                .chars()
                .rev()
                .take_while(|c| c.is_alphabetic())
                .map(char::len_utf8)
                .sum::<usize>();
        let start = if text[i..].starts_with(char::is_uppercase)
            && first < before.len()
            && capitalised(text, first) == Some(before.len())
            && !not_a_name(&before[first..])
            && gazetteer::is_given_name(&engram_text::fold(&before[first..]))
        {
            first
        } else {
            i
        };
        if !names_a_place(text, start, end) && !followed_by_a_place_word(text, end) {
            out.push(name_finding(start, end, confidence));
        }
        Some(end)
    });
    // Two or more capitalised words anywhere.
    each_word(text, |i| {
        let (end, words) = name_at(text, i)?;
        // "Remember Jon", "Absolutely Maria": a sentence opens with a
        // capitalised word that is no name, then the name.
        let first = word_end(text, i);
        let sentence_starts =
            text[..i].trim_end().is_empty() || text[..i].trim_end().ends_with(['.', '!', '?']);
        if words >= 2 && sentence_starts && !is_known_name(&text[i..first]) {
            let rest = first + 1;
            let (end, words) = name_at(text, rest)?;
            if words >= 2 && !names_a_place(text, rest, end) && holds_a_known_name(&text[rest..end])
            {
                out.push(name_finding(rest, end, 0.6));
            } else if words == 1 && lone_given_name_at(text, rest) == Some(end) {
                out.push(name_finding(rest, end, 0.5));
            }
            return Some(end);
        }
        // "a Kelly da Renner": one name, then the shop she is from.
        let from_a_shop = [" da ", " do ", " de ", " from ", " at "].iter().any(|p| {
            text[end..].strip_prefix(p).is_some_and(|rest| {
                BRANDS.iter().any(|b| {
                    rest.starts_with(b) && !rest[b.len()..].starts_with(char::is_alphanumeric)
                })
            })
        });
        if from_a_shop && i > 0 {
            out.push(name_finding(i, end, 0.7));
        } else if words >= 2 && !names_a_place(text, i, end) && holds_a_known_name(&text[i..end]) {
            out.push(name_finding(i, end, 0.6));
        }
        Some(end)
    });
    // The weakest evidence, in a message written in lower case: a given
    // name of three letters or more that is no word of the word lists (or
    // a surname that is none), or, in Portuguese, an English word that is
    // a given name ("destiny", "grace"): names more often than not there.
    if !text.contains(|c: char| c.is_uppercase()) {
        let portuguese = engram_text::reads_portuguese(text);
        each_word(text, |i| {
            let end = word_end(text, i);
            if end < i + 3
                || text[end..].starts_with(char::is_alphanumeric)
                || out.iter().any(|f| f.start < end && i < f.end)
            {
                return None;
            }
            // "avenida maria barbosa": after a name word, a surname
            // the passes above left is part of what they left.
            // "o horario do ana": a particle after a common noun is a
            // preposition, not a name's.
            let after_a_name = {
                let before = previous_word(text, i);
                if is_name_particle(&before) {
                    let particle = text[..i].trim_end().len() - before.len();
                    is_known_name(&previous_word(text, particle))
                } else {
                    is_known_name(&before)
                }
            };
            let word = engram_text::fold(&text[i..end]);
            let plain = !after_a_name
                && gazetteer::is_given_name(&word)
                && !gazetteer::is_a_word(&word)
                && !gazetteer::is_everyday(&word);
            let english_in_portuguese = portuguese
                && !after_a_name
                && gazetteer::is_everyday(&word)
                && !PORTUGUESE_WORDS.contains(&word.as_str())
                && !PEOPLE_NOUNS.contains(&word.as_str());
            let weak = (plain
                || english_in_portuguese
                || (!after_a_name && surname_no_word(&word)))
                && !is_brand(&word)
                && !is_name_particle(&word)
                && !engram_text::is_stop_word(&word)
                && !TITLES
                    .iter()
                    .any(|t| t.trim_end_matches([' ', '.']) == word)
                && !ALSO_PLACES_AND_BRANDS.contains(&word.as_str())
                && !matches!(previous_word(text, i).as_str(), p if p != "to" && p != "from" && BEFORE_A_PLACE.contains(&p))
                && !names_a_place(text, i, end)
                && !followed_by_a_place_word(text, end);
            if !weak {
                return None;
            }
            let end = extend_name(text, end);
            out.push(name_finding(i, end, 0.3));
            Some(end)
        });
    }
    // "41 97561-8417 (maria)": a given name alone in parentheses says
    // whose the number or the turn is.
    let mut from = 0;
    while let Some(open) = text[from..].find('(').map(|o| from + o + 1) {
        from = open;
        let Some(end) = name_at(text, open)
            .map(|(end, _)| end)
            .or_else(|| name_in_any_case_at(text, open))
        else {
            continue;
        };
        let word = engram_text::fold(&text[open..word_end(text, open)]);
        if text[end..].starts_with(')')
            && !gazetteer::is_everyday(&word)
            && !ALSO_PLACES_AND_BRANDS.contains(&word.as_str())
            && out.iter().all(|f| f.end <= open || f.start >= end)
        {
            out.push(name_finding(open, end, 0.6));
        }
    }
    // "please bill carlos souza": after "please" comes a verb, even one
    // that is a given name too.
    for f in &mut out {
        let first = word_end(text, f.start);
        if matches!(
            previous_word(text, f.start).as_str(),
            "please" | "pls" | "plz"
        ) && gazetteer::is_everyday(&engram_text::fold(&text[f.start..first]))
            && text[first..f.end].starts_with(' ')
        {
            f.start = first + 1;
        }
    }
    // "enzo e adriana chegaram", "Mark and sarah": a given name joined to
    // a name found is a second person.
    let mut joined = Vec::new();
    for f in &out {
        for joint in [" e ", " and ", " e o ", " e a ", " E ", " And "] {
            let Some(rest) = text[f.end..].strip_prefix(joint) else {
                continue;
            };
            let at = f.end + joint.len();
            let end = word_end(text, at);
            let word = engram_text::fold(&rest[..end - at]);
            let known = end > at + 1
                && gazetteer::is_given_name(&word)
                && !is_brand(&word)
                && !engram_text::is_stop_word(&word)
                && !PORTUGUESE_WORDS.contains(&word.as_str())
                && !PEOPLE_NOUNS.contains(&word.as_str())
                && !ALSO_PLACES_AND_BRANDS.contains(&word.as_str())
                && !text[end..].starts_with(char::is_alphanumeric);
            if known && out.iter().all(|g| g.end <= at || g.start >= end) {
                joined.push(name_finding(at, extend_name(text, end), 0.5));
            }
        }
    }
    out.extend(joined);
    out
}

/// Whether a capitalised sequence holds two names the gazetteer knows
/// ("Mark Carvalho", "Mark Young"), or one that is no word of the word
/// lists ("Priya Kowalczyk"): titles, brands and places are capitalised
/// too ("Under Armour", "Little Women", "Door Dash").
fn holds_a_known_name(sequence: &str) -> bool {
    let known = || sequence.split(' ').filter(|word| is_known_name(word));
    known().count() >= 2 || known().any(|word| !gazetteer::is_a_word(&engram_text::fold(word)))
}

/// Whether a word (a possessive "'s" aside) is a given name or a surname
/// the gazetteer knows.
fn is_known_name(word: &str) -> bool {
    let word = engram_text::fold(word.trim_end_matches("'s"));
    gazetteer::is_given_name(&word) || gazetteer::is_surname(&word)
}

/// Calls `found` at the start of every word of `text`; where it returns
/// the end of what it took, the scan goes on from there.
fn each_word(text: &str, mut found: impl FnMut(usize) -> Option<usize>) {
    let mut i = 0;
    while i < text.len() {
        let starts_word = i == 0
            || text[..i]
                .chars()
                .next_back()
                .is_some_and(|c| !c.is_alphanumeric());
        if starts_word && let Some(end) = found(i) {
            i = end.max(i + 1);
            continue;
        }
        i += text[i..].chars().next().map_or(1, char::len_utf8);
    }
}

fn name_finding(start: usize, end: usize, confidence: f32) -> Finding {
    Finding {
        kind: PiiKind::PersonName,
        start,
        end,
        confidence,
    }
}

/// Whether the word after `end` (after a suffix such as "Jr" or "Filho")
/// makes what ends there an organisation's or a place's name ("silva
/// costa advogados", "Martin Luther King Jr Blvd").
fn followed_by_a_place_word(text: &str, end: usize) -> bool {
    const SUFFIXES: &[&str] = &["jr", "junior", "júnior", "filho", "neto", "sobrinho", "sr"];
    let mut rest = &text[end..];
    for _ in 0..2 {
        rest = rest.trim_start_matches([' ', '&', '.', ',']);
        let next = rest[..word_end(rest, 0)].to_lowercase();
        // "the" says a place before a name ("the Lincoln Memorial"), not
        // after one ("text fatima the address").
        if next != "the" && PLACE_WORDS.contains(&next.as_str()) {
            return true;
        }
        if !SUFFIXES.contains(&next.as_str()) {
            return false;
        }
        rest = &rest[next.len().min(rest.len())..];
    }
    false
}

fn names_a_place(text: &str, start: usize, end: usize) -> bool {
    let mut previous = previous_word(text, start);
    // "my mother-in-law daniel garcia": the end of a compound word is no
    // place's ("law firm").
    let before = text[..start].trim_end_matches(|c: char| !c.is_alphanumeric());
    if before
        .trim_end_matches(char::is_alphanumeric)
        .ends_with('-')
    {
        previous.clear();
    }
    std::iter::once(previous.as_str())
        .chain(text[start..end].split(' '))
        .any(|w| PLACE_WORDS.contains(&w.to_lowercase().as_str()))
}
