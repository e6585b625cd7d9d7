//! Classification and anonymization: pure rules over the PII detectors.
//!
//! The default rules and their legal sources are documented in the README
//! (section "Compliance rules"); this module is their single
//! implementation.

use std::collections::BTreeSet;

use ring::hmac;
use serde::{Deserialize, Serialize};

use engram_domain::retention::RetentionAction;
use engram_domain::summary::Vertical;
use engram_text::{fold, words};

use crate::pii::{Finding, PiiKind, detect, is_name_particle};

/// Sensitivity of data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    Public,
    /// Business data without personal data.
    Internal,
    /// Personal data (LGPD art. 5 I).
    Confidential,
    /// Sensitive personal data: health (LGPD art. 5 II), and what a lawyer
    /// holds under professional secrecy (Lei 8.906/1994 art. 7 II).
    Sensitive,
}

/// A legal regime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Regime {
    Lgpd,
    Gdpr,
    Hipaa,
    Cfm,
    Cfo,
    Oab,
}

/// Where the tenant's data subjects are: which privacy laws apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Jurisdictions {
    /// Brazil: LGPD, and the councils' rules (CFM, CFO, OAB).
    pub brazil: bool,
    /// The EU: GDPR.
    pub eu: bool,
    /// The US: HIPAA for health data.
    pub us: bool,
}

impl Default for Jurisdictions {
    fn default() -> Self {
        Self {
            brazil: true,
            eu: false,
            us: false,
        }
    }
}

/// What Classify answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    pub classification: Classification,
    pub regimes: Vec<Regime>,
    pub retention_days: u32,
    pub retention_action: RetentionAction,
    pub anonymization_required: bool,
    pub encryption_required: bool,
    pub findings: Vec<Finding>,
}

/// Health words (Portuguese and English, folded): data about health is
/// sensitive whatever the vertical.
const HEALTH: &[&str] = &[
    "alergia",
    "alergica",
    "alergico",
    "allergy",
    "allergic",
    "diabetes",
    "diabetico",
    "hipertensao",
    "hypertension",
    "pressao alta",
    "medicamento",
    "remedio",
    "medication",
    "diagnostico",
    "diagnosis",
    "exame",
    "cirurgia",
    "surgery",
    "gravida",
    "gravidez",
    "pregnant",
    "pregnancy",
    "hiv",
    "cancer",
    "tumor",
    "depressao",
    "depression",
    "ansiedade",
    "anxiety",
    "sintoma",
    "symptom",
    "receita medica",
    "prescription",
    "prontuario",
    "canal",
    "implante",
    "extracao",
    "carie",
    "gengiva",
    "siso",
    "ortodontia",
    "protese",
    "dor",
    "pain",
    "febre",
    "fever",
    "infeccao",
    "infection",
    "internacao",
    "hospital",
    "psiquiatra",
    "psicologo",
    "terapia",
    "therapy",
    "doenca",
    "disease",
    "vacina",
];
/// Legal-case words: a case a lawyer holds is under professional secrecy.
const LEGAL: &[&str] = &[
    "processo",
    "lawsuit",
    "audiencia",
    "hearing",
    "sentenca",
    "judgment",
    "reu",
    "defendant",
    "autor da acao",
    "plaintiff",
    "divorcio",
    "divorce",
    "guarda",
    "custody",
    "inventario",
    "trabalhista",
    "criminal",
    "crime",
    "delegacia",
    "boletim de ocorrencia",
    "pensao",
    "alimony",
    "demissao",
    "justa causa",
    "indenizacao",
    "damages",
    "recurso",
    "appeal",
    "procuracao",
    "power of attorney",
    "acordo judicial",
    "settlement",
];

fn mentions(folded_words: &[String], lexicon: &[&str]) -> bool {
    lexicon.iter().any(|phrase| {
        let needle: Vec<String> = words(phrase).collect();
        !needle.is_empty()
            && folded_words
                .windows(needle.len())
                .any(|w| w == needle.as_slice())
    })
}

/// Retention of a record by vertical (see the README's table for the
/// sources): days, and the action when they have passed.
pub fn retention(vertical: Vertical) -> (u32, RetentionAction) {
    match vertical {
        // Lei 13.787/2018 art. 6 and CFM Res. 1.821/2007 art. 8: patient
        // records are kept 20 years from the last entry.
        Vertical::Medical | Vertical::Dental => (20 * 365, RetentionAction::Anonymize),
        // Lei 8.906/1994 art. 25 and Código Civil art. 206 §5 II: claims
        // about a lawyer's work prescribe in 5 years.
        Vertical::Legal => (5 * 365, RetentionAction::Archive),
        // Código de Defesa do Consumidor art. 27: 5 years; LGPD art. 16:
        // then delete.
        Vertical::General => (5 * 365, RetentionAction::Delete),
    }
}

