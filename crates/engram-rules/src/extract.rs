//! ExtractFacts' rules: facts a customer states about themselves, found in
//! their own messages with the PII detectors (name after a first-person
//! cue, phone, e-mail, documents) and with patterns for scheduling
//! preferences (days and times, Portuguese and English). Pure: no I/O.
//!
//! Only the user's messages are read: what the agent or an operator says
//! ("seu CPF é …?") is a question, not a statement of the customer. Payment
//! card numbers are found but never proposed: a card number is not a fact
//! to keep (PCI DSS).
//!
//! A language model's proposals, when one is configured, pass through
//! [`validate`]: a document, phone or e-mail must be what the detectors
//! find in the cited message, a name must appear there after a first-person
//! cue, a preference must parse with the same rules, and no other key may
//! carry personal data.
//!
//! Over 600 lines: 150 are its tests; the rest is one rule per fact key,
//! with the validation that keeps personal data out of other keys.

use crate::pii;
use crate::pii::{Finding, PiiKind};

/// Fact keys ExtractFacts writes.
pub mod keys {
    pub const NAME: &str = "name";
    pub const PHONE: &str = "phone";
    pub const EMAIL: &str = "email";
    pub const CPF: &str = "document.cpf";
    pub const CNPJ: &str = "document.cnpj";
    pub const CNS: &str = "document.cns";
    pub const SSN: &str = "document.ssn";
    pub const PREFERRED_DAYS: &str = "preferred_days";
    pub const UNAVAILABLE_DAYS: &str = "unavailable_days";
    pub const PREFERRED_TIME: &str = "preferred_time";
}

/// A proposed fact, found in one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub key: &'static str,
    /// Canonical JSON text.
    pub value: String,
    /// Index of the message in the slice given to [`extract`].
    pub message: usize,
    /// 0..1.
    pub confidence: f32,
}

/// Every proposal in `texts` (the user's messages, oldest first), in
/// message order; a (key, value) already proposed by an earlier message is
/// not proposed again.
pub fn extract<S: AsRef<str>>(texts: &[S]) -> Vec<Proposal> {
    merge(
        texts
            .iter()
            .enumerate()
            .flat_map(|(i, text)| extract_one(text.as_ref(), i))
            .collect(),
    )
}

fn extract_one(text: &str, message: usize) -> Vec<Proposal> {
    let mut out = Vec::new();
    for f in pii::detect(text) {
        if let Some((key, value)) = pii_fact(text, &f) {
            out.push(Proposal {
                key,
                value: json_string(&value),
                message,
                confidence: f.confidence,
            });
        }
    }
    for (key, value, confidence) in preferences(text) {
        out.push(Proposal {
            key,
            value,
            message,
            confidence,
        });
    }
    out
}

/// The fact a finding states, as (key, normalised value).
fn pii_fact(text: &str, f: &Finding) -> Option<(&'static str, String)> {
    let raw = &text[f.start..f.end];
    let digits = || raw.chars().filter(char::is_ascii_digit).collect::<String>();
    Some(match f.kind {
        PiiKind::Cpf => (keys::CPF, digits()),
        PiiKind::Cns => (keys::CNS, digits()),
        PiiKind::Ssn => (keys::SSN, digits()),
        PiiKind::Cnpj => (
            keys::CNPJ,
            raw.chars()
                .filter(char::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_uppercase())
                .collect(),
        ),
        PiiKind::Phone => {
            let plus = if raw.trim_start().starts_with('+') {
                "+"
            } else {
                ""
            };
            (keys::PHONE, format!("{plus}{}", digits()))
        }
        PiiKind::Email => (keys::EMAIL, raw.to_lowercase()),
        PiiKind::PersonName if self_named(text, f.start) => (keys::NAME, raw.to_owned()),
        PiiKind::PersonName | PiiKind::PaymentCard => return None,
    })
}

/// Cues after which a name is the speaker's own.
const SELF_CUES: &[&str] = &[
    "meu nome é ",
    "meu nome e ",
    "me chamo ",
    "meu nome completo é ",
    "nome completo é ",
    "aqui é o ",
    "aqui é a ",
    "aqui é ",
    "quem fala é ",
    "sou o ",
    "sou a ",
    "sou ",
    "my name is ",
    "my full name is ",
    "i am ",
    "i'm ",
    "this is ",
];

