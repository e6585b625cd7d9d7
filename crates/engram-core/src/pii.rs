//! PII detectors: pure, no I/O. Each finding has a type, a byte span and a
//! confidence. What can be validated is validated — CPF, CNPJ (numeric and
//! the alphanumeric form of 2026), CNS by their check digits, payment
//! cards by Luhn, SSNs by the ranges never issued — so that an order
//! number, a date or a number with a wrong check digit is not reported as
//! a document.

mod gazetteer;

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// What a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    /// Brazilian individual taxpayer number.
    Cpf,
    /// Brazilian company taxpayer number (numeric or alphanumeric).
    Cnpj,
    /// Cartão Nacional de Saúde.
    Cns,
    Phone,
    Email,
    PaymentCard,
    /// US Social Security number.
    Ssn,
    PersonName,
}

impl PiiKind {
    pub const ALL: [PiiKind; 8] = [
        PiiKind::Cpf,
        PiiKind::Cnpj,
        PiiKind::Cns,
        PiiKind::Phone,
        PiiKind::Email,
        PiiKind::PaymentCard,
        PiiKind::Ssn,
        PiiKind::PersonName,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PiiKind::Cpf => "cpf",
            PiiKind::Cnpj => "cnpj",
            PiiKind::Cns => "cns",
            PiiKind::Phone => "phone",
            PiiKind::Email => "email",
            PiiKind::PaymentCard => "card",
            PiiKind::Ssn => "ssn",
            PiiKind::PersonName => "name",
        }
    }
}

/// One piece of personal data found in a text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: PiiKind,
    /// Byte offsets in the text: `text[start..end]`.
    pub start: usize,
    pub end: usize,
    /// 0..1.
    pub confidence: f32,
}

/// Every finding in `text`, in order, without overlaps (the more
/// confident of two overlapping findings wins).
pub fn detect(text: &str) -> Vec<Finding> {
    let mut found = Vec::new();
    found.extend(emails(text));
    found.extend(numbers(text));
    found.extend(alphanumeric_cnpjs(text));
    found.extend(names(text));
    found.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then(a.start.cmp(&b.start))
    });
    let mut kept: Vec<Finding> = Vec::new();
    for f in found {
        if kept.iter().all(|k| f.end <= k.start || f.start >= k.end) {
            kept.push(f);
        }
    }
    kept.sort_by_key(|f| f.start);
    kept
}

// ---------------------------------------------------------------------------
// Check digits.

fn digits_of(s: &str) -> Vec<u32> {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| u32::from(b - b'0'))
        .collect()
}

/// Mod-11 check digit with weights counting down to 2 (CPF's rule).
fn mod11_countdown(values: &[u32], first_weight: u32) -> u32 {
    let sum: u32 = values
        .iter()
        .enumerate()
        .map(|(i, v)| v * (first_weight - i as u32))
        .sum();
    let r = sum % 11;
    if r < 2 { 0 } else { 11 - r }
}

/// A CPF's 11 digits are valid: both check digits right, not all equal.
pub fn valid_cpf(digits: &[u32]) -> bool {
    digits.len() == 11
        && digits.iter().any(|d| *d != digits[0])
        && mod11_countdown(&digits[..9], 10) == digits[9]
        && mod11_countdown(&digits[..10], 11) == digits[10]
}

/// CNPJ check digit over `values` (character value = ASCII code − 48, so
/// digits are themselves and letters 17..=42): weights 2..=9 from the
/// right, cycling.
fn cnpj_dv(values: &[u32]) -> u32 {
    let sum: u32 = values
        .iter()
        .rev()
        .enumerate()
        .map(|(i, v)| v * (2 + (i as u32 % 8)))
        .sum();
    let r = sum % 11;
    if r < 2 { 0 } else { 11 - r }
}

/// A CNPJ's 14 characters (12 of `[0-9A-Z]`, then 2 digits) are valid.
pub fn valid_cnpj(chars: &[u8]) -> bool {
    if chars.len() != 14
        || !chars[..12]
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        || !chars[12..].iter().all(u8::is_ascii_digit)
        || chars.iter().all(|c| *c == chars[0])
    {
        return false;
    }
    let values: Vec<u32> = chars.iter().map(|c| u32::from(*c) - 48).collect();
    cnpj_dv(&values[..12]) == values[12] && cnpj_dv(&values[..13]) == values[13]
}

/// A CNS's 15 digits are valid: the weighted sum (15 down to 1) is a
/// multiple of 11, and the first digit is one the Ministry issues (1 or 2:
/// definitive; 7, 8 or 9: provisional).
pub fn valid_cns(digits: &[u32]) -> bool {
    digits.len() == 15
        && matches!(digits[0], 1 | 2 | 7..=9)
        && digits
            .iter()
            .enumerate()
            .map(|(i, d)| d * (15 - i as u32))
            .sum::<u32>()
            % 11
            == 0
}

/// Luhn's checksum.
pub fn luhn(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    !digits.is_empty() && sum.is_multiple_of(10)
}

fn card_prefix(digits: &[u32]) -> bool {
    let n = |k: usize| digits[..k].iter().fold(0u32, |acc, d| acc * 10 + d);
    let len = digits.len();
    (digits[0] == 4 && matches!(len, 13 | 16 | 19))
        || ((51..=55).contains(&n(2)) || (2221..=2720).contains(&n(4))) && len == 16
        || matches!(n(2), 34 | 37) && len == 15
        || (n(4) == 6011 || n(2) == 65 || (644..=649).contains(&n(3))) && len >= 16
        || matches!(
            n(6),
            636368 | 438935 | 504175 | 451416 | 636297 | 606282 | 627780
        ) && len >= 16
        || ((506699..=506778).contains(&n(6)) || (509000..=509999).contains(&n(6))) && len == 16
        || (3528..=3589).contains(&n(4)) && len >= 16
        || matches!(n(2), 36 | 38) && len == 14
}

// ---------------------------------------------------------------------------
// Numbers: runs of digits with single separators between groups.

/// A run of digit groups: its span, its digits, and the groups' lengths
/// and separators.
#[derive(Debug)]
struct Run {
    start: usize,
    end: usize,
    digits: Vec<u32>,
    /// Sizes of the digit groups.
    groups: Vec<usize>,
    /// The separator after each group but the last.
    seps: Vec<u8>,
    /// The run started with `+`.
    plus: bool,
    /// An area code in parentheses: `(11)`, `(602)`.
    paren_area: bool,
    /// Where each group's digits are (byte ranges).
    bounds: Vec<(usize, usize)>,
}

impl Run {
    /// The run of groups `from..to` alone (a number written right after
    /// another, a space apart).
    fn part(&self, text: &str, from: usize, to: usize) -> Run {
        let start = if from == 0 {
            self.start
        } else {
            self.bounds[from].0
        };
        let end = self.bounds[to - 1].1;
        Run {
            start,
            end,
            digits: digits_of(&text[start..end]),
            groups: self.groups[from..to].to_vec(),
            seps: self.seps[from..to - 1].to_vec(),
            plus: self.plus && from == 0,
            paren_area: self.paren_area && from == 0,
            bounds: self.bounds[from..to].to_vec(),
        }
    }
}

fn is_sep(b: u8) -> bool {
    matches!(b, b'.' | b'-' | b'/' | b' ')
}

fn runs(text: &str) -> Vec<Run> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let boundary_before = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        let plus = b[i] == b'+' && i + 1 < b.len() && b[i + 1].is_ascii_digit();
        // "(11)" or "(602)": the digits between the parentheses.
        let paren_digits = (b[i] == b'(')
            .then(|| b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count())
            .filter(|&n| matches!(n, 2 | 3) && b.get(i + 1 + n) == Some(&b')'));
        let paren = paren_digits.is_some();
        if !(boundary_before && (b[i].is_ascii_digit() || plus || paren)) {
            i += 1;
            continue;
        }
        let start = i;
        let mut j = i;
        let mut groups = Vec::new();
        let mut seps = Vec::new();
        let mut bounds = Vec::new();
        if plus {
            j += 1;
        }
        if let Some(n) = paren_digits {
            groups.push(n);
            bounds.push((i + 1, i + 1 + n));
            j += n + 2;
            if j < b.len() && b[j] == b' ' {
                j += 1;
            }
            seps.push(b')');
        }
        loop {
            let g = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j == g {
                // Only after "(11) " with no number behind it.
                break;
            }
            groups.push(j - g);
            bounds.push((g, j));
            if j + 1 < b.len() && is_sep(b[j]) && b[j + 1].is_ascii_digit() {
                seps.push(b[j]);
                j += 1;
            } else {
                break;
            }
        }
        let end = j;
        // A run glued to letters ("abc123", "123abc") is a code, not a
        // number of a person.
        let glued = end < b.len() && (b[end].is_ascii_alphabetic() || b[end] == b'_');
        let bare_area = paren && groups.len() == 1;
        if !glued && !bare_area {
            let text_run = &text[start..end];
            out.push(Run {
                start,
                end,
                digits: digits_of(text_run),
                groups,
                seps,
                plus,
                paren_area: paren,
                bounds,
            });
        }
        i = end.max(i + 1);
    }
    out
}

/// The words right before a number (a window of ~40 bytes, lower-cased),
/// where its label is: "cpf", "telefone", "cartão". Lower-cased once per
/// number, however many labels are asked about.
struct Labels(String);

impl Labels {
    fn before(text: &str, at: usize) -> Self {
        let mut from = at.saturating_sub(40);
        while !text.is_char_boundary(from) {
            from -= 1;
        }
        Labels(text[from..at].to_lowercase())
    }

    /// Whether one of `cues` is there.
    fn any(&self, cues: &[&str]) -> bool {
        cues.iter().any(|c| self.0.contains(c))
    }

    /// How far before the number (in bytes) the nearest of `cues` ends.
    fn nearest(&self, cues: &[&str]) -> Option<usize> {
        cues.iter()
            .filter_map(|c| self.0.rfind(c).map(|i| self.0.len() - (i + c.len())))
            .min()
    }
}

const CPF_CUES: &[&str] = &["cpf"];
const CNPJ_CUES: &[&str] = &["cnpj"];
const CNS_CUES: &[&str] = &[
    "cns",
    "cartão sus",
    "cartao sus",
    "cartão nacional de saúde",
    "sus",
];
const PHONE_CUES: &[&str] = &[
    "tel", "fone", "celular", "whats", "zap", "contato", "ligar", "liga", "phone", "call",
    "mobile", "número", "numero",
];
const CARD_CUES: &[&str] = &[
    "cartão", "cartao", "card", "crédito", "credito", "débito", "debito",
];
const SSN_CUES: &[&str] = &["ssn", "social security"];
/// Words that say a number is something else: an order, a protocol, a
/// date, an amount.
const NOT_PII_CUES: &[&str] = &[
    "pedido",
    "protocol",
    "order",
    "invoice",
    "ticket",
    "cep",
    "zip code",
    "nota fiscal",
    "nf ",
    "boleto",
    "código",
    "codigo",
    "r$",
    "us$",
    "processo",
    "rastreio",
    "tracking",
    "confirmation",
    "confirmação",
    "confirmacao",
    "exame",
    "exam ",
];