/// Classifies `content` under the rules of `vertical`.
pub fn classify(content: &str, vertical: Vertical, jurisdictions: Jurisdictions) -> Classified {
    let findings = detect(content);
    let folded: Vec<String> = words(&fold(content)).collect();
    let health = mentions(&folded, HEALTH);
    let legal = vertical == Vertical::Legal && mentions(&folded, LEGAL);
    let personal = !findings.is_empty();
    let classification = if health || legal {
        Classification::Sensitive
    } else if personal {
        Classification::Confidential
    } else {
        Classification::Internal
    };
    let mut regimes = BTreeSet::new();
    let about_people = personal || classification == Classification::Sensitive;
    if jurisdictions.brazil {
        if about_people {
            regimes.insert(Regime::Lgpd);
        }
        match vertical {
            Vertical::Medical => {
                regimes.insert(Regime::Cfm);
            }
            Vertical::Dental => {
                regimes.insert(Regime::Cfo);
            }
            Vertical::Legal => {
                regimes.insert(Regime::Oab);
            }
            Vertical::General => {}
        }
    }
    if jurisdictions.eu && about_people {
        regimes.insert(Regime::Gdpr);
    }
    if jurisdictions.us && (health || matches!(vertical, Vertical::Medical | Vertical::Dental)) {
        regimes.insert(Regime::Hipaa);
    }
    let (retention_days, retention_action) = retention(vertical);
    Classified {
        classification,
        regimes: regimes.into_iter().collect(),
        retention_days,
        retention_action,
        anonymization_required: classification >= Classification::Confidential,
        encryption_required: classification == Classification::Sensitive,
        findings,
    }
}

/// How anonymization replaces what it finds.
#[derive(Clone)]
pub enum Masking {
    /// Keeps what identifies the kind and little else: `***.***.***-00`,
    /// `11*****88`, `***@email.com`, `João S***`.
    Mask,
    /// A keyed hash (HMAC-SHA-256 with the tenant's key), the same for the
    /// same value: `[cpf:3f9a0c21]`, so that records stay linkable.
    Hash(hmac::Key),
    /// The kind only: `[cpf]`.
    Remove,
}

impl std::fmt::Debug for Masking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Masking::Mask => "Mask",
            Masking::Hash(_) => "Hash(<key>)",
            Masking::Remove => "Remove",
        })
    }
}

impl Masking {
    /// The hash masking of a tenant: its key is derived from the master
    /// key, so no two tenants share one.
    pub fn hash_for(master: &[u8], tenant: &str) -> Self {
        let derived = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, master),
            tenant.as_bytes(),
        );
        Masking::Hash(hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()))
    }
}

/// `content` with every finding replaced.
pub fn anonymize(content: &str, findings: &[Finding], masking: &Masking) -> String {
    let mut out = String::with_capacity(content.len());
    let mut at = 0;
    for f in findings {
        if f.start < at || f.end > content.len() {
            continue;
        }
        out.push_str(&content[at..f.start]);
        let value = &content[f.start..f.end];
        match masking {
            Masking::Mask => out.push_str(&mask(f.kind, value)),
            Masking::Hash(key) => {
                let tag = hmac::sign(key, value.as_bytes());
                let hex: String = tag.as_ref()[..4]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                out.push_str(&format!("[{}:{hex}]", f.kind.as_str()));
            }
            Masking::Remove => out.push_str(&format!("[{}]", f.kind.as_str())),
        }
        at = f.end;
    }
    out.push_str(&content[at..]);
    out
}

/// Masks the digits of `value` except the last `keep`, keeping its
/// punctuation.
fn mask_digits(value: &str, keep: usize) -> String {
    let total = value.bytes().filter(u8::is_ascii_alphanumeric).count();
    let mut seen = 0;
    value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                seen += 1;
                if seen > total.saturating_sub(keep) {
                    c
                } else {
                    '*'
                }
            } else {
                c
            }
        })
        .collect()
}