fn self_named(text: &str, start: usize) -> bool {
    let before = text[..start].to_lowercase();
    SELF_CUES.iter().any(|cue| {
        before.ends_with(cue)
            && before[..before.len() - cue.len()]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric())
    })
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

// ---------------------------------------------------------------------------
// Preferences: days and times.

const DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Words that make a sentence a statement of preference or availability.
const PREFERENCE_CUES: &[&str] = &[
    "prefiro",
    "prefere",
    "preferência",
    "preferencia",
    "preferencialmente",
    "preferível",
    "melhor",
    "pode ser",
    "posso",
    "consigo",
    "disponível",
    "disponivel",
    "livre",
    "fica bom",
    "dá para",
    "da pra",
    "dá pra",
    "gostaria",
    "só",
    "prefer",
    "preferably",
    "best",
    "works for me",
    "work for me",
    "available",
    "free",
    "i can",
    "can't",
    "cannot",
    "only",
    "rather",
];

/// Strong cues: the sentence says what the customer prefers.
const STRONG_CUES: &[&str] = &[
    "prefiro",
    "preferência",
    "preferencia",
    "preferencialmente",
    "prefer",
    "preferably",
];

/// Words that turn a clause into "not then".
const NEGATIONS: &[&str] = &[
    "não", "nao", "nunca", "jamais", "can't", "cannot", "can not", "not", "don't", "won't",
    "unable", "never",
];

/// Words after "segunda", "quinta"… that make them ordinals, not days.
const ORDINAL_NOUNS: &[&str] = &[
    "vez",
    "vezes",
    "opção",
    "opcao",
    "via",
    "consulta",
    "parte",
    "etapa",
    "dose",
    "sessão",
    "sessao",
    "semana",
    "mão",
    "mao",
    "geração",
    "série",
    "serie",
    "fase",
];

/// (key, canonical JSON value, confidence) of the preferences `text`
/// states.
fn preferences(text: &str) -> Vec<(&'static str, String, f32)> {
    let mut preferred: Vec<usize> = Vec::new();
    let mut unavailable: Vec<usize> = Vec::new();
    let mut time: Option<(String, f32)> = None;
    for sentence in split(text, &['.', '!', '?', ';', '\n']) {
        let lower = sentence.to_lowercase();
        let words = words_of(&lower);
        if !PREFERENCE_CUES.iter().any(|c| has_phrase(&words, c)) {
            continue;
        }
        let strong = STRONG_CUES.iter().any(|c| has_phrase(&words, c));
        for clause in clauses(&lower) {
            let words = words_of(clause);
            let negated = NEGATIONS.iter().any(|n| has_phrase(&words, n));
            let days = days_in(&words);
            if negated {
                unavailable.extend(days);
            } else {
                preferred.extend(days);
                // The first time named, unless a later clause is more
                // precise: an hour beats a period of the day.
                let precise = |t: &str| t.contains(':');
                if let Some(t) = time_in(clause, &words)
                    && time
                        .as_ref()
                        .is_none_or(|(old, _)| !precise(old) && precise(&t))
                {
                    time = Some((t, if strong { 0.85 } else { 0.7 }));
                }
            }
        }
    }
    let mut out = Vec::new();
    preferred.retain(|d| !unavailable.contains(d));
    for (key, mut days) in [
        (keys::PREFERRED_DAYS, preferred),
        (keys::UNAVAILABLE_DAYS, unavailable),
    ] {
        days.sort_unstable();
        days.dedup();
        if !days.is_empty() {
            let names: Vec<serde_json::Value> = days.iter().map(|&d| DAYS[d].into()).collect();
            out.push((key, serde_json::Value::Array(names).to_string(), 0.75));
        }
    }
    if let Some((t, c)) = time {
        out.push((keys::PREFERRED_TIME, json_string(&t), c));
    }
    out
}