fn is_date_shape(r: &Run) -> bool {
    let g = &r.groups;
    let all_same_sep = r.seps.iter().all(|s| matches!(s, b'/' | b'-' | b'.'));
    all_same_sep
        && ((g.len() == 3 && g[0] <= 2 && g[1] <= 2 && matches!(g[2], 2 | 4))
            || (g.len() == 3 && g[0] == 4 && g[1] <= 2 && g[2] <= 2))
}

fn finding(kind: PiiKind, r: &Run, confidence: f32) -> Finding {
    Finding {
        kind,
        start: r.start,
        end: r.end,
        confidence,
    }
}

fn numbers(text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in runs(text) {
        if is_boleto_line(&r) {
            continue;
        }
        if let Some(f) = classify_number(text, &r) {
            out.push(f);
            continue;
        }
        // Two numbers a space apart read as one run: from the left, the
        // longest piece ending at a space that is a number, then the rest.
        // Only where the run says it holds two: other separators beside
        // the spaces, or plain numbers a space apart (groups of digits
        // with spaces only, "4006 5528 1609 6779", are one number).
        let n = r.groups.len();
        let mixed = r.seps.iter().any(|s| *s != b' ');
        let plain_numbers = r.groups.iter().all(|g| *g >= 8);
        if !mixed && !plain_numbers {
            continue;
        }
        let cuts: Vec<usize> = (1..n).filter(|&k| r.seps[k - 1] == b' ').collect();
        let mut from = 0;
        while !cuts.is_empty() && from < n {
            let ends = cuts.iter().copied().filter(|&k| k > from).chain([n]);
            let ends: Vec<usize> = ends.filter(|&to| (from, to) != (0, n)).collect();
            let found = ends
                .iter()
                .rev()
                .find_map(|&to| classify_number(text, &r.part(text, from, to)).map(|f| (f, to)));
            from = match found {
                Some((f, to)) => {
                    out.push(f);
                    to
                }
                None => cuts.iter().copied().find(|&k| k > from).unwrap_or(n),
            };
        }
    }
    out
}

/// A bank slip's typed line ("linha digitável": 00190.00009
/// 01234.567890 12345.678901 9 12340000010000): none of its fields is
/// personal data, though its last 14 digits may pass CNPJ's check.
fn is_boleto_line(r: &Run) -> bool {
    r.groups.starts_with(&[5, 5, 5, 6, 5, 6]) && [0, 2, 4].iter().all(|&k| r.seps[k] == b'.')
}

fn classify_number(text: &str, r: &Run) -> Option<Finding> {
    if is_date_shape(r) {
        return None;
    }
    let d = &r.digits;
    let g = &r.groups;
    let labels = Labels::before(text, r.start);
    let cue = |cues: &[&str]| labels.any(cues);
    let not_pii = cue(NOT_PII_CUES);
    let seps: Vec<u8> = r.seps.clone();
    let plain = g.len() == 1;

    // CPF: 11 digits. 000.000.000-00, 11 plain digits, or the shapes
    // people type, groups ending in the two check digits (000000000-00,
    // 000 000 000 00, 000.000.000.00…); after "cpf", any grouping.
    if d.len() == 11 {
        // "CPF 529.982.247-25, fone 11999998888": the nearer label says.
        let cpf_cue = match (labels.nearest(CPF_CUES), labels.nearest(PHONE_CUES)) {
            (Some(cpf), Some(phone)) => cpf < phone,
            (cpf, _) => cpf.is_some(),
        };
        let canonical = g == &[3, 3, 3, 2] && seps == [b'.', b'.', b'-'];
        let typed = !plain && g.last() == Some(&2);
        if valid_cpf(d) && (canonical || typed || plain || cpf_cue) {
            let confidence = match (canonical, typed, cpf_cue) {
                (_, _, true) => 0.99,
                (true, _, false) => 0.95,
                (false, true, false) if not_pii => return None,
                (false, true, false) => 0.9,
                (false, false, false) if not_pii => return None,
                (false, false, false) => 0.7,
            };
            // Eleven plain digits are also a mobile number's shape: without
            // a CPF cue, a phone cue wins; so it does for a phone's grouping.
            if !canonical && !typed && (!plain || !cpf_cue) && cue(PHONE_CUES) {
                return phone(r, &labels);
            }
            return Some(finding(PiiKind::Cpf, r, confidence));
        }
        if canonical || typed || (plain && cpf_cue) {
            // A CPF's shape with wrong check digits: a typo or a made-up
            // number, nothing else.
            return None;
        }
    }
    // CNPJ (numeric): 14 digits, 00.000.000/0000-00, plain, or groups
    // ending in the two check digits (00000000/0000-00, spaced).
    let cnpj_cue = cue(CNPJ_CUES);
    if d.len() == 14 && (plain || g.last() == Some(&2)) {
        let canonical = g == &[2, 3, 3, 4, 2] && seps == [b'.', b'.', b'/', b'-'];
        let bytes: Vec<u8> = d.iter().map(|v| b'0' + *v as u8).collect();
        if valid_cnpj(&bytes) {
            if !canonical && not_pii && !cnpj_cue {
                return None;
            }
            let confidence = match (canonical || cnpj_cue, plain) {
                (true, _) => 0.97,
                (false, false) => 0.9,
                (false, true) => 0.75,
            };
            return Some(finding(PiiKind::Cnpj, r, confidence));
        }
    }
    // CNS: 15 digits, plain or 000 0000 0000 0000; after a CNS cue, any
    // grouping.
    let cns_cue = cue(CNS_CUES);
    let cns_shape = d.len() == 15
        && (plain
            || cns_cue
            || (g == &[3, 4, 4, 4] && seps.iter().all(|s| *s == b' ' || *s == b'.')));
    if cns_shape && valid_cns(d) {
        if not_pii && !cns_cue {
            return None;
        }
        let confidence = if cns_cue { 0.97 } else { 0.8 };
        return Some(finding(PiiKind::Cns, r, confidence));
    }
    // Payment cards: 13-19 digits in groups of 4 (Amex 4-6-5) or plain,
    // Luhn-valid with a known issuer prefix.
    let card_shape = (13..=19).contains(&d.len())
        && (plain
            || g.iter().take(g.len() - 1).all(|n| *n == 4)
            || g == &[4, 6, 5]
            || g == &[4, 6, 4])
        && seps.iter().all(|s| matches!(s, b' ' | b'-' | b'.'));
    if card_shape && luhn(d) && card_prefix(d) {
        if not_pii && !cue(CARD_CUES) {
            return None;
        }
        let confidence = if cue(CARD_CUES) || !plain { 0.95 } else { 0.8 };
        return Some(finding(PiiKind::PaymentCard, r, confidence));
    }
    // SSN: 000-00-0000 (or spaced, dotted, plain after a cue), never
    // issued: area 000, 666 or 9xx; group 00; serial 0000.
    let ssn_cue = cue(SSN_CUES);
    let ssn_shape = (g == &[3, 2, 4] && seps == [b'-', b'-'])
        || (ssn_cue
            && ((g == &[3, 2, 4] && seps[0] == seps[1] && matches!(seps[0], b' ' | b'.'))
                || (plain && d.len() == 9)));
    if ssn_shape {
        let area = d[0] * 100 + d[1] * 10 + d[2];
        let group = d[3] * 10 + d[4];
        let serial = d[5..].iter().fold(0, |a, x| a * 10 + x);
        if area != 0 && area != 666 && area < 900 && group != 0 && serial != 0 {
            let confidence = if ssn_cue { 0.97 } else { 0.85 };
            return Some(finding(PiiKind::Ssn, r, confidence));
        }
        return None;
    }
    // "Número do pedido": a word that names a phone number does not save
    // a bare run of digits the sentence says is something else.
    let bare = plain && !r.plus && !r.paren_area;
    if not_pii && (bare || !cue(PHONE_CUES)) {
        return None;
    }
    phone(r, &labels)
}

/// Brazilian numbers (area code 11-99; landline 8 digits starting 2-5;
/// mobile 9 digits starting with 9), with or without +55 or 55, with a
/// trunk 0 before the area code, or without an area code; North American
/// numbers written as such ((602) 819-4460, 602-819-4460); other E.164
/// numbers written with their `+`. Company service numbers (0800, 0300,
/// and 4004-…, 3003-… without an area code; North American 800, 833…888)
/// are nobody's.
fn phone(r: &Run, labels: &Labels) -> Option<Finding> {
    let d = &r.digits;
    let cue = labels.any(PHONE_CUES);
    let local_ok = |rest: &[u32]| {
        (rest.len() == 9 && rest[0] == 9) || (rest.len() == 8 && (2..=5).contains(&rest[0]))
    };
    // 4004-xxxx, 3003-xxxx without an area code: one number for every
    // city of a company (with an area code, an ordinary landline).
    let service = |local: &[u32]| local.len() == 8 && matches!(local[..3], [4, 0, 0] | [3, 0, 0]);
    let area_ok = |a: &[u32]| a[0] >= 1 && a[1] >= 1;
    if d.len() >= 4 && d[0] == 0 && matches!(d[1..4], [8, 0, 0] | [3, 0, 0] | [5, 0, 0] | [9, 0, 0])
    {
        return None;
    }
    // With the country code: +55 11 98765-4321, 5511987654321.
    if d.len() >= 12
        && d[0] == 5
        && d[1] == 5
        && (r.plus || r.groups[0] == 2 || r.groups.len() == 1)
    {
        let rest = &d[2..];
        if rest.len() >= 10 && area_ok(&rest[..2]) && local_ok(&rest[2..]) {
            return Some(finding(
                PiiKind::Phone,
                r,
                if r.plus || cue { 0.95 } else { 0.85 },
            ));
        }
    }
    // North American toll-free numbers (800, 833, 844, 855, 866, 877,
    // 888), with or without the country code: a company's, like 0800.
    let toll_free = |n: &[u32]| {
        n.len() == 10 && n[0] == 8 && (n[1] == n[2] && (3..=8).contains(&n[1]) || n[1..3] == [0, 0])
    };
    // Written the North American way only: "(83) 3214-5678" is a landline
    // of João Pessoa.
    let nanp_written = r.groups.ends_with(&[3, 3, 4]);
    if nanp_written && (toll_free(d) || (d.len() == 11 && d[0] == 1 && toll_free(&d[1..]))) {
        return None;
    }
    if r.plus {
        // Other countries: E.164 allows up to 15 digits.
        if (8..=15).contains(&d.len()) && d[0] != 0 {
            return Some(finding(PiiKind::Phone, r, if cue { 0.95 } else { 0.85 }));
        }
        return None;
    }
    // Written in groups, a number ends in a group of four (or is the area
    // code and the number: 11 987654321).
    let g = &r.groups;
    let grouped_ok = g.len() == 1 || g.last() == Some(&4) || (g.len() == 2 && g[0] == 2);
    // With the area code: (11) 98765-4321, 11 98765-4321, 11987654321,
    // and a trunk 0 before it: 011 9 8765 4321.
    let national = if d.len() >= 11 && d[0] == 0 {
        &d[1..]
    } else {
        &d[..]
    };
    if (national.len() == 10 || national.len() == 11)
        && area_ok(&national[..2])
        && local_ok(&national[2..])
        && grouped_ok
    {
        let structured = r.paren_area || g.len() >= 2;
        let confidence = match (structured, cue) {
            (_, true) => 0.95,
            (true, false) => 0.85,
            (false, false) => 0.6,
        };
        return Some(finding(PiiKind::Phone, r, confidence));
    }
    // North American: (602) 819-4460, 602-819-4460, 602.819.4460,
    // 1-602-819-4460; area and exchange never start with 0 or 1.
    let nanp = if d.len() == 11 && d[0] == 1 && g[0] == 1 {
        &d[1..]
    } else {
        &d[..]
    };
    let nanp_groups = g.ends_with(&[3, 3, 4])
        && (r.paren_area
            || r.seps
                .iter()
                .all(|s| *s == r.seps[0] && matches!(s, b'-' | b'.' | b' ')));
    if nanp.len() == 10 && nanp_groups && nanp[0] >= 2 && nanp[3] >= 2 {
        return Some(finding(PiiKind::Phone, r, if cue { 0.95 } else { 0.85 }));
    }
    // Without it: 98765-4321, 3456-7890; after a phone cue also plain or
    // spaced (987654321, 9 8765 4321).
    if (d.len() == 8 || d.len() == 9) && local_ok(d) && !service(d) {
        if g.len() == 2 && g[1] == 4 && r.seps == [b'-'] {
            return Some(finding(PiiKind::Phone, r, if cue { 0.9 } else { 0.7 }));
        }
        if cue && (g.len() == 1 || g.last() == Some(&4)) {
            return Some(finding(PiiKind::Phone, r, 0.85));
        }
    }
    None
}

