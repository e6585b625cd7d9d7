//! PII detectors: pure, no I/O. Each finding has a type, a byte span and a
//! confidence. What can be validated is validated — CPF, CNPJ (numeric and
//! the alphanumeric form of 2026), CNS by their check digits, payment
//! cards by Luhn, SSNs by the ranges never issued — so that an order
//! number, a date or a number with a wrong check digit is not reported as
//! a document.

mod email;
mod gazetteer;
mod lexicon;
mod names;
mod numbers;
#[cfg(test)]
mod tests;

pub use names::is_name_particle;
pub use numbers::{luhn, valid_cnpj, valid_cns, valid_cpf};

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
    found.extend(email::emails(text));
    found.extend(numbers::numbers(text));
    found.extend(numbers::alphanumeric_cnpjs(text));
    found.extend(names::names(text));
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