fn split<'a>(text: &'a str, at: &'a [char]) -> impl Iterator<Item = &'a str> + 'a {
    text.split(at).filter(|s| !s.trim().is_empty())
}

/// A sentence's clauses: split at commas and at "mas" / "but" / "porém".
fn clauses(sentence: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for part in sentence.split(',') {
        let mut rest = part;
        loop {
            let cut = [
                " mas ",
                " but ",
                " porém ",
                " porem ",
                " e não ",
                " and not ",
            ]
            .iter()
            .filter_map(|w| rest.find(w).map(|i| (i, w.len())))
            .min();
            match cut {
                Some((i, len)) if i > 0 => {
                    out.push(&rest[..i]);
                    // Keep "não" with the clause it negates.
                    let skip =
                        if rest[i..].starts_with(" e não ") || rest[i..].starts_with(" and not ") {
                            3
                        } else {
                            len
                        };
                    rest = &rest[i + skip..];
                }
                _ => {
                    out.push(rest);
                    break;
                }
            }
        }
    }
    out
}

/// Lower-case words: letters, digits, apostrophes, ':' (for "14:30") and
/// inner hyphens ("segunda-feira").
fn words_of(s: &str) -> Vec<&str> {
    s.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’' || c == ':' || c == '-'))
        .map(|w| w.trim_matches('-'))
        .filter(|w| !w.is_empty())
        .collect()
}

/// Whether the words hold `phrase` (one or more words) as a whole.
fn has_phrase(words: &[&str], phrase: &str) -> bool {
    let p: Vec<&str> = phrase.split(' ').collect();
    words.windows(p.len()).any(|w| w == p.as_slice())
}

fn days_in(words: &[&str]) -> Vec<usize> {
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let next = words.get(i + 1).copied().unwrap_or("");
        let prev = if i > 0 { words[i - 1] } else { "" };
        let w = w.trim_end_matches("-feira").trim_end_matches("-feiras");
        let weekday = |d: usize| (!ORDINAL_NOUNS.contains(&next)).then_some(d);
        let day = match w {
            "segunda" | "segundas" => weekday(0),
            "terça" | "terca" | "terças" | "tercas" => weekday(1),
            "quarta" | "quartas" => weekday(2),
            "quinta" | "quintas" => weekday(3),
            "sexta" | "sextas" => weekday(4),
            "sábado" | "sabado" | "sábados" | "sabados" => Some(5),
            "domingo" | "domingos" => Some(6),
            "monday" | "mondays" => Some(0),
            "tuesday" | "tuesdays" => Some(1),
            "wednesday" | "wednesdays" => Some(2),
            "thursday" | "thursdays" => Some(3),
            "friday" | "fridays" => Some(4),
            "saturday" | "saturdays" => Some(5),
            "sunday" | "sundays" => Some(6),
            "weekend" | "weekends" => {
                out.extend([5, 6]);
                None
            }
            "weekday" | "weekdays" => {
                out.extend(0..5);
                None
            }
            // "fim de semana", "final de semana"
            "semana"
                if matches!(prev, "de")
                    && i >= 2
                    && matches!(words[i - 2], "fim" | "final" | "fins" | "finais") =>
            {
                out.extend([5, 6]);
                None
            }
            // "dias úteis"
            "úteis" | "uteis" if prev == "dias" => {
                out.extend(0..5);
                None
            }
            _ => None,
        };
        out.extend(day);
    }
    out
}

/// A time of day the clause names: an hour ("às 14h", "14:30", "2pm",
/// "depois das 18h", "before 10am") or a period ("de manhã", "in the
/// afternoon"). Greetings ("boa tarde", "good morning") are not.
fn time_in(clause: &str, words: &[&str]) -> Option<String> {
    if let Some(hour) = hour_in(clause) {
        return Some(hour);
    }
    for (i, w) in words.iter().enumerate() {
        let prev = if i > 0 { words[i - 1] } else { "" };
        let greeting = matches!(prev, "bom" | "boa" | "good" | "buen" | "buenas");
        if greeting {
            continue;
        }
        let period = match *w {
            "manhã" | "manha" | "manhãs" | "manhas" => "morning",
            "tarde" | "tardes"
                if matches!(prev, "à" | "a" | "de" | "da" | "pela" | "às" | "as") =>
            {
                "afternoon"
            }
            "noite" | "noites"
                if matches!(prev, "à" | "a" | "de" | "da" | "pela" | "às" | "as") =>
            {
                "evening"
            }
            "morning" | "mornings" => "morning",
            "afternoon" | "afternoons" => "afternoon",
            "evening" | "evenings" | "night" | "nights" => "evening",
            "meio-dia" | "noon" | "midday" => "12:00",
            _ => continue,
        };
        return Some(period.to_owned());
    }
    None
}