/// The masked form of one value of `kind` (SPEC §3's formats).
pub fn mask(kind: PiiKind, value: &str) -> String {
    match kind {
        PiiKind::Cpf | PiiKind::Cnpj | PiiKind::Cns => mask_digits(value, 2),
        PiiKind::PaymentCard | PiiKind::Ssn => mask_digits(value, 4),
        PiiKind::Phone => {
            let digits: String = value.chars().filter(char::is_ascii_digit).collect();
            let (country, national) = if value.starts_with('+') {
                let cc = if digits.starts_with("55") { 2 } else { 1 };
                (format!("+{} ", &digits[..cc]), &digits[cc..])
            } else {
                (String::new(), digits.as_str())
            };
            if national.len() < 6 {
                return "*".repeat(value.len());
            }
            format!(
                "{country}{}*****{}",
                &national[..2],
                &national[national.len() - 2..]
            )
        }
        PiiKind::Email => match value.split_once('@') {
            Some((_, domain)) => format!("***@{domain}"),
            None => "***".to_owned(),
        },
        PiiKind::PersonName => {
            // `João Silva` → `João S***` (SPEC §3): with every surname
            // masked, a first name no longer singles anyone out. A name of
            // one word is all there is to identify: `Fernanda` → `F***`.
            let initial = |w: &str| format!("{}***", w.chars().next().unwrap_or('*'));
            let mut parts = value.split(' ');
            let first = parts.next().unwrap_or_default();
            let rest: Vec<String> = parts
                .map(|w| {
                    if is_name_particle(w) {
                        w.to_owned()
                    } else {
                        initial(w)
                    }
                })
                .collect();
            if rest.is_empty() {
                initial(first)
            } else {
                format!("{first} {}", rest.join(" "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(text: &str) -> String {
        anonymize(text, &detect(text), &Masking::Mask)
    }

    #[test]
    fn masks_follow_the_spec_formats() {
        assert_eq!(masked("CPF 529.982.247-25"), "CPF ***.***.***-25");
        assert_eq!(masked("fone 11999998888"), "fone 11*****88");
        assert_eq!(masked("joao@email.com"), "***@email.com");
        assert_eq!(masked("meu nome é João Silva"), "meu nome é João S***");
        assert_eq!(
            masked("cartão 4111 1111 1111 1111"),
            "cartão **** **** **** 1111"
        );
        assert_eq!(masked("+55 11 98765-4321"), "+55 11*****21");
        assert_eq!(
            masked("Sou a Maria da Silva Santos"),
            "Sou a Maria da S*** S***"
        );
    }

    #[test]
    fn a_one_word_name_is_never_left_readable() {
        let one_word = Finding {
            kind: PiiKind::PersonName,
            start: 9,
            end: 17,
            confidence: 0.8,
        };
        let text = "falei c/ Fernanda ontem";
        assert_eq!(&text[9..17], "Fernanda");
        assert_eq!(
            anonymize(text, &[one_word], &Masking::Mask),
            "falei c/ F*** ontem"
        );
        assert_eq!(mask(PiiKind::PersonName, "joão silva"), "joão s***");
        assert_eq!(mask(PiiKind::PersonName, "ana de souza"), "ana de s***");
    }

    #[test]
    fn hash_is_keyed_per_tenant_and_stable() {
        let text = "CPF 529.982.247-25";
        let a = Masking::hash_for(b"master", "clinic-a");
        let b = Masking::hash_for(b"master", "clinic-b");
        let ha = anonymize(text, &detect(text), &a);
        assert!(ha.starts_with("CPF [cpf:") && !ha.contains("529"), "{ha}");
        assert_eq!(ha, anonymize(text, &detect(text), &a));
        assert_ne!(ha, anonymize(text, &detect(text), &b));
        assert_eq!(
            anonymize(text, &detect(text), &Masking::Remove),
            "CPF [cpf]"
        );
    }

    #[test]
    fn classification_by_content_and_vertical() {
        let br = Jurisdictions::default();
        let health = classify("Sou alérgica a dipirona", Vertical::Medical, br);
        assert_eq!(health.classification, Classification::Sensitive);
        assert_eq!(health.regimes, [Regime::Lgpd, Regime::Cfm]);
        assert_eq!(
            (health.retention_days, health.retention_action),
            (7300, RetentionAction::Anonymize)
        );
        assert!(health.encryption_required && health.anonymization_required);

        let contact = classify("meu e-mail é ana@email.com", Vertical::General, br);
        assert_eq!(contact.classification, Classification::Confidential);
        assert_eq!(contact.regimes, [Regime::Lgpd]);
        assert!(contact.anonymization_required && !contact.encryption_required);
        assert_eq!(contact.findings.len(), 1);

        let plain = classify("Qual o horário de funcionamento?", Vertical::General, br);
        assert_eq!(plain.classification, Classification::Internal);
        assert!(plain.regimes.is_empty());

        let case = classify("A audiência do processo é dia 3", Vertical::Legal, br);
        assert_eq!(case.classification, Classification::Sensitive);
        assert_eq!(case.regimes, [Regime::Lgpd, Regime::Oab]);

        let abroad = Jurisdictions {
            brazil: false,
            eu: true,
            us: true,
        };
        let us = classify("patient allergic to penicillin", Vertical::Medical, abroad);
        assert_eq!(us.regimes, [Regime::Gdpr, Regime::Hipaa]);
    }
}
