//! Numbers: CPF, CNPJ, CNS, cards, SSNs and phones, in the forms people
//! type, validated by their check digits where they have them.
//! Over 600 lines: one detector for every kind of number, sharing one
//! scan of digit runs and their separators, and the cues that decide.

use super::{Finding, PiiKind};

// ---------------------------------------------------------------------------
// Check digits.

pub(super) fn digits_of(s: &str) -> Vec<u32> {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| u32::from(b - b'0'))
        .collect()
}

/// Mod-11 check digit with weights counting down to 2 (CPF's rule).
pub(super) fn mod11_countdown(values: &[u32], first_weight: u32) -> u32 {
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
pub(super) fn cnpj_dv(values: &[u32]) -> u32 {
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
    "fatura",
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

pub(super) fn numbers(text: &str) -> Vec<Finding> {
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
pub(super) fn alphanumeric_cnpjs(text: &str) -> Vec<Finding> {
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