fn hour_in(clause: &str) -> Option<String> {
    let b = clause.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit()
            || (i > 0
                && (b[i - 1].is_ascii_digit() || matches!(b[i - 1], b'/' | b'.' | b',' | b':')))
        {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i - start > 2 {
            continue;
        }
        let mut hour: u32 = clause[start..i].parse().ok()?;
        let rest = &clause[i..];
        let mut minute = 0;
        let shaped = if let Some(m) = rest.strip_prefix(':').or_else(|| rest.strip_prefix('h')) {
            let md: String = m.chars().take_while(char::is_ascii_digit).collect();
            if md.len() == 2 {
                minute = md.parse().unwrap_or(60);
                true
            } else {
                md.is_empty() && rest.starts_with('h')
            }
        } else {
            false
        };
        let after_ws = rest.trim_start();
        let meridiem = ["pm", "p.m"].iter().any(|m| after_ws.starts_with(m)) as i8
            - ["am", "a.m"].iter().any(|m| after_ws.starts_with(m)) as i8;
        let spoken = ["horas", "hs ", "hrs"]
            .iter()
            .any(|w| rest.trim_start().starts_with(w));
        if !(shaped || meridiem != 0 || spoken) {
            continue;
        }
        match meridiem {
            1 if hour < 12 => hour += 12,
            -1 if hour == 12 => hour = 0,
            _ => {}
        }
        if hour > 23 || minute > 59 {
            continue;
        }
        let before = &clause[..start];
        let tail = before.len().saturating_sub(16);
        let tail = (0..=tail)
            .rev()
            .find(|&t| before.is_char_boundary(t))
            .unwrap_or(0);
        let near = &before[tail..];
        let qualifier = if ["depois d", "após", "apos", "a partir d", "after", "from "]
            .iter()
            .any(|q| near.contains(q))
        {
            "after "
        } else if ["antes d", "até", "ate as", "before", "until", "by "]
            .iter()
            .any(|q| near.contains(q))
        {
            "before "
        } else {
            ""
        };
        return Some(format!("{qualifier}{hour:02}:{minute:02}"));
    }
    None
}

// ---------------------------------------------------------------------------
// Validation of a language model's proposals.

/// Why a language model's proposal was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The key is not one ExtractFacts writes.
    UnknownKey,
    /// The cited message does not hold the value (the detectors do not find
    /// it there, or the rules do not read it that way).
    NotInMessage,
}