/// Alphanumeric CNPJs (from July 2026): AA.AAA.AAA/AAAA-00 or 14 plain
/// characters, upper-case letters and digits, the last two digits,
/// at least one letter (the numeric ones are found with the numbers).
fn alphanumeric_cnpjs(text: &str) -> Vec<Finding> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let is_char = |c: u8| c.is_ascii_digit() || c.is_ascii_uppercase();
    let mut i = 0;
    while i < b.len() {
        if !is_char(b[i]) || (i > 0 && b[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        let mut j = i;
        let mut chars = Vec::new();
        while j < b.len()
            && (is_char(b[j]) || matches!(b[j], b'.' | b'/' | b'-'))
            && chars.len() <= 14
        {
            if is_char(b[j]) {
                chars.push(b[j]);
            }
            j += 1;
        }
        while j > i && !is_char(b[j - 1]) {
            j -= 1;
        }
        let boundary_after = j >= b.len() || !b[j].is_ascii_alphanumeric();
        let span = &text[i..j];
        let formatted = span.len() == 18
            && span.as_bytes()[2] == b'.'
            && span.as_bytes()[6] == b'.'
            && span.as_bytes()[10] == b'/'
            && span.as_bytes()[15] == b'-';
        let plain = span.len() == 14;
        if boundary_after
            && (formatted || plain)
            && chars.iter().any(u8::is_ascii_uppercase)
            && valid_cnpj(&chars)
        {
            let confidence = if formatted || Labels::before(text, i).any(CNPJ_CUES) {
                0.97
            } else {
                0.8
            };
            out.push(Finding {
                kind: PiiKind::Cnpj,
                start: i,
                end: j,
                confidence,
            });
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------
// E-mail addresses.

/// Mailboxes of an office, not of a person ("contato@clinica.com.br",
/// "support@…"): no personal data, as a company's 0800 number is none.
const ROLE_MAILBOXES: &[&str] = &[
    "contato",
    "contact",
    "atendimento",
    "sac",
    "suporte",
    "support",
    "info",
    "noreply",
    "no-reply",
    "financeiro",
    "recepcao",
    "comercial",
    "vendas",
    "sales",
    "help",
    "faleconosco",
    "ouvidoria",
    "agendamento",
    "agendamentos",
    "secretaria",
    "billing",
    "hello",
    "office",
];

fn emails(text: &str) -> Vec<Finding> {
    let b = text.as_bytes();
    let local = |c: u8| c.is_ascii_alphanumeric() || b"._%+-".contains(&c);
    let domain = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'.';
    let mut out = Vec::new();
    for (at, _) in text.match_indices('@') {
        let mut s = at;
        while s > 0 && local(b[s - 1]) {
            s -= 1;
        }
        while s < at && b[s] == b'.' {
            s += 1;
        }
        let mut e = at + 1;
        while e < b.len() && domain(b[e]) {
            e += 1;
        }
        while e > at + 1 && matches!(b[e - 1], b'.' | b'-') {
            e -= 1;
        }
        let host = &text[at + 1..e];
        let tld_ok = host.rsplit_once('.').is_some_and(|(name, tld)| {
            !name.is_empty() && tld.len() >= 2 && tld.bytes().all(|c| c.is_ascii_alphabetic())
        });
        let role = ROLE_MAILBOXES.contains(&text[s..at].to_ascii_lowercase().as_str());
        if s < at && tld_ok && !host.contains("..") && !role {
            out.push(Finding {
                kind: PiiKind::Email,
                start: s,
                end: e,
                confidence: 0.98,
            });
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Person names.

/// Phrases after which a name comes (matched in lower case).
const NAME_CUES: &[&str] = &[
    "meu nome é ",
    "meu nome e ",
    "me chamo ",
    "nome completo é ",
    "nome completo: ",
    "nome: ",
    "aqui é a ",
    "aqui é o ",
    "aqui e a ",
    "aqui e o ",
    "aqui é ",
    "aqui e ",
    "falei com a ",
    "falei com o ",
    "falar com a ",
    "falar com o ",
    "falar com ",
    "fala com ",
    "falei com ",
    "falei c/ ",
    "fala c/ ",
    "eu sou ",
    // Someone's things: "o zap da italo", "o celular do enzo".
    "zap da ",
    "zap do ",
    "whats da ",
    "whats do ",
    "whatsapp da ",
    "whatsapp do ",
    "celular da ",
    "celular do ",
    "telefone da ",
    "telefone do ",
    "numero da ",
    "numero do ",
    "número da ",
    "número do ",
    "email da ",
    "email do ",
    "e-mail da ",
    "e-mail do ",
    "quem fala é ",
    "quem fala e ",
    "paciente: ",
    "patient: ",
    "cliente: ",
    "contato: ",
    "contact: ",
    "nome da mãe: ",
    "nome da mae: ",
    "nome do pai: ",
    "nome do paciente: ",
    "nome da paciente: ",
    "meu marido ",
    "minha esposa ",
    "minha mulher ",
    "minha filha ",
    "meu filho ",
    "minha mãe ",
    "minha mae ",
    "meu pai ",
    "minha irmã ",
    "minha irma ",
    "meu irmão ",
    "meu irmao ",
    "my mom, ",
    "my mom ",
    "my dad ",
    "my wife ",
    "my husband ",
    "my son ",
    "my daughter ",
    "my sister ",
    "my brother ",
    "my mother ",
    "my father ",
    "my nephew ",
    "my niece ",
    "my grandson ",
    "my granddaughter ",
    "my grandma ",
    "my grandmother ",
    "my grandpa ",
    "my aunt ",
    "my uncle ",
    "my cousin ",
    "my partner ",
    "my fiance ",
    "my fiancé ",
    "my fiancée ",
    "my boyfriend ",
    "my girlfriend ",
    "tell ",
    "my name is ",
    // "her name is", "the kid's name is", "o nome dele é".
    "name is ",
    "nome dele é ",
    "nome dela é ",
    "nome dele e ",
    "nome dela e ",
    "i am ",
    "i'm ",
    "it's ",
    "this is ",
    "ask for ",
    "speaking with ",
    "the patient is ",
    "paciente ",
    "cliente ",
    "se chama ",
    "chama-se ",
    "dear ",
    "prezada ",
    "prezado ",
    "querida ",
    "querido ",
    // Something sent or said to someone: "manda um beijo pra ana".
    "manda pra ",
    "manda pro ",
    "fala pra ",
    "fala pro ",
    "liga pra ",
    "ligar pra ",
    "ligar pro ",
    "ligo pra ",
    "ligo pro ",
    "falar pra ",
    "falar pro ",
    "avisar a ",
    "avisar o ",
    "liga pro ",
    "avisa pra ",
    "avisa pro ",
    "diz pra ",
    "beijo pra ",
    "beijos pra ",
    "abraço pra ",
    "abraços pra ",
    // "recebi msg de um tal de enzo".
    "tal de ",
    "cc ",
    "first name ",
    "first name is ",
    "first name: ",
    "last name ",
    "last name is ",
    "last name: ",
    "sobrenome é ",
    "sobrenome e ",
    "sobrenome: ",
    "surname is ",
    "surname: ",
    // Whose parent or child: "a mae do enzo ligou".
    "mae do ",
    "mãe do ",
    "mae da ",
    "mãe da ",
    "pai do ",
    "pai da ",
    "filho do ",
    "filho da ",
    "filha do ",
    "filha da ",
    "avó da ",
    "avó do ",
    "avo da ",
    "avo do ",
    "avô da ",
    "avô do ",
    "vó da ",
    "vó do ",
    "vo da ",
    "vo do ",
    "tia da ",
    "tia do ",
    "tio da ",
    "tio do ",
    "irmã da ",
    "irmã do ",
    "irma da ",
    "irma do ",
    "irmão da ",
    "irmão do ",
    "irmao da ",
    "irmao do ",
    "madrinha da ",
    "madrinha do ",
    "padrinho da ",
    "padrinho do ",
    // Who comes along: "eu e a ana", "me and raj".
    "eu e o ",
    "eu e a ",
    "me and ",
    // Who sent or referred the writer.
    "encaminhado por ",
    "encaminhada por ",
    "indicado por ",
    "indicada por ",
    "referred by ",
    "sent by ",
    // Someone asked to do something: "ask mei to call me".
    "ask ",
];
/// Relatives before their name ("minha vó cleide", "o tio zé"): a
/// Portuguese everyday word after them is that word ("meu primo mora…"),
/// an English one a name ("minha vó destiny").
const KIN_CUES: &[&str] = &[
    "minha vó ",
    "minha vo ",
    "minha avó ",
    "minha avo ",
    "meu vô ",
    "meu vo ",
    "meu avô ",
    "meu avo ",
    "minha tia ",
    "meu tio ",
    "o tio ",
    "a tia ",
    "minha prima ",
    "meu primo ",
    "minha sogra ",
    "meu sogro ",
    "minha cunhada ",
    "meu cunhado ",
    "minha neta ",
    "meu neto ",
    "minha sobrinha ",
    "meu sobrinho ",
    "minha madrinha ",
    "meu padrinho ",
    "minha namorada ",
    "meu namorado ",
    "minha noiva ",
    "meu noivo ",
    // Who works for the writer or the office, before their name ("a
    // babá aline", "a secretaria wei"): an everyday word after them is
    // what they do ("a secretaria disse").
    "a secretaria ",
    "a secretária ",
    "o secretario ",
    "o secretário ",
    "a babá ",
    "a baba ",
    "a enfermeira ",
    "o enfermeiro ",
    "a recepcionista ",
    "o recepcionista ",
    "a atendente ",
    "o atendente ",
    "a cuidadora ",
    "o cuidador ",
    "a diarista ",
    "a vizinha ",
    "o vizinho ",
    "o motorista ",
    "the nurse ",
    "the receptionist ",
    "the nanny ",
    "the babysitter ",
];
/// Cue phrases that announce a whole name: after them a first name the
/// gazetteer lacks is taken when a known surname follows.
const ANNOUNCING_CUES: &[&str] = &[
    "meu nome é ",
    "meu nome e ",
    "me chamo ",
    "nome completo é ",
    "nome completo: ",
    "nome: ",
    "my name is ",
];
/// Cue phrases after which an adjective is as likely as a name: an
/// everyday word after them is that ("it's nice", "i'm sure").
const COPULAS: &[&str] = &["i am ", "i'm ", "it's ", "this is ", "eu sou "];
/// Forms of address before a name (matched in lower case, at a word's
/// start): kept outside the name's span.
const TITLES: &[&str] = &[
    "sr. ",
    "sra. ",
    "srta. ",
    "dr. ",
    "dra. ",
    "mr. ",
    "mrs. ",
    "ms. ",
    "sr ",
    "sra ",
    "srta ",
    "dr ",
    "dra ",
    "mr ",
    "mrs ",
    "ms ",
    "miss ",
    "dona ",
    "seu ",
    "doutor ",
    "doutora ",
    "attorney ",
];
/// Thanks before a name ("obrigada luiz!!", "thanks, Ana."): a name only
/// when punctuation or the end follows it ("thanks will do" is no name).
const THANKS: &[&str] = &[
    "obrigada ",
    "obrigado ",
    "brigada ",
    "brigado ",
    "obg ",
    "valeu ",
    "thanks ",
    "thanks, ",
    "thanks so much ",
    "thank you so much ",
    "muito obrigada ",
    "muito obrigado ",
    "thank you ",
    "thank you, ",
    "thx ",
    // Greetings, the same way: "parabens gabriela!!!", "olá josé!".
    "parabens ",
    "parabéns ",
    "olá ",
    "ola ",
    "oi ",
    "oii ",
    "oiii ",
    "oie ",
    "hi ",
    "hey ",
    "hello ",
    // Sign-offs, the same way: "bjs rosa 😘", "abs, Marcos".
    "bjs ",
    "bjs, ",
    "bj ",
    "beijos ",
    "beijos, ",
    "abs ",
    "abs, ",
    "abraços ",
    "abraços, ",
    "abraço ",
    "att ",
    "att, ",
    "atenciosamente ",
    "atenciosamente, ",
    "xoxo ",
    "cheers, ",
    "best, ",
    "regards, ",
];

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

/// Relatives named after whose relative they are: "o irmão dele,
/// francisco", "a filha dela ana".
const RELATIVES: &[&str] = &[
    "irmão", "irmao", "irmã", "irma", "filho", "filha", "marido", "esposa", "mãe", "mae", "pai",
    "sobrinho", "sobrinha", "neto", "neta", "namorado", "namorada",
];

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
            [" dele, ", " dela, ", " dele ", " dela "].map(|whose| format!("{r}{whose}"))
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

/// Lower-case words inside Portuguese names.
const PARTICLES: &[&str] = &["da", "de", "do", "das", "dos", "e", "van", "von"];

/// Whether a word of a name is a particle (`da`, `dos`, `van`…), not a
/// name of its own.
pub fn is_name_particle(word: &str) -> bool {
    PARTICLES.contains(&word)
}
/// Brands and shops people name beside a person ("Kelly da Renner"): never
/// a name, and a name stops before them.
const BRANDS: &[&str] = &[
    "Renner",
    "Riachuelo",
    "Casas",
    "Magazine",
    "Lojas",
    "Americanas",
    "Mercado",
    "Shopee",
    "Amazon",
    "Walmart",
    "Target",
    "Carrefour",
    "Natura",
    "Boticário",
    "Drogasil",
    "Nubank",
    "Santander",
    "Caixa",
    "Vivo",
];

/// Whether a folded word is a brand's, a product's or a place's name
/// ([`BRANDS`], the gazetteer's `not-people.txt`: "renner", "alexa",
/// "allegra", "moema"): never part of a person's name ("a kelly da
/// renner") and no name alone.
fn is_brand(folded: &str) -> bool {
    gazetteer::is_not_a_person(folded) || BRANDS.iter().any(|b| crate::text::fold(b) == folded)
}

fn not_a_name(word: &str) -> bool {
    static SET: OnceLock<std::collections::HashSet<&str>> = OnceLock::new();
    SET.get_or_init(|| NOT_NAMES.iter().chain(BRANDS).copied().collect())
        .contains(word)
}

/// Capitalised words that are not names.
const NOT_NAMES: &[&str] = &[
    "I",
    "I'm",
    "It",
    "It's",
    "Is",
    "Dr",
    "Dra",
    "Sr",
    "Sra",
    "Mr",
    "Mrs",
    "Ms",
    "Olá",
    "Oi",
    "Bom",
    "Boa",
    "Dia",
    "Tarde",
    "Noite",
    "Obrigado",
    "Obrigada",
    "Hello",
    "Hi",
    "Thanks",
    "Thank",
    "Dear",
    "Good",
    "Morning",
    "Please",
    "Por",
    "Favor",
    "Segunda",
    "Terça",
    "Quarta",
    "Quinta",
    "Sexta",
    "Sábado",
    "Domingo",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Janeiro",
    "Fevereiro",
    "Março",
    "Abril",
    "Maio",
    "Junho",
    "Julho",
    "Agosto",
    "Setembro",
    "Outubro",
    "Novembro",
    "Dezembro",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
    "São",
    "Paulo",
    "Rio",
    "Janeiro",
    "Brasil",
    "Brazil",
    "Rua",
    "Avenida",
    "Av",
    "Clínica",
    "Clinica",
    "Hospital",
    "Consultório",
    "Escritório",
    "Tudo",
    "Sim",
    "Não",
    "Ok",
    "Eu",
    "Sou",
    "Aqui",
    "Falo",
    "Este",
    "Esta",
    "Esse",
    "Essa",
    "Ele",
    "Ela",
    "Os",
    "As",
    "Em",
    "No",
    "Na",
    "Para",
    "Com",
    "Hoje",
    "Amanhã",
    "Ontem",
    "Também",
    "Mas",
    "Então",
    "Ainda",
    "Agora",
    "Se",
    "Já",
    "Muito",
    "It",
    "This",
    "That",
    "Hey",
    "Today",
    "Meu",
    "Minha",
    "Você",
    "Vocês",
    "Estou",
    "Gostaria",
    "Quero",
    "Preciso",
    "Pode",
    "Posso",
    "Qual",
    "Quando",
    "Onde",
    "Como",
    "The",
    "I",
    "My",
    "We",
    "You",
    "Yes",
    "No",
    "CPF",
    "CNPJ",
    "SUS",
    "LGPD",
    "Pix",
    "PIX",
    "WhatsApp",
    "Unimed",
    "Amil",
    "Bradesco",
    "Itaú",
    "Itau",
    // Interjections before a name ("Yeah John", "Nossa Maria"), and
    // languages.
    "Yeah",
    "Wow",
    "Bye",
    "Oh",
    "Okay",
    "Sure",
    "Well",
    "Aww",
    "Omg",
    "Haha",
    "Ah",
    "Hmm",
    "Cool",
    "Great",
    "Awesome",
    "Sorry",
    "Congrats",
    "Nossa",
    "Opa",
    "Oba",
    "Eita",
    "Tchau",
    "Valeu",
    "Beleza",
    "Poxa",
    "Caramba",
    "Gente",
    "Uau",
    "Parabéns",
    "Parabens",
    "Claro",
    "Legal",
    "Yep",
    "Woah",
    "Whoa",
    "Woohoo",
    "Yay",
    "Yo",
    "Maybe",
    "Lately",
    "Anyway",
    "Also",
    "I'll",
    "I've",
    "I'd",
    "German",
    "English",
    "French",
    "Spanish",
    "Italian",
    "Portuguese",
    "Japanese",
    "Chinese",
    // Nationalities: "arts and Irish music".
    "Irish",
    "Scottish",
    "Welsh",
    "British",
    "American",
    "Canadian",
    "Mexican",
    "Brazilian",
    "Argentinian",
    "Indian",
    "African",
    "Korean",
    "Russian",
    "Greek",
    "Polish",
    "Dutch",
    "Swedish",
    "Turkish",
    "Arabic",
    "Brasileiro",
    "Brasileira",
];

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
    let word = crate::text::fold(&text[i..first]);
    // "de", "will", "dona" are given names too: never a particle, a stop
    // word or a form of address first.
    let title = TITLES
        .iter()
        .any(|t| t.trim_end_matches([' ', '.']) == word);
    if first == i
        || is_name_particle(&word)
        || crate::text::is_stop_word(&word)
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
    let word = crate::text::fold(&text[i..end]);
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
        && !crate::text::is_stop_word(word)
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
    let word = crate::text::fold(&text[i..first]);
    // "raj cavalcanti": a surname that is no word, first, is a given name
    // the gazetteer lacks; as strict as an everyday one below.
    let surname_first = !gazetteer::is_given_name(&word) && surname_no_word(&word);
    if !(gazetteer::is_given_name(&word) || surname_first)
        || is_name_particle(&word)
        || crate::text::is_stop_word(&word)
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
        let word = crate::text::fold(&text[at..end]);
        let known = !crate::text::is_stop_word(&word)
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
    let particle = crate::text::fold(&text[at..next]);
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
    let short = text[i..end].chars().count() < 3 && crate::text::fold(&text[i..end]) != "ze";
    if short || text[end..].starts_with(char::is_alphanumeric) {
        return None;
    }
    let word = crate::text::fold(&text[i..end]);
    let known = gazetteer::is_given_name(&word)
        && (everyday || !gazetteer::is_everyday(&word))
        && !is_brand(&word)
        && !is_name_particle(&word)
        && !crate::text::is_stop_word(&word)
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

/// Greetings before who is writing ("oi! iara falando").
const OPENING_GREETINGS: &[&str] = &[
    "oi! ", "oi, ", "oi ", "olá! ", "olá, ", "ola, ", "ola! ", "hi! ", "hi, ", "hi ", "hey, ",
    "hey ", "hello, ",
];

/// Given names that open a message as interjections ("ok aqui tudo
/// certo", "nice!").
const INTERJECTIONS: &[&str] = &[
    "ok", "nice", "ola", "oi", "so", "see", "happy", "top", "show", "same", "ha", "haha", "hey",
    "yes", "yeah", "wow", "oh", "ah", "eh", "hm", "all", "me",
];

/// Words that follow a verb, not a name ("mora em", "fica aqui").
const AFTER_A_VERB: &[&str] = &[
    "em", "no", "na", "nos", "nas", "com", "perto", "aqui", "ali", "la", "lá", "longe", "sozinha",
    "sozinho",
];

/// What follows a person's name where they work ("Mark at the front desk",
/// "a rosa da recepção").
const ROLES_AFTER: &[&str] = &[
    "at the front desk",
    "from the front desk",
    "at front desk",
    "at reception",
    "at the reception",
    "from reception",
    "from the reception",
    "from billing",
    "in billing",
    "at the desk",
    "da recepção",
    "da recepcao",
    "do financeiro",
    "da secretaria",
    "do atendimento",
    "da contabilidade",
    "da portaria",
    "do caixa",
];

/// Relatives after a possessive name ("grace's mom").
const RELATIVES_EN: &[&str] = &[
    "mom", "dad", "mother", "father", "wife", "husband", "son", "daughter", "sister", "brother",
    "mum", "grandma", "grandpa", "kid", "kids", "baby", "aunt", "uncle",
];

/// Verbs of what a person says or does for someone, after their name
/// ("a vitoria falou", "o mark disse", "a rosa me ajudou").
const SPEECH_VERBS: &[&str] = &[
    "falou",
    "disse",
    "pediu",
    "mandou",
    "ligou",
    "avisou",
    "perguntou",
    "respondeu",
    "explicou",
    "comentou",
    "confirmou",
    "atendeu",
    "indicou",
    "agendou",
    "marcou",
    "ajudou",
    "chamou",
    "passou",
    "deixou",
    "levou",
    "trouxe",
    "buscou",
    "contou",
    "falo",
    "fala",
    "chegou",
    "saiu",
    "ficou",
    "veio",
    "remarcou",
    "cancelou",
    // After "vai": "grace vai me ligar".
    "ligar",
    "falar",
    "mandar",
    "passar",
    "avisar",
    "buscar",
    "levar",
    "trazer",
    // English: "Destiny said you open at 8".
    "said",
    "says",
    "told",
    "asked",
    "called",
    "texted",
    "left",
    "sent",
    "wrote",
    "replied",
    "mentioned",
    "emailed",
    "messaged",
];

/// Whether a word is one of [`SPEECH_VERBS`]: hashed, it is looked up
/// after every word of every message.
fn is_speech_verb(word: &str) -> bool {
    static SET: OnceLock<std::collections::HashSet<&str>> = OnceLock::new();
    SET.get_or_init(|| SPEECH_VERBS.iter().copied().collect())
        .contains(word)
}

/// Everyday words that are given names and name people too ("a tia
/// falou", "o cara disse"): no name for what surrounds them.
const PEOPLE_NOUNS: &[&str] = &[
    "tia", "mae", "filho", "neta", "neto", "dona", "mana", "amada", "amado", "amador", "diva",
    "santa", "santo", "cara", "bebe", "irma", "nora", "man", "guy", "lady", "miss", "queen",
    "king", "prince", "princess", "son", "major", "elder", "baby", "buddy",
];

/// The everyday given names (`everyday-names.txt`) that are Portuguese
/// words, or loanwords in Portuguese chat ("o kit", "o job"): after a
/// Portuguese article they are that word. The others are English words
/// ("grace", "mark", "destiny"), names after a Portuguese article.
const PORTUGUESE_WORDS: &[&str] = &[
    "ai",
    "alma",
    "alta",
    "amparo",
    "aurora",
    "bento",
    "bonita",
    "branca",
    "branda",
    "bula",
    "celeste",
    "clara",
    "concha",
    "coral",
    "cristal",
    "cruz",
    "dia",
    "divina",
    "divino",
    "domingo",
    "era",
    "esta",
    "fe",
    "flor",
    "flora",
    "franco",
    "gala",
    "gema",
    "gentil",
    "gloria",
    "graca",
    "ida",
    "ira",
    "jesus",
    "julho",
    "justa",
    "juvenil",
    "leia",
    "lia",
    "lida",
    "linda",
    "lira",
    "lisa",
    "lua",
    "lula",
    "luz",
    "macia",
    "macio",
    "magna",
    "manda",
    "manual",
    "marco",
    "margarida",
    "mel",
    "meta",
    "mina",
    "modesta",
    "modesto",
    "monte",
    "mora",
    "nada",
    "nata",
    "natal",
    "norma",
    "nova",
    "nu",
    "ola",
    "ora",
    "palma",
    "paris",
    "paz",
    "pedra",
    "perola",
    "pia",
    "piedade",
    "pilar",
    "pura",
    "regia",
    "rema",
    "reta",
    "ria",
    "rica",
    "rico",
    "rima",
    "rosa",
    "sal",
    "sales",
    "salina",
    "serena",
    "severo",
    "socorro",
    "sol",
    "terra",
    "tome",
    "treva",
    "vi",
    "vida",
    "viola",
    "violeta",
    "vital",
    "vitoria",
    "viva",
    "vivia",
    "zona",
    "van",
    "kit",
    "job",
    "ok",
    "max",
    "star",
    "page",
    "nice",
    "iron",
    "hang",
    "so",
    "my",
    "in",
    "see",
    "soon",
    "any",
    "many",
    "long",
    "lean",
    "gay",
    "china",
    "argentina",
    "florida",
    "cairo",
    "latina",
    "marine",
    "golden",
    "art",
    "chance",
    "bill",
    "jack",
    "diamond",
    "show",
    "love",
    "top",
    "happy",
];

/// Given names that also name places, shops and products ("moro em
/// Salvador", "Austin", "comprei na melissa", "um logan prata"): without
/// a cue or a surname, such a word alone is the place or the thing.
const ALSO_PLACES_AND_BRANDS: &[&str] = &[
    "aparecida",
    "augusta",
    "austin",
    "brooklyn",
    "carolina",
    "charlotte",
    "chelsea",
    "clio",
    "dallas",
    "denver",
    "florence",
    "franca",
    "georgia",
    "hermes",
    "houston",
    "india",
    "iracema",
    "israel",
    "jackson",
    "jordan",
    "lincoln",
    "logan",
    "madison",
    "marilia",
    "marisa",
    "melissa",
    "moema",
    "orlando",
    "phoenix",
    "salvador",
    "santos",
    "savannah",
    "sierra",
    "sydney",
    "teresina",
    "tiffany",
    "victoria",
    "virginia",
    "washington",
    "wendy",
];

/// Words before a place, not a person ("em", "pra", "in", "from").
const BEFORE_A_PLACE: &[&str] = &[
    "em", "no", "na", "para", "pra", "pro", "in", "to", "from", "at", "of", "near", "the",
];

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
    let word = crate::text::fold(&text[i..first]);
    if first < i + 2 || is_name_particle(&word) || crate::text::is_stop_word(&word) {
        return None;
    }
    let at = text[first..].starts_with(' ').then_some(first + 1)?;
    let end = word_end(text, at);
    gazetteer::is_surname(&crate::text::fold(&text[at..end])).then(|| extend_name(text, end))
}

/// Where a name that reaches `end` ends: given names and surnames the
/// gazetteer knows, particles between them, follow.
fn extend_name(text: &str, mut end: usize) -> usize {
    let known = |w: &str| {
        !is_brand(w)
            && !crate::text::is_stop_word(w)
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
        let word = crate::text::fold(&text[at..word_end(text, at)]);
        let next = if is_name_particle(&word) && text[word_end(text, at)..].starts_with(' ') {
            // A particle belongs to the name only before a name; "e"
            // only before a surname ("adriana e maria" are two people).
            let after = word_end(text, at) + 1;
            let e = word_end(text, after);
            let next = crate::text::fold(&text[after..e]);
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
                    && gazetteer::is_given_name(&crate::text::fold(&text[word_at..e])) =>
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

fn names(text: &str) -> Vec<Finding> {
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
            if !is_cue
                && at > 0
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
                        let name = crate::text::fold(&text[i..*end]);
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
                        !verb
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
        && !INTERJECTIONS.contains(&crate::text::fold(&text[start..word_end(text, start)]).as_str())
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
    let called = crate::text::fold(&text[..first]);
    if first >= 2
        && text[first..].starts_with([',', '!', '?'])
        && !text[first..]
            .trim_start_matches([',', '!', '?', ' '])
            .is_empty()
        && gazetteer::is_given_name(&called)
        && !gazetteer::is_everyday(&called)
        && !is_brand(&called)
        && !is_name_particle(&called)
        && !crate::text::is_stop_word(&called)
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
                        .contains(&crate::text::fold(&text[end + 1..*e]).as_str())
                })
                .map(|e| (end + 1, e, 0.6))
        } else if text[i..].starts_with(char::is_uppercase)
            && capitalised(text, i) == Some(end)
            && let Some(e) = lone_name_at(text, i, capitalised_mid_sentence(text, i))
            && !not_a_name(&text[i..end])
            && !in_a_capitalised_sequence(text, i, end)
            && !BEFORE_A_PLACE.contains(&previous_word(text, i).as_str())
            && !ALSO_PLACES_AND_BRANDS.contains(&crate::text::fold(&text[i..end]).as_str())
        {
            Some((i, e, 0.5))
        } else if !article
            && text[i..end].chars().count() >= 4
            && text[i..].starts_with(char::is_lowercase)
            && let Some(e) = lone_given_name_at(text, i)
            && !gazetteer::is_a_word(&crate::text::fold(&text[i..e]))
            // "a text from sarah", "give this to olivia": people are
            // sent things and send them; the places that are names are
            // known.
            && !matches!(previous_word(text, i).as_str(), p if p != "to" && p != "from" && BEFORE_A_PLACE.contains(&p))
            && !ALSO_PLACES_AND_BRANDS.contains(&crate::text::fold(&text[i..e]).as_str())
        {
            Some((i, e, 0.4))
        } else if opens
            && let Some(e) = lone_given_name_at(text, i)
            && !followed_by_a_place_word(text, e)
            && !ALSO_PLACES_AND_BRANDS.contains(&crate::text::fold(&text[i..e]).as_str())
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
        let word = crate::text::fold(&text[i..end]);
        let name = (gazetteer::is_given_name(&word) || surname_no_word(&word))
            && !is_brand(&word)
            && !is_name_particle(&word)
            && !crate::text::is_stop_word(&word)
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
            && !*english.get_or_init(|| crate::text::reads_english(text));
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
            && gazetteer::is_given_name(&crate::text::fold(&before[first..]))
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
        let portuguese = crate::text::reads_portuguese(text);
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
            let after_a_name = {
                let before = previous_word(text, i);
                is_known_name(&before) || is_name_particle(&before)
            };
            let word = crate::text::fold(&text[i..end]);
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
                && !crate::text::is_stop_word(&word)
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
            let word = crate::text::fold(&rest[..end - at]);
            let known = end > at + 1
                && gazetteer::is_given_name(&word)
                && !is_brand(&word)
                && !crate::text::is_stop_word(&word)
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
    known().count() >= 2 || known().any(|word| !gazetteer::is_a_word(&crate::text::fold(word)))
}

/// Whether a word (a possessive "'s" aside) is a given name or a surname
/// the gazetteer knows.
fn is_known_name(word: &str) -> bool {
    let word = crate::text::fold(word.trim_end_matches("'s"));
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

/// Words of the names of places and organisations: a capitalised
/// sequence that holds one or follows one ("Clínica Sorriso Feliz", "the
/// Downtown Office") is not a person's name.
const PLACE_WORDS: &[&str] = &[
    "clínica",
    "clinica",
    "hospital",
    "consultório",
    "consultorio",
    "escritório",
    "escritorio",
    "loja",
    "rua",
    "avenida",
    "praça",
    "farmácia",
    "farmacia",
    "drogaria",
    // Health posts and emergency units: "posto joão silva", "ubs maria
    // da conceição".
    "posto",
    "ubs",
    "upa",
    "laboratório",
    "instituto",
    "banco",
    "office",
    "clinic",
    "center",
    "centre",
    "street",
    "avenue",
    // Towns and features: "near Fort Wayne", "Lake Tahoe".
    "fort",
    "mount",
    "lake",
    "port",
    "store",
    "bank",
    "institute",
    "pharmacy",
    "terms",
    "service",
    "services",
    "the",
    // Streets, by their abbreviations: "Av. Getúlio Vargas".
    "av",
    "r",
    "travessa",
    "alameda",
    "rodovia",
    "estrada",
    "largo",
    "ave",
    "blvd",
    "road",
    // Firms: "Silva & Souza Advogados", "Oliveira Costa Sociedade de
    // Advogados".
    "advogados",
    "advogadas",
    "associados",
    "sociedade",
    "ltda",
    "eireli",
    "consultoria",
    "law",
    "firm",
    "llc",
    "inc",
    // Schools, courts, neighbourhoods and buildings named after people.
    "escola",
    "colégio",
    "colegio",
    "faculdade",
    "universidade",
    "estadual",
    "municipal",
    "fórum",
    "forum",
    "tribunal",
    "jardim",
    "vila",
    "parque",
    "bairro",
    "edifício",
    "edificio",
    "condomínio",
    "condominio",
    "school",
    "college",
    "university",
    "park",
    "hall",
    "court",
    // Landmarks, venues and towns named after people: "the jefferson
    // memorial", "lincoln high school", "shopping iguatemi".
    "memorial",
    "station",
    "estação",
    "estacao",
    "airport",
    "aeroporto",
    "museum",
    "museu",
    "church",
    "igreja",
    "stadium",
    "estádio",
    "estadio",
    "arena",
    "theater",
    "theatre",
    "teatro",
    "cinema",
    "bridge",
    "ponte",
    "beach",
    "praia",
    "hotel",
    "restaurant",
    "restaurante",
    "mall",
    "shopping",
    "market",
    "mercado",
    "supermercado",
    "padaria",
    "bakery",
    "high",
    "elementary",
    "middle",
    "city",
    "county",
    "town",
    "heights",
    "square",
    "plaza",
    "tower",
    "drive",
    "lane",
    // So do the titles of historical figures: "escola princesa isabel",
    // "av. presidente vargas", "rua marechal deodoro".
    "princesa",
    "príncipe",
    "principe",
    "rainha",
    "imperatriz",
    "presidente",
    "marechal",
    "general",
    "coronel",
    "almirante",
    "barão",
    "barao",
    "visconde",
    "duque",
    "dom",
    "governador",
    "senador",
    "president",
    "king",
    "queen",
    "prince",
    "princess",
    // Saints name cities, hospitals and holidays: "são josé dos campos",
    // "hospital santa catarina", "feriado de são jorge".
    "são",
    "sao",
    "santo",
    "santa",
    "saint",
    "st",
];

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

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(PiiKind, &str)> {
        detect(text)
            .into_iter()
            .map(|f| (f.kind, &text[f.start..f.end]))
            .collect()
    }

    /// CPF check digits for 9 base digits.
    fn cpf_from(base: [u32; 9]) -> String {
        let mut d = base.to_vec();
        d.push(mod11_countdown(&d, 10));
        d.push(mod11_countdown(&d, 11));
        let s: String = d.iter().map(|x| char::from(b'0' + *x as u8)).collect();
        format!("{}.{}.{}-{}", &s[..3], &s[3..6], &s[6..9], &s[9..])
    }

    fn cnpj_from(base: &[u8; 12]) -> String {
        let mut v: Vec<u32> = base.iter().map(|c| u32::from(*c) - 48).collect();
        v.push(cnpj_dv(&v));
        v.push(cnpj_dv(&v));
        let s: String = v.iter().map(|x| char::from((x + 48) as u8)).collect();
        format!(
            "{}.{}.{}/{}-{}",
            &s[..2],
            &s[2..5],
            &s[5..8],
            &s[8..12],
            &s[12..]
        )
    }

    /// A tiny deterministic generator for the property tests.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self, n: u32) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 33) % u64::from(n)) as u32
        }
    }

    #[test]
    fn known_documents_validate() {
        assert!(valid_cpf(&digits_of("529.982.247-25")));
        assert!(!valid_cpf(&digits_of("529.982.247-26")));
        assert!(!valid_cpf(&digits_of("111.111.111-11")));
        assert!(valid_cnpj(b"11222333000181"));
        assert!(!valid_cnpj(b"11222333000182"));
        // The Receita Federal's example of an alphanumeric CNPJ.
        assert!(valid_cnpj(b"12ABC34501DE35"));
        assert!(!valid_cnpj(b"12ABC34501DE36"));
        assert!(luhn(&digits_of("4111 1111 1111 1111")));
        assert!(!luhn(&digits_of("4111 1111 1111 1112")));
    }

    #[test]
    fn every_generated_cpf_is_found_and_every_corrupted_one_rejected() {
        let mut rng = Lcg(7);
        for _ in 0..2000 {
            let base: [u32; 9] = std::array::from_fn(|_| rng.next(10));
            if base.iter().all(|d| *d == base[0]) {
                continue;
            }
            let cpf = cpf_from(base);
            let text = format!("Meu CPF é {cpf}, obrigado");
            assert_eq!(kinds(&text), [(PiiKind::Cpf, cpf.as_str())], "{text}");
            let plain: String = cpf.chars().filter(char::is_ascii_digit).collect();
            assert!(valid_cpf(&digits_of(&plain)));
            // Any change of a check digit breaks it.
            let mut bad = cpf.clone().into_bytes();
            let last = bad.len() - 1 - rng.next(2) as usize;
            bad[last] = b'0' + ((bad[last] - b'0' + 1 + rng.next(9) as u8) % 10);
            let bad = String::from_utf8(bad).unwrap();
            assert!(!valid_cpf(&digits_of(&bad)), "{bad}");
            assert!(
                !kinds(&format!("Meu CPF é {bad}"))
                    .iter()
                    .any(|(k, _)| *k == PiiKind::Cpf),
                "{bad}"
            );
        }
    }

    #[test]
    fn every_generated_cnpj_is_found_and_every_corrupted_one_rejected() {
        let mut rng = Lcg(11);
        const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        for i in 0..2000 {
            let base: [u8; 12] = std::array::from_fn(|k| {
                // Half numeric (the CNPJs of today), half alphanumeric.
                if i % 2 == 0 || k >= 8 {
                    b'0' + rng.next(10) as u8
                } else {
                    ALNUM[rng.next(36) as usize]
                }
            });
            let cnpj = cnpj_from(&base);
            let text = format!("CNPJ da empresa: {cnpj}.");
            assert_eq!(kinds(&text), [(PiiKind::Cnpj, cnpj.as_str())], "{text}");
            let mut bad = cnpj.clone().into_bytes();
            let last = bad.len() - 1 - rng.next(2) as usize;
            bad[last] = b'0' + ((bad[last] - b'0' + 1 + rng.next(9) as u8) % 10);
            let bad = String::from_utf8(bad).unwrap();
            assert!(
                !kinds(&format!("CNPJ da empresa: {bad}."))
                    .iter()
                    .any(|(k, _)| *k == PiiKind::Cnpj),
                "{bad}"
            );
        }
    }

    #[test]
    fn cns_cards_are_validated() {
        let mut rng = Lcg(3);
        let mut found = 0;
        for _ in 0..5000 {
            let mut d: Vec<u32> = vec![1 + rng.next(2)];
            d.extend((0..14).map(|_| rng.next(10)));
            if valid_cns(&d) {
                found += 1;
                let s: String = d.iter().map(|x| char::from(b'0' + *x as u8)).collect();
                let text = format!(
                    "Cartão SUS {} {} {} {}",
                    &s[..3],
                    &s[3..7],
                    &s[7..11],
                    &s[11..]
                );
                assert_eq!(kinds(&text)[0].0, PiiKind::Cns, "{text}");
                let mut bad = d.clone();
                bad[14] = (bad[14] + 1) % 10;
                assert!(!valid_cns(&bad));
            }
        }
        assert!(found > 100);
    }

    /// The ways people type an 11-digit CPF, of its plain digits.
    fn cpf_forms(plain: &str) -> Vec<String> {
        let (a, b, c, d) = (&plain[..3], &plain[3..6], &plain[6..9], &plain[9..]);
        vec![
            format!("{a}.{b}.{c}-{d}"),
            plain.to_owned(),
            format!("{a}{b}{c}-{d}"),
            format!("{a}.{b}.{c}.{d}"),
            format!("{a} {b} {c} {d}"),
            format!("{a}-{b}-{c}-{d}"),
            format!("{a}.{b}.{c} {d}"),
            format!("{a}.{b}{c}-{d}"),
        ]
    }

    #[test]
    fn a_cpf_is_found_in_every_written_form_and_a_corrupted_one_in_none() {
        let mut rng = Lcg(17);
        for _ in 0..500 {
            let base: [u32; 9] = std::array::from_fn(|_| rng.next(10));
            if base.iter().all(|d| *d == base[0]) {
                continue;
            }
            let plain: String = cpf_from(base)
                .chars()
                .filter(char::is_ascii_digit)
                .collect();
            for form in cpf_forms(&plain) {
                for text in [format!("meu cpf é {form} ok"), format!("CPF: {form}")] {
                    assert_eq!(kinds(&text), [(PiiKind::Cpf, form.as_str())], "{text}");
                }
            }
            // Without a cue, the shapes only a CPF has.
            for form in [&cpf_forms(&plain)[0], &cpf_forms(&plain)[2]] {
                let text = format!("o documento é {form}");
                assert_eq!(kinds(&text), [(PiiKind::Cpf, form.as_str())], "{text}");
            }
            // A wrong check digit: no CPF, and not a phone either.
            let mut bad = plain.clone().into_bytes();
            bad[10] = b'0' + ((bad[10] - b'0' + 1 + rng.next(9) as u8) % 10);
            let bad = String::from_utf8(bad).unwrap();
            for form in cpf_forms(&bad) {
                let text = format!("meu cpf é {form}");
                assert_eq!(kinds(&text), [], "{text}");
            }
        }
    }

    #[test]
    fn cnpj_and_cns_in_the_forms_people_type() {
        let mut rng = Lcg(19);
        for _ in 0..300 {
            let base: [u8; 12] = std::array::from_fn(|_| b'0' + rng.next(10) as u8);
            let p: String = cnpj_from(&base)
                .chars()
                .filter(char::is_ascii_digit)
                .collect();
            for form in [
                format!("{}/{}-{}", &p[..8], &p[8..12], &p[12..]),
                format!(
                    "{} {} {} {} {}",
                    &p[..2],
                    &p[2..5],
                    &p[5..8],
                    &p[8..12],
                    &p[12..]
                ),
                format!(
                    "{}.{}.{}.{}-{}",
                    &p[..2],
                    &p[2..5],
                    &p[5..8],
                    &p[8..12],
                    &p[12..]
                ),
            ] {
                let text = format!("cnpj da empresa {form}");
                assert_eq!(kinds(&text), [(PiiKind::Cnpj, form.as_str())], "{text}");
            }
        }
        let mut found = 0;
        for _ in 0..5000 {
            let mut d: Vec<u32> = vec![1 + rng.next(2)];
            d.extend((0..14).map(|_| rng.next(10)));
            if !valid_cns(&d) {
                continue;
            }
            found += 1;
            let s: String = d.iter().map(|x| char::from(b'0' + *x as u8)).collect();
            for form in [
                format!("{} {} {}", &s[..5], &s[5..10], &s[10..]),
                format!("{}-{}-{}-{}", &s[..3], &s[3..7], &s[7..11], &s[11..]),
                format!("{} {}", &s[..7], &s[7..]),
            ] {
                let text = format!("meu cartão sus é {form}");
                assert_eq!(kinds(&text), [(PiiKind::Cns, form.as_str())], "{text}");
            }
        }
        assert!(found > 100);
    }

    #[test]
    fn numbers_a_sentence_says_are_something_else_are_not_pii() {
        // 52998224725 is a valid CPF; 898001160920003 a valid CNS.
        assert!(valid_cpf(&digits_of("52998224725")));
        assert!(valid_cns(&digits_of("898001160920003")));
        for text in [
            "appointment confirmation #52998224725",
            "número de confirmação 52998224725",
            "o exame 898001160920003 ficou pronto",
            "exam id 898001160920003",
            "ligue 0800 123 4567 para a central",
            "central de atendimento 4004-1234",
            "SAC 0300 789 1234",
        ] {
            assert_eq!(kinds(text), [], "{text}");
        }
    }

    #[test]
    fn what_chat_text_holds_besides_personal_numbers_stays_unflagged() {
        for text in [
            "oab/sp 123.456 do dr responsavel",
            "crm 123456-sp",
            "meu cep é 01310-100",
            "cep 01310100",
            "ficou r$ 1.500,00 no total",
            "paguei 2.345,90 ontem",
            "dia 12/03 as 14h",
            "consulta 2024-03-12 10:30",
            "tomo 500mg 2x ao dia",
            "boleto 23793.38128 60000.000003 00000.000409 1 84340000012345",
            "linha digitavel 34191.79001 01043.510047 91020.150008 7 91870026000",
            "pedido 123456789 saiu pra entrega",
            "protocolo 2024031200123",
            "nota fiscal 000.123.456",
            "apto 1203 bloco 2",
            "senha do wifi 12345678",
            // Its last 14 digits pass CNPJ's check.
            "linha digitavel: 11693.04016 90162.648758 67929.239432 9 36516435379440",
        ] {
            assert_eq!(kinds(text), [], "{text}");
        }
    }

    #[test]
    fn two_numbers_a_space_apart_are_two_findings() {
        assert_eq!(
            kinds("cpf 529.982.247-25 11 98765-4321"),
            [
                (PiiKind::Cpf, "529.982.247-25"),
                (PiiKind::Phone, "11 98765-4321")
            ]
        );
        // The nearer label says what a number is.
        assert_eq!(
            kinds("CPF 529.982.247-25, fone 11999998888"),
            [
                (PiiKind::Cpf, "529.982.247-25"),
                (PiiKind::Phone, "11999998888")
            ]
        );
        assert_eq!(
            kinds("telefones 98765-4321 3456-7890"),
            [
                (PiiKind::Phone, "98765-4321"),
                (PiiKind::Phone, "3456-7890")
            ]
        );
    }

    #[test]
    fn phones_in_the_forms_people_type() {
        for (text, phone) in [
            ("liga no 011 9 8765 4321", "011 9 8765 4321"),
            ("meu zap 5511987654321", "5511987654321"),
            ("whats 11 987654321", "11 987654321"),
            ("celular 987654321", "987654321"),
            ("meu número é 9 8765 4321", "9 8765 4321"),
            ("call me at (602) 819-4460", "(602) 819-4460"),
            ("my cell is 602-819-4460", "602-819-4460"),
            ("phone 602.819.4460", "602.819.4460"),
        ] {
            assert_eq!(kinds(text), [(PiiKind::Phone, phone)], "{text}");
        }
    }

    #[test]
    fn ssns_after_a_cue_in_any_form() {
        for (text, ssn) in [
            ("SSN 123 45 6789", "123 45 6789"),
            ("my social security number is 123456789", "123456789"),
        ] {
            assert_eq!(kinds(text), [(PiiKind::Ssn, ssn)], "{text}");
        }
    }

    #[test]
    fn phones_emails_cards_and_ssns() {
        assert_eq!(
            kinds("Meu celular é (11) 98765-4321 e o fixo 3456-7890"),
            [
                (PiiKind::Phone, "(11) 98765-4321"),
                (PiiKind::Phone, "3456-7890")
            ]
        );
        assert_eq!(
            kinds("whatsapp +55 11 98765-4321"),
            [(PiiKind::Phone, "+55 11 98765-4321")]
        );
        assert_eq!(
            kinds("call me at +1 415 555 2671"),
            [(PiiKind::Phone, "+1 415 555 2671")]
        );
        assert_eq!(
            kinds("escreva para joao.silva@email.com.br."),
            [(PiiKind::Email, "joao.silva@email.com.br")]
        );
        assert_eq!(
            kinds("cartão 4111 1111 1111 1111 validade 12/27"),
            [(PiiKind::PaymentCard, "4111 1111 1111 1111")]
        );
        assert_eq!(kinds("SSN 123-45-6789"), [(PiiKind::Ssn, "123-45-6789")]);
    }

    #[test]
    fn hard_negatives_are_not_pii() {
        for text in [
            "Consulta no dia 21/11/2026 às 14:30",
            "pedido 52998224725 enviado",
            "protocolo 123.456.789-10",
            "CPF 529.982.247-26",
            "O valor é R$ 1.234,56",
            "SSN 666-12-3456",
            "cartão 4111 1111 1111 1112",
            "ref ABC123456789",
            "São Paulo, Brasil",
            "Bom Dia",
            "email@localhost",
            "versão 2.0.1",
        ] {
            assert_eq!(kinds(text), [], "{text}");
        }
    }

    #[test]
    fn what_the_benchmark_found_is_not_pii() {
        // Each of these was reported before the PII benchmark's first run.
        assert!(kinds("CEP 48519-737, perto do metrô").is_empty());
        assert!(kinds("O número do pedido é 93995094351").is_empty());
        assert!(kinds("Support protocol 4182672724095").is_empty());
        assert!(kinds("A Clínica Sorriso Feliz fica na Avenida Paulista?").is_empty());
        assert!(kinds("Good morning, is the Downtown Office open on Saturday?").is_empty());
        // While a person's name mid-sentence still is one.
        assert_eq!(
            kinds("Falei com a Juliana Ferreira ontem"),
            [(PiiKind::PersonName, "Juliana Ferreira")]
        );
    }

    #[test]
    fn names_in_any_case_after_a_cue_or_a_form_of_address() {
        for (text, name) in [
            ("meu nome é joão silva", "joão silva"),
            ("MEU NOME É MARIA DA SILVA", "MARIA DA SILVA"),
            ("oi, aqui é a fernanda da recepção", "fernanda"),
            ("falei com a dona rosa ontem", "rosa"),
            ("o seu ze vai passar aqui", "ze"),
            ("a dra. Fernanda pediu o exame", "Fernanda"),
            ("a dra fernanda pediu o exame", "fernanda"),
            ("Dr. Patel's office called", "Patel"),
            (
                "I'm Gabriela Pinheiro, from the front desk",
                "Gabriela Pinheiro",
            ),
            ("my name is mark", "mark"),
            ("me chamo ana paula souza", "ana paula souza"),
            ("nome: kaiky ferreira", "kaiky ferreira"),
            ("my name is xiomara lopes", "xiomara lopes"),
        ] {
            assert_eq!(kinds(text), [(PiiKind::PersonName, name)], "{text}");
        }
    }

    #[test]
    fn a_full_name_the_gazetteer_knows_is_found_in_any_case_without_a_cue() {
        let name = PiiKind::PersonName;
        assert_eq!(
            kinds("favor avisar davi brown que o horario mudou"),
            [(name, "davi brown")]
        );
        assert_eq!(
            kinds("PACIENTE: DAVID DA OLIVEIRA"),
            [(name, "DAVID DA OLIVEIRA")]
        );
        let found = detect("quem retira é beatriz da nascimento, minha sobrinha");
        assert_eq!(found.len(), 1);
        assert!(
            found[0].confidence < 0.85,
            "the gazetteer alone is weaker than a cue"
        );
        // Everyday words that are given names, places and firms named after
        // people, brands: none is a person.
        for text in [
            "i will cook dinner tonight",
            "a rosa costa pouco no mercado",
            "ela mora na rua joao silva 88",
            "o escritório silva costa advogados ligou",
            "a tia santos chegou",
            "escola estadual maria souza fica perto",
            "i live on Martin Luther King Jr Blvd",
        ] {
            assert_eq!(kinds(text), [], "{text}");
        }
        // A brand never ends a name.
        assert_eq!(
            kinds("a Maria Souza da Renner disse que trocava"),
            [(name, "Maria Souza")]
        );
    }

    #[test]
    fn north_american_toll_free_numbers_are_nobodys() {
        for text in [
            "call 1-888-555-0199 for support",
            "our line is (877) 555-0142",
            "dial +1 866 555 0100",
            "800.555.0123 any time",
        ] {
            assert_eq!(kinds(text), [], "{text}");
        }
        assert_eq!(
            kinds("my cell is (602) 819-4460"),
            [(PiiKind::Phone, "(602) 819-4460")]
        );
        // Brazilian numbers with an 8x area code stay phones.
        for number in ["(88) 98765-4321", "(83) 3214-5678", "85 5555-1234"] {
            let text = format!("meu telefone é {number}");
            assert_eq!(kinds(&text), [(PiiKind::Phone, number)]);
        }
    }

    #[test]
    fn a_lone_given_name_after_an_article_or_capitalised_on_its_own() {
        let name = PiiKind::PersonName;
        assert_eq!(
            kinds("a fernanda e o enzo vão juntos"),
            [(name, "fernanda"), (name, "enzo")]
        );
        assert_eq!(kinds("please let Emily know i'm late"), [(name, "Emily")]);
        assert_eq!(
            kinds("francisco vai me ligar mais tarde"),
            [(name, "francisco")]
        );
        assert_eq!(
            kinds("parabens gabriela!!! felicidades"),
            [(name, "gabriela")]
        );
        assert_eq!(
            kinds("ela se chama heloísa e tem 7 anos"),
            [(name, "heloísa")]
        );
        assert_eq!(kinds("dear mark, thanks"), [(name, "mark")]);
        assert_eq!(kinds("manda um beijo pra ana"), [(name, "ana")]);
        // A name never takes a stop word or an everyday verb with it.
        assert_eq!(
            kinds("vi edson ferreira na sala de espera"),
            [(name, "edson ferreira")]
        );
        // A greeting before a word that is no name, or no punctuation.
        assert_eq!(kinds("oi tudo bem?"), []);
        assert_eq!(kinds("hi there, is it open?"), []);
        let found = detect("please let Emily know i'm late");
        assert!(found[0].confidence < 0.7, "the weakest evidence");
        // Everyday words, places and firms are not people.
        for text in [
            "a rosa do jardim morreu",
            "o dia foi longo",
            "a tia chegou",
            "moro em Salvador faz tempo",
            "Austin is hot in july",
            "estou processando a Johnson & Johnson",
            "comprei no Magazine Luiza",
            "May I come in?",
        ] {
            assert_eq!(kinds(text), [], "{text}");
        }
    }

    #[test]
    fn words_that_follow_a_cue_but_are_no_name_stay_unflagged() {
        for text in [
            "seu pedido chegou ontem",
            "sou a favor da troca",
            "ela é dona de casa",
            "this is great news",
            "meu nome é importante pra vc?",
            "my name is on the list",
        ] {
            assert_eq!(kinds(text), [], "{text}");
        }
    }

    #[test]
    fn names_after_cues_and_titles() {
        assert_eq!(
            kinds("Olá, meu nome é Maria da Silva Santos e preciso remarcar"),
            [(PiiKind::PersonName, "Maria da Silva Santos")]
        );
        assert_eq!(
            kinds("Falei com a Dra. Ana Paula"),
            [(PiiKind::PersonName, "Ana Paula")]
        );
        assert_eq!(
            kinds("my name is John Smith."),
            [(PiiKind::PersonName, "John Smith")]
        );
        assert_eq!(
            kinds("O Joaquim Barbosa ligou"),
            [(PiiKind::PersonName, "Joaquim Barbosa")]
        );
        assert_eq!(
            kinds("Sou João Silva"),
            [(PiiKind::PersonName, "João Silva")]
        );
    }

    #[test]
    fn who_writes_who_is_called_and_who_comes_along() {
        let names = |text| {
            kinds(text)
                .into_iter()
                .map(|(_, name)| name)
                .collect::<Vec<_>>()
        };
        // Who is writing, a greeting before; who is called at the start.
        assert_eq!(names("oi, beatriz aqui"), ["beatriz"]);
        assert_eq!(names("priya speaking"), ["priya"]);
        assert_eq!(names("gilmar, chegou o exame?"), ["gilmar"]);
        assert_eq!(names("Same here!"), Vec::<&str>::new());
        assert_eq!(names("Ha, yeah, that was fun"), Vec::<&str>::new());
        // Two people joined by "e"/"and" are two names.
        assert_eq!(names("a juliana e lucas vem hoje"), ["juliana", "lucas"]);
        assert_eq!(names("Maria e João vêm juntos"), ["Maria", "João"]);
        // Who was sent something or sends it; who comes with the writer.
        assert_eq!(names("i got an email from jennifer"), ["jennifer"]);
        assert_eq!(names("sueli me ligou cedo"), ["sueli"]);
        assert_eq!(names("hope and i are coming"), ["hope"]);
        assert_eq!(names("vou eu e a cleide"), ["cleide"]);
        // Whose parent, who works for the writer; a sign-off.
        assert_eq!(names("o pai da larissa pediu o recibo"), ["larissa"]);
        assert_eq!(names("a diarista josiane tem a chave"), ["josiane"]);
        assert_eq!(names("a secretaria disse que ok"), Vec::<&str>::new());
        assert_eq!(names("abs, edson"), ["edson"]);
        assert_eq!(names("oii rosa!! tudo bem?"), ["rosa"]);
        assert_eq!(names("consulta com a ze ou com a kelly?"), ["ze", "kelly"]);
        assert_eq!(
            names("ganhamos a vitória no campeonato"),
            Vec::<&str>::new()
        );
        assert_eq!(kinds("escreve pro contato@clinica.com.br"), []);
        assert_eq!(names("thank you so much hope!"), ["hope"]);
        assert_eq!(names("indicada por luiz pereira"), ["luiz pereira"]);
        assert_eq!(names("minha tia grace mora sozinha"), ["grace"]);
        assert_eq!(names("ask alexa to play music"), Vec::<&str>::new());
        assert_eq!(names("o beto e o zé chegaram"), ["beto", "zé"]);
        // The weakest evidence, in a message in lower case: a given name
        // that is no word, an English one in Portuguese.
        assert_eq!(names("encontrei wei na fila"), ["wei"]);
        assert_eq!(names("fui no medico com destiny ontem"), ["destiny"]);
        assert_eq!(names("o show foi top demais"), Vec::<&str>::new());
        assert_eq!(names("grant me one more day please"), Vec::<&str>::new());
        assert_eq!(
            names("é na avenida maria barbosa, do lado da padaria"),
            Vec::<&str>::new()
        );
        // ...and what only looks like them.
        assert_eq!(names("a cliente mora em santos"), Vec::<&str>::new());
        assert_eq!(names("can Brian call me back?"), ["Brian"]);
        assert_eq!(
            names("o Johnson & Johnson mandou a nota"),
            Vec::<&str>::new()
        );
        assert_eq!(names("fomos pra santos e voltamos"), Vec::<&str>::new());
    }

    #[test]
    fn names_with_weaker_evidence_of_their_own_and_what_looks_like_them() {
        let names = |text| {
            kinds(text)
                .into_iter()
                .map(|(_, name)| name)
                .collect::<Vec<_>>()
        };
        // A relative named after whose relative they are.
        assert_eq!(names("quem vai é o irmão dele, francisco"), ["francisco"]);
        // A given name that is an everyday word, with a surname.
        assert_eq!(names("favor avisar grace nguyen"), ["grace nguyen"]);
        assert_eq!(names("hope patel ligou"), ["hope patel"]);
        assert_eq!(names("a rosa costa pouco"), Vec::<&str>::new());
        // ...but not when the word is a cue's, a greeting's or a place's.
        assert_eq!(names("o dia santos x palmeiras"), Vec::<&str>::new());
        assert_eq!(names("vi lucas da kim na sala"), ["lucas da kim"]);
        // An everyday given name capitalised inside a lower-case sentence.
        assert_eq!(names("please let Mark know i'm late"), ["Mark"]);
        assert_eq!(names("ok. Will do"), Vec::<&str>::new());
        // Saints name cities, hospitals and holidays.
        for text in [
            "moro em são josé dos campos",
            "o hospital santa catarina tem estacionamento?",
            "we met at st. mary's hospital",
        ] {
            assert_eq!(names(text), Vec::<&str>::new(), "{text}");
        }
        // Surnames of the communities customers come from.
        assert_eq!(names("hey this is mei haddad"), ["mei haddad"]);
        // A surname that is no word: alone after a form of address, and
        // first in a full name (a given name the gazetteer lacks).
        assert_eq!(names("i spoke with ms. raj yesterday"), ["raj"]);
        assert_eq!(
            names("the patient is raj barbosa almeida"),
            ["raj barbosa almeida"]
        );
        // An everyday given name with one of the commonest surnames, or a
        // particle before a surname.
        assert_eq!(names("quem indicou foi a grace dias"), ["grace dias"]);
        assert_eq!(names("favor avisar rosa da smith"), ["rosa da smith"]);
        assert_eq!(names("mora na costa da lagoa"), Vec::<&str>::new());
        // What surrounds a one-word name that is also a word.
        assert_eq!(names("destiny at reception said to call back"), ["destiny"]);
        assert_eq!(names("a grace falou q tinha vaga"), ["grace"]);
        assert_eq!(names("a tia falou q tinha vaga"), Vec::<&str>::new());
        assert_eq!(names("i did a charity race"), Vec::<&str>::new());
        assert_eq!(names("a luz acabou de novo"), Vec::<&str>::new());
        assert_eq!(names("a vitoria falou q tinha vaga"), ["vitoria"]);
        assert_eq!(names("this is grace's mom, she has a fever"), ["grace"]);
        // Relatives and "um tal de" before a name; "pro" is "para o".
        assert_eq!(names("minha vó cleide usa marcapasso"), ["cleide"]);
        assert_eq!(names("meu primo mora em santos"), Vec::<&str>::new());
        assert_eq!(names("recebi msg de um tal de enzo"), ["enzo"]);
        assert_eq!(names("agenda pra mim e pro matheus"), ["matheus"]);
        assert_eq!(names("vou pro rio amanhã"), Vec::<&str>::new());
        // An exported chat's line names its writer; "cc", "first name".
        assert_eq!(names("[10:32] Zé: chego em 5 min"), ["Zé"]);
        assert_eq!(names("cc wei on the reply pls"), ["wei"]);
        assert_eq!(
            names("a receita ta no posto Maria Moreira"),
            Vec::<&str>::new()
        );
        // What independent English chat (LoCoMo) showed was no name.
        for text in [
            "It's Seattle, I'm stoked for my game there",
            "great for its arts and Irish music",
            "a hike last summer near Fort Wayne",
        ] {
            assert_eq!(names(text), Vec::<&str>::new(), "{text}");
        }
        assert_eq!(names("hi, it's Wei"), ["Wei"]);
        // A given name in lower case anywhere, when it is no word.
        assert_eq!(names("ontem fernanda me mandou msg"), ["fernanda"]);
        assert_eq!(names("her name is fernanda"), ["fernanda"]);
        // Brands, medicines, devices and places that look like names.
        for text in [
            "a alexa desligou sozinha",
            "tomei um allegra e melhorou",
            "a escola princesa isabel fica ali",
            "moro em moema",
            "we were at Under Armour",
            "Little Women is my favourite",
            "the jefferson memorial was closed",
            "it's nice to see you",
        ] {
            assert_eq!(names(text), Vec::<&str>::new(), "{text}");
        }
        assert_eq!(names("a gabriela da zara separou"), ["gabriela"]);
        // An interjection or a word opening a sentence is not the name's.
        assert_eq!(names("Yeah John, totally"), ["John"]);
        assert_eq!(names("Remember Jon? he called"), ["Jon"]);
        assert_eq!(
            names("my neighbor Mark Carvalho sent me"),
            ["Mark Carvalho"]
        );
        assert_eq!(
            names("my neighbor Grace Nascimento Santos sent me"),
            ["Grace Nascimento Santos"]
        );
        // A capitalised name goes on only capitalised.
        assert_eq!(
            names("so confirmando: James Miller dia 19/05"),
            ["James Miller"]
        );
        assert_eq!(names("paciente: GRACE ROCHA"), ["GRACE ROCHA"]);
        assert_eq!(names("o vasco perdeu de novo"), Vec::<&str>::new());
        assert_eq!(
            names("my mother-in-law daniel garcia needs a ride"),
            ["daniel garcia"]
        );
    }
}