/// Checks a model's proposal of `key` = `value` against the cited message
/// `text`: a document, phone, e-mail or name must be one the detectors find
/// there (same value once normalised); days must be named there, a time
/// must be read there by the same patterns. Returns the proposal as the
/// rules write it (normalised value; the detector's confidence, or 0.7).
pub fn validate(
    key: &str,
    value: &serde_json::Value,
    text: &str,
    message: usize,
) -> Result<Proposal, Refusal> {
    let known = [
        keys::NAME,
        keys::PHONE,
        keys::EMAIL,
        keys::CPF,
        keys::CNPJ,
        keys::CNS,
        keys::SSN,
        keys::PREFERRED_DAYS,
        keys::UNAVAILABLE_DAYS,
        keys::PREFERRED_TIME,
    ];
    let Some(&key) = known.iter().find(|k| **k == key) else {
        return Err(Refusal::UnknownKey);
    };
    let proposal = |value: String, confidence: f32| Proposal {
        key,
        value,
        message,
        confidence,
    };
    let lower = text.to_lowercase();
    match key {
        keys::PREFERRED_DAYS | keys::UNAVAILABLE_DAYS => {
            let named = days_in(&words_of(&lower));
            let mut days = Vec::new();
            for day in value.as_array().ok_or(Refusal::NotInMessage)? {
                let d = DAYS
                    .iter()
                    .position(|n| Some(*n) == day.as_str())
                    .filter(|d| named.contains(d))
                    .ok_or(Refusal::NotInMessage)?;
                days.push(d);
            }
            days.sort_unstable();
            days.dedup();
            if days.is_empty() {
                return Err(Refusal::NotInMessage);
            }
            let names: Vec<serde_json::Value> = days.iter().map(|&d| DAYS[d].into()).collect();
            Ok(proposal(serde_json::Value::Array(names).to_string(), 0.7))
        }
        keys::PREFERRED_TIME => {
            let wanted = value.as_str().ok_or(Refusal::NotInMessage)?;
            clauses(&lower)
                .into_iter()
                .filter_map(|c| time_in(c, &words_of(c)))
                .find(|t| t == wanted)
                .map(|t| proposal(json_string(&t), 0.7))
                .ok_or(Refusal::NotInMessage)
        }
        _ => {
            let wanted = normalise(key, value.as_str().ok_or(Refusal::NotInMessage)?);
            pii::detect(text)
                .iter()
                .filter_map(|f| {
                    let raw = &text[f.start..f.end];
                    let found = if f.kind == PiiKind::PersonName {
                        (keys::NAME, raw.to_owned())
                    } else {
                        pii_fact(text, f)?
                    };
                    (found == (key, wanted.clone())).then_some(f.confidence)
                })
                .next()
                .map(|c| proposal(json_string(&wanted), c))
                .ok_or(Refusal::NotInMessage)
        }
    }
}

/// A value of a personal-data key written the way [`pii_fact`] writes it.
fn normalise(key: &str, raw: &str) -> String {
    let raw = raw.trim();
    let digits = || raw.chars().filter(char::is_ascii_digit).collect::<String>();
    match key {
        keys::CPF | keys::CNS | keys::SSN => digits(),
        keys::CNPJ => raw
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect(),
        keys::PHONE if raw.starts_with('+') => format!("+{}", digits()),
        keys::PHONE => digits(),
        keys::EMAIL => raw.to_lowercase(),
        _ => raw.to_owned(),
    }
}

/// Orders proposals by message (stable) and drops those that repeat the
/// value a key already has at that point.
pub fn merge(mut proposals: Vec<Proposal>) -> Vec<Proposal> {
    proposals.sort_by_key(|p| p.message);
    let mut out: Vec<Proposal> = Vec::new();
    for p in proposals {
        let seen = out
            .iter()
            .rev()
            .find(|q| q.key == p.key)
            .is_some_and(|q| q.value == p.value);
        if !seen {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(&'static str, String)> {
        extract(&[text])
            .into_iter()
            .map(|p| (p.key, p.value))
            .collect()
    }

    fn s(v: &str) -> String {
        json_string(v)
    }

    #[test]
    fn identity_and_contact_from_the_customer() {
        assert_eq!(
            found(
                "Oi, meu nome é Maria da Silva, meu CPF é 529.982.247-25 e o celular (11) 98765-4321"
            ),
            [
                (keys::NAME, s("Maria da Silva")),
                (keys::CPF, s("52998224725")),
                (keys::PHONE, s("11987654321")),
            ]
        );
        assert_eq!(
            found("my name is John Smith, email John.Smith@Example.com"),
            [
                (keys::NAME, s("John Smith")),
                (keys::EMAIL, s("john.smith@example.com")),
            ]
        );
    }

    #[test]
    fn third_parties_cards_and_wrong_digits_are_not_proposed() {
        // A doctor is not the customer; a card is never kept; a CPF with a
        // wrong check digit is not a CPF; an order number is not a phone.
        assert!(found("Quero marcar com a Dra. Ana Paula").is_empty());
        assert!(found("meu cartão é 4111 1111 1111 1111").is_empty());
        assert!(found("meu CPF é 529.982.247-26").is_empty());
        assert!(found("o pedido 123456789 não chegou").is_empty());
    }

    #[test]
    fn preferred_and_unavailable_days() {
        assert_eq!(
            found("Prefiro terça ou quinta, não posso na segunda-feira."),
            [
                (keys::PREFERRED_DAYS, r#"["tuesday","thursday"]"#.into()),
                (keys::UNAVAILABLE_DAYS, r#"["monday"]"#.into()),
            ]
        );
        assert_eq!(
            found("I'd prefer Mondays or Wednesdays, but not Friday"),
            [
                (keys::PREFERRED_DAYS, r#"["monday","wednesday"]"#.into()),
                (keys::UNAVAILABLE_DAYS, r#"["friday"]"#.into()),
            ]
        );
        assert_eq!(
            found("Só consigo no fim de semana"),
            [(keys::PREFERRED_DAYS, r#"["saturday","sunday"]"#.into())]
        );
        // An ordinal, and a day with no preference stated, say nothing.
        assert!(found("É a segunda vez que ligo").is_empty());
        assert!(found("Fui ao médico na segunda").is_empty());
    }

    #[test]
    fn preferred_times() {
        assert_eq!(
            found("Pode ser de manhã?"),
            [(keys::PREFERRED_TIME, s("morning"))]
        );
        assert_eq!(
            found("Prefiro depois das 18h"),
            [(keys::PREFERRED_TIME, s("after 18:00"))]
        );
        assert_eq!(
            found("Mornings are best for me, ideally before 10am"),
            [(keys::PREFERRED_TIME, s("before 10:00"))]
        );
        assert_eq!(
            found("Melhor às 14:30 na quarta"),
            [
                (keys::PREFERRED_DAYS, r#"["wednesday"]"#.into()),
                (keys::PREFERRED_TIME, s("14:30")),
            ]
        );
        // Greetings, "amanhã" and a time with no preference are not.
        assert!(found("Boa tarde! Posso remarcar?").is_empty());
        assert!(found("Pode ser amanhã?").is_empty());
        assert!(found("Tomei o remédio às 8h").is_empty());
    }

    #[test]
    fn a_repeated_value_is_proposed_once_a_changed_one_again() {
        let texts = [
            "meu email é a@b.com",
            "sim, a@b.com",
            "na verdade mudou: c@d.com",
        ];
        let got: Vec<_> = extract(&texts)
            .into_iter()
            .map(|p| (p.message, p.value))
            .collect();
        assert_eq!(got, [(0, s("a@b.com")), (2, s("c@d.com"))]);
    }

    #[test]
    fn model_proposals_are_checked_against_the_message() {
        let text = "Meu CPF é 529.982.247-25; quem fala é o Pedro Alves. Sextas são ótimas";
        let cpf = validate(keys::CPF, &"529.982.247-25".into(), text, 3).unwrap();
        assert_eq!((cpf.value.as_str(), cpf.message), (r#""52998224725""#, 3));
        // What the rules miss but the message holds: a name without a
        // first-person cue, a day stated without a cue word.
        assert!(validate(keys::NAME, &"Pedro Alves".into(), text, 0).is_ok());
        let days = serde_json::json!(["friday"]);
        assert!(validate(keys::PREFERRED_DAYS, &days, text, 0).is_ok());
        // A number the message does not hold, a wrong check digit, a
        // garbled name, a day not said and a key the rules do not write
        // are refused.
        assert_eq!(
            validate(keys::CPF, &"111.444.777-35".into(), text, 0),
            Err(Refusal::NotInMessage)
        );
        assert_eq!(
            validate(keys::CPF, &"529.982.247-26".into(), text, 0),
            Err(Refusal::NotInMessage)
        );
        assert_eq!(
            validate(keys::NAME, &"Pedro Alvares".into(), text, 0),
            Err(Refusal::NotInMessage)
        );
        assert_eq!(
            validate(
                keys::PREFERRED_DAYS,
                &serde_json::json!(["monday"]),
                text,
                0
            ),
            Err(Refusal::NotInMessage)
        );
        assert_eq!(
            validate("diagnosis", &"flu".into(), text, 0),
            Err(Refusal::UnknownKey)
        );
    }
}
